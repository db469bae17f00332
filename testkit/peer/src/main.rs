//! `sockc-peer`: one end of a TCP connection, driven line by line on stdin, for the
//! sockmap end-to-end tests (tests/e2e/sockmap/) and `sockc bench`'s socket-layer
//! numbers. It joins a cgroup and enters a network namespace before it makes a socket
//! (a socket belongs to the cgroup of the process that created it, and the sock_ops
//! program of that cgroup is what puts it into a socket map), then connects or accepts
//! one connection and prints `connected LOCAL REMOTE`. Each command on stdin prints
//! one line on stdout:
//!
//! * `exchange BYTES PATTERN SEED`: sends BYTES pseudo-random bytes (seeded) in writes
//!   of PATTERN (`large`: 16 MiB, more than a socket buffer; `small`: 100 bytes;
//!   `mixed`: 1 byte to 64 KiB), then shuts its sending side, while it reads what the
//!   other end sends until end of stream; prints both SHA-256s as JSON.
//! * `send TEXT`: one write; prints `ok N` or `error ERRNO TEXT`.
//! * `pingpong COUNT SIZE`: COUNT round trips of SIZE bytes each way (the other end
//!   runs `echo`); prints the round-trip latencies (median, mean, p99) as JSON.
//! * `echo`: writes back what it reads until end of stream.
//! * `pump BYTES [WRITE]` / `sink`: one-way bulk transfer in writes of WRITE bytes
//!   (default 1 MiB); both print their seconds as JSON.
//! * `info`: the socket's TCP_INFO segment and byte counts (what went through TCP).
//! * `close`: closes the connection.
//!
//! `--as UID:GID` drops root for that user and group once in the cgroup and namespace.
//!
//! With `udp ADDR` instead of `listen`/`connect` it binds a UDP socket to ADDR (port 0:
//! any) and prints `bound LOCAL`, for the cgroup blocks' tests; its commands:
//!
//! * `sendto ADDR TEXT`: one datagram; prints `ok N` or `error ERRNO TEXT`.
//! * `recv MS`: waits at most MS milliseconds; prints `got FROM TEXT` or `timeout`.
//! * `connect ADDR MS`: a TCP connection from a new socket, given up after MS
//!   milliseconds; prints `connected LOCAL PEER` (`PEER` is what `getpeername()`
//!   says: the address a `cgroup connect` redirect wrote), `timeout` or
//!   `error ERRNO TEXT`.
//! * `name NAME`: `prctl(PR_SET_NAME)`, the process's command name (`comm`) for the
//!   calls that follow; prints `ok` or `error ERRNO TEXT`.
//! * `udpconnect ADDR`: `connect()` of the bound UDP socket itself (not a new one);
//!   prints `ok` or `error ERRNO TEXT`.
//! * `join DIR`: moves this process into the cgroup v2 directory DIR (its pid written
//!   to `DIR/cgroup.procs`), keeping its bound socket, which stays in the cgroup it
//!   was made in; prints `ok` or `error 0 TEXT`.
//! * `call CALL PROTO ADDR` (CALL `connect`, `sendmsg`, `bind` or `listen`; PROTO
//!   `tcp` or `udp`): one socket call from a new socket of ADDR's family, for the
//!   socket-call blocks' tests; prints `ok`, `ok PEER` (a connect whose socket
//!   `getpeername()` already names: a UDP one, at the address a redirect wrote; for a
//!   `listen()` of the never-bound socket, the address the kernel bound it to) or
//!   `error ERRNO TEXT` (what the call returned). A
//!   connect does not wait (non-blocking: `EINPROGRESS` is `ok`); sendmsg is a UDP
//!   `sendto()` from an unbound socket. Many calls from one process: the tests make
//!   thousands without a fork each.
//! * `blast ADDR MS SIZE` (`sockc bench --cgroup`): `sendto()`s of SIZE-byte datagrams
//!   from the bound socket to ADDR, back to back for MS milliseconds; prints the
//!   datagrams sent, the calls that failed, the wall time and this thread's CPU time
//!   (ns) as JSON.
//! * `connects PROTO ADDR COUNT` (`sockc bench --cgroup`): COUNT `connect()`s to ADDR,
//!   each from a new socket (TCP: blocking, the handshake done when it returns, closed
//!   with a reset so that no TIME_WAIT is left), each timed alone; prints the failures
//!   and the latencies (median, mean, p99, ns) as JSON.
//!
//! A blocking read that fails with EAGAIN is retried and counted (`eagain`): the kernel
//! returns it on a socket in a socket map when a wakeup finds no data
//! (`tcp_bpf_recvmsg`), which a blocking socket never does otherwise.
//!
//! A package of its own, so that installing sockc does not install it: the sockmap
//! tests build it when they start (`cargo build -p sockc-peer`), and `sockc bench`
//! looks for it next to its own binary.

use std::{
    io::{BufRead, ErrorKind, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    os::fd::AsRawFd,
    time::Instant,
};

use sha2::{Digest, Sha256};

const USAGE: &str =
    "usage: sockc-peer [--cgroup DIR] [--netns PATH] [--as UID:GID] (listen ADDR | connect ADDR | udp ADDR)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("sockc-peer: {e}");
        std::process::exit(2);
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let mut i = 0;
    let mut role = None;
    while i < args.len() {
        let value = args.get(i + 1).ok_or(USAGE)?;
        match args[i].as_str() {
            "--cgroup" => join_cgroup(value)?,
            "--netns" => enter_netns(value)?,
            "--as" => become_user(value)?,
            "listen" | "connect" | "udp" => role = Some((args[i].clone(), value.clone())),
            _ => return Err(USAGE.into()),
        }
        i += 2;
    }
    let (role, addr) = role.ok_or(USAGE)?;
    let addr: SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    if role == "udp" {
        return udp(addr);
    }
    let stream = if role == "listen" {
        let l = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
        say(&format!(
            "listening {}",
            l.local_addr().map_err(|e| e.to_string())?
        ));
        l.accept().map_err(|e| format!("accept: {e}"))?.0
    } else {
        TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?
    };
    let local = stream.local_addr().map_err(|e| e.to_string())?;
    let remote = stream.peer_addr().map_err(|e| e.to_string())?;
    say(&format!("connected {local} {remote}"));
    let mut stream = Some(stream);
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(s) = stream.as_mut() else {
            say("error closed");
            continue;
        };
        let out = match words.as_slice() {
            ["exchange", bytes, pattern, seed] => exchange(s, num(bytes)?, pattern, num(seed)?)?,
            ["send", text] => match s.write(text.as_bytes()) {
                Ok(n) => format!("ok {n}"),
                Err(e) => format!("error {} {e}", e.raw_os_error().unwrap_or(0)),
            },
            ["pingpong", count, size] => pingpong(s, num(count)?, num(size)? as usize)?,
            ["echo"] => echo(s)?,
            ["pump", bytes] => pump(s, num(bytes)?, 1 << 20)?,
            ["pump", bytes, write] => pump(s, num(bytes)?, num(write)? as usize)?,
            ["sink"] => sink(s)?,
            ["info"] => info(s)?,
            ["close"] => {
                stream = None;
                "closed".into()
            }
            _ => format!("error unknown command `{line}`"),
        };
        say(&out);
    }
    Ok(())
}

/// The `udp ADDR` role: a bound UDP socket driven on stdin (see the module docs).
fn udp(addr: SocketAddr) -> Result<(), String> {
    let sock = UdpSocket::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    say(&format!(
        "bound {}",
        sock.local_addr().map_err(|e| e.to_string())?
    ));
    let mut buf = [0u8; 2048];
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let out = match words.as_slice() {
            ["sendto", to, text] => match to.parse::<SocketAddr>() {
                Ok(to) => match sock.send_to(text.as_bytes(), to) {
                    Ok(n) => format!("ok {n}"),
                    Err(e) => os_error(&e),
                },
                Err(e) => format!("error 0 {to}: {e}"),
            },
            ["recv", ms] => {
                let wait = std::time::Duration::from_millis(num(ms)?.max(1));
                sock.set_read_timeout(Some(wait))
                    .map_err(|e| e.to_string())?;
                match sock.recv_from(&mut buf) {
                    Ok((n, from)) => format!("got {from} {}", String::from_utf8_lossy(&buf[..n])),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        "timeout".into()
                    }
                    Err(e) => os_error(&e),
                }
            }
            ["connect", to, ms] => match to.parse::<SocketAddr>() {
                Ok(to) => {
                    let wait = std::time::Duration::from_millis(num(ms)?.max(1));
                    match TcpStream::connect_timeout(&to, wait) {
                        Ok(s) => format!(
                            "connected {} {}",
                            s.local_addr().map_err(|e| e.to_string())?,
                            s.peer_addr().map_err(|e| e.to_string())?
                        ),
                        Err(e) if e.kind() == ErrorKind::TimedOut => "timeout".into(),
                        Err(e) => os_error(&e),
                    }
                }
                Err(e) => format!("error 0 {to}: {e}"),
            },
            ["blast", to, ms, size] => match to.parse::<SocketAddr>() {
                Ok(to) => blast(&sock, to, num(ms)?, num(size)? as usize),
                Err(e) => format!("error 0 {to}: {e}"),
            },
            ["connects", proto, to, count] => match to.parse::<SocketAddr>() {
                Ok(to) => connects(proto, to, num(count)?),
                Err(e) => format!("error 0 {to}: {e}"),
            },
            ["name", name] => set_name(name),
            ["udpconnect", to] => match to.parse::<SocketAddr>() {
                Ok(to) => match sock.connect(to) {
                    Ok(()) => "ok".into(),
                    Err(e) => os_error(&e),
                },
                Err(e) => format!("error 0 {to}: {e}"),
            },
            ["join", dir] => match join_cgroup(dir) {
                Ok(()) => "ok".into(),
                Err(e) => format!("error 0 {e}"),
            },
            ["call", call, proto, to] => match to.parse::<SocketAddr>() {
                Ok(to) => match socket_call(call, proto, to) {
                    Ok(Some(peer)) => format!("ok {peer}"),
                    Ok(None) => "ok".into(),
                    Err(e) => os_error(&e),
                },
                Err(e) => format!("error 0 {to}: {e}"),
            },
            _ => format!("error unknown command `{line}`"),
        };
        say(&out);
    }
    Ok(())
}

/// One `connect()`, `sendto()`, `bind()` or `listen()` from a new socket of `to`'s
/// family; for a connect, where the socket is connected to when `getpeername()` says
/// (a UDP socket at once; a TCP one still connecting says nothing yet); for a listen
/// (`to` gives only the family), where the kernel bound the socket.
fn socket_call(call: &str, proto: &str, to: SocketAddr) -> std::io::Result<Option<SocketAddr>> {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let (ty, protocol) = match proto {
        "tcp" => (Type::STREAM, Protocol::TCP),
        _ => (Type::DGRAM, Protocol::UDP),
    };
    let sock = Socket::new(Domain::for_address(to), ty, Some(protocol))?;
    let to = SockAddr::from(to);
    match call {
        "connect" => {
            sock.set_nonblocking(true)?;
            match sock.connect(&to) {
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                other => other?,
            }
            Ok(sock.peer_addr().ok().and_then(|a| a.as_socket()))
        }
        "sendmsg" => sock.send_to(b"call", &to).map(|_| None),
        "bind" => sock.bind(&to).map(|()| None),
        "listen" => {
            sock.listen(1)?;
            Ok(sock.local_addr()?.as_socket())
        }
        _ => Err(std::io::Error::from_raw_os_error(libc::EINVAL)),
    }
}

/// This thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), ns.
fn thread_cpu_ns() -> u64 {
    // SAFETY: a zeroed timespec is valid; clock_gettime writes it, and it outlives
    // the call.
    let ts = unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
        ts
    };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `blast`: datagrams back to back for `ms` milliseconds (the clock read every 256).
fn blast(sock: &UdpSocket, to: SocketAddr, ms: u64, size: usize) -> String {
    let msg = vec![0x5au8; size];
    let (mut sent, mut failed, mut errno) = (0u64, 0u64, 0);
    let window = std::time::Duration::from_millis(ms.max(1));
    let (start, cpu) = (Instant::now(), thread_cpu_ns());
    while start.elapsed() < window {
        for _ in 0..256 {
            match sock.send_to(&msg, to) {
                Ok(_) => sent += 1,
                Err(e) => {
                    failed += 1;
                    errno = e.raw_os_error().unwrap_or(0);
                }
            }
        }
    }
    let (wall, cpu) = (start.elapsed().as_nanos(), thread_cpu_ns() - cpu);
    format!(
        "{{\"sent\":{sent},\"failed\":{failed},\"errno\":{errno},\"wall_ns\":{wall},\"cpu_ns\":{cpu}}}"
    )
}

/// `connects`: `count` connects from new sockets, each timed; the first failure's
/// errno is kept.
fn connects(proto: &str, to: SocketAddr, count: u64) -> String {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let (ty, protocol) = match proto {
        "tcp" => (Type::STREAM, Protocol::TCP),
        _ => (Type::DGRAM, Protocol::UDP),
    };
    let addr = SockAddr::from(to);
    let mut ns = Vec::with_capacity(count as usize);
    let (mut failed, mut errno) = (0u64, 0);
    for _ in 0..count {
        let sock = match Socket::new(Domain::for_address(to), ty, Some(protocol)) {
            Ok(s) => s,
            Err(e) => return os_error(&e),
        };
        // A reset at close: no TIME_WAIT to run out of ports with.
        let _ = sock.set_linger(Some(std::time::Duration::ZERO));
        let t = Instant::now();
        let r = sock.connect(&addr);
        let took = t.elapsed().as_nanos() as u64;
        match r {
            Ok(()) => ns.push(took),
            Err(e) => {
                failed += 1;
                errno = e.raw_os_error().unwrap_or(0);
            }
        }
    }
    ns.sort_unstable();
    let at = |q: f64| ns.get(((ns.len().max(1) - 1) as f64 * q) as usize).copied();
    let mean = ns.iter().sum::<u64>() as f64 / ns.len().max(1) as f64;
    let shown = |v: Option<u64>| v.map_or("null".to_string(), |v| v.to_string());
    format!(
        "{{\"count\":{count},\"failed\":{failed},\"errno\":{errno},\"median_ns\":{},\"mean_ns\":{mean:.0},\"p99_ns\":{}}}",
        shown(at(0.5)),
        shown(at(0.99))
    )
}

/// `prctl(PR_SET_NAME)`: this process's command name (`comm`) becomes `name` (the
/// kernel keeps its first 15 bytes); `ok` or `error ERRNO TEXT`.
fn set_name(name: &str) -> String {
    let Ok(c) = std::ffi::CString::new(name) else {
        return "error 22 a name with a NUL".into();
    };
    // SAFETY: PR_SET_NAME reads a NUL-terminated string, which `c` is, and keeps
    // nothing of it after the call.
    if unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr()) } != 0 {
        return os_error(&std::io::Error::last_os_error());
    }
    "ok".into()
}

fn os_error(e: &std::io::Error) -> String {
    format!("error {} {e}", e.raw_os_error().unwrap_or(0))
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn num(s: &str) -> Result<u64, String> {
    s.parse().map_err(|e| format!("{s}: {e}"))
}

fn join_cgroup(dir: &str) -> Result<(), String> {
    std::fs::write(
        format!("{dir}/cgroup.procs"),
        std::process::id().to_string(),
    )
    .map_err(|e| format!("join cgroup {dir}: {e}"))
}

/// Drops root for `uid:gid` (no supplementary groups), after joining the cgroup and
/// the namespace, which need it.
fn become_user(ids: &str) -> Result<(), String> {
    let (uid, gid) = ids.split_once(':').ok_or("--as takes UID:GID")?;
    let (uid, gid): (u32, u32) = (
        uid.parse().map_err(|e| format!("{uid}: {e}"))?,
        gid.parse().map_err(|e| format!("{gid}: {e}"))?,
    );
    // SAFETY: plain syscalls on this single-threaded process's credentials.
    let failed = unsafe {
        libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(gid) != 0
            || libc::setuid(uid) != 0
    };
    if failed {
        return Err(format!("--as {ids}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

fn enter_netns(path: &str) -> Result<(), String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    // SAFETY: setns on a descriptor we own; this process is still single-threaded.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!("setns {path}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Write sizes of a pattern, cycling; `rng` draws the sizes of `mixed`.
fn write_size(pattern: &str, i: u64, rng: &mut fastrand::Rng) -> Result<usize, String> {
    Ok(match pattern {
        "large" => 16 << 20,
        "small" => 100,
        "mixed" => 1 + (rng.usize(..) + i as usize) % (64 << 10),
        other => return Err(format!("unknown pattern `{other}`")),
    })
}

/// Reads until end of stream, hashing; retries (and counts) EAGAIN.
fn read_all(s: &mut TcpStream, hash: Option<&mut Sha256>) -> Result<(u64, u64), String> {
    let mut buf = vec![0u8; 1 << 20];
    let (mut n, mut eagain) = (0u64, 0u64);
    let mut hash = hash;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok((n, eagain)),
            Ok(k) => {
                n += k as u64;
                if let Some(h) = hash.as_deref_mut() {
                    h.update(&buf[..k]);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => eagain += 1,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn exchange(s: &mut TcpStream, bytes: u64, pattern: &str, seed: u64) -> Result<String, String> {
    let mut out = s.try_clone().map_err(|e| e.to_string())?;
    let pattern = pattern.to_string();
    let start = Instant::now();
    let sender = std::thread::spawn(move || -> Result<(u64, String), String> {
        // The bytes and the write sizes: each reproducible from the seed.
        let mut gen = fastrand::Rng::with_seed(seed);
        let mut sizes = fastrand::Rng::with_seed(!seed);
        let mut h = Sha256::new();
        let mut buf = Vec::new();
        let (mut sent, mut i) = (0u64, 0u64);
        while sent < bytes {
            let n = (write_size(&pattern, i, &mut sizes)? as u64).min(bytes - sent) as usize;
            buf.resize(n, 0);
            gen.fill(&mut buf);
            out.write_all(&buf).map_err(|e| format!("write: {e}"))?;
            h.update(&buf);
            sent += n as u64;
            i += 1;
        }
        out.shutdown(std::net::Shutdown::Write)
            .map_err(|e| format!("shutdown: {e}"))?;
        Ok((sent, hex(&h.finalize())))
    });
    let mut h = Sha256::new();
    let (received, eagain) = read_all(s, Some(&mut h))?;
    let (sent, sent_sha) = sender.join().map_err(|_| "sender panicked")??;
    Ok(format!(
        "{{\"sent\":{sent},\"sent_sha256\":\"{sent_sha}\",\"received\":{received},\
         \"received_sha256\":\"{}\",\"eagain\":{eagain},\"secs\":{}}}",
        hex(&h.finalize()),
        start.elapsed().as_secs_f64()
    ))
}

fn pingpong(s: &mut TcpStream, count: u64, size: usize) -> Result<String, String> {
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let msg = vec![0x5au8; size];
    let mut back = vec![0u8; size];
    let mut rtts = Vec::with_capacity(count as usize);
    let mut eagain = 0u64;
    for _ in 0..count {
        let t = Instant::now();
        s.write_all(&msg).map_err(|e| format!("write: {e}"))?;
        let mut got = 0;
        while got < size {
            match s.read(&mut back[got..]) {
                Ok(0) => return Err("end of stream in a round trip".into()),
                Ok(k) => got += k,
                Err(e) if e.kind() == ErrorKind::WouldBlock => eagain += 1,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        rtts.push(t.elapsed().as_nanos() as u64);
    }
    rtts.sort_unstable();
    let at = |q: f64| rtts[((rtts.len() - 1) as f64 * q) as usize];
    let mean = rtts.iter().sum::<u64>() as f64 / rtts.len().max(1) as f64;
    Ok(format!(
        "{{\"count\":{count},\"size\":{size},\"median_ns\":{},\"mean_ns\":{mean:.0},\"p99_ns\":{},\"eagain\":{eagain}}}",
        at(0.5),
        at(0.99)
    ))
}

fn echo(s: &mut TcpStream) -> Result<String, String> {
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 1 << 16];
    let (mut n, mut eagain) = (0u64, 0u64);
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => {
                s.write_all(&buf[..k]).map_err(|e| format!("write: {e}"))?;
                n += k as u64;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => eagain += 1,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    Ok(format!("{{\"echoed\":{n},\"eagain\":{eagain}}}"))
}

fn pump(s: &mut TcpStream, bytes: u64, write: usize) -> Result<String, String> {
    let buf = vec![0xa5u8; write.max(1)];
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < bytes {
        let n = (buf.len() as u64).min(bytes - sent) as usize;
        s.write_all(&buf[..n]).map_err(|e| format!("write: {e}"))?;
        sent += n as u64;
    }
    s.shutdown(std::net::Shutdown::Write)
        .map_err(|e| format!("shutdown: {e}"))?;
    Ok(format!(
        "{{\"sent\":{sent},\"secs\":{}}}",
        start.elapsed().as_secs_f64()
    ))
}

fn sink(s: &mut TcpStream) -> Result<String, String> {
    let start = Instant::now();
    let (received, eagain) = read_all(s, None)?;
    Ok(format!(
        "{{\"received\":{received},\"eagain\":{eagain},\"secs\":{}}}",
        start.elapsed().as_secs_f64()
    ))
}

fn info(s: &TcpStream) -> Result<String, String> {
    // SAFETY: getsockopt(TCP_INFO) into a tcp_info of the size passed, on our socket.
    let mut ti: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut ti as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(format!("TCP_INFO: {}", std::io::Error::last_os_error()));
    }
    Ok(format!(
        "{{\"bytes_acked\":{},\"bytes_received\":{},\"data_segs_out\":{},\"data_segs_in\":{}}}",
        ti.tcpi_bytes_acked, ti.tcpi_bytes_received, ti.tcpi_data_segs_out, ti.tcpi_data_segs_in
    ))
}
