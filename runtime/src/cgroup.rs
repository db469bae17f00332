//! Where this host mounts cgroup v2, read from `/proc/self/mountinfo` rather than
//! assumed: `/sys/fs/cgroup` on a pure cgroup2 host (every current distribution),
//! `/sys/fs/cgroup/unified` on a hybrid one, anything an administrator chose elsewhere;
//! the directory a cgroup block's attach text names now ([`dir_of`]: a path, or a
//! systemd unit's cgroup); and which cgroup has a given id ([`find_id`]: the kernel names a socket's cgroup by
//! its id, `INET_DIAG_CGROUP_ID`); and how to run nft where it looks `socket cgroupv2`
//! paths up ([`with_cgroup2_at_sys_fs_cgroup`]).
//! Invariant: the answer is a mount point the kernel reported with file system type
//! `cgroup2`, never a guess; a level is counted up to the hierarchy's root (inode 1)
//! by `..`, so it is the same through any mount of the whole hierarchy, and never
//! from a sub-cgroup's mount; [`find_id`] answers with a directory of that mount only.

use std::{
    collections::VecDeque,
    io,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

/// The mount point of cgroup v2 in this process's mount namespace, or `None` when
/// cgroup v2 is not mounted (or mountinfo cannot be read).
///
/// Of several, the first whose top directory is the hierarchy's root cgroup (inode 1):
/// in a cgroup namespace of its own (a pod's) the process's own mount has root `/` in
/// mountinfo too, yet levels counted from it are not the kernel's, while a host tree
/// mounted beside it starts where the kernel counts. Else [`cgroup2_root_in`]'s pick.
pub fn cgroup2_root() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    cgroup2_mounts_in(&text)
        .into_iter()
        .map(|(_, point)| PathBuf::from(unescape(point)))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.ino() == ROOT_CGROUP_ID))
        .or_else(|| cgroup2_root_in(&text))
}

/// The first `cgroup2` mount of a mountinfo text whose root is the hierarchy's root
/// (`/`; a bind mount of a sub-cgroup is not where paths start), or else the first
/// `cgroup2` mount at all.
pub fn cgroup2_root_in(mountinfo: &str) -> Option<PathBuf> {
    let mounts = cgroup2_mounts_in(mountinfo);
    let (_, point) = mounts
        .iter()
        .find(|(root, _)| *root == "/")
        .or(mounts.first())?;
    Some(PathBuf::from(unescape(point)))
}

/// Every `cgroup2` mount of a mountinfo text, in its order: (root, mount point), both
/// still escaped.
fn cgroup2_mounts_in(mountinfo: &str) -> Vec<(&str, &str)> {
    mountinfo
        .lines()
        .filter_map(|line| {
            // ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - TYPE SOURCE ...
            let (fields, tail) = line.split_once(" - ")?;
            let fstype = tail.split(' ').next()?;
            let mut fields = fields.split(' ');
            let root = fields.nth(3)?;
            let point = fields.next()?;
            (fstype == "cgroup2").then_some((root, point))
        })
        .collect()
}

/// The command line that runs `tool` (its arguments follow) in a mount namespace of
/// its own where the cgroup v2 mount `root` is bound at `/sys/fs/cgroup`: where nft
/// looks `socket cgroupv2` paths up, whatever the host mounts there (a hybrid host's
/// cgroup v2 is at `/sys/fs/cgroup/unified`).
pub fn with_cgroup2_at_sys_fs_cgroup(root: &Path, tool: &str) -> Vec<std::ffi::OsString> {
    let script = r#"mount --bind "$1" /sys/fs/cgroup && shift && exec "$@""#;
    [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
    ]
    .into_iter()
    .map(Into::into)
    .chain([root.as_os_str().to_owned(), tool.into()])
    .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where a service's cgroup lives on this host, for messages and examples: the
/// detected root, or `/sys/fs/cgroup` (the usual place) when none is mounted.
pub fn example_path(rest: &str) -> String {
    let root = cgroup2_root().unwrap_or_else(|| PathBuf::from("/sys/fs/cgroup"));
    format!("{}/{rest}", root.display())
}

/// The cgroup directory a block's attach text names: the path itself, or for
/// `unit:NAME` the directory systemd gives that unit under this host's cgroup v2 mount
/// (`sockc_compiler::hooks::unit::cgroup_path`; `/sys/fs/cgroup` when none is mounted,
/// where opening it then fails and says so). Read on every use, never stored: a unit
/// restarted is a new directory of the same path.
pub fn dir_of(attach_to: &str) -> PathBuf {
    match sockc_compiler::hooks::unit::of_attach(attach_to) {
        Some(unit) => {
            let root = cgroup2_root().unwrap_or_else(|| PathBuf::from("/sys/fs/cgroup"));
            root.join(sockc_compiler::hooks::unit::cgroup_path(unit))
        }
        None => PathBuf::from(attach_to),
    }
}

/// The directory a block's attach text names now, as one directory whatever the path
/// it is reached by (a symbolic link, another mount of cgroup v2, a unit's name):
/// its device and inode number; `None` when it cannot be read.
pub fn identity(attach_to: &str) -> Option<(u64, u64)> {
    std::fs::metadata(dir_of(attach_to))
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// How many directories [`find_id`] looks at, at most: a host's whole hierarchy is a
/// few thousand cgroups (a busy container node), a service's subtree a handful.
pub const WALK_LIMIT: usize = 100_000;

/// Where [`find_id`] found a cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The directory of the cgroup with that id.
    At(PathBuf),
    /// No directory under the start has that id (the cgroup is elsewhere, or was
    /// removed).
    NotUnder,
    /// More than [`WALK_LIMIT`] directories under the start.
    TooMany,
}

/// The cgroup whose id is `id`, looked for in `under` and every directory below it, on
/// the cgroup v2 mount (a directory of another file system mounted inside is not
/// looked at: its inode numbers are not cgroup ids). A cgroup's id is its directory's
/// inode number (kernfs gives a node's 64-bit id as the inode number on 64-bit hosts;
/// `tests/reliability/sk_lookup_trust.rs` checks it against sock_diag). Directories
/// that vanish while they are read are skipped; `under` itself must be a cgroup v2
/// directory.
pub fn find_id(under: &Path, id: u64) -> io::Result<Lookup> {
    let root = cgroup2_root().ok_or_else(|| io::Error::other("cgroup v2 is not mounted"))?;
    let dev = std::fs::metadata(&root)?.dev();
    let start = std::fs::metadata(under)?;
    if !start.is_dir() || start.dev() != dev {
        return Err(io::Error::other(format!(
            "{} is not a cgroup v2 directory (cgroup v2 is mounted at {})",
            under.display(),
            root.display()
        )));
    }
    let mut queue = VecDeque::from([(under.to_path_buf(), start.ino())]);
    let mut seen = 0usize;
    while let Some((dir, ino)) = queue.pop_front() {
        if ino == id {
            return Ok(Lookup::At(dir));
        }
        seen += 1;
        if seen > WALK_LIMIT {
            return Ok(Lookup::TooMany);
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            // `file_type` does not follow links; a cgroup is a real directory.
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if let Ok(meta) = e.metadata() {
                if meta.dev() == dev {
                    queue.push_back((e.path(), meta.ino()));
                }
            }
        }
    }
    Ok(Lookup::NotUnder)
}

/// The level (the hierarchy's root is 0) and id of the cgroup at `path`, as the
/// kernel numbers them (`cgroup->level`, `cgroup_id`): the number of directories
/// below the cgroup v2 mount, and the directory's inode number. Refused where the mount's
/// top is not the hierarchy's root (a cgroup namespace of its own), whose levels are
/// not the kernel's. `path` must be a
/// directory of that mount (a `cgroup "PATH"` match names one; see
/// `sockc_compiler::bpf::cgroup_match`).
pub fn level_and_id(path: &Path) -> io::Result<(u32, u64)> {
    let root = cgroup2_root().ok_or_else(|| io::Error::other("cgroup v2 is not mounted"))?;
    let meta = std::fs::metadata(path)?;
    let not_v2 = || {
        io::Error::other(format!(
            "{} is not a cgroup v2 directory (cgroup v2 is mounted at {})",
            path.display(),
            root.display()
        ))
    };
    let top = std::fs::metadata(&root)?;
    if !meta.is_dir() || meta.dev() != top.dev() {
        return Err(not_v2());
    }
    if top.ino() != ROOT_CGROUP_ID {
        return Err(io::Error::other(format!(
            "cgroup v2 is mounted at {} from below the hierarchy's root (sockc runs in a \
             cgroup namespace of its own, a container's, or the mount is of a sub-cgroup): \
             levels counted from there are not the kernel's; run sockc where the whole \
             hierarchy is mounted (the host's cgroup namespace: `nsenter --cgroup=/proc/1/ns/cgroup`)",
            root.display()
        )));
    }
    let level = level_below_root(path)?.ok_or_else(not_v2)?;
    Ok((level, meta.ino()))
}

/// How many directories the directory at `path` is below the hierarchy's root cgroup
/// (inode [`ROOT_CGROUP_ID`]), walked up by `..` on its own file system: the same
/// answer through a symbolic link or any mount of the whole hierarchy; `None` when the
/// walk reaches the top of a mount that is not the root (a cgroup namespace's, or a
/// bind mount of a sub-cgroup).
fn level_below_root(path: &Path) -> io::Result<Option<u32>> {
    let mut at = std::fs::File::open(path)?;
    let mut level = 0;
    while at.metadata()?.ino() != ROOT_CGROUP_ID {
        let Some(parent) = parent_in_mount(&at)? else {
            return Ok(None);
        };
        (at, level) = (parent, level + 1);
    }
    Ok(Some(level))
}

/// The directory above `dir` (opened by `..`, no path resolved again) when it is on the
/// same mount; `None` at the mount's top (its `..` is itself, or another file system).
pub(crate) fn parent_in_mount(dir: &std::fs::File) -> io::Result<Option<std::fs::File>> {
    use std::os::fd::AsFd;
    let here = dir.metadata()?;
    let parent = crate::sys::open_parent(dir.as_fd())?;
    let up = parent.metadata()?;
    Ok((up.dev() == here.dev() && up.ino() != here.ino()).then_some(parent))
}

/// The id of the hierarchy's root cgroup (its directory's inode number): a cgroup v2
/// mount whose top has another is of a sub-cgroup (a cgroup namespace's root).
const ROOT_CGROUP_ID: u64 = 1;

/// The cgroup v2 directory of this process (`0::PATH` of `/proc/self/cgroup`, under
/// the mount), or `None` when either cannot be read.
pub fn own_cgroup() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    let root = cgroup2_root()?;
    match rel.trim_matches('/') {
        "" => Some(root),
        rel => Some(root.join(rel)),
    }
}

/// The id of the cgroup at `path` (its directory's inode number, see [`find_id`]).
pub fn id_of(path: &Path) -> io::Result<u64> {
    Ok(std::fs::metadata(path)?.ino())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// The mount's own directory is the root cgroup (level 0, its inode the id);
    /// a directory of another file system is no cgroup. (A host without cgroup v2
    /// has nothing to look at.)
    #[test]
    fn the_mount_is_level_zero_and_other_directories_are_no_cgroups() {
        let Some(root) = cgroup2_root() else {
            return;
        };
        let (level, id) = level_and_id(&root).expect("the cgroup v2 mount");
        assert_eq!((level, id), (0, id_of(&root).unwrap()));
        assert!(level_and_id(Path::new("/proc")).is_err());
    }

    /// A cgroup named through a second mount of cgroup v2 has the level and id it has
    /// under the first (both count from the hierarchy's root). Root only (it mounts).
    #[test]
    fn a_second_mount_of_the_hierarchy_counts_the_same_levels() {
        let Some(root) = cgroup2_root() else {
            return;
        };
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let scratch = Scratch::new(&root);
        let child = scratch.cgroup.join("child");
        std::fs::create_dir(&child).expect("child cgroup");
        let leaf = scratch.cgroup.file_name().expect("leaf").to_owned();
        let second = scratch.mount.join(leaf).join("child");
        let first = level_and_id(&child).expect("through the first mount");
        assert_eq!(first.0, level_and_id(&root).unwrap().0 + 2);
        assert_eq!(level_and_id(&second).expect("through the second"), first);
    }

    /// A cgroup under `root` and a second mount of cgroup v2, both gone when dropped.
    struct Scratch {
        cgroup: PathBuf,
        mount: PathBuf,
    }

    impl Scratch {
        fn new(root: &Path) -> Scratch {
            let tag = format!("sockc-unit-level-{}", std::process::id());
            let s = Scratch {
                cgroup: root.join(&tag),
                mount: std::env::temp_dir().join(tag),
            };
            std::fs::create_dir(&s.cgroup).expect("cgroup");
            std::fs::create_dir(&s.mount).expect("mount point");
            let mounted = std::process::Command::new("mount")
                .args(["-t", "cgroup2", "none"])
                .arg(&s.mount)
                .status()
                .expect("mount");
            assert!(mounted.success(), "mount -t cgroup2");
            s
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg(&self.mount)
                .status();
            let _ = std::fs::remove_dir(&self.mount);
            let _ = std::fs::remove_dir(self.cgroup.join("child"));
            let _ = std::fs::remove_dir(&self.cgroup);
        }
    }

    #[test]
    fn a_hybrid_host_has_it_under_unified() {
        assert_eq!(
            cgroup2_root_in(HYBRID),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
    }

    #[test]
    fn a_pure_cgroup2_host_has_it_at_sys_fs_cgroup() {
        let text =
            "35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(cgroup2_root_in(text), Some(PathBuf::from("/sys/fs/cgroup")));
    }

    #[test]
    fn the_hierarchy_root_wins_over_a_bind_mounted_sub_cgroup() {
        let text = "\
50 1 0:30 /system.slice/x.service /srv/cg rw - cgroup2 cgroup2 rw
51 1 0:30 / /mnt/cgroup\\040v2 rw - cgroup2 cgroup2 rw
";
        assert_eq!(cgroup2_root_in(text), Some(PathBuf::from("/mnt/cgroup v2")));
    }

    #[test]
    fn no_cgroup2_mount_is_none() {
        assert_eq!(
            cgroup2_root_in(
                HYBRID
                    .lines()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join("\n")
                    .as_str()
            ),
            None
        );
        assert_eq!(cgroup2_root_in(""), None);
    }

    /// On this machine the answer is a cgroup v2 directory, when there is one.
    #[test]
    fn this_hosts_root_is_a_cgroup2_directory() {
        if let Some(root) = cgroup2_root() {
            assert!(
                crate::attach::is_cgroup2(root.to_str().unwrap()),
                "{}",
                root.display()
            );
        }
    }
}
