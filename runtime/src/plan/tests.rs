//! Plans between compiled rule files: which programs attach, detach, reload or stay;
//! maps-only changes; rule and bytecode diffs; counter carry-over.

use super::*;

pub(super) fn snap(src: &str) -> Snapshot {
    let (compiled, diags) = sockc_compiler::compile(src, &sockc_compiler::Options::default());
    let compiled = compiled.unwrap_or_else(|| panic!("compiles: {diags:?}\n{src}"));
    Snapshot::of(&compiled)
}

fn actions(p: &Plan) -> Vec<(String, ProgramAction)> {
    p.programs
        .iter()
        .map(|p| (program_label(p.hook, &p.attach_to), p.action))
        .collect()
}

fn carried(p: &Plan, symbol: &str) -> Vec<(u32, u32)> {
    p.counter_carry
        .iter()
        .filter(|c| &*c.symbol == symbol)
        .map(|c| (c.old_slot, c.new_slot))
        .collect()
}

pub(super) const BASE: &str = "\
set blocked = { 192.0.2.0/24, 198.51.100.7, 2001:db8:bad::/48 }
xdp on eth0 {
    drop from @blocked
    allow udp to 1.1.1.1:53
    drop tcp to *:22 !ack syn
    default allow
}
tc egress on eth0 { count tcp to *:443; default allow }
";

#[test]
fn first_install_attaches_everything() {
    let new = snap(BASE);
    let p = plan(None, &new);
    assert_eq!(
        actions(&p),
        [
            ("xdp on eth0".to_string(), ProgramAction::Attach),
            ("tc egress on eth0".to_string(), ProgramAction::Attach),
        ]
    );
    assert!(p.has_changes() && !p.maps_only && !p.installed);
    assert!(p.counter_carry.is_empty() && p.bytecode_diffs.is_empty());
    assert!(p
        .rule_diff
        .text()
        .contains("+xdp on eth0: drop from @blocked\n"));
    assert!(p
        .rule_diff
        .text()
        .contains("+tc egress on eth0: default allow\n"));
    let v4 = &p.set_changes[0];
    assert_eq!(v4.map, "set_blocked_v4");
    assert_eq!(
        v4.added_text().collect::<Vec<_>>(),
        ["192.0.2.0/24", "198.51.100.7"]
    );
    let text = p.render("installed", "base.sk");
    assert!(text.starts_with("plan: 2 to attach (2 programs); nothing installed yet\n"));
    assert!(
        text.contains("  xdp on eth0        attach (new program, "),
        "{text}"
    );
    assert!(!text.contains("counters"), "{text}");
}

#[test]
fn identical_files_plan_nothing() {
    let s = snap(BASE);
    let p = plan(Some(&s), &s);
    assert!(!p.has_changes() && !p.maps_only && !p.loads_new_object());
    assert!(p
        .programs
        .iter()
        .all(|p| p.action == ProgramAction::Unchanged));
    assert!(p.rule_diff.is_empty() && p.set_changes.is_empty());
    assert!(p.bytecode_diffs.is_empty());
    assert_eq!(carried(&p, "xdp_eth0"), [(0, 0), (1, 1), (2, 2), (3, 3)]);
    assert_eq!(p.render("a", "b"), "no changes (2 programs unchanged)\n");
    assert_eq!(p.to_json()["has_changes"], false);
}

#[test]
fn moving_rules_down_a_line_changes_nothing() {
    let moved = format!("# a comment\n\n{BASE}");
    let (old, new) = (snap(BASE), snap(&moved));
    assert_ne!(
        old.programs[0].asm, new.programs[0].asm,
        "notes carry lines"
    );
    let p = plan(Some(&old), &new);
    assert!(!p.has_changes(), "{}", p.render("a", "b"));
}

#[test]
fn set_contents_alone_update_maps_in_place() {
    let old = snap(BASE);
    let new = snap(&BASE.replace(
        "198.51.100.7, 2001:db8:bad::/48",
        "203.0.113.0/24, 2001:db8:beef::/48",
    ));
    let p = plan(Some(&old), &new);
    assert!(p.maps_only && p.has_changes() && !p.loads_new_object());
    assert!(p
        .programs
        .iter()
        .all(|p| p.action == ProgramAction::Unchanged));
    assert!(p.rule_diff.is_empty() && p.bytecode_diffs.is_empty());
    let by_map: Vec<_> = p
        .set_changes
        .iter()
        .map(|s| {
            let added: Vec<_> = s.added_text().collect();
            let removed: Vec<_> = s.removed_text().collect();
            (s.map.as_str(), added, removed)
        })
        .collect();
    assert_eq!(
        by_map,
        [
            (
                "set_blocked_v4",
                vec!["203.0.113.0/24".to_string()],
                vec!["198.51.100.7".to_string()]
            ),
            (
                "set_blocked_v6",
                vec!["2001:db8:beef::/48".to_string()],
                vec!["2001:db8:bad::/48".to_string()]
            ),
        ]
    );
    let v4 = &p.set_changes[0];
    assert_eq!(
        v4.added.to_hex_pairs(),
        [("18000000cb007100".into(), "01".into())]
    );
    assert_eq!(
        v4.removed.to_hex_pairs(),
        [("20000000c6336407".into(), "01".into())]
    );
    let text = p.render("old.sk", "new.sk");
    assert!(text.contains("set maps updated in place: yes"), "{text}");
    assert!(text.contains(
        "  set_blocked_v4 (map update in place, no reload): +1 -1\n    + 203.0.113.0/24\n"
    ));
    assert!(
        text.contains("counters: all kept (nothing reloads)"),
        "{text}"
    );
}

#[test]
fn a_changed_map_shape_loads_a_new_object() {
    let old = snap(BASE);
    let mut new = old.clone();
    new.maps[1].max_entries += 1;
    let p = plan(Some(&old), &new);
    assert!(!p.maps_only && p.loads_new_object());
    assert!(p
        .programs
        .iter()
        .all(|p| p.action == ProgramAction::ReloadSameCode));
}

/// Rules whose `cgroup` tests name other cgroups (or the same ones in another order)
/// compile to the same code and map shapes: the ids live in the `cgroups` map, filled
/// when an object loads, so the plan loads a new object instead of updating in place
/// (which would leave the old ids under the new names).
#[test]
fn other_cgroups_under_the_same_code_load_a_new_object() {
    let file = |first: &str, second: &str| {
        format!(
            "netfilter output {{\n    drop udp to *:1 cgroup \"/sys/fs/cgroup/{first}\"\n    \
             drop udp to *:2 cgroup \"/sys/fs/cgroup/{second}\"\n    default allow\n}}\n"
        )
    };
    let old = snap(&file("a", "b"));
    for (first, second) in [("b", "a"), ("a", "c")] {
        let new = snap(&file(first, second));
        assert!(
            !code_changed(&old.programs[0], &new.programs[0]),
            "the same code"
        );
        let p = plan(Some(&old), &new);
        assert!(!p.maps_only && p.loads_new_object(), "{first} {second}");
        assert_eq!(
            actions(&p),
            [(
                "netfilter output priority 10".to_string(),
                ProgramAction::ReloadSameCode
            )]
        );
    }
    assert!(!plan(Some(&old), &snap(&file("a", "b"))).has_changes());
}

/// A rule inside a classified run lives in the classifier's tables, not in the
/// code: changing its port leaves code and map shapes alone, and the new tables are
/// switched in place (no new object), with the changed rule's counter starting at 0.
#[test]
fn a_changed_classifier_table_is_switched_in_place() {
    let old = snap(&classified(&[], None));
    let new = snap(&classified(&[(17, 2017)], None));
    assert!(!old.tables.is_empty(), "the run is classified");
    assert_eq!(old.programs[0].asm, new.programs[0].asm);
    assert_eq!(old.maps, new.maps);
    assert_ne!(old.tables, new.tables);
    let p = plan(Some(&old), &new);
    assert!(
        p.maps_only && !p.loads_new_object(),
        "{}",
        p.render("a", "b")
    );
    assert_eq!(p.path(), ApplyPath::TablesInPlace);
    assert_eq!(p.table_changes, ["c0_tables"]);
    assert_eq!(p.fresh_slots, [17], "the changed rule's slot");
    let text = p.render("a", "b");
    assert!(
        text.contains("classifier tables switched in place"),
        "{text}"
    );
    assert!(text.contains("1 new rule starts at zero"), "{text}");
    assert_eq!(p.to_json()["path"], "tables_in_place");
    assert!(!plan(Some(&old), &old).has_changes());
}

/// A manifest written by a sockc that named tables by the SHA-256 of their bytes (bare
/// hex) never has a digest equal to one made now, even of the same bytes: a table it
/// recorded is never taken for a new one. With the same rules and code the plan
/// changes nothing (the installed tables were made for them); with a rule changed
/// inside the run the tables are written again and switched in place.
#[test]
fn tables_named_by_an_older_digest_never_match_new_ones() {
    let older_of = |c: &Compiled| {
        let mut s = Snapshot::of(c);
        for (map, digest) in &mut s.tables {
            let t = c.metadata.tables.iter().find(|t| &t.map == map).unwrap();
            let bytes = &c.tables[t.offset as usize..(t.offset + t.stored) as usize];
            *digest = sockc_compiler::bpf::maps::sha256_hex(bytes);
        }
        s
    };
    let c = compiled(&classified(&[], None));
    let (now, older) = (Snapshot::of(&c), older_of(&c));
    assert!(!older.tables.is_empty(), "the run is classified");
    for ((m, was), (n, is)) in older.tables.iter().zip(&now.tables) {
        assert_eq!(m, n);
        assert_ne!(was, is, "{m}: the same bytes, digests made otherwise");
    }
    assert!(!plan(Some(&now), &now).has_changes());
    assert_eq!(plan(Some(&older), &now).path(), ApplyPath::Nothing);
    let changed = compiled(&classified(&[(17, 2017)], None));
    let p = plan(Some(&older), &Snapshot::of(&changed));
    assert_eq!(p.path(), ApplyPath::TablesInPlace, "{}", p.render("a", "b"));
    assert_eq!(p.table_changes, ["c0_tables"]);
    assert_eq!(p.fresh_slots, [17], "the changed rule's slot");
}

/// 40 classified rules (`drop tcp from 10.I.0.0/16 to *:PORT`, port 1000 + i unless
/// `ports` says otherwise), the rule `extra` inserted before rule 20 if given.
fn classified(ports: &[(usize, u16)], extra: Option<&str>) -> String {
    let mut src = String::from("xdp on eth0 {\n");
    for i in 0..40 {
        if i == 20 {
            if let Some(e) = extra {
                src.push_str(&format!("    {e}\n"));
            }
        }
        let p = ports
            .iter()
            .find(|(r, _)| *r == i)
            .map_or(1000 + i as u16, |(_, p)| *p);
        src.push_str(&format!("    drop tcp from 10.{i}.0.0/16 to *:{p}\n"));
    }
    src + "    default allow\n}\ntc egress on eth0 { count tcp to *:443; default allow }\n"
}

fn compiled(src: &str) -> Compiled {
    let (c, d) = sockc_compiler::compile(src, &Default::default());
    c.unwrap_or_else(|| panic!("compiles: {d:?}\n{src}"))
}

/// A rule added inside a classified run shifts every later counter slot, the
/// default's and the next program's (immediates in their code): compiled alone the
/// new file reloads, but refitted to the installed slots and sizes it has the same
/// code and only new tables. Every old rule keeps its slot, the new rule takes the
/// lowest free one, the defaults keep theirs.
#[test]
fn a_rule_added_in_a_classified_run_is_refitted_into_place() {
    let old = compiled(&classified(&[], None));
    let new = compiled(&classified(
        &[],
        Some("allow udp from 10.99.0.0/16 to *:53"),
    ));
    let direct = plan(Some(&Snapshot::of(&old)), &Snapshot::of(&new));
    assert_eq!(
        direct.path(),
        ApplyPath::Reload,
        "{}",
        direct.render("a", "b")
    );
    let (p, fitted, _) = plan_compiled(Some(&Snapshot::of(&old)), &new);
    assert_eq!(p.path(), ApplyPath::TablesInPlace, "{}", p.render("a", "b"));
    let fitted = fitted.expect("refitted");
    let slots = |c: &Compiled| -> Vec<(String, u32)> {
        c.metadata
            .programs
            .iter()
            .flat_map(|p| p.rules.iter().map(|r| (r.text.to_string(), r.counter)))
            .collect()
    };
    let (before, after) = (slots(&old), slots(&fitted));
    for (text, slot) in &before {
        assert!(
            after.contains(&(text.clone(), *slot)),
            "{text} lost slot {slot}"
        );
    }
    let fresh = before.iter().map(|b| b.1).max().unwrap() + 1;
    assert!(after.contains(&("allow udp from 10.99.0.0/16 to *:53".into(), fresh)));
    assert_eq!(p.fresh_slots, [fresh]);
    let (now, was) = (Snapshot::of(&fitted), Snapshot::of(&old));
    assert_eq!(
        code_lines(&now.programs[1].asm).collect::<Vec<_>>(),
        code_lines(&was.programs[1].asm).collect::<Vec<_>>(),
        "the tc program's code is the installed one"
    );
}

/// A change the installed code cannot walk reloads: a rule that needs the TCP flags
/// (the tries gain a key byte) in a run that had none.
#[test]
fn a_change_of_the_tables_shape_reloads() {
    let old = compiled(&classified(&[], None));
    let new = compiled(&classified(
        &[],
        Some("drop tcp from 10.99.0.0/16 to *:53 syn"),
    ));
    let (p, fitted, _) = plan_compiled(Some(&Snapshot::of(&old)), &new);
    assert_eq!(p.path(), ApplyPath::Reload, "{}", p.render("a", "b"));
    assert!(fitted.is_none() && !p.bytecode_diffs.is_empty());
    assert!(p.render("a", "b").contains("path: reload"));
}

/// `src` compiled fitted to the installed `old` (`driver::finish_fitted`), as a
/// re-apply compiles it.
fn compiled_fitted(src: &str, old: &Compiled) -> Compiled {
    let opts = sockc_compiler::Options::default();
    let checked = sockc_compiler::driver::check(src, &opts).expect("checks");
    let refit = refit_of(&Snapshot::of(old));
    let (c, d) = sockc_compiler::driver::finish_fitted(checked, &opts, &refit);
    c.unwrap_or_else(|| panic!("compiles: {d:?}\n{src}"))
}

/// A file compiled fitted to the installed generation plans as the same file
/// compiled alone and refitted by the plan: the same plan, the same snapshot, and
/// nothing lowered again (the fitted file itself is what updates in place).
#[test]
fn a_file_compiled_fitted_plans_as_one_refitted() {
    let old = compiled(&classified(&[], None));
    let was = Snapshot::of(&old);
    let src = classified(&[], Some("allow udp from 10.99.0.0/16 to *:53"));
    let (refitted_plan, refitted, refitted_snapshot) = plan_compiled(Some(&was), &compiled(&src));
    let fitted = compiled_fitted(&src, &old);
    assert!(fitted.fitted.is_some(), "compiled fitted");
    let (p, relowered, snapshot) = plan_fitted(&was, &fitted);
    assert_eq!(p.path(), ApplyPath::TablesInPlace, "{}", p.render("a", "b"));
    assert!(relowered.is_none(), "installed as compiled");
    assert_eq!(p, refitted_plan);
    assert_eq!(snapshot, refitted_snapshot);
    assert_eq!(fitted.tables, refitted.expect("refitted").tables);
}

/// When the fitted file does not update in place, it is lowered again as it would
/// have been unfitted, and that is what is planned and installed: the same plan and
/// code as the file compiled alone.
#[test]
fn a_file_compiled_fitted_that_reloads_is_installed_unfitted() {
    let old = compiled(&classified(&[], None));
    let was = Snapshot::of(&old);
    let src = classified(&[], Some("drop tcp from 10.99.0.0/16 to *:53 syn"));
    let alone = compiled(&src);
    let (direct_plan, refitted, direct_snapshot) = plan_compiled(Some(&was), &alone);
    assert!(refitted.is_none());
    let (p, relowered, snapshot) = plan_fitted(&was, &compiled_fitted(&src, &old));
    assert_eq!(p.path(), ApplyPath::Reload, "{}", p.render("a", "b"));
    let relowered = relowered.expect("lowered unfitted");
    assert!(relowered.fitted.is_none());
    assert_eq!(p, direct_plan);
    assert_eq!(snapshot, direct_snapshot);
    assert_eq!(relowered.tables, alone.tables);
    let insns = |c: &Compiled| {
        c.programs
            .iter()
            .map(|p| p.code.insns.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(insns(&relowered), insns(&alone));
}

#[test]
fn each_program_action() {
    let old = snap(
        "xdp on eth0 { drop udp to *:53; default allow }
             tc egress on eth0 { count tcp to *:443; default allow }
             tc ingress on eth2 { drop tcp to *:22; default allow }",
    );
    let new = snap(
        "xdp on eth0 { drop udp to *:853; default allow }
             tc egress on eth0 { count tcp to *:443; default allow }
             tc ingress on eth1 { drop tcp to *:23; default allow }",
    );
    let p = plan(Some(&old), &new);
    assert_eq!(
        actions(&p),
        [
            ("xdp on eth0".to_string(), ProgramAction::Reload),
            (
                "tc egress on eth0".to_string(),
                ProgramAction::ReloadSameCode
            ),
            ("tc ingress on eth1".to_string(), ProgramAction::Attach),
            ("tc ingress on eth2".to_string(), ProgramAction::Detach),
        ]
    );
    assert!(!p.maps_only && p.has_changes());
    let symbols: Vec<_> = p.bytecode_diffs.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(symbols, ["xdp_eth0"]);
    assert!(p.bytecode_diffs[0]
        .1
        .contains("-; line 1: drop udp to *:53\n"));
    assert!(p.bytecode_diffs[0]
        .1
        .contains("+; line 1: drop udp to *:853\n"));
    assert_eq!(carried(&p, "xdp_eth0"), [(1, 1)], "only the default");
    assert_eq!(carried(&p, "tce_eth0"), [(2, 2), (3, 3)]);
    let text = p.render("old.sk", "new.sk");
    for line in [
        "plan: 1 to attach, 2 to reload, 1 to detach (4 programs); set maps updated in \
             place: no",
        "  xdp on eth0         reload (code changed, ",
        "  tc egress on eth0   reload (same code, swapped with the new maps)",
        "  tc ingress on eth1  attach (new program, ",
        "  tc ingress on eth2  detach (not in new.sk)",
        "counters: kept for 3 of 6 rules, 3 start at zero",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    let json = p.to_json();
    assert_eq!(json["programs"][1]["action"], "reload_same_code");
    assert_eq!(json["bytecode_diffs"][0]["symbol"], "xdp_eth0");
}

#[test]
fn counters_carry_across_an_inserted_rule() {
    let old = snap(BASE);
    let new = snap(&BASE.replace(
        "    drop tcp to *:22",
        "    allow tcp to 1.1.1.1:853\n    drop tcp to *:22",
    ));
    let p = plan(Some(&old), &new);
    // Slots: xdp rules 0..=2 and default 3, then tc egress 4, 5; the new rule
    // takes slot 2 and pushes everything after it down by one.
    assert_eq!(carried(&p, "xdp_eth0"), [(0, 0), (1, 1), (2, 3), (3, 4)]);
    assert_eq!(carried(&p, "tce_eth0"), [(4, 5), (5, 6)]);
    assert_eq!(
        actions(&p).iter().map(|(_, a)| *a).collect::<Vec<_>>(),
        [ProgramAction::Reload, ProgramAction::Reload],
        "tc egress counts into shifted slots"
    );
    assert_eq!(
        p.rule_diff,
        "@@ -1,5 +1,6 @@
 xdp on eth0: drop from @blocked
 xdp on eth0: allow udp to 1.1.1.1:53
+xdp on eth0: allow tcp to 1.1.1.1:853
 xdp on eth0: drop tcp to *:22 !ack syn
 xdp on eth0: default allow
 tc egress on eth0: count tcp to *:443
"
    );
    // Aligned without pcs, the diff shows the new rule and the counter slots that
    // moved, not every instruction after the insertion.
    let (_, xdp_diff) = &p.bytecode_diffs[0];
    let removed = xdp_diff.lines().filter(|l| l.starts_with('-')).count();
    assert!(removed < 20, "{xdp_diff}");
    assert!(
        xdp_diff.contains("+; line 5: allow tcp to 1.1.1.1:853\n"),
        "{xdp_diff}"
    );
    let text = p.render("old.sk", "new.sk");
    assert!(text.contains("counters: kept for 6 of 7 rules, 1 starts at zero"));
}

#[test]
fn counters_carry_across_a_removed_rule_but_not_a_changed_default() {
    let old = snap(BASE);
    let new = snap(
        &BASE
            .replace("    allow udp to 1.1.1.1:53\n", "")
            .replace("default allow\n}", "default drop\n}"),
    );
    let p = plan(Some(&old), &new);
    assert_eq!(carried(&p, "xdp_eth0"), [(0, 0), (2, 1)]);
    assert_eq!(carried(&p, "tce_eth0"), [(4, 3), (5, 4)]);
    assert!(p
        .rule_diff
        .text()
        .contains("-xdp on eth0: allow udp to 1.1.1.1:53\n"));
    assert!(p
        .rule_diff
        .text()
        .contains("-xdp on eth0: default allow\n+xdp on eth0: default drop\n"));
}

#[test]
fn programs_are_matched_by_hook_and_interface_not_symbol() {
    let old = snap("xdp on verylongname2 { drop udp to *:53; default allow }");
    let new = snap(
        "xdp on verylongname1 { drop udp to *:53; default allow }
             xdp on verylongname2 { drop udp to *:53; default allow }",
    );
    assert_eq!(old.programs[0].symbol, "xdp_verylongnam");
    assert_eq!(new.programs[1].symbol, "xdp_verylongn_1");
    let p = plan(Some(&old), &new);
    assert_eq!(
        actions(&p),
        [
            ("xdp on verylongname1".to_string(), ProgramAction::Attach),
            ("xdp on verylongname2".to_string(), ProgramAction::Reload),
        ]
    );
    assert_eq!(carried(&p, "xdp_verylongn_1"), [(0, 2), (1, 3)]);
}

#[test]
fn long_bytecode_diffs_are_cut() {
    let text: String = (0..1000).map(|i| format!("+line {i}\n")).collect();
    let cut = truncate_lines(text, MAX_DIFF_LINES);
    assert_eq!(cut.lines().count(), MAX_DIFF_LINES + 1);
    assert!(cut.ends_with(
        "... 600 more diff lines cut (`sockc compile --emit asm` shows the whole program)\n"
    ));

    // ICMP type rules stay linear (the classifier takes no ICMP type), so the code
    // grows with them.
    let rules: String = (0..150)
        .map(|i| format!("drop icmp type {}\n", i))
        .collect();
    let old = snap("xdp on eth0 { default allow }");
    let new = snap(&format!("xdp on eth0 {{\n{rules}default allow\n}}"));
    let p = plan(Some(&old), &new);
    let (_, diff) = &p.bytecode_diffs[0];
    assert_eq!(diff.lines().count(), MAX_DIFF_LINES + 1);
    assert!(
        diff.lines().last().unwrap().contains("more diff lines cut"),
        "{diff}"
    );
}

#[test]
fn snapshots_round_trip_through_json() {
    // Map contents are not serialized (the store keeps them in binary records).
    let s = Snapshot {
        map_contents: Vec::new(),
        ..snap(BASE)
    };
    let text = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<Snapshot>(&text).unwrap(), s);
    let with_sets =
        snap("set a = { 192.0.2.0/24 }\nxdp on eth0 {\n  drop from @a\n  default allow\n}\n");
    assert!(!with_sets.map_contents.is_empty());
    let text = serde_json::to_string(&with_sets).unwrap();
    assert!(!text.contains("map_contents"), "{text}");
}

/// Turning `log` on keeps the rule's counters (and its id): only the code changes.
#[test]
fn adding_log_keeps_counters() {
    let old = snap("xdp on eth0 {\n  drop udp to *:9001\n  default allow\n}\n");
    let new = snap("xdp on eth0 {\n  drop udp to *:9001 log\n  default allow\n}\n");
    let p = plan(Some(&old), &new);
    assert_eq!(p.counter_carry.len(), 2, "{p:#?}");
    assert!(p
        .render("a", "b")
        .contains("counters: kept for all 2 rules"));
}

/// A long port list of a linear rule is a bitmap in the `ports` map: changing one
/// port of it updates that map in place, and the plan says which list changed.
#[test]
fn a_long_port_list_changes_in_place() {
    let file = |last: u16| {
        let ports: Vec<String> = (0..20).map(|i| (1000 + 7 * i).to_string()).collect();
        format!(
            "set p = {{ {}, {last} }}\nxdp on eth0 {{\n    drop tcp to *:@p\n    default allow\n}}\n",
            ports.join(", ")
        )
    };
    let (old, new) = (snap(&file(5000)), snap(&file(6000)));
    let p = plan(Some(&old), &new);
    assert_eq!(p.path(), ApplyPath::SetsInPlace, "{}", p.render("a", "b"));
    let change = &p.set_changes[0];
    assert_eq!(change.map, "ports");
    assert_eq!(
        change.added_text().collect::<Vec<_>>(),
        ["port list 0 (21 ports)"]
    );
    assert!(change.removed.is_empty(), "same key, new value: {change:?}");
}

/// `log` rates are keyed by counter slot: a refit that renumbers the slots must move
/// them with their rules. Two logging rules after a classified run; a rule added inside
/// the run shifts their slots in a fresh compile, and the refitted file must log the
/// same rules (by text) as the fresh one, with a `log_limits` entry per logging rule
/// at that rule's slot and none elsewhere.
#[test]
fn a_refit_keeps_log_rates_with_their_rules() {
    let with_logs = |extra: Option<&str>| {
        classified(&[], extra).replace(
            "    default allow\n}\ntc",
            "    allow udp to *:9001 log\n    drop udp to *:9003 log 7/s\n    default allow\n}\ntc",
        )
    };
    let old = compiled(&with_logs(None));
    let new = compiled(&with_logs(Some("allow udp from 10.99.0.0/16 to *:53")));
    let (p, fitted, _) = plan_compiled(Some(&Snapshot::of(&old)), &new);
    assert_eq!(p.path(), ApplyPath::TablesInPlace, "{}", p.render("a", "b"));
    let fitted = fitted.expect("refitted");
    // (text, rate) of every logging rule, from the module the object was lowered from.
    let logged = |c: &Compiled| -> Vec<(String, u32)> {
        let mut v: Vec<(String, u32)> = c
            .module
            .programs
            .values()
            .flat_map(|p| p.rules.iter())
            .filter_map(|r| {
                c.module
                    .logs
                    .get(&r.counter)
                    .map(|&n| (r.text.to_string(), n))
            })
            .collect();
        v.sort();
        v
    };
    let expected = vec![
        ("allow udp to *:9001 log".to_string(), 100),
        ("drop udp to *:9003 log 7/s".to_string(), 7),
    ];
    assert_eq!(logged(&new), expected, "fresh compile");
    assert_eq!(logged(&fitted), expected, "refitted");
    assert_eq!(fitted.module.logs.len(), 2, "{:?}", fitted.module.logs);
    // The object's log_limits contents: one entry per logging rule, at its slot.
    let slots_of = |c: &Compiled| -> Vec<u32> {
        let mut v: Vec<u32> = c
            .module
            .programs
            .values()
            .flat_map(|p| p.rules.iter())
            .filter(|r| r.text.contains(" log"))
            .map(|r| r.counter)
            .collect();
        v.sort();
        v
    };
    let limits = fitted
        .metadata
        .map_contents
        .iter()
        .find(|m| m.map == "log_limits")
        .expect("log_limits contents");
    let mut keys: Vec<u32> = limits
        .entries
        .iter()
        .map(|(k, _)| u32::from_le_bytes(k.try_into().expect("a u32 key")))
        .collect();
    keys.sort();
    assert_eq!(keys, slots_of(&fitted));
}

/// Rules that make a trie one level deeper keep the installed code: the installed
/// walk unrolls the trie's depth and `STEP_SLACK` more, and the refitted file unrolls
/// as many (before, its own depth plus the slack: new code, a reload).
#[test]
fn a_deeper_trie_within_the_slack_keeps_the_installed_code() {
    let depths = |c: &Compiled| -> Vec<usize> {
        c.module
            .programs
            .values()
            .flat_map(|p| p.steps.iter())
            .filter_map(|s| match s {
                sockc_compiler::ir::Step::Classify(c) => Some(c),
                _ => None,
            })
            .flat_map(|c| c.tries.iter().map(|t| t.depth))
            .collect()
    };
    let old = compiled(&classified(&[], None));
    // Five more entries under 10.25.0.0/16, before its rule: that leaf needs another
    // byte read.
    let extra: Vec<String> = (0..5)
        .map(|i| format!("allow tcp from 10.25.{i}.0/24 to *:9999"))
        .collect();
    let new = compiled(&classified(&[], Some(&extra.join("\n    "))));
    let (was, now) = (depths(&old), depths(&new));
    assert_eq!(was.len(), now.len());
    assert!(
        now.iter().zip(&was).any(|(n, w)| n > w),
        "the new rule deepens a trie: {was:?} -> {now:?}"
    );
    let (p, fitted, _) = plan_compiled(Some(&Snapshot::of(&old)), &new);
    assert_eq!(p.path(), ApplyPath::TablesInPlace, "{}", p.render("a", "b"));
    let fitted = fitted.expect("refitted");
    assert_eq!(
        Snapshot::of(&fitted).table_steps,
        Snapshot::of(&old).table_steps,
        "the installed walk's steps"
    );
}

/// Applying a file again after it went in place: compiled afresh it numbers its
/// counters in order (a reload by the direct plan, the later slots shifted), but it
/// refits to exactly what is installed, so the plan changes nothing and the file the
/// manifest keeps has the installed slots.
#[test]
fn the_same_file_again_after_an_update_in_place_changes_nothing() {
    let old = compiled(&classified(&[], None));
    let src = classified(&[], Some("allow udp from 10.99.0.0/16 to *:53"));
    let (p, fitted, _) = plan_compiled(Some(&Snapshot::of(&old)), &compiled(&src));
    assert_eq!(p.path(), ApplyPath::TablesInPlace, "{}", p.render("a", "b"));
    let installed = Snapshot::of(&fitted.expect("refitted"));
    let again = compiled(&src);
    assert!(
        plan(Some(&installed), &Snapshot::of(&again)).has_changes(),
        "compiled afresh, the slots differ from the installed ones"
    );
    let (p, _, kept) = plan_compiled(Some(&installed), &again);
    assert!(!p.has_changes(), "{}", p.render("a", "b"));
    assert_eq!(kept, installed, "the manifest keeps the installed slots");
}

/// `listing_lines` is exactly what the listing adds to the summary, for plans with
/// rule diffs, port sets, set maps past the listed entries, and bytecode diffs.
#[test]
fn listing_lines_count_what_the_summary_leaves_out() {
    let many = |n: usize, third: u8| {
        let addrs: Vec<String> = (0..n)
            .map(|i| format!("10.{}.{}.7", usize::from(third) + i / 250, i % 250))
            .collect();
        format!("set big = {{ {} }}\n{BASE}", addrs.join(", ")).replace(
            "drop from @blocked",
            "drop from @blocked\n    drop from @big",
        )
    };
    let ports = |last: u16| {
        format!("set p = {{ 22, 80, {last} }}\nxdp on eth0 {{\n    drop tcp to *:@p\n    default allow\n}}\n")
    };
    let icmp = |n: u8| {
        let rules: String = (0..n).map(|i| format!("drop icmp type {i}\n")).collect();
        format!("xdp on eth0 {{\n{rules}default allow\n}}")
    };
    let pairs = [
        (None, BASE.to_string()),
        (Some(BASE.to_string()), BASE.to_string()),
        (
            Some(BASE.to_string()),
            BASE.replace("198.51.100.7", "203.0.113.9"),
        ),
        (Some(many(10, 1)), many(120, 2)),
        (None, many(300, 3)),
        (Some(ports(443)), ports(8443)),
        (Some(icmp(3)), icmp(150)),
    ];
    let mut kinds = [false; 3];
    for (old, new) in pairs {
        let p = plan(old.as_deref().map(snap).as_ref(), &snap(&new));
        kinds[0] |= p.set_changes.iter().any(|s| s.added.len() > 50);
        kinds[1] |= !p.bytecode_diffs.is_empty();
        kinds[2] |= !p.port_set_changes.is_empty();
        let full = p.render("old", "new").lines().count();
        let summary = p.render_summary("old", "new").lines().count();
        assert_eq!(
            p.listing_lines(),
            full - summary,
            "{}",
            p.render("old", "new")
        );
    }
    assert_eq!(kinds, [true; 3], "long sets, bytecode, port sets");
}

/// A set of whole addresses (a hash map) that gains a prefix (an LPM trie) cannot be
/// written in place: the plan loads a new object, reloads the program with the same
/// code, and says which map changes kind and why, in words and in JSON; the reverse
/// too. A change of contents that keeps the kind stays in place with no reshape.
#[test]
fn a_set_that_changes_kind_reloads_and_says_why() {
    let file = |set: &str| {
        format!("set s = {{ {set} }}\nxdp on eth0 {{\n    drop from @s\n    default allow\n}}\n")
    };
    let whole = snap(&file("192.0.2.1, 192.0.2.2"));
    let prefix = snap(&file("192.0.2.1, 198.51.100.0/24"));
    let p = plan(Some(&whole), &prefix);
    assert!(!p.maps_only && p.loads_new_object());
    assert_eq!(
        actions(&p),
        [("xdp on eth0".to_string(), ProgramAction::ReloadSameCode)]
    );
    let [r] = &p.set_reshapes[..] else {
        panic!("{:?}", p.set_reshapes)
    };
    assert_eq!(r.map, "set_s_v4");
    let text = p.render("installed", "new.sk");
    assert!(
        text.contains("    new map: hash map (whole addresses) -> LPM trie (prefixes), so the programs reload"),
        "{text}"
    );
    assert_eq!(
        p.to_json()["set_reshapes"][0]["old_kind"],
        "hash map (whole addresses)"
    );

    let back = plan(Some(&prefix), &whole);
    assert_eq!(back.set_reshapes.len(), 1);
    assert!(back.set_reshapes[0]
        .describe()
        .starts_with("LPM trie (prefixes) -> hash map (whole addresses)"));

    let same_kind = plan(Some(&whole), &snap(&file("192.0.2.1, 192.0.2.3")));
    assert!(same_kind.maps_only && same_kind.set_reshapes.is_empty());

    // The same entries in a trie (as sockc kept every set before): only the kind
    // changes, and the plan still says so.
    let mut as_trie = whole.clone();
    for m in as_trie.maps.iter_mut().filter(|m| m.name == "set_s_v4") {
        m.map_type = aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_LPM_TRIE as u32;
    }
    let upgrade = plan(Some(&as_trie), &whole);
    assert!(upgrade.set_changes.is_empty() && upgrade.loads_new_object());
    let text = upgrade.render("installed", "new.sk");
    assert!(
        text.contains(
            "  set_s_v4: new map: LPM trie (prefixes) -> hash map (whole addresses), so the programs reload"
        ),
        "{text}"
    );
}

/// A first install's rule diff, kept as its rules, reads as the diff written out
/// from an empty listing, with that text's counts; a re-apply's diff is text, with
/// its own.
#[test]
fn a_rule_diff_of_every_rule_added_counts_as_its_text() {
    let p = plan(None, &snap(BASE));
    let text = p.rule_diff.text().into_owned();
    assert!(text.starts_with("@@ -0,0 +1,6 @@\n+xdp on eth0: drop from @blocked\n"));
    let written = super::diff::RuleDiff::counted(text.clone());
    assert_eq!(written.plus_minus(), (6, 0));
    assert_eq!(p.rule_diff.plus_minus(), written.plus_minus());
    assert_eq!(p.rule_diff.line_count(), written.line_count());
    assert_eq!(p.rule_diff.line_count(), text.lines().count());
    assert_eq!(p.rule_diff, written);
    let again = plan(
        Some(&snap(BASE)),
        &snap(&BASE.replace("default allow\n}", "default drop\n}")),
    );
    assert_eq!(again.rule_diff.plus_minus(), (1, 1));
    assert_eq!(
        again.rule_diff.line_count(),
        again.rule_diff.text().lines().count()
    );
}

/// The guess made before a re-apply's plan (`tables_likely_in_place`) agrees with the
/// plan on a changed table under the same code (yes), the same file, a changed map
/// shape, changed code and a program more or fewer (no).
#[test]
fn tables_are_guessed_in_place_only_under_the_same_code_and_shapes() {
    let old = compiled(&classified(&[], None));
    let was = Snapshot::of(&old);
    let src = classified(&[], Some("allow udp from 10.99.0.0/16 to *:53"));
    let (p, _, fitted) = plan_fitted(&was, &compiled_fitted(&src, &old));
    assert_eq!(p.path(), ApplyPath::TablesInPlace);
    assert!(tables_likely_in_place(&was, &fitted));
    assert!(!tables_likely_in_place(&was, &was), "no table changed");
    let mut reshaped = fitted.clone();
    reshaped.maps[0].max_entries += 1;
    assert!(!tables_likely_in_place(&was, &reshaped), "a map's shape");
    let mut recoded = fitted.clone();
    recoded.programs[1].asm.push_str("99: exit\n");
    assert!(!tables_likely_in_place(&was, &recoded), "a program's code");
    let mut fewer = fitted.clone();
    fewer.programs.pop();
    assert!(!tables_likely_in_place(&was, &fewer), "a program fewer");
    let mut renamed = fitted;
    renamed.programs[0].symbol.push('x');
    assert!(!tables_likely_in_place(&was, &renamed), "another program");
}

/// The rule diff of two listings of one program each under the same label, aligned
/// on the rules' texts in place, is the diff of their lines (label and text) made
/// and aligned: rules added, removed, changed, repeated and moved, in listings short
/// and long enough to be anchored on unique texts. Under different labels every
/// line differs, whatever the texts.
#[test]
fn a_rule_diff_of_one_program_aligns_its_texts_as_its_lines() {
    let mut seed = 0x853c_49e6_748f_ea9bu64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n) as usize
    };
    let on = |attach_to: &str, texts: &[String]| ProgramSnapshot {
        attach_to: attach_to.into(),
        ..program_of(texts)
    };
    let made = |old: &ProgramSnapshot, new: &ProgramSnapshot| {
        let (old, new) = (
            rule_listing([old].into_iter()),
            rule_listing([new].into_iter()),
        );
        let (old_lines, new_lines) = (old.lines(), new.lines());
        diff::unified_hunks(&old_lines[..], &new_lines[..], &old_lines, &new_lines)
    };
    let of = |old: &ProgramSnapshot, new: &ProgramSnapshot| {
        let (old, new) = (
            rule_listing([old].into_iter()),
            rule_listing([new].into_iter()),
        );
        RuleDiff::of(&old, &new).text().into_owned()
    };
    for case in 0..200 {
        let words = [
            "drop udp to *:1",
            "drop udp to *:2",
            "allow tcp to *:3",
            "count",
        ];
        let len = if case % 10 == 0 { 6000 } else { 40 };
        let text = |next: &mut dyn FnMut(u64) -> usize| match case % 2 {
            0 => words[next(4)].to_string(),
            _ => format!("drop udp to *:{}", next(len as u64 * 2)),
        };
        let old: Vec<String> = (0..next(len as u64)).map(|_| text(&mut next)).collect();
        let mut new = old.clone();
        for _ in 0..next(5) {
            match next(3) {
                0 if !new.is_empty() => {
                    new.remove(next(new.len() as u64));
                }
                1 => new.insert(next(new.len() as u64 + 1), text(&mut next)),
                _ if !new.is_empty() => {
                    let at = next(new.len() as u64);
                    new[at] = text(&mut next);
                }
                _ => {}
            }
        }
        let (o, n) = (on("eth0", &old), on("eth0", &new));
        assert_eq!(of(&o, &n), made(&o, &n), "case {case}");
        let elsewhere = on("eth1", &new);
        let moved = of(&o, &elsewhere);
        assert_eq!(moved, made(&o, &elsewhere), "case {case}, another label");
        if !old.is_empty() && !new.is_empty() {
            assert!(
                !moved.lines().any(|l| l.starts_with(' ')),
                "case {case}: no line is kept under another label\n{moved}"
            );
        }
    }
}

/// A program of `texts` as rules (counter slot = index), for the counter carry alone.
pub(super) fn program_of(texts: &[String]) -> ProgramSnapshot {
    ProgramSnapshot {
        symbol: "xdp_eth0".into(),
        hook: HookKind::Xdp,
        attach_to: "eth0".into(),
        rules: (0..texts.len())
            .map(|i| RuleMeta {
                counter: i as u32,
                line: i + 2,
                text: texts[i].as_str().into(),
                socket: None,
            })
            .collect(),
        asm: String::new(),
    }
}
