//! `sockc bench`'s "reject against drop" table: an acl1 ClassBench set with every
//! `drop` rule written `reject`, against the same set as it is, in ns per late packet
//! at XDP in the same run, and their ratio (issue 50: rules that reject are
//! classified like rules that drop, so the ratio stays near 1; before, a reject left
//! the classifier's run and 10k such rules cost 847 times as much).
//!
//! The packet is the set's late one (the one its last rules decide) sent to the
//! broadcast Ethernet address: `reject` never answers a group destination (it drops
//! it, as the rule's, after the classification decided it), so every repeat of the
//! kernel's test loop runs the same frame through both programs and the figure is the
//! classification's, not the answer's (the constructs table times the answers).
//!
//! Invariant: before they are timed, both programs are checked to give that frame the
//! same return code and to count it in the same rule's counter (the late rule, as
//! the classifier decided it), so the table never compares two different paths.

use sockc_compiler::opt::OptLevel;
use sockc_runtime::LoadedObject;

use crate::{
    cases::{Case, Family},
    measure::{compile, kernel_ns, TestRuns},
};

/// The largest set the table measures (100k rules take long to compile twice).
const MAX_RULES: usize = 10_000;

/// The table over the IPv4 acl1 cases of `cases` up to [`MAX_RULES`]; printed as it
/// goes, and returned (empty without such a case).
pub fn table(cases: &[Case], runs: TestRuns) -> Result<String, String> {
    let acl1 = cases
        .iter()
        .filter(|c| c.name.starts_with("acl1_") && c.family == Family::V4)
        .filter(|c| c.rules <= MAX_RULES);
    let mut out = String::new();
    for case in acl1 {
        let Some(Some(late)) = case
            .packets
            .iter()
            .find(|(label, _)| *label == "late")
            .map(|(_, p)| p.as_ref())
        else {
            continue;
        };
        if out.is_empty() {
            out.push_str(
                "\nReject against drop (every `drop` rule written `reject`; ns per late packet \
                 to the broadcast address, XDP, same run):\n\n\
                 | rule set | drop | reject | ratio |\n|---|---:|---:|---:|\n",
            );
            print!("{out}");
        }
        let mut frame = late.build();
        frame[..6].copy_from_slice(&[0xff; 6]);
        let drop = load(&case.source)?;
        let reject = load(&rejecting(&case.source))?;
        let verdicts = (run_once(&drop, &frame)?, run_once(&reject, &frame)?);
        if verdicts.0 != verdicts.1 || verdicts.0 .1.is_empty() {
            return Err(format!(
                "{}: the late packet gets (return code, counters moved) {verdicts:?} (drop, reject)",
                case.name
            ));
        }
        let [d, r] = [&drop, &reject].map(|o| kernel_ns(o, &o.programs()[0].symbol, &frame, runs));
        let line = format!("| {} | {d:.1} | {r:.1} | {:.2} |\n", case.name, r / d);
        print!("{line}");
        out.push_str(&line);
    }
    Ok(out)
}

/// `src` with each rule whose action is `drop` rejecting instead (the default stays).
fn rejecting(src: &str) -> String {
    src.lines()
        .map(|l| match l.strip_prefix("    drop ") {
            Some(rest) => format!("    reject {rest}\n"),
            None => format!("{l}\n"),
        })
        .collect()
}

fn load(src: &str) -> Result<LoadedObject, String> {
    let c = compile(src, OptLevel::O2)?;
    LoadedObject::load(&c.to_elf().map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

/// The program's return code for one run of `frame`, and the counter slots it moved.
fn run_once(obj: &LoadedObject, frame: &[u8]) -> Result<(u32, Vec<u32>), String> {
    let counters = || obj.counters().map_err(|e| e.to_string());
    let before = counters()?;
    let retval = obj
        .test_run(&obj.programs()[0].symbol, frame, 1)
        .map(|r| r.retval)
        .map_err(|e| e.to_string())?;
    let moved = sockc_testkit::compare::moved_between(&before, &counters()?);
    Ok((retval, moved.into_keys().collect()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_rules_that_drop_reject() {
        let src = "xdp on eth0 {\n    drop tcp to *:1\n    allow udp\n    default drop\n}\n";
        assert_eq!(
            super::rejecting(src),
            "xdp on eth0 {\n    reject tcp to *:1\n    allow udp\n    default drop\n}\n"
        );
    }
}
