//! Terminal escapes (issue 47 item 6): whoever writes a rule file, names a file, labels
//! an apply or writes a ruleset to import must not write to the terminal of the
//! operator who reads sockc's output. Rule comments holding ESC sequences, BEL, a
//! carriage return, DEL, C1 controls (NEL, CSI) and a right-to-left override, in a file
//! whose name holds them too, applied with a label holding the override (control
//! characters in a label are refused), go through every command that prints them:
//! `check`, `compile`, `test`, `diff`, `apply` (the plan, the dry run's semantic diff,
//! a commit-confirmed apply's pending line), `confirm`, `status`, `show` (with and
//! without `--stats`), `stats` (and `--watch`), `trace`, `diff --installed`, `flush`,
//! and `import` (its report quoting the source, and the rule file it writes). Every
//! human output must hold none of them raw — each shown as its escape (`\x1b`,
//! `\u{202e}`) — and every `--json` output must still carry them as they are (a JSON
//! string escapes itself). The install goes into network namespaces the test makes
//! (root; skipped otherwise unless `SOCKC_KERNEL_TESTS=require`); the commands that
//! need no kernel run everywhere.
//!
//! `SOCKC_TEST_BIN=/path/to/old/sockc` runs it against an older build.

use crate::{common, netns};

use std::path::{Path, PathBuf};

use netns::{sockc, trace_during, Lab, Run};
use serde_json::Value;
use sockc_compiler::diag::is_invisible;

/// What a rule comment holds: a colour and a screen clear, BEL, DEL, NEL and CSI (C1),
/// and a right-to-left override.
const HOSTILE: &str = "\u{1b}[31mred\u{7} bell \u{7f} del \u{85} nel \u{9b}2J csi \u{202e}rlo";
/// How every human output shows it.
const SHOWN: &str = "\\x1b[31mred\\x07 bell \\x7f del \\x85 nel \\x9b2J csi \\u{202e}rlo";

/// A rule file whose comments hold [`HOSTILE`] (a carriage return ends a comment's
/// line for the compiler: the text after it is a comment line of its own), on `dev`.
fn hostile_rules(dev: &str, port: u16) -> String {
    format!(
        "# {HOSTILE}\n\
         xdp on {dev} {{\n  \
           drop udp to *:{port} log # {HOSTILE}\n  \
           drop udp to *:9100 # screen \u{1b}[2J\r# after a carriage return\n  \
           default allow\n\
         }}\n"
    )
}

/// A file name holding an escape, a carriage return and the override.
fn hostile_name(stem: &str) -> String {
    format!("{stem}-\u{1b}[35m\r\u{202e}.sk")
}

/// Panics unless `text` (what `what` printed) holds no invisible character but line
/// breaks and tabs.
#[track_caller]
fn assert_clean(what: &str, text: &str) {
    if let Some((at, c)) = text
        .char_indices()
        .find(|&(_, c)| is_invisible(c) && c != '\n' && c != '\t')
    {
        let from = text[..at]
            .char_indices()
            .rev()
            .nth(40)
            .map_or(0, |(i, _)| i);
        panic!(
            "{what} printed U+{:04X} raw, after: {:?}\n--- whole output, escaped for this message:\n{}",
            u32::from(c),
            &text[from..at],
            text.escape_debug()
        );
    }
}

/// [`assert_clean`] on both streams of a run.
#[track_caller]
fn clean(r: &Run) {
    assert_clean(&format!("`{}` on stdout", r.what), &r.stdout);
    assert_clean(&format!("`{}` on stderr", r.what), &r.stderr);
}

/// [`clean`], and the hostile comment shown escaped somewhere in the output.
#[track_caller]
fn clean_and_shown(r: &Run) {
    clean(r);
    assert!(
        r.stdout.contains(SHOWN) || r.stderr.contains(SHOWN),
        "`{}` does not show the comment escaped ({SHOWN}):\n{}",
        r.what,
        r.stdout.escape_debug()
    );
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A directory of the test's own, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("sockc-esc-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The commands that read a rule file and need no kernel: check, compile, test, diff.
#[test]
fn commands_on_files_escape_what_the_file_holds() {
    let dir = Dir::new("files");
    let file = dir.file(&hostile_name("rules"), &hostile_rules("eth0", 9001));
    let plain = dir.file("plain.sk", "xdp on eth0 {\n  default allow\n}\n");
    let f = path(&file);
    // `check`: the rendered diagnostics (a redundant rule) and the file's name.
    let r = sockc(&["check", f]);
    assert_eq!(r.code, 0, "{r}");
    clean(&r);
    assert!(r.stderr.contains("\\x1b[35m\\r\\u{202e}.sk"), "{r}");
    // `compile`: the listing's rule comments.
    let r = sockc(&["compile", f]).ok();
    clean_and_shown(&r);
    // `test`: the deciding rule's text.
    let r = sockc(&["test", f, "--packet", "udp 10.0.0.1:1 -> 10.0.0.2:9001"]);
    clean_and_shown(&r);
    // `diff`: the semantic diff's deciders, and the plan's rule lines.
    let r = sockc(&["diff", path(&plain), f, "--details"]);
    assert_eq!(r.code, 4, "{r}");
    clean_and_shown(&r);
    // `compile --json`: the rule texts as they are.
    let r = sockc(&["compile", "--json", "--emit", "json", f]).ok();
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let rules = v["programs"][0]["rules"].as_array().expect("rules");
    assert!(
        rules
            .iter()
            .any(|r| r["text"].as_str().is_some_and(|t| t.contains(HOSTILE))),
        "{rules:?}"
    );
}

/// `import`: the report quotes the source's rules (stderr), and the rule file it
/// writes quotes them in comments (stdout, or the file).
#[test]
fn import_escapes_the_source_it_quotes() {
    let dir = Dir::new("import");
    let ipt = dir.file(
        &hostile_name("ruleset"),
        &format!(
            "*filter\n:INPUT ACCEPT [0:0]\n\
             -A INPUT -p tcp --dport 22 -m comment --comment \"{HOSTILE}\" -j DROP\n\
             -A INPUT -m string --string \"{HOSTILE}\" --algo bm -j DROP\n\
             COMMIT\n"
        ),
    );
    // The `-m string` rule stays in netfilter: its residual needs a file of its own.
    let residual = dir.0.join("ruleset.residual.rules");
    let r = sockc(&[
        "import",
        path(&ipt),
        "--from",
        "iptables",
        "--residual",
        path(&residual),
    ])
    .ok();
    clean(&r);
    assert!(r.stderr.contains(SHOWN), "the report: {r}");
    assert!(r.stdout.contains(SHOWN), "the rule file: {r}");
    // what it wrote is a rule file that compiles
    let out = dir.0.join("imported.sk");
    sockc(&[
        "-q",
        "import",
        path(&ipt),
        "--from",
        "iptables",
        "-o",
        path(&out),
    ])
    .ok();
    sockc(&["check", path(&out)]).ok();
}

/// Every command on an install of the hostile file, text and JSON.
#[test]
fn commands_on_an_install_escape_what_it_holds() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("escapes", 147);
    let port = 9001;
    let file = lab.rules(&hostile_name("rules"), &hostile_rules(&lab.if_a, port));
    let label = "release \u{202e}1.2";
    // A label with a control character is refused; the override is printable.
    let r = lab.apply(&file, &["--label", "a\u{1b}[31m"]);
    assert_eq!(r.code, 2, "{r}");
    let r = lab.apply(&file, &["--label", label]).ok();
    clean_and_shown(&r);
    let name = lab.name.as_str();
    for args in [
        &["status", "--name", name][..],
        &["show", name],
        &["show", name, "--stats"],
        &["stats", "--name", name],
        &["stats", "--name", name, "--watch", "--count", "1"],
    ] {
        let r = sockc(args);
        assert!(matches!(r.code, 0 | 3), "{r}");
        clean(&r);
        assert!(
            r.stdout.contains("\\x1b[35m\\r\\u{202e}.sk"),
            "the file name: {r}"
        );
    }
    for args in [&["show", name][..], &["stats", "--name", name]] {
        clean_and_shown(&sockc(args));
    }
    assert!(sockc(&["status", "--name", name])
        .stdout
        .contains("release \\u{202e}1.2"));
    assert!(sockc(&["show", name])
        .stdout
        .contains("release \\u{202e}1.2"));
    // JSON carries them as they are
    let v: Value = serde_json::from_str(&sockc(&["show", name, "--json"]).ok().stdout).unwrap();
    assert!(v["text"].as_str().unwrap().contains(HOSTILE));
    assert_eq!(v["label"], label);
    let v = lab.stats();
    assert!(v["rules"].to_string().contains("\\u001b[31m"), "{v}");
    assert!(v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["text"].as_str().unwrap().ends_with(HOSTILE)));

    // `trace`: the rule that logged, text and all.
    let r = trace_during(&["--name", name, "--timeout", "3"], || {
        lab.expect_verdicts("the logging rule drops", &[(port, false)])
    });
    clean_and_shown(&r);

    // A dry run and a commit-confirmed change of a second hostile file: the semantic
    // diff and plan, the pending line with the label of what would be put back.
    let next = lab.rules(
        &hostile_name("next"),
        &hostile_rules(&lab.if_a, port).replace("9100", "9101"),
    );
    let r = lab.apply(&next, &["--dry-run", "--details"]);
    clean_and_shown(&r);
    let r = sockc(&["diff", "--installed", name, path(&next), "--details"]);
    assert_eq!(r.code, 4, "{r}");
    clean_and_shown(&r);
    let r = lab
        .apply(&next, &["--confirm", "5m", "--label", "next \u{202e}2"])
        .ok();
    clean(&r);
    assert!(r.stdout.contains("release \\u{202e}1.2"), "{r}");
    let r = sockc(&["status", "--name", name]);
    clean(&r);
    assert!(r.stdout.contains("pending confirmation"), "{r}");
    clean(&sockc(&["confirm", name]).ok());
    clean(&sockc(&["flush", "--name", name]).ok());
}
