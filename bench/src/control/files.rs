//! The files the control-plane table loads, written once into the run's scratch
//! directory: per ClassBench size, the sockc rule file at XDP and the same filters as
//! an `iptables-restore` file (the head-to-head's forms, `peer::rules`), each also with
//! one rule added at the top (the re-apply's change, the same rule in both), and the
//! sockc file with two rules' verdicts flipped (what `diff` and `apply --dry-run`
//! compare), and another ClassBench set of the same size at the same hook (fw1, or
//! acl1 for fw1: nearly no rule in common, what the diff of unrelated files compares);
//! and the rule file whose set is read from a file of N addresses, with that
//! file and the file with one address more.
//!
//! Invariant: a changed file differs from its original in exactly the rules named
//! here, so a re-apply or diff of them measures a small change to a large file.

use std::{fmt::Write as _, path::PathBuf};

use sockc_testkit::{classbench, classbench_data};

use crate::peer::{link::RX_IF, rules};

/// The added rule, in both forms: a host pair no ClassBench filter is about.
const ADDED_SK: &str = "    drop ip4 udp from 192.0.2.1 to 198.51.100.1:4242";
const ADDED_IPT: &str =
    "-A PREROUTING -s 192.0.2.1/32 -d 198.51.100.1/32 -p udp -m udp --dport 4242 -j DROP";

/// One size's files.
pub struct SizeFiles {
    /// `acl1_10000`.
    pub name: String,
    pub rules: usize,
    pub sk: PathBuf,
    pub sk_added: PathBuf,
    pub sk_flipped: PathBuf,
    /// Another set's file of the same size (see the module docs).
    pub sk_unrelated: PathBuf,
    pub ipt: PathBuf,
    pub ipt_added: PathBuf,
}

/// Writes `set`'s files at `size` into `dir`.
pub fn write_size(
    classbench_dir: &std::path::Path,
    set: &str,
    size: usize,
    dir: &std::path::Path,
) -> Result<SizeFiles, String> {
    let name = format!("{set}_{size}");
    let filters = read_filters(classbench_dir, set, size)?;
    let other = if set == "fw1" { "acl1" } else { "fw1" };
    let unrelated = rules::sockc(
        &read_filters(classbench_dir, other, size)?,
        &format!("xdp on {RX_IF}"),
    );
    let sk = rules::sockc(&filters, &format!("xdp on {RX_IF}"));
    let ipt = rules::iptables(&filters);
    let write = |suffix: &str, text: &str| -> Result<PathBuf, String> {
        let path = dir.join(format!("{name}{suffix}"));
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    };
    Ok(SizeFiles {
        rules: filters.len(),
        sk: write(".sk", &sk)?,
        sk_added: write("-added.sk", &insert_after(&sk, "{\n", ADDED_SK)?)?,
        sk_flipped: write("-flipped.sk", &flip_two(&sk)?)?,
        sk_unrelated: write(&format!("-vs-{other}.sk"), &unrelated)?,
        ipt: write(".rules", &ipt)?,
        ipt_added: write("-added.rules", &insert_after(&ipt, "[0:0]\n", ADDED_IPT)?)?,
        name,
    })
}

/// The filters of ClassBench set `set` at `size`.
fn read_filters(
    dir: &std::path::Path,
    set: &str,
    size: usize,
) -> Result<Vec<classbench::Filter>, String> {
    let text = classbench_data::read(dir, &classbench_data::file_name(set, size, ""))
        .map_err(|e| e.to_string())?;
    classbench::parse_filters(&text).map_err(|e| format!("{set}_{size}: {e}"))
}

/// `text` with `line` inserted after the last occurrence of `marker`'s first line.
fn insert_after(text: &str, marker: &str, line: &str) -> Result<String, String> {
    let at = text
        .rfind(marker)
        .ok_or_else(|| format!("no `{}` to insert after", marker.trim()))?
        + marker.len();
    Ok(format!("{}{line}\n{}", &text[..at], &text[at..]))
}

/// `sk` with the verdicts of the rules a third and two thirds down the block flipped
/// (`allow` ↔ `drop`).
fn flip_two(sk: &str) -> Result<String, String> {
    let mut lines: Vec<String> = sk.lines().map(String::from).collect();
    let rules: Vec<usize> = (0..lines.len())
        .filter(|&i| {
            let l = lines[i].trim_start();
            l.starts_with("allow ") || l.starts_with("drop ")
        })
        .collect();
    if rules.len() < 3 {
        return Err("fewer than three rules to flip".into());
    }
    for k in [rules.len() / 3, 2 * rules.len() / 3] {
        let l = &mut lines[rules[k]];
        *l = if l.contains("allow ") {
            l.replacen("allow ", "drop ", 1)
        } else {
            l.replacen("drop ", "allow ", 1)
        };
    }
    Ok(lines.join("\n") + "\n")
}

/// The set benchmark's files: the rule file and the set file it reads (`cur.txt`,
/// rewritten per step), with the set's two contents.
pub struct SetFiles {
    pub rules: PathBuf,
    pub current: PathBuf,
    pub base: String,
    pub plus_one: String,
}

/// N distinct /32s spread over 10.0.0.0/8, one a line, and the same with one more.
pub fn write_set(elements: u32, dir: &std::path::Path) -> Result<SetFiles, String> {
    let rules = dir.join("set.sk");
    let text = format!(
        "set big = file \"cur.txt\"\nxdp on {RX_IF} {{\n    drop from @big\n    default allow\n}}\n"
    );
    std::fs::write(&rules, text).map_err(|e| format!("{}: {e}", rules.display()))?;
    let mut base = String::with_capacity(elements as usize * 14);
    for i in 0..elements {
        let a = (10u32 << 24) | (i.wrapping_mul(7919) % (1 << 24));
        let o = a.to_be_bytes();
        let _ = writeln!(base, "{}.{}.{}.{}", o[0], o[1], o[2], o[3]);
    }
    let plus_one = format!("{base}192.0.2.77\n");
    Ok(SetFiles {
        rules,
        current: dir.join("cur.txt"),
        base,
        plus_one,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_changes_touch_only_their_rules() {
        let sk = "xdp on pb0 {\n    drop ip4 tcp\n    allow ip4 udp\n    drop ip4 icmp\n    allow ip4\n    default allow\n}\n";
        let added = insert_after(sk, "{\n", ADDED_SK).unwrap();
        assert_eq!(added.lines().nth(1), Some(ADDED_SK));
        assert_eq!(added.lines().count(), sk.lines().count() + 1);
        let flipped = flip_two(sk).unwrap();
        let changed: Vec<(&str, &str)> = sk
            .lines()
            .zip(flipped.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(
            changed,
            [
                ("    allow ip4 udp", "    drop ip4 udp"),
                ("    drop ip4 icmp", "    allow ip4 icmp")
            ]
        );
        let ipt =
            "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -j DROP\nCOMMIT\n";
        let added = insert_after(ipt, "[0:0]\n", ADDED_IPT).unwrap();
        assert_eq!(added.lines().nth(3), Some(ADDED_IPT));
    }
}
