//! Where one sockc load's time goes: the stages `sockc apply --timings` prints, read
//! back and summed into the parts the head-to-head's table shows (process start and
//! exit, compile, plan and checks, maps and tables, the verifier, records and
//! journals (with the pins), attach, the rest). The parts are taken from one extra load per
//! contender and size (round 1, as the peak RSS is), so they explain the load column
//! without being it.
//!
//! Invariant: the parts of one load add up to that load's wall time. A stage on
//! another thread (the per-CPU maps, the table fill beside the verifier) overlaps
//! the others and is left out of the sums; what no stage covers in the process is
//! "other", and the time outside it (exec, dynamic linking, exit) is "process start
//! and exit".

/// The parts of a load, in the table's order: a name, and the prefixes of the stage
/// names summed into it.
pub const PARTS: &[(&str, &[&str])] = &[
    ("compile", &["read and compile"]),
    (
        "plan and checks",
        &[
            "enter the network namespace",
            "open and lock the store",
            "finish or undo",
            "read the installed",
            "check other installs",
            "plan",
        ],
    ),
    ("maps and tables", &["create maps", "fill "]),
    ("verifier", &["verify and load "]),
    (
        "records and journals",
        &["write the records", "journal:", "pin ", "commit"],
    ),
    ("attach", &["attach ", "swap "]),
];

/// Stages that run beside the others, left out of the sums.
const BESIDE: &str = "(another thread)";

/// One load's parts, ms, in [`PARTS`] order, then "other" and "process start and
/// exit".
#[derive(Clone, Debug, PartialEq)]
pub struct Breakdown {
    pub parts: Vec<f64>,
    pub other: f64,
    pub outside: f64,
}

/// One stage as `apply --timings` printed it (ms).
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    pub start: f64,
    pub took: f64,
    pub name: String,
}

/// The stages of `apply --timings` output `stderr`, and the total it printed; `None`
/// when it printed none.
pub fn parse(stderr: &str) -> Option<(Vec<Stage>, f64)> {
    let mut lines = stderr.lines().skip_while(|l| !l.starts_with("timings (ms"));
    lines.next()?;
    let mut stages = Vec::new();
    for l in lines.skip(1) {
        let t = l.trim_start();
        if let Some(rest) = t.strip_prefix("total ") {
            let total = rest.split_whitespace().next()?.parse().ok()?;
            return Some((stages, total));
        }
        let (start, rest) = t.split_once(char::is_whitespace)?;
        let (took, name) = rest.trim_start().split_once(char::is_whitespace)?;
        let (start, took) = (start.parse().ok()?, took.parse().ok()?);
        let name = name.trim().to_string();
        stages.push(Stage { start, took, name });
    }
    None
}

/// Every part's name, in the table's order: [`PARTS`], then "other" and "process
/// start and exit".
pub fn names() -> impl Iterator<Item = &'static str> {
    PARTS
        .iter()
        .map(|(n, _)| *n)
        .chain(["other", "process start and exit"])
}

impl Breakdown {
    /// Each part's name ([`names`]) and ms.
    pub fn named(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        let values = self.parts.iter().copied();
        names().zip(values.chain([self.other, self.outside]))
    }
}

/// The parts of a load of `wall_ms` whose stages (from [`parse`]) ran `total_ms`.
pub fn group(stages: &[Stage], total_ms: f64, wall_ms: f64) -> Breakdown {
    let mut parts = vec![0.0; PARTS.len()];
    for s in stages.iter().filter(|s| !s.name.contains(BESIDE)) {
        if let Some(i) = PARTS
            .iter()
            .position(|(_, pre)| pre.iter().any(|p| s.name.starts_with(p)))
        {
            parts[i] += s.took;
        }
    }
    let named: f64 = parts.iter().sum();
    Breakdown {
        parts,
        other: (total_ms - named).max(0.0),
        outside: (wall_ms - total_ms).max(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // As `apply --timings` prints it: right-aligned numbers after two spaces.
    const OUT: &str = concat!(
        "notice: something\n",
        "timings (ms from the start of the command; a stage on another thread overlaps the others):\n",
        "     start     took  stage\n",
        "       0.0      3.6  read and compile (parse 0.7, sema 0.5)\n",
        "       3.6      0.2  hand freed memory back\n",
        "       4.2      0.6  plan\n",
        "       5.3      1.4  create maps\n",
        "       5.7      0.3  fill classifier tables\n",
        "       6.1      0.6  create per-CPU counters (another thread)\n",
        "       6.7      3.6  verify and load tci_pb0\n",
        "      10.3      0.6  write the records (rules, text, sets)\n",
        "      11.0      0.1  journal: building\n",
        "      11.3      6.4  attach tc ingress on pb0\n",
        "      17.9      0.2  commit\n",
        "  total 18.6 until output\n",
    );

    #[test]
    fn stages_are_read_back_and_every_ms_of_the_load_lands_in_one_part() {
        let (stages, total) = parse(OUT).expect("timings");
        assert_eq!(stages.len(), 11);
        assert_eq!(stages[7].name, "write the records (rules, text, sets)");
        assert_eq!((stages[7].start, stages[7].took), (10.3, 0.6));
        assert_eq!(total, 18.6);
        let b = group(&stages, total, 22.0);
        let want = [3.6, 0.6, 1.7, 3.6, 0.9, 6.4];
        for (got, want) in b.parts.iter().zip(want) {
            assert!((got - want).abs() < 1e-9, "{:?}", b.parts);
        }
        let sum: f64 = b.named().map(|(_, ms)| ms).sum();
        assert!((sum - 22.0).abs() < 1e-9, "{b:?}");
        assert!((b.outside - 3.4).abs() < 1e-9);
    }

    #[test]
    fn output_without_timings_gives_none() {
        assert_eq!(parse("h: generation 1 applied\n"), None);
        assert_eq!(parse("timings (ms\n start took stage\n 0.0 1.0 x\n"), None);
    }
}
