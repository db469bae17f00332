//! An update of a set in place writes the change and nothing else: an entry put into
//! the pinned set map behind sockc's back (with bpftool) survives an apply that adds
//! one element, `status --deep` still reports it, and an apply of the same file (no
//! change) rewrites the map from the manifest. An element the file removes that was
//! already deleted by hand is no error.
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

fn rules(b: Ipv4Addr, extra: &[&str], a: &str) -> String {
    let mut set = vec![b.to_string(), "192.0.2.1".to_string()];
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
    let lab = Lab::new("setdelta", 233);
    let (a, b) = (lab.if_a.clone(), lab.addr_b);
    let file = lab.rules("s.sk", &rules(b, &[], &a));
    lab.apply_ok(&file);
    let pin = set_pin(&lab, "blocked");
    let foreign = Ipv4Addr::new(198, 51, 100, 99);
    by_hand(&pin, "update", foreign);
    assert!(
        addresses(&pin).contains(&foreign),
        "bpftool wrote the entry"
    );

    // One element added: written in place; the foreign entry is left where it is.
    lab.rules("s.sk", &rules(b, &["192.0.2.2"], &a));
    let r = lab.apply_ok(&file);
    assert!(!r.stdout.contains("rewritten from the manifest"), "{r}");
    let live = addresses(&pin);
    let want_new = Ipv4Addr::new(192, 0, 2, 2);
    assert!(live.contains(&want_new), "the added element: {live:?}");
    assert!(live.contains(&foreign), "the foreign entry stays: {live:?}");
    assert_eq!(live.len(), 4, "{live:?}");
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
    lab.rules("s.sk", &rules(b, &[], &a));
    lab.apply_ok(&file);
    assert_eq!(
        addresses(&pin),
        [Ipv4Addr::new(10, 200, 233, 2), Ipv4Addr::new(192, 0, 2, 1)]
    );
    let (r, _) = lab.status_run(&["--deep"]);
    assert_eq!(r.code, 0, "{r}");
}
