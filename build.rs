//! Links GCC's unwinder into the `sockc` binary (and its tests) from `libgcc_eh.a`, as
//! `gcc -static-libgcc` does, instead of loading `libgcc_s.so.1` at every start: that
//! library's constructor (`__cpu_indicator_init`) probes the CPU with `cpuid`, which
//! traps on virtual machines (11–17 µs each), 0.13–0.15 ms of CPU before `main` on every
//! command (docs/benchmarks.md, "The 1k re-apply, eighth pass"). Only where the
//! standard library would link `libgcc_s`: Linux with glibc, not `+crt-static`.
//!
//! Invariant: the unwinder is the same GCC code either way; only where it is loaded
//! from changes (a local static library precedes the standard library's `-lgcc_s` on
//! the link line, and `--as-needed` then drops the latter).
//!
//! Also packs the `sockc` binary's relative relocations (`-z pack-relative-relocs`,
//! DT_RELR: GNU ld 2.38+, glibc 2.36+, which the linker then records as a versioned
//! need, `GLIBC_ABI_DT_RELR`): the 6,600 pointers of its read-only data that the loader
//! fixes at every start are read from a 2 KB bitmap instead of 160 KB of `.rela.dyn`
//! (`sockc --version` ~0.06 ms and ~12 page faults less, docs/benchmarks.md, "The
//! process's start and end"). Only where the building host's glibc is 2.36 or later
//! (`getconf GNU_LIBC_VERSION`): a binary built on an older one (Ubuntu 22.04's 2.35)
//! must run there, and its loader does not read DT_RELR.
//!
//! And lays out the functions the common commands run (`link/hot-functions.txt`,
//! written by `scripts/order-functions`) together at the start of the `sockc` binary's
//! `.text` (LLD's `--symbol-ordering-file`): spread over its 9.4 MB, the ~1,000 of a
//! re-apply cost a page fault for nearly every 64 KiB window of it (docs/benchmarks.md,
//! "The binary's hot functions laid out together"). Only where rustc links with LLD
//! (x86_64-unknown-linux-gnu from Rust 1.90, unless cargo's linker setting or the
//! flags choose another linker: GNU ld has no such option), and only with the rustc
//! the list was made with (its mangled names carry a hash of the compiler). A name the
//! binary lacks is skipped, so a stale list costs speed, never a build.

fn main() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let var: &dyn Fn(&str) -> String = &var;
    let static_crt = var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static");
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" && !static_crt
    {
        println!("cargo:rustc-link-lib=static=gcc_eh");
        if glibc_at_least(2, 36) {
            println!("cargo:rustc-link-arg-bin=sockc=-Wl,-z,pack-relative-relocs");
            // What the binary's test (tests/architecture/binary.rs) expects of it.
            println!("cargo:rustc-cfg=packed_relocs");
        }
    }
    if let Some(rustc) = rustc_linking_with_lld(var) {
        order_functions(var, &rustc);
    }
    println!("cargo:rustc-check-cfg=cfg(packed_relocs)");
    println!("cargo:rustc-check-cfg=cfg(ordered_functions)");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
}

/// The hot functions' list, relative to the package.
const HOT_FUNCTIONS: &str = "link/hot-functions.txt";

/// Gives the linker the hot functions' order for the `sockc` binary, and sets cfg
/// `ordered_functions` for its test (tests/architecture/binary.rs), when the list was
/// made with the rustc that builds: the mangled names carry a hash of the compiler, so
/// another one's list names functions this build does not have (a warning then says
/// to run `scripts/order-functions`).
fn order_functions(var: &dyn Fn(&str) -> String, rustc: &str) {
    println!("cargo:rerun-if-changed={HOT_FUNCTIONS}");
    let path = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join(HOT_FUNCTIONS);
    let Some(path) = path.to_str().filter(|p| !p.contains(',')) else {
        return; // -Wl, splits its argument at commas
    };
    let Ok(list) = std::fs::read_to_string(path) else {
        return;
    };
    let made_with = list.lines().find_map(|l| l.strip_prefix("# made with "));
    if made_with != Some(rustc) {
        println!(
            "cargo:warning={HOT_FUNCTIONS} was made with {}, this is {rustc}: the binary's \
             functions are laid out unordered (scripts/order-functions writes the list anew)",
            made_with.unwrap_or("an unknown rustc")
        );
        return;
    }
    println!("cargo:rustc-link-arg-bin=sockc=-Wl,--symbol-ordering-file={path}");
    println!("cargo:rustc-link-arg-bin=sockc=-Wl,--no-warn-symbol-ordering");
    println!("cargo:rustc-cfg=ordered_functions");
}

/// The rustc that builds (`rustc -V`, run once: [`order_functions`] reads it too),
/// when it links this build with LLD: its default for x86_64-unknown-linux-gnu from
/// Rust 1.90 on, unless cargo was given a linker (`RUSTC_LINKER`: a config's `linker`,
/// `CARGO_TARGET_<TRIPLE>_LINKER`; then that one links, GNU ld behind a C compiler) or
/// the flags name a linker, its flavour or its features.
fn rustc_linking_with_lld(var: &dyn Fn(&str) -> String) -> Option<String> {
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    if var("TARGET") != "x86_64-unknown-linux-gnu" {
        return None;
    }
    let linker = var("RUSTC_LINKER");
    let named_lld = std::path::Path::new(&linker)
        .file_name()
        .is_some_and(|n| ["ld.lld", "rust-lld"].iter().any(|l| n == *l));
    if !linker.is_empty() && !named_lld {
        return None;
    }
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    let chooses_linker = ["linker", "fuse-ld", "link-self-contained"]
        .iter()
        .any(|f| flags.contains(f));
    if chooses_linker {
        return None;
    }
    let rustc = rustc_version()?;
    let minor = rustc
        .strip_prefix("rustc 1.")
        .and_then(|release| release.split('.').next()?.parse::<u32>().ok());
    (minor >= Some(90)).then_some(rustc)
}

/// The rustc that builds, as `rustc -V` names it ("rustc 1.95.0 (59807616e
/// 2026-04-14)").
fn rustc_version() -> Option<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = std::process::Command::new(rustc).arg("-V").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.trim().to_string())
}

/// Whether the glibc of the host that builds (which the binary links against) is at
/// least `major.minor`; false when that cannot be told.
fn glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(out) = std::process::Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
    else {
        return false;
    };
    // "glibc 2.36"
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text
        .trim()
        .trim_start_matches("glibc ")
        .split('.')
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}
