//! `owner uid N`, `owner gid 100-199`, `owner user "www-data"`: a rule's test of the
//! user or group that owns the socket which sent the packet, resolved
//! ([`OwnerMatch`]: the ids, and whether a packet that no socket owns matches too).
//!
//! What "owns" means is the kernel's, per hook (docs/language.md, "Owner"): at the
//! netfilter output and postrouting hooks the `fsuid`/`fsgid` of the credentials of
//! the socket's file, as `xt_owner` and nft's `meta skuid`/`skgid` read them (the
//! listener's for a request socket; no owner without a full socket, a file, or in
//! another network namespace); at TC egress the socket's `sk_uid`, as
//! `bpf_get_socket_uid` gives it, which is [`TC_NO_SOCKET_UID`] for a packet without
//! a full socket, so there a set holding that id matches such packets too.
//!
//! Invariant: an owner is a `u32` below `u32::MAX` or none; [`NO_OWNER`] stands for
//! none wherever an owner is a number (the header space, `sockc test`), since no
//! [`IdSet`] holds it, and [`OwnerMatch::matches`] is the one test the lowering, the
//! evaluator and the header space share.

use super::ids::{IdKind, IdSet};

/// A packet that no socket owns, as a number (no user or group has it).
pub const NO_OWNER: u32 = u32::MAX;

/// What `bpf_get_socket_uid` returns for a packet without a full socket: the
/// kernel's `overflowuid` (`/proc/sys/kernel/overflowuid`, 65534 unless changed).
pub const TC_NO_SOCKET_UID: u32 = 65534;

/// A rule's owner test, resolved.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OwnerMatch {
    /// The users (`kind` uid) or groups (gid) that match.
    pub ids: IdSet,
    /// A packet that no socket owns matches too (TC egress, when `ids` holds
    /// [`TC_NO_SOCKET_UID`]).
    pub socketless: bool,
}

impl OwnerMatch {
    pub fn kind(&self) -> IdKind {
        self.ids.kind
    }

    /// Whether a packet whose owner is `owner` (`None`: no owner) matches.
    pub fn matches(&self, owner: Option<u32>) -> bool {
        match owner {
            Some(id) if id != NO_OWNER => self.ids.contains(id),
            _ => self.socketless,
        }
    }
}

impl std::fmt::Display for OwnerMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "owner {}", self.ids)?;
        if self.socketless {
            f.write_str(" (or no socket)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_owner_matches_only_where_the_hook_says_so() {
        let ids = IdSet::new(
            IdKind::Uid,
            vec![(1001, 1001), (65534, 65534)],
            "uid".into(),
        );
        let nf = OwnerMatch {
            ids: ids.clone(),
            socketless: false,
        };
        assert!(nf.matches(Some(1001)) && nf.matches(Some(65534)));
        assert!(!nf.matches(None) && !nf.matches(Some(NO_OWNER)) && !nf.matches(Some(1002)));
        let tc = OwnerMatch {
            ids,
            socketless: true,
        };
        assert!(tc.matches(None) && tc.matches(Some(NO_OWNER)));
    }
}
