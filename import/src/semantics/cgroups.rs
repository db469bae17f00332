//! Where a cgroup test's path is on this host: the cgroup v2 directory the language's
//! `cgroup "DIR"` names for each `-m cgroup --path P` and `socket cgroupv2 level N
//! "P"`, or why it names none exactly ([`CgroupTest::dir`]).
//!
//! The kernel resolves `xt_cgroup`'s P below the cgroup v2 root (of the caller's
//! cgroup namespace; `cgroup_get_from_path`, empty components skipped), wherever
//! cgroup v2 is mounted. nft resolves its P itself, as the directory
//! `/sys/fs/cgroup/P` of the mount namespace it runs in, and compares the id of the
//! socket's ancestor at level N with that directory's: the same test as `cgroup
//! "DIR"` exactly when N is the depth of the directory below the cgroup v2 root. A
//! ruleset listed on a hybrid host (cgroup v2 at `/sys/fs/cgroup/unified`) names
//! `unified/P`; one from a host (or a mount namespace) with cgroup v2 at
//! `/sys/fs/cgroup` names `P`: both are read as the directory below this host's root.
//!
//! Invariant: `dir` is `Ok` only for a directory below `root` whose depth is the
//! level nft compares (any depth for `xt_cgroup`), written as the language takes a
//! path (absolute, no `.`/`..`/empty component, nothing a string cannot hold).

use crate::model::{CgroupSource, CgroupTest, Match, MatchKind, Ruleset};

/// Where nft looks for `socket cgroupv2` paths.
pub const NFT_CGROUP_BASE: &str = "/sys/fs/cgroup";

/// Resolves every cgroup test of `rs` against the cgroup v2 mount `root`.
pub fn resolve(rs: &mut Ruleset, root: &str) {
    fn walk(m: &mut Match, root: &str) {
        match &mut m.kind {
            MatchKind::Cgroup(t) => t.dir = dir(t, root),
            MatchKind::Any(alts) => alts.iter_mut().flatten().for_each(|m| walk(m, root)),
            _ => {}
        }
    }
    for rule in &mut rs.rules {
        for m in &mut rule.matches {
            walk(m, root);
        }
    }
}

/// The components of `path`, or why the kernel or nft would not find it.
fn components(path: &str) -> Result<Vec<&str>, String> {
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    if let Some(bad) = parts.iter().find(|c| matches!(**c, "." | "..")) {
        return Err(format!("`{bad}` in the cgroup path \"{path}\""));
    }
    if path
        .chars()
        .any(|c| c.is_control() || c == '"' || c == '\\')
    {
        return Err(format!(
            "the cgroup path {path:?} has a character a `cgroup` string cannot hold"
        ));
    }
    Ok(parts)
}

/// The directory test `t` names below `root`, checked as the module says.
pub fn dir(t: &CgroupTest, root: &str) -> Result<String, String> {
    let root = root.trim_end_matches('/');
    let root_parts: Vec<&str> = root.split('/').filter(|c| !c.is_empty()).collect();
    let parts = components(&t.path)?;
    let below: Vec<&str> = match t.source {
        CgroupSource::Xt => parts,
        CgroupSource::Nft(level) => {
            if !t.path.is_empty() && t.path.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "`{}` names the cgroup by its id (nft prints the id of a cgroup it \
                     cannot find), which holds only until the cgroup is made again",
                    t.text
                ));
            }
            let base: Vec<&str> = NFT_CGROUP_BASE
                .split('/')
                .filter(|c| !c.is_empty())
                .collect();
            let full: Vec<&str> = base.iter().chain(&parts).copied().collect();
            let below = match full.strip_prefix(root_parts.as_slice()) {
                Some(rest) => rest.to_vec(),
                None => parts,
            };
            let Some(level) = level else {
                return Err(format!(
                    "`{}` does not give the level it compares at (nft 1.0.6's JSON leaves \
                     it out)",
                    t.text
                ));
            };
            if level as usize != below.len() {
                return Err(format!(
                    "`{}` compares the socket's cgroup's ancestor at level {level}, and \
                     \"{}\" is at level {} below the cgroup v2 root: sockc's `cgroup` \
                     compares the ancestor at the cgroup's own level",
                    t.text,
                    t.path,
                    below.len()
                ));
            }
            if t.outside {
                return Err(format!(
                    "`{}` does not match sockets of cgroups above level {level}, which \
                     sockc's `cgroup !` matches",
                    t.text
                ));
            }
            below
        }
    };
    let mut out = String::from(if root.is_empty() { "" } else { root });
    for p in &below {
        out.push('/');
        out.push_str(p);
    }
    Ok(if out.is_empty() { "/".into() } else { out })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(path: &str, source: CgroupSource, outside: bool) -> CgroupTest {
        CgroupTest {
            text: format!("cgroup {path}"),
            path: path.into(),
            source,
            outside,
            dir: Err(String::new()),
        }
    }

    #[test]
    fn xt_paths_are_below_the_cgroup2_root_with_empty_components_skipped() {
        let t = test("/app/web/", CgroupSource::Xt, true);
        assert_eq!(
            dir(&t, "/sys/fs/cgroup"),
            Ok("/sys/fs/cgroup/app/web".into())
        );
        assert_eq!(
            dir(&t, "/sys/fs/cgroup/unified/"),
            Ok("/sys/fs/cgroup/unified/app/web".into())
        );
        assert_eq!(
            dir(&test("/", CgroupSource::Xt, false), "/sys/fs/cgroup"),
            Ok("/sys/fs/cgroup".into())
        );
        assert!(dir(&test("a/../b", CgroupSource::Xt, false), "/sys/fs/cgroup").is_err());
        assert!(dir(&test("a\"b", CgroupSource::Xt, false), "/sys/fs/cgroup").is_err());
    }

    #[test]
    fn nft_paths_are_below_sys_fs_cgroup_as_listed_on_either_kind_of_host() {
        let hybrid = "/sys/fs/cgroup/unified";
        // listed on a hybrid host: nft found it under /sys/fs/cgroup/unified
        let t = test(
            "unified/system.slice/x.service",
            CgroupSource::Nft(Some(2)),
            false,
        );
        assert_eq!(
            dir(&t, hybrid),
            Ok("/sys/fs/cgroup/unified/system.slice/x.service".into())
        );
        // listed where cgroup v2 is at /sys/fs/cgroup
        let t = test("system.slice/x.service", CgroupSource::Nft(Some(2)), false);
        assert_eq!(
            dir(&t, hybrid),
            Ok("/sys/fs/cgroup/unified/system.slice/x.service".into())
        );
        assert_eq!(
            dir(&t, "/sys/fs/cgroup"),
            Ok("/sys/fs/cgroup/system.slice/x.service".into())
        );
    }

    #[test]
    fn nft_tests_other_than_the_paths_own_level_and_equality_have_reasons() {
        let root = "/sys/fs/cgroup";
        let why = |t: CgroupTest| dir(&t, root).unwrap_err();
        assert!(why(test("a/b", CgroupSource::Nft(Some(1)), false)).contains("level 1"));
        assert!(why(test("a/b", CgroupSource::Nft(None), false)).contains("level"));
        assert!(why(test("a/b", CgroupSource::Nft(Some(2)), true)).contains("above level 2"));
        assert!(why(test("4242", CgroupSource::Nft(Some(1)), false)).contains("id"));
    }
}
