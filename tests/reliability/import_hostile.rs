//! `sockc import` on hostile files, as a user meets them: a file over the source-size
//! bound (exit 2, read no further than the bound), a file that is not UTF-8 (exit 1
//! with the line and column of the first bad byte), a jump loop (exit 1 at the jump),
//! a ruleset too large to flatten (exit 1, `sockc::import-too-large` at the rule, and
//! no output file written).

use crate::common;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sockc-import-hostile-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `sockc import FILE --hook tc --interface eth0 -o OUT` with `env`: exit code, stderr.
fn import(file: &Path, out: &Path, env: &[(&str, &str)]) -> (i32, String) {
    let o = Command::new(common::bin())
        .args(["import", file.to_str().unwrap(), "--hook", "tc"])
        .args(["--interface", "eth0", "-o", out.to_str().unwrap()])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_file_over_the_source_bound_is_refused() {
    let dir = scratch("big");
    let file = dir.join("big.iptables");
    let mut text = String::from("*filter\n:INPUT ACCEPT [0:0]\n");
    while text.len() < 300_000 {
        text.push_str("-A INPUT -s 10.0.0.0/8 -p tcp --dport 22 -j DROP\n");
    }
    text.push_str("COMMIT\n");
    std::fs::write(&file, &text).unwrap();
    let out = dir.join("out.sk");
    let (code, err) = import(&file, &out, &[("SOCKC_MAX_SOURCE_BYTES", "100000")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("max-source-bytes"), "{err}");
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_that_is_not_utf8_is_refused_at_its_byte() {
    let dir = scratch("latin1");
    let file = dir.join("latin1.iptables");
    let mut bytes = b"*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment \"caf".to_vec();
    bytes.extend([0xe9, b'"']);
    bytes.extend(b" -j DROP\nCOMMIT\n");
    std::fs::write(&file, &bytes).unwrap();
    let out = dir.join("out.sk");
    let (code, err) = import(&file, &out, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("line 3, column 35"), "{err}");
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_jump_loop_and_a_fan_out_are_errors_at_their_rule() {
    let dir = scratch("loop");
    let file = dir.join("loop.iptables");
    std::fs::write(
        &file,
        "*filter\n:INPUT ACCEPT [0:0]\n:A - [0:0]\n-A INPUT -j A\n-A A -p udp -j A\nCOMMIT\n",
    )
    .unwrap();
    let out = dir.join("out.sk");
    let (code, err) = import(&file, &out, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("loop.iptables:5:1"), "{err}");
    assert!(err.contains("closes a loop (A → A)"), "{err}");
    assert!(!out.exists());

    let mut text = String::from("*filter\n:INPUT ACCEPT [0:0]\n");
    for i in 0..=40 {
        text.push_str(&format!(":C{i} - [0:0]\n"));
    }
    text.push_str("-A INPUT -j C0\n");
    for i in 0..40 {
        text.push_str(&format!("-A C{i} -s 10.0.0.0/8 -j C{}\n", i + 1));
        text.push_str(&format!("-A C{i} -d 10.0.0.0/8 -j C{}\n", i + 1));
    }
    text.push_str("-A C40 -p tcp -j DROP\nCOMMIT\n");
    let lines = text.lines().count();
    let file = dir.join("fan.iptables");
    std::fs::write(&file, &text).unwrap();
    let (code, err) = import(&file, &out, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("sockc::import-too-large"), "{err}");
    assert!(
        err.contains(&format!("fan.iptables:{}:1", lines - 1)),
        "{err}"
    );
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
