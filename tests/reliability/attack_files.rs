//! sockc runs as root and writes, reads and pins where a user points it. These tests
//! attack that as a local user who can write some directory on the way would, each
//! case as it was measured against an earlier build:
//!
//! * `-o FILE` (compile, `stats --prometheus`) wrote a predictable `FILE.tmp` through
//!   a planted symbolic link (root clobbered any file) and replaced FIFOs and device
//!   nodes (`-o /dev/full` replaced `/dev/full`);
//! * a set file was resolved with `canonicalize()` and then opened by that path: a
//!   directory on the path exchanged with a link to outside the tree while `check`
//!   ran had the outside file's lines quoted (633 of 3,000 runs);
//! * pins and directories followed a restrictive umask (0777: pins 000);
//! * a `--bpffs` path through a directory another user owns or may write was used;
//! * `yes x | sockc check -` read without a bound (8.2 GB);
//! * JSON on a full standard output panicked (exit 101);
//! * `-q` still printed notices, the lock-wait message and repair's "ok" lines.
//!
//! Races repeat `SOCKC_ATTACK_REPS` times (in-process runs of the compiler; default
//! 10,000, about 10 s) and `SOCKC_ATTACK_PROCESS_REPS` times (whole `sockc check`
//! runs; default 300). The kernel cases (pins, `--bpffs`, `-q`) run as root only.
//! `SOCKC_TEST_BIN` runs the process cases against another build.

use crate::common;
use crate::netns;

use std::{
    io::Write,
    os::unix::{
        fs::{FileTypeExt, MetadataExt, PermissionsExt},
        process::CommandExt,
    },
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use netns::{run, sockc, Lab, Run};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sockc-attack-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn reps(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const RULES: &str = "xdp on eth0 {\n  drop udp to *:9001\n  default allow\n}\n";

/// `-o` never writes through a link, never replaces a FIFO or a device node, and a
/// planted `FILE.tmp` link (the old temporary name) leads nowhere.
#[test]
fn output_files_are_never_written_through_links_fifos_or_devices() {
    let dir = scratch("out");
    let rules = dir.join("r.sk");
    std::fs::write(&rules, RULES).unwrap();
    let victim = dir.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let link = dir.join("link.o");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let fifo = dir.join("fifo.o");
    run(Command::new("mkfifo").arg(&fifo)).ok();
    let mut refused = vec![(link.clone(), "a symbolic link"), (fifo.clone(), "a FIFO")];
    // A device node of the test's own (never the host's /dev/full or /dev/null).
    let device = dir.join("null.o");
    if common::is_root() {
        run(Command::new("mknod").arg(&device).args(["c", "1", "3"])).ok();
        refused.push((device.clone(), "a character device"));
    }
    for (target, kind) in &refused {
        let r = sockc(&["compile", s(&rules), "-o", s(target)]).expect_code(2);
        assert!(r.stderr.contains(kind), "{r}");
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    if common::is_root() {
        assert!(std::fs::symlink_metadata(&device)
            .unwrap()
            .file_type()
            .is_char_device());
    }
    // The old temporary name, planted as a link to the victim.
    let out = dir.join("out.o");
    std::os::unix::fs::symlink(&victim, dir.join("out.o.tmp")).unwrap();
    sockc(&["compile", s(&rules), "-o", s(&out)]).ok();
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert!(std::fs::metadata(&out).unwrap().is_file());
    // Nothing of sockc's is left beside it.
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("sockc"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A tree for the set-file race: `rules/r.sk` reads `rules/sub/list.txt`; `outside/`
/// holds a `list.txt` whose line must never be quoted; `rules/swap` is a link to
/// `outside/`, which a thread exchanges with `rules/sub` again and again.
struct SwapTree {
    top: PathBuf,
    rules: PathBuf,
}

impl SwapTree {
    fn new(tag: &str) -> SwapTree {
        let top = scratch(tag);
        let rules = top.join("rules");
        std::fs::create_dir_all(rules.join("sub")).unwrap();
        std::fs::create_dir_all(top.join("outside")).unwrap();
        std::fs::write(rules.join("sub/list.txt"), "inside-not-an-address\n").unwrap();
        std::fs::write(top.join("outside/list.txt"), "SECRET-LINE-OUTSIDE\n").unwrap();
        std::os::unix::fs::symlink(top.join("outside"), rules.join("swap")).unwrap();
        std::fs::write(
            rules.join("r.sk"),
            "set s = file \"sub/list.txt\"\nxdp on eth0 { drop from @s; default allow }\n",
        )
        .unwrap();
        SwapTree { top, rules }
    }

    /// Exchanges `sub` and `swap` (renameat2 RENAME_EXCHANGE) until `stop`.
    fn swapper(&self, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
        let dir = self.rules.clone();
        std::thread::spawn(move || {
            let fd = rustix::fs::open(
                &dir,
                rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY,
                rustix::fs::Mode::empty(),
            )
            .unwrap();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                rustix::fs::renameat_with(
                    &fd,
                    "sub",
                    &fd,
                    "swap",
                    rustix::fs::RenameFlags::EXCHANGE,
                )
                .unwrap();
                n += 1;
            }
            n
        })
    }
}

impl Drop for SwapTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.top);
    }
}

/// The compiler itself, run `SOCKC_ATTACK_REPS` times while a directory on the set
/// file's path is exchanged with a link to outside the tree: the outside file's line is
/// never quoted, and every run either reads the inside file or refuses the path.
#[test]
fn a_directory_swapped_for_a_link_never_leaks_an_outside_set_file() {
    let tree = SwapTree::new("race");
    let src = std::fs::read_to_string(tree.rules.join("r.sk")).unwrap();
    let opts = sockc_compiler::driver::Options {
        sema: sockc_compiler::sema::Options {
            base_dir: Some(tree.rules.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = tree.swapper(stop.clone());
    let (mut inside, mut refused) = (0, 0);
    for _ in 0..reps("SOCKC_ATTACK_REPS", 10_000) {
        let (_, diags) = sockc_compiler::compile(&src, &opts);
        let text = format!("{diags:?}");
        assert!(
            !text.contains("SECRET"),
            "an outside line was quoted: {text}"
        );
        if text.contains("inside-not-an-address") {
            inside += 1;
        } else {
            assert!(text.contains("sockc::set-file"), "{text}");
            refused += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 0);
    eprintln!("{inside} read inside, {refused} refused, {swaps} swaps");
}

/// The same race against whole `sockc check` runs (`SOCKC_ATTACK_PROCESS_REPS`).
#[test]
fn sockc_check_never_quotes_an_outside_set_file_during_a_swap() {
    let tree = SwapTree::new("race-cli");
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = tree.swapper(stop.clone());
    let file = tree.rules.join("r.sk");
    let mut leaked = 0;
    let n = reps("SOCKC_ATTACK_PROCESS_REPS", 300);
    for _ in 0..n {
        let r = sockc(&["check", s(&file)]);
        assert_ne!(r.code, 101, "{r}");
        leaked += usize::from(r.stderr.contains("SECRET"));
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    assert_eq!(
        leaked, 0,
        "the outside file was quoted in {leaked} of {n} runs"
    );
}

/// Set files that are FIFOs or device nodes inside the tree are refused unread, and
/// `check` does not block on a FIFO.
#[test]
fn set_files_that_are_fifos_or_devices_are_refused() {
    let dir = scratch("setkinds");
    run(Command::new("mkfifo").arg(dir.join("fifo"))).ok();
    let mut cases = vec![("fifo", "a FIFO (named pipe)")];
    if common::is_root() {
        run(Command::new("mknod")
            .arg(dir.join("zero"))
            .args(["c", "1", "5"]))
        .ok();
        cases.push(("zero", "a character device"));
    }
    for (name, kind) in cases {
        let rules = dir.join(format!("{name}.sk"));
        std::fs::write(
            &rules,
            format!("set s = file \"{name}\"\nxdp on eth0 {{ drop from @s; default allow }}\n"),
        )
        .unwrap();
        let start = Instant::now();
        let r = sockc(&["check", s(&rules)]).expect_code(1);
        assert!(r.stderr.contains(kind), "{r}");
        assert!(start.elapsed() < Duration::from_secs(20));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `yes x | sockc check -` read until memory ran out. Now standard input stops at the
/// rule-file bound (`--max-source-bytes`): exit 2 at once, with little memory.
#[test]
// The child is reaped with wait4, which also gives its peak memory.
#[allow(clippy::zombie_processes)]
fn standard_input_is_bounded() {
    let mut child = Command::new(common::bin())
        .args(["check", "-", "--max-source-bytes", "1000000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // 256 MiB at most, then end of file: the old build read it all.
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..256 {
            if stdin.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data written by wait4 for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child, into locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    writer.join().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(libc::WIFEXITED(status), "{err}");
    assert_eq!(libc::WEXITSTATUS(status), 2, "{err}");
    assert!(err.contains("more than 1000000 bytes"), "{err}");
    // ru_maxrss is in KiB: far below the 256 MiB that were offered.
    assert!(usage.ru_maxrss < 96 * 1024, "{} KiB", usage.ru_maxrss);
}

/// How `sockc ARGS` ended with standard output on `out`.
fn ended_with_stdout(args: &[&str], out: Stdio, block_sigpipe: bool) -> (Option<i32>, String) {
    let mut cmd = Command::new(common::bin());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::piped());
    if block_sigpipe {
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGPIPE);
                libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                Ok(())
            });
        }
    }
    let o = cmd.output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A pipe whose reading end is already closed.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: pipe writes two descriptors we then own.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: closing the reading end we own.
    unsafe { libc::close(fds[0]) };
    // SAFETY: the writing end is ours and handed over once.
    Stdio::from(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fds[1]) })
}

/// Every command's output to a full device (ENOSPC) and to a pipe nobody reads
/// (EPIPE): a clear error and exit 2 for the first, a quiet end for the second, never
/// a panic (`check f.sk --json > /dev/full` exited 101).
#[test]
fn output_to_a_full_device_or_a_closed_pipe_never_panics() {
    let dir = scratch("full");
    let rules = dir.join("r.sk");
    std::fs::write(&rules, RULES).unwrap();
    let other = dir.join("o.sk");
    std::fs::write(&other, RULES.replace("9001", "9002")).unwrap();
    let r = s(&rules);
    let mut commands: Vec<Vec<&str>> = vec![
        vec!["check", r, "--json"],
        vec!["compile", r, "--json"],
        vec!["compile", r, "--emit", "asm"],
        vec!["diff", r, s(&other)],
        vec!["diff", r, s(&other), "--json"],
        vec!["completions", "bash"],
        // clap's own output, printed before any command runs (it exited 0 silently).
        vec!["--version"],
        vec!["--help"],
        vec!["check", "--help"],
    ];
    let fs = common::is_root().then(|| TempBpffs::new("full"));
    if let Some(fs) = &fs {
        for c in [
            &["status", "--json"][..],
            &["status"],
            &["stats", "--json"],
            &["stats", "--prometheus"],
            &["repair", "--json"],
            &["flush", "--name", "none", "--json"],
        ] {
            let mut c = c.to_vec();
            c.extend(["--bpffs", fs.path()]);
            commands.push(c);
        }
    }
    for args in &commands {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let (code, err) = ended_with_stdout(args, Stdio::from(full), false);
        assert_eq!(code, Some(2), "{args:?} > /dev/full: {err}");
        assert!(
            err.contains("cannot write standard output: No space left on device"),
            "{args:?}: {err}"
        );
        for blocked in [false, true] {
            let (code, err) = ended_with_stdout(args, closed_pipe(), blocked);
            assert!(!err.contains("panicked"), "{args:?}: {err}");
            // Killed by SIGPIPE (no code), or, with SIGPIPE blocked, exit 1 quietly.
            if blocked {
                assert_eq!(code, Some(1), "{args:?} | closed: {err}");
                assert!(!err.contains("standard output"), "{args:?}: {err}");
            } else {
                assert!(
                    code.is_none() || code == Some(1),
                    "{args:?}: {code:?} {err}"
                );
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Started with standard input or output closed, a command runs as with them open:
/// it succeeds, and the file it compiles is the same (sockc's entry opens them on
/// `/dev/null`, as std's own start did, so that no file it opens takes descriptor 0 or
/// 1; `shared::start`'s unit test sees the descriptors themselves).
#[test]
fn closed_standard_descriptors_are_opened_on_dev_null() {
    let dir = scratch("closed-fds");
    let rules = dir.join("r.sk");
    std::fs::write(&rules, RULES).unwrap();
    let out = dir.join("r.o");
    let open = dir.join("open.o");
    let (code, _, err) = common::sockc(&["compile", s(&rules), "--json", "-o", s(&open)]);
    assert_eq!(code, 0, "{err}");
    let compile = ["compile", s(&rules), "--json", "-o", s(&out)];
    for (args, closed) in [
        (&compile[..], &[1][..]),
        (&compile, &[0, 1]),
        (&["check", s(&rules), "--json"], &[0, 1]),
        (&["--version"], &[1]),
    ] {
        let mut cmd = Command::new(common::bin());
        cmd.args(args).stderr(Stdio::piped());
        let closed = closed.to_vec();
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &closed {
                    libc::close(fd);
                }
                Ok(())
            });
        }
        let o = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(
            args[0] != "compile" || std::fs::read(&out).unwrap() == std::fs::read(&open).unwrap(),
            "{args:?}: the object compiled differs from one compiled with every descriptor open"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A bpffs mounted for one test, under `/tmp` (root's, sticky).
pub(crate) struct TempBpffs {
    dir: PathBuf,
}

impl TempBpffs {
    pub(crate) fn new(tag: &str) -> TempBpffs {
        TempBpffs::at(
            std::env::temp_dir().join(format!("sockc-attack-bpffs-{tag}-{}", std::process::id())),
        )
    }

    fn at(dir: PathBuf) -> TempBpffs {
        let _ = run(Command::new("umount").arg("-l").arg(&dir));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mount point");
        run(Command::new("mount").args(["-t", "bpf", "bpf"]).arg(&dir)).ok();
        TempBpffs { dir }
    }

    pub(crate) fn path(&self) -> &str {
        self.dir.to_str().expect("UTF-8")
    }
}

impl Drop for TempBpffs {
    fn drop(&mut self) {
        if let Ok(d) = std::fs::read_dir(self.dir.join("sockc")) {
            for e in d.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let _ = sockc(&["flush", "--name", &name, "--bpffs", self.path()]);
            }
        }
        let _ = run(Command::new("umount").arg("-l").arg(&self.dir));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `sockc ARGS` from `sh` after `umask MASK`.
fn sockc_with_umask(mask: &str, args: &[&str]) -> Run {
    let mut cmd = format!("umask {mask}; exec {}", netns::sockc_bin());
    for a in args {
        cmd.push(' ');
        cmd.push_str(a);
    }
    run(Command::new("sh").args(["-c", &cmd]))
}

/// Pins are 0600 and directories 0700 whatever the umask (0777 gave pins 000, 0277
/// pins 0400 and directories 0500). The process's umask is set to 077 while the store
/// is open, and put back after.
#[test]
fn pins_and_directories_get_their_modes_whatever_the_umask() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("umask", 41);
    let rules = lab.rules(
        "u.sk",
        &format!(
            "xdp on {} {{\n  drop udp to *:9001\n  default allow\n}}\n",
            lab.if_a
        ),
    );
    for mask in ["0777", "0277", "0477"] {
        let fs = TempBpffs::new(&format!("umask{}", &mask[1..]));
        let apply = lab.apply_args(&rules, &lab.name, &[]);
        let mut args: Vec<&str> = apply.into_iter().filter(|a| *a != netns::BPFFS).collect();
        let at = args.iter().position(|a| *a == "--bpffs").unwrap();
        args.insert(at + 1, fs.path());
        sockc_with_umask(mask, &args).ok();
        let mut seen = 0;
        let mut stack = vec![fs.dir.join("sockc")];
        while let Some(p) = stack.pop() {
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let mode = meta.mode() & 0o7777;
            if meta.is_dir() {
                assert_eq!(mode, 0o700, "umask {mask}: {}", p.display());
                stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            } else {
                assert_eq!(mode, 0o600, "umask {mask}: {}", p.display());
            }
            seen += 1;
        }
        assert!(seen >= 5, "walked {seen} entries");
        sockc_with_umask(mask, &["flush", "--name", &lab.name, "--bpffs", fs.path()]).ok();
    }
}

/// A `--bpffs` path through a directory another user owns, or may write without the
/// sticky bit, is refused naming that directory; and a user who owns a parent can
/// no longer swap in another bpffs by renaming it away and planting a link (root's
/// `status` then said "nothing installed" while the program stayed attached).
#[test]
fn a_bpffs_path_through_a_users_directory_is_refused() {
    if !common::kernel() {
        return;
    }
    let top = scratch("owners");
    std::fs::set_permissions(&top, std::fs::Permissions::from_mode(0o755)).unwrap();
    let user = top.join("user");
    let mid = user.join("mid");
    std::fs::create_dir_all(&mid).unwrap();
    let fs = TempBpffs::at(mid.join("fs"));
    let nobody = 65534;
    // Each directory on the way in turn: owned by nobody, or group/other-writable.
    for dir in [&top, &user, &mid] {
        for (uid, mode) in [(nobody, 0o755), (0, 0o777), (0, 0o775)] {
            std::os::unix::fs::chown(dir, Some(uid), None).unwrap();
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
            let r = sockc(&["status", "--bpffs", fs.path()]).expect_code(3);
            assert!(
                r.stderr
                    .contains(&format!("{} is owned by uid {uid}", dir.display())),
                "{}: uid {uid} mode {mode:o}:\n{r}",
                dir.display()
            );
            std::os::unix::fs::chown(dir, Some(0), None).unwrap();
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    // Sticky and world-writable, like /tmp: others cannot rename what is not theirs.
    std::fs::set_permissions(&user, std::fs::Permissions::from_mode(0o1777)).unwrap();
    sockc(&["status", "--bpffs", fs.path()]).ok();
    std::fs::set_permissions(&user, std::fs::Permissions::from_mode(0o755)).unwrap();

    // The swap: nobody owns `user`, renames `mid` (holding the mount) away and puts a
    // link to another bpffs in its place. Refused, naming `user`, before and after.
    let lab = Lab::new("owners", 42);
    let rules = lab.rules(
        "o.sk",
        &format!(
            "xdp on {} {{\n  drop udp to *:9001\n  default allow\n}}\n",
            lab.if_a
        ),
    );
    std::os::unix::fs::chown(&user, Some(nobody), None).unwrap();
    let apply = |bpffs: &str| {
        sockc(&[
            "apply",
            s(&rules),
            "--name",
            &lab.name,
            "--bpffs",
            bpffs,
            "--netns",
            &lab.ns_a,
        ])
    };
    let r = apply(fs.path());
    let attached = r.code == 0;
    // The other bpffs, where `mid/fs` will lead.
    let other_parent = scratch("owners-other");
    let other = TempBpffs::at(other_parent.join("fs"));
    let setpriv = |cmd: &[&str]| {
        run(Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .args(cmd))
    };
    setpriv(&["mv", s(&mid), s(&user.join("away"))]).ok();
    setpriv(&["ln", "-s", s(&other_parent), s(&mid)]).ok();
    let status = sockc(&["status", "--bpffs", s(&mid.join("fs"))]);
    // Put things back so the install (if the old build made one) can be flushed.
    let _ = std::fs::remove_file(&mid);
    let _ = std::fs::rename(user.join("away"), &mid);
    std::os::unix::fs::chown(&user, Some(0), None).unwrap();
    if attached {
        let _ = sockc(&["flush", "--name", &lab.name, "--bpffs", fs.path()]);
    }
    assert_eq!(r.code, 3, "apply through nobody's directory:\n{r}");
    assert!(r.stderr.contains(&user.display().to_string()), "{r}");
    assert_eq!(status.code, 3, "status after the swap:\n{status}");
    assert!(
        status
            .stderr
            .contains(&format!("{} is owned by uid 65534", user.display())),
        "{status}"
    );
    drop(fs);
    drop(other);
    let _ = std::fs::remove_dir_all(&top);
    let _ = std::fs::remove_dir_all(&other_parent);
}

/// `-q` prints errors and requested data only: `apply -q` no notices, `status -q` no
/// lock-wait message, `repair -q` no "ok" lines.
#[test]
fn quiet_means_quiet() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("quiet", 43);
    // XDP on a loopback has no driver mode: apply's notice says generic mode.
    let rules = lab.rules(
        "q.sk",
        "xdp on lo {\n  drop udp to *:9001\n  default allow\n}\n",
    );
    let fs = TempBpffs::new("quiet");
    let mut args = vec![
        "apply",
        s(&rules),
        "--name",
        &lab.name,
        "--bpffs",
        fs.path(),
        "--netns",
        &lab.ns_a,
    ];
    let loud = sockc(&args).ok();
    assert!(
        loud.stderr.contains("notice:"),
        "the notice to silence:\n{loud}"
    );
    sockc(&["flush", "--name", &lab.name, "--bpffs", fs.path()]).ok();
    args.push("-q");
    let r = sockc(&args).ok();
    assert_eq!(r.stderr, "", "{r}");

    let r = sockc(&["repair", "-q", "--bpffs", fs.path()]).ok();
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", ""), "{r}");

    // Hold the lock for 2 s: status -q waits without a word.
    let root = fs.dir.join("sockc");
    let mut holder = Command::new("flock")
        .arg(&root)
        .args(["-c", "sleep 2"])
        .spawn()
        .expect("flock");
    netns::wait_until_locked(&root);
    let r = sockc(&["status", "-q", "--bpffs", fs.path()]);
    let _ = holder.wait();
    assert!(!r.stderr.contains("waiting"), "{r}");
    sockc(&["flush", "--name", &lab.name, "--bpffs", fs.path()]).ok();
}
