//! `sockc bench --csv FILE --svg FILE` at its smallest (the ten-rule set and the
//! vendored 1k acl1 set, short test runs, no other table): the CSV has one line per
//! set and level under its header, every figure a number, and the SVG is well-formed
//! XML with a line per set and level. Kernel test (root; skipped otherwise).

use crate::common;

#[test]
fn a_tiny_bench_writes_a_csv_that_parses_and_a_well_formed_svg() {
    if !common::kernel() {
        return;
    }
    // Its figures are measured on the machine: one measuring test at a time.
    let _measuring = common::exclusive::measuring();
    let dir = std::env::temp_dir().join(format!("sockc-bench-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (csv_path, svg_path) = (dir.join("rules.csv"), dir.join("rules.svg"));
    let out = std::process::Command::new(common::bin())
        .args([
            "bench",
            "--classbench",
            "bench/classbench",
            "--sets",
            "acl1",
        ])
        .args([
            "--sizes",
            "1000",
            "--v6-sets",
            "",
            "--repeat",
            "1000",
            "--runs",
            "1",
        ])
        .args(["--no-sockets", "--no-sk-lookup", "--no-sockmap"])
        .arg("--csv")
        .arg(&csv_path)
        .arg("--svg")
        .arg(&svg_path)
        .current_dir(common::root())
        .output()
        .expect("sockc runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    let csv = std::fs::read_to_string(&csv_path).expect("the CSV");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    assert_eq!(header[..3], ["set", "rules", "level"], "{csv}");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // Two sets (ten rules, acl1_1000) × three levels.
    assert_eq!(rows.len(), 6, "{csv}");
    let late = header
        .iter()
        .position(|h| *h == "late_ns")
        .expect("late_ns");
    for row in &rows {
        assert_eq!(row.len(), header.len(), "{csv}");
        assert!(["-O0", "-O2", "baseline"].contains(&row[2]), "{csv}");
        assert!(row[1].parse::<usize>().is_ok(), "{csv}");
        let late_ns: f64 = row[late].parse().unwrap_or_else(|_| panic!("{csv}"));
        assert!(late_ns > 0.0, "{csv}");
        // Every other figure is a number (or empty where the kernel gave none).
        for field in &row[3..header.len() - 1] {
            assert!(field.is_empty() || field.parse::<f64>().is_ok(), "{csv}");
        }
    }

    let svg = std::fs::read_to_string(&svg_path).expect("the SVG");
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{e}:\n{svg}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    for label in ["acl1 -O0", "acl1 -O2", "acl1 baseline", "10 rules -O2"] {
        assert!(texts.contains(&label), "{label} not in the legend:\n{svg}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
