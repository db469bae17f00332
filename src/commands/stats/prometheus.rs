//! `stats --prometheus`: the counters in the Prometheus text exposition format
//! (version 0.0.4), for node_exporter's textfile collector: a counter per rule
//! (packets and bytes, labelled by install, hook, attach point, rule id and rule
//! text), the generation and apply time per install, and how many installs could not
//! be read. Invariant: every label value is escaped ([`label`]).

use std::fmt::Write as _;

use sockc_runtime::install::RuleStats;

use super::{Reading, Sample};

/// A Prometheus label value: backslash, double quote and newline escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The Prometheus text exposition format (version 0.0.4).
pub fn text(reading: &Reading) -> String {
    let mut out = String::new();
    rule_counters(&mut out, reading);
    install_gauges(&mut out, reading);
    out
}

/// Each rule's packets and bytes.
fn rule_counters(out: &mut String, reading: &Reading) {
    type Family = (
        &'static str,
        &'static str,
        &'static str,
        fn(&RuleStats) -> u64,
    );
    let families: [Family; 2] = [
        (
            "sockc_rule_packets_total",
            "counter",
            "Packets a rule decided (or counted), since it was installed or reset; kept across re-applies that keep the rule.",
            |r| r.packets,
        ),
        (
            "sockc_rule_bytes_total",
            "counter",
            "Bytes of the packets a rule decided (or counted).",
            |r| r.bytes,
        ),
    ];
    for (metric, kind, help, value) in families {
        let _ = writeln!(out, "# HELP {metric} {help}");
        let _ = writeln!(out, "# TYPE {metric} {kind}");
        for s in &reading.installs {
            for r in &s.rules {
                let _ = writeln!(
                    out,
                    "{metric}{{install=\"{}\",hook=\"{}\",attach_to=\"{}\",rule_id=\"{}\",rule=\"{}\"}} {}",
                    label(&s.name),
                    label(&r.hook.to_string()),
                    label(&r.attach_to),
                    r.id,
                    label(&r.text),
                    value(r)
                );
            }
        }
    }
}

/// Each install's generation and apply time, and the installs that could not be read.
fn install_gauges(out: &mut String, reading: &Reading) {
    type Gauge = (&'static str, &'static str, fn(&Sample) -> u64);
    let gauges: [Gauge; 2] = [
        (
            "sockc_install_generation",
            "The generation an install runs.",
            |s| s.generation,
        ),
        (
            "sockc_install_applied_timestamp_seconds",
            "When the install's generation was applied.",
            |s| s.applied_unix,
        ),
    ];
    for (metric, help, value) in gauges {
        let _ = writeln!(out, "# HELP {metric} {help}");
        let _ = writeln!(out, "# TYPE {metric} gauge");
        for s in &reading.installs {
            let _ = writeln!(
                out,
                "{metric}{{install=\"{}\"}} {}",
                label(&s.name),
                value(s)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP sockc_reject_answers_refused_total ICMP answers of reject rules the answer limits refused (dropped instead)."
    );
    let _ = writeln!(out, "# TYPE sockc_reject_answers_refused_total counter");
    for s in &reading.installs {
        for (bucket, n) in s
            .answers_refused
            .iter()
            .flat_map(|a| [("host", a[0]), ("destination", a[1])])
        {
            let _ = writeln!(
                out,
                "sockc_reject_answers_refused_total{{install=\"{}\",bucket=\"{bucket}\"}} {n}",
                label(&s.name)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP sockc_install_read_errors Installs whose counters could not be read (see sockc stats)."
    );
    let _ = writeln!(out, "# TYPE sockc_install_read_errors gauge");
    let _ = writeln!(out, "sockc_install_read_errors {}", reading.errors.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_escapes_labels() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
