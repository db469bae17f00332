//! The import against the kernel's own netfilter: for every corpus ruleset
//! (`tests/import-corpus/rulesets/`) with rules the import reports exact or approximate,
//! the probe lab (`sockc_testkit::probe_lab`) loads the original with its own tool and
//! sends generated probes (every prefix and port boundary the ruleset names, ICMP
//! types, replies and related errors, plus seeded random ones: `SOCKC_PROBES` per file,
//! default 160; input and forward paths); then netfilter is flushed, the imported file
//! is installed with `sockc apply --netns RECEIVER`, the same probes are sent (at least
//! 200 per file and run), and the outcomes compared. At `--hook netfilter` the import
//! is whole — what sockc's blocks do not run stays in netfilter, in the residual that
//! `apply` installs beside them (docs/import.md, "The residual"), NAT included — so
//! **every** probe must be delivered, or not, alike. At `--hook xdp` (no residual) every
//! probe an exact rule decides must be delivered, or not, alike. Each file is imported
//! at `--hook xdp` on the receiver's ingress and at `--hook netfilter`
//! (`SOCKC_IMPORT_DIFF_HOOKS=xdp` or `netfilter` runs one; `SOCKC_IMPORT_DIFF_FILES=20,21`
//! runs the files whose names start so). At netfilter each file is
//! run twice: with the receiver's interfaces named as the ruleset expects, and again
//! (`nf-other` in the table) with names it never mentions, so every `-i`/`iifname`
//! rule (and its `in on`) is probed on a matching and a non-matching interface, and
//! every `-o`/`oifname` one on forwarded probes leaving by either. Before the netfilter
//! import's probes, conntrack is switched on in the receiver as
//! `sockc::ct-needs-conntrack` tells users to: its blocks read the state conntrack
//! gave the packet, and with the original ruleset flushed nothing else there uses
//! conntrack, so every packet would be `ct state invalid`
//! (`SOCKC_IMPORT_DIFF_CONNTRACK=off` shows the disagreements that makes).
//!
//! Which rule decides a probe is read from the import's own first-match lists, block
//! by block in the order the kernel runs them: at xdp the one ingress block; at
//! netfilter the blocks of the hooks the probe's path crosses (an input probe meets
//! prerouting and input, a forwarded one prerouting, forward and postrouting), by
//! priority, where an accept ends only its own block and a drop or reject is final. In
//! each block it is the first terminal flat rule that admits the probe's packet (a
//! forwarded probe's output interface is known at netfilter, not at ingress); the
//! probe's status is the weakest of the rules that decided it on its way. Output-hook
//! blocks are not consulted: they see only the receiver's own packets — answers (TCP
//! resets, ICMP errors, echo replies), which the comparison does not look at, and the
//! openers of replies and related errors, which are required to have left in both runs
//! before a reply is compared — so no compared outcome depends on them.
//!
//! A flat rule whose truth the packet alone does not settle (a conntrack state, a rate
//! limit, an address type, an ipset's unknown members) may or may not admit it, and a
//! probe that meets one before a rule that surely admits it is not compared; neither is
//! a probe one of whose deciding rules is unsupported. A probe an approximate rule
//! decides is checked the one way an approximation promises: sockc never delivers it
//! where netfilter did not. Two things outside those lists also decide: a `nat`
//! prerouting rule (DNAT, REDIRECT: reported unsupported) sends a probe elsewhere, so a
//! probe one may touch is not compared (nor, with any nat chain, a reply or related
//! error: its opener may have left masqueraded, and then it arrives at another
//! address); and, at xdp, forward chains, which an ingress program cannot tell apart
//! from input ones, so a forwarded probe that no ingress rule decides is compared only
//! when forward decides nothing (then the import's `default allow` is exact for it).
//! An ingress XDP program never sees output or loopback traffic, and the probes are
//! input and forward ones at both hooks.
//!
//! Kernel tests: root, `nft`, `iptables-nft-restore`, `ip6tables-nft-restore`; without
//! root they print `SKIP (not root)` and pass, unless `SOCKC_KERNEL_TESTS=require`.

use crate::common;

use std::{net::IpAddr, path::PathBuf};

use serde_json::Value;
use sockc_import::{
    algebra::{Cube, Dim},
    analyze,
    eval::{atom_holds, Packet},
    flat_budget,
    lower::Block,
    model::{ChainType, NamedSet, NfHook, Ruleset as Model, SetContent, CT_NEW, CT_UNTRACKED},
    semantics::{
        atoms::{AtomKind, Atoms},
        flatten::{FlatAction, FlatList, Flattener, Stage},
        stages, Place, Placed,
    },
    Hook, Options, Status,
};
use sockc_testkit::{
    packet::{tcp_flags, L4},
    probe_lab::{
        generate, probe_count, Generator, Interesting, LabConfig, Origin, Outcome, Path, Probe,
        Ruleset, Topology,
    },
};

const BPFFS: &str = "/sys/fs/bpf";

fn corpus() -> PathBuf {
    common::root().join("tests/import-corpus/rulesets")
}

fn manifest() -> Vec<Value> {
    let text = std::fs::read_to_string(corpus().join("manifest.json")).expect("manifest.json");
    serde_json::from_str::<Value>(&text)
        .expect("manifest is JSON")
        .as_array()
        .expect("a list")
        .clone()
}

/// The egress interface name the ruleset's FORWARD rules expect (as
/// tests/differential/netfilter_probe.rs).
fn egress(file: &str) -> &'static str {
    if file.contains("docker") {
        "bridge1"
    } else if file.contains("openwrt") || file.contains("home-router") || file.contains("ct-router")
    {
        "br-lan"
    } else if file.contains("wireguard") {
        "eth1"
    } else {
        "fwd0"
    }
}

mod decide;
use decide::*;

/// A sockc install in the lab's receiver, flushed when dropped (also on a panic).
struct Install {
    name: String,
}

impl Install {
    fn apply(file: &std::path::Path, name: &str, netns: &str) -> Install {
        let install = Install {
            name: name.to_string(),
        };
        let (code, out, err) = common::sockc(&[
            "apply",
            file.to_str().expect("UTF-8 path"),
            "--name",
            name,
            "--bpffs",
            BPFFS,
            "--netns",
            netns,
        ]);
        assert_eq!(code, 0, "apply {}:\n{out}\n{err}", file.display());
        install
    }
}

impl Drop for Install {
    fn drop(&mut self) {
        let _ = common::sockc(&["flush", "--name", &self.name, "--bpffs", BPFFS]);
    }
}

/// One file's figures at one hook.
struct Row {
    file: String,
    hook: &'static str,
    exact: usize,
    approximate: usize,
    unsupported: usize,
    /// Rules that stay in netfilter (the residual, installed beside the blocks).
    residual: usize,
    probes: usize,
    /// Probes compared: at netfilter every probe that can be (the blocks and their
    /// residual together are the original); at xdp those exact rules decide.
    compared: usize,
    /// Probes an approximate (stricter) rule decides.
    stricter: usize,
    /// Compared TCP probes to a port the ruleset publishes by DNAT ([`PUBLISHED`]).
    published: usize,
    disagreements: Vec<String>,
}

/// The hooks the imports are checked at: both, unless `SOCKC_IMPORT_DIFF_HOOKS` names
/// one (`xdp` or `netfilter`).
fn hooks() -> Vec<Hook> {
    match std::env::var("SOCKC_IMPORT_DIFF_HOOKS").as_deref() {
        Ok("xdp") => vec![Hook::Xdp],
        Ok("netfilter") => vec![Hook::Netfilter],
        _ => vec![Hook::Xdp, Hook::Netfilter],
    }
}

/// Whether a corpus file names cgroups in nft rules: nft 1.0.6's JSON listing leaves
/// `socket cgroupv2`'s level out, so its text and JSON listings import differently.
fn nft_with_cgroups(entry: &Value) -> bool {
    entry["from"].as_str() != Some("iptables")
        && entry["cgroups"].as_array().is_some_and(|c| !c.is_empty())
}

/// Whether `file` is one `SOCKC_IMPORT_DIFF_FILES` (comma-separated prefixes such as
/// `20,21,22-arch`) selects; every file when it is not set.
fn selected(file: &str) -> bool {
    match std::env::var("SOCKC_IMPORT_DIFF_FILES") {
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .map(str::trim)
            .any(|p| !p.is_empty() && file.starts_with(p)),
        _ => true,
    }
}

#[test]
fn imported_rulesets_decide_like_netfilter() {
    if !common::kernel() {
        return;
    }
    let mut rows = Vec::new();
    let _cgroups = common::corpus_cgroups::CorpusCgroups::make(&manifest());
    for hook in hooks() {
        for entry in manifest() {
            let file = entry["file"].as_str().expect("file").to_string();
            if !selected(&file) {
                continue;
            }
            let named = Names {
                ingress: entry["iface"].as_str().expect("iface"),
                egress: egress(&file),
                label: hook_name(hook),
            };
            rows.push(differential(&corpus(), &file, &entry, hook, &named));
            // At netfilter the same import again, with probes arriving on (and
            // forwarded out of) interfaces the ruleset never names: its `in on` /
            // `out on` rules must now not match, exactly as netfilter's `-i`/`-o`.
            if hook == Hook::Netfilter {
                let other = Names {
                    ingress: OTHER_INGRESS,
                    egress: OTHER_EGRESS,
                    label: "nf-other",
                };
                rows.push(differential(&corpus(), &file, &entry, hook, &other));
            }
        }
    }
    println!(
        "{:<32}{:>10}{:>7}{:>8}{:>8}{:>9}{:>8}{:>10}{:>10}{:>10}",
        "file",
        "hook",
        "exact",
        "approx",
        "unsupp",
        "residual",
        "probes",
        "compared",
        "stricter",
        "disagree"
    );
    for r in &rows {
        println!(
            "{:<32}{:>10}{:>7}{:>8}{:>8}{:>9}{:>8}{:>10}{:>10}{:>10}",
            r.file,
            r.hook,
            r.exact,
            r.approximate,
            r.unsupported,
            r.residual,
            r.probes,
            r.compared,
            r.stricter,
            r.disagreements.len()
        );
    }
    let wrong: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.disagreements
                .iter()
                .map(move |d| format!("{} at {}: {d}", r.file, r.hook))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} probes disagree (at netfilter: any probe, sockc's blocks and their residual \
         installed together; at xdp: probes exact or approximate rules decide):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // A published Docker port is reachable through the pair exactly as through the
    // original: probes to it were compared (and agreed, above) at netfilter.
    for r in rows
        .iter()
        .filter(|r| r.file.contains("portmap-nat") && r.hook == "netfilter")
    {
        println!(
            "{}: {} probes to the published port {PUBLISHED} compared",
            r.file, r.published
        );
        assert!(r.published > 0, "{}: no probe to port {PUBLISHED}", r.file);
    }
    for hook in ["xdp", "netfilter", "nf-other"] {
        let at: Vec<&Row> = rows.iter().filter(|r| r.hook == hook).collect();
        assert!(
            at.is_empty() || at.iter().map(|r| r.compared).sum::<usize>() > 0,
            "no probe was compared at {hook}"
        );
    }
}

fn hook_name(hook: Hook) -> &'static str {
    match hook {
        Hook::Xdp => "xdp",
        Hook::Tc => "tc",
        Hook::Netfilter => "netfilter",
    }
}

/// The residual's file name, beside the imported rule file (its extension does not
/// matter: the declaration names the format).
const RESIDUAL_FILE: &str = "imported.residual";

/// The port Docker publishes in `19-docker-portmap-nat.iptables` (`-p 8080:80`: DNAT
/// in the nat table, which stays in netfilter whole).
const PUBLISHED: u16 = 8080;

/// The fewest probes per file and run (issue 48: at least 200).
const MIN_PROBES: usize = 200;

/// Interface names no corpus ruleset names (checked in `differential`).
const OTHER_INGRESS: &str = "probe-in9";
const OTHER_EGRESS: &str = "probe-out9";

/// The receiver's interfaces in one run, and the run's label in the table.
struct Names<'a> {
    ingress: &'a str,
    egress: &'a str,
    label: &'static str,
}

/// The comparison of ruleset `dir/file` (its manifest `entry`) with its import at `hook`.
fn differential(
    dir: &std::path::Path,
    file: &str,
    entry: &Value,
    hook: Hook,
    names: &Names<'_>,
) -> Row {
    // The import attaches xdp to the ruleset's interface; the probes arrive on
    // `names.ingress`.
    let iface = entry["iface"].as_str().expect("iface");
    let arrive = names.ingress;
    let text = std::fs::read_to_string(dir.join(file)).expect("corpus file");
    let opts = Options {
        from: None,
        hook,
        interface: Some(iface.to_string()),
        source_name: Some(file.to_string()),
        residual_file: Some(RESIDUAL_FILE.to_string()),
        // as `sockc import` does: cgroup matches below this host's cgroup v2 mount
        cgroup_root: sockc_runtime::cgroup::cgroup2_root().map(|p| p.display().to_string()),
        ..Default::default()
    };
    let analysis = analyze(&text, &opts).unwrap_or_else(|e| panic!("{file}: {e}"));
    let (imported, blocks) = sockc_import::write(&analysis, &text, &opts);
    let s = imported.report.summary;
    let mut row = Row {
        file: file.to_string(),
        hook: names.label,
        exact: s.exact,
        approximate: s.approximate,
        unsupported: s.unsupported,
        residual: s.residual,
        probes: 0,
        compared: 0,
        stricter: 0,
        published: 0,
        disagreements: Vec::new(),
    };
    let pair = hook == Hook::Netfilter;
    if s.exact + s.approximate == 0 && !pair {
        return row;
    }
    let checked: Vec<Checked> = blocks
        .iter()
        .map(|(place, block)| Checked::new(&analysis.placed[*place], block))
        .collect();
    let mut atoms = analysis.atoms.clone();
    if arrive == OTHER_INGRESS {
        assert!(
            !text.contains(OTHER_INGRESS) && !text.contains(OTHER_EGRESS),
            "{file} names the lab's other interfaces"
        );
    }
    let outside = Outside::new(&analysis.ruleset, &mut atoms, arrive);
    let families: Vec<u8> = entry["families"]
        .as_array()
        .expect("families")
        .iter()
        .map(|f| f.as_u64().expect("4 or 6") as u8)
        .collect();
    let probes = generate(
        &Interesting::scan(&text),
        &Generator::new(
            probe_count().max(MIN_PROBES),
            &[Path::Input, Path::Input, Path::Forward],
            &families,
        ),
    );
    row.probes = probes.len();
    let residual = imported.residual.as_ref().map(|r| r.text.as_str());
    let (original, ours) = run_both(dir, file, names, (&imported.sk_text, residual), &probes);
    let judge = Judge {
        blocks: &checked,
        atoms: &atoms,
        sets: &analysis.ruleset.sets,
        outside: &outside,
        iface: arrive,
        egress: (hook == Hook::Netfilter).then_some(names.egress),
    };
    for ((probe, a), b) in probes.iter().zip(&original).zip(&ours) {
        if pair {
            // The blocks with their residual are the original, whatever rule decides,
            // except a rate limit: it decides by the traffic's timing, which the two
            // runs do not share (an echo request 10/sec admitted in one run, not in
            // the other, on a loaded machine).
            if comparable(probe, a, b) && !judge.meets_rate_limit(probe) {
                row.compared += 1;
                let text = probe.to_string();
                if text.contains("tcp ") && text.contains(&format!(":{PUBLISHED} ")) {
                    row.published += 1;
                }
                if a.delivered != b.delivered {
                    row.disagreements
                        .push(format!("{probe}: netfilter {a}, sockc + residual {b}"));
                }
            }
            continue;
        }
        match judge.status(probe, a, b) {
            Some(Status::Exact) => {
                row.compared += 1;
                if a.delivered != b.delivered {
                    row.disagreements
                        .push(format!("{probe}: netfilter {a}, sockc {b}"));
                }
            }
            // Approximate means stricter: never delivered where netfilter did not.
            Some(Status::Approximate) => {
                row.stricter += 1;
                if b.delivered && !a.delivered {
                    row.disagreements.push(format!(
                        "{probe}: approximate, yet netfilter {a}, sockc {b}"
                    ));
                }
            }
            Some(Status::Unsupported | Status::Residual) | None => {}
        }
    }
    row
}

/// Sends `probes` through a fresh lab twice: with the original ruleset `file`
/// loaded, then (netfilter flushed) with the imported `sk_text` applied.
fn run_both(
    src: &std::path::Path,
    file: &str,
    names: &Names<'_>,
    (sk_text, residual): (&str, Option<&str>),
    probes: &[Probe],
) -> (Vec<Outcome>, Vec<Outcome>) {
    let config = LabConfig {
        ingress: names.ingress.to_string(),
        egress: names.egress.to_string(),
        cgroup2: sockc_runtime::cgroup::cgroup2_root(),
    };
    let lab = Topology::new(&config).unwrap_or_else(|e| panic!("lab for {file}: {e}"));
    let ruleset = Ruleset::read(&src.join(file)).expect("ruleset");
    lab.load(&ruleset)
        .unwrap_or_else(|e| panic!("load {file}: {e}"));
    let original = lab.probe(probes).unwrap_or_else(|e| panic!("{file}: {e}"));
    lab.flush().unwrap_or_else(|e| panic!("flush {file}: {e}"));
    // each run its own directory and install name: the tests of this file run at the
    // same time in one process
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sockc-import-diff-{}-{run}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let sk = dir.join(format!("{file}.sk"));
    std::fs::write(&sk, sk_text).expect("write the import");
    if let Some(r) = residual {
        std::fs::write(dir.join(RESIDUAL_FILE), r).expect("write the residual");
    }
    let name = format!("import-diff-{}-{run}", std::process::id());
    let ours = {
        let _install = Install::apply(&sk, &name, lab.receiver());
        if names.label != "xdp"
            && std::env::var("SOCKC_IMPORT_DIFF_CONNTRACK").as_deref() != Ok("off")
        {
            conntrack_on(lab.receiver());
        }
        lab.probe(probes).unwrap_or_else(|e| panic!("{file}: {e}"))
    };
    let _ = std::fs::remove_dir_all(&dir);
    (original, ours)
}

/// Switches conntrack on in `netns` the way `sockc::ct-needs-conntrack` tells users to
/// (a table with a `ct` rule in a chain that never runs): a netfilter block reads the
/// state conntrack gave the packet, and once the original ruleset is flushed nothing
/// else there uses conntrack, so every packet would read `invalid`.
/// `SOCKC_IMPORT_DIFF_CONNTRACK=off` leaves it off, to show that. The namespace, and
/// the table with it, goes with the lab.
fn conntrack_on(netns: &str) {
    let script = "add table inet ct_on\nadd chain inet ct_on anchor\nadd rule inet ct_on anchor ct state new\n";
    let mut nft = std::process::Command::new("ip")
        .args(["netns", "exec", netns, "nft", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("run nft");
    std::io::Write::write_all(&mut nft.stdin.take().expect("stdin"), script.as_bytes())
        .expect("write to nft");
    assert!(
        nft.wait().expect("nft").success(),
        "nft: switch conntrack on"
    );
}

/// Whether a probe's two outcomes can be compared: a reply or related probe only
/// when its opener left in both runs (no connection exists to answer otherwise).
fn comparable(probe: &Probe, a: &Outcome, b: &Outcome) -> bool {
    probe.origin == Origin::New || (a.opener_left == Some(true) && b.opener_left == Some(true))
}

/// One written block: its first-match list, each rule's status, and the netfilter
/// hook it runs at (`None` for the ingress place, which every probe meets).
struct Checked<'a> {
    list: &'a FlatList,
    statuses: Vec<Status>,
    hook: Option<NfHook>,
}

impl<'a> Checked<'a> {
    fn new(placed: &'a Placed, block: &Block) -> Checked<'a> {
        let hook = match placed.place {
            Place::Netfilter { hook, .. } => Some(hook),
            Place::Ingress(_) => None,
            Place::Egress(_) => panic!("no egress place at xdp or netfilter"),
        };
        Checked {
            list: &placed.list,
            statuses: block.entries.iter().map(|e| e.status).collect(),
            hook,
        }
    }

    /// Whether a probe on `path` meets this block: the ingress place meets every
    /// probe; a netfilter hook the probes of the paths that cross it (output and
    /// postrouting blocks of input probes see only the receiver's answers and
    /// openers, which the comparison does not look at or requires in both runs).
    fn meets(&self, path: Path) -> bool {
        match (self.hook, path) {
            (None, _) => true,
            (Some(h), Path::Input) => matches!(h, NfHook::Prerouting | NfHook::Input),
            (Some(h), Path::Forward) => matches!(
                h,
                NfHook::Prerouting | NfHook::Forward | NfHook::Postrouting
            ),
            (Some(_), _) => false,
        }
    }
}

/// Says which status of rule decides a probe, for one file's import.
struct Judge<'a> {
    /// In the order the kernel runs them (hook, then priority).
    blocks: &'a [Checked<'a>],
    atoms: &'a Atoms,
    sets: &'a [NamedSet],
    outside: &'a Outside,
    iface: &'a str,
    /// The output interface forwarded probes leave by, where the blocks know it
    /// (netfilter's forward and postrouting hooks; not an ingress program).
    egress: Option<&'a str>,
}

impl Judge<'_> {
    /// `probe` as the blocks see it, and what the lab knows of it besides.
    fn packet_of(&self, probe: &Probe) -> (Packet, Known) {
        let oif = match probe.path {
            Path::Forward => self.egress.unwrap_or(""),
            _ => "",
        };
        let mut p = packet_of(probe, self.iface, oif);
        let on = Known {
            ct: sure_ct_state(probe),
            path: probe.path,
            nat: self.outside.any_nat,
        };
        p.ct_state = on.ct.unwrap_or(CT_NEW) as u8;
        (p, on)
    }

    /// Whether a rate-limited rule (`limit`, `hashlimit`, meters, `recent`) may decide
    /// `probe` on its way: one whose other tests do not rule the packet out, met before
    /// a rule that surely ends the probe's path.
    fn meets_rate_limit(&self, probe: &Probe) -> bool {
        let (p, on) = self.packet_of(probe);
        for block in self.blocks.iter().filter(|b| b.meets(probe.path)) {
            for rule in block.list.rules.iter().filter(|r| r.action.is_terminal()) {
                let truth = admits(&rule.cube, self.atoms, self.sets, &p, &on);
                if truth == Truth::No {
                    continue;
                }
                if rate_limited(&rule.cube, self.atoms) {
                    return true;
                }
                if truth == Truth::Yes {
                    if rule.action != FlatAction::Accept || block.hook.is_none() {
                        return false;
                    }
                    break;
                }
            }
        }
        false
    }

    /// The status of the rules that decide `probe` (outcomes `a` with netfilter, `b`
    /// with sockc): the weakest of each block's deciding rule along its path, or
    /// `None` when the probe is not to be compared.
    fn status(&self, probe: &Probe, a: &Outcome, b: &Outcome) -> Option<Status> {
        if !comparable(probe, a, b) {
            return None;
        }
        let (p, on) = self.packet_of(probe);
        // A reply's opener may leave masqueraded, and then the reply arrives at
        // another address than the probe names: with nat chains, replies and
        // related errors are not compared.
        if may_touch(&self.outside.nat, self.atoms, self.sets, &p, &on)
            || (on.nat && probe.origin != Origin::New)
        {
            return None;
        }
        let mut weakest = Status::Exact;
        for block in self.blocks.iter().filter(|b| b.meets(probe.path)) {
            match decided_by(block.list, &block.statuses, self.atoms, self.sets, &p, &on) {
                // At a netfilter hook an accept ends only its block: the next
                // one (by hook and priority) still sees the packet.
                Decision::Rule { status, accept } => {
                    weakest = weakest.max(status);
                    if !accept || block.hook.is_none() {
                        break;
                    }
                }
                // A netfilter block's default accepts into the next block.
                Decision::Default if block.hook.is_some() => {}
                // The ingress place's `default allow` is exact for a forwarded
                // probe only when forward decides nothing.
                Decision::Default if probe.path == Path::Input || !self.outside.forward_decides => {
                    break
                }
                Decision::Default | Decision::Unsettled => return None,
            }
        }
        (weakest != Status::Unsupported).then_some(weakest)
    }
}

/// The nft text and JSON front ends agree (issue 48): every nft text file of the
/// corpus is loaded into a namespace of its own and listed again with `nft -j list
/// ruleset`; both listings are imported at each hook and must give every rule the
/// same status and the same written rules, in order. Root and `nft`.
#[test]
fn nft_text_and_its_json_listing_import_alike() {
    if !common::kernel() {
        return;
    }
    let mut compared = 0;
    for entry in manifest() {
        let file = entry["file"].as_str().expect("file");
        // nft 1.0.6's JSON listing leaves `socket cgroupv2`'s level out, so the two
        // listings of a file with one differ on purpose (see the import's cgroup tests).
        if !file.ends_with(".nft") || !selected(file) || nft_with_cgroups(&entry) {
            continue;
        }
        let text = std::fs::read_to_string(corpus().join(file)).expect("corpus file");
        let json = json_listing(&text, file);
        let iface = entry["iface"].as_str().expect("iface");
        for hook in [Hook::Netfilter, Hook::Xdp] {
            let import = |t: &str| {
                let o = Options {
                    hook,
                    interface: Some(iface.to_string()),
                    ..Default::default()
                };
                sockc_import::import(t, &o).unwrap_or_else(|e| panic!("{file}: {e}"))
            };
            let (a, b) = (import(&text), import(&json));
            let statuses = |i: &sockc_import::Import| -> Vec<Status> {
                i.report.rules.iter().map(|r| r.status).collect()
            };
            assert_eq!(
                statuses(&a),
                statuses(&b),
                "{file} at {}: statuses of the text and of `nft -j`",
                hook_name(hook)
            );
            let rules = |i: &sockc_import::Import| -> Vec<String> { resolved(&i.sk_text) };
            assert_eq!(
                rules(&a),
                rules(&b),
                "{file} at {}: written rules of the text and of `nft -j`",
                hook_name(hook)
            );
            for (r, s) in a.report.rules.iter().zip(&b.report.rules) {
                for reason in [&r.reason, &s.reason] {
                    assert!(
                        !reason.contains("Some(")
                            && !reason.contains("V4")
                            && !reason.contains("V6"),
                        "{file}: a reason shows an internal name: {reason}"
                    );
                }
            }
            compared += 1;
        }
    }
    assert!(compared > 0, "no nft text file in the corpus");
}

/// A rule file's rules and block heads without comments, each `@set` replaced by the
/// set's contents: derived sets are named after the rule's line, and a JSON listing
/// is one line.
fn resolved(sk: &str) -> Vec<String> {
    let lines: Vec<&str> = sk
        .lines()
        .map(|l| l.split("    #").next().unwrap_or(l).trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("residual "))
        .collect();
    let sets: Vec<(String, &str)> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("set ")?.split_once(" = "))
        .map(|(name, body)| (format!("@{name}"), body))
        .collect();
    lines
        .iter()
        .filter(|l| !l.starts_with("set "))
        .map(|l| {
            l.split(' ')
                .map(|w| {
                    // A set's name ends where a name's characters do (`@s:53`).
                    let (pre, at) = w.split_at(w.find('@').unwrap_or(w.len()));
                    let end = at[1.min(at.len())..]
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                        .map_or(at.len(), |i| i + 1);
                    let (name, rest) = at.split_at(end);
                    match sets.iter().find(|(n, _)| n == name) {
                        Some((_, body)) => format!("{pre}{body}{rest}"),
                        None => w.to_string(),
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// `text` loaded into a namespace of its own and listed by `nft -j list ruleset`.
fn json_listing(text: &str, file: &str) -> String {
    let ns = format!("sockc-h48json-{}", std::process::id());
    let _ = std::process::Command::new("ip")
        .args(["netns", "del", &ns])
        .status();
    let ok = std::process::Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .expect("ip netns add");
    assert!(ok.success(), "ip netns add {ns}");
    let run = |args: &[&str], input: Option<&str>| -> std::process::Output {
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", &ns]).args(args);
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("ip netns exec");
        if let Some(i) = input {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(i.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("nft")
    };
    let loaded = run(&["nft", "-f", "-"], Some(text));
    let listed = run(&["nft", "-j", "list", "ruleset"], None);
    let _ = std::process::Command::new("ip")
        .args(["netns", "del", &ns])
        .status();
    assert!(
        loaded.status.success(),
        "{file} does not load: {}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    assert!(
        listed.status.success(),
        "{file}: nft -j list ruleset failed"
    );
    String::from_utf8(listed.stdout).expect("UTF-8 JSON")
}

/// No silent change on generated rulesets, against the kernel (issue 48 item 2): a
/// sample of the seeded rulesets the import's fuzz uses (`sockc_testkit::ruleset_gen`,
/// `SOCKC_IMPORT_DIFF_GENERATED` of them, default 6, seed `SOCKC_IMPORT_FUZZ_SEED`),
/// each one `nft -c` accepts and without a rate limit (whose verdicts follow the
/// traffic's timing) imported at netfilter, the pair installed, and every probe
/// compared with the original, as for the corpus.
#[test]
fn generated_rulesets_decide_like_netfilter() {
    if !common::kernel() {
        return;
    }
    let want: usize = std::env::var("SOCKC_IMPORT_DIFF_GENERATED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let seed = std::env::var("SOCKC_IMPORT_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48u64);
    let dir = std::env::temp_dir().join(format!("sockc-import-gen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let mut rng = sockc_testkit::rng::Rng::seeded(seed);
    let (mut run, mut tried, mut wrong) = (0, 0, Vec::new());
    while run < want && tried < want * 20 {
        tried += 1;
        let text = sockc_testkit::ruleset_gen::nft_ruleset(&mut rng);
        // a rate limit decides by the traffic's timing, which two runs do not share
        // (a generated `limit rate 1 kbytes / second` made two probes differ)
        if text.contains("limit rate") || !nft_accepts(&text) {
            continue;
        }
        let file = format!("generated-{tried}.nft");
        let mut families = Vec::new();
        for (word, v) in [
            ("table ip ", vec![4]),
            ("table ip6 ", vec![6]),
            ("table inet ", vec![4, 6]),
        ] {
            if text.contains(word) {
                families.extend(v);
            }
        }
        families.sort_unstable();
        families.dedup();
        let entry = serde_json::json!({ "iface": "vB", "families": families });
        std::fs::write(dir.join(&file), &text).expect("write the ruleset");
        let names = Names {
            ingress: "vB",
            egress: "fwd0",
            label: "netfilter",
        };
        let row = differential(&dir, &file, &entry, Hook::Netfilter, &names);
        println!(
            "{file}: {} exact, {} in the residual, {} probes, {} compared, {} disagree",
            row.exact,
            row.residual,
            row.probes,
            row.compared,
            row.disagreements.len()
        );
        for d in &row.disagreements {
            wrong.push(format!("{file}: {d}\n{text}"));
        }
        run += 1;
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        run == want,
        "only {run} of {tried} generated rulesets load in nft"
    );
    assert!(
        wrong.is_empty(),
        "{} probes disagree:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Whether `nft -c` accepts `text` (the generators write a few rulesets the kernel
/// refuses, such as a `reject` in a prerouting chain).
fn nft_accepts(text: &str) -> bool {
    let mut nft = std::process::Command::new("nft")
        .args(["-c", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run nft");
    std::io::Write::write_all(&mut nft.stdin.take().expect("stdin"), text.as_bytes())
        .expect("write to nft");
    nft.wait().expect("nft").success()
}
