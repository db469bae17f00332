//! Users and groups resolved ([`IdMatch`] → [`IdSet`]): numbers checked against the
//! ids the kernel has (0 to 4294967294; `4294967295` is `(uid_t)-1`, no one's), a
//! range's ends in order, and names looked up in the host's user and group databases
//! when the file is compiled (`getpwnam_r`/`getgrnam_r`, so `/etc/passwd` and every NSS
//! source the host has). Each problem is a diagnostic at the item's span.
//!
//! Invariant: [`Checker::resolve_ids`] returns a set only when every item resolved;
//! the set then holds exactly the written ids (see [`IdSet`]'s invariant).

use crate::{
    diag::{quote, Code, Diagnostic},
    syntax::ids::{IdItem, IdKind, IdMatch, IdSet},
};

use super::Checker;

/// The largest id a user or group can have (`(uid_t)-1` is "no id").
pub(crate) const MAX_ID: u64 = u32::MAX as u64 - 1;

/// The number of a user or group name on this host, if there is one.
pub(crate) fn lookup(kind: IdKind, name: &str) -> Option<u32> {
    match kind {
        IdKind::Uid => uzers::get_user_by_name(name).map(|u| u.uid()),
        IdKind::Gid => uzers::get_group_by_name(name).map(|g| g.gid()),
    }
}

impl Checker<'_> {
    /// Resolves `m`; `None` (with a diagnostic per bad item) when an item does not.
    pub(crate) fn resolve_ids(&mut self, m: &IdMatch) -> Option<IdSet> {
        let mut ranges = Vec::new();
        let mut written = Vec::new();
        let mut ok = true;
        for item in &m.items {
            match item {
                IdItem::Numbers { lo, hi, span } => {
                    let word = m.kind.number_word();
                    if *lo > MAX_ID || *hi > MAX_ID {
                        self.diags.push(
                            Diagnostic::new(
                                Code::OutOfRange,
                                format!("{word} out of range (0 to {MAX_ID})"),
                            )
                            .label(*span, "no user or group has this number"),
                        );
                        ok = false;
                    } else if lo > hi {
                        self.diags.push(
                            Diagnostic::new(
                                Code::EmptyRange,
                                format!("the {word} range {lo}-{hi} is empty"),
                            )
                            .label(*span, "the first number must not be larger")
                            .help(format!("write {hi}-{lo}")),
                        );
                        ok = false;
                    } else {
                        ranges.push((*lo as u32, *hi as u32));
                        written.push(if lo == hi {
                            lo.to_string()
                        } else {
                            format!("{lo}-{hi}")
                        });
                    }
                }
                IdItem::Name { name, span } => match lookup(m.kind, name) {
                    Some(id) => {
                        ranges.push((id, id));
                        written.push(format!("\"{name}\" ({} {id})", m.kind.number_word()));
                    }
                    None => {
                        self.diags.push(unknown_name(m.kind, name).label(
                            *span,
                            format!("no such {} on this host", m.kind.name_word()),
                        ));
                        ok = false;
                    }
                },
            }
        }
        if !ok {
            return None;
        }
        let word = if m.by_name {
            m.kind.name_word()
        } else {
            m.kind.number_word()
        };
        let list = match written.as_slice() {
            [one] => one.clone(),
            many => format!("{{ {} }}", many.join(", ")),
        };
        Some(IdSet::new(m.kind, ranges, format!("{word} {list}")))
    }
}

fn unknown_name(kind: IdKind, name: &str) -> Diagnostic {
    let (code, db) = match kind {
        IdKind::Uid => (Code::UnknownUser, "getent passwd"),
        IdKind::Gid => (Code::UnknownGroup, "getent group"),
    };
    Diagnostic::new(
        code,
        format!(
            "there is no {} `{}` on this host",
            kind.name_word(),
            quote(name)
        ),
    )
    .help(format!(
        "names are looked up when the file is compiled, on the host that compiles it \
         (`{db}` lists them); create the {} first, or write its number: `{} N`",
        kind.name_word(),
        kind.number_word()
    ))
}

#[cfg(test)]
mod tests {
    use crate::driver::{compile, Options};

    fn owner_of(decl: &str) -> Result<String, Vec<String>> {
        let src = format!(
            "socket s = tcp 127.0.0.1:80 {decl}\n\
             sk_lookup {{\n redirect 3.3.3.3:80 to sock s\n default pass\n}}\n"
        );
        let (compiled, diags) = compile(&src, &Options::default());
        match compiled {
            Some(c) => Ok(c.metadata.sockets[0]
                .owner
                .as_ref()
                .map_or("none".into(), |o| format!("{o} {:?}", o.ranges))),
            None => Err(diags.iter().map(|d| d.code.to_string()).collect()),
        }
    }

    /// Numbers, ranges, sets and names resolve; what cannot is an error at its item.
    #[test]
    fn ids_resolve_or_say_why_not() {
        assert_eq!(
            owner_of("owner uid 1001"),
            Ok("uid 1001 [(1001, 1001)]".into())
        );
        assert_eq!(
            owner_of("owner uid { 0, 1000-1999, 1500 }"),
            Ok("uid { 0, 1000-1999, 1500 } [(0, 0), (1000, 1999)]".into())
        );
        assert_eq!(
            owner_of("owner user \"root\""),
            Ok("user \"root\" (uid 0) [(0, 0)]".into())
        );
        assert_eq!(
            owner_of("owner group { \"root\" }"),
            Ok("group \"root\" (gid 0) [(0, 0)]".into())
        );
        assert_eq!(owner_of(""), Ok("none".into()));
        assert_eq!(
            owner_of("owner user \"sockc-no-such-user\""),
            Err(vec!["sockc::unknown-user".into()])
        );
        assert_eq!(
            owner_of("owner group { \"root\", \"sockc-no-such-group\" }"),
            Err(vec!["sockc::unknown-group".into()])
        );
        assert_eq!(
            owner_of("owner uid 4294967295"),
            Err(vec!["sockc::out-of-range".into()])
        );
        assert_eq!(
            owner_of("owner gid 99999999999999999999999"),
            Err(vec!["sockc::out-of-range".into()])
        );
        assert_eq!(
            owner_of("owner uid 2000-1000"),
            Err(vec!["sockc::empty-range".into()])
        );
    }
}
