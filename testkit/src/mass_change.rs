//! Pairs of rule files whose change moves the regions of thousands of rules at once,
//! for the semantic diff's tests and measurements (docs/diff.md, "A budget of work"):
//! a broad `drop` put on top of narrow rules ([`narrow_rules`]), which changes every
//! `allow` under it, and disjoint rules with every `allow` made `drop`
//! ([`disjoint_v6`]), where each changed rule's region is its own answer.
//!
//! Invariant: the files depend only on the arguments (a fixed sequence, no seed), so
//! a size names one pair everywhere.

/// The broad rule [`narrow_rules`] puts on top.
pub const BROAD_TOP: &str = "drop tcp from 10.0.0.0/8";

/// `n` narrow rules at `xdp on eth0`, alternately allowed and dropped, each one
/// source address of 10.0.0.0/8 and one port (spread by a fixed sequence), below
/// [`BROAD_TOP`] when `top`; default allow. With and without it, the verdict of every
/// `allow` rule's packets and of the default's in 10.0.0.0/8 changes: `n / 2 + 1`
/// regions.
pub fn narrow_rules(n: usize, top: bool) -> String {
    let mut rules: Vec<String> = top.then(|| BROAD_TOP.to_string()).into_iter().collect();
    for i in 0..n as u64 {
        let x = i.wrapping_mul(2_654_435_761) % (1 << 24);
        let verdict = ["allow", "drop"][i as usize % 2];
        let (a, b, c) = (x >> 16, (x >> 8) & 255, x & 255);
        let port = 1 + (i * 7919) % 65000;
        rules.push(format!("{verdict} tcp from 10.{a}.{b}.{c} to *:{port}"));
    }
    block(&rules)
}

/// `n` disjoint IPv6 /64 prefixes at `xdp on eth0`, alternately allowed and dropped,
/// or all dropped (`all_drop`); default allow. The two differ in `n / 2` regions.
pub fn disjoint_v6(n: usize, all_drop: bool) -> String {
    let rules: Vec<String> = (0..n)
        .map(|i| {
            let verdict = if all_drop || i % 2 == 1 {
                "drop"
            } else {
                "allow"
            };
            format!(
                "{verdict} from 2001:db8:{:x}:{:x}::/64",
                i / 65536 + 1,
                i % 65536
            )
        })
        .collect();
    block(&rules)
}

fn block(rules: &[String]) -> String {
    format!(
        "xdp on eth0 {{\n    {}\n    default allow\n}}\n",
        rules.join("\n    ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_hold_the_rules_asked_for() {
        let (old, new) = (narrow_rules(10, false), narrow_rules(10, true));
        assert_eq!(old.lines().count() + 1, new.lines().count());
        assert_eq!(new.lines().nth(1).unwrap().trim(), BROAD_TOP);
        assert_eq!(old.matches("allow tcp").count(), 5);
        let flipped = disjoint_v6(10, true);
        assert_eq!(disjoint_v6(10, false).matches("allow from").count(), 5);
        assert_eq!(flipped.matches("allow from").count(), 0);
        assert!(flipped.contains("drop from 2001:db8:1:9::/64"));
    }
}
