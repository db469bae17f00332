//! `sockc bench --peer` at its smallest: the 1k ClassBench acl1 set (vendored in
//! `bench/classbench`), one round, short windows. Every contender must be checked
//! against sockc's evaluator, loaded, and timed on real frames; the Markdown table,
//! the CSV and the SVG must come out, and no namespace or install may be left.
//!
//! A kernel test: it needs root, namespaces, `nft`, `iptables-legacy-restore` and
//! `iptables-nft-restore`, and two CPUs. Without root it prints `SKIP (not root)` and
//! passes, unless `SOCKC_KERNEL_TESTS=require`.

use crate::common;

/// Namespaces a run of process `pid` would leave (`pb<pid>-...`): a run of
/// `sockc bench --peer` or `--cgroup`.
pub(crate) fn leftover_namespaces(pid: u32) -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("pb{pid}-")))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_smallest_head_to_head_runs_and_reports() {
    if !common::kernel() {
        return;
    }
    // Its figures are measured on the machine: one measuring test at a time.
    let _measuring = common::exclusive::measuring();
    let dir = std::env::temp_dir().join(format!("sockc-peer-test-{}", std::process::id()));
    let dir_text = dir.display().to_string();
    let child = std::process::Command::new(common::bin())
        .args([
            "bench",
            "--peer",
            "--sizes",
            "1000",
            "--rounds",
            "1",
            "--window-ms",
            "300",
            "--warmup-ms",
            "50",
            "--sample",
            "40",
            "--classbench",
            "bench/classbench",
            "--peer-dir",
            &dir_text,
        ])
        .current_dir(common::root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sockc runs");
    let pid = child.id();
    let child = child.wait_with_output().expect("sockc ends");
    let stderr = String::from_utf8_lossy(&child.stderr);
    let stdout = String::from_utf8_lossy(&child.stdout);
    assert!(child.status.success(), "{stdout}\n{stderr}");
    assert_eq!(leftover_namespaces(pid), Vec::<String>::new());
    let md = std::fs::read_to_string(dir.join("peer.md")).expect("peer.md");
    for title in [
        "sockc XDP",
        "sockc TC",
        "nft, one rule per filter",
        "nft, layered interval vmaps",
        "iptables-legacy (raw)",
        "iptables-nft (raw)",
        "no filter (receive path)",
    ] {
        assert!(md.contains(title), "{title} missing from\n{md}");
    }
    assert!(md.contains("all agree"), "{md}");
    let csv = std::fs::read_to_string(dir.join("peer.csv")).expect("peer.csv");
    // 7 contenders × 2 packets, 6 loads × 2 figures, the 8 parts of a sockc load
    // for XDP and TC, and the header.
    assert_eq!(csv.lines().count(), 1 + 14 + 12 + 16, "{csv}");
    assert!(md.contains("Where a sockc load's time goes"), "{md}");
    for who in ["sockc-xdp", "sockc-tc"] {
        let parts: Vec<f64> = csv
            .lines()
            .filter(|l| l.contains(&format!(",{who},load_part:")))
            .map(|l| l.split(',').nth(5).unwrap().parse().unwrap())
            .collect();
        assert_eq!(parts.len(), 8, "{csv}");
        assert!(parts.iter().all(|v| *v >= 0.0), "{csv}");
        // Compile and the verifier take time in every load (the attach may not: its
        // hook was made ready while the verifier ran).
        assert!(parts[0] > 0.0 && parts[3] > 0.0, "{csv}");
    }
    for line in csv.lines().skip(1).filter(|l| l.contains("ns_per_packet")) {
        let value: f64 = line.split(',').nth(5).unwrap().parse().unwrap();
        assert!(value > 0.0 && value.is_finite(), "{line}");
    }
    let svg = std::fs::read_to_string(dir.join("peer.svg")).expect("peer.svg");
    assert!(
        svg.starts_with("<svg") && svg.contains("sockc XDP"),
        "{svg}"
    );
    let installs: Vec<String> = std::fs::read_dir("/sys/fs/bpf/sockc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(&format!("peerbench-{pid}-")))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(installs, Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&dir);
}
