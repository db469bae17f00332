//! Test support for the pass's unit tests: programs from source, and the codes of the
//! two warnings. (Random programs and packets are in `tests/differential/anomalies.rs`, which checks
//! the findings against the reference evaluator of `sockc-testkit`.)

pub(super) use crate::test_module::module;

pub(super) const SHADOWED: &str = "sockc::shadowed";
pub(super) const REDUNDANT: &str = "sockc::redundant";
