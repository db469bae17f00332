//! End-to-end tests of sk_lookup steering: real services in a network namespace, the
//! rules installed with `sockc apply --netns`, clients in a second namespace behind a
//! veth ([`Lab`]). Namespace A has local routes for the steered prefixes (3.3.3.0/24,
//! 10.53.0.0/24) and B routes them to A, so a connection from B to 3.3.3.3:443 arrives
//! at A for an address nothing is bound to: only the sk_lookup program can give it a
//! socket.
//!
//! The services are other processes, as in production: this test binary started again
//! in A (`ip netns exec`) running [`service_child`], which holds one socket and
//! answers with its label, its pid and the address the client reached (TCP: the
//! accepted socket's local address; UDP: the datagram's original destination, read
//! with `IP_PKTINFO`, and the reply is sent *from* that address). `sockc apply` finds
//! each declared socket by its address and registers it.
//!
//! What is checked: one TCP listener on 127.0.0.1:8080 answers connections to 3.3.3.3
//! ports 1, 80, 443 and 65535; one UDP socket on 127.0.0.1:53 answers queries to every
//! tested address of 10.53.0.0/24 on port 53, replying from the address the query went
//! to (the client's connected socket accepts nothing else; `IP_PKTINFO` sets the
//! source address of a reply, the port is the socket's own, so a UDP service is
//! declared on the port its clients use); a redirect to a socket nothing
//! registered drops — the connection is refused by the kernel (sk_lookup's SK_DROP
//! makes the lookup fail; see below), it never reaches the listener that *is* bound to
//! the address, and the socket's drop counter rises; `pass` falls through to the
//! normal listener, `drop` refuses even with a listener bound; a re-apply keeps the
//! registration; `sockc register --pid`, `unregister`, and the refusals of a socket
//! that does not fit its declaration; a reuseport group is reached through the one
//! socket registered for it; a restarted UDP service is registered again by `sockc
//! repair` (the documented path for UDP).
//!
//! Why "refused" and not "times out": when an sk_lookup program returns SK_DROP the
//! kernel's listener lookup fails (`bpf_sk_lookup_run_v4` sets `-ECONNREFUSED`), so
//! TCP answers the SYN with a RST and UDP with an ICMP port unreachable, as if no
//! socket were bound. No sk_lookup program can drop silently; what matters is that the
//! traffic never reaches another socket, and that it is counted.

use crate::common;
use crate::netns;

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket},
    os::fd::AsRawFd,
    process::{Child, Command, Stdio},
};

use netns::{
    in_netns, ip, outcome, sockc, tcp_connect, udp_connected, udp_recv, Cgroup, Lab, Outcome,
    ANSWER, NO_ANSWER,
};
use serde_json::Value;
use sockc_testkit::socket_fixture::sockaddr;

// ---- the service -------------------------------------------------------------------

/// The service's configuration, passed in the environment: `tcp|udp ADDR LABEL
/// [reuseport]`.
const SERVICE_ENV: &str = "SOCKC_SK_LOOKUP_SERVICE";

/// The name libtest lists [`service_child`] under: its module path in the test binary
/// (the crate's own name left out).
fn service_child_name() -> String {
    match module_path!().split_once("::") {
        Some((_, path)) => format!("{path}::service_child"),
        None => "service_child".to_string(),
    }
}

/// Not a test: the entry point of a service process. The test binary runs itself with
/// `--exact` [`service_child_name`] and [`SERVICE_ENV`] set; without it this returns at
/// once.
#[test]
fn service_child() {
    let Ok(spec) = std::env::var(SERVICE_ENV) else {
        return;
    };
    let words: Vec<&str> = spec.split_whitespace().collect();
    let (proto, addr, label) = (words[0], words[1], words[2]);
    let addr: SocketAddr = addr.parse().expect("service address");
    let reuseport = words.contains(&"reuseport");
    let v6only = words.contains(&"v6only");
    let pid = std::process::id();
    if proto == "tcp" {
        let listener = tcp_listener(addr, (reuseport, v6only));
        println!("ready {pid}");
        loop {
            let (mut c, _) = listener.accept().expect("accept");
            let local = c.local_addr().expect("local address");
            let _ = writeln!(c, "{label} {pid} {local}");
        }
    } else {
        let sock: UdpSocket = bound(addr, libc::SOCK_DGRAM, (reuseport, v6only)).into();
        set_int_opt(sock.as_raw_fd(), libc::IPPROTO_IP, libc::IP_PKTINFO, 1);
        println!("ready {pid}");
        loop {
            let (data, from, dst) = recv_with_dst(&sock);
            let reply = format!("{label} {pid} {dst} {}", String::from_utf8_lossy(&data));
            send_from(&sock, reply.as_bytes(), from, dst);
        }
    }
}

fn set_int_opt(fd: i32, level: i32, name: i32, value: i32) {
    // SAFETY: setsockopt reads `size_of::<i32>()` bytes from `value`.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt: {}", std::io::Error::last_os_error());
}

fn tcp_listener(addr: SocketAddr, options: (bool, bool)) -> TcpListener {
    let fd = bound(addr, libc::SOCK_STREAM, options);
    // SAFETY: listen on our socket.
    assert_eq!(unsafe { libc::listen(fd.as_raw_fd(), 128) }, 0, "listen");
    fd.into()
}

/// A socket of type `ty` bound to `addr` with SO_REUSEADDR (and SO_REUSEPORT, and
/// IPV6_V6ONLY, as `(reuseport, v6only)` say).
fn bound(addr: SocketAddr, ty: i32, (reuseport, v6only): (bool, bool)) -> std::os::fd::OwnedFd {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: a plain socket(2) call; the descriptor is owned below.
    let fd = unsafe { libc::socket(family, ty | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1);
    if reuseport {
        set_int_opt(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1);
    }
    if v6only {
        set_int_opt(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1);
    }
    // SAFETY: fd is a new socket nothing else owns.
    let owned: std::os::fd::OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) };
    let (sa, len) = sockaddr(addr);
    // SAFETY: `sa` holds a sockaddr of `len` bytes.
    let rc = unsafe { libc::bind(fd, &sa as *const _ as *const libc::sockaddr, len) };
    assert_eq!(rc, 0, "bind {addr}: {}", std::io::Error::last_os_error());
    owned
}

/// One datagram, its sender, and the address it was sent to (`IP_PKTINFO`).
fn recv_with_dst(sock: &UdpSocket) -> (Vec<u8>, SocketAddr, Ipv4Addr) {
    let mut buf = [0u8; 2048];
    let mut cmsg = [0u8; 128];
    // SAFETY: all-zero sockaddr_in and msghdr are valid; the pointers set below stay
    // valid for the call.
    let mut from: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = &mut from as *mut _ as *mut libc::c_void;
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = cmsg.len();
    // SAFETY: msg describes live buffers.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
    assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
    let mut dst = Ipv4Addr::UNSPECIFIED;
    // SAFETY: walking the control messages the kernel wrote into `cmsg`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_PKTINFO {
                let info = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::in_pktinfo);
                dst = Ipv4Addr::from(info.ipi_addr.s_addr.to_ne_bytes());
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    let sender = SocketAddr::from((
        Ipv4Addr::from(from.sin_addr.s_addr.to_ne_bytes()),
        u16::from_be(from.sin_port),
    ));
    (buf[..n as usize].to_vec(), sender, dst)
}

/// Sends `data` to `to` with `src` as the source address (`IP_PKTINFO`'s
/// `ipi_spec_dst`): the reply comes from the address the query went to.
fn send_from(sock: &UdpSocket, data: &[u8], to: SocketAddr, src: Ipv4Addr) {
    let (mut dst, dst_len) = sockaddr(to);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::in_pktinfo>() as u32) };
    let mut cmsg = vec![0u8; space as usize];
    // SAFETY: all-zero msghdr is valid; the buffers outlive the call; the control
    // message is written inside `cmsg`.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = &mut dst as *mut _ as *mut libc::c_void;
        msg.msg_namelen = dst_len;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = cmsg.len();
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::IPPROTO_IP;
        (*c).cmsg_type = libc::IP_PKTINFO;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::in_pktinfo>() as u32) as usize;
        let info = libc::in_pktinfo {
            ipi_ifindex: 0,
            ipi_spec_dst: libc::in_addr {
                s_addr: u32::from_ne_bytes(src.octets()),
            },
            ipi_addr: libc::in_addr { s_addr: 0 },
        };
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut libc::in_pktinfo, info);
        let n = libc::sendmsg(sock.as_raw_fd(), &msg, 0);
        assert!(n >= 0, "sendmsg: {}", std::io::Error::last_os_error());
    }
}

/// A running service process in a namespace; killed (and reaped) when dropped.
struct Service {
    child: Child,
    pid: u32,
}

impl Service {
    /// Starts `tcp|udp ADDR LABEL [reuseport]` in namespace `ns` and waits until it
    /// holds its socket.
    fn start(ns: &str, spec: &str) -> Service {
        Service::start_in(ns, spec, None)
    }

    /// [`Service::start`] as user `uid` (and its group).
    fn start_as(ns: &str, spec: &str, uid: u32) -> Service {
        Service::spawn(ns, spec, None, Some(uid))
    }

    /// [`Service::start`], in `cgroup` from its first instruction (a shell joins the
    /// cgroup, then execs `ip netns exec`, which execs the service), so the socket is
    /// the cgroup's when it listens.
    fn start_in(ns: &str, spec: &str, cgroup: Option<&Cgroup>) -> Service {
        Service::spawn(ns, spec, cgroup, None)
    }

    fn spawn(ns: &str, spec: &str, cgroup: Option<&Cgroup>, uid: Option<u32>) -> Service {
        let exe = std::env::current_exe().expect("test binary");
        let mut cmd = match cgroup {
            Some(cg) => {
                let mut c = Command::new("sh");
                c.args([
                    "-c",
                    "echo $$ > \"$1/cgroup.procs\" && shift && exec \"$@\"",
                    "sh",
                    &cg.path,
                    "ip",
                ]);
                c
            }
            None => Command::new("ip"),
        };
        cmd.args(["netns", "exec", ns]);
        if let Some(uid) = uid {
            let id = uid.to_string();
            cmd.args(["setpriv", "--reuid", &id, "--regid", &id, "--clear-groups"]);
        }
        let mut child = cmd
            .arg(exe)
            .args([
                "--exact",
                &service_child_name(),
                "--nocapture",
                "--test-threads=1",
            ])
            .env(SERVICE_ENV, spec)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the service");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let pid = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("service `{spec}` exited before it was ready"))
                .expect("read");
            // libtest prints `test service_child ... ` on the same line first.
            if let Some((_, p)) = line.split_once("ready ") {
                break p.trim().parse().expect("pid");
            }
        };
        // Keep draining stdout so the service never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Service { child, pid }
    }

    fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        // `ip netns exec` execs the binary: the child is the service itself.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---- the network -------------------------------------------------------------------

/// A [`Lab`] whose namespace A treats 3.3.3.0/24 and 10.53.0.0/24 as its own
/// (local routes on lo: nothing is bound to them) and whose B routes them to A.
fn lab(tag: &str, subnet: u8) -> Lab {
    let lab = Lab::new(tag, subnet);
    for prefix in ["3.3.3.0/24", "10.53.0.0/24", "4.4.4.0/24"] {
        ip(&[
            "-n", &lab.ns_a, "route", "add", "local", prefix, "dev", "lo",
        ]);
        ip(&[
            "-n",
            &lab.ns_b,
            "route",
            "add",
            prefix,
            "via",
            &lab.addr_a.to_string(),
        ]);
    }
    lab
}

/// Connects from B to `to` and reads the service's answer line (`LABEL PID LOCAL`).
fn ask_tcp(lab: &Lab, to: &str) -> Result<String, Outcome> {
    let to: SocketAddr = to.parse().unwrap();
    let r = tcp_connect(&lab.ns_b, None, to, ANSWER);
    let mut s = r.map_err(|e| outcome::<()>(&Err(e)))?;
    s.set_read_timeout(Some(ANSWER)).unwrap();
    let mut line = String::new();
    s.read_to_string(&mut line)
        .map_err(|e| Outcome::Failed(e.to_string()))?;
    Ok(line.trim().to_string())
}

/// How a TCP connect from B to `to` ends, waiting up to [`ANSWER`].
fn connect(lab: &Lab, to: &str) -> Outcome {
    outcome(&tcp_connect(&lab.ns_b, None, to.parse().unwrap(), ANSWER))
}

/// A TCP connect from B that must not succeed: how it failed, within [`NO_ANSWER`].
fn tcp_outcome(lab: &Lab, to: &str) -> Outcome {
    outcome(&tcp_connect(
        &lab.ns_b,
        None,
        to.parse().unwrap(),
        NO_ANSWER,
    ))
}

/// Sends a query from a socket in B connected to `to` and waits for the answer.
fn ask_udp(lab: &Lab, to: &str, query: &str) -> Result<(String, SocketAddr), Outcome> {
    let to: SocketAddr = to.parse().unwrap();
    let sock = udp_connected(&lab.ns_b, to);
    sock.send(query.as_bytes()).expect("send");
    match udp_recv(&sock, ANSWER) {
        Ok((b, from)) => Ok((String::from_utf8_lossy(&b).into_owned(), from)),
        Err(e) => Err(outcome::<()>(&Err(e))),
    }
}

fn status(lab: &Lab) -> Value {
    lab.status().expect("installed")
}

/// The status entry of declared socket `name`.
fn slot<'a>(st: &'a Value, name: &str) -> &'a Value {
    st["sockets"]
        .as_array()
        .expect("status lists sockets")
        .iter()
        .find(|s| s["socket"] == name)
        .unwrap_or_else(|| panic!("no socket {name} in {st:#}"))
}

fn registered_pid(st: &Value, name: &str) -> Option<u64> {
    slot(st, name)["state"]["registered"]["by"]["pid"].as_u64()
}

fn stats_of(lab: &Lab, rule: &str) -> u64 {
    let v = lab.stats();
    v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["text"] == rule)
        .unwrap_or_else(|| panic!("no rule `{rule}` in {v:#}"))["packets"]
        .as_u64()
        .unwrap()
}

const STEERING: &str = "\
socket proxy = tcp 127.0.0.1:8080
socket dns = udp 127.0.0.1:53
sk_lookup {
    pass tcp to 3.3.3.3:22
    drop tcp to 3.3.3.3:23
    redirect 3.3.3.3:* to sock proxy
    redirect 10.53.0.0/24:53 to sock dns
    default pass
}
";

// ---- the tests ---------------------------------------------------------------------

/// One listener on 127.0.0.1:8080 answers every port of 3.3.3.3; one UDP socket on
/// 127.0.0.1:53 answers every address of 10.53.0.0/24 on port 53, from the address
/// asked. `apply` registered both by address, and `status` names their processes.
#[test]
fn one_listener_takes_every_port_and_one_socket_a_prefix() {
    if !common::kernel() {
        return;
    }
    let lab = lab("skall", 61);
    // Before any rule: nothing is bound to 3.3.3.3, so B's connect is refused.
    assert_eq!(tcp_outcome(&lab, "3.3.3.3:80"), Outcome::Refused);
    let proxy = Service::start(&lab.ns_a, "tcp 127.0.0.1:8080 proxy");
    let dns = Service::start(&lab.ns_a, "udp 127.0.0.1:53 dns");
    let file = lab.rules("steer.sk", STEERING);
    let run = lab.apply_ok(&file);
    assert!(
        run.stderr.contains("socket proxy: registered")
            && run.stderr.contains("socket dns: registered"),
        "apply registers both sockets it finds:\n{run}"
    );
    let st = status(&lab);
    assert_eq!(
        registered_pid(&st, "proxy"),
        Some(u64::from(proxy.pid)),
        "{st:#}"
    );
    assert_eq!(
        registered_pid(&st, "dns"),
        Some(u64::from(dns.pid)),
        "{st:#}"
    );
    for port in [1, 80, 443, 65535] {
        let answer = ask_tcp(&lab, &format!("3.3.3.3:{port}"))
            .unwrap_or_else(|o| panic!("3.3.3.3:{port}: {o:?}"));
        assert_eq!(answer, format!("proxy {} 3.3.3.3:{port}", proxy.pid));
    }
    for host in [0, 1, 77, 255] {
        let to = format!("10.53.0.{host}:53");
        let (answer, from) = ask_udp(&lab, &to, "q").unwrap_or_else(|o| panic!("{to}: {o:?}"));
        assert_eq!(answer, format!("dns {} 10.53.0.{host} q", dns.pid));
        assert_eq!(
            from.to_string(),
            to,
            "the reply comes from the address asked"
        );
    }
    // Outside the rules' prefixes and ports nothing changes.
    assert_eq!(tcp_outcome(&lab, "3.3.3.4:80"), Outcome::Refused);
    assert!(ask_udp(&lab, "10.53.0.9:54", "q").is_err());
    assert_eq!(stats_of(&lab, "redirect 3.3.3.3:* to sock proxy"), 4);
    assert_eq!(stats_of(&lab, "redirect 10.53.0.0/24:53 to sock dns"), 4);
}

/// A redirect to a socket nothing registered drops (refused, see the module docs) and
/// counts, even though a listener is bound to the very address: traffic meant for the
/// service never lands elsewhere. `pass` falls through to that listener; `drop`
/// refuses even with it bound.
#[test]
fn unregistered_drops_pass_falls_through_drop_refuses() {
    if !common::kernel() {
        return;
    }
    let lab = lab("skdrop", 62);
    // A squatter bound to every address of A on ports 80, 22 and 23.
    let squat: Vec<TcpListener> = [80u16, 22, 23]
        .into_iter()
        .map(|p| {
            in_netns(&lab.ns_a, move || {
                TcpListener::bind(("0.0.0.0", p)).expect("squatter listens")
            })
        })
        .collect();
    assert_eq!(
        connect(&lab, "3.3.3.3:80"),
        Outcome::Answered,
        "the squatter takes connections without rules"
    );
    let file = lab.rules("steer.sk", STEERING);
    let run = lab.apply_ok(&file);
    assert!(
        run.stderr
            .contains("socket proxy: nothing is bound to tcp 127.0.0.1:8080 yet"),
        "apply says the socket is missing:\n{run}"
    );
    assert_eq!(slot(&status(&lab), "proxy")["state"], "empty");
    for _ in 0..3 {
        assert_eq!(tcp_outcome(&lab, "3.3.3.3:80"), Outcome::Refused);
    }
    let st = status(&lab);
    assert_eq!(slot(&st, "proxy")["dropped_unregistered"], 3, "{st:#}");
    assert_eq!(stats_of(&lab, "redirect 3.3.3.3:* to sock proxy"), 3);
    // The squatter never saw those connections.
    squat[0].set_nonblocking(true).unwrap();
    let mut accepted = 0;
    while squat[0].accept().is_ok() {
        accepted += 1;
    }
    assert_eq!(accepted, 1, "only the connection made before the rules");
    // pass: the normal lookup finds the squatter on 22; drop: refused on 23.
    assert_eq!(connect(&lab, "3.3.3.3:22"), Outcome::Answered);
    assert_eq!(tcp_outcome(&lab, "3.3.3.3:23"), Outcome::Refused);
    assert_eq!(stats_of(&lab, "pass tcp to 3.3.3.3:22"), 1);
    assert_eq!(stats_of(&lab, "drop tcp to 3.3.3.3:23"), 1);
    // UDP: the same for the DNS redirect, answered by an ICMP port unreachable.
    assert_eq!(
        ask_udp(&lab, "10.53.0.1:53", "q").unwrap_err(),
        Outcome::Refused
    );
    assert_eq!(slot(&status(&lab), "dns")["dropped_unregistered"], 1);
}

/// Registration by hand: a service started after `apply` is registered with `sockc
/// register NAME --pid PID` (and by address), taken out with `unregister`; sockets that
/// do not fit the declaration are refused with the reason; a re-apply that changes the
/// rules keeps what is registered.
#[test]
fn register_unregister_refusals_and_reapply() {
    if !common::kernel() {
        return;
    }
    let lab = lab("skreg", 63);
    let file = lab.rules("steer.sk", STEERING);
    lab.apply_ok(&file);
    let proxy = Service::start(&lab.ns_a, "tcp 127.0.0.1:8080 proxy");
    let pid = proxy.pid.to_string();
    let r = sockc(&["register", "proxy", "--name", &lab.name, "--pid", &pid]).ok();
    assert!(r.stdout.contains("taken from a process"), "{r}");
    assert!(ask_tcp(&lab, "3.3.3.3:443").is_ok());
    let r = sockc(&["unregister", "proxy", "--name", &lab.name]).ok();
    assert!(r.stdout.contains("unregistered"), "{r}");
    assert_eq!(tcp_outcome(&lab, "3.3.3.3:443"), Outcome::Refused);
    // By address (no --pid), as an operator runs it after starting the service.
    sockc(&["register", "proxy", "--name", &lab.name]).ok();
    assert!(ask_tcp(&lab, "3.3.3.3:443").is_ok());

    // A UDP service where the declaration says TCP, and a UDP socket that is connected.
    let wrong = Service::start(&lab.ns_a, "udp 127.0.0.1:8080 wrong");
    let r = sockc(&[
        "register",
        "proxy",
        "--name",
        &lab.name,
        "--pid",
        &wrong.pid.to_string(),
    ]);
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("socket `proxy`"), "names the socket: {r}");
    wrong.stop();
    let r = sockc(&["register", "dns", "--name", &lab.name]);
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stderr.contains("nothing is bound to udp 127.0.0.1:53"),
        "{r}"
    );
    let r = sockc(&["register", "nosuch", "--name", &lab.name]);
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("declares no socket `nosuch`"), "{r}");

    // A re-apply with one more rule (a new generation) keeps the registration.
    let changed = lab.rules(
        "steer2.sk",
        &STEERING.replace("default pass", "drop tcp to 3.3.3.9:1\n    default pass"),
    );
    let run = lab.apply_ok(&changed);
    assert!(run.stdout.contains("generation 2 applied"), "{run}");
    assert_eq!(
        registered_pid(&status(&lab), "proxy"),
        Some(u64::from(proxy.pid))
    );
    assert!(
        ask_tcp(&lab, "3.3.3.3:443").is_ok(),
        "still steered after the re-apply"
    );
}

/// A SO_REUSEPORT group of two listeners on 127.0.0.1:8080: the socket registered for
/// the group stands for it, and the kernel spreads connections over both members.
#[test]
fn a_reuseport_group_is_reached_through_one_registered_socket() {
    if !common::kernel() {
        return;
    }
    let lab = lab("skrport", 64);
    let a = Service::start(&lab.ns_a, "tcp 127.0.0.1:8080 proxy reuseport");
    let b = Service::start(&lab.ns_a, "tcp 127.0.0.1:8080 proxy reuseport");
    let file = lab.rules("steer.sk", STEERING);
    lab.apply_ok(&file);
    let st = status(&lab);
    assert_eq!(
        slot(&st, "proxy")["state"]["registered"]["by"]["reuseport"],
        true,
        "{st:#}"
    );
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..64 {
        // Different source ports, so the group's hash picks different members.
        let answer = ask_tcp(&lab, &format!("3.3.3.3:{}", 1000 + i)).expect("answered");
        seen.insert(answer.split_whitespace().nth(1).unwrap().to_string());
    }
    assert_eq!(
        seen,
        [a.pid.to_string(), b.pid.to_string()].into_iter().collect(),
        "both members answered"
    );
}

/// Another user's UDP socket with SO_REUSEPORT on the declared address is in a
/// reuseport group of its own (the kernel puts sockets of one uid only in a group):
/// root's socket is registered all the same and every datagram reaches it. (Refused
/// as "a member the declaration does not trust", it left the slot empty: any user
/// could keep a service from being steered to.)
#[test]
fn another_users_reuseport_socket_keeps_no_service_from_its_slot() {
    if !common::kernel() {
        return;
    }
    let lab = lab("skuidrp", 202);
    let dns = Service::start(&lab.ns_a, "udp 127.0.0.1:53 dns reuseport");
    // (Port 53 to any user of the namespace.)
    netns::run(Command::new("ip").args(["netns", "exec", &lab.ns_a]).args([
        "sysctl",
        "-qw",
        "net.ipv4.ip_unprivileged_port_start=0",
    ]))
    .ok();
    let _other = Service::start_as(&lab.ns_a, "udp 127.0.0.1:53 other reuseport", 65534);
    let file = lab.rules("steer.sk", STEERING);
    lab.apply_ok(&file);
    for i in 0..8 {
        let (answer, _) = ask_udp(&lab, &format!("10.53.0.{}:53", i + 1), "q").expect("answered");
        assert!(answer.starts_with(&format!("dns {}", dns.pid)), "{answer}");
    }
}

/// A UDP service that restarts leaves its slot empty (the kernel takes a closed
/// socket out of the map); `sockc repair` — what the contrib timer runs — finds the
/// new socket by address and registers it again.
#[test]
fn a_restarted_udp_service_is_registered_again_by_repair() {
    if !common::kernel() {
        return;
    }
    let lab = lab("skudp", 65);
    let dns = Service::start(&lab.ns_a, "udp 127.0.0.1:53 dns");
    let file = lab.rules("steer.sk", STEERING);
    lab.apply_ok(&file);
    assert!(ask_udp(&lab, "10.53.0.5:53", "q").is_ok());
    dns.stop();
    assert_eq!(slot(&status(&lab), "dns")["state"], "empty");
    assert_eq!(
        ask_udp(&lab, "10.53.0.5:53", "q").unwrap_err(),
        Outcome::Refused
    );
    let again = Service::start(&lab.ns_a, "udp 127.0.0.1:53 dns");
    let r = sockc(&["repair", "--name", &lab.name]).ok();
    assert!(r.stdout.contains("socket dns: registered"), "{r}");
    let (answer, _) = ask_udp(&lab, "10.53.0.5:53", "q").expect("answered again");
    assert!(
        answer.starts_with(&format!("dns {}", again.pid)),
        "{answer}"
    );
}

/// `socket proxy = tcp 127.0.0.1:8080 cgroup "CG"`: the registrar (a sock_ops program
/// on the cgroup) registers the service's listener when it listens, with no command
/// run: at first start after the apply, and again after a kill -9 and restart. A
/// listener on the same address outside the cgroup, or inside the cgroup but in
/// another network namespace, is never registered (redirects keep dropping).
#[test]
fn a_restarted_tcp_service_registers_itself_when_it_listens() {
    if !common::kernel() {
        return;
    }
    // Not "skreg": `register_unregister_refusals_and_reapply` may run at the same time,
    // and a lab's names come from its tag.
    let lab = lab("skcgreg", 66);
    let cg = Cgroup::new("skreg");
    let file = lab.rules(
        "register.sk",
        &format!(
            "socket proxy = tcp 127.0.0.1:8080 cgroup \"{0}\"\n\
             socket any = tcp 0.0.0.0:9000 cgroup \"{0}\"\n\
             sk_lookup {{\n    redirect 3.3.3.3:* to sock proxy\n    \
             redirect 4.4.4.4:* to sock any\n    default pass\n}}\n",
            cg.path
        ),
    );
    let run = lab.apply_ok(&file);
    assert!(
        run.stderr
            .contains("until the service listens there in cgroup"),
        "apply says the socket registers itself: {run}"
    );
    assert_eq!(slot(&status(&lab), "proxy")["state"], "empty");
    assert_eq!(tcp_outcome(&lab, "3.3.3.3:80"), Outcome::Refused);

    // Same address, outside the cgroup: not registered.
    let outside = Service::start(&lab.ns_a, "tcp 127.0.0.1:8080 outside");
    assert_eq!(slot(&status(&lab), "proxy")["state"], "empty");
    assert_eq!(tcp_outcome(&lab, "3.3.3.3:80"), Outcome::Refused);
    outside.stop();

    // In the cgroup but in namespace B: not registered into A's install.
    let elsewhere = Service::start_in(&lab.ns_b, "tcp 127.0.0.1:8080 elsewhere", Some(&cg));
    assert_eq!(slot(&status(&lab), "proxy")["state"], "empty");
    elsewhere.stop();

    // The service, in the cgroup: answers every port without a command.
    let mut first = Service::start_in(&lab.ns_a, "tcp 127.0.0.1:8080 proxy", Some(&cg));
    for port in [1, 80, 443, 65535] {
        let answer = ask_tcp(&lab, &format!("3.3.3.3:{port}")).expect("answered");
        assert!(
            answer.starts_with(&format!("proxy {} ", first.pid)),
            "{answer}"
        );
    }
    let st = status(&lab);
    let state = &slot(&st, "proxy")["state"]["registered"];
    assert_eq!(state["cgroup"], cg.path.as_str(), "{st:#}");
    assert_eq!(
        slot(&st, "proxy")["bindings"],
        serde_json::json!(["line 4: redirect 3.3.3.3:* to sock proxy"]),
        "status names the socket's bindings: {st:#}"
    );
    // Exit 3: the other declared socket (`any`) has nothing registered.
    let text = sockc(&["status", "--name", &lab.name]).expect_code(3);
    assert!(
        text.stdout.contains("registered when it listened")
            && text
                .stdout
                .contains("bound by line 4: redirect 3.3.3.3:* to sock proxy"),
        "{text}"
    );

    // kill -9 and restart: registered again, still without a command.
    first.kill();
    assert_eq!(slot(&status(&lab), "proxy")["state"], "empty");
    let second = Service::start_in(&lab.ns_a, "tcp 127.0.0.1:8080 proxy", Some(&cg));
    let answer = ask_tcp(&lab, "3.3.3.3:443").expect("answered after the restart");
    assert!(
        answer.starts_with(&format!("proxy {} ", second.pid)),
        "{answer}"
    );
    assert_eq!(stats_of(&lab, "sockets registered when they listened"), 2);
    assert_eq!(
        stats_of(
            &lab,
            "sockets not registered: the kernel refused the insertion"
        ),
        0
    );

    // Restarted as an IPv6 socket on the v4-mapped address (as `sockc register` takes
    // it), and a `0.0.0.0` declaration served by a dual-stack `[::]` listener.
    drop(second);
    let mapped = Service::start_in(&lab.ns_a, "tcp [::ffff:127.0.0.1]:8080 proxy", Some(&cg));
    let answer = ask_tcp(&lab, "3.3.3.3:22").expect("answered by the v4-mapped listener");
    assert!(
        answer.starts_with(&format!("proxy {} ", mapped.pid)),
        "{answer}"
    );
    let dual = Service::start_in(&lab.ns_a, "tcp [::]:9000 dual", Some(&cg));
    let answer = ask_tcp(&lab, "4.4.4.4:7").expect("answered by the dual-stack listener");
    assert!(
        answer.starts_with(&format!("dual {} ", dual.pid)),
        "{answer}"
    );
    assert_eq!(stats_of(&lab, "sockets registered when they listened"), 4);

    // nginx's `listen 9000; listen [::]:9000;`: the IPv6 listener is IPV6_V6ONLY and
    // takes no IPv4 connection, so it does not replace the `0.0.0.0` one.
    drop(dual);
    let v4 = Service::start_in(&lab.ns_a, "tcp 0.0.0.0:9000 v4", Some(&cg));
    let _v6 = Service::start_in(&lab.ns_a, "tcp [::]:9000 v6 v6only", Some(&cg));
    let answer = ask_tcp(&lab, "4.4.4.4:7").expect("answered by the IPv4 listener");
    assert!(answer.starts_with(&format!("v4 {} ", v4.pid)), "{answer}");
    assert_eq!(stats_of(&lab, "sockets registered when they listened"), 5);

    // A re-apply keeps the registration; a flush takes the registrar off the cgroup.
    lab.apply_ok(&file);
    assert!(ask_tcp(&lab, "3.3.3.3:80").is_ok());
    sockc(&["flush", "--name", &lab.name]).ok();
    let progs = std::fs::read_to_string(format!("{}/cgroup.procs", cg.path)).unwrap_or_default();
    assert!(!progs.is_empty(), "the service is still in its cgroup");
    let query = std::process::Command::new("bpftool")
        .args(["cgroup", "show", &cg.path])
        .output()
        .expect("bpftool");
    let shown = String::from_utf8_lossy(&query.stdout);
    assert!(
        !shown.contains("sock_ops"),
        "registrar left on the cgroup: {shown}"
    );
}

/// A registrar's cgroup that does not exist, or a directory that is not a cgroup, is
/// named before anything is installed (not "no such interface", not a bare EBADF).
#[test]
fn a_registrar_cgroup_that_is_not_one_is_refused_before_anything_is_installed() {
    if !common::kernel() {
        return;
    }
    let lab = lab("skregbad", 67);
    let absent = format!("{}/sockc-no-such-cgroup", netns::cgroup2());
    for cgroup in [absent.as_str(), "/etc"] {
        let file = lab.rules(
            "bad.sk",
            &format!(
                "socket proxy = tcp 127.0.0.1:8080 cgroup \"{cgroup}\"\n\
                 sk_lookup {{\n    redirect 3.3.3.3:* to sock proxy\n    default pass\n}}\n"
            ),
        );
        let r = lab.apply(&file, &[]);
        assert_ne!(r.code, 0, "{r}");
        assert!(
            r.stderr
                .contains(&format!("{cgroup} is not a cgroup v2 directory")),
            "{r}"
        );
        // The example names this host's cgroup v2 mount, not an assumed one.
        let example = format!("e.g. {}/system.slice/NAME.service", netns::cgroup2());
        assert!(r.stderr.contains(&example), "{example}: {r}");
        assert!(lab.status().is_none(), "nothing installed after {r}");
    }
}

/// An install whose network namespace was deleted is never repaired into the namespace
/// `sockc repair` runs in (the host's): repair names the namespace as gone, attaches
/// nothing, exits 3; flush removes the install.
#[test]
fn repair_never_moves_an_install_into_another_namespace() {
    if !common::kernel() {
        return;
    }
    let lab = lab("skgone", 68);
    let file = lab.rules(
        "drop.sk",
        "sk_lookup {\n    drop tcp to 3.3.3.3:80\n    default pass\n}\n",
    );
    lab.apply_ok(&file);
    let prog_id = status(&lab)["hooks"][0]["prog_id"]
        .as_u64()
        .expect("status names the program");
    let before = link_namespaces(prog_id);
    assert_eq!(before.len(), 1, "one link before the delete: {before:?}");
    ip(&["netns", "del", &lab.ns_a]);
    let r = sockc(&["repair", "--name", &lab.name]);
    assert_eq!(r.code, 3, "{r}");
    assert!(r.stderr.contains("is gone or was created again"), "{r}");
    assert!(!r.stdout.contains("attached again"), "{r}");
    // The old link stays pinned until the flush, on no namespace (inode 0) once the
    // kernel's asynchronous namespace teardown has run, on the deleted one until then:
    // never on another.
    let after = link_namespaces(prog_id);
    assert!(
        after.iter().all(|ino| *ino == 0 || *ino == before[0]),
        "the program was attached to another namespace: {after:?} (was {before:?})"
    );
    sockc(&["flush", "--name", &lab.name]).ok();
}

/// The network namespace inode of every BPF link running `prog_id` (0: none).
fn link_namespaces(prog_id: u64) -> Vec<u64> {
    let out = std::process::Command::new("bpftool")
        .args(["link", "show", "-j"])
        .output()
        .expect("bpftool");
    let links: Value = serde_json::from_slice(&out.stdout).expect("bpftool json");
    links
        .as_array()
        .expect("links")
        .iter()
        .filter(|l| l["prog_id"].as_u64() == Some(prog_id))
        .map(|l| l["netns_ino"].as_u64().unwrap_or(0))
        .collect()
}

/// Two names of one cgroup (here a symbolic link) are refused before anything is
/// installed: two registrars on one cgroup would each register the other's sockets.
#[test]
fn two_names_of_one_cgroup_are_refused() {
    if !common::kernel() {
        return;
    }
    let lab = lab("sksame", 69);
    let cg = Cgroup::new("sksame");
    let link = lab.dir.join("cg-link");
    std::os::unix::fs::symlink(&cg.path, &link).expect("symlink");
    let file = lab.rules(
        "same.sk",
        &format!(
            "socket a = tcp 127.0.0.1:8080 cgroup \"{}\"\n\
             socket b = tcp 127.0.0.1:8081 cgroup \"{}\"\n\
             sk_lookup {{\n    redirect 3.3.3.3:80 to sock a\n    \
             redirect 3.3.3.3:81 to sock b\n    default pass\n}}\n",
            cg.path,
            link.display()
        ),
    );
    let r = lab.apply(&file, &[]);
    assert_ne!(r.code, 0, "{r}");
    assert!(r.stderr.contains("are the same cgroup"), "{r}");
    assert!(lab.status().is_none(), "nothing installed after {r}");
}
