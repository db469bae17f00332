//! Namespaces as an install meets them gone or re-created: one that took a gone
//! namespace's inode is another (no false conflict, no repair there); `register` into
//! a namespace re-created under the install's name is refused; for an install whose
//! namespace lost its name, `flush` counts the hooks it took off and `stats` shows the
//! counters that still move; an older manifest is trusted by inode only while a hook
//! proves it.

use super::*;

/// Deletes namespace `ns` and creates it again until the new one gets inode `ino`
/// (the kernel hands out the lowest free inode number, so it usually does at once;
/// other tests creating namespaces at the same time can take it first). `None` when it
/// did not happen within a few tries.
fn recreate_with_inode(ns: &str, ino: u64) -> Option<()> {
    for _ in 0..50 {
        let _ = run(Command::new("ip").args(["netns", "del", ns]));
        // The old namespace's inode is freed by the kernel's cleanup work.
        std::thread::sleep(Duration::from_millis(50));
        ip(&["netns", "add", ns]);
        if ns_ino(ns) == ino {
            return Some(());
        }
    }
    None
}

/// Flushes the installs named on drop.
struct Installs(Vec<String>);

impl Drop for Installs {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = sockc(&["flush", "--name", n]);
        }
    }
}

#[test]
fn a_namespace_that_took_a_gone_ones_inode_is_another() {
    if !common::kernel() {
        return;
    }
    let ns = Ns::new("inode");
    ns.dummy("d0");
    let pid = std::process::id();
    let (first, second) = (format!("test-inode-{pid}"), format!("test-inode2-{pid}"));
    let _cleanup = Installs(vec![first.clone(), second.clone()]);
    let dir = std::env::temp_dir().join(format!("sockc-inode-{pid}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("x.sk");
    std::fs::write(
        &file,
        "xdp on d0 {\n  drop udp to *:9001\n  default allow\n}\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    sockc(&["apply", f, "--name", &first, "--netns", &ns.name]).ok();
    let ino = ns_ino(&ns.name);
    if recreate_with_inode(&ns.name, ino).is_none() {
        println!("skipped: the kernel gave the re-created namespace another inode each time");
        return;
    }
    ns.dummy("d0");
    // The old install's namespace is gone: status says so, repair attaches nothing in
    // the new one (it used to attach the old install's program there).
    let st = sockc(&["status", "--name", &first]);
    assert_eq!(st.code, 3, "{st}");
    let r = sockc(&["repair", "--name", &first]);
    assert_eq!(r.code, 3, "{r}");
    assert!(r.stderr.contains("nothing was attached"), "{r}");
    assert_eq!(ns.xdp("d0"), None, "repair attached in the new namespace");
    // Another install on the same hook of the new namespace is no conflict (it used to
    // be "already installed by").
    sockc(&["apply", f, "--name", &second, "--netns", &ns.name]).ok();
    let theirs = ns.xdp("d0");
    assert!(theirs.is_some());
    // Flushing the old install leaves the new one's hook alone.
    sockc(&["flush", "--name", &first]).ok();
    assert_eq!(ns.xdp("d0"), theirs);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Opens `/run/netns/NS` so that the namespace outlives its name.
fn keep_ns(ns: &str) -> File {
    File::open(format!("/run/netns/{ns}")).unwrap()
}

/// Runs `f` in the namespace of the open namespace file `ns`.
fn in_ns_file<T: Send + 'static>(ns: &File, f: impl FnOnce() -> T + Send + 'static) -> T {
    let fd = ns.try_clone().unwrap();
    std::thread::spawn(move || {
        // SAFETY: setns on a descriptor we own; it changes only this thread.
        let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .unwrap()
}

const LOOPBACK_STEER: &str = "socket proxy = tcp 127.0.0.1:8080\n\
    sk_lookup {\n    redirect tcp to 127.0.0.2:* to sock proxy\n    default pass\n}\n";

#[test]
fn register_into_a_namespace_re_created_under_the_installs_name_is_refused() {
    if !common::kernel() {
        return;
    }
    let ns = Ns::new("reg");
    ns.dummy("d0");
    let pid = std::process::id();
    let name = format!("test-reg-{pid}");
    let _cleanup = Installs(vec![name.clone()]);
    let dir = std::env::temp_dir().join(format!("sockc-reg-{pid}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.sk");
    std::fs::write(&file, LOOPBACK_STEER).unwrap();
    let old_service = Listener::start(&ns.name, "127.0.0.1:8080");
    sockc(&[
        "apply",
        file.to_str().unwrap(),
        "--name",
        &name,
        "--netns",
        &ns.name,
    ])
    .ok();
    let old_ns = keep_ns(&ns.name);
    ip(&["netns", "del", &ns.name]);
    ip(&["netns", "add", &ns.name]);
    ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
    let _new_service = Listener::start(&ns.name, "127.0.0.1:8080");
    let r = sockc(&["register", "proxy", "--name", &name]);
    assert_eq!(r.code, 3, "registered into the other namespace:\n{r}");
    assert!(
        r.stderr.contains("only in the network namespace") && r.stderr.contains("flush"),
        "{r}"
    );
    // The old namespace's redirect still reaches the old service.
    let got = in_ns_file(&old_ns, || {
        TcpStream::connect_timeout(&"127.0.0.2:7000".parse().unwrap(), Duration::from_secs(1))
            .map(|_| ())
    });
    assert!(got.is_ok(), "{got:?}");
    // The handshake completes in the kernel; the listener's thread accepts a moment later.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while old_service.accepted.load(Ordering::Relaxed) == 0 && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(old_service.accepted.load(Ordering::Relaxed) > 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits until `child` (`ip netns exec NS sleep ...`) runs `sleep`, which it execs
/// once it has entered NS, for at most 10 s. A pause of 100 ms stood for this: an
/// `ip` that had not opened NS by then found it deleted, and nothing but the test's
/// descriptor kept the namespace alive.
fn in_its_namespace(child: &std::process::Child) {
    let start = std::time::Instant::now();
    let comm = format!("/proc/{}/comm", child.id());
    while std::fs::read_to_string(&comm).unwrap_or_default().trim() != "sleep" {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "`ip netns exec` did not reach `sleep` in 10 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn flush_and_stats_tell_the_truth_for_a_namespace_that_lost_its_name() {
    if !common::kernel() {
        return;
    }
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("sockc-lost-{pid}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.sk");
    std::fs::write(&file, LOOPBACK_STEER).unwrap();
    // Twice: the namespace kept alive by a process (found through it), and by an open
    // descriptor only (nothing to enter: the link is read and detached by its pin).
    for by_process in [true, false] {
        let ns = Ns::new(if by_process { "lostp" } else { "lostf" });
        ns.dummy("d0");
        let name = format!("test-lost-{by_process}-{pid}");
        let _cleanup = Installs(vec![name.clone()]);
        let _service = Listener::start(&ns.name, "127.0.0.1:8080");
        sockc(&[
            "apply",
            file.to_str().unwrap(),
            "--name",
            &name,
            "--netns",
            &ns.name,
        ])
        .ok();
        let held = keep_ns(&ns.name);
        let mut sleeper = by_process.then(|| {
            Command::new("ip")
                .args(["netns", "exec", &ns.name, "sleep", "60"])
                .spawn()
                .unwrap()
        });
        if let Some(s) = &sleeper {
            in_its_namespace(s);
        }
        ip(&["netns", "del", &ns.name]);
        let connect = |held: &File| {
            in_ns_file(held, || {
                TcpStream::connect_timeout(
                    &"127.0.0.2:7000".parse().unwrap(),
                    Duration::from_secs(1),
                )
                .map(|_| ())
            })
        };
        let counted = || -> u64 {
            let r = sockc(&["stats", "--name", &name, "--json"]);
            assert_eq!(r.code, 0, "stats of counters that still move:\n{r}");
            let v: Value = serde_json::from_str(&r.stdout).unwrap();
            v["installs"][0]["rules"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|x| x["text"].as_str().unwrap_or("").starts_with("redirect"))
                .map(|x| x["packets"].as_u64().unwrap())
                .sum()
        };
        let before = counted();
        assert!(connect(&held).is_ok());
        let after = counted();
        assert!(after > before, "the redirect counted: {before} -> {after}");
        let r = sockc(&["status", "--name", &name]);
        assert_eq!(r.code, 3, "{r}");
        if by_process {
            assert!(r.stdout.contains("keeps alive"), "{r}");
        }
        let r = sockc(&["flush", "--name", &name]).ok();
        assert!(r.stdout.contains("(1 hooks detached)"), "{r}");
        let gone = connect(&held);
        assert!(gone.is_err(), "the redirect outlived the flush");
        if let Some(s) = sleeper.as_mut() {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Rewrites install `name`'s manifest as an older sockc wrote it: format 2, the
/// namespace by inode only.
fn make_manifest_older(name: &str) {
    // One store open at a time in this process (it sets the umask).
    let store = common::exclusive::open_store(
        Path::new(BPFFS),
        Duration::from_secs(30),
        sockc_runtime::store::LockWait::Tell,
    )
    .unwrap();
    let mut m = store.manifest(name).unwrap().expect("a manifest");
    assert_ne!(m.netns_cookie, 0, "this sockc records the cookie");
    m.netns_cookie = 0;
    m.format = 2;
    store.write_manifest(&mut m).unwrap();
}

fn manifest_cookie(name: &str) -> u64 {
    // One store open at a time in this process (it sets the umask).
    let store = common::exclusive::open_store(
        Path::new(BPFFS),
        Duration::from_secs(30),
        sockc_runtime::store::LockWait::Tell,
    )
    .unwrap();
    store
        .manifest(name)
        .unwrap()
        .expect("a manifest")
        .netns_cookie
}

/// A manifest of an older sockc names its namespace by inode only: it is trusted
/// there while one of its hooks is attached (proof that this is the same namespace),
/// and the next repair or apply records the cookie; with none attached it cannot be
/// told from a namespace that took the inode, so `status` says so and `repair`
/// attaches nothing, until the file is applied there again.
#[test]
fn an_older_manifest_is_trusted_by_inode_only_while_a_hook_proves_it() {
    if !common::kernel() {
        return;
    }
    let ns = Ns::new("legacy");
    ns.dummy("d0");
    let pid = std::process::id();
    let name = format!("test-legacy-{pid}");
    let _cleanup = Installs(vec![name.clone()]);
    let dir = std::env::temp_dir().join(format!("sockc-legacy-{pid}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("x.sk");
    std::fs::write(
        &file,
        "xdp on d0 {\n  drop udp to *:9001\n  default allow\n}\n\
         tc ingress on d0 {\n  drop udp to *:9002\n  default allow\n}\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    sockc(&["apply", f, "--name", &name, "--netns", &ns.name]).ok();
    let pins = Path::new(BPFFS).join("sockc").join(&name);
    let unpin = |prefix: &str| {
        for e in std::fs::read_dir(&pins).unwrap().flatten() {
            if e.file_name().to_string_lossy().starts_with(prefix) {
                std::fs::remove_file(e.path()).unwrap();
            }
        }
    };

    make_manifest_older(&name);
    sockc(&["status", "--name", &name]).ok();
    unpin("link_tci");
    let first = sockc(&["repair", "--name", &name]).ok();
    assert!(first.stdout.contains("attached again"), "{first}");
    assert_ne!(manifest_cookie(&name), 0, "the repair recorded the cookie");

    make_manifest_older(&name);
    unpin("link_");
    // The kernel frees a link whose last pin went after an RCU grace period, from a
    // work queue: under load that took longer than a status and a repair.
    let gone = Instant::now() + Duration::from_secs(10);
    while ns.xdp("d0").is_some() && Instant::now() < gone {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(ns.xdp("d0"), None, "the unpinned XDP link was released");
    let st = sockc(&["status", "--name", &name]);
    assert_eq!(st.code, 3, "{st}");
    assert!(
        st.stdout.contains("cannot be confirmed"),
        "{st}\nthe first repair: {first}"
    );
    let r = sockc(&["repair", "--name", &name]);
    assert_eq!(r.code, 3, "{r}");
    assert!(r.stderr.contains("inode only"), "{r}");
    assert_eq!(ns.xdp("d0"), None, "nothing attached");
    sockc(&["apply", f, "--name", &name, "--netns", &ns.name]).ok();
    assert_ne!(manifest_cookie(&name), 0);
    sockc(&["status", "--name", &name]).ok();
    assert!(ns.xdp("d0").is_some());
    let _ = std::fs::remove_dir_all(&dir);
}
