//! The `sockc` binary's start (docs/benchmarks.md, "The process's start and end"): on
//! x86_64 Linux with glibc the loader maps no `libm.so.6` (`src/shared/libm.rs` takes
//! `log` and `pow` from it when first called) and, where `build.rs` packs them (glibc
//! 2.36 or later: cfg `packed_relocs`), reads the relative relocations packed
//! (`DT_RELR`), not one 24-byte `.rela.dyn` entry each; and where `build.rs` has LLD
//! order them (cfg `ordered_functions`), the functions of `link/hot-functions.txt` lead
//! `.text` in the list's order (docs/benchmarks.md, "The binary's hot functions laid
//! out together").

use object::{
    elf,
    read::elf::{Dyn, FileHeader},
    Endianness,
};

/// The binary's `NEEDED` libraries and whether it has a `DT_RELR` table.
fn dynamic(path: &str) -> (Vec<String>, bool) {
    let data = std::fs::read(path).expect("the binary reads");
    let header = elf::FileHeader64::<Endianness>::parse(&*data).expect("an ELF file");
    let endian = header.endian().unwrap();
    let sections = header.sections(endian, &*data).unwrap();
    let (dynamic, link) = sections.dynamic(endian, &*data).unwrap().expect("dynamic");
    let strings = sections.strings(endian, &*data, link).unwrap();
    let (mut needed, mut relr) = (Vec::new(), false);
    for d in dynamic {
        match d.d_tag(endian) as i64 {
            elf::DT_NEEDED => {
                let name = d.string(endian, strings).unwrap();
                needed.push(String::from_utf8_lossy(name).into_owned());
            }
            elf::DT_RELR => relr = true,
            _ => {}
        }
    }
    (needed, relr)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn the_binary_loads_no_libm_and_packs_its_relocations() {
    let (needed, relr) = dynamic(env!("CARGO_BIN_EXE_sockc"));
    assert!(
        needed.iter().any(|n| n.starts_with("libc.so")),
        "{needed:?}"
    );
    #[cfg(target_arch = "x86_64")]
    assert!(
        !needed.iter().any(|n| n.starts_with("libm.so")),
        "{needed:?}"
    );
    #[cfg(packed_relocs)]
    assert!(relr, "no DT_RELR: the relative relocations are not packed");
    #[cfg(not(packed_relocs))]
    let _ = relr;
}

/// The binary's Rust functions with code (legacy `_ZN` or v0 `_R` names): name and
/// address. Only those: rustc gives each function a section of its own, which the
/// linker can place, while a C object's functions (mimalloc's, blake3's) share one.
#[cfg(ordered_functions)]
fn rust_functions(path: &str) -> std::collections::HashMap<String, u64> {
    use object::{Object, ObjectSymbol, SymbolKind};
    let data = std::fs::read(path).expect("the binary reads");
    let file = object::File::parse(&*data).expect("an ELF file");
    file.symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
        .filter_map(|s| Some((s.name().ok()?, s.address())))
        .filter(|(n, _)| n.starts_with("_ZN") || n.starts_with("_R"))
        .map(|(n, a)| (n.to_string(), a))
        .collect()
}

#[cfg(ordered_functions)]
#[test]
fn the_hot_functions_lead_the_code_in_their_order() {
    let functions = rust_functions(env!("CARGO_BIN_EXE_sockc"));
    let list = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/link/hot-functions.txt"
    ))
    .expect("link/hot-functions.txt reads");
    let names: std::collections::HashSet<&str> = list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    // A debug build shares only part of a release build's names (no inlining, other
    // generic copies): enough of them to see the order. A function listed under two
    // names (one code, two symbols) is placed where its first name is.
    let mut placed = std::collections::HashSet::new();
    let listed: Vec<(&str, u64)> = list
        .lines()
        .filter_map(|n| Some((n, *functions.get(n)?)))
        .filter(|&(_, at)| placed.insert(at))
        .collect();
    assert!(
        listed.len() >= 50,
        "only {} of the {} listed functions are in the binary: run scripts/order-functions",
        listed.len(),
        names.len()
    );
    let out_of_order = listed.windows(2).find(|w| w[0].1 > w[1].1);
    assert!(
        out_of_order.is_none(),
        "the linker did not follow link/hot-functions.txt: {out_of_order:?}"
    );
    let last_listed = listed.iter().map(|l| l.1).max().unwrap();
    // Another name of a listed function's code (std's copies of one generic) is not
    // another function: `placed` holds the listed functions' addresses.
    let first_other = functions
        .iter()
        .filter(|(n, a)| !names.contains(n.as_str()) && !placed.contains(a))
        .min_by_key(|(_, &a)| a)
        .unwrap();
    assert!(
        last_listed < *first_other.1,
        "{first_other:?} lies before the last listed function (at {last_listed:#x})"
    );
}
