//! The architecture tests of the root package: the code as ARCHITECTURE.md draws it.
//! [`modules`]: the CLI's and the testkit's files form no cycle and keep their layers,
//! their graphs drawn in ARCHITECTURE.md (`SOCKC_BLESS=1` redraws them), and no source
//! file of any crate is over 1,000 lines before its tests; [`lockfile`]: `Cargo.lock`
//! holds one version of each netlink crate; [`binary`]: the binary loads no libm and
//! packs its relocations. The other crates' architecture tests are
//! in their own test binaries (`compiler/tests/`, `runtime/tests/`, `import/tests/`,
//! `bench/tests/`).
//!
//! A new test goes into the binary of its rung of the testing ladder (ARCHITECTURE.md,
//! "Testing"); this one holds the checks of the code's shape.

mod binary;
mod lockfile;
mod modules;
