//! The port sets a snapshot records are those the scan of every rule's text finds
//! ([`of`]), on small files and on every example of the repository.

use super::*;
// The snapshot is the plan's (this module's parent) to make.
use crate::plan::{
    tests::{snap, BASE},
    Snapshot,
};

/// The port sets a snapshot records are those the scan of every rule's text finds
/// (`port_sets::of`), which `Snapshot::of` runs only when a rule's text holds `@`:
/// with a port set named, an address set, both, a port set declared but not named,
/// and no set.
#[test]
fn snapshot_port_sets_are_the_scans() {
    let files = [
        "set p = { 22, 80-90 }\nxdp on eth0 {\n    drop tcp to *:@p\n    default allow\n}\n",
        BASE,
        "set p = { 22 }\nset a = { 10.0.0.0/8 }\nxdp on eth0 {\n    allow from @a\n    drop udp from *:@p\n    default allow\n}\n",
        "set p = { 22 }\nxdp on eth0 {\n    drop tcp to *:22\n    default allow\n}\n",
        "xdp on eth0 {\n    drop tcp to *:22\n    default allow\n}\n",
    ];
    for src in files {
        let (c, diags) = sockc_compiler::compile(src, &sockc_compiler::Options::default());
        let c = c.unwrap_or_else(|| panic!("compiles: {diags:?}\n{src}"));
        assert_eq!(Snapshot::of(&c).port_sets, Some(of(&c)), "{src}");
    }
    let named = snap(files[0]).port_sets.expect("recorded");
    assert_eq!(named["p"], ["22", "80-90"]);
}

/// Every rule file under `rules/` that compiles (its `file` sets read from its own
/// directory, as `sockc apply` reads them), whole and shed as a first install sheds
/// it: the port sets its snapshot records are those the scan of every rule finds.
/// Review h61: `Snapshot::of` asks the metadata's texts for `@` before it scans the
/// IR's; this holds them to the same answer on every example (sockmap groups, whose
/// metadata lists rules the IR does not, included).
#[test]
fn snapshot_port_sets_are_the_scans_on_every_example() {
    let files = sockc_testkit::rule_files::paths();
    let (mut compiled, mut named) = (0, 0);
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap();
        let mut opts = sockc_compiler::Options::default();
        opts.sema.base_dir = f.parent().map(|d| d.to_path_buf());
        let Some(mut c) = sockc_compiler::compile(&src, &opts).0 else {
            continue;
        };
        compiled += 1;
        let scanned = of(&c);
        named += usize::from(!scanned.is_empty());
        assert_eq!(Snapshot::of(&c).port_sets, Some(scanned), "{}", f.display());
        c.shed_lowering(|r| r.text.contains('@'));
        let shed = of(&c);
        assert_eq!(
            Snapshot::of(&c).port_sets,
            Some(shed),
            "shed: {}",
            f.display()
        );
    }
    assert!(
        compiled >= 50 && named >= 3,
        "{compiled} compiled, {named} name port sets"
    );
}
