//! The `sockc` binary's start (docs/benchmarks.md, "The process's start and end"): on
//! x86_64 Linux with glibc the loader maps no `libm.so.6` (`src/shared/libm.rs` takes
//! `log` and `pow` from it when first called) and, where `build.rs` packs them (glibc
//! 2.36 or later: cfg `packed_relocs`), reads the relative relocations packed
//! (`DT_RELR`), not one 24-byte `.rela.dyn` entry each.

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
