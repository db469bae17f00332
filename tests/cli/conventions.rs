//! The command line's conventions: shell completions and man pages generated from the
//! clap definition, `-` for standard input, `-q`, help text that is complete and
//! accurate (`-O` only where something compiles, `--name`'s default stated), and `test
//! --repeat` saying why it printed no timing.

use crate::common;

use std::{
    io::Write,
    process::{Command, Stdio},
};

use common::sockc;

fn sockc_stdin(args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sockc"))
        .args(args)
        .current_dir(common::root())
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sockc runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn completions_for_every_shell() {
    for (shell, marker) in [
        ("bash", "complete -F _sockc"),
        ("zsh", "#compdef sockc"),
        ("fish", "complete -c sockc"),
    ] {
        let (code, out, err) = sockc(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.contains(marker), "{shell}: {out}");
        for sub in ["apply", "stats", "completions", "dry-run"] {
            assert!(out.contains(sub), "{shell} completes {sub}");
        }
    }
    let (code, _, err) = sockc(&["completions", "tcsh"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn man_pages() {
    let (code, out, err) = sockc(&["man"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(".TH sockc 1"), "{out}");
    assert!(out.contains("apply"), "{out}");
    let dir = std::env::temp_dir().join(format!("sockc-man-{}", std::process::id()));
    let (code, _, err) = sockc(&["-q", "man", "--dir", dir.to_str().unwrap()]);
    let apply = std::fs::read_to_string(dir.join("sockc-apply.1"));
    let main = std::fs::read_to_string(dir.join("sockc.1"));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "-q: {err}");
    assert!(apply.unwrap().contains("\\-\\-dry\\-run"));
    assert!(main.unwrap().contains(".TH sockc 1"));
}

fn help(sub: &str) -> String {
    let (code, out, err) = sockc(&[sub, "--help"]);
    assert_eq!(code, 0, "{sub}: {err}");
    out
}

#[test]
fn opt_level_only_where_something_compiles() {
    for sub in ["compile", "check", "test", "apply", "diff"] {
        assert!(help(sub).contains("-O <LEVEL>"), "{sub} takes -O");
    }
    for sub in [
        "status",
        "stats",
        "flush",
        "repair",
        "classbench",
        "import",
        "register",
        "unregister",
        "bench",
        "completions",
        "man",
    ] {
        assert!(!help(sub).contains("-O <LEVEL>"), "{sub} compiles nothing");
    }
    let (code, _, err) = sockc(&["status", "-O0"]);
    assert_eq!(code, 2, "{err}");
    // Given after the subcommand, -O still works where it belongs.
    let (code, out, err) = sockc(&["compile", "rules/examples/brief.sk", "-O0"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.is_empty());
}

#[test]
fn help_describes_files_json_and_name_defaults() {
    for sub in ["compile", "check", "import"] {
        let h = help(sub);
        assert!(h.contains("`-` reads standard input"), "{sub}: {h}");
    }
    for sub in [
        "status", "stats", "repair", "apply", "diff", "check", "test",
    ] {
        let h = help(sub);
        // Short help puts the text on the flag's line, long help on the next one.
        let lines: Vec<&str> = h.lines().collect();
        let i = lines
            .iter()
            .position(|l| l.trim_start().starts_with("-j, --json"))
            .unwrap_or_else(|| panic!("{sub} has --json: {h}"));
        let text = format!("{} {}", lines[i].trim(), lines.get(i + 1).unwrap_or(&""));
        assert!(text.contains("JSON"), "{sub}: {text}");
    }
    for (sub, default) in [
        ("status", "default: every install"),
        ("stats", "default: every install"),
        ("repair", "default: every install"),
        ("flush", "default: the only install"),
        ("apply", "default: the rule file's name"),
        ("register", "default: the only install that declares SOCKET"),
        (
            "unregister",
            "default: the only install that declares SOCKET",
        ),
        ("show", "default: the only install there is"),
        ("confirm", "given both, they must be the same"),
    ] {
        let h = help(sub);
        assert!(h.contains(default), "{sub}: {h}");
    }
    // No command's --name says another command's default (issue 47 item 11).
    for sub in ["status", "flush", "show", "confirm", "register", "diff"] {
        assert!(!help(sub).contains("default for apply"), "{sub}");
    }
}

/// `confirm NAME --name OTHER` names two installs: refused before anything is opened,
/// as its help says ("given both, they must be the same").
#[test]
fn confirm_refuses_two_names() {
    let (code, _, err) = sockc(&["confirm", "a", "--name", "b"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--name and NAME name two installs"), "{err}");
}

/// Every command that prints JSON takes `-j` for it, as bpftool does.
#[test]
fn dash_j_is_json_everywhere() {
    let (code, out, err) = sockc(&["check", "-j", "rules/examples/brief.sk"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["schema"], "sockc.check/1");
    for sub in [
        "compile",
        "check",
        "test",
        "apply",
        "diff",
        "status",
        "stats",
        "register",
        "unregister",
        "flush",
        "repair",
        "trace",
    ] {
        assert!(help(sub).contains("-j, --json"), "{sub}");
    }
}

/// The top-level help and man page name every hook kind, not only the packet hooks.
#[test]
fn help_names_every_hook() {
    let (code, out, err) = sockc(&["--help"]);
    assert_eq!(code, 0, "{err}");
    let (_, man, _) = sockc(&["man"]);
    for hook in ["XDP", "TC", "sk_lookup", "SOCKMAP"] {
        assert!(out.contains(hook), "--help: {hook}");
        assert!(man.contains(hook), "man: {hook}");
    }
}

/// The `--max-*` limits are listed once, in the top-level help under their own
/// heading; a subcommand's help names them in one line, and takes them all the same.
#[test]
fn limits_are_listed_once() {
    const FLAGS: [&str; 6] = [
        "--max-source-bytes",
        "--max-set-file-bytes",
        "--max-set-elements",
        "--max-diagnostics",
        "--max-packets-file-bytes",
        "--max-diff-work",
    ];
    let (_, top, _) = sockc(&["--help"]);
    assert!(top.contains("Limits (every command takes them):"), "{top}");
    for flag in FLAGS {
        assert_eq!(
            top.matches(&format!("{flag} <N>")).count(),
            1,
            "{flag}: {top}"
        );
    }
    for sub in ["compile", "status", "bench", "trace", "man"] {
        let h = help(sub);
        for flag in FLAGS {
            assert!(
                !h.contains(&format!("{flag} <N>")),
                "{sub} lists {flag}: {h}"
            );
        }
        assert!(
            h.contains("Limits: --max-source-bytes, --max-set-file-bytes"),
            "{sub}: {h}"
        );
    }
    // Before or after the command, and from the environment, the limit applies.
    for args in [
        &[
            "check",
            "--max-source-bytes",
            "10",
            "rules/examples/brief.sk",
        ][..],
        &[
            "--max-source-bytes",
            "10",
            "check",
            "rules/examples/brief.sk",
        ][..],
    ] {
        let (code, _, err) = sockc(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains("the rule file size limit is 10 bytes"),
            "{err}"
        );
    }
}

/// `sockc list` is `sockc status` (what is installed), not a typo of `register`.
#[test]
fn list_is_status() {
    let (code, out, err) = sockc(&["list", "--help"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Usage: sockc status"), "{out}");
    let (_, top, _) = sockc(&["--help"]);
    assert!(top.contains("[alias: list]"), "{top}");
    let (code, _, err) = sockc(&["lsit"]);
    assert_eq!(code, 2);
    assert!(!err.contains("'register'"), "{err}");
}

/// `bench --help` says what every table measures and how to choose them.
#[test]
fn bench_help_is_complete() {
    let (code, out, err) = sockc(&["bench", "--help"]);
    assert_eq!(code, 0, "{err}");
    for needle in [
        "-O0 against -O2",
        "socket condition",
        "sk_lookup",
        "redirect local",
        "--peer",
        "nftables",
        "iptables",
        "--sockets-only",
        "--no-sockmap",
        "--peer-dir",
        "--csv",
        "--svg",
        "--cgroup",
        "IPAddressDeny=",
        "--connect-rules",
    ] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
}

/// docs/deploy.md reads JSON with jq, through a field the status schema defines.
#[test]
fn deploy_doc_reads_json_with_jq() {
    let doc = std::fs::read_to_string(common::root().join("docs/deploy.md")).unwrap();
    assert!(!doc.contains("sed -n"), "deploy.md parses JSON with sed");
    assert!(doc.contains("sockc status -j | jq -r '.installs[].name'"));
    let schema =
        std::fs::read_to_string(common::root().join("docs/schemas/sockc.status.1.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&schema).unwrap();
    let required = &schema["oneOf"][0]["properties"]["installs"]["items"]["required"];
    assert!(
        required.as_array().unwrap().iter().any(|f| f == "name"),
        "{required}"
    );
}

#[test]
fn dash_reads_standard_input() {
    let src = std::fs::read_to_string(common::root().join("rules/examples/brief.sk")).unwrap();
    let (code, _, err) = sockc_stdin(&["check", "-"], &src);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("<stdin>: ok"), "{err}");
    let (code, out, err) = sockc_stdin(&["compile", "-", "--emit", "ir"], &src);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sk_lookup"), "{out}");
    let (code, _, err) = sockc_stdin(&["check", "-"], "xdp on eth0 { allow tcp }\n");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("<stdin>"), "diagnostics name stdin: {err}");
}

#[test]
fn quiet_keeps_errors_and_data_only() {
    let (code, _, err) = sockc(&["check", "rules/examples/edge.sk"]);
    assert_eq!(code, 0);
    assert!(err.contains("redundant"), "{err}");
    let (code, _, err) = sockc(&["-q", "check", "rules/examples/edge.sk"]);
    assert_eq!(code, 0);
    assert!(err.is_empty(), "-q: {err}");
    let (code, out, err) = sockc(&["compile", "-q", "rules/examples/edge.sk"]);
    assert_eq!(code, 0);
    assert!(err.is_empty() && out.contains("xdp"), "-q: {err}");
    let (code, _, err) = sockc_stdin(&["-q", "check", "-"], "xdp on eth0 { allow tcp }\n");
    assert_eq!(code, 1);
    assert!(err.contains("error"), "errors stay under -q: {err}");
}

/// Runs `sockc ARGS` as `nobody` with the rule file on standard input.
fn sockc_nobody(args: &[&str], input: &str) -> (i32, String, String) {
    sockc_nobody_under(&[], args, input)
}

/// [`sockc_nobody`], started by the command `wrap` (e.g. `prlimit ... --`).
fn sockc_nobody_under(wrap: &[&str], args: &[&str], input: &str) -> (i32, String, String) {
    if !common::is_root() {
        return sockc_stdin(args, input);
    }
    use std::os::unix::fs::PermissionsExt;
    // One directory per call: tests run at once, and a binary being run cannot be
    // copied over ("Text file busy").
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sockc-conv-nobody-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.join("sockc");
    std::fs::copy(common::bin(), &bin).unwrap();
    let mut out = None;
    for _ in 0..50 {
        let mut child = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .args(wrap)
            .arg(&bin)
            .args(args)
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("setpriv runs");
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
        let o = child.wait_with_output().unwrap();
        let busy = String::from_utf8_lossy(&o.stderr).contains("Text file busy");
        out = Some(o);
        if !busy {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::fs::remove_dir_all(&dir).unwrap();
    let out = out.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn repeat_without_root_says_why_there_is_no_timing() {
    let src = std::fs::read_to_string(common::root().join("rules/examples/brief.sk")).unwrap();
    let (code, _, err) = sockc_nobody(
        &[
            "test",
            "-",
            "--packet",
            "tcp 10.0.0.1:1234 -> 3.3.3.3:80 syn",
            "--repeat",
            "100",
        ],
        &src,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("--repeat: no timing") && err.contains("root"),
        "{err}"
    );
}

/// The compiler runs the anomaly lints and large tries on threads; where the system
/// starts no thread (here: `nobody` limited to one process), it does the same work
/// on one and writes the same bytes (the old build panicked "failed to spawn
/// thread").
#[test]
fn compile_without_threads_gives_the_same_output() {
    if !common::is_root() {
        eprintln!("skipped: needs root to run as nobody under a process limit");
        return;
    }
    // Two groups of 1,500 rules each (by source, by destination): both would get a
    // thread of their own, and the lints another.
    let mut src = String::from("xdp on eth0 {\n");
    for i in 0..1500u32 {
        let (a, b) = (i / 250, i % 250);
        src.push_str(&format!(
            "    drop tcp from 10.{a}.{b}.1 to *:{}\n",
            1000 + i
        ));
        src.push_str(&format!("    allow udp to 172.16.{a}.{b}:{}\n", 2000 + i));
    }
    src.push_str("    default allow\n}\n");
    let args = ["compile", "-", "--emit", "json", "-q"];
    let (code, threaded, err) = sockc_nobody(&args, &src);
    assert_eq!(code, 0, "{err}");
    let (code, alone, err) = sockc_nobody_under(&["prlimit", "--nproc=1", "--"], &args, &src);
    assert_eq!(code, 0, "with no thread to start: {err}");
    assert!(
        threaded.contains("tables"),
        "a classified program: {threaded:.300}"
    );
    assert_eq!(threaded, alone, "the same object either way");
}

/// `sockc systemd` names its install (drop-ins are per install), and `--remove` takes
/// away only that install's regular drop-in files: another install's, and a link
/// planted under its name, stay.
#[test]
fn systemd_drop_ins_name_their_install_and_remove_only_their_own() {
    let (code, _, err) = sockc(&["systemd"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--name"), "{err}");
    let root = std::env::temp_dir().join(format!("sockc-systemd-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dir = root.join("etc/systemd/system/app.service.d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("50-sockc-web.conf"), "[Service]\n").unwrap();
    std::fs::write(dir.join("50-sockc-other.conf"), "[Service]\n").unwrap();
    let linked = root.join("etc/systemd/system/db.service.d");
    std::fs::create_dir_all(&linked).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", linked.join("50-sockc-web.conf")).unwrap();
    let root_arg = root.to_str().unwrap();
    let (code, _, err) = sockc(&["systemd", "--name", "web", "--root", root_arg, "--remove"]);
    assert_eq!(code, 0, "{err}");
    assert!(!dir.join("50-sockc-web.conf").exists(), "{err}");
    assert!(dir.join("50-sockc-other.conf").exists());
    assert!(std::fs::symlink_metadata(linked.join("50-sockc-web.conf")).is_ok());
    assert!(err.contains("daemon-reload"), "{err}");
    std::fs::remove_dir_all(&root).unwrap();
}

/// Every command ends with `_exit` once its output is written (`main`,
/// `shared::memory::exit_now`): no exit handlers run, so mimalloc, asked by its
/// environment to print its statistics when the process ends, prints none — after a
/// command that succeeds, one that fails, `--version` and a usage error alike. The
/// output itself is whole.
#[test]
fn every_command_ends_without_exit_handlers() {
    let cases: [(&[&str], i32, &str); 5] = [
        (&["--version"], 0, "sockc "),
        (&["check", "rules/examples/first.sk"], 0, ""),
        (&["check", "rules/errors/bom.sk"], 1, ""),
        (
            &["compile", "--emit", "asm", "rules/examples/first.sk"],
            0,
            "exit",
        ),
        (&["status", "--no-such-flag"], 2, ""),
    ];
    for (args, want, stdout_has) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_sockc"))
            .args(args)
            .current_dir(common::root())
            .env("MIMALLOC_SHOW_STATS", "1")
            .output()
            .expect("sockc runs");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(want), "{args:?}: {stderr}");
        assert!(stdout.contains(stdout_has), "{args:?}: {stdout}");
        assert!(
            !stderr.contains("heap stats") && !stdout.contains("heap stats"),
            "{args:?} ran the exit handlers: {stderr}"
        );
    }
}
