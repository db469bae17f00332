//! nf_tables spoken over nfnetlink by the runtime itself (no `nft` binary, no
//! libnftnl): [`message`] frames requests, dumps and transactions, [`ruleset`] reads
//! a namespace's tables, chains, rules and other objects, [`expr`] puts a rule's
//! expressions in words. The conntrack anchor writes through it, and `status` reads
//! the base chains that share a netfilter block's hook and priority with it.
//!
//! Invariant: a leaf; every request runs in the calling thread's network namespace.

pub mod expr;
pub mod message;
pub mod ruleset;
