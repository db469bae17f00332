//! The lock file holds one version of each netlink crate: the route and sock_diag
//! messages share one `netlink-packet-core`, so a bump of either family that would
//! bring a second core back fails here (what `cargo tree -d | grep netlink` shows,
//! read from `Cargo.lock` without running cargo).

use std::collections::BTreeMap;

/// Every package of `Cargo.lock` with the versions it is locked at.
fn locked_versions(lock: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for package in lock.split("[[package]]").skip(1) {
        let field = |key: &str| {
            package.lines().find_map(|l| {
                l.strip_prefix(key)
                    .and_then(|rest| rest.strip_prefix(" = "))
                    .map(|v| v.trim_matches('"').to_string())
            })
        };
        if let (Some(name), Some(version)) = (field("name"), field("version")) {
            out.entry(name).or_default().push(version);
        }
    }
    out
}

#[test]
fn one_version_of_every_netlink_crate() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .expect("Cargo.lock");
    let versions = locked_versions(&lock);
    assert!(
        versions.contains_key("netlink-packet-core"),
        "the lock file was not read (no netlink-packet-core)"
    );
    let doubled: Vec<_> = versions
        .iter()
        .filter(|(name, v)| name.starts_with("netlink") && v.len() > 1)
        .collect();
    assert!(
        doubled.is_empty(),
        "netlink crates locked twice: {doubled:?}"
    );
}

#[test]
fn a_crate_locked_twice_is_seen() {
    let lock = "[[package]]\nname = \"netlink-packet-core\"\nversion = \"0.8.2\"\n\n\
                [[package]]\nname = \"netlink-packet-core\"\nversion = \"0.9.0\"\n";
    assert_eq!(
        locked_versions(lock)["netlink-packet-core"],
        ["0.8.2", "0.9.0"]
    );
}
