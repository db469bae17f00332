//! The second rung of the testing ladder (ARCHITECTURE.md, "Testing"): kernel truth.
//! [`programs`]: every rule file through the real verifier, verdict tables run with
//! `BPF_PROG_TEST_RUN`, the verifier's work bounded; [`far_jumps`]: branches past
//! 16 bits; [`limits`]: the kernel's limits, known before the kernel;
//! [`kernel_limits`]: what the kernel says when it refuses, as sockc reports it;
//! [`program_names`]: the names programs carry in the kernel; [`netfilter_limits`]:
//! what a program at a netfilter hook may not do; [`reject_limits`]: the
//! limits of `reject`'s ICMP answers, bucket by bucket (a namespace of its own for
//! the sysctls they read, from `tests/netns/`).
//!
//! Kernel tests need root: without it they print `SKIP (not root): NAME` and pass,
//! unless `SOCKC_KERNEL_TESTS=require`. A new test goes into the binary of its rung; a
//! test that loads or test-runs programs without an install goes here.

#[path = "../common/mod.rs"]
mod common;
#[path = "../netns/mod.rs"]
mod netns;

mod far_jumps;
mod kernel_limits;
mod limits;
mod netfilter_limits;
mod program_names;
mod programs;
mod reject_limits;
mod unreachable;
