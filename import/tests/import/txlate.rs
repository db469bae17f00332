//! The iptables project's translation pairs (`tests/import-corpus/txlate/cases.jsonl`):
//! importing the iptables-save side and the nft side of a pair must give the same
//! verdicts, and the nft text and nft JSON listings of the nft side must read alike.
//!
//! A pair is compared where both sides are interpreted fully (no opaque match on
//! either side: an opaque test is named by each tool's own text, so the two sides'
//! atoms cannot be matched up); every such pair must agree on every packet tried.

use crate::common;

use sockc_import::{
    algebra::AtomId,
    eval::{self, Packet},
    model::{MatchKind, NfHook, Ruleset, Verdict},
    read,
    semantics::{
        self,
        atoms::{AtomKind, Atoms},
        flatten::{FlatList, Flattener},
    },
    Format,
};

fn cases() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(common::corpus().join("txlate/cases.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn hook_of(c: &serde_json::Value) -> Option<NfHook> {
    NfHook::parse(c["chain"].as_str()?)
}

fn flat(rs: &Ruleset, hook: NfHook) -> (FlatList, Atoms) {
    let (stages, _) = semantics::stages(rs, &[hook]);
    let mut atoms = Atoms::default();
    let list = Flattener::new(rs, &mut atoms, None, None, sockc_import::flat_budget(0))
        .run(&stages)
        .unwrap();
    (list, atoms)
}

fn opaque(list: &FlatList, atoms: &Atoms) -> bool {
    let opaque_atom = |a: &AtomId| matches!(atoms.kind(*a), AtomKind::Opaque { .. });
    list.rules
        .iter()
        .any(|r| r.cube.atoms().iter().any(|(a, _)| opaque_atom(a)))
}

/// Compares two lists on the edge packets of both; the first packet they differ on.
fn differ(a: (&FlatList, &Atoms, &Ruleset), b: (&FlatList, &Atoms, &Ruleset)) -> Option<Packet> {
    eval::edge_packets(
        &[a.0, b.0],
        &["iifname", "oifname", "eth0", "iif", "oif"],
        500,
        11,
    )
    .into_iter()
    .find(|p| eval::verdict(a.0, a.1, &a.2.sets, p) != eval::verdict(b.0, b.1, &b.2.sets, p))
}

#[test]
fn both_sides_of_each_translation_give_the_same_verdicts() {
    let (mut pairs, mut compared, mut same) = (0, 0, 0);
    let mut failures = Vec::new();
    for c in cases() {
        let (Some(ipt), Some(nft)) = (c["iptables_save"].as_str(), c["nft_ruleset"].as_str())
        else {
            continue;
        };
        let Some(hook) = hook_of(&c) else { continue };
        pairs += 1;
        let what = format!(
            "{}:{} `{}`",
            c["file"].as_str().unwrap(),
            c["line"],
            c["iptables"].as_str().unwrap()
        );
        let ra = read(ipt, Format::Iptables).unwrap();
        let rb = read(nft, Format::Nft).unwrap();
        let (la, aa) = flat(&ra, hook);
        let (lb, ab) = flat(&rb, hook);
        if opaque(&la, &aa) || opaque(&lb, &ab) {
            continue;
        }
        compared += 1;
        match differ((&la, &aa, &ra), (&lb, &ab, &rb)) {
            None => same += 1,
            Some(p) => failures.push(format!(
                "{what}: differ on {p:?}\n  iptables: {ipt}\n  nft: {nft}"
            )),
        }
    }
    eprintln!("{pairs} pairs with both sides loadable, {compared} interpreted fully on both sides, {same} give the same verdicts");
    assert!(
        failures.is_empty(),
        "{} pairs differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(compared >= 100, "only {compared} pairs compared");
}

/// The rules of each side that the import keeps opaque, as a list of booleans.
fn opaque_rules(rs: &Ruleset) -> Vec<bool> {
    rs.rules
        .iter()
        .map(|r| {
            r.matches
                .iter()
                .any(|m| matches!(m.kind, MatchKind::Opaque { .. }))
        })
        .collect()
}

#[test]
fn nft_text_and_json_of_each_case_read_alike() {
    let json = std::fs::read_to_string(common::corpus().join("txlate/cases-json.jsonl")).unwrap();
    let by_case: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (mut n, mut compared) = (0, 0);
    for c in cases() {
        let Some(text) = c["nft_ruleset"].as_str().filter(|s| !s.is_empty()) else {
            continue;
        };
        let Some(j) = by_case
            .iter()
            .find(|j| j["file"] == c["file"] && j["line"] == c["line"])
        else {
            continue;
        };
        let Some(js) = j["nft_json"].as_str() else {
            continue;
        };
        let what = format!("{}:{}", c["file"].as_str().unwrap(), c["line"]);
        let rt = read(text, Format::Nft).unwrap_or_else(|e| panic!("{what} text: {e}"));
        let rj = read(js, Format::NftJson).unwrap_or_else(|e| panic!("{what} json: {e}"));
        assert_eq!(rt.rules.len(), rj.rules.len(), "{what}: rule counts");
        assert_eq!(
            opaque_rules(&rt),
            opaque_rules(&rj),
            "{what}: the readers interpret different rules\n{text}\n{js}"
        );
        for (a, b) in rt.rules.iter().zip(&rj.rules) {
            // the texts of verdicts the import does not carry differ by format
            let kind = |v: &Verdict| match v {
                Verdict::Other { feature, .. } => Verdict::Other {
                    feature: *feature,
                    text: String::new(),
                },
                v => v.clone(),
            };
            assert_eq!(kind(&a.verdict), kind(&b.verdict), "{what}: verdicts");
        }
        n += 1;
        let Some(hook) = hook_of(&c) else { continue };
        let (lt, at) = flat(&rt, hook);
        let (lj, aj) = flat(&rj, hook);
        if opaque(&lt, &at) || opaque(&lj, &aj) {
            continue;
        }
        compared += 1;
        if let Some(p) = differ((&lt, &at, &rt), (&lj, &aj, &rj)) {
            panic!("{what}: text and JSON differ on {p:?}\n{text}\n{js}");
        }
    }
    eprintln!("{n} cases read from text and JSON, {compared} compared packet by packet");
    assert!(n >= 300);
}
