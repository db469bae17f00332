//! Jump threading and shared header checks (`sockc_compiler::opt::thread`) as a whole:
//! what they do to bytecode, and what they promise.
//!
//! * `rules/opt/thread.sk` compiles to `golden/opt/thread.O0.asm` and
//!   `golden/opt/thread.sk.asm` (`-O2`, the golden tests/golden/corpus.rs checks too; naming:
//!   tests/common/golden.rs); `SOCKC_BLESS=1` rewrites them, so the effect is visible
//!   next to the baseline.
//! * `-O2` code is never larger than `-O0` code, for every program of the rule corpus
//!   and of generated 10-rule sets. (Never slower on any path is argued in the pass's
//!   docs and checked by its model test; the differential tests run both levels.)
//! * In the kernel (root): both levels load, and give the same verdicts and counters
//!   for a spread of packets; the verifier's processed-instruction counts are printed.

use std::path::Path;

use crate::common;

use common::{
    golden::{golden_path, Goldens},
    kernel, root, rule_files,
};
use sockc_compiler::{driver::Options, hooks::TestInput, ir::Step, opt::OptLevel, sema, Compiled};
use sockc_testkit::{packet::parse_packet, rng::Rng};

fn options(level: OptLevel, base: &Path) -> Options {
    Options {
        sema: sema::Options {
            base_dir: Some(base.to_path_buf()),
            ..Default::default()
        },
        opt: level,
        ..Default::default()
    }
}

fn compile(src: &str, base: &Path, level: OptLevel) -> Compiled {
    let (compiled, diags) = sockc_compiler::compile(src, &options(level, base));
    compiled.unwrap_or_else(|| panic!("does not compile at {}: {diags:#?}\n{src}", level.name()))
}

/// The rule files that compile (everything outside `rules/errors/`).
fn corpus() -> Vec<std::path::PathBuf> {
    rule_files()
        .into_iter()
        .filter(|f| !f.components().any(|c| c.as_os_str() == "errors"))
        .collect()
}

#[test]
fn thread_asm_goldens() {
    let file = root().join("rules/opt/thread.sk");
    let src = std::fs::read_to_string(&file).unwrap();
    let mut goldens = Goldens::new();
    for level in [OptLevel::O0, OptLevel::O2] {
        let actual = compile(&src, file.parent().unwrap(), level).asm();
        goldens.check(&golden_path(&file, level, "asm"), &actual);
    }
    goldens.finish();
}

/// Per program without a classifier at `-O2`, (symbol, -O0 instructions, -O2
/// instructions). A classifier (runs of 32+ rules) trades size for a per-packet cost
/// that does not grow with the rules; its size is `bench/RESULTS.md`'s business, not
/// this file's, which is about threading.
fn sizes(src: &str, base: &Path) -> Vec<(String, usize, usize)> {
    let (o0, o2) = (
        compile(src, base, OptLevel::O0),
        compile(src, base, OptLevel::O2),
    );
    o0.programs
        .iter()
        .zip(&o2.programs)
        .filter(|(_, b)| {
            let prog = o2.module.programs.values().find(|p| p.symbol == b.symbol);
            !prog.is_some_and(|p| p.steps.iter().any(|s| matches!(s, Step::Classify(_))))
        })
        .map(|(a, b)| {
            assert_eq!(a.symbol, b.symbol);
            (a.symbol.clone(), a.code.insns.len(), b.code.insns.len())
        })
        .collect()
}

#[test]
fn o2_is_never_larger_than_o0_on_the_corpus() {
    let (mut total0, mut total2) = (0, 0);
    for file in corpus() {
        let src = std::fs::read_to_string(&file).unwrap();
        for (symbol, n0, n2) in sizes(&src, file.parent().unwrap()) {
            let rel = file.strip_prefix(root()).unwrap().display();
            println!("{rel:<32} {symbol:<12} -O0 {n0:>5}  -O2 {n2:>5}");
            assert!(n2 <= n0, "{rel} {symbol}: -O2 {n2} insns > -O0 {n0}");
            total0 += n0;
            total2 += n2;
        }
    }
    println!("corpus: -O0 {total0} insns, -O2 {total2}");
    assert!(total2 < total0, "threading saved nothing on the corpus");
}

/// A small deterministic generator of 10-rule XDP programs, biased toward rules that
/// share headers (the case threading is for).
struct Gen(Rng);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0.next()
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        self.0.pick(xs)
    }
    fn rule(&mut self) -> String {
        let action = self.pick(&["allow", "drop", "drop", "count"]);
        let body = match self.next() % 6 {
            0 | 1 => {
                let proto = self.pick(&["tcp", "udp"]);
                let from = self.pick(&["", " from 10.0.0.0/8", " from 10.1.0.0/16", " from @a"]);
                let to = self.pick(&[":22", ":53", ":80", ":1024-65535", ":@p", ":*"]);
                let flags = if proto == "tcp" {
                    self.pick(&["", "", " syn", " syn !ack"])
                } else {
                    ""
                };
                format!("{proto}{from} to *{to}{flags}")
            }
            2 => self
                .pick(&["ip4", "ip6", "ip4 udp", "ip6 tcp", "any"])
                .to_string(),
            3 => self
                .pick(&[
                    "icmp type echo-request",
                    "icmp",
                    "icmpv6 type 128 code 0",
                    "icmp type 3 code 4",
                ])
                .to_string(),
            4 => self
                .pick(&[
                    "from 192.0.2.0/24",
                    "to 198.51.100.7",
                    "from 2001:db8::/32",
                    "to [2001:db8:1::/48]:443",
                    "from @a to @b",
                ])
                .to_string(),
            _ => self
                .pick(&["to *:6000", "from *:7777", "proto 47", "tcp"])
                .to_string(),
        };
        format!("    {action} {body}\n")
    }
    fn rule_set(&mut self) -> String {
        let mut src = String::from(
            "set a = { 10.0.0.0/8, 2001:db8::/32 }\nset b = { 203.0.113.0/24 }\n\
             set p = { 80, 443, 8000-8080 }\nxdp on eth0 {\n",
        );
        for _ in 0..10 {
            src.push_str(&self.rule());
        }
        src.push_str(self.pick(&["    default allow\n}\n", "    default drop\n}\n"]));
        src
    }
}

#[test]
fn o2_is_never_larger_than_o0_on_generated_ten_rule_sets() {
    let mut g = Gen(Rng::seeded(0x2545_f491_4f6c_dd1d));
    let (mut total0, mut total2, mut smaller) = (0, 0, 0);
    let sets = 300;
    for _ in 0..sets {
        let src = g.rule_set();
        for (_, n0, n2) in sizes(&src, &root()) {
            assert!(n2 <= n0, "-O2 {n2} insns > -O0 {n0}:\n{src}");
            total0 += n0;
            total2 += n2;
            smaller += usize::from(n2 < n0);
        }
    }
    println!("{sets} generated 10-rule sets: -O0 {total0} insns, -O2 {total2}, {smaller} smaller");
    assert!(
        smaller * 2 > sets,
        "threading rarely helps: {smaller} of {sets}"
    );
}

/// Packets across families, protocols, ports, flags, ICMP, and malformed frames.
/// The sk_lookup context of a `tcp A:P -> B:Q` or `udp ...` packet (flags and other
/// modifiers ignored); `None` for other packets.
fn lookup_of(packet: &str) -> Option<Vec<u8>> {
    let mut words = packet.split_whitespace();
    let proto = match words.next()? {
        "tcp" => 6,
        "udp" => 17,
        _ => return None,
    };
    let remote = words.next()?.parse().ok()?;
    words.next().filter(|w| *w == "->")?;
    let local = words.next()?.parse().ok()?;
    Some(sockc_runtime::attach::sk_lookup::context(
        proto, remote, local,
    ))
}

const PACKETS: &[&str] = &[
    "tcp 10.0.0.1:1234 -> 1.1.1.1:53 syn",
    "tcp 10.0.0.1:40000 -> 10.0.0.2:22 syn",
    "tcp 10.0.0.1:40000 -> 10.0.0.2:22 syn ack",
    "tcp 10.1.0.1:40000 -> 10.0.0.2:22 ack",
    "tcp 192.0.2.9:40000 -> 10.0.0.2:443 ack",
    "tcp 10.0.0.1:7777 -> 10.0.0.2:8080",
    "tcp 172.16.0.1:1 -> 203.0.113.5:80 syn",
    "tcp [2001:db8::1]:5 -> [2001:db8:1::1]:443 syn",
    "tcp [2001:db8:5::1]:1000 -> [2001:db8:5::2]:443 ack",
    "udp 10.0.0.1:5353 -> 1.1.1.1:53",
    "udp 10.1.2.3:53 -> 10.2.3.200:6000",
    "udp 192.0.2.9:5353 -> 1.1.1.1:53",
    "udp 198.51.100.7:1 -> 198.51.100.7:2",
    "udp [2001:db8::1]:5353 -> [2606:4700:4700::1111]:53",
    "udp [fd00::1]:7777 -> [2001:db8:aa:bb:8000::1]:80",
    "icmp 10.0.0.1 -> 10.0.0.2 type echo-request",
    "icmp 10.0.0.1 -> 127.0.0.1 type 3 code 4",
    "icmp 10.0.0.1 -> 10.0.0.2 type 0",
    "icmpv6 2001:db8::1 -> 2001:db8::2 type 128 code 0",
    "icmpv6 2001:db8::1 -> fe80::2 type 135",
    "proto 47 10.0.0.1 -> 10.0.0.2",
    "proto 255 2001:db8::1 -> ::2",
    "udp 10.0.0.1:1 -> 1.1.1.1:53 frag 20",
    "tcp 10.0.0.1:1 -> 10.0.0.2:22 syn len 40",
    "tcp 10.0.0.1:1 -> 10.0.0.2:22 syn vlan 7",
    "tcp 10.0.0.1:1 -> 10.0.0.2:22 syn ipopts 2",
    "udp [2001:db8::1]:1 -> [2001:db8::2]:53 len 60",
];

#[test]
fn both_levels_load_and_agree_in_the_kernel() {
    if !kernel() {
        return;
    }
    let mut g = Gen(Rng::seeded(0x1234_5678_9abc_def1));
    let mut cases: Vec<(String, String, std::path::PathBuf)> = corpus()
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix(root()).unwrap().display().to_string();
            (
                rel,
                std::fs::read_to_string(&f).unwrap(),
                f.parent().unwrap().to_path_buf(),
            )
        })
        .collect();
    for i in 0..20 {
        cases.push((format!("generated #{i}"), g.rule_set(), root()));
    }
    let frames: Vec<Vec<u8>> = PACKETS
        .iter()
        .map(|p| {
            parse_packet(p)
                .unwrap_or_else(|e| panic!("{p}: {e:?}"))
                .build()
        })
        .collect();
    for (name, src, base) in &cases {
        let objects: Vec<_> = [OptLevel::O0, OptLevel::O2]
            .into_iter()
            .map(|level| {
                let c = compile(src, base, level);
                sockc_runtime::LoadedObject::load(&c.to_elf().unwrap())
                    .unwrap_or_else(|e| panic!("{name} at {}: {e}", level.name()))
            })
            .collect();
        for (p0, p2) in objects[0].programs().iter().zip(objects[1].programs()) {
            println!(
                "{name:<32} {:<12} xlated -O0 {:>5?} -O2 {:>5?}  verified -O0 {:>6?} -O2 {:>6?}",
                p0.symbol, p0.xlated_insns, p2.xlated_insns, p0.verified_insns, p2.verified_insns
            );
        }
        for (p, frame) in PACKETS.iter().zip(&frames) {
            for prog in objects[0].programs() {
                let input = match prog.hook.spec().test_input {
                    // A netfilter hook never sees a frame that is not IP (its test
                    // run refuses one).
                    TestInput::Frame
                        if prog.hook.spec().loaded_raw()
                            && !matches!(frame.get(12..14), Some([0x08, 0x00] | [0x86, 0xdd])) =>
                    {
                        continue
                    }
                    TestInput::Frame => frame.clone(),
                    // sk_lookup: the lookup a TCP or UDP packet would make.
                    TestInput::Context => match lookup_of(p) {
                        Some(ctx) => ctx,
                        None => continue,
                    },
                    TestInput::None => continue,
                };
                let frame = &input;
                // (No frame here is an IP EtherType frame shorter than the IP header,
                // which TC's test run refuses.)
                let sym = &prog.symbol;
                let got: Vec<_> = objects
                    .iter()
                    .map(|o| {
                        // Full buckets for every packet: the two objects run at
                        // different times, so refills would differ.
                        o.refill_limits().unwrap();
                        let r = o.test_run(sym, frame, 1).unwrap().retval;
                        (r, o.counters().unwrap())
                    })
                    .collect();
                assert_eq!(
                    got[0], got[1],
                    "{name} {sym}: `{p}` differs between -O0 and -O2"
                );
            }
        }
    }
}

/// The ClassBench 1k sets lowered linearly at both levels (at `-O2` these runs go to
/// the classifier; here the `-O0` module, whose steps are all linear, is threaded and
/// lowered as `-O2` would, so the classifier is absent): sizes, and as root the verifier's counts,
/// the same verdict at both levels for every trace header, and final counters equal
/// to the published first matches.
#[test]
fn classbench_sets_thread_without_the_classifier() {
    use sockc_compiler::bpf::lower::lower_program;
    use sockc_testkit::classbench::{self, action_of, ActionPolicy, ConvertOptions};
    let dir = root().join("bench/classbench");
    let in_kernel = kernel();
    for name in ["acl1_1000", "fw1_1000", "ipc1_1000"] {
        let read =
            |suffix: &str| std::fs::read_to_string(dir.join(format!("{name}.rules{suffix}")));
        let filters = classbench::parse_filters(&read("").unwrap()).unwrap();
        let src = classbench::to_sk(
            &filters,
            &ConvertOptions {
                hook: "xdp on eth0".into(),
                policy: ActionPolicy::Alternate,
                default: "drop",
            },
        );
        let o0 = compile(&src, &dir, OptLevel::O0);
        let prog = o0.module.programs.values().next().unwrap();
        let start = std::time::Instant::now();
        // -O2 on the -O0 module: the threading pass, then the driver's choice of the
        // smaller of the threaded and the linear code.
        let mut threaded_module = o0.module.clone();
        sockc_compiler::opt::thread::run(&mut threaded_module);
        let threaded_prog = threaded_module.programs.values().next().unwrap();
        let sizing = sockc_compiler::bpf::maps::Sizing::of(&threaded_module, None);
        let threaded = lower_program(&threaded_module, threaded_prog, &sizing).unwrap();
        let code = if threaded.insns.len() <= o0.programs[0].code.insns.len() {
            threaded
        } else {
            o0.programs[0].code.clone()
        };
        let took = start.elapsed();
        let mut o2 = o0.clone();
        o2.programs[0].code = code;
        let (n0, n2) = (
            o0.programs[0].code.insns.len(),
            o2.programs[0].code.insns.len(),
        );
        println!(
            "{name}: {} rules, linear -O0 {n0} insns, -O2 {n2} ({:.1}%), lowered at -O2 in {:.0} ms",
            prog.rules.len(),
            100.0 * n2 as f64 / n0 as f64,
            took.as_secs_f64() * 1e3
        );
        assert!(n2 <= n0);
        if !in_kernel {
            continue;
        }
        let objects: Vec<_> = [&o0, &o2]
            .iter()
            .map(|c| sockc_runtime::LoadedObject::load(&c.to_elf().unwrap()).unwrap())
            .collect();
        let p = (&objects[0].programs()[0], &objects[1].programs()[0]);
        println!(
            "{name}: verified -O0 {:?} -O2 {:?}, xlated -O0 {:?} -O2 {:?}",
            p.0.verified_insns, p.1.verified_insns, p.0.xlated_insns, p.1.xlated_insns
        );
        let headers = classbench::parse_trace(&read("_trace").unwrap()).unwrap();
        let expected = classbench::parse_expected(&read("_trace.expected").unwrap()).unwrap();
        let spec = sockc_compiler::hooks::spec(prog.hook);
        let mut want = vec![(0u64, 0u64); o0.metadata.counters as usize];
        for (h, first) in headers.iter().zip(&expected) {
            let frame = h.packet().build();
            let slot = first.map_or(prog.default_counter, |r| prog.rules[r].counter);
            want[slot as usize].0 += 1;
            want[slot as usize].1 += frame.len() as u64;
            let verdict = match first {
                Some(r) if action_of(ActionPolicy::Alternate, *r) == "allow" => spec.verdicts.allow,
                _ => spec.verdicts.drop,
            };
            for o in &objects {
                let got = o.test_run(&p.0.symbol, &frame, 1).unwrap().retval;
                assert_eq!(Some(got as i32), verdict, "{name}: {}", h.packet());
            }
        }
        for o in &objects {
            assert_eq!(o.counters().unwrap(), want, "{name}: counters");
        }
    }
}
