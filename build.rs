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

fn main() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
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
    println!("cargo:rustc-check-cfg=cfg(packed_relocs)");
    println!("cargo:rerun-if-changed=build.rs");
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
