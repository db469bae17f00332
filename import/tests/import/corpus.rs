//! Every ruleset of the corpus (`tests/import-corpus/rulesets`) imports at every hook
//! without an error, every rule of the manifest is in the report (and nothing else),
//! the written file compiles (with its residual beside it), at `--hook netfilter` the
//! import is whole (no rule approximate or left out: each runs in sockc or stays in
//! the residual), and its text, report and residual match the goldens in
//! `import/tests/golden/` (`SOCKC_BLESS=1` rewrites them). The nft text and JSON
//! listings of the same ruleset give the same report.

use crate::common;

use common::{compile, corpus_files, opts, Goldens};
use sockc_import::{import, Hook, Status};

fn hooks() -> [(Hook, &'static str); 3] {
    [
        (Hook::Xdp, "xdp"),
        (Hook::Tc, "tc"),
        (Hook::Netfilter, "netfilter"),
    ]
}

#[test]
fn every_corpus_ruleset_imports_accounts_for_every_rule_and_compiles() {
    let mut goldens = Goldens::new();
    let golden_dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut table = Vec::new();
    for f in corpus_files() {
        let text = std::fs::read_to_string(&f.path).unwrap();
        for (hook, name) in hooks() {
            let mut o = opts(hook, &f.iface);
            o.source_name = Some(f.name.clone());
            let imp = import(&text, &o).unwrap_or_else(|e| panic!("{} at {name}: {e}", f.name));
            let r = &imp.report;
            let lines: Vec<u32> = r.rules.iter().map(|x| x.line).collect();
            if let Some(want) = &f.rule_lines {
                assert_eq!(
                    &lines, want,
                    "{} at {name}: the report's rules are not the manifest's",
                    f.name
                );
            }
            let s = r.summary;
            assert_eq!(
                s.exact + s.residual + s.approximate + s.unsupported + s.never,
                f.rules,
                "{}",
                f.name
            );
            if hook == Hook::Netfilter {
                // Whole: every rule runs in sockc or stays in netfilter (the residual).
                assert_eq!(s.approximate + s.unsupported, 0, "{} at {name}", f.name);
                assert_eq!(
                    imp.residual.is_some(),
                    imp.sk_text.contains("\nresidual "),
                    "{}: the residual is declared",
                    f.name
                );
            }
            let sk_lines: Vec<&str> = imp.sk_text.lines().collect();
            for x in &r.rules {
                if x.status != Status::Exact {
                    assert!(
                        !x.reason.is_empty(),
                        "{} line {}: {} without a reason",
                        f.name,
                        x.line,
                        x.status.name()
                    );
                }
                for l in &x.sk_lines {
                    let text = sk_lines[*l as usize - 1].trim_start();
                    assert!(
                        ["allow", "drop", "reject", "count"]
                            .iter()
                            .any(|a| text.starts_with(a)),
                        "{} line {}: sk line {l} is not a rule: {text}",
                        f.name,
                        x.line
                    );
                }
            }
            // The residual beside the rule file, where its declaration names it.
            let dir = std::env::temp_dir()
                .join(format!("sockc-import-corpus-{}-{name}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            if let Some(res) = &imp.residual {
                let file = sockc_import::default_residual_file(None, res.format);
                std::fs::write(dir.join(file), &res.text).unwrap();
                goldens.check(
                    &golden_dir.join(format!("{}.{name}.residual", f.name)),
                    &res.text,
                );
            } else {
                // A residual golden left from when the file had one is stale.
                let stale = golden_dir.join(format!("{}.{name}.residual", f.name));
                assert!(
                    !stale.exists(),
                    "{}: no residual now: remove it",
                    stale.display()
                );
            }
            let compiled = compile(&imp.sk_text, Some(&dir));
            let _ = std::fs::remove_dir_all(&dir);
            if let Err(e) = compiled {
                panic!(
                    "{} at {name}: the import does not compile:\n{e}\n{}",
                    f.name, imp.sk_text
                );
            }
            goldens.check(
                &golden_dir.join(format!("{}.{name}.sk", f.name)),
                &imp.sk_text,
            );
            goldens.check(
                &golden_dir.join(format!("{}.{name}.json", f.name)),
                &(r.to_json() + "\n"),
            );
            table.push(format!(
                "{:32} {:10} {:3} exact {:3} approximate {:3} unsupported",
                f.name, name, r.summary.exact, r.summary.approximate, r.summary.unsupported
            ));
        }
    }
    eprintln!("{}", table.join("\n"));
    goldens.finish();
}

/// nft text and nft JSON of the same ruleset: the same statuses, rule for rule.
#[test]
fn nft_text_and_json_listings_import_the_same() {
    let files = corpus_files();
    for (txt, json) in [
        ("09-openwrt-fw4.nft", "10-openwrt-fw4.json"),
        ("07-docker-bridge.nft", "12-docker-bridge.json"),
    ] {
        let a = files.iter().find(|f| f.name == txt).unwrap();
        let b = files.iter().find(|f| f.name == json).unwrap();
        for (hook, name) in hooks() {
            let ra = import(
                &std::fs::read_to_string(&a.path).unwrap(),
                &opts(hook, &a.iface),
            )
            .unwrap()
            .report;
            let rb = import(
                &std::fs::read_to_string(&b.path).unwrap(),
                &opts(hook, &b.iface),
            )
            .unwrap()
            .report;
            let sa: Vec<_> = ra
                .rules
                .iter()
                .map(|r| (r.status, r.sk_lines.len()))
                .collect();
            let sb: Vec<_> = rb
                .rules
                .iter()
                .map(|r| (r.status, r.sk_lines.len()))
                .collect();
            assert_eq!(sa, sb, "{txt} and {json} at {name}");
        }
    }
}
