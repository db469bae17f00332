//! Deployment, tested with the tools operators use: [`units`]: the boot units pass
//! `systemd-analyze verify` and `contrib/sockc-apply-all` applies, re-applies and
//! flushes a directory of rule files; [`lab`]: the Debian package (`scripts/package`,
//! `dpkg-deb`, `lintian`), the Kubernetes manifests (`kubernetes-validate --strict`),
//! the Ansible collection (`ansible-test sanity`) and the rollout on three simulated
//! hosts over SSH (`lab.sh`, with the playbooks, rules and pinned Python tools beside
//! this file). Tools come from `scripts/test --install`; a test whose tools are missing
//! skips loudly, and fails under `SOCKC_KERNEL_TESTS=require`.
//!
//! A new test goes into the binary of its rung (ARCHITECTURE.md, "Testing"); one of
//! what a host or a fleet runs (packages, units, manifests, playbooks) goes here.

#[path = "../common/mod.rs"]
mod common;
#[path = "../netns/mod.rs"]
mod netns;

mod lab;
mod units;
