//! End-to-end tests of what a socket-call block does besides allowing and refusing:
//! `redirect ... to ADDRESS[:PORT]` in `cgroup connect` and `cgroup sendmsg` blocks
//! (the call goes on to another address: a real connection lands on a listener at
//! another address and port, for IPv4, IPv6 and an IPv6 socket's IPv4-mapped call; an
//! unconnected UDP datagram reaches another receiver), counted and traced; and `comm`,
//! the calling process's command name (a process named `curl` refused where one named
//! `wget` is not, in one cgroup). Every process runs in a cgroup and the lab namespace
//! the test makes; the evaluator's answer for each call is checked beside the kernel's.
//! The generated real-calls agreement test with redirects and `comm` among its rules is
//! `sock_addr::the_evaluator_agrees_with_the_kernel_on_real_socket_calls`.
//!
//! Root only; skipped otherwise (see `tests/common`).

use sockc_compiler::driver;
use sockc_testkit::eval::{self, Call, Facts};

use crate::common;
use crate::netns::{self, Cgroup, Lab, BPFFS};
use crate::sock_addr::{addr, counted, refused};
use crate::sockmap::peer::Peer;

/// The evaluator's destination for `call` (`None`: refused) by the program of `hook`.
fn evaluated(src: &str, hook: &str, call: Call, comm: &str) -> Option<std::net::SocketAddr> {
    let module = driver::check(src, &Default::default())
        .expect("rules check")
        .module;
    let prog = module
        .programs
        .values()
        .find(|p| p.hook.spec().name == hook)
        .expect("program");
    let facts = Facts {
        comm: sockc_compiler::syntax::comm::comm_of(comm).expect("a name"),
        ..Facts::default()
    };
    eval::call_destination(&call, &eval::evaluate_call(&module, prog, &call, &facts))
}

#[test]
fn a_redirected_connect_lands_on_another_address_and_port() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("sockrdr", 216);
    let ns = lab.ns_a.clone();
    let cg = Cgroup::new("sockrdr");
    let src = format!(
        "cgroup connect \"{cg}\" {{\n    \
         redirect tcp to 10.96.0.10:80 to 127.0.0.2:7151 log\n    \
         redirect tcp to [2001:db8:96::10]:443 to [::1]:7152\n    \
         default allow\n}}\n\
         cgroup sendmsg \"{cg}\" {{\n    \
         redirect udp to 10.96.0.53:53 to 127.0.0.3:7153\n    \
         default allow\n}}\n",
        cg = cg.path
    );
    let file = lab.rules("rdr.sk", &src);
    let mut client = Peer::udp(Some(&cg.path), &ns, addr("127.0.0.1:0"));
    lab.apply_ok(&file);

    // IPv4, and an IPv6 socket's IPv4-mapped call: both reach the IPv4 listener.
    for (to, want) in [
        ("10.96.0.10:80", "127.0.0.2:7151"),
        ("[::ffff:10.96.0.10]:80", "[::ffff:127.0.0.2]:7151"),
    ] {
        let mut server = Peer::listen(None, &ns, addr("127.0.0.2:7151"));
        let out = client.cmd(&format!("connect {to} 3000"));
        let parts: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(parts.first(), Some(&"connected"), "connect {to}: {out}");
        assert_eq!(parts[2], want, "getpeername after connect {to}");
        server.accepted();
        let client_end: std::net::SocketAddr = parts[1].parse().unwrap();
        assert_eq!(
            server.remote.map(|a| a.port()),
            Some(client_end.port()),
            "the listener accepted this client"
        );
        let hook = if to.starts_with('[') {
            "cgroup connect6"
        } else {
            "cgroup connect4"
        };
        let call = Call {
            proto: 6,
            to: addr(to),
        };
        assert_eq!(
            evaluated(&src, hook, call, "sockc-peer"),
            Some(addr(want)),
            "evaluator for {to}"
        );
    }
    // IPv6.
    let mut server6 = Peer::listen(None, &ns, addr("[::1]:7152"));
    let out = client.cmd("connect [2001:db8:96::10]:443 3000");
    assert!(out.ends_with(" [::1]:7152"), "{out}");
    server6.accepted();
    // A call the rules do not redirect goes where it asked (nothing listens: refused
    // by the kernel, not by the program).
    let out = client.cmd("connect 127.0.0.2:7151 1000");
    assert!(out.starts_with("error 111 "), "{out}");

    // sendmsg: an unconnected datagram to 10.96.0.53:53 reaches 127.0.0.3:7153.
    let mut receiver = Peer::udp(None, &ns, addr("127.0.0.3:7153"));
    assert!(client.cmd("sendto 10.96.0.53:53 hello").starts_with("ok "));
    let got = receiver.cmd("recv 3000");
    assert_eq!(
        got,
        format!("got {} hello", client.local.unwrap()),
        "the datagram reached the target"
    );

    let stats = lab.stats();
    let v4_rule = "redirect tcp to 10.96.0.10:80 to 127.0.0.2:7151 log";
    assert_eq!(counted(&stats, "cgroup connect4", v4_rule), 1);
    assert_eq!(counted(&stats, "cgroup connect6", v4_rule), 1);
    assert_eq!(
        counted(
            &stats,
            "cgroup connect6",
            "redirect tcp to [2001:db8:96::10]:443 to [::1]:7152"
        ),
        1
    );
    assert_eq!(
        counted(
            &stats,
            "cgroup sendmsg4",
            "redirect udp to 10.96.0.53:53 to 127.0.0.3:7153"
        ),
        1
    );

    // `log`: traced as allowed, with the destination the caller asked for, the rule
    // (which names the target) and the process.
    let pid = client.pid();
    let mut server = Peer::listen(None, &ns, addr("127.0.0.2:7151"));
    let traced = netns::trace_first_event(&lab, || {
        assert!(client
            .cmd("connect 10.96.0.10:80 3000")
            .starts_with("connected "))
    });
    server.accepted();
    assert!(
        traced.stdout.contains("cgroup connect4")
            && traced.stdout.contains("allow by line 2 ")
            && traced.stdout.contains(v4_rule)
            && traced
                .stdout
                .contains(&format!("tcp -> 10.96.0.10:80 by pid {pid} (sockc-peer)")),
        "{traced}"
    );
    sockc_flush(&lab);
    // After a flush the call goes where it asked again.
    let out = client.cmd("connect 10.96.0.10:80 300");
    assert!(!out.starts_with("connected "), "{out}");
}

/// `comm`: a process named `curl` is refused where one named `wget` is not, in the same
/// cgroup; a negated set refuses every other name; counted per rule.
#[test]
fn the_callers_command_name_decides() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("sockcomm", 217);
    let ns = lab.ns_a.clone();
    let cg = Cgroup::new("sockcomm");
    let src = format!(
        "cgroup connect \"{}\" {{\n    drop tcp to 127.0.0.1:7155 comm \"curl\"\n    \
         drop tcp to 127.0.0.1:7156 comm !{{ \"curl\", \"wget\" }}\n    default allow\n}}\n",
        cg.path
    );
    let file = lab.rules("comm.sk", &src);
    let mut p = Peer::udp(Some(&cg.path), &ns, addr("127.0.0.1:0"));
    lab.apply_ok(&file);
    let mut answers = |name: &str| {
        assert_eq!(p.cmd(&format!("name {name}")), "ok");
        [7155, 7156].map(|port| {
            let to = format!("127.0.0.1:{port}");
            let got = refused(&mut p, "connect", "tcp", &to);
            let call = Call {
                proto: 6,
                to: addr(&to),
            };
            // What the kernel keeps of the name: its first 15 bytes.
            let kept = &name[..name.len().min(15)];
            let want = evaluated(&src, "cgroup connect4", call, kept).is_none();
            assert_eq!(got, want, "{name} to {to}: kernel refused={got}");
            got
        })
    };
    assert_eq!(answers("curl"), [true, false], "curl");
    assert_eq!(answers("wget"), [false, false], "wget");
    assert_eq!(answers("python3"), [false, true], "python3");
    // The kernel keeps 15 bytes of a longer name: `comm` compares those.
    assert_eq!(
        answers("curl-but-longer-than-15"),
        [false, true],
        "long name"
    );
    let stats = lab.stats();
    let con4 = "cgroup connect4";
    assert_eq!(
        counted(&stats, con4, "drop tcp to 127.0.0.1:7155 comm \"curl\""),
        1
    );
    assert_eq!(
        counted(
            &stats,
            con4,
            "drop tcp to 127.0.0.1:7156 comm !{ \"curl\", \"wget\" }"
        ),
        2
    );
}

fn sockc_flush(lab: &Lab) {
    netns::sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
}
