//! Differential test of `limit` and `route`: random XDP blocks built from rules with
//! and without limits (packet and byte rates, bursts, `over`, `per source`) and route
//! classes, run in the kernel (`BPF_PROG_TEST_RUN`) and by the evaluator on random
//! packets, with the two inputs the evaluator takes as facts set on both sides:
//!
//! * the buckets: full (`LoadedObject::refill_limits` before the run; the evaluator's
//!   default) or empty (`LoadedObject::empty_limits`, with the packet's source key
//!   for each `per source` rule; the evaluator's `over_limit`);
//! * the route class: the test runs in a fresh network namespace with forwarding on,
//!   a veth (no dummy devices in this kernel) with 10.97.0.1/24 and 2001:db8:97::1/64, routes to 10.99.0.0/16
//!   and 2001:db8:99::/48 through it, and blackhole routes for 10.98.0.0/16 and
//!   2001:db8:98::/48. An XDP test run comes in on `lo`, so the FIB lookup answers
//!   `local` for the device's own addresses and for destinations without a route,
//!   `forward` for the veth's subnets and routes, and `unroutable` for the
//!   blackholes: the test derives the class from that table and gives it to the
//!   evaluator.
//!
//! The verdict and the counter slots that moved must agree on every run. Knobs:
//! `SOCKC_LR_CASES` (rule sets, default 40), `SOCKC_LR_SEED`.

use crate::common;

use std::{net::IpAddr, process::Command};

use sockc_compiler::{ir::Module, syntax::route::RouteClass, Options};
use sockc_runtime::LoadedObject;
use sockc_testkit::{
    compare::{compare, moved_between, KernelRun},
    eval::{evaluate, Facts},
    packet::parse_packet,
    rng::Rng,
};

const SETUP: [&str; 12] = [
    "ip link set lo up",
    "ip link add lrd0 type veth peer name lrd1",
    "ip link set lrd1 up",
    "ip link set lrd0 up",
    "ip addr add 10.97.0.1/24 dev lrd0",
    "ip -6 addr add 2001:db8:97::1/64 dev lrd0 nodad",
    "ip route add 10.99.0.0/16 dev lrd0",
    "ip route add blackhole 10.98.0.0/16",
    "ip -6 route add 2001:db8:99::/48 dev lrd0",
    "ip -6 route add blackhole 2001:db8:98::/48",
    "sysctl -qw net.ipv4.ip_forward=1",
    "sysctl -qw net.ipv6.conf.all.forwarding=1",
];

/// Destinations, with the class the namespace's FIB gives them.
const DESTINATIONS: [(&str, RouteClass); 10] = [
    ("10.97.0.1", RouteClass::Local),
    ("10.97.0.5", RouteClass::Forward),
    ("10.99.1.2", RouteClass::Forward),
    ("10.98.1.2", RouteClass::Unroutable),
    ("192.0.2.1", RouteClass::Local),
    ("2001:db8:97::1", RouteClass::Local),
    ("2001:db8:97::5", RouteClass::Forward),
    ("2001:db8:99::2", RouteClass::Forward),
    ("2001:db8:98::2", RouteClass::Unroutable),
    ("2001:db8:1::1", RouteClass::Local),
];

const LIMITS: [&str; 9] = [
    "limit 10/s",
    "limit 5/minute burst 2",
    "limit over 100/s",
    "limit 200 bytes/s burst 150",
    "limit 1 kbytes/s burst 100 bytes",
    "limit over 1 kbytes/s burst 100 bytes",
    "limit 3/minute per source",
    "limit over 1/hour per source",
    "limit 1000/s burst 1",
];

fn rule(rng: &mut Rng) -> String {
    let mut parts = vec![rng.pick(&["allow", "drop", "count"]).to_string()];
    let proto = rng.pick(&["", "udp", "tcp"]);
    if !proto.is_empty() {
        parts.push(proto.into());
        if rng.below(2) == 0 {
            parts.push(format!("to *:{}", rng.pick(&[53, 80])));
        }
    }
    if rng.below(2) == 0 {
        parts.push(rng.pick(&["route local", "route forward"]).into());
    }
    if rng.below(3) != 0 {
        parts.push(rng.pick(&LIMITS).into());
    }
    parts.join(" ")
}

fn rule_set(rng: &mut Rng) -> String {
    let rules: Vec<String> = (0..2 + rng.below(6)).map(|_| rule(rng)).collect();
    format!(
        "xdp on eth0 {{\n    {}\n    default {}\n}}\n",
        rules.join("\n    "),
        rng.pick(&["allow", "drop"])
    )
}

/// A packet's text, its source and its route class.
fn packet(rng: &mut Rng) -> (String, IpAddr, RouteClass) {
    let (dst, class) = rng.pick(&DESTINATIONS);
    let v6 = dst.contains(':');
    let src: IpAddr = if v6 {
        rng.pick(&["2001:db8:96::7", "2001:db8:96::8"])
            .parse()
            .unwrap()
    } else {
        rng.pick(&["10.96.0.7", "10.96.0.8"]).parse().unwrap()
    };
    let at = |a: &str, port: u16| {
        if v6 {
            format!("[{a}]:{port}")
        } else {
            format!("{a}:{port}")
        }
    };
    let proto = rng.pick(&["udp", "tcp"]);
    let flags = if proto == "tcp" { " syn" } else { "" };
    let payload = "00".repeat(rng.pick(&[0, 40, 120]));
    let payload = if payload.is_empty() {
        String::new()
    } else {
        format!(" payload {payload}")
    };
    let text = format!(
        "{proto} {} -> {}{flags}{payload}",
        at(&src.to_string(), 4000),
        at(dst, rng.pick(&[53, 80]))
    );
    (text, src, class)
}

/// The `limit_sources` key of `src` for every `per source` limit of the module.
fn source_keys(module: &Module, src: IpAddr) -> Vec<[u8; 24]> {
    let slots = module
        .programs
        .values()
        .flat_map(|p| p.rules.iter())
        .filter_map(|r| r.m.limit().filter(|l| l.limit.per_source).map(|l| l.slot));
    slots
        .map(|slot| {
            let mut k = [0u8; 24];
            k[..4].copy_from_slice(&slot.to_le_bytes());
            match src {
                IpAddr::V4(a) => {
                    k[4] = 4;
                    k[8..12].copy_from_slice(&a.octets());
                }
                IpAddr::V6(a) => {
                    k[4] = 6;
                    k[8..24].copy_from_slice(&a.octets());
                }
            }
            k
        })
        .collect()
}

fn check_set(src: &str, rng: &mut Rng, packets: usize) -> Result<u64, String> {
    let (compiled, diags) = sockc_compiler::compile(src, &Options::default());
    let compiled = compiled.ok_or_else(|| format!("does not compile: {diags:?}\n{src}"))?;
    let elf = compiled.to_elf().map_err(|e| e.to_string())?;
    let obj = LoadedObject::load(&elf).map_err(|e| format!("{e}\n{src}"))?;
    let module = &compiled.module;
    let mut runs = 0;
    for _ in 0..packets {
        let (text, source, route) = packet(rng);
        let frame = parse_packet(&text)?.build();
        let over_limit = rng.below(3) == 0;
        if over_limit {
            obj.empty_limits(&source_keys(module, source))
        } else {
            obj.refill_limits()
        }
        .map_err(|e| e.to_string())?;
        let facts = Facts {
            over_limit,
            route: Some(route),
            ..Facts::default()
        };
        for prog in module.programs.values() {
            let want = evaluate(module, prog, &frame, &facts);
            let before = obj.counters().map_err(|e| e.to_string())?;
            let got = obj
                .test_run(&prog.symbol, &frame, 1)
                .map_err(|e| e.to_string())?;
            let after = obj.counters().map_err(|e| e.to_string())?;
            let run = KernelRun {
                retval: got.retval,
                moved: moved_between(&before, &after),
                answers_limited: [0; 2],
            };
            if let Some(wrong) = compare(prog, &want, &run, frame.len()) {
                return Err(format!(
                    "{wrong}\npacket: {text} (route {}, over-limit {over_limit})\n{src}",
                    route.name()
                ));
            }
            runs += 1;
        }
    }
    Ok(runs)
}

/// Runs `f` on a thread in a fresh network namespace set up by [`SETUP`].
fn in_lab_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        // SAFETY: unshare on this thread only; the namespace goes with it.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "unshare: {}", std::io::Error::last_os_error());
        for cmd in SETUP {
            let words: Vec<&str> = cmd.split(' ').collect();
            let st = Command::new(words[0]).args(&words[1..]).status();
            assert!(st.is_ok_and(|s| s.success()), "`{cmd}` failed");
        }
        f()
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// The cost of each construct: ns per packet of `BPF_PROG_TEST_RUN` (1,000,000
/// repeats, the median of 5) of a one-rule XDP block with and without it, in the same
/// run, printed as a table. Buckets are sized so every packet fits (the swap path).
#[test]
fn cost_per_packet_of_limit_and_route() {
    if !common::kernel() {
        return;
    }
    const CASES: [(&str, &str, &str); 8] = [
        (
            "baseline",
            "allow udp to *:53",
            "udp 10.96.0.7:4000 -> 10.99.1.2:53",
        ),
        (
            "limit N/s",
            "allow udp to *:53 limit 10000000/s burst 1000000000",
            "udp 10.96.0.7:4000 -> 10.99.1.2:53",
        ),
        (
            "limit bytes/s",
            "allow udp to *:53 limit 900 mbytes/s burst 900 mbytes",
            "udp 10.96.0.7:4000 -> 10.99.1.2:53",
        ),
        (
            "limit per source",
            "allow udp to *:53 limit 10000000/s burst 1000000000 per source",
            "udp 10.96.0.7:4000 -> 10.99.1.2:53",
        ),
        (
            "route, v4 forwarded",
            "allow udp to *:53 route forward",
            "udp 10.96.0.7:4000 -> 10.99.1.2:53",
        ),
        (
            "route, v4 local",
            "allow udp to *:53 route local",
            "udp 10.96.0.7:4000 -> 10.97.0.1:53",
        ),
        (
            "route, v6 forwarded",
            "allow udp to *:53 route forward",
            "udp [2001:db8:96::7]:4000 -> [2001:db8:99::2]:53",
        ),
        (
            "baseline v6",
            "allow udp to *:53",
            "udp [2001:db8:96::7]:4000 -> [2001:db8:99::2]:53",
        ),
    ];
    let rows = in_lab_netns(|| {
        CASES.map(|(what, rule, packet)| {
            let src = format!("xdp on eth0 {{\n    {rule}\n    default drop\n}}\n");
            let (c, _) = sockc_compiler::compile(&src, &Options::default());
            let elf = c.expect("compiles").to_elf().expect("elf");
            let obj = LoadedObject::load(&elf).expect("loads");
            let frame = parse_packet(packet).expect("packet").build();
            let mut ns: Vec<f64> = (0..5)
                .map(|_| {
                    let r = obj.test_run("xdp_eth0", &frame, 1_000_000).expect("run");
                    assert_eq!(r.retval, 2, "{what}: every packet is allowed");
                    r.duration.as_nanos() as f64
                })
                .collect();
            ns.sort_by(f64::total_cmp);
            (what, ns[2])
        })
    });
    println!("| construct | ns/packet | over its baseline |\n|---|---:|---:|");
    for (what, ns) in &rows {
        let base = if what.contains("v6") {
            rows[7].1
        } else {
            rows[0].1
        };
        println!("| {what} | {ns:.1} | {:+.1} |", ns - base);
    }
}

#[test]
fn kernel_agrees_with_the_evaluator_on_limits_and_routes() {
    if !common::kernel() {
        return;
    }
    let cases: usize = std::env::var("SOCKC_LR_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let seed: u64 = std::env::var("SOCKC_LR_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::process::id() as u64 | 1);
    println!("SOCKC_LR_SEED={seed}");
    let runs = in_lab_netns(move || {
        let mut rng = Rng::seeded(seed);
        let mut runs = 0;
        for _ in 0..cases {
            let src = rule_set(&mut rng);
            runs += check_set(&src, &mut rng, 30).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        }
        runs
    });
    println!("{cases} rule sets, {runs} runs: kernel and evaluator agree");
    assert!(runs >= cases as u64 * 30);
}
