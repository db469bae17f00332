//! The bpffs sockc is given, checked before anything is made on it, and the modes of
//! what is made there: the host's bpffs (not one private to a mount namespace, as
//! under `ip netns exec`, whose pins vanish when the command exits), reached through
//! directories only root can change, holding directories 0700 and pins 0600 of root's.
//!
//! Invariants: a state directory that is not root's, or that others may write, is
//! refused, never used, and so is a `--bpffs` path any directory of which, from `/`
//! down, another user owns or may write (unless sticky), or that a symbolic link leads
//! through from such a directory ([`check_path_owners`]); pins are 0600 and
//! directories 0700 whatever the caller's umask ([`UmaskGuard`]).

use std::{
    os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt},
    path::{Component, Path},
};

use super::error::{io_err, StoreError};
use crate::fault::point;

/// Sets the process's umask to 077 and puts the previous one back on drop: what the
/// kernel gives a pin (`0600 & ~umask`) and `mkdir` a directory (`0700 & ~umask`)
/// are then exactly 0600 and 0700, never less (a umask of 0277 made pins 0400 and
/// directories 0500) and never more.
pub(super) struct UmaskGuard(libc::mode_t);

impl UmaskGuard {
    pub(super) fn private() -> UmaskGuard {
        // SAFETY: umask has no preconditions and cannot fail.
        UmaskGuard(unsafe { libc::umask(0o077) })
    }
}

impl Drop for UmaskGuard {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::umask(self.0) };
    }
}

/// Creates `dir` (0700, whatever the umask) or checks it: it must be root's and
/// writable by nobody else. A directory of root's that others may only read (as an
/// older sockc made them) is closed to 0700.
pub(super) fn ensure_private_dir(dir: &Path) -> Result<(), StoreError> {
    if !dir.exists() {
        point(&format!("mkdir {}", dir.display()));
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err(dir)(e)),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(io_err(dir))?;
    let mode = meta.mode() & 0o7777;
    if !meta.is_dir() || meta.uid() != 0 || mode & 0o022 != 0 {
        return Err(StoreError::Unsafe {
            path: dir.to_path_buf(),
            uid: meta.uid(),
            mode,
        });
    }
    if mode != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io_err(dir))?;
    }
    Ok(())
}

/// Refuses a `--bpffs` path that someone other than root (or the caller) could
/// change under sockc: every directory the lookup of `bpffs` passes through, from `/`
/// down — the directories of the path as written, and, where a component is a
/// symbolic link, those of where it leads — must be owned by root or the caller and
/// writable by nobody else, unless sticky (as `/tmp`, where others cannot rename
/// what they do not own); and every symbolic link followed in a sticky directory must
/// be owned by root or the caller (there its owner may point it elsewhere). Otherwise a
/// user who owns a parent could rename it away and put a link to another bpffs in its
/// place, and root's next command would act on that one. The directories and links
/// checked are all only root's to change, so what is checked stays true while sockc
/// runs.
pub fn check_path_owners(bpffs: &Path) -> Result<(), StoreError> {
    let absolute = if bpffs.is_absolute() {
        bpffs.to_path_buf()
    } else {
        std::env::current_dir().map_err(io_err(bpffs))?.join(bpffs)
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let mut checked = std::collections::HashSet::new();
    // Until the first symbolic link, a prefix of a path of plain names is where it
    // leads, and its parents were checked as the prefixes before it: one `lstat` each
    // (resolving every prefix took a `readlink` per component of it, and a `stat`).
    let mut linkless = absolute
        .components()
        .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    let mut links_checked = false;
    for prefix in absolute.ancestors().collect::<Vec<_>>().into_iter().rev() {
        if linkless {
            match std::fs::symlink_metadata(prefix) {
                Ok(meta) if !meta.file_type().is_symlink() => {
                    checked.insert(prefix.to_path_buf());
                    check_owner(prefix, &meta, bpffs, me)?;
                    continue;
                }
                Ok(_) => linkless = false,
                // A missing path is for the bpffs check to report.
                Err(_) => break,
            }
        }
        // Once, where the path is first resolved: at its first link, or at `/` for a
        // path with `.` or `..`, which is never read the quick way above.
        if !links_checked {
            links_checked = true;
            check_link_owners(&absolute, bpffs, me, &mut 0)?;
        }
        // A missing path is for the bpffs check to report.
        let Ok(real) = std::fs::canonicalize(prefix) else {
            break;
        };
        for dir in real.ancestors() {
            if !checked.insert(dir.to_path_buf()) {
                continue;
            }
            let meta = std::fs::metadata(dir).map_err(io_err(dir))?;
            check_owner(dir, &meta, bpffs, me)?;
        }
    }
    Ok(())
}

/// The most symbolic links one lookup follows (`MAXSYMLINKS`): past them it fails
/// (`ELOOP`), and so does the bpffs check.
const MAX_LINKS: u32 = 40;

/// Refuses a symbolic link the lookup of `path` follows on the way to `bpffs` (one of
/// its prefixes as written, or met in a link's target) that lies in a sticky
/// directory (`/tmp`) and that someone other than root or `me` owns: its owner may
/// replace it at any time, and the directories its old target passed through,
/// checked, are no longer the way.
/// `links`: the links followed so far.
fn check_link_owners(
    path: &Path,
    bpffs: &Path,
    me: libc::uid_t,
    links: &mut u32,
) -> Result<(), StoreError> {
    for prefix in path.ancestors().collect::<Vec<_>>().into_iter().rev() {
        // A missing path is for the bpffs check to report.
        let Ok(meta) = std::fs::symlink_metadata(prefix) else {
            return Ok(());
        };
        if !meta.file_type().is_symlink() {
            continue;
        }
        let (Ok(target), Some(parent)) = (std::fs::read_link(prefix), prefix.parent()) else {
            return Ok(());
        };
        // Only where others may add and remove names (sticky) is a link another
        // user's to replace: in a directory only root writes it stays as it is.
        let sticky = std::fs::metadata(parent).is_ok_and(|d| d.mode() & 0o1000 != 0);
        if sticky && meta.uid() != 0 && meta.uid() != me {
            return Err(StoreError::UnsafePath {
                path: prefix.to_path_buf(),
                bpffs: bpffs.to_path_buf(),
                uid: meta.uid(),
                mode: meta.mode() & 0o7777,
            });
        }
        *links += 1;
        if *links > MAX_LINKS {
            return Ok(());
        }
        // A relative target is looked up from the link's own directory.
        let Ok(from) = std::fs::canonicalize(parent) else {
            return Ok(());
        };
        check_link_owners(&from.join(target), bpffs, me, links)?;
    }
    Ok(())
}

/// Refuses the directory `dir` (`meta`: where it leads) on the way to `bpffs` when
/// someone other than root or `me` owns it or may write it (unless it is sticky).
fn check_owner(
    dir: &Path,
    meta: &std::fs::Metadata,
    bpffs: &Path,
    me: libc::uid_t,
) -> Result<(), StoreError> {
    let mode = meta.mode() & 0o7777;
    let owner_ok = meta.uid() == 0 || meta.uid() == me;
    let sticky = mode & 0o1000 != 0;
    if meta.is_dir() && (!owner_ok || (mode & 0o022 != 0 && !sticky)) {
        return Err(StoreError::UnsafePath {
            path: dir.to_path_buf(),
            bpffs: bpffs.to_path_buf(),
            uid: meta.uid(),
            mode,
        });
    }
    Ok(())
}

/// True when `path` is on a BPF filesystem (statfs magic `BPF_FS_MAGIC`).
pub(super) fn is_bpffs(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs writes into the zeroed struct; c is NUL-terminated.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type == libc::BPF_FS_MAGIC
    }
}

/// The nearest ancestor process that runs in another mount namespace than this one:
/// what `ip netns exec` or `unshare -m` was started from. `None` when every ancestor
/// shares ours, when ours is the kernel's initial one (no walk), or when one cannot be
/// read (nothing is known then). Walked once per process while its answer holds
/// ([`read_mount_namespace_ahead`] may walk first, on another thread): where root
/// cannot read `/proc/1/ns/mnt` (a sandbox) and this process is not in the kernel's
/// initial namespace (never known by its number before 6.18), the walk reads two files
/// per ancestor, ~25 system calls before every store's open. A found
/// ancestor is checked at each ask (its start time, one read): a long-running command
/// (`watch`, the deadline's watcher) outlives the shell it was started from, and its
/// pid may be another process's by then; then the ancestors are walked again. A walk
/// that could not read (in a sandbox, init's namespace at the end of every walk) is
/// kept as it is: another would read no more.
fn ancestor_outside_mount_namespace() -> Option<u32> {
    static WALKED: std::sync::Mutex<Option<Walked>> = std::sync::Mutex::new(None);
    let mut walked = WALKED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(answer) = walked.and_then(kept_answer) {
        return answer;
    }
    let found = find_ancestor_outside_mount_namespace().unwrap_or(Walked::Unknown);
    *walked = Some(found);
    match found {
        Walked::Outside { pid, .. } => Some(pid),
        _ => None,
    }
}

/// The answer a walk kept, while it holds: `None` when the ancestor it found is gone
/// or its pid is another process's (a start time of its own), and the walk is due again.
fn kept_answer(walked: Walked) -> Option<Option<u32>> {
    match walked {
        Walked::Shared | Walked::Unknown => Some(None),
        Walked::Outside { pid, start } => (start_time(pid) == Some(start)).then_some(Some(pid)),
    }
}

/// What a walk of the ancestors found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Walked {
    /// Every ancestor shares this process's mount namespace (which it never leaves:
    /// sockc enters network namespaces only), or that namespace is the kernel's
    /// initial one; either stays true.
    Shared,
    /// The nearest one that does not, and its start time (`/proc/PID/stat`, field 22).
    Outside { pid: u32, start: u64 },
    /// A file of the walk could not be read: nothing is known.
    Unknown,
}

/// Finds, for [`Store::open`](super::Store::open), what it checks of this process's
/// mount namespace (the ancestors' namespaces, read from `/proc`), so that the open
/// does not wait for it: a re-apply calls this on its read-ahead thread while the
/// front end runs. The answer is the process's, whichever thread asks first.
pub(super) fn read_mount_namespace_ahead() {
    let _ = ancestor_outside_mount_namespace();
}

/// [`ancestor_outside_mount_namespace`], walked; `None` when a file could not be read.
fn find_ancestor_outside_mount_namespace() -> Option<Walked> {
    #[cfg(test)]
    tests::WALKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    walk_ancestors()
}

/// [`find_ancestor_outside_mount_namespace`]'s walk.
fn walk_ancestors() -> Option<Walked> {
    let ours = std::fs::read_link("/proc/self/ns/mnt").ok()?;
    // The kernel's own namespace is no private one, whatever the ancestors run in: it
    // lives as long as the host. Known by its number where PID 1's cannot be read.
    if is_initial_mount_namespace(&ours) {
        return Some(Walked::Shared);
    }
    // The usual case in one look: init's namespace (the host's, or a container's,
    // whose processes all share it) is ours, so no ancestor in between left it.
    let init = std::fs::read_link("/proc/1/ns/mnt");
    if init.as_ref().is_ok_and(|init| *init == ours) {
        return Some(Walked::Shared);
    }
    // SAFETY: getppid has no preconditions and cannot fail.
    let mut pid = unsafe { libc::getppid() } as u32;
    for _ in 0..64 {
        if pid == 0 {
            return Some(Walked::Shared);
        }
        if pid == 1 && init.is_err() {
            // Init's namespace was just found unreadable (a sandbox): its `stat` and
            // namespace read again would end the walk the same way.
            return None;
        }
        #[cfg(test)]
        tests::STATS.with(|n| n.set(n.get() + 1));
        let (parent, start) = stat_of(pid)?;
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok()?;
        if theirs != ours {
            return Some(Walked::Outside { pid, start });
        }
        pid = parent;
    }
    None
}

/// The inode number Linux gives the initial mount namespace since 6.18
/// (`MNT_NS_INIT_INO`, `include/uapi/linux/nsfs.h`). Before, it was numbered as any
/// other, from `0xF0000000` up (`proc_alloc_inum`), so no namespace of an older
/// kernel has it.
const MNT_NS_INIT_INO: u64 = 0xEFFF_FFF8;

/// True when `link`, the target of a `/proc/PID/ns/mnt` link, is exactly the text the
/// kernel writes for its initial mount namespace (`mnt:[4026531832]`,
/// [`MNT_NS_INIT_INO`]): no other spelling of the number.
fn is_initial_mount_namespace(link: &Path) -> bool {
    link.as_os_str().as_encoded_bytes() == format!("mnt:[{MNT_NS_INIT_INO}]").as_bytes()
}

/// The start time of process `pid` (clock ticks after boot): with the pid, it names
/// one process, where a pid alone may be reused.
fn start_time(pid: u32) -> Option<u64> {
    stat_of(pid).map(|(_, start)| start)
}

/// The parent and the start time of process `pid`, from `/proc/PID/stat` read with one
/// `read` (this runs for each ancestor where `/proc/1/ns/mnt` cannot be read; a
/// whole-file read took a `statx` and six `read`s each).
fn stat_of(pid: u32) -> Option<(u32, u64)> {
    use std::io::Read;
    let mut buf = [0u8; 1024];
    let mut f = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let n = f.read(&mut buf).ok()?;
    // `PID (COMM) STATE PPID ... STARTTIME ...`; COMM may hold spaces and parentheses
    // but is a few dozen bytes at most, and the fields after it are numbers: the last
    // `)` read is COMM's, and STARTTIME (field 22) is well within the buffer.
    let read = &buf[..n];
    let stat = match std::str::from_utf8(read) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&read[..e.valid_up_to()]).ok()?,
    };
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let parent = fields.nth(1)?.parse().ok()?;
    // Fields 3 and 4 are the first two after COMM; STARTTIME is the 22nd.
    let start = fields.nth(22 - 5)?.parse().ok()?;
    Some((parent, start))
}

/// True when this process runs in a mount namespace of its own (under `ip netns
/// exec`, `unshare -m`): one its nearest ancestor outside it does not share.
pub(super) fn private_mount_namespace() -> bool {
    ancestor_outside_mount_namespace().is_some()
}

/// False when this process sees at `bpffs` another filesystem than the process it
/// was started from (outside its mount namespace) sees there: a bpffs mounted in a
/// private mount namespace, whose pins vanish with it.
pub(super) fn same_bpffs_as_init(bpffs: &Path) -> bool {
    let Some(pid) = ancestor_outside_mount_namespace() else {
        return true;
    };
    let theirs =
        Path::new(&format!("/proc/{pid}/root")).join(bpffs.strip_prefix("/").unwrap_or(bpffs));
    match (std::fs::metadata(bpffs), std::fs::metadata(&theirs)) {
        (Ok(ours), Ok(theirs)) => ours.dev() == theirs.dev(),
        (Ok(_), Err(_)) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    /// Walks of the ancestors made by this test process.
    pub(super) static WALKS: std::sync::atomic::AtomicUsize =
        std::sync::atomic::AtomicUsize::new(0);

    thread_local! {
        /// Ancestors' `stat` files this thread's walks read.
        pub(super) static STATS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// A walk reads each ancestor's `stat` once, up to init's, which it reads only
    /// when init's namespace can be read (a sandbox refuses it: the walk ends there
    /// as reading it would end it, knowing nothing), and gives what the walk before
    /// this shortcut gave: a walk from this process's own ancestors. In the kernel's
    /// initial mount namespace (Linux 6.18 on) it reads no `stat` at all.
    #[test]
    fn a_walk_reads_inits_stat_only_when_its_namespace_can_be_read() {
        let ancestors = {
            // SAFETY: getppid has no preconditions and cannot fail.
            let mut pid = unsafe { libc::getppid() } as u32;
            let mut n = 0;
            while pid > 1 {
                n += 1;
                pid = super::stat_of(pid).expect("an ancestor's stat").0;
            }
            n
        };
        let ours = std::fs::read_link("/proc/self/ns/mnt").unwrap();
        // Known here by the namespace's inode, not by the function under test.
        let initial = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata("/proc/self/ns/mnt").unwrap().ino() == super::MNT_NS_INIT_INO
        };
        let init = std::fs::read_link("/proc/1/ns/mnt");
        let before = STATS.with(|n| n.get());
        let walked = super::walk_ancestors();
        let read = STATS.with(|n| n.get()) - before;
        match (init, walked) {
            _ if initial => {
                assert_eq!((walked, read), (Some(super::Walked::Shared), 0))
            }
            (Ok(init), _) if init == ours => {
                assert_eq!((walked, read), (Some(super::Walked::Shared), 0))
            }
            (_, Some(super::Walked::Outside { .. })) | (Ok(_), _) => {
                assert!(
                    read <= ancestors + 1,
                    "{read} stats of {ancestors} ancestors"
                )
            }
            (Err(_), _) => {
                assert_eq!(
                    read, ancestors,
                    "init's stat read though its namespace is not"
                );
                assert_eq!(walked, None, "nothing known past init");
            }
        }
    }

    /// The initial mount namespace is known by its number and by nothing else: the
    /// number of another namespace, of another kind, or a malformed link is not it.
    #[test]
    fn the_initial_mount_namespace_is_known_by_its_number() {
        let known = |link: &str| super::is_initial_mount_namespace(std::path::Path::new(link));
        assert!(known("mnt:[4026531832]"));
        for other in [
            "mnt:[4026531840]",
            "mnt:[4026532285]",
            "net:[4026531832]",
            "mnt:[4026531832",
            "mnt:[04026531832]",
            "mnt:[+4026531832]",
            "mnt:[4026531832 ]",
            "mnt:[04026531832x]",
            "mnt:[]",
            "",
        ] {
            assert!(!known(other), "{other}");
        }
    }

    /// The ancestors are walked once per process, however many stores open (each
    /// asks twice when its bpffs is not one) and whichever thread asks first.
    #[test]
    fn the_ancestors_are_walked_once() {
        let here = super::ancestor_outside_mount_namespace();
        let there = std::thread::spawn(super::ancestor_outside_mount_namespace)
            .join()
            .unwrap();
        super::read_mount_namespace_ahead();
        assert_eq!(here, there);
        assert_eq!(WALKS.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    /// The directories on the way to a `--bpffs` path are checked whether the path
    /// has symbolic links or not: a directory others may write is refused before the
    /// first link (each prefix looked at once) and past it (resolved), and a sticky one
    /// is not. Root only (it gives a directory away).
    #[test]
    fn every_directory_on_the_way_is_checked_before_and_past_a_link() {
        use std::{os::unix::fs::PermissionsExt, path::Path};
        if !crate::sys::tests_run_as_root() {
            return;
        }
        let top = std::env::temp_dir().join(format!("sockc-owners-{}", std::process::id()));
        let (open, deep) = (top.join("open"), top.join("open/deep/er"));
        std::fs::create_dir_all(&deep).unwrap();
        let link = top.join("link");
        std::os::unix::fs::symlink(&open, &link).unwrap();
        let mode = |path: &Path, m| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(m)).unwrap()
        };
        mode(&top, 0o755);
        let refused = |path: &Path| match super::check_path_owners(path) {
            Err(super::StoreError::UnsafePath { path, .. }) => Some(path),
            _ => None,
        };
        for m in [0o755, 0o1777] {
            mode(&open, m);
            assert_eq!(refused(&deep), None, "{m:o}");
            assert_eq!(refused(&link.join("deep/er")), None, "{m:o}");
        }
        mode(&open, 0o777);
        assert_eq!(refused(&deep).as_deref(), Some(open.as_path()), "no link");
        let through = refused(&link.join("deep/er"));
        assert_eq!(through.as_deref(), Some(open.as_path()), "past a link");
        mode(&open, 0o755);
        mode(&deep, 0o775);
        assert_eq!(
            refused(&deep).as_deref(),
            Some(deep.as_path()),
            "the last one"
        );
        std::fs::remove_dir_all(&top).unwrap();
    }

    /// A symbolic link on the way in a sticky directory that another user owns is
    /// refused (its owner may point it elsewhere at any time), whether it is a prefix
    /// of the path as written or met in another link's target; one root owns, or one
    /// in a directory only root writes, is followed. Root only (it gives a link away).
    #[test]
    fn a_link_on_the_way_that_another_user_owns_is_refused() {
        use std::{os::unix::fs::PermissionsExt, path::Path};
        if !crate::sys::tests_run_as_root() {
            return;
        }
        let top = std::env::temp_dir().join(format!("sockc-links-{}", std::process::id()));
        let (shared, real) = (top.join("shared"), top.join("real/bpffs"));
        std::fs::create_dir_all(&shared).unwrap();
        std::fs::create_dir_all(&real).unwrap();
        std::fs::set_permissions(&top, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let link = |at: &Path, to: &Path, uid: u32| {
            std::os::unix::fs::symlink(to, at).unwrap();
            std::os::unix::fs::lchown(at, Some(uid), None).unwrap();
        };
        let nobody = 65_534;
        link(&shared.join("root"), &top.join("real"), 0);
        link(&shared.join("theirs"), &top.join("real"), nobody);
        // Root's link whose target goes through theirs.
        link(&shared.join("chain"), Path::new("theirs"), 0);
        // Theirs in a directory only root writes: they cannot change it.
        link(&top.join("fixed"), &top.join("real"), nobody);
        let refused = |path: &Path| match super::check_path_owners(path) {
            Err(super::StoreError::UnsafePath { path, uid, .. }) => Some((path, uid)),
            other => {
                assert!(other.is_ok(), "{other:?}");
                None
            }
        };
        assert_eq!(refused(&real), None, "no link");
        assert_eq!(refused(&shared.join("root/bpffs")), None, "root's link");
        assert_eq!(refused(&top.join("fixed/bpffs")), None, "not sticky");
        let theirs = Some((shared.join("theirs"), nobody));
        assert_eq!(refused(&shared.join("theirs/bpffs")), theirs, "their link");
        assert_eq!(
            refused(&shared.join("../shared/theirs/bpffs")),
            Some((shared.join("../shared/theirs"), nobody)),
            "their link behind `..`"
        );
        assert_eq!(
            refused(&shared.join("chain/bpffs")),
            theirs,
            "theirs in a target"
        );
        std::fs::remove_dir_all(&top).unwrap();
    }

    /// A start time names the process: this one's is what `/proc/self/stat` says in
    /// its 22nd field, and a pid with another start time is not taken for it.
    #[test]
    fn start_time_is_the_kernels() {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let after = stat.rsplit_once(')').unwrap().1;
        let field22: u64 = after.split_whitespace().nth(19).unwrap().parse().unwrap();
        let me = std::process::id();
        assert_eq!(super::start_time(me), Some(field22));
        assert_ne!(super::start_time(1), None);
        assert_eq!(super::stat_of(me).map(|(_, s)| s), Some(field22));
    }

    /// A found ancestor is kept only while its pid names the same process: a start
    /// time of another, or a pid no process has, makes the walk due again (a `watch`
    /// started from a shell that has exited kept the shell's pid for good).
    #[test]
    fn a_found_ancestor_is_kept_while_it_is_the_same_process() {
        use super::{kept_answer, start_time, Walked};
        let pid = std::process::id();
        let start = start_time(pid).unwrap();
        assert_eq!(kept_answer(Walked::Outside { pid, start }), Some(Some(pid)));
        let later = start + 1;
        assert_eq!(kept_answer(Walked::Outside { pid, start: later }), None);
        let gone = Walked::Outside {
            pid: u32::MAX - 7,
            start,
        };
        assert_eq!(kept_answer(gone), None);
        assert_eq!(kept_answer(Walked::Shared), Some(None));
    }

    /// `stat_of` reads the parent `/proc` gives, for this process and its parent.
    #[test]
    fn stat_of_reads_the_kernels_parent() {
        let parent_of = |pid| super::stat_of(pid).map(|(parent, _)| parent);
        // SAFETY: getppid has no preconditions and cannot fail.
        let parent = unsafe { libc::getppid() } as u32;
        assert_eq!(parent_of(std::process::id()), Some(parent));
        let grandparent = parent_of(parent).expect("the parent's own parent");
        let status = std::fs::read_to_string(format!("/proc/{parent}/status")).unwrap();
        let ppid = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .unwrap();
        assert_eq!(grandparent, ppid.trim().parse::<u32>().unwrap());
    }
}
