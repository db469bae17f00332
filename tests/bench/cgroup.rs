//! `sockc bench --cgroup` at its smallest: the 1k ClassBench acl1 set (vendored in
//! `bench/classbench`), 100 connect prefixes, one round, short windows. Every
//! contender must be checked (its late datagram and free connect pass, what its rules
//! refuse fails) and timed; the tables and a `sockc.bench.cgroup/1` document with a
//! finite, positive figure and ratio for every contender must come out (timings are
//! not judged), and no namespace, cgroup or install may be left.
//!
//! A kernel test: it needs root, namespaces, cgroup v2, `nft`, `nsenter` and
//! `unshare`. Without root it prints `SKIP (not root)` and passes, unless
//! `SOCKC_KERNEL_TESTS=require`.

use serde_json::Value;

use crate::common;

/// What a run of process `pid` would leave: its namespace, its cgroup, its bpffs.
fn leftovers(pid: u32) -> Vec<String> {
    let mut left = crate::peer::leftover_namespaces(pid);
    for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        let dir = format!("{root}/sockc-cgbench-{pid}");
        if std::path::Path::new(&dir).exists() {
            left.push(dir);
        }
    }
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    left.extend(
        mounts
            .lines()
            .filter(|l| l.contains(&format!("sockc-peer-{pid}/")))
            .map(str::to_string),
    );
    left
}

fn positive(v: &Value, what: &str) {
    let x = v.as_f64().unwrap_or_else(|| panic!("{what}: {v}"));
    assert!(x.is_finite() && x > 0.0, "{what}: {x}");
}

#[test]
fn the_smallest_cgroup_run_reports_every_contender() {
    if !common::kernel() {
        return;
    }
    // Its figures are measured on the machine: one measuring test at a time.
    let _measuring = common::exclusive::measuring();
    let peer = common::peer_exe();
    assert!(peer.exists(), "{}", peer.display());
    let figures = std::env::temp_dir().join(format!("sockc-cgbench-{}.json", std::process::id()));
    let child = std::process::Command::new(common::bin())
        .args([
            "bench",
            "--cgroup",
            "--cgroup-sizes",
            "1000",
            "--rounds",
            "1",
            "--window-ms",
            "100",
            "--warmup-ms",
            "20",
            "--connect-rules",
            "100",
            "--connects",
            "200",
            "--classbench",
            "bench/classbench",
            "--figures",
        ])
        .arg(&figures)
        .current_dir(common::root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sockc runs");
    let pid = child.id();
    let out = child.wait_with_output().expect("sockc ends");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(leftovers(pid), Vec::<String>::new());
    for title in [
        "sockc `cgroup egress` block",
        "nft output, `socket cgroupv2` in every rule",
        "nft output, `meta skuid` in every rule",
        "nft output, one `socket cgroupv2` jump",
        "sockc `cgroup connect` block",
        "systemd-style `IPAddressDeny=`",
    ] {
        assert!(stdout.contains(title), "{title} missing from\n{stdout}");
    }
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&figures).unwrap()).unwrap();
    std::fs::remove_file(&figures).ok();
    common::schema::Schemas::load().validate("bench.cgroup", &doc);
    let packets = doc["packets"].as_array().unwrap();
    assert_eq!(packets.len(), 5, "{doc:#}");
    for p in packets {
        for k in ["cpu_ns", "ratio_none", "ratio_sockc"] {
            positive(&p[k], &format!("{} {k}", p["contender"]));
        }
    }
    let connects = doc["connects"].as_array().unwrap();
    assert_eq!(connects.len(), 3, "{doc:#}");
    for c in connects {
        assert_eq!(c["rules"], 100);
        for k in ["tcp_ns", "tcp_ratio_none", "udp_ns", "udp_ratio_none"] {
            positive(&c[k], &format!("{} {k}", c["contender"]));
        }
    }
}
