//! The progress spinner as a user meets it: `sockc import` of a file large enough to
//! run past a second, on a terminal (a pseudo-terminal from util-linux `script`),
//! shows "importing FILE" on stderr and clears it; the same command with stderr on a
//! pipe writes not one byte of it. The work is sized (tens of thousands of rules in a
//! debug build) so it cannot finish within the spinner's one-second grace period.

use crate::common;

use std::{path::PathBuf, process::Command};

/// An iptables-save dump of `n` distinct INPUT rules.
fn big_dump(n: usize) -> String {
    let mut s = String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n");
    s += ":OUTPUT ACCEPT [0:0]\n";
    for i in 0..n {
        let (a, b, c) = (i >> 16 & 0xff, i >> 8 & 0xff, i & 0xff);
        s += &format!(
            "-A INPUT -s 10.{a}.{b}.{c}/32 -p tcp -m tcp --dport {} -j DROP\n",
            1 + i % 60000
        );
    }
    s + "COMMIT\n"
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sockc-progress-tty-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_long_import_shows_a_spinner_on_a_terminal_only() {
    if Command::new("script").arg("--version").output().is_err() {
        panic!("util-linux `script` is a test prerequisite (scripts/test checks it)");
    }
    let dir = scratch();
    let input = dir.join("big.rules");
    std::fs::write(&input, big_dump(60_000)).unwrap();
    let bin = common::bin();
    let cmd = format!(
        "{} import {} --hook xdp --interface eth0 -o {}",
        bin,
        input.display(),
        dir.join("tty.sk").display()
    );
    // `script -e` returns the command's exit code; its typescript goes to /dev/null
    // and what the terminal showed comes back on stdout.
    let tty = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&tty.stdout).into_owned();
    let spinner = format!("importing {}", input.display());
    let piped = Command::new(&bin)
        .args(["import", input.to_str().unwrap(), "--hook", "xdp"])
        .args(["--interface", "eth0", "-o"])
        .arg(dir.join("pipe.sk"))
        .output()
        .unwrap();
    let piped_err = String::from_utf8_lossy(&piped.stderr).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        tty.status.success(),
        "import on a terminal failed:\n{shown}"
    );
    assert!(
        shown.contains(&spinner),
        "no spinner on the terminal:\n{shown}"
    );
    assert!(piped.status.success(), "{piped_err}");
    assert!(
        !piped_err.contains(&spinner),
        "spinner text reached a pipe:\n{piped_err}"
    );
}
