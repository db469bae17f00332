//! An update of a set in place writes the change and nothing else: an entry put into
//! the pinned set map behind sockc's back (with bpftool) survives an apply that adds
//! one element, `status --deep` still reports it, and an apply of the same file (no
//! change) rewrites the map from the manifest. An element the file removes that was
//! already deleted by hand is no error. All of it for both kinds of set map: a hash
//! map (every element a whole address) and an LPM trie (a prefix among them). A set
//! that changes kind (a prefix added to whole addresses, or the last one removed) gets
//! a new map and its program reloads, as the plan says, and the verdicts follow.
//!
//! Makes its own namespaces (`tests/netns`) and removes them. Root only; skipped
//! otherwise (see `tests/common`).

use crate::common;
use crate::netns;

use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::Command,
};

use netns::{run, Lab};
use serde_json::Value;

/// The pin of set `set`'s IPv4 map in the install's live generation.
fn set_pin(lab: &Lab, set: &str) -> PathBuf {
    let m = lab.pin_dir();
    let gen = std::fs::read_dir(&m)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|f| f.starts_with('g'))
        .expect("a generation directory");
    m.join(gen).join(format!("map_set_{set}_v4"))
}

/// The addresses (last four key bytes) of the entries `bpftool map dump` lists.
fn addresses(pin: &Path) -> Vec<Ipv4Addr> {
    let r = run(Command::new("bpftool")
        .args(["map", "dump", "pinned"])
        .arg(pin)
        .arg("-j"))
    .ok();
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let byte = |b: &Value| u8::from_str_radix(b.as_str().unwrap().trim_start_matches("0x"), 16);
    let mut out: Vec<Ipv4Addr> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let key: Vec<u8> = e["key"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| byte(b).unwrap())
                .collect();
            let addr: [u8; 4] = key[key.len() - 4..].try_into().unwrap();
            Ipv4Addr::from(addr)
        })
        .collect();
    out.sort();
    out
}

/// `bpftool map update|delete pinned PIN key hex …` for the /32 of `addr`.
fn by_hand(pin: &Path, op: &str, addr: Ipv4Addr) {
    let mut args: Vec<String> = ["map", op, "pinned", pin.to_str().unwrap(), "key", "hex"]
        .map(String::from)
        .to_vec();
    let key = 32u32.to_le_bytes().into_iter().chain(addr.octets());
    args.extend(key.map(|b| format!("{b:02x}")));
    if op == "update" {
        args.extend(["value", "hex", "01"].map(String::from));
    }
    run(Command::new("bpftool").args(&args)).ok();
}

/// The map type `bpftool map show` names for the pinned map.
fn map_type(pin: &Path) -> String {
    let r = run(Command::new("bpftool")
        .args(["-j", "map", "show", "pinned"])
        .arg(pin))
    .ok();
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    v["type"].as_str().expect("a map type").to_string()
}

/// The rule file: `@blocked` holds B, 192.0.2.1, `base` (a prefix or nothing) and
/// `extra`.
fn rules(b: Ipv4Addr, base: &[&str], extra: &[&str], a: &str) -> String {
    let mut set = vec![b.to_string(), "192.0.2.1".to_string()];
    set.extend(base.iter().map(|s| s.to_string()));
    set.extend(extra.iter().map(|s| s.to_string()));
    format!(
        "set blocked = {{ {} }}\nxdp on {a} {{\n  drop udp from @blocked to *:9107\n  default allow\n}}\n",
        set.join(", ")
    )
}

#[test]
fn a_set_update_writes_only_its_delta() {
    if !common::kernel() {
        return;
    }
    writes_only_its_delta(&Lab::new("setdelta", 233), &[], "hash");
}

/// The same with a prefix in the set (one that covers none of the addresses used):
/// its map is an LPM trie.
#[test]
fn a_set_update_of_a_trie_writes_only_its_delta() {
    if !common::kernel() {
        return;
    }
    writes_only_its_delta(&Lab::new("setdlpm", 10), &["198.18.0.0/15"], "lpm_trie");
}

fn writes_only_its_delta(lab: &Lab, base: &[&str], kind: &str) {
    let (a, b) = (lab.if_a.clone(), lab.addr_b);
    let file = lab.rules("s.sk", &rules(b, base, &[], &a));
    lab.apply_ok(&file);
    let pin = set_pin(lab, "blocked");
    assert_eq!(map_type(&pin), kind);
    let foreign = Ipv4Addr::new(198, 51, 100, 99);
    by_hand(&pin, "update", foreign);
    assert!(
        addresses(&pin).contains(&foreign),
        "bpftool wrote the entry"
    );

    // One element added: written in place; the foreign entry is left where it is.
    lab.rules("s.sk", &rules(b, base, &["192.0.2.2"], &a));
    let r = lab.apply_ok(&file);
    assert!(!r.stdout.contains("rewritten from the manifest"), "{r}");
    let live = addresses(&pin);
    let want_new = Ipv4Addr::new(192, 0, 2, 2);
    assert!(live.contains(&want_new), "the added element: {live:?}");
    assert!(live.contains(&foreign), "the foreign entry stays: {live:?}");
    assert_eq!(live.len(), 4 + base.len(), "{live:?}");
    lab.expect_verdicts("updated", &[(9107, false), (9102, true)]);
    let (r, _) = lab.status_run(&["--deep"]);
    assert_eq!(r.code, 3, "{r}");
    assert!(
        r.stdout
            .contains("0 entries missing, 0 with another value, 1 not in the manifest"),
        "{r}"
    );

    // The same file again: nothing to change, so every entry is compared and the
    // map rewritten from the manifest.
    let r = lab.apply_ok(&file);
    assert!(r.stdout.contains("rewritten from the manifest"), "{r}");
    assert!(!addresses(&pin).contains(&foreign), "{:?}", addresses(&pin));
    let (r, _) = lab.status_run(&["--deep"]);
    assert_eq!(r.code, 0, "{r}");

    // An element the file drops that is already gone by hand: the update finishes.
    by_hand(&pin, "delete", want_new);
    lab.rules("s.sk", &rules(b, base, &[], &a));
    lab.apply_ok(&file);
    let mut want = vec![b, Ipv4Addr::new(192, 0, 2, 1)];
    want.extend(
        base.iter()
            .map(|p| p.split('/').next().unwrap().parse::<Ipv4Addr>().unwrap()),
    );
    want.sort();
    assert_eq!(addresses(&pin), want);
    let (r, _) = lab.status_run(&["--deep"]);
    assert_eq!(r.code, 0, "{r}");
}

/// The id of the program the install's one hook runs, from `status`.
fn prog_id(lab: &Lab) -> u64 {
    lab.status_attached()["hooks"][0]["prog_id"]
        .as_u64()
        .expect("prog_id")
}

/// A set of whole addresses is a hash map; a prefix added makes it an LPM trie, a new
/// map, so the program reloads (a new program id) and the dry run says why; removing
/// the last prefix makes it a hash map again, the same way. Changes that keep the kind
/// still touch no program. B's datagrams show the set's verdict at each step: in the
/// set as an address, as a covering prefix, and not at all.
#[test]
fn a_set_that_changes_kind_gets_a_new_map_and_reloads() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("setkind", 9);
    let (a, b) = (lab.if_a.clone(), lab.addr_b);
    let file = |set: &str| {
        format!("set blocked = {{ 192.0.2.1{set} }}\nxdp on {a} {{\n  drop udp from @blocked to *:9107\n  default allow\n}}\n")
    };
    let path = lab.rules("k.sk", &file(""));
    lab.apply_ok(&path);
    assert_eq!(map_type(&set_pin(&lab, "blocked")), "hash");
    lab.expect_verdicts("192.0.2.1 alone", &[(9107, true), (9102, true)]);
    let first = prog_id(&lab);

    // Whole addresses to whole addresses: in place, the same program.
    lab.rules("k.sk", &file(&format!(", {b}")));
    let r = lab.apply_ok(&path);
    assert!(r.stdout.contains("no reload"), "not in place:\n{r}");
    assert_eq!(prog_id(&lab), first);
    lab.expect_verdicts("B added", &[(9107, false), (9102, true)]);

    // A prefix that covers B: a trie, a new map, the program reloads.
    lab.rules("k.sk", &file(", 10.200.9.0/24"));
    let dry = lab.apply(&path, &["--dry-run", "--summary"]).expect_code(0);
    assert!(
        dry.stdout
            .contains("new map: hash map (whole addresses) -> LPM trie (prefixes)"),
        "the plan says why it reloads:\n{dry}"
    );
    lab.apply_ok(&path);
    let second = prog_id(&lab);
    assert_ne!(second, first, "a new map needs the program reloaded");
    assert_eq!(map_type(&set_pin(&lab, "blocked")), "lpm_trie");
    lab.expect_verdicts("B's /24", &[(9107, false), (9102, true)]);

    // The last prefix removed: a hash map again, reloaded again; B passes.
    lab.rules("k.sk", &file(""));
    let dry = lab.apply(&path, &["--dry-run", "--json"]).expect_code(0);
    let plan: Value = serde_json::from_str(&dry.stdout).unwrap();
    let reshape = &plan["plan"]["set_reshapes"][0];
    assert_eq!(reshape["map"], "set_blocked_v4", "{dry}");
    assert_eq!(reshape["new_kind"], "hash map (whole addresses)", "{dry}");
    lab.apply_ok(&path);
    assert_ne!(prog_id(&lab), second);
    assert_eq!(map_type(&set_pin(&lab, "blocked")), "hash");
    lab.expect_verdicts("the prefix removed", &[(9107, true), (9102, true)]);
    let (r, _) = lab.status_run(&["--deep"]);
    assert_eq!(r.code, 0, "{r}");
}
