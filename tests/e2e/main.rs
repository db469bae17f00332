//! The fourth rung of the testing ladder (ARCHITECTURE.md, "Testing"): end to end, as
//! root, in network namespaces and cgroups each test makes and removes (`tests/netns`),
//! with real sockets and traffic, and installs made by the `sockc` binary with
//! `--netns`. The life of an install: [`apply`], [`reapply_gap`] (alternating re-applies
//! under a probe stream), [`attach_ahead`], [`set_delta`], [`in_place`],
//! [`set_scale`], [`stats`], [`show`], [`operator`], [`trace`], [`watch`] and
//! [`confirm`] (commit-confirmed applies); what the rules do to traffic: [`frames`],
//! [`ext6_frag`], [`socket`], [`ct`], [`ct_icmp`], [`ct_anchor`], [`limit`],
//! [`route`], [`reject`], [`reject_headers`], [`reject_vlan`], [`reject_flood`] (a
//! flood against the kernel's own ICMP limit), [`netfilter`],
//! [`netfilter_iface`], [`owner`] (processes under other uids, `setpriv`), [`tc_mark`],
//! [`cgroup`] (cgroup blocks, with `sockc-peer` processes in a cgroup), [`import_cgroup`]
//! (the import of `-m cgroup` and `socket cgroupv2` against the originals), [`import_ext6`]
//! (an import against netfilter behind long IPv6 extension-header chains), [`cgroup_unit`]
//! (blocks that name a systemd unit, its restart reproduced), [`cgroup_match`] (`cgroup
//! "PATH"` tests; a process that moves between cgroups), [`sock_addr`]
//! (socket-call blocks: real `connect`, `sendto`, `bind` calls from a cgroup),
//! [`sock_redirect`] (their redirects, landing on listeners, and `comm`); the socket
//! layer: [`sk_lookup`] (its services are this binary run again) and [`sockmap`] (with
//! `sockc-peer` processes).
//!
//! A lab's namespaces, install and files are named after its tag and the process id,
//! so every tag here is used by one test only. A command without `--name` takes
//! `common::exclusive::nameless_command`, and a test that leaves its install
//! interrupted on purpose `interrupted_install`. Without root the tests print
//! `SKIP (not root): NAME` and pass, unless `SOCKC_KERNEL_TESTS=require`. A new test
//! goes into the binary of its rung; one that needs traffic or an install goes here.

#[path = "../common/mod.rs"]
mod common;
#[path = "../netns/mod.rs"]
mod netns;

mod apply;
mod attach_ahead;
mod cgroup;
mod cgroup_match;
mod cgroup_unit;
mod confirm;
mod ct;
mod ct_anchor;
mod ct_entry;
mod ct_icmp;
mod ext6_frag;
mod frames;
mod import_cgroup;
mod import_ext6;
mod import_fragments;
mod import_residual_only;
mod in_place;
mod limit;
mod netfilter;
mod netfilter_iface;
mod operator;
mod owner;
mod reapply_gap;
mod reject;
mod reject_flood;
mod reject_headers;
mod reject_vlan;
mod route;
mod set_delta;
mod set_scale;
mod show;
mod sk_lookup;
mod sock_addr;
mod sock_redirect;
mod socket;
mod sockmap;
mod stats;
mod tc_mark;
mod trace;
mod watch;
