//! An import whose every rule stays in netfilter (two tables' base chains at one
//! priority, one with a drop policy, run in netfilter alone) writes a file of a
//! residual and no hook block: `sockc apply` installs it without `--allow-empty`, and
//! the residual filters as the original did. (Before, the apply refused it as a file
//! that would detach every hook, and nothing was installed.)

use crate::common;
use crate::netns;

use netns::Lab;

#[test]
fn a_file_of_a_residual_alone_applies_and_filters() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("resonly", 28);
    let ruleset = "table ip a {\n\tchain c {\n\t\ttype filter hook input priority 0; policy \
                   accept;\n\t\tudp dport 9001 drop\n\t}\n}\ntable inet b {\n\tchain c {\n\t\t\
                   type filter hook input priority 0; policy drop;\n\t\tudp dport 9002 accept\n\
                   \t\tct state established,related accept\n\t}\n}\n";
    let source = lab.rules("only.nft", ruleset);
    let out = lab.dir.join("only.sk");
    let r = netns::sockc(&[
        "import",
        source.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(r.stderr.contains("0 exact, 3 in the residual"), "{r}");
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(!written.lines().any(|l| l.ends_with('{')), "{written}");
    lab.apply(&out, &[]).ok();
    lab.expect_verdicts(
        "the residual alone",
        &[(9001, false), (9002, true), (9003, false)],
    );
}
