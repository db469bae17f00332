//! The renderer against miette's own reading of the file (the windowed source must
//! change nothing), and on hostile lines: far columns, huge lines, control
//! characters, labels over thousands of lines.

use super::*;
use crate::diag::{Code, Diagnostic};

/// Deterministic pseudo-random numbers.
use sockc_testkit::rng::Rng;

fn boundary(src: &str, mut i: usize) -> usize {
    while !src.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Random diagnostics with one to three labels anywhere in `src` (zero-length,
/// one line, many lines, at the very end), warnings and errors.
fn random_diags(rng: &mut Rng, src: &str, n: usize) -> Vec<Diagnostic> {
    (0..n)
        .map(|k| {
            let mut d = if rng.below(3) == 0 {
                Diagnostic::new(Code::Shadowed, format!("warning {k}"))
            } else {
                Diagnostic::new(Code::Conflict, format!("error {k}"))
            };
            for l in 0..1 + rng.below(3) {
                let start = boundary(src, rng.below(src.len() + 1));
                let len = match rng.below(4) {
                    0 => 0,
                    1 => rng.below(8),
                    2 => rng.below(80),
                    _ => rng.below(400),
                };
                let end = boundary(src, (start + len).min(src.len()));
                let text = if rng.below(4) == 0 {
                    String::new()
                } else {
                    format!("label {l}")
                };
                d = d.label(Span::new(start, end), text);
            }
            if rng.below(2) == 0 {
                d = d.help("a help");
            }
            d
        })
        .collect()
}

fn random_source(rng: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "allow tcp to 1.2.3.4:53",
        "drop",
        " ",
        "    ",
        "# comment",
        "é€𝄞",
        "\t",
        "x",
        "\n",
        "\n",
        "\n",
        "\r\n",
        "\r",
        "\n\n\n",
    ];
    let mut s = String::new();
    for _ in 0..rng.below(300) {
        s.push_str(PIECES[rng.below(PIECES.len())]);
    }
    s
}

/// Reading through [`Windowed`] renders exactly what miette's own source renders.
#[test]
fn windowed_source_renders_the_same() {
    let mut rng = Rng::seeded(0x0123_4567_89ab_cdef);
    let mut sources: Vec<String> = Vec::new();
    let mut stack = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules")];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        } else if let Ok(text) = std::fs::read_to_string(&p) {
            sources.push(text);
        }
    }
    assert!(sources.len() > 10);
    for _ in 0..400 {
        sources.push(random_source(&mut rng));
    }
    sources.push(String::new());
    for src in &sources {
        for color in [false, true] {
            let n = 1 + rng.below(20);
            let diags = random_diags(&mut rng, src, n);
            let windowed = render_with(&diags, "f.sk", src, color, true);
            let full = render_with(&diags, "f.sk", src, color, false);
            assert_eq!(windowed, full, "source {src:?}\ndiagnostics {diags:#?}");
        }
    }
}

/// What the CLI and the goldens get for real diagnostics of real files.
#[test]
fn windowed_source_renders_real_diagnostics_the_same() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/errors");
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let src = std::fs::read_to_string(e.path()).unwrap();
        let (_, diags) = crate::compile(&src, &Default::default());
        assert!(!diags.is_empty());
        assert_eq!(
            render_with(&diags, "f.sk", &src, false, true),
            render_with(&diags, "f.sk", &src, false, false)
        );
    }
}

/// A warning at column 70,001 used to panic inside miette (`{:width$}` past 65,535);
/// now it renders with the real line and column, and the output stays small.
#[test]
fn a_label_past_column_65535_renders_with_its_real_position() {
    let src = format!("set s = {{ 10.0.0.1,{}10.0.0.1 }}\n", " ".repeat(70_000));
    let at = src.rfind("10.0.0.1").unwrap();
    let d = Diagnostic::new(Code::SetOverlap, "duplicate")
        .label(Span::new(at, at + 8), "duplicate element")
        .label(Span::new(10, 18), "covered by this");
    let out = render(&[d], "wide.sk", &src, false);
    assert!(out.contains(&format!("[wide.sk:1:{}]", at + 1)), "{out}");
    assert!(
        out.contains("duplicate element") && out.contains("covered by this"),
        "{out}"
    );
    assert!(out.len() < 2_000, "{} bytes:\n{out}", out.len());
}

/// A long line is cut around the label (`…` where it was cut); what is printed per
/// diagnostic does not grow with the line.
#[test]
fn huge_lines_are_cut_around_the_label() {
    for len in [300usize, 10_000, 1_000_000] {
        let src = format!("{}BAD{}\n", "x".repeat(len), "y".repeat(len));
        let d = Diagnostic::new(Code::Syntax, "bad").label(Span::new(len, len + 3), "here");
        let out = render(&[d], "f.sk", &src, false);
        assert!(out.contains("…") && out.contains("BAD"), "{out}");
        assert!(out.len() < 1_500, "line of {len}: {} bytes", out.len());
    }
}

/// Control characters never reach the terminal raw: NUL, ESC and DEL are drawn as
/// their control pictures, in the snippet and in the message.
#[test]
fn control_characters_are_drawn_not_printed() {
    let src = "xdp on eth0 {\n drop\0 tcp \u{1b}[2J\u{7f}\n default allow\n}\n";
    let at = src.find('\0').unwrap();
    let d =
        Diagnostic::new(Code::Syntax, "unexpected \u{1b}[2J").label(Span::new(at, at + 1), "here");
    let out = render(&[d], "f.sk", src, false);
    assert!(!out.chars().any(|c| c != '\n' && c.is_control()), "{out:?}");
    assert!(out.contains("drop␀ tcp ␛[2J␡"), "{out}");
    assert!(out.contains("[f.sk:2:6]"), "{out}");
}

/// A label over many lines shows its first line only; labels on lines far apart
/// show as separate snippets with their own line numbers.
#[test]
fn long_labels_show_their_first_line() {
    let mut src = String::from("xdp on eth0 {\n");
    for i in 0..10_000 {
        src.push_str(&format!(" drop tcp to *:{i}\n"));
    }
    src.push_str("}\n");
    let tail = src.find(" drop tcp to *:9999").unwrap();
    let d = Diagnostic::new(Code::Conflict, "block")
        .label(Span::new(0, src.len()), "this block")
        .label(Span::new(tail + 1, tail + 19), "far away");
    let out = render(&[d], "f.sk", &src, false);
    assert!(out.contains("xdp on eth0 {"), "{out}");
    assert!(out.contains("10001 │  drop tcp to *:9999"), "{out}");
    assert!(out.lines().count() < 20, "{out}");
}

/// Messages, helps and labels are bounded and escaped whatever they hold.
#[test]
fn texts_are_bounded_and_escaped() {
    let d = Diagnostic::new(Code::Conflict, format!("a{}", "b".repeat(100_000)))
        .label(Span::new(0, 1), "\u{1b}]0;title\u{7}")
        .help("\u{202e}reversed");
    let out = render(&[d], "f.sk", "x\n", false);
    assert!(out.len() < 5_000, "{}", out.len());
    assert!(
        !out.chars().any(|c| c != '\n' && super::is_invisible(c)),
        "{out:?}"
    );
    assert!(
        out.contains("\\x1b]0;title\\x07") && out.contains("\\u{202e}"),
        "{out}"
    );
}

/// The diagnostic standing for those the limit left out counts into the totals line.
#[test]
fn totals_count_what_was_left_out() {
    let diags: Vec<_> = (0..5)
        .map(|i| Diagnostic::new(Code::Conflict, format!("e{i}")).label(Span::new(i, i + 1), ""))
        .collect();
    let capped = crate::diag::cap(diags, 2);
    assert_eq!(capped.len(), 3);
    let out = render(&capped, "f.sk", "abcdefgh", false);
    assert!(out.contains("3 more errors not shown"), "{out}");
    assert!(out.contains("--max-diagnostics"), "{out}");
    assert!(out.ends_with("f.sk: 5 errors, 0 warnings\n"), "{out}");
}

/// The line starts kept by block answer as the table of them a walk byte by byte finds
/// (`\n`, `\r\n` and a lone `\r` each end a line), with blocks of every size from one
/// byte (a `\r\n` split between blocks) to more than the text.
#[test]
fn line_starts_by_block_answer_as_a_byte_walks_table() {
    fn walked(text: &[u8]) -> Vec<usize> {
        let mut starts = vec![0];
        let mut i = 0;
        while i < text.len() {
            match text[i] {
                b'\n' => starts.push(i + 1),
                b'\r' if text.get(i + 1) == Some(&b'\n') => {
                    i += 1;
                    starts.push(i + 1);
                }
                b'\r' => starts.push(i + 1),
                _ => {}
            }
            i += 1;
        }
        starts
    }
    let mut rng = Rng::seeded(0x5eed_11fe);
    for src in [
        "",
        "\r",
        "\n",
        "\r\n",
        "\r\r\n\n",
        "a\rb\r\nc\n\r",
        "\n\r\n\r\r\n",
    ]
    .into_iter()
    .map(String::from)
    .chain((0..100).map(|_| random_source(&mut rng)))
    {
        let (text, table) = (src.as_bytes(), walked(src.as_bytes()));
        for block in [1, 2, 3, 7, 64, 4096] {
            let lines = lines::LineStarts::with_block(text, block);
            assert_eq!(lines.count(), table.len(), "{src:?} {block}");
            for k in 0..=table.len() {
                assert_eq!(lines.get(k), table.get(k).copied(), "{src:?} {block} {k}");
            }
            for offset in 0..=text.len() + 1 {
                let line = table.partition_point(|&s| s <= offset) - 1;
                assert_eq!(lines.line_of(offset), line, "{src:?} {block} {offset}");
            }
        }
    }
}

/// A diagnostic whose severity is not the one the catalogue gives its code is caught
/// where it is printed (debug builds: every test that renders diagnostics checks
/// them).
#[cfg(debug_assertions)]
#[test]
#[should_panic(expected = "the catalogue says")]
fn a_severity_the_catalogue_does_not_give_is_caught() {
    let mut d = Diagnostic::new(Code::Shadowed, "a warning raised as an error");
    d.severity = crate::diag::Severity::Error;
    render(&[d], "f.sk", "x\n", false);
}

#[cfg(debug_assertions)]
#[test]
#[should_panic(expected = "the catalogue says")]
fn json_checks_the_severity_too() {
    let mut d = Diagnostic::new(Code::Syntax, "an error raised as a warning");
    d.severity = crate::diag::Severity::Warning;
    crate::diag::to_json(&[d], "f.sk", "x\n");
}
