//! The rule corpus in the kernel: compiled objects go through the real verifier and
//! run on crafted packets with `BPF_PROG_TEST_RUN` (the verdict tables of [`tables`],
//! [`ext6`], [`frames`], [`cgroup`], [`devices`] and [`sk_lookup`], the verifier's work in [`verifier_work`]).
//!
//! They need root. Without it every test prints `SKIP (not root): NAME` and passes,
//! unless `SOCKC_KERNEL_TESTS=require`, which turns the skip into a failure (for CI
//! machines that are supposed to run them). The rule files these tests use live in
//! `rules/kernel/`; the verdict tables name rules by their text, so the files can be
//! edited without renumbering anything here.
//!
//! Kernel limits the tables work around: `BPF_PROG_TEST_RUN` refuses frames shorter
//! than 14 bytes, and for TC (SCHED_CLS) it also refuses (EINVAL) an IPv4 or IPv6
//! EtherType frame shorter than the fixed IP header (34 / 54 bytes). So the TC
//! tables cut IP headers short behind a VLAN tag, which the kernel does not look
//! into, and their 14-byte frames are non-IP.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    process::Command,
};

use sockc_compiler::{
    hooks::{spec, HookKind},
    metadata::Metadata,
    opt::OptLevel,
    syntax::ast::Verdict,
    Compiled, Options,
};
use sockc_runtime::LoadedObject;
use sockc_testkit::{
    eval::{self, Decider, Facts, Outcome},
    packet::parse_packet,
};

use crate::common;
mod cgroup;
mod devices;
mod ext6;
mod frames;
mod ipfield;
mod sk_lookup;
mod tables;
mod verifier_work;

use common::{kernel, required, root, rule_files, test_name};

// ---- helpers ----------------------------------------------------------------------

fn compile_at(src: &str, base_dir: Option<&Path>, level: OptLevel) -> Option<Compiled> {
    let mut opts = Options::default();
    opts.sema.base_dir = base_dir.map(Path::to_path_buf);
    opts.opt = level;
    sockc_compiler::compile(src, &opts).0
}

/// Every rule file that compiles (files meant to fail are skipped), as
/// (path relative to the package, object), at the default level.
fn compiled_rule_files() -> Vec<(String, Compiled)> {
    compiled_rule_files_at(OptLevel::default())
}

fn compiled_rule_files_at(level: OptLevel) -> Vec<(String, Compiled)> {
    rule_files()
        .into_iter()
        .filter_map(|p| {
            let src = std::fs::read_to_string(&p).expect("read rule file");
            let c = compile_at(&src, p.parent(), level)?;
            let rel = p.strip_prefix(root()).unwrap_or(&p).display().to_string();
            Some((rel, c))
        })
        .collect()
}

/// Compiles a rule file under `rules/kernel/` and loads it, panicking with the
/// diagnostics or the verifier log.
fn load_kernel_rules(name: &str) -> LoadedObject {
    let path = root().join("rules/kernel").join(name);
    let src = std::fs::read_to_string(&path).expect("read rule file");
    let mut opts = Options::default();
    opts.sema.base_dir = path.parent().map(Path::to_path_buf);
    let (c, diags) = sockc_compiler::compile(&src, &opts);
    let c = c.unwrap_or_else(|| panic!("{name} does not compile: {diags:#?}"));
    load(&c, name)
}

fn load(c: &Compiled, what: &str) -> LoadedObject {
    let elf = c.to_elf().unwrap_or_else(|e| panic!("{what}: to_elf: {e}"));
    LoadedObject::load(&elf).unwrap_or_else(|e| panic!("{what}: load: {e}"))
}

fn counters(obj: &LoadedObject) -> BTreeMap<u32, (u64, u64)> {
    obj.counters()
        .expect("read counters")
        .into_iter()
        .enumerate()
        .map(|(i, c)| (i as u32, c))
        .collect()
}

fn symbol_of(meta: &Metadata, hook: HookKind) -> String {
    meta.programs
        .iter()
        .find(|p| p.hook == hook)
        .unwrap_or_else(|| panic!("no `{hook}` program"))
        .symbol
        .clone()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum V {
    Allow,
    Drop,
}

fn code(kind: HookKind, v: V) -> u32 {
    let s = spec(kind);
    let c = match v {
        V::Allow => s.verdicts.allow,
        V::Drop => s.verdicts.drop,
    };
    c.expect("packet hooks have allow and drop") as u32
}

/// The bytes a program of `kind` counts for a frame of `len` bytes: all of them, or
/// from the network header on where the hook sees no link header (cgroup_skb).
fn counted_bytes(kind: HookKind, len: usize) -> u64 {
    match spec(kind).context {
        sockc_compiler::hooks::Context::Packet(ctx) if ctx.protocol.is_some() => len as u64 - 14,
        // A netfilter program counts the packet from its network header on too.
        sockc_compiler::hooks::Context::Netfilter => len as u64 - 14,
        _ => len as u64,
    }
}

/// Runs `frame` through `symbol` once and checks the verdict and the counters:
/// `rule` (matched by its text, `default` for the default) and every rule in
/// `counts` gain exactly one packet and the frame's bytes ([`counted_bytes`]); no
/// other slot moves.
fn check_case(
    obj: &LoadedObject,
    kind: HookKind,
    symbol: &str,
    label: &str,
    frame: &[u8],
    (want, rule, counts): (V, &str, &[&str]),
) -> Result<(), String> {
    let prog = obj
        .metadata()
        .programs
        .iter()
        .find(|p| p.symbol == symbol)
        .expect("program in metadata");
    let slot = |text: &str| -> u32 {
        let found = if text == "default" {
            prog.rules.last()
        } else {
            prog.rules.iter().find(|r| &*r.text == text)
        };
        found
            .unwrap_or_else(|| panic!("no rule `{text}` in {symbol}"))
            .counter
    };
    let mut expect_slots: HashMap<u32, &str> = HashMap::new();
    for t in std::iter::once(&rule).chain(counts) {
        assert!(
            expect_slots.insert(slot(t), t).is_none(),
            "`{t}` listed twice"
        );
    }
    let before = counters(obj);
    let r = obj
        .test_run(symbol, frame, 1)
        .map_err(|e| format!("{label}: test_run: {e}"))?;
    let after = counters(obj);
    let mut errs = Vec::new();
    if r.retval != code(kind, want) {
        errs.push(format!(
            "verdict {} (want {want:?} = {})",
            r.retval,
            code(kind, want)
        ));
    }
    for (s, (p1, b1)) in &after {
        let (p0, b0) = before[s];
        let (dp, db) = (p1 - p0, b1 - b0);
        let name = prog
            .rules
            .iter()
            .find(|r| r.counter == *s)
            .map(|r| format!("line {} `{}`", r.line, r.text))
            .unwrap_or_else(|| format!("slot {s} (other program)"));
        match expect_slots.get(s) {
            Some(_) if (dp, db) != (1, counted_bytes(kind, frame.len())) => errs.push(format!(
                "{name}: +{dp} packets +{db} bytes (want +1 / +{})",
                counted_bytes(kind, frame.len())
            )),
            None if (dp, db) != (0, 0) => errs.push(format!(
                "{name}: +{dp} packets +{db} bytes (want no change)"
            )),
            _ => {}
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{label} [{} bytes] want {want:?} by `{rule}`: {}",
            frame.len(),
            errs.join("; ")
        ))
    }
}

/// A named raw edit of a built frame.
type Patch = (&'static str, fn(&mut [u8]));

/// One row of a verdict table.
struct Case {
    /// Packet in `sockc test --packet` syntax.
    pkt: &'static str,
    /// Raw edit of the built frame, for what the packet syntax cannot say.
    patch: Option<Patch>,
    want: V,
    /// Text of the rule that decides, or `default`.
    rule: &'static str,
    /// `count` rules the packet matches on the way.
    counts: &'static [&'static str],
    /// Known bug: the case is reported but does not fail the table.
    bug: Option<&'static str>,
}

fn c(pkt: &'static str, want: V, rule: &'static str, counts: &'static [&'static str]) -> Case {
    Case {
        pkt,
        patch: None,
        want,
        rule,
        counts,
        bug: None,
    }
}

impl Case {
    fn patched(mut self, what: &'static str, f: fn(&mut [u8])) -> Case {
        self.patch = Some((what, f));
        self
    }
}

/// The reference evaluator, given `facts` (the devices, sockets and the like a test
/// run has), decides each case as the table says, with the same `count` rules on the
/// way (the kernel is checked by `run_table`).
fn evaluator_agrees(c: &Compiled, cases: &[Case], facts: &Facts) {
    let prog = c.module.programs.values().next().unwrap();
    for case in cases {
        let frame = parse_packet(case.pkt).unwrap().build();
        let e = eval::evaluate(&c.module, prog, &frame, facts);
        let decider = match e.decider {
            Decider::Rule(i) => &*prog.rules[i].text,
            Decider::Default => "default",
        };
        let want = match case.want {
            V::Allow => Verdict::Allow,
            V::Drop => Verdict::Drop,
        };
        let counted: Vec<&str> = e.counted.iter().map(|&i| &*prog.rules[i].text).collect();
        assert_eq!(
            (decider, e.outcome, counted.as_slice()),
            (case.rule, Outcome::Verdict(want), case.counts),
            "evaluator on `{}`",
            case.pkt
        );
    }
}

fn run_table(obj: &LoadedObject, kind: HookKind, cases: &[Case]) -> usize {
    let hook = spec(kind).name;
    let symbol = symbol_of(obj.metadata(), kind);
    let mut failures = Vec::new();
    for case in cases {
        let spec = parse_packet(case.pkt).unwrap_or_else(|e| panic!("`{}`: {e}", case.pkt));
        let mut frame = spec.build();
        let mut label = case.pkt.to_string();
        if let Some((what, f)) = case.patch {
            f(&mut frame);
            label = format!("{label} [{what}]");
        }
        assert!(frame.len() >= 14, "{label}: frames must be >= 14 bytes");
        let res = check_case(
            obj,
            kind,
            &symbol,
            &label,
            &frame,
            (case.want, case.rule, case.counts),
        );
        match (res, case.bug) {
            (Ok(()), None) => println!("  ok   {hook:<10} {label}"),
            (Ok(()), Some(bug)) => {
                failures.push(format!("{label}: marked as a bug ({bug}) but passes"))
            }
            (Err(e), None) => {
                println!("  FAIL {hook:<10} {e}");
                failures.push(e);
            }
            (Err(e), Some(bug)) => println!("  BUG  {hook:<10} {e} (known: {bug})"),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} {hook} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    cases.len()
}

fn set_ethertype(f: &mut [u8], et: u16) {
    f[12..14].copy_from_slice(&et.to_be_bytes());
}

/// Compiles and loads an inline rule file, then runs a verdict table on one hook.
fn load_and_run(src: &str, kind: HookKind, cases: &[Case]) {
    let (c, diags) = sockc_compiler::compile(src, &Options::default());
    let c = c.unwrap_or_else(|| panic!("does not compile: {diags:#?}"));
    let obj = load(&c, "inline rules");
    run_table(&obj, kind, cases);
}

/// Regression: a rule with no match (`drop`) always decides; code after it would be
/// unreachable, which the verifier rejects (`unreachable insn`), so none is emitted.
/// It loads, and every packet is dropped by the `drop` rule (its counter, not the
/// default's, moves).
#[test]
fn unconditional_rule_leaves_no_unreachable_code() {
    if !kernel() {
        return;
    }
    let src = "tc ingress on lo {\n    drop\n    default allow\n}\n";
    load_and_run(
        src,
        HookKind::TcIngress,
        &[
            c("tcp 10.0.0.1:1 -> 10.0.0.2:2", V::Drop, "drop", &[]),
            c("tcp 10.0.0.1:1 -> 10.0.0.2:2", V::Drop, "drop", &[])
                .patched("ethertype ARP", |f| set_ethertype(f, 0x0806)),
        ],
    );
    let src = "xdp on lo {\n    allow\n    drop tcp\n    default drop\n}\n";
    load_and_run(
        src,
        HookKind::Xdp,
        &[c("tcp 10.0.0.1:1 -> 10.0.0.2:2", V::Allow, "allow", &[])],
    );
}

/// Regression: `drop ip4 from @v6only`, where the set has no IPv4 element, can never
/// match; its body would be unreachable code (`unreachable insn`), so none is
/// emitted. It loads and the rule never matches (IPv4 and IPv6 packets from inside
/// the set's prefix both reach the default).
#[test]
fn rule_that_cannot_match_leaves_no_unreachable_code() {
    if !kernel() {
        return;
    }
    let src = "set v6only = { 2001:db8::/32 }\n\
               xdp on lo {\n    drop ip4 from @v6only\n    default allow\n}\n";
    load_and_run(
        src,
        HookKind::Xdp,
        &[
            c("tcp 10.0.0.1:1 -> 10.0.0.2:2", V::Allow, "default", &[]),
            c(
                "tcp [2001:db8::1]:1 -> [2001:db8::2]:2",
                V::Allow,
                "default",
                &[],
            ),
        ],
    );
}

/// A set of whole addresses is a hash map keyed as a trie is (`{prefixlen; addr}`), and
/// the kernel's exact lookup finds what the trie's would: its IPv4 and IPv6 elements,
/// as source and as destination, at XDP and TC; an address next to one, or inside a
/// prefix of the other family's trie but not an element, is not in it.
#[test]
fn a_set_of_whole_addresses_is_a_hash_map_the_kernel_finds_elements_in() {
    if !kernel() {
        return;
    }
    for (hook, kind) in [
        ("xdp on lo", HookKind::Xdp),
        ("tc ingress on lo", HookKind::TcIngress),
    ] {
        let src = format!(
            "set b = {{ 192.0.2.7, 198.51.100.1, 2001:db8::1, 2001:db8::2 }}\n\
             set p = {{ 203.0.113.0/24, 2001:db8:1::9 }}\n\
             {hook} {{\n    drop from @b\n    drop udp to @b\n    drop tcp from @p\n    default allow\n}}\n"
        );
        let (compiled, diags) = sockc_compiler::compile(&src, &Options::default());
        let compiled = compiled.unwrap_or_else(|| panic!("does not compile: {diags:#?}"));
        let hash = aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_HASH as u32;
        let trie = aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_LPM_TRIE as u32;
        let kinds: Vec<(&str, u32)> = compiled
            .maps
            .iter()
            .map(|m| (m.name.as_str(), m.map_type))
            .filter(|(n, _)| n.starts_with("set_"))
            .collect();
        assert_eq!(
            kinds,
            [
                ("set_b_v4", hash),
                ("set_b_v6", hash),
                ("set_p_v4", trie),
                ("set_p_v6", hash)
            ],
            "{hook}"
        );
        let obj = load(&compiled, "inline rules");
        run_table(
            &obj,
            kind,
            &[
                c(
                    "tcp 192.0.2.7:1 -> 10.0.0.2:2",
                    V::Drop,
                    "drop from @b",
                    &[],
                ),
                c("tcp 192.0.2.8:1 -> 10.0.0.2:2", V::Allow, "default", &[]),
                c(
                    "udp 10.0.0.1:1 -> 198.51.100.1:53",
                    V::Drop,
                    "drop udp to @b",
                    &[],
                ),
                c(
                    "tcp [2001:db8::2]:1 -> [2001:db8::9]:2",
                    V::Drop,
                    "drop from @b",
                    &[],
                ),
                c(
                    "tcp [2001:db8::3]:1 -> [2001:db8::9]:2",
                    V::Allow,
                    "default",
                    &[],
                ),
                c(
                    "udp [2001:db8::9]:1 -> [2001:db8::1]:53",
                    V::Drop,
                    "drop udp to @b",
                    &[],
                ),
                c(
                    "tcp 203.0.113.9:1 -> 10.0.0.2:2",
                    V::Drop,
                    "drop tcp from @p",
                    &[],
                ),
                c(
                    "tcp [2001:db8:1::9]:1 -> [2001:db8::9]:2",
                    V::Drop,
                    "drop tcp from @p",
                    &[],
                ),
                c(
                    "tcp [2001:db8:1::8]:1 -> [2001:db8::9]:2",
                    V::Allow,
                    "default",
                    &[],
                ),
            ],
        );
    }
}

// ---- 1. the verifier --------------------------------------------------------------

/// Every rule file under `rules/` that compiles also loads, at `-O2` and at `-O0`:
/// every program passes the kernel verifier and the set maps fill. Prints instruction
/// counts and load times.
#[test]
fn every_rule_file_passes_the_verifier() {
    if !kernel() {
        return;
    }
    let mut files = compiled_rule_files();
    files.extend(
        compiled_rule_files_at(OptLevel::O0)
            .into_iter()
            .map(|(path, c)| (format!("{path} -O0"), c)),
    );
    println!(
        "{:<28} {:<15} {:<11} {:>7} {:>9} {:>9}",
        "file", "program", "hook", "xlated", "verified", "load ms"
    );
    let mut failures = Vec::new();
    for (path, c) in &files {
        let elf = c.to_elf().unwrap_or_else(|e| panic!("{path}: to_elf: {e}"));
        match LoadedObject::load(&elf) {
            Ok(obj) => {
                for p in obj.programs() {
                    println!(
                        "{:<28} {:<15} {:<11} {:>7} {:>9} {:>9.2}",
                        path,
                        p.symbol,
                        p.hook,
                        p.xlated_insns.map_or("?".into(), |n| n.to_string()),
                        p.verified_insns.map_or("?".into(), |n| n.to_string()),
                        p.load_time.as_secs_f64() * 1e3
                    );
                }
                assert_eq!(obj.programs().len(), c.metadata.programs.len(), "{path}");
            }
            Err(e) => {
                println!("{path:<28} FAILED: {e}");
                failures.push(format!("{path}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        files.len() >= 5,
        "only {} rule files compiled; expected at least 5",
        files.len()
    );
}

// ---- 2. libbpf (bpftool) ----------------------------------------------------------

/// Removes a bpffs pin directory when dropped, also when the test fails.
struct PinDir(PathBuf);

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = Command::new("rm").arg("-rf").arg(&self.0).status();
    }
}

/// Removes a temporary file when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The same objects load with libbpf too: `bpftool prog loadall` (which derives
/// program types from the section names and creates the BTF-defined maps) succeeds
/// for every compiled rule file, and pins one program per hook block.
#[test]
fn bpftool_loadall_accepts_the_objects() {
    if !kernel() {
        return;
    }
    let bpftool = Command::new("bpftool").arg("version").output();
    if !bpftool.is_ok_and(|o| o.status.success()) {
        assert!(!required(), "bpftool is not installed");
        println!("SKIP (no bpftool): {}", test_name());
        return;
    }
    let files = compiled_rule_files();
    assert!(files.len() >= 5, "only {} rule files compiled", files.len());
    let pid = std::process::id();
    let mut failures = Vec::new();
    for (n, (path, c)) in files.iter().enumerate() {
        // Kfunc ids and kernel struct offsets are placeholders until sockc's loader
        // fills them in from the kernel's BTF (`ct state`): libbpf cannot load those.
        if c.metadata
            .programs
            .iter()
            .any(|p| !p.kernel_refs.is_empty())
        {
            println!("skip {path}: needs the running kernel's BTF ids, filled in by sockc");
            continue;
        }
        let elf = c.to_elf().unwrap_or_else(|e| panic!("{path}: to_elf: {e}"));
        let tmp = TempFile(std::env::temp_dir().join(format!("sockc_kt_{pid}_{n}.o")));
        std::fs::write(&tmp.0, &elf).expect("write object");
        let pin = PinDir(PathBuf::from(format!("/sys/fs/bpf/sockc_kt_{pid}_{n}")));
        let out = Command::new("bpftool")
            .args(["prog", "loadall"])
            .arg(&tmp.0)
            .arg(&pin.0)
            .output()
            .expect("run bpftool");
        if !out.status.success() {
            failures.push(format!(
                "{path}: bpftool prog loadall failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
            continue;
        }
        let mut pinned: Vec<String> = std::fs::read_dir(&pin.0)
            .map(|d| {
                d.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        pinned.sort();
        let mut want: Vec<String> = c
            .metadata
            .programs
            .iter()
            .map(|p| p.symbol.clone())
            .collect();
        want.sort();
        println!("{path:<28} pinned {}", pinned.join(", "));
        if pinned != want {
            failures.push(format!("{path}: pinned {pinned:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---- 4. scale -----------------------------------------------------------------------

/// A generated file of 1,000 rules (`drop tcp from 10.X.Y.0/24 to *:PORT`, every rule
/// a different prefix and port) compiles, passes the verifier, and decides right for
/// a packet matching the first rule, one matching the last, and ones matching none
/// (right prefix with the wrong port, and vice versa). Prints size and load time.
#[test]
fn thousand_rules_load_and_decide() {
    if !kernel() {
        return;
    }
    const N: usize = 1000;
    let prefix = |i: usize| format!("10.{}.{}.0", i / 200, i % 200);
    let mut src = String::from("# generated by tests/kernel/programs.rs\nxdp on lo {\n");
    for i in 0..N {
        src.push_str(&format!(
            "    drop tcp from {}/24 to *:{}\n",
            prefix(i),
            1000 + i
        ));
    }
    src.push_str("    default allow\n}\n");
    let start = std::time::Instant::now();
    let (compiled, diags) = sockc_compiler::compile(&src, &Options::default());
    let compiled = compiled.unwrap_or_else(|| panic!("does not compile: {diags:#?}"));
    let compile_time = start.elapsed();
    let obj = load(&compiled, "1000 rules");
    for p in obj.programs() {
        println!(
            "{N} rules: {} bytecode insns, {} xlated, {} verified, compile {:.1} ms, load {:.1} ms",
            compiled.programs[0].code.insns.len(),
            p.xlated_insns.map_or("?".into(), |n| n.to_string()),
            p.verified_insns.map_or("?".into(), |n| n.to_string()),
            compile_time.as_secs_f64() * 1e3,
            p.load_time.as_secs_f64() * 1e3
        );
    }
    let rule = |i: usize| format!("drop tcp from {}/24 to *:{}", prefix(i), 1000 + i);
    let host = |i: usize| {
        let p = prefix(i);
        format!("{}.77", p.rsplit_once('.').expect("dotted").0)
    };
    let cases: Vec<(String, V, String)> = vec![
        (
            format!("tcp {}:5 -> 10.200.0.1:{}", host(N - 1), 1000 + N - 1),
            V::Drop,
            rule(N - 1),
        ),
        (
            format!("tcp {}:5 -> 10.200.0.1:1000", host(0)),
            V::Drop,
            rule(0),
        ),
        (
            format!("tcp {}:5 -> 10.200.0.1:1500 vlan 3 ipopts 2", host(500)),
            V::Drop,
            rule(500),
        ),
        (
            format!("tcp {}:5 -> 10.200.0.1:1001", host(0)),
            V::Allow,
            "default".into(),
        ),
        (
            format!("tcp {}:5 -> 10.200.0.1:{}", host(N - 2), 1000 + N - 1),
            V::Allow,
            "default".into(),
        ),
        (
            format!("udp {}:5 -> 10.200.0.1:{}", host(N - 1), 1000 + N - 1),
            V::Allow,
            "default".into(),
        ),
        (
            "tcp 10.200.0.1:5 -> 10.200.0.1:1000".into(),
            V::Allow,
            "default".into(),
        ),
    ];
    let symbol = symbol_of(obj.metadata(), HookKind::Xdp);
    let mut failures = Vec::new();
    for (pkt, want, rule) in &cases {
        let frame = parse_packet(pkt)
            .unwrap_or_else(|e| panic!("`{pkt}`: {e}"))
            .build();
        let res = check_case(
            &obj,
            HookKind::Xdp,
            &symbol,
            pkt,
            &frame,
            (*want, rule, &[]),
        );
        match res {
            Ok(()) => println!("  ok   {pkt}"),
            Err(e) => {
                println!("  FAIL {e}");
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `sockc test` as root: every packet of the example file runs in the kernel and in
/// the evaluator, the two agree, and `--repeat` reports the kernel's ns/packet.
#[test]
fn sockc_test_as_root_runs_the_kernel_and_the_evaluator() {
    if !kernel() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_sockc"))
        .args([
            "test",
            "rules/examples/edge.sk",
            "--packets",
            "rules/examples/edge.packets",
            "--repeat",
            "1000",
            "--json",
        ])
        .current_dir(root())
        .output()
        .expect("sockc runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 18, "9 packets x 2 programs");
    for r in results {
        assert_eq!(r["agree"], true, "{r:#}");
        assert!(
            r["kernel"]["ns_per_packet"].as_f64().unwrap() > 0.0,
            "{r:#}"
        );
        let moved = r["kernel"]["counters_moved"].as_array().unwrap();
        assert_eq!(
            moved.len(),
            1 + r["evaluator"]["counted_lines"].as_array().unwrap().len()
        );
        // One contract for lines and ids: the deciding rule's counter is named by the
        // same number and rule id the evaluator gives.
        assert!(
            moved.iter().any(|m| m["line"] == r["evaluator"]["line"]
                && m["id"] == r["evaluator"]["id"]
                && m["line"].is_u64()),
            "{r:#}"
        );
    }
    // Text mode says where the answer comes from.
    let out = Command::new(env!("CARGO_BIN_EXE_sockc"))
        .args(["test", "rules/examples/edge.sk", "--hook", "xdp"])
        .args(["--packet", "udp 192.0.2.9:5353 -> 1.1.1.1:53"])
        .current_dir(root())
        .output()
        .expect("sockc runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l
            .split_whitespace()
            .collect::<Vec<_>>()
            .ends_with(&["drop", "line", "7:", "drop", "from", "@blocked"]))
            && stdout.contains("kernel and evaluator agree (retval 1)"),
        "{stdout}"
    );
}
