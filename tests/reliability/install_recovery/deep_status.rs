//! `status --deep` is clean on an untouched install of every corpus file: each file
//! applied into a namespace of its own, each socket it declares held by a stand-in
//! (bound at its address, or registered by descriptor when it names none).

use super::*;

/// Every `socket NAME = PROTO [ADDR]` declaration of a rule file.
fn declared_sockets(text: &str) -> Vec<(String, String, Option<SocketAddr>)> {
    text.lines()
        .filter_map(|l| {
            let l = l.split('#').next()?.trim();
            let rest = l.strip_prefix("socket ")?;
            let (name, decl) = rest.split_once('=')?;
            let mut words = decl.split_whitespace();
            let proto = words.next()?.to_string();
            let addr = words.next().and_then(|a| a.parse().ok());
            Some((name.trim().to_string(), proto, addr))
        })
        .collect()
}

/// Sockets standing for a file's declarations in namespace `ns`: bound to the
/// declared address, or (none declared) on a free port, registered with `--pid`.
enum Held {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

impl Held {
    fn fd(&self) -> i32 {
        match self {
            Held::Tcp(s) => s.as_raw_fd(),
            Held::Udp(s) => s.as_raw_fd(),
        }
    }
}

fn hold(ns: &str, proto: &str, addr: SocketAddr) -> Option<Held> {
    let proto = proto.to_string();
    in_netns(ns, move || match proto.as_str() {
        "tcp" => TcpListener::bind(addr).ok().map(Held::Tcp),
        _ => UdpSocket::bind(addr).ok().map(Held::Udp),
    })
}

/// Every rule file of the corpus (`rules/**/*.sk`), sorted.
fn corpus() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "sk") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// The programs of a corpus file that compiles and whose hooks a test namespace can
/// hold (interfaces and the namespace; cgroups are the host's), with its text; or why
/// not.
fn applicable(path: &str) -> Result<(Vec<Value>, String), String> {
    let compiled = sockc(&["compile", path, "--json"]);
    let v = serde_json::from_str::<Value>(&compiled.stdout)
        .ok()
        .filter(|_| compiled.code == 0)
        .ok_or_else(|| format!("{path}: does not compile"))?;
    let programs = v["programs"].as_array().cloned().unwrap_or_default();
    if programs.is_empty() {
        return Err(format!("{path}: no hooks"));
    }
    let text = std::fs::read_to_string(path).unwrap();
    if text.contains("cgroup") {
        return Err(format!("{path}: needs a cgroup"));
    }
    Ok((programs, text))
}

/// In namespace `ns`: the interfaces `programs` attach to, and sockets standing for
/// the declared ones (bound to their address; without one, on a free port, returned
/// with their name for `sockc register --pid`).
fn stand_in(ns: &str, programs: &[Value], text: &str) -> (Vec<Held>, Vec<(String, Held)>) {
    for (k, p) in programs.iter().enumerate() {
        let iface = p["attach_to"].as_str().unwrap_or("");
        if !iface.is_empty() && !iface.starts_with('/') && iface != "lo" {
            let peer = format!("peer{k}");
            let _ = run(Command::new("ip").args([
                "-n", ns, "link", "add", iface, "type", "veth", "peer", "name", &peer,
            ]));
            let _ = run(Command::new("ip").args(["-n", ns, "link", "set", &peer, "up"]));
            let _ = run(Command::new("ip").args(["-n", ns, "link", "set", iface, "up"]));
        }
    }
    let (mut held, mut unaddressed) = (Vec::new(), Vec::new());
    for (sock, proto, addr) in declared_sockets(text) {
        match addr {
            Some(SocketAddr::V6(v6)) if !v6.ip().is_loopback() && !v6.ip().is_unspecified() => {
                let a = format!("{}/128", v6.ip());
                let _ = run(Command::new("ip")
                    .args(["-n", ns, "-6", "addr", "add", &a, "dev", "lo", "nodad"]));
                held.extend(hold(ns, &proto, SocketAddr::V6(v6)));
            }
            Some(addr) => held.extend(hold(ns, &proto, addr)),
            None => {
                let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
                unaddressed.extend(hold(ns, &proto, any).map(|h| (sock, h)));
            }
        }
    }
    (held, unaddressed)
}

#[test]
fn deep_status_is_clean_on_an_untouched_install_of_every_corpus_file() {
    if !common::kernel() {
        return;
    }
    let files = corpus();
    let lab = Lab::new("corpus", 205);
    let name = lab.other_install("c");
    let pid = std::process::id().to_string();
    let (mut applied, mut skipped) = (0, Vec::new());
    for f in &files {
        let path = f.to_str().unwrap();
        let (programs, text) = match applicable(path) {
            Ok(x) => x,
            Err(why) => {
                skipped.push(why);
                continue;
            }
        };
        let ns = Ns::new("corpus");
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        let (held, unaddressed) = stand_in(&ns.name, &programs, &text);
        let r = sockc(&["apply", path, "--name", &name, "--netns", &ns.name]);
        if r.code != 0 {
            skipped.push(format!(
                "{path}: apply exits {}: {}",
                r.code,
                r.stderr.trim()
            ));
            let _ = sockc(&["flush", "--name", &name]);
            continue;
        }
        for (sock, h) in &unaddressed {
            let fd = h.fd().to_string();
            sockc(&[
                "register", sock, "--name", &name, "--pid", &pid, "--fd", &fd,
            ])
            .ok();
        }
        let st = sockc(&["status", "--name", &name, "--deep", "--json"]);
        assert_eq!(
            st.code,
            0,
            "{path}: status --deep on an untouched install: {:#?}\n{st}",
            status_json(&st).as_ref().map(drift)
        );
        applied += 1;
        sockc(&["flush", "--name", &name]).ok();
        drop((held, unaddressed));
    }
    println!(
        "{applied} of {} corpus files applied and clean; skipped:",
        files.len()
    );
    for s in &skipped {
        println!("  {s}");
    }
    assert!(applied >= 30, "{applied} applied");
}
