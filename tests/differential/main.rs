//! The third rung of the testing ladder (ARCHITECTURE.md, "Testing"): differential
//! tests, the kernel and the compiler's passes against the reference evaluator
//! (`sockc_testkit::eval`) on generated and published inputs. [`rule_sets`]: random
//! rule sets × random packets at XDP and TC, classifiers and sk_lookup (the generator
//! in [`rules`], [`strategies`], [`classifier`], [`packets`], [`sk_lookup`], the
//! judging in [`compare`]); [`sockets`]: socket conditions against a real socket
//! table; [`limit_route`]: `limit` buckets and `route` classes; [`classbench`]: the
//! published ClassBench sets and traces; [`table_update`]: classifier tables replaced
//! in place; [`anomalies`] and [`semdiff`]: the anomaly pass and the semantic diff
//! against packets; [`netfilter_probe`] and [`import`]: the probe lab against the
//! kernel's netfilter, and imported rulesets against their originals.
//!
//! Kernel tests need root: without it they print `SKIP (not root): NAME` and pass,
//! unless `SOCKC_KERNEL_TESTS=require`. A new test goes into the binary of its rung; a
//! test that judges sockc by an independent model of what should happen goes here.

#[path = "../common/mod.rs"]
mod common;
#[path = "../netns/mod.rs"]
mod netns;

mod anomalies;
mod classbench;
mod classifier;
mod compare;
mod import;
mod limit_route;
mod netfilter_probe;
mod packets;
mod rule_sets;
mod rules;
mod semdiff;
mod sk_lookup;
mod sockets;
mod strategies;
mod table_update;
