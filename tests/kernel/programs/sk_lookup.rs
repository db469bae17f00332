//! sk_lookup programs in the kernel, through `BPF_PROG_TEST_RUN` with a
//! `struct bpf_sk_lookup` as the only input: the verdict, the socket the program
//! selected (by cookie), the rule counters and the per-socket drop counters, for the
//! steering corpus `rules/sk_lookup/steering.sk` at `-O2` and `-O0`. Real sockets
//! of this process stand in for the services; which ones are registered decides
//! whether a redirect steers or drops. Every case is also checked against the
//! reference evaluator, and the expected outcome is written out here so that the
//! evaluator is checked too.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    os::fd::{AsFd, AsRawFd, BorrowedFd},
};

use sockc_compiler::{hooks::HookKind, ir::Module, opt::OptLevel, Compiled};
use sockc_runtime::{attach::sk_lookup::context, LoadedObject};
use sockc_testkit::eval::{self, Facts, Lookup, Outcome};

use super::{compile_at, kernel, load, root, symbol_of};

/// What a lookup should come to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    /// Steered to the socket of this name.
    To(&'static str),
    /// The redirect found no socket registered for this name: dropped and counted.
    Unregistered(&'static str),
    /// The kernel refused the registered socket (`bpf_sk_assign` failed).
    Refused(&'static str),
    Pass,
    Drop,
}

/// The cookie the kernel gave a socket (`SO_COOKIE`).
pub fn cookie(fd: BorrowedFd<'_>) -> u64 {
    let mut v: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `v`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_COOKIE,
            &mut v as *mut u64 as *mut libc::c_void,
            &mut len,
        )
    };
    assert_eq!(rc, 0, "SO_COOKIE: {}", std::io::Error::last_os_error());
    v
}

fn lookup(text: &str) -> Lookup {
    let (proto, rest) = text.split_once(' ').expect("PROTO REMOTE -> LOCAL");
    let (remote, local) = rest.split_once(" -> ").expect("REMOTE -> LOCAL");
    Lookup {
        proto: if proto == "tcp" { 6 } else { 17 },
        remote: remote.parse().unwrap_or_else(|e| panic!("{remote}: {e}")),
        local: local.parse().unwrap_or_else(|e| panic!("{local}: {e}")),
    }
}

/// The steering corpus's cases: (lookup, outcome, deciding line, counted lines).
const CASES: &[(&str, Want, usize, &[usize])] = &[
    // every port of 3.3.3.3 goes to proxy (TCP only: the socket is TCP)
    (
        "tcp 9.9.9.9:40000 -> 3.3.3.3:1",
        Want::To("proxy"),
        13,
        &[12],
    ),
    (
        "tcp 9.9.9.9:40000 -> 3.3.3.3:80",
        Want::To("proxy"),
        13,
        &[12],
    ),
    (
        "tcp 9.9.9.9:40000 -> 3.3.3.3:443",
        Want::To("proxy"),
        13,
        &[12],
    ),
    (
        "tcp 9.9.9.9:40000 -> 3.3.3.3:65535",
        Want::To("proxy"),
        13,
        &[12],
    ),
    ("udp 9.9.9.9:40000 -> 3.3.3.3:53", Want::Pass, 19, &[]),
    // the blocked set, before everything
    ("tcp 192.0.2.7:1 -> 3.3.3.3:80", Want::Drop, 11, &[]),
    (
        "tcp [2001:db8:bad::1]:1 -> [2001:db8::5]:443",
        Want::Drop,
        11,
        &[],
    ),
    // a /24 on port 53 to dns (UDP)
    ("udp 9.9.9.9:1 -> 1.1.1.0:53", Want::To("dns"), 14, &[]),
    ("udp 9.9.9.9:1 -> 1.1.1.255:53", Want::To("dns"), 14, &[]),
    ("udp 9.9.9.9:1 -> 1.1.1.7:54", Want::Pass, 19, &[]),
    ("tcp 9.9.9.9:1 -> 1.1.1.7:53", Want::Pass, 19, &[]),
    ("udp 9.9.9.9:1 -> 1.1.2.7:53", Want::Pass, 19, &[]),
    // IPv6 prefix and port set to web6, which nothing registered
    (
        "tcp [2001:db8:1::1]:5 -> [2001:db8::80]:8080",
        Want::Unregistered("web6"),
        15,
        &[],
    ),
    (
        "tcp [2001:db8:1::1]:5 -> [2001:db8::80]:7999",
        Want::Pass,
        19,
        &[],
    ),
    (
        "tcp [2001:db8:1::1]:5 -> [2001:db8:0:1::80]:80",
        Want::Pass,
        19,
        &[],
    ),
    // IPv4 from 10/8 to a dual-stack IPv6 socket
    ("tcp 10.1.2.3:5 -> 4.4.4.4:9000", Want::To("dual"), 16, &[]),
    ("tcp 10.1.2.3:5 -> 4.4.4.4:9099", Want::To("dual"), 16, &[]),
    ("tcp 11.1.2.3:5 -> 4.4.4.4:9000", Want::Pass, 19, &[]),
    // pass and drop around the redirect
    ("tcp 9.9.9.9:1 -> 3.3.3.4:22", Want::Pass, 17, &[12]),
    ("tcp 9.9.9.9:1 -> 3.3.3.4:23", Want::Drop, 18, &[12]),
];

/// Sockets standing in for the services, registered (or not) in the object's socket
/// map under their declared keys.
struct Services {
    /// name → (key, cookie); kept open for the test's duration.
    registered: BTreeMap<&'static str, (u32, u64)>,
    _tcp: Vec<TcpListener>,
    _udp: Vec<UdpSocket>,
}

/// The socket map slot of a declared socket in an object loaded on its own: its
/// declaration index.
fn key_of(module: &Module, name: &str) -> u32 {
    module
        .sockets
        .values()
        .position(|s| s.name == name)
        .unwrap_or_else(|| panic!("no socket {name}")) as u32
}

fn register_services(obj: &LoadedObject, module: &Module) -> Services {
    let map = obj.socket_map().expect("the object has a socket map");
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let dns = UdpSocket::bind("127.0.0.1:0").unwrap();
    // net.ipv6.bindv6only is 0 by default: [::] takes IPv4 too.
    let dual = TcpListener::bind("[::]:0").unwrap();
    let mut registered = BTreeMap::new();
    for (name, fd) in [
        ("proxy", proxy.as_fd()),
        ("dns", dns.as_fd()),
        ("dual", dual.as_fd()),
    ] {
        let key = key_of(module, name);
        map.insert(key, fd)
            .unwrap_or_else(|e| panic!("register {name}: {e}"));
        assert_eq!(map.cookie(key).unwrap(), Some(cookie(fd)), "{name}");
        registered.insert(name, (key, cookie(fd)));
    }
    Services {
        registered,
        _tcp: vec![proxy, dual],
        _udp: vec![dns],
    }
}

fn compiled(level: OptLevel) -> Compiled {
    let path = root().join("rules/sk_lookup/steering.sk");
    let src = std::fs::read_to_string(&path).unwrap();
    compile_at(&src, path.parent(), level).expect("steering.sk compiles")
}

/// Runs one lookup and checks everything it should change. Returns the problems.
fn check(
    c: &Compiled,
    obj: &LoadedObject,
    services: &Services,
    text: &str,
    (want, line, counted): (Want, usize, &[usize]),
) -> Vec<String> {
    let symbol = symbol_of(obj.metadata(), HookKind::SkLookup);
    let prog = c.module.programs.values().next().unwrap();
    let l = lookup(text);
    let mut errs = Vec::new();

    // The evaluator first: it must say what this table says.
    let facts = Facts {
        registered: c
            .module
            .sockets
            .iter()
            .filter(|(_, s)| services.registered.contains_key(s.name.as_str()))
            .map(|(id, _)| id)
            .collect::<BTreeSet<_>>(),
        ..Facts::default()
    };
    let e = eval::evaluate_lookup(&c.module, prog, &l, &facts);
    let eval_lines: Vec<usize> = e.counted.iter().map(|&i| prog.rules[i].line).collect();
    let eval_want = match (e.outcome, e.socket_drop) {
        (Outcome::Redirect(sockc_compiler::ir::Action::Redirect(Some(s))), _) => {
            Some(Want::To(leak(&c.module.sockets[s].name)))
        }
        (_, Some(slot)) => Some(Want::Unregistered(leak(
            &c.metadata.sockets[slot as usize / 2].name,
        ))),
        (Outcome::Verdict(sockc_compiler::syntax::ast::Verdict::Pass), None) => Some(Want::Pass),
        (Outcome::Verdict(sockc_compiler::syntax::ast::Verdict::Drop), None) => Some(Want::Drop),
        _ => None,
    };
    if eval_want != Some(want) || e.line(prog) != line || eval_lines != counted {
        errs.push(format!(
            "evaluator: {eval_want:?} by line {} counting {eval_lines:?}",
            e.line(prog)
        ));
    }

    let counters_before = obj.counters().unwrap();
    let drops_before = obj.socket_drops().unwrap();
    let r = obj
        .test_run(&symbol, &context(l.proto, l.remote, l.local), 1)
        .unwrap_or_else(|err| panic!("{text}: test_run: {err}"));
    let counters_after = obj.counters().unwrap();
    let drops_after = obj.socket_drops().unwrap();

    let spec = HookKind::SkLookup.spec();
    let (pass, drop) = (
        spec.verdicts.pass.unwrap() as u32,
        spec.verdicts.drop.unwrap() as u32,
    );
    let (want_ret, want_cookie) = match want {
        Want::To(name) => (pass, Some(services.registered[name].1)),
        Want::Pass => (pass, None),
        Want::Drop | Want::Unregistered(_) | Want::Refused(_) => (drop, None),
    };
    if (r.retval, r.selected) != (want_ret, want_cookie) {
        errs.push(format!(
            "kernel: returned {} with socket {:?} (want {want_ret} with {want_cookie:?})",
            r.retval, r.selected
        ));
    }
    let rule_slot = |line: usize| {
        prog.rules
            .iter()
            .find(|r| r.line == line)
            .map_or(prog.default_counter, |r| r.counter)
    };
    let mut want_slots: BTreeSet<u32> = counted.iter().map(|&l| rule_slot(l)).collect();
    want_slots.insert(rule_slot(line));
    for (slot, (after, before)) in counters_after.iter().zip(&counters_before).enumerate() {
        let moved = after.0 - before.0;
        let want_moved = u64::from(want_slots.contains(&(slot as u32)));
        if moved != want_moved || after.1 != before.1 {
            errs.push(format!(
                "counter slot {slot}: +{moved} lookups +{} bytes (want +{want_moved}, +0 bytes)",
                after.1 - before.1
            ));
        }
    }
    for (i, (after, before)) in drops_after.iter().zip(&drops_before).enumerate() {
        let name = c.metadata.sockets[i].name.as_str();
        let want_drop = (
            u64::from(want == Want::Unregistered(leak(name))),
            u64::from(want == Want::Refused(leak(name))),
        );
        let moved = (after.0 - before.0, after.1 - before.1);
        if moved != want_drop {
            errs.push(format!(
                "drops of `{name}`: +{moved:?} (want +{want_drop:?}: unregistered, refused)"
            ));
        }
    }
    errs.into_iter().map(|e| format!("{text}: {e}")).collect()
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// The steering corpus at -O2 and -O0: every case steers, passes or drops as the
/// table says, the selected socket is the registered one (by cookie), exactly the
/// table's rule counters rise, and a redirect to an unregistered socket counts in
/// that socket's drop slot.
#[test]
fn sk_lookup_steers_by_the_rules() {
    if !kernel() {
        return;
    }
    for level in [OptLevel::O2, OptLevel::O0] {
        let c = compiled(level);
        let obj = load(&c, "steering.sk");
        let services = register_services(&obj, &c.module);
        let mut errs = Vec::new();
        for &(text, want, line, counted) in CASES {
            errs.extend(check(&c, &obj, &services, text, (want, line, counted)));
        }
        assert!(errs.is_empty(), "{level:?}:\n{}", errs.join("\n"));
        println!("{level:?}: {} lookups agree", CASES.len());
    }
}

/// A registered socket the kernel will not take: a connected TCP socket (not a
/// listener), and a UDP socket that is connected. The redirect drops and counts in
/// the socket's "refused" slot, never falls through to the normal lookup.
#[test]
fn sk_lookup_drops_what_the_kernel_refuses() {
    if !kernel() {
        return;
    }
    let c = compiled(OptLevel::O2);
    let obj = load(&c, "steering.sk");
    let mut services = register_services(&obj, &c.module);
    let map = obj.socket_map().unwrap();
    // An accepted connection: established, refcounted; the kernel's sk_assign refuses.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    map.insert(key_of(&c.module, "proxy"), accepted.as_fd())
        .expect("an established TCP socket goes into a SOCKHASH");
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.connect("127.0.0.1:9").unwrap();
    map.insert(key_of(&c.module, "dns"), udp.as_fd())
        .expect("a connected UDP socket goes into a SOCKHASH");
    services.registered.remove("proxy");
    services.registered.remove("dns");
    let mut errs = Vec::new();
    for (text, want, line) in [
        (
            "tcp 9.9.9.9:40000 -> 3.3.3.3:80",
            Want::Refused("proxy"),
            13,
        ),
        ("udp 9.9.9.9:1 -> 1.1.1.9:53", Want::Refused("dns"), 14),
    ] {
        let counted: &[usize] = if line == 13 { &[12] } else { &[] };
        // The evaluator models registered sockets the kernel accepts only; a refusal
        // is the kernel's own check, so only the kernel side is compared here.
        errs.extend(
            check(&c, &obj, &services, text, (want, line, counted))
                .into_iter()
                .filter(|e| !e.contains("evaluator")),
        );
    }
    drop(client);
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

/// The kernel's `bpf_sk_lookup` context in tests is built from the offsets the
/// compiler reads: a program that steers by every field sees each one where
/// `context` put it (IPv4 and IPv6, both ports, protocol).
#[test]
fn test_run_context_reaches_every_field() {
    if !kernel() {
        return;
    }
    let src = "socket s = tcp [::]:1\n\
               socket u = udp [::]:1\n\
               sk_lookup {\n\
               redirect tcp from 10.1.2.3:4321 to 10.9.8.7:1234 to sock s\n\
               redirect tcp from [2001:db8::1]:4321 to [2001:db8::2]:1234 to sock s\n\
               redirect udp from 10.1.2.3:4321 to 10.9.8.7:1234 to sock u\n\
               default drop\n}\n";
    let (c, diags) = sockc_compiler::compile(src, &Default::default());
    let c = c.unwrap_or_else(|| panic!("{diags:#?}"));
    let obj = load(&c, "inline");
    let map = obj.socket_map().unwrap();
    let tcp = TcpListener::bind("[::]:0").unwrap();
    let udp = UdpSocket::bind("[::]:0").unwrap();
    map.insert(key_of(&c.module, "s"), tcp.as_fd()).unwrap();
    map.insert(key_of(&c.module, "u"), udp.as_fd()).unwrap();
    let symbol = symbol_of(obj.metadata(), HookKind::SkLookup);
    let run = |proto: u8, remote: &str, local: &str| {
        let (remote, local): (SocketAddr, SocketAddr) =
            (remote.parse().unwrap(), local.parse().unwrap());
        obj.test_run(&symbol, &context(proto, remote, local), 1)
            .unwrap()
            .selected
    };
    let (t, u) = (Some(cookie(tcp.as_fd())), Some(cookie(udp.as_fd())));
    assert_eq!(run(6, "10.1.2.3:4321", "10.9.8.7:1234"), t);
    assert_eq!(run(6, "[2001:db8::1]:4321", "[2001:db8::2]:1234"), t);
    assert_eq!(run(17, "10.1.2.3:4321", "10.9.8.7:1234"), u);
    // one field off at a time: no rule matches, default drop, nothing selected
    for (proto, remote, local) in [
        (6, "10.1.2.4:4321", "10.9.8.7:1234"),
        (6, "10.1.2.3:4322", "10.9.8.7:1234"),
        (6, "10.1.2.3:4321", "10.9.8.6:1234"),
        (6, "10.1.2.3:4321", "10.9.8.7:1235"),
        (6, "[2001:db8::3]:4321", "[2001:db8::2]:1234"),
        (6, "[2001:db8::1]:4321", "[2001:db8::2]:1233"),
        (17, "10.1.2.3:4321", "10.9.8.7:1235"),
    ] {
        assert_eq!(
            run(proto, remote, local),
            None,
            "{proto} {remote} -> {local}"
        );
    }
}
