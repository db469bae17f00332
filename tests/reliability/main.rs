//! Hostile input and failure, tested as an attacker and an operator meet them:
//! [`hostile`], [`import_hostile`] and [`attack_files`]: files, streams and paths
//! built to break the command line (sizes, kinds, races, symbolic links, umasks, full
//! outputs); [`install`] and [`install_recovery`]: the install layer killed at every
//! step (fault points and strace), changed behind sockc's back, its namespaces
//! re-created; [`kill_points`]: every command killed at every fault point on an
//! install with every kind of hook; [`set_records`], [`program_records`], [`review_bulk`] and
//! [`review_anchor`]: damaged records, swapped pins, a table sockc did not make and
//! the conntrack anchor changed or shared behind sockc's back; [`review_foreign_slot`]:
//! a hook whose slot another program took (or that was emptied), for `diff
//! --installed` and `flush`; [`review_nf_priority`]: an nft chain at a netfilter
//! block's hook and priority, which runs first;
//! [`residual_kill_points`]: an imported file's residual (the netfilter ruleset
//! beside its blocks) installed, replaced and removed, killed at every fault point;
//! [`sk_lookup_trust`]: an unprivileged attacker at each path by which a socket gets
//! into an sk_lookup slot (its peers are this binary run again);
//! [`terminal_escapes`]: control characters in rule files, names and labels never
//! reach an operator's terminal raw, through every command that prints them.
//!
//! Many of these tests leave their own install interrupted on purpose and look at
//! what the kill left: they hold `common::exclusive::interrupted_install` meanwhile,
//! and a command without `--name` waits for them (`nameless_command`). Kernel tests
//! need root: without it they print `SKIP (not root): NAME` and pass, unless
//! `SOCKC_KERNEL_TESTS=require`. A new test goes into the binary of its rung
//! (ARCHITECTURE.md, "Testing"); one that attacks sockc or kills it goes here.

#[path = "../common/mod.rs"]
mod common;
#[path = "../netns/mod.rs"]
mod netns;

mod attack_files;
mod hostile;
mod import_hostile;
mod install;
mod install_recovery;
mod kill_points;
mod program_records;
mod residual_kill_points;
mod review_anchor;
mod review_bulk;
mod review_foreign_slot;
mod review_nf_priority;
mod set_records;
mod sk_lookup_trust;
mod terminal_escapes;
