//! sockmap blocks beyond their rules: the cgroup they name, and the group each
//! cgroup's blocks form with the programs sockc adds (see [`crate::ir::sockmap`]).

use std::collections::BTreeMap;

use sha2::Digest as _;

use super::Checker;
use crate::{
    diag::{Code, Diagnostic, Span},
    hooks::HookKind,
    ir::{
        sockmap::{Companion, SockmapGroup},
        Action,
    },
};

/// What the sock_ops program counts, one counter slot each (`sockc stats` shows them
/// as the lines of its program).
pub(crate) const SOCK_OPS_COUNTERS: [&str; 3] = [
    "sockets added to the socket map",
    "sockets not added: another tool's socket map programs hold them (EBUSY)",
    "sockets not added: other error (map full, same 4-tuple twice)",
];

impl Checker<'_> {
    /// A cgroup v2 directory: an absolute path. Whether it exists is `sockc apply`'s
    /// question (a rule file may be compiled anywhere).
    pub(super) fn check_cgroup(&mut self, at: Span, cgroup: &str) {
        if let Some(unit) = crate::hooks::unit::of_attach(cgroup) {
            if let Some(why) = crate::hooks::unit::check_name(unit) {
                self.diags.push(
                    Diagnostic::new(
                        Code::BadUnit,
                        format!("`{}` is not a unit sockc can attach to", crate::diag::quote(unit)),
                    )
                    .label(at, why)
                    .help("name a unit that runs in a cgroup of its own, e.g. \"nginx.service\", or give the cgroup's path"),
                );
            }
            return;
        }
        let dots = cgroup.split('/').any(|c| c == "." || c == "..");
        if dots {
            self.diags.push(
                Diagnostic::new(
                    Code::BadCgroup,
                    format!("`{}` has `.` or `..` in it", crate::diag::quote(cgroup)),
                )
                .label(at, "a cgroup is named by its own path")
                .help("write the cgroup's path without `.` and `..`, so that two names of one cgroup cannot both be used"),
            );
            return;
        }
        if !cgroup.starts_with('/') || cgroup.contains('\0') {
            self.diags.push(
                Diagnostic::new(
                    Code::BadCgroup,
                    format!("`{}` is not a cgroup directory", crate::diag::quote(cgroup)),
                )
                .label(at, "a cgroup is an absolute path")
                .help("name the cgroup v2 directory, e.g. \"/sys/fs/cgroup/app\" (where cgroup v2 is mounted: findmnt -t cgroup2)"),
            );
        } else if let Some(c) = cgroup.chars().find(|&c| crate::diag::is_invisible(c)) {
            self.diags.push(
                Diagnostic::new(
                    Code::BadPath,
                    format!("the cgroup path holds {}", crate::diag::char_name(c)),
                )
                .label(at, "not a usable path"),
            );
        }
    }

    /// One group per cgroup with sockmap blocks, its companions in attach order and
    /// the sock_ops program's counter slots (after every rule's).
    pub(super) fn sockmap_groups(&mut self, counter: &mut u32) {
        let mut by_cgroup: BTreeMap<String, SockmapGroup> = BTreeMap::new();
        let mut order = Vec::new();
        for (id, p) in &self.module.programs {
            let spec = p.hook.spec();
            if spec.companions.is_empty() {
                continue;
            }
            let line = self.lines.line(p.span);
            let g = by_cgroup.entry(p.attach_to.clone()).or_insert_with(|| {
                order.push(p.attach_to.clone());
                SockmapGroup {
                    cgroup: p.attach_to.clone(),
                    tag: String::new(),
                    send: None,
                    receive: None,
                    companions: Vec::new(),
                    stack_counters: Vec::new(),
                    line,
                    named: Vec::new(),
                }
            });
            match p.hook {
                HookKind::SockmapReceive => g.receive = Some(id),
                _ => g.send = Some(id),
            }
            for r in &p.rules {
                if let Action::Redirect(Some(s)) | Action::RedirectIngress(s) = r.action {
                    g.named.push(self.module.sockets[s].name.clone());
                }
            }
            for &kind in spec.companions {
                if !g.companions.iter().any(|c| c.hook == kind) {
                    g.companions.push(Companion {
                        hook: kind,
                        symbol: String::new(),
                        counters: Vec::new(),
                    });
                }
            }
        }
        let mut tags = Vec::new();
        for cgroup in order {
            let mut g = by_cgroup.remove(&cgroup).expect("every cgroup was seen");
            if let Some(send) = g.send {
                for (i, r) in self.module.programs[send].rules.iter().enumerate() {
                    if r.action == Action::Redirect(None) {
                        g.stack_counters.push((i, *counter));
                        *counter += 1;
                    }
                }
            }
            g.companions.sort_by_key(|c| c.hook.spec().path_order);
            for c in &mut g.companions {
                if c.hook == HookKind::SockOps {
                    for what in SOCK_OPS_COUNTERS {
                        c.counters.push((*counter, what.to_string()));
                        *counter += 1;
                    }
                }
            }
            g.named.sort();
            g.named.dedup();
            self.named_slots_differ(&g.named);
            g.tag = group_tag(&g.cgroup, &tags);
            tags.push(g.tag.clone());
            self.module.sockmaps.push(g);
        }
    }
}

/// A cgroup path as compared and stored: repeated and trailing slashes dropped, so
/// that `/a//b/` and `/a/b` are one cgroup (`.` and `..` are refused by
/// [`Checker::check_cgroup`]; symbolic links are the runtime's to resolve).
pub(crate) fn normalize_cgroup(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    if path.starts_with('/') {
        format!("/{}", parts.join("/"))
    } else {
        parts.join("/")
    }
}

impl Checker<'_> {
    /// Two socket names a sockmap block redirects to must not share a slot (a hash of
    /// the name: [`crate::ir::sockmap::named_slot`]).
    fn named_slots_differ(&mut self, names: &[String]) {
        use crate::ir::sockmap::named_slot as slot;
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                if slot(a) == slot(b) {
                    let at = self.sockets.get(b).map(|(_, sp)| *sp).unwrap_or_default();
                    self.diags.push(
                        Diagnostic::new(
                            Code::SocketSlot,
                            format!("sockets `{a}` and `{b}` would share a slot in a socket map"),
                        )
                        .label(at, "rename one of them"),
                    );
                }
            }
        }
    }
}

/// The tag of a cgroup's maps: up to 4 characters of its last path component and 4
/// hex digits of a hash of the whole path (more if another cgroup of the file has
/// the same), so it depends on the path alone and the longest map name
/// (`socks_<tag>`) stays within the kernel's 15 bytes.
fn group_tag(cgroup: &str, taken: &[String]) -> String {
    let tail: String = super::symbols::tail(cgroup).chars().take(4).collect();
    let hash = sha2::Sha256::digest(cgroup.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    (4..=hex.len())
        .map(|n| {
            if tail.is_empty() {
                hex[..n].to_string()
            } else {
                format!("{tail}_{}", &hex[..n])
            }
        })
        .find(|t| !taken.contains(t))
        .expect("a SHA-256 names a path uniquely")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_depend_on_the_path_and_fit_map_names() {
        let a = group_tag("/sys/fs/cgroup/unified/application", &[]);
        assert!(a.starts_with("appl_"), "{a}");
        assert_eq!(a, group_tag("/sys/fs/cgroup/unified/application", &[]));
        assert_ne!(a, group_tag("/sys/fs/cgroup/other/application", &[]));
        assert!(format!("socks_{a}").len() <= 15);
        let b = group_tag(
            "/sys/fs/cgroup/unified/application",
            std::slice::from_ref(&a),
        );
        assert_ne!(a, b);
    }
}
