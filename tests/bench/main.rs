//! The fifth rung of the testing ladder (ARCHITECTURE.md, "Testing"): benchmarks,
//! which print figures and assert none (the machine is shared; ratios against a
//! baseline of the same run are what a reader compares). [`files`]: `sockc bench
//! --csv --svg` at its smallest; [`peer`]: `sockc bench --peer`, the head-to-head
//! against nftables and iptables on real frames, at its smallest; [`import`]: the
//! import's speed on large `iptables-save` files (ignored: `cargo test --release
//! --test bench import:: -- --ignored --nocapture`); [`control`]: `sockc bench
//! --control` at its smallest and its regression guard against an injected regression;
//! [`cgroup`]: `sockc bench --cgroup` (policy on a cgroup against nft and a
//! systemd-style peer) at its smallest. Each holds
//! `common::exclusive::measuring`, so they run one at a time, as they did when each
//! was a binary of its own.
//!
//! A new test goes into the binary of its rung; one that measures goes here, or into
//! `sockc bench` itself.

#[path = "../common/mod.rs"]
mod common;

mod cgroup;
mod control;
mod files;
mod import;
mod peer;
