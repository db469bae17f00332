//! The kernel's limits, known before the kernel (`compiler/src/limits.rs`,
//! `compiler/src/bpf/limits.rs`): every file `sockc check` accepts loads, and one it
//! refuses for a limit is refused with the limit's name.
//!
//! * `limits_are_the_running_kernels`: a raw program at each limit loads and one just
//!   past it is refused by this kernel (instructions, pending jumps, stack, maps), and
//!   the compiler's measure of each is exact on them.
//! * `the_verifier_walk_stays_under_the_estimate`: for every corpus file and the
//!   ClassBench 1k sets at `-O0` and `-O2` (and a 1,000-rule linear chain), the
//!   instructions the verifier processed are at most the compiler's estimate.
//! * `the_cases_the_kernel_refused_load_or_are_refused_by_name`: the files that
//!   `check` once accepted and the kernel refused — one rule with 9,000
//!   non-adjacent ports, six sets of 5,000 prefixes and six of 5,000 ports in 12
//!   rules, 20,000 `count tcp from A syn !ack` rules, 1,000,000 `count tcp` rules —
//!   and generated files of 20,000 mixed rules: each either loads, or `check`
//!   refuses it with `sockc::kernel-limit` naming a limit; none reaches the kernel and
//!   fails. `SOCKC_LIMITS_SEEDS=N` generates N mixed files per shape (default 2);
//!   `SOCKC_LIMITS_DUMP=DIR` writes every file there.
//!
//! Kernel tests; they need root (see `tests/common`).

use crate::common;

use sockc_testkit::rng::Rng;
use std::time::Instant;

use sockc_compiler::{
    bpf::{
        insn::{Cond, Insn, Reg, Size},
        limits::measure,
        maps::{BtfType, MapDef},
    },
    diag::Diagnostic,
    hooks::HookKind,
    metadata::{Metadata, ProgramMeta, RuleMeta, METADATA_FORMAT},
    obj::{write_object, ObjectImage, ProgramImage},
    opt::OptLevel,
    Compiled, Options,
};
use sockc_runtime::LoadedObject;

const XDP_PASS: i32 = 2;

/// An object of one XDP program `insns` (map relocations `relocs`) over `maps`.
fn raw_object(insns: Vec<Insn>, relocs: Vec<(usize, String)>, maps: Vec<MapDef>) -> Vec<u8> {
    let meta = Metadata {
        format: METADATA_FORMAT,
        programs: vec![ProgramMeta {
            symbol: "xdp_probe".into(),
            hook: HookKind::Xdp,
            attach_to: "lo".into(),
            rules: vec![RuleMeta {
                counter: 0,
                line: 1,
                text: "default allow".into(),
                socket: None,
            }]
            .into(),
            socket_slots: Vec::new(),
            netns_cookie: Vec::new(),
            kernel_refs: Vec::new(),
            attach_map: None,
        }],
        map_contents: Vec::new(),
        counters: 1,
        tables: Vec::new(),
        sockets: Vec::new(),
        answers: None,
        cgroups: Vec::new(),
        durable_maps: Vec::new(),
    };
    let json = serde_json::to_vec(&meta).expect("metadata");
    write_object(&ObjectImage {
        programs: vec![ProgramImage {
            name: "xdp_probe".into(),
            section: "xdp".into(),
            insns,
            map_relocs: relocs,
        }],
        maps,
        license: "GPL".into(),
        metadata: &json,
        tables: &[],
    })
    .expect("object")
}

fn code(insns: &[Insn], relocs: &[(usize, String)]) -> sockc_compiler::bpf::buffer::Code {
    sockc_compiler::bpf::buffer::Code {
        insns: insns.to_vec(),
        map_relocs: relocs.to_vec(),
        ..Default::default()
    }
}

/// Loads a raw object; `Err` with the kernel's complaint (the log's last lines).
fn try_load(elf: &[u8]) -> Result<(), String> {
    LoadedObject::load(elf).map(|_| ()).map_err(|e| {
        let text = sockc_runtime::error_chain(&e);
        text.lines().rev().take(6).collect::<Vec<_>>().join(" | ")
    })
}

/// `k` conditional jumps on an unknown value, each to the exit: the verifier walks
/// every fall-through first and has all `k` targets pending at the end.
fn jump_chain(k: usize) -> Vec<Insn> {
    let mut v = vec![
        Insn::call(aya_obj::generated::bpf_func_id::BPF_FUNC_get_prandom_u32 as u32),
        Insn::mov64_reg(Reg::R6, Reg::R0),
    ];
    for i in 0..k {
        let to_exit = (k - i) as i16; // over the remaining jumps to `r0 = 2`
        v.push(Insn::jmp_imm(Cond::Eq, Reg::R6, i as i32, to_exit));
    }
    v.extend([Insn::mov64_imm(Reg::R0, XDP_PASS), Insn::exit()]);
    v
}

fn one_entry_array(name: String) -> MapDef {
    MapDef {
        name,
        map_type: aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_ARRAY as u32,
        key: BtfType::U32,
        value: BtfType::U32,
        max_entries: 1,
        flags: 0,
    }
}

#[test]
fn limits_are_the_running_kernels() {
    if !common::kernel() {
        return;
    }
    use sockc_compiler::kernel_limits::{
        MAX_INSNS, MAX_JUMP_SEQUENCE, MAX_PROGRAM_MAPS, MAX_STACK,
    };
    // Pending jumps.
    for k in [MAX_JUMP_SEQUENCE, MAX_JUMP_SEQUENCE + 1] {
        let insns = jump_chain(k);
        assert_eq!(measure(&code(&insns, &[])).jump_sequence, k);
        let got = try_load(&raw_object(insns, vec![], vec![]));
        if k <= MAX_JUMP_SEQUENCE {
            got.unwrap_or_else(|e| panic!("{k} pending jumps: refused: {e}"));
        } else {
            let e = got.expect_err("one pending jump past the limit loads");
            assert!(e.contains("jumps is too complex"), "{e}");
        }
    }
    // Instructions.
    for n in [MAX_INSNS, MAX_INSNS + 1] {
        let mut insns = vec![Insn::mov64_imm(Reg::R0, XDP_PASS); n - 1];
        insns.push(Insn::exit());
        assert_eq!(measure(&code(&insns, &[])).insns, n);
        let got = try_load(&raw_object(insns, vec![], vec![]));
        assert_eq!(got.is_ok(), n <= MAX_INSNS, "{n} instructions: {got:?}");
    }
    // Stack.
    for depth in [MAX_STACK, MAX_STACK + 8] {
        let insns = vec![
            Insn::st_imm(Size::DW, Reg::FP, -(depth as i16), 0),
            Insn::mov64_imm(Reg::R0, XDP_PASS),
            Insn::exit(),
        ];
        assert_eq!(measure(&code(&insns, &[])).stack, depth);
        let got = try_load(&raw_object(insns, vec![], vec![]));
        assert_eq!(
            got.is_ok(),
            depth <= MAX_STACK,
            "{depth} bytes of stack: {got:?}"
        );
    }
    // Maps.
    for n in [MAX_PROGRAM_MAPS, MAX_PROGRAM_MAPS + 1] {
        let maps: Vec<MapDef> = (0..n).map(|i| one_entry_array(format!("m{i}"))).collect();
        let mut insns = Vec::new();
        let mut relocs = Vec::new();
        for m in &maps {
            relocs.push((insns.len(), m.name.clone()));
            insns.extend(Insn::ld_map_fd(Reg::R1));
        }
        insns.extend([Insn::mov64_imm(Reg::R0, XDP_PASS), Insn::exit()]);
        assert_eq!(measure(&code(&insns, &relocs)).maps, n);
        let got = try_load(&raw_object(insns, relocs, maps));
        assert_eq!(got.is_ok(), n <= MAX_PROGRAM_MAPS, "{n} maps: {got:?}");
    }
}

fn compile(src: &str, level: OptLevel) -> (Option<Compiled>, Vec<Diagnostic>) {
    sockc_compiler::compile(
        src,
        &Options {
            opt: level,
            ..Options::default()
        },
    )
}

/// ClassBench 1k filter files converted as the other tests do.
fn classbench_1k() -> Vec<(String, String)> {
    use sockc_testkit::classbench::{self, ActionPolicy, ConvertOptions};
    ["acl1", "fw1", "ipc1"]
        .iter()
        .map(|s| {
            let p = common::root().join(format!("bench/classbench/{s}_1000.rules"));
            let text = std::fs::read_to_string(&p).expect("vendored ClassBench");
            let filters = classbench::parse_filters(&text).expect("filters");
            let src = classbench::to_sk(
                &filters,
                &ConvertOptions {
                    hook: "xdp on eth0".into(),
                    policy: ActionPolicy::Alternate,
                    default: "drop",
                },
            );
            (format!("{s}_1000"), src)
        })
        .collect()
}

/// A chain of `n` linear count rules, each on its own address, with flag tests.
fn count_chain(n: usize) -> String {
    let mut s = String::from("xdp on eth0 {\n");
    for i in 0..n {
        s.push_str(&format!(
            "    count tcp from 10.{}.{}.{} syn !ack\n",
            i / 65536,
            (i / 256) % 256,
            i % 256
        ));
    }
    s + "    default allow\n}\n"
}

#[test]
fn the_verifier_walk_stays_under_the_estimate() {
    if !common::kernel() {
        return;
    }
    let mut files: Vec<(String, String)> = common::rule_files()
        .into_iter()
        .map(|p| {
            let src = std::fs::read_to_string(&p).expect("rule file");
            (p.display().to_string(), src)
        })
        .collect();
    files.extend(classbench_1k());
    files.push(("1,000 linear count rules".into(), count_chain(1000)));
    let mut worst: f64 = 0.0;
    for (name, src) in &files {
        for level in [OptLevel::O0, OptLevel::O2] {
            let Some(c) = compile(src, level).0 else {
                continue;
            };
            let obj = LoadedObject::load(&c.to_elf().expect("object"))
                .unwrap_or_else(|e| panic!("{name} {level:?}: refused: {e}"));
            for (p, loaded) in c.programs.iter().zip(obj.programs()) {
                let estimate = measure(&p.code).processed;
                let processed = loaded.verified_insns.expect("verified_insns") as usize;
                assert!(
                    processed <= estimate,
                    "{name} {level:?} {}: the verifier processed {processed}, estimate {estimate}",
                    p.symbol
                );
                worst = worst.max(processed as f64 / estimate as f64);
            }
        }
    }
    println!(
        "processed / estimate: at most {worst:.2} over {} files",
        files.len()
    );
}

/// One rule on 9,000 non-adjacent ports.
fn ports_9000() -> String {
    let ports: Vec<String> = (0..9000).map(|i| (1 + 7 * i).to_string()).collect();
    format!(
        "set q = {{ {} }}\nxdp on eth0 {{\n    drop tcp to *:@q\n    default allow\n}}\n",
        ports.join(", ")
    )
}

/// Six sets of 5,000 prefixes and six of 5,000 ports, used in 12 rules.
fn six_big_sets() -> String {
    let mut s = String::new();
    for k in 0..6u32 {
        let nets: Vec<String> = (0..5000u32)
            .map(|i| format!("{}.{}.{}.0/24", 10 + k, i / 256, i % 256))
            .collect();
        s.push_str(&format!("set a{k} = {{ {} }}\n", nets.join(", ")));
        let ports: Vec<String> = (0..5000u32).map(|i| (1 + 13 * i + k).to_string()).collect();
        s.push_str(&format!("set p{k} = {{ {} }}\n", ports.join(", ")));
    }
    s.push_str("xdp on eth0 {\n");
    for k in 0..6 {
        s.push_str(&format!("    drop tcp from @a{k} to *:@p{k}\n"));
        s.push_str(&format!("    allow udp to @a{k}:@p{k}\n"));
    }
    s + "    default allow\n}\n"
}

/// 1,000,000 `count tcp` rules.
fn million_counts() -> String {
    let mut s = String::with_capacity(15_000_000);
    s.push_str("xdp on eth0 {\n");
    for _ in 0..1_000_000 {
        s.push_str("    count tcp\n");
    }
    s + "    default allow\n}\n"
}

/// A rule the classifier takes: addresses (literal, wide or a set), ports, protocol,
/// sometimes TCP flags.
fn acl_rule(r: &mut Rng, sets: usize) -> String {
    let action = r.pick(&["allow", "drop"]);
    let proto = r.pick(&["tcp", "udp", "tcp", "ip4", "ip6 tcp"]);
    let v6 = proto.starts_with("ip6");
    let addr = |r: &mut Rng| -> String {
        match r.below(10) {
            0 => "*".into(),
            1 if sets > 0 && !v6 => format!("@s{}", r.below(sets)),
            2 | 3 if !v6 => format!("{}.{}.0.0/16", r.below(224), r.below(256)),
            _ if v6 => format!("2001:db8:{:x}:{:x}::/64", r.below(65536), r.below(65536)),
            _ => format!(
                "{}.{}.{}.{}",
                r.below(224),
                r.below(256),
                r.below(256),
                r.below(256)
            ),
        }
    };
    let port = |r: &mut Rng| -> String {
        match r.below(6) {
            0 => String::new(),
            1 => format!(":{}-{}", 1024 + r.below(1000), 2048 + r.below(60000)),
            _ => format!(":{}", 1 + r.below(65534)),
        }
    };
    let (src, dst) = (addr(r), addr(r));
    let dport = if !v6 && (proto.contains("tcp") || proto.contains("udp")) {
        port(r)
    } else {
        String::new()
    };
    let dst = format!("{dst}{dport}");
    let flags = if proto.contains("tcp") && r.below(8) == 0 {
        " syn !ack"
    } else {
        ""
    };
    format!("    {action} {proto} from {src} to {dst}{flags}\n")
}

/// A rule the classifier does not take: a socket condition, an ICMP type, a count
/// rule that overlaps others, a long port list.
fn special_rule(r: &mut Rng) -> String {
    match r.below(5) {
        0 => format!("    allow tcp to *:{} if listening\n", 1 + r.below(65534)),
        1 => "    allow tcp if established\n".into(),
        2 => format!("    drop icmp type {}\n", r.below(16)),
        3 => format!("    count tcp to *:{}\n", 1 + r.below(1024)),
        _ => "    drop udp to *:@ports\n".into(),
    }
}

/// 20,000 mixed rules over a few sets. `sprinkled`: special rules one in five,
/// anywhere (runs stay short); else in sections of 5 to 30 between sections of 100
/// to 3,000 classifiable rules, as a real rule file is laid out.
fn mixed(seed: u64, sprinkled: bool) -> String {
    let mut r = Rng::seeded(seed);
    let mut s = String::new();
    let sets = 4;
    for k in 0..sets {
        let n = 2 + r.below(if k == 0 { 2000 } else { 50 });
        let nets: Vec<String> = (0..n)
            .map(|_| format!("{}.{}.{}.0/24", r.below(224), r.below(256), r.below(256)))
            .collect();
        s.push_str(&format!("set s{k} = {{ {} }}\n", nets.join(", ")));
    }
    let ports: Vec<String> = (0..40).map(|i| (1000 + 17 * i).to_string()).collect();
    s.push_str(&format!("set ports = {{ {} }}\n", ports.join(", ")));
    s.push_str("xdp on eth0 {\n");
    let mut written = 0;
    while written < 20_000 {
        if sprinkled {
            s.push_str(&if r.below(5) == 0 {
                special_rule(&mut r)
            } else {
                acl_rule(&mut r, sets)
            });
            written += 1;
            continue;
        }
        for _ in 0..5 + r.below(26) {
            s.push_str(&special_rule(&mut r));
            written += 1;
        }
        for _ in 0..100 + r.below(2900) {
            s.push_str(&acl_rule(&mut r, sets));
            written += 1;
        }
    }
    s + "    default drop\n}\n"
}

/// Compiles `src`; if it compiles it must load; if not, the errors must be kernel
/// limits with a name. Returns what happened.
fn loads_or_is_refused_by_name(name: &str, src: &str) -> String {
    let start = Instant::now();
    let (c, diags) = compile(src, OptLevel::O2);
    let compile_ms = start.elapsed().as_secs_f64() * 1e3;
    match c {
        Some(c) => {
            let obj = LoadedObject::load(&c.to_elf().expect("object")).unwrap_or_else(|e| {
                panic!("{name}: `check` accepts it but the kernel refuses it: {e}")
            });
            let p = &obj.programs()[0];
            format!(
                "loads: {} insns, {} processed, verifier {:.1} ms (compile {compile_ms:.0} ms)",
                p.xlated_insns.unwrap_or(0),
                p.verified_insns.unwrap_or(0),
                p.load_time.as_secs_f64() * 1e3
            )
        }
        None => {
            let errors: Vec<&Diagnostic> = diags.iter().filter(|d| d.is_error()).collect();
            assert!(!errors.is_empty(), "{name}: no result and no error");
            for e in &errors {
                assert_eq!(e.code, "sockc::kernel-limit", "{name}: {}", e.message);
                assert!(
                    e.message.contains("limit (") || e.message.contains("budget ("),
                    "{name}: the error names no limit: {}",
                    e.message
                );
                assert!(!e.labels.is_empty() && e.help.is_some(), "{name}: {e:?}");
            }
            format!("refused before the kernel: {}", errors[0].message)
        }
    }
}

#[test]
fn the_cases_the_kernel_refused_load_or_are_refused_by_name() {
    if !common::kernel() {
        return;
    }
    let seeds: u64 = std::env::var("SOCKC_LIMITS_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let mut cases: Vec<(String, String, Option<bool>)> = vec![
        ("9,000 ports in one rule".into(), ports_9000(), Some(true)),
        (
            "six 5,000-prefix and six 5,000-port sets".into(),
            six_big_sets(),
            Some(true),
        ),
        (
            "20,000 count tcp from A syn !ack".into(),
            count_chain(20_000),
            Some(true),
        ),
        ("1,000,000 count tcp".into(), million_counts(), Some(false)),
    ];
    for seed in 0..seeds {
        cases.push((
            format!("20,000 mixed rules in sections, seed {seed}"),
            mixed(seed, false),
            Some(true),
        ));
        cases.push((
            format!("20,000 mixed rules sprinkled, seed {seed}"),
            mixed(seed, true),
            None,
        ));
    }
    let dump = std::env::var_os("SOCKC_LIMITS_DUMP").map(std::path::PathBuf::from);
    for (name, src, want_load) in &cases {
        if let Some(dir) = &dump {
            let file: String = name
                .chars()
                .map(|c| if c.is_alphanumeric() { c } else { '_' })
                .collect();
            std::fs::write(dir.join(format!("{file}.sk")), src).expect("dump");
        }
        let got = loads_or_is_refused_by_name(name, src);
        println!("{name}: {got}");
        if let Some(load) = want_load {
            assert_eq!(got.starts_with("loads"), *load, "{name}: {got}");
        }
    }
}
