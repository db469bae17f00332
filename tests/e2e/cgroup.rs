//! End-to-end tests of `cgroup ingress` and `cgroup egress` blocks with real traffic
//! from processes inside a cgroup the test makes (`sockc-peer udp`, joined to the
//! cgroup before it makes its sockets), over loopback in the lab's namespace A.
//!
//! What is checked: an egress `drop` fails the sender's `sendto()` with `EPERM` and
//! nothing arrives, a TCP connection whose SYN is dropped at egress times out (the
//! kernel retransmits; `connect()` does not fail), an ingress `drop` loses the
//! datagram before the socket sees it; every rule counts exactly what it decided,
//! bytes from the IP header on, and `sockc trace` shows a `log` rule's drop; a process outside the cgroup is not affected; a
//! re-apply swaps the program in place (`LINK_UPDATE`: the same link pin); the cgroup
//! removed and made again under the install is drift (`status` exit 3), which
//! `repair` mends for the new cgroup's processes; `flush` takes the links off. Beside
//! a program attached as systemd attaches its own (`BPF_PROG_ATTACH`, multi) both
//! apply; another install naming a held cgroup by a symbolic link is refused; a
//! process that moves to another cgroup keeps its sockets' rules; `kill -9`
//! at every fault point of an apply, a re-apply and a flush converges.
//!
//! Root only; skipped otherwise (see `tests/common`).

use std::net::SocketAddr;

use crate::common;
use crate::netns;
use crate::sockmap::peer::Peer;

use netns::{sockc, tcp_listen, Cgroup, Lab, BPFFS};
use serde_json::Value;

/// Packets and bytes of the rule whose text is `text` in the install's `stats --json`.
#[track_caller]
fn counted(stats: &Value, text: &str) -> (u64, u64) {
    let hits: Vec<&Value> = stats["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter(|r| r["text"] == text)
        .collect();
    assert_eq!(hits.len(), 1, "one rule `{text}` in {stats:#}");
    (
        hits[0]["packets"].as_u64().unwrap(),
        hits[0]["bytes"].as_u64().unwrap(),
    )
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// IPv4 + UDP headers and a 4-byte payload: what a cgroup rule counts per datagram.
const DATAGRAM_BYTES: u64 = 20 + 8 + 4;

fn rules(cg: &Cgroup, drop_port: u16) -> String {
    format!(
        "cgroup egress \"{cg}\" {{\n    drop udp to 127.0.0.1:{drop_port} log\n    count udp to 127.0.0.1:7112\n    \
         drop tcp to 127.0.0.1:7113\n    default allow\n}}\n\
         cgroup ingress \"{cg}\" {{\n    drop udp from 127.0.0.1:7114\n    default allow\n}}\n",
        cg = cg.path
    )
}

/// What the cgroup's process gets: (sendto 127.0.0.1:7110 refused with EPERM,
/// sendto 127.0.0.1:7111 refused with EPERM).
fn refused(inside: &mut Peer) -> (bool, bool) {
    let mut eperm = |port: u16| {
        let out = inside.cmd(&format!("sendto 127.0.0.1:{port} ping"));
        assert!(
            out == "ok 4" || out.starts_with("error 1 "),
            "sendto {port}: {out}"
        );
        out.starts_with("error 1 ")
    };
    (eperm(7110), eperm(7111))
}

#[test]
fn cgroup_blocks_drop_and_count_the_cgroups_traffic_only() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("cgskb", 189);
    let ns = lab.ns_a.clone();
    let cg = Cgroup::new("cgskb");
    let mut inside = Peer::udp(Some(&cg.path), &ns, addr("127.0.0.1:0"));
    let mut outside = Peer::udp(None, &ns, addr("127.0.0.1:7114"));
    let mut sink_10 = Peer::udp(None, &ns, addr("127.0.0.1:7110"));
    let mut sink_12 = Peer::udp(None, &ns, addr("127.0.0.1:7112"));
    let _listener = tcp_listen(&ns, addr("127.0.0.1:7113"));
    let file = lab.rules("cg.sk", &rules(&cg, 7110));
    lab.apply_ok(&file);
    lab.status_attached();

    // Egress: dropped (EPERM, nothing arrives), counted, and let through.
    let out = inside.cmd("sendto 127.0.0.1:7110 ping");
    assert!(out.starts_with("error 1 "), "egress drop: {out}");
    assert_eq!(sink_10.cmd("recv 300"), "timeout");
    assert_eq!(inside.cmd("sendto 127.0.0.1:7112 ping"), "ok 4");
    assert!(sink_12.cmd("recv 2000").starts_with("got "));
    // A process outside the cgroup is not affected.
    assert_eq!(outside.cmd("sendto 127.0.0.1:7110 ping"), "ok 4");
    assert!(sink_10.cmd("recv 2000").starts_with("got "));
    // `log`: the drop is traced with its rule and packet.
    let traced = netns::trace_first_event(&lab, || {
        assert!(inside
            .cmd("sendto 127.0.0.1:7110 ping")
            .starts_with("error 1 "))
    });
    assert!(
        traced.stdout.contains("cgroup egress")
            && traced.stdout.contains("drop udp to 127.0.0.1:7110 log")
            && traced.stdout.contains("-> 127.0.0.1:7110 (32 bytes)"),
        "{traced}"
    );
    // A dropped SYN: connect() times out, it does not fail.
    assert_eq!(inside.cmd("connect 127.0.0.1:7113 1500"), "timeout");

    // Ingress: the datagram from 7114 is lost before the socket; another one passes.
    let to_inside = inside.local.expect("bound").to_string();
    assert_eq!(outside.cmd(&format!("sendto {to_inside} ping")), "ok 4");
    assert_eq!(inside.cmd("recv 300"), "timeout");
    assert_eq!(sink_12.cmd(&format!("sendto {to_inside} ping")), "ok 4");
    let got = inside.cmd("recv 2000");
    assert!(
        got.starts_with("got 127.0.0.1:7112 "),
        "ingress allow: {got}"
    );

    let stats = lab.stats();
    assert_eq!(
        counted(&stats, "drop udp to 127.0.0.1:7110 log"),
        (2, 2 * DATAGRAM_BYTES)
    );
    assert_eq!(
        counted(&stats, "count udp to 127.0.0.1:7112"),
        (1, DATAGRAM_BYTES)
    );
    assert_eq!(
        counted(&stats, "drop udp from 127.0.0.1:7114"),
        (1, DATAGRAM_BYTES)
    );
    let (syns, _) = counted(&stats, "drop tcp to 127.0.0.1:7113");
    assert!(syns >= 1, "the SYN and its retransmits are counted: {syns}");

    // A re-apply swaps the program on the same link: 7110 passes, 7111 drops.
    let links_before = lab.pins();
    std::fs::write(&file, rules(&cg, 7111)).expect("rewrite rules");
    lab.apply_ok(&file);
    assert_eq!(refused(&mut inside), (false, true));
    let links_after = lab.pins();
    for pin in links_before.iter().filter(|p| p.contains("link_")) {
        assert!(links_after.contains(pin), "link pin replaced: {pin}");
    }

    // The cgroup removed and made again: drift, then repair attaches to the new one.
    drop(inside);
    remove_cgroup(&cg.path);
    std::fs::create_dir(&cg.path).expect("mkdir cgroup again");
    let (st, v) = lab.status_run(&[]);
    assert_eq!(st.code, 3, "a re-created cgroup is drift:\n{st}");
    let v = v.expect("status lists the install");
    assert!(
        v["hooks"]
            .as_array()
            .expect("hooks")
            .iter()
            .all(|h| h["state"] != "attached"),
        "{v:#}"
    );
    let mut inside = Peer::udp(Some(&cg.path), &ns, addr("127.0.0.1:0"));
    assert_eq!(refused(&mut inside), (false, false), "before repair");
    sockc(&["repair", "--name", &lab.name, "--bpffs", BPFFS]).ok();
    lab.status_attached();
    assert_eq!(refused(&mut inside), (false, true), "after repair");

    sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
    assert_eq!(refused(&mut inside), (false, false), "after flush");
}

/// Hooks whose program names are cut to one base (`cg_out_servicen`, then
/// `cg_out_servic_1`): the kept hook keeps its name, and so its link, when a block
/// before it is removed or added. Named afresh in file order, the second hook took the
/// first's name: the re-apply swapped and then detached a link the other hook had
/// pinned, said "applied", and left the old rules filtering (or, after `repair`, both).
#[test]
fn a_kept_hook_keeps_its_link_when_a_block_before_it_goes_or_comes() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("cgsym", 174);
    let ns = lab.ns_a.clone();
    let top = Cgroup::new("cgsym");
    let (one, two, zero) = (
        top.child("servicename1"),
        top.child("servicename2"),
        top.child("servicename0"),
    );
    let block = |cg: &Cgroup, port: u16| {
        format!(
            "cgroup egress \"{}\" {{\n    drop udp to 127.0.0.1:{port}\n    default allow\n}}\n",
            cg.path
        )
    };
    let mut inside = Peer::udp(Some(&two.path), &ns, addr("127.0.0.1:0"));
    let mut eperm = |port: u16| {
        inside
            .cmd(&format!("sendto 127.0.0.1:{port} ping"))
            .starts_with("error 1 ")
    };
    let file = lab.rules("sym.sk", &(block(&one, 7150) + &block(&two, 7151)));
    lab.apply_ok(&file);
    assert!(eperm(7151) && !eperm(7152));
    std::fs::write(&file, block(&two, 7152)).unwrap();
    lab.apply_ok(&file);
    lab.status_attached();
    assert!(
        !eperm(7151) && eperm(7152),
        "the removed block's neighbour runs its new rules"
    );
    assert_eq!(cgroup_programs(&two.path), 1);
    assert_eq!(cgroup_programs(&one.path), 0);
    std::fs::write(&file, block(&zero, 7153) + &block(&two, 7154)).unwrap();
    lab.apply_ok(&file);
    lab.status_attached();
    assert!(!eperm(7152) && eperm(7154), "a block added before it");
    assert_eq!(
        (cgroup_programs(&two.path), cgroup_programs(&zero.path)),
        (1, 1)
    );
    sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
    assert!(!eperm(7154));
    drop(inside);
}

/// A rollback compiles the rules before the change as a fresh file, whose names are
/// given in file order: a hook kept from an earlier generation under another name
/// (`cg_out_servic_1`, its neighbour removed since) is named as installed before the
/// plan (`plan_request`), and the rules before the change run on the same link.
#[test]
fn a_rollback_names_its_hooks_as_installed() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("cgsymrb", 176);
    let ns = lab.ns_a.clone();
    let top = Cgroup::new("cgsymrb");
    let (one, two) = (top.child("servicename1"), top.child("servicename2"));
    let block = |cg: &Cgroup, port: u16| {
        format!(
            "cgroup egress \"{}\" {{\n    drop udp to 127.0.0.1:{port}\n    default allow\n}}\n",
            cg.path
        )
    };
    let mut inside = Peer::udp(Some(&two.path), &ns, addr("127.0.0.1:0"));
    let mut eperm = |port: u16| {
        inside
            .cmd(&format!("sendto 127.0.0.1:{port} ping"))
            .starts_with("error 1 ")
    };
    let file = lab.rules("rb.sk", &(block(&one, 7160) + &block(&two, 7161)));
    lab.apply_ok(&file);
    std::fs::write(&file, block(&two, 7162)).unwrap();
    lab.apply_ok(&file);
    std::fs::write(&file, block(&two, 7163)).unwrap();
    lab.apply(&file, &["--confirm", "2s"]).ok();
    assert!(eperm(7163) && !eperm(7162));
    let start = std::time::Instant::now();
    while lab.status().map(|s| s["generation"].clone()) != Some(4.into()) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "not rolled back"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    lab.status_attached();
    assert!(
        eperm(7162) && !eperm(7163),
        "the rules before the change run again"
    );
    assert_eq!(cgroup_programs(&two.path), 1);
    sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
    drop(inside);
}

/// Removes an empty cgroup; a peer just killed may hold it a moment longer.
fn remove_cgroup(path: &str) {
    for _ in 0..100 {
        if std::fs::remove_dir(path).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("could not remove {path}");
}

/// A program attached the way systemd attaches `IPAddressDeny=` and
/// `IPEgressFilterPath=` programs (`BPF_PROG_ATTACH` with `BPF_F_ALLOW_MULTI`, by
/// bpftool here) and sockc's block on one cgroup both apply: the packet goes on only if
/// both let it. A re-apply and a flush of sockc's install leave the other program
/// alone. (The other program is a cgroup egress block of a second install, on a child
/// cgroup, taken from its pin.)
#[test]
fn a_systemd_style_program_and_the_block_both_apply() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("cgmulti", 191);
    let ns = lab.ns_a.clone();
    let cg = Cgroup::new("cgmulti");
    let scratch = cg.child("scratch");
    let other = lab.other_install("sd");
    let sd_rules = lab.rules(
        "sd.sk",
        &format!(
            "cgroup egress \"{}\" {{\n    drop udp to 127.0.0.1:7115\n    default allow\n}}\n",
            scratch.path
        ),
    );
    sockc(&lab.apply_args(&sd_rules, &other, &[])).ok();
    let pin = program_pin(&other);
    let attached = SystemdStyle::attach(&cg.path, &pin, &["multi"]);

    let mut inside = Peer::udp(Some(&cg.path), &ns, addr("127.0.0.1:0"));
    let mut eperm = |port: u16| {
        let out = inside.cmd(&format!("sendto 127.0.0.1:{port} ping"));
        out.starts_with("error 1 ")
    };
    assert!(eperm(7115), "the systemd-style program alone drops 7115");
    assert!(!eperm(7110));
    let file = lab.rules("cg.sk", &rules(&cg, 7110));
    lab.apply_ok(&file);
    lab.status_attached();
    assert_eq!((eperm(7110), eperm(7115), eperm(7112)), (true, true, false));
    std::fs::write(&file, rules(&cg, 7111)).expect("rewrite rules");
    lab.apply_ok(&file);
    assert_eq!((eperm(7110), eperm(7111), eperm(7115)), (false, true, true));
    sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
    assert_eq!((eperm(7111), eperm(7115)), (false, true), "after flush");
    drop(attached);
    assert!(!eperm(7115), "the other program detached");
}

/// Another tool's program attached without multi to a parent cgroup is never switched
/// off by a block on a cgroup below: with `BPF_F_ALLOW_OVERRIDE` the kernel accepts a
/// link below and from then on runs only the nearer programs for that cgroup's
/// sockets (what the other program drops would pass); attached exclusively (no flag),
/// it refuses the link with a bare `EPERM`. Either way the apply is refused naming the
/// other program and where it is, nothing of sockc's is attached, and the other
/// program still drops; attached with `multi`, both apply.
#[test]
fn another_tools_program_attached_without_multi_above_is_never_switched_off() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("cgovr", 192);
    let ns = lab.ns_a.clone();
    let cg = Cgroup::new("cgovr");
    let scratch = cg.child("scratch");
    let child = cg.child("c");
    let other = lab.other_install("ov");
    let other_rules = lab.rules(
        "ov.sk",
        &format!(
            "cgroup egress \"{}\" {{\n    drop udp to 127.0.0.1:7115\n    default allow\n}}\n",
            scratch.path
        ),
    );
    sockc(&lab.apply_args(&other_rules, &other, &[])).ok();
    let pin = program_pin(&other);
    let mut inside = Peer::udp(Some(&child.path), &ns, addr("127.0.0.1:0"));
    let mut eperm = |port: u16| {
        let out = inside.cmd(&format!("sendto 127.0.0.1:{port} ping"));
        out.starts_with("error 1 ")
    };
    let file = lab.rules("cg.sk", &rules(&child, 7110));
    for (flags, how) in [
        (&["override"][..], "with BPF_F_ALLOW_OVERRIDE"),
        (&[][..], "exclusively"),
    ] {
        let attached = SystemdStyle::attach(&cg.path, &pin, flags);
        assert!(eperm(7115), "{flags:?}: the other program alone drops 7115");
        let r = sockc(&lab.apply_args(&file, &lab.name, &[]));
        assert_eq!(r.code, 3, "{flags:?}: {r}");
        assert!(
            r.stderr
                .contains(&format!("of another tool is attached to {} {how}", cg.path)),
            "{flags:?}: {r}"
        );
        assert_eq!(
            cgroup_programs(&child.path),
            0,
            "{flags:?}: nothing attached"
        );
        assert!(eperm(7115), "{flags:?}: the other program still drops 7115");
        drop(attached);
    }
    let attached = SystemdStyle::attach(&cg.path, &pin, &["multi"]);
    lab.apply_ok(&file);
    assert_eq!((eperm(7110), eperm(7115), eperm(7112)), (true, true, false));
    sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
    drop(attached);
    sockc(&["flush", "--name", &other, "--bpffs", BPFFS]).ok();
}

/// A cgroup is in no network namespace: a block applied with `--netns A` decides the
/// cgroup's sockets in namespace B as well, and the apply says so, once per cgroup
/// (an egress and a connect block on one cgroup: one notice).
#[test]
fn a_cgroup_block_applied_with_netns_decides_the_cgroups_sockets_in_every_namespace() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("cgnetns", 194);
    let cg = Cgroup::new("cgnetns");
    let file = lab.rules(
        "cg.sk",
        &format!(
            "cgroup egress \"{cg}\" {{\n    drop udp to 127.0.0.1:7110\n    default allow\n}}\n\
             cgroup connect \"{cg}\" {{\n    drop udp to 127.0.0.1:7111\n    default allow\n}}\n",
            cg = cg.path
        ),
    );
    let r = lab.apply_ok(&file);
    let said = format!(
        "{}: a cgroup is in no network namespace: the blocks on it decide the cgroup's \
         sockets in every namespace, not only in ",
        cg.path
    );
    let all = format!("{}{}", r.stdout, r.stderr);
    let lines: Vec<&str> = all.lines().filter(|l| l.contains(&said)).collect();
    assert!(lines.len() == 1 && lines[0].contains(&lab.ns_a), "{r}");
    let mut elsewhere = Peer::udp(Some(&cg.path), &lab.ns_b, addr("127.0.0.1:0"));
    assert!(elsewhere
        .cmd("sendto 127.0.0.1:7110 ping")
        .starts_with("error 1 "));
    sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
}

/// A cgroup one install holds is held under every name: another install naming it
/// by a symbolic link, or through another mount of cgroup v2, is refused as one
/// naming it by its path is, with nothing attached; one file naming it both ways is
/// refused too.
#[test]
fn another_install_cannot_take_a_held_cgroup_under_another_name() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("cgheld", 241);
    let cg = Cgroup::new("cgheld");
    lab.apply_ok(&lab.rules("cg.sk", &rules(&cg, 7110)));
    let link = lab.dir.join("cg-link");
    std::os::unix::fs::symlink(&cg.path, &link).expect("symlink");
    let mount = Cgroup2Mount::new(&lab.dir.join("cg2"));
    let leaf = std::path::Path::new(&cg.path).file_name().expect("leaf");
    let by_mount = mount.0.join(leaf);
    let other = lab.other_install("ln");
    let block = |path: &std::path::Path| {
        format!(
            "cgroup egress \"{}\" {{\n    allow udp to 127.0.0.1:7110\n    default allow\n}}\n",
            path.display()
        )
    };
    for (file, name) in [("link.sk", &link), ("mount.sk", &by_mount)] {
        let r = sockc(&lab.apply_args(&lab.rules(file, &block(name)), &other, &[]));
        assert_ne!(r.code, 0, "{r}");
        assert!(
            r.stderr
                .contains(&format!("already installed by `{}`", lab.name)),
            "{file}: {r}"
        );
        assert_eq!(
            cgroup_programs(&cg.path),
            2,
            "{file}: the first install's two programs only"
        );
    }
    sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
    let both = format!(
        "{}{}",
        block(std::path::Path::new(&cg.path)),
        block(&by_mount)
    );
    let r = sockc(&lab.apply_args(&lab.rules("both.sk", &both), &other, &[]));
    assert_ne!(r.code, 0, "{r}");
    assert!(r.stderr.contains("are the same cgroup"), "{r}");
    assert_eq!(cgroup_programs(&cg.path), 0, "nothing attached");
}

/// cgroup v2 mounted a second time (`mount -t cgroup2 none DIR`), unmounted when
/// dropped.
struct Cgroup2Mount(std::path::PathBuf);

impl Cgroup2Mount {
    fn new(dir: &std::path::Path) -> Cgroup2Mount {
        std::fs::create_dir_all(dir).expect("mount point");
        netns::run(
            std::process::Command::new("mount")
                .args(["-t", "cgroup2", "none"])
                .arg(dir),
        )
        .ok();
        Cgroup2Mount(dir.to_path_buf())
    }
}

impl Drop for Cgroup2Mount {
    fn drop(&mut self) {
        let _ = netns::run(std::process::Command::new("umount").arg(&self.0));
    }
}

/// The program pin of an install's one program (`sockc/NAME/g<N>/prog_*`).
fn program_pin(install: &str) -> String {
    let dir = std::path::Path::new(BPFFS).join("sockc").join(install);
    let gens = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for g in gens
        .flatten()
        .filter(|g| g.file_name().to_string_lossy().starts_with('g'))
    {
        for p in std::fs::read_dir(g.path())
            .expect("generation dir")
            .flatten()
        {
            if p.file_name().to_string_lossy().starts_with("prog_") {
                return p.path().display().to_string();
            }
        }
    }
    panic!("no program pin under {}", dir.display())
}

/// A pinned program attached to a cgroup's egress as systemd attaches its own
/// (`bpftool cgroup attach CG egress pinned PIN multi`), or as another tool may
/// (`override`, or no flag: exclusively); detached when dropped.
struct SystemdStyle {
    cgroup: String,
    pin: String,
}

impl SystemdStyle {
    fn attach(cgroup: &str, pin: &str, flags: &[&str]) -> SystemdStyle {
        let attached = SystemdStyle {
            cgroup: cgroup.to_string(),
            pin: pin.to_string(),
        };
        netns::run(
            std::process::Command::new("bpftool")
                .args(["cgroup", "attach", cgroup, "egress", "pinned", pin])
                .args(flags),
        )
        .ok();
        attached
    }
}

impl Drop for SystemdStyle {
    fn drop(&mut self) {
        let _ = netns::run(std::process::Command::new("bpftool").args([
            "cgroup",
            "detach",
            &self.cgroup,
            "egress",
            "pinned",
            &self.pin,
        ]));
    }
}

/// An attacker's process that moves itself to another cgroup keeps the sockets it
/// made under its first cgroup's rules (a socket's cgroup is fixed when it is made);
/// only sockets it makes after the move escape them, and those are the new cgroup's.
#[test]
fn a_process_that_moves_between_cgroups_keeps_its_sockets_rules() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("cgmove", 193);
    let ns = lab.ns_a.clone();
    let cg = Cgroup::new("cgmove");
    let elsewhere = Cgroup::new("cgmove-out");
    let _listener = tcp_listen(&ns, addr("127.0.0.1:7113"));
    let file = lab.rules("cg.sk", &rules(&cg, 7110));
    lab.apply_ok(&file);
    let mut peer = Peer::udp(Some(&cg.path), &ns, addr("127.0.0.1:0"));
    assert!(peer
        .cmd("sendto 127.0.0.1:7110 ping")
        .starts_with("error 1 "));
    assert_eq!(peer.cmd("connect 127.0.0.1:7113 1000"), "timeout");
    std::fs::write(
        format!("{}/cgroup.procs", elsewhere.path),
        peer.pid().to_string(),
    )
    .expect("move the peer");
    // Its UDP socket was made in `cg`: still refused.
    assert!(peer
        .cmd("sendto 127.0.0.1:7110 ping")
        .starts_with("error 1 "));
    // A socket made after the move is the other cgroup's, which has no rules.
    assert!(peer
        .cmd("connect 127.0.0.1:7113 2000")
        .starts_with("connected "));
    let stats = lab.stats();
    assert_eq!(
        counted(&stats, "drop udp to 127.0.0.1:7110 log"),
        (2, 2 * DATAGRAM_BYTES)
    );
}

/// `kill -9` of sockc at every step of a first apply, a re-apply (an ingress block
/// added, the dropped port moved) and a flush of cgroup blocks: afterwards `status`
/// names the file that is in force (or nothing), exactly that file's cgroup programs
/// are on the cgroup, and the cgroup's traffic gets what that file says.
#[test]
fn kill_at_every_step_of_cgroup_apply_reapply_and_flush_converges() {
    if !common::kernel() {
        return;
    }
    let _interrupted = common::exclusive::interrupted_install();
    let lab = Lab::new("cgkill", 195);
    let cg = Cgroup::new("cgkill");
    let old_text = format!(
        "cgroup egress \"{}\" {{\n    drop udp to 127.0.0.1:7110\n    default allow\n}}\n",
        cg.path
    );
    let old = lab.rules("old.sk", &old_text);
    let new = lab.rules("new.sk", &rules(&cg, 7111));
    // (7110 refused, 7111 refused, cgroup programs attached)
    let files = [
        (old.as_path(), (true, false, 1)),
        (new.as_path(), (false, true, 2)),
    ];
    let [first, again, out] = kill_at_every_step(&lab, &old, &new, |when| {
        check_truth(&cg, &lab, &files, when)
    });
    let killed = first + again + out;
    assert_eq!(cgroup_programs(&cg.path), 0);
    println!("killed {killed} times (first apply {first}, re-apply {again}, flush {out} steps)");
}

/// `sockc ARGS` with extra environment.
fn sockc_env(args: &[&str], env: &[(&str, &str)]) -> netns::Run {
    let mut cmd = std::process::Command::new(netns::sockc_bin());
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    netns::run(&mut cmd)
}

/// `kill -9` of sockc at every fault point of a first apply of `old`, a re-apply of
/// `new` over it and a flush of the install, calling `check` (with the step killed)
/// after each kill and bringing the install back to the state the next kill starts
/// from; the number of steps of each of the three.
pub(crate) fn kill_at_every_step(
    lab: &Lab,
    old: &std::path::Path,
    new: &std::path::Path,
    check: impl Fn(&str),
) -> [usize; 3] {
    let (apply_old, apply_new) = (
        lab.apply_args(old, &lab.name, &[]),
        lab.apply_args(new, &lab.name, &[]),
    );
    let flush = ["flush", "--name", &lab.name, "--bpffs", BPFFS];
    let first = fault_steps(&apply_old);
    sockc(&flush).ok();
    for n in 1..=first {
        kill_at(&apply_old, n);
        check(&format!("first apply killed at step {n}"));
        lab.apply_ok(old);
        sockc(&flush).ok();
    }
    lab.apply_ok(old);
    let again = fault_steps(&apply_new);
    for n in 1..=again {
        lab.apply_ok(old);
        kill_at(&apply_new, n);
        check(&format!("re-apply killed at step {n}"));
        lab.apply_ok(new);
        lab.status_attached();
    }
    lab.apply_ok(new);
    let out = fault_steps(&flush);
    for n in 1..=out {
        lab.apply_ok(new);
        kill_at(&flush, n);
        check(&format!("flush killed at step {n}"));
        sockc(&flush);
    }
    [first, again, out]
}

/// The fault points a command passes (`SOCKC_FAULT_TRACE`).
pub(crate) fn fault_steps(args: &[&str]) -> usize {
    sockc_env(args, &[("SOCKC_FAULT_TRACE", "1")])
        .ok()
        .stderr
        .lines()
        .filter(|l| l.starts_with("fault point "))
        .count()
}

/// The command killed at its `n`-th fault point.
pub(crate) fn kill_at(args: &[&str], n: usize) {
    let r = sockc_env(args, &[("SOCKC_FAULT_KILL_AT", &n.to_string())]);
    assert_eq!(r.code, -1, "killed at {n}:\n{r}");
}

/// The cgroup_skb programs attached to the cgroup itself (bpftool, not sockc).
fn cgroup_programs(cgroup: &str) -> usize {
    let out =
        netns::run(std::process::Command::new("bpftool").args(["cgroup", "list", cgroup, "-j"]));
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    v.as_array().map_or(0, |a| {
        a.iter()
            .filter(|p| {
                matches!(
                    p["attach_type"].as_str(),
                    Some("cgroup_inet_ingress" | "cgroup_inet_egress" | "ingress" | "egress")
                )
            })
            .count()
    })
}

/// What the file `status` names expects after a kill (`(false, false, 0)` when
/// nothing is installed), and the status document; `status` must exit 0.
#[track_caller]
pub fn installed_expectation(
    lab: &Lab,
    files: &[(&std::path::Path, (bool, bool, usize))],
    when: &str,
) -> ((bool, bool, usize), Option<serde_json::Value>) {
    let (r, st) = lab.status_run(&[]);
    let want = match &st {
        None => {
            assert!(r.stderr.contains("nothing is installed"), "{when}:\n{r}");
            (false, false, 0)
        }
        Some(st) => {
            assert_eq!(r.code, 0, "{when}: status after recovery:\n{r}");
            let file = st["source_file"].as_str().unwrap();
            files
                .iter()
                .find(|(f, _)| f.to_str() == Some(file))
                .unwrap_or_else(|| panic!("{when}: status names {file}"))
                .1
        }
    };
    (want, st)
}

/// After a kill: status exits 0 and names a file (or nothing), that file's cgroup
/// programs are on the cgroup, and a new process of the cgroup gets what it says.
#[track_caller]
fn check_truth(
    cg: &Cgroup,
    lab: &Lab,
    files: &[(&std::path::Path, (bool, bool, usize))],
    when: &str,
) {
    let (want, st) = installed_expectation(lab, files, when);
    let mut peer = Peer::udp(Some(&cg.path), &lab.ns_a, addr("127.0.0.1:0"));
    let mut eperm = |port: u16| {
        peer.cmd(&format!("sendto 127.0.0.1:{port} ping"))
            .starts_with("error 1 ")
    };
    let got = (eperm(7110), eperm(7111), cgroup_programs(&cg.path));
    assert_eq!(got, want, "{when}: {st:#?}");
}
