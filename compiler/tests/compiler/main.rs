//! The compiler's integration tests, through its public API: [`architecture`]: the
//! stages and their files form no cycle and keep their layers, drawn in
//! ARCHITECTURE.md (`SOCKC_BLESS=1 cargo test -p sockc-compiler --test compiler
//! architecture::` redraws them); [`error_catalogue`]: every diagnostic code has its
//! entry in `docs/errors.md`; [`mistakes`]: diagnostics a user can act on;
//! [`cgroup_unit`]: cgroup blocks that name a systemd unit;
//! [`netfilter`] and [`netfilter_limit_route`]: netfilter blocks in the checker and
//! their lowering; [`space`]: the header space against the reference evaluator;
//! [`frontend_speed`]: the front end's timings (ignored; run by hand). [`support`] is
//! what the tests that read the compiler's source share.
//!
//! The fuzz test (`fuzz/`) is a binary of its own: it installs a counting global
//! allocator and a silent panic hook, which would reach every test of a shared
//! process. A new test goes into the binary of its rung (ARCHITECTURE.md, "Testing");
//! one of the compiler alone, without the kernel or the command line, goes here.

mod architecture;
mod cgroup_unit;
mod error_catalogue;
mod frontend_speed;
mod mistakes;
mod netfilter;
mod netfilter_limit_route;
mod space;
mod support;
