//! `cgroup "/sys/fs/cgroup/app"`, `cgroup unit "app.service"`, `cgroup !"..."`: a
//! rule's test of the cgroup v2 directory the packet's socket belongs to (at the
//! socket-call hooks, the calling process's), resolved ([`CgroupMatch`]: which cgroup,
//! its slot in the install's `cgroups` map, negated or not).
//!
//! A socket matches when its cgroup is the named one or any cgroup below it, as
//! iptables' `-m cgroup --path` (`cgroup_is_descendant`) and nft's `socket cgroupv2
//! level N "PATH"` (the socket's cgroup's ancestor at the named cgroup's level) test
//! it. The program never holds the cgroup's id: the runtime writes the named cgroup's
//! level and id into slot [`CgroupMatch::slot`] of the `cgroups` map on every apply
//! and repair, so a re-created cgroup (a restarted unit) is one map update away.
//!
//! Invariant: a packet without a socket (`None`) matches no cgroup test, negated or
//! not, as both xt_cgroup and nft say; [`CgroupMatch::matches`] is the one test the
//! evaluator and the header space share, on paths without `.`, `..` or a trailing `/`.

/// Most cgroups one file's rules may name (the slots of the `cgroups` map).
pub const CGROUPS_MAX: usize = 256;

/// A rule's cgroup test, resolved.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CgroupMatch {
    /// The cgroup as written: its absolute path, or
    /// [`UNIT_PREFIX`](super::ast::UNIT_PREFIX) and a systemd unit's name.
    pub cgroup: String,
    /// Its slot in the `cgroups` map (its index in `Module::cgroups`).
    pub slot: u32,
    /// `cgroup !...`: a socket in any other cgroup.
    pub negated: bool,
}

impl CgroupMatch {
    /// Whether a packet whose socket is in the cgroup at path `socket` (`None`: no
    /// socket, or one the hook cannot read) matches, the named cgroup being at `named`
    /// (its path on this host).
    pub fn matches(&self, named: &str, socket: Option<&str>) -> bool {
        socket.is_some_and(|s| within(named, s) != self.negated)
    }
}

/// Whether the cgroup at `path` is `ancestor` or below it (paths compared by their
/// components: `/a/bc` is not below `/a/b`).
pub fn within(ancestor: &str, path: &str) -> bool {
    let (a, p) = (ancestor.trim_end_matches('/'), path.trim_end_matches('/'));
    p == a || p.strip_prefix(a).is_some_and(|rest| rest.starts_with('/'))
}

impl std::fmt::Display for CgroupMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bang = if self.negated { "!" } else { "" };
        match self.cgroup.strip_prefix(super::ast::UNIT_PREFIX) {
            Some(unit) => write!(f, "cgroup {bang}unit {unit:?}"),
            None => write!(f, "cgroup {bang}{:?}", self.cgroup),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgroup_holds_itself_and_what_is_below_it_only() {
        let m = CgroupMatch {
            cgroup: "/sys/fs/cgroup/a".into(),
            slot: 0,
            negated: false,
        };
        let named = "/sys/fs/cgroup/a";
        assert!(m.matches(named, Some("/sys/fs/cgroup/a")));
        assert!(m.matches(named, Some("/sys/fs/cgroup/a/b/c")));
        assert!(!m.matches(named, Some("/sys/fs/cgroup/ab")));
        assert!(!m.matches(named, Some("/sys/fs/cgroup")));
        assert!(!m.matches(named, None));
        let not = CgroupMatch { negated: true, ..m };
        assert!(!not.matches(named, Some("/sys/fs/cgroup/a/b")));
        assert!(not.matches(named, Some("/sys/fs/cgroup/ab")));
        assert!(
            !not.matches(named, None),
            "no socket matches no cgroup test"
        );
    }
}
