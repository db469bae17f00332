//! The runtime's integration tests: [`architecture`]: its files form no cycle and keep
//! the layers ARCHITECTURE.md draws ("Code map: the runtime"); [`discovery`]:
//! `sockc_runtime::discovery` against real sockets held by other processes, each test
//! in a network namespace of its own (kernel tests: root, or a printed SKIP, a failure
//! under `SOCKC_KERNEL_TESTS=require`). The runtime's work on installs is tested
//! through the command line, in the root package's `tests/e2e/` and
//! `tests/reliability/`.
//!
//! A new test goes into the binary of its rung (ARCHITECTURE.md, "Testing"); one of
//! the runtime's API alone goes here.

mod architecture;
mod discovery;
