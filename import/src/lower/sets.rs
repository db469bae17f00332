//! The set declarations an imported file needs: the input's own named sets (nft sets,
//! ipsets) under their names, and the value lists a rule needs that one literal cannot
//! say, declared once per distinct content.
//!
//! Invariant: a declaration's elements are exactly the values of the field it stands
//! for (ranges written as the fewest prefixes), and a name is declared once; names are
//! the source's, made into identifiers the language accepts.

use std::{
    collections::{HashMap, HashSet},
    net::{Ipv4Addr, Ipv6Addr},
};

/// What a set holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SetKind {
    Addr4,
    Addr6,
    Port,
}

/// How a declaration gets its elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetBody {
    Elements(Vec<String>),
    /// `set NAME = file "PATH"`: contents kept elsewhere (ipsets).
    File(String),
}

#[derive(Clone, Debug)]
pub struct SetDecl {
    pub name: String,
    pub body: SetBody,
    /// Where it comes from, for the comment above it.
    pub comment: String,
}

/// The declarations of one imported file.
#[derive(Debug, Default)]
pub struct SetTable {
    pub decls: Vec<SetDecl>,
    by_content: HashMap<(SetKind, Vec<(u128, u128)>), usize>,
    by_source: HashMap<usize, usize>,
    names: HashSet<String>,
}

/// `text` as an identifier of the language: letters, digits and `_`, not starting
/// with a digit.
pub fn ident(text: &str) -> String {
    let mut s: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

impl SetTable {
    /// A point to come back to with [`SetTable::rollback`].
    pub fn mark(&self) -> usize {
        self.decls.len()
    }

    /// Forgets the declarations made since `mark` (a rule that was not written after
    /// all leaves no set behind).
    pub fn rollback(&mut self, mark: usize) {
        for d in self.decls.drain(mark..) {
            self.names.remove(&d.name);
        }
        self.by_content.retain(|_, i| *i < mark);
        self.by_source.retain(|_, i| *i < mark);
    }

    /// Keeps only the declarations some rule of `rules` names (`@NAME`): rules left to
    /// the residual after they were lowered leave no set behind either.
    pub fn retain_used<'a>(&mut self, rules: impl Iterator<Item = &'a str>) {
        let mut used = HashSet::new();
        for r in rules {
            for (i, _) in r.match_indices('@') {
                let name: String = r[i + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                used.insert(name);
            }
        }
        self.decls.retain(|d| used.contains(&d.name));
    }

    fn fresh_name(&mut self, wanted: &str) -> String {
        let base = ident(wanted);
        let mut name = base.clone();
        let mut n = 2;
        while self.names.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.names.insert(name.clone());
        name
    }

    /// The name of the declaration for values `ivs` of `kind`, declaring it (named
    /// after `hint`) the first time.
    pub fn derived(
        &mut self,
        kind: SetKind,
        ivs: &[(u128, u128)],
        hint: &str,
        comment: impl FnOnce() -> String,
    ) -> String {
        let key = (kind, ivs.to_vec());
        if let Some(i) = self.by_content.get(&key) {
            return self.decls[*i].name.clone();
        }
        let name = self.fresh_name(hint);
        let body = SetBody::Elements(elements(kind, ivs));
        self.decls.push(SetDecl {
            name: name.clone(),
            body,
            comment: comment(),
        });
        self.by_content.insert(key, self.decls.len() - 1);
        name
    }

    /// The name of the declaration standing for source set `source` (an nft set or an
    /// ipset), declaring it the first time with `body`.
    pub fn named(
        &mut self,
        source: usize,
        name: &str,
        body: impl FnOnce(&str) -> SetBody,
        comment: impl FnOnce() -> String,
    ) -> String {
        if let Some(i) = self.by_source.get(&source) {
            return self.decls[*i].name.clone();
        }
        let name = self.fresh_name(name);
        let body = body(&name);
        self.decls.push(SetDecl {
            name: name.clone(),
            body,
            comment: comment(),
        });
        self.by_source.insert(source, self.decls.len() - 1);
        name
    }
}

/// The elements that write `ivs` as the language's set elements.
pub fn elements(kind: SetKind, ivs: &[(u128, u128)]) -> Vec<String> {
    let mut out = Vec::new();
    for &(lo, hi) in ivs {
        match kind {
            SetKind::Port => out.push(port_range(lo, hi)),
            SetKind::Addr4 => {
                out.extend(prefixes(lo, hi, 32).into_iter().map(|(a, l)| addr4(a, l)))
            }
            SetKind::Addr6 => {
                out.extend(prefixes(lo, hi, 128).into_iter().map(|(a, l)| addr6(a, l)))
            }
        }
    }
    out
}

pub fn port_range(lo: u128, hi: u128) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

/// The fewest prefixes (address, length) of a `bits`-bit space covering `lo..=hi`
/// (at most `2 * bits` of them; what lies outside the space is not covered).
pub fn prefixes(lo: u128, hi: u128, bits: u32) -> Vec<(u128, u8)> {
    let top = if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    let hi = hi.min(top);
    let mut out = Vec::new();
    if lo > hi {
        return out;
    }
    let mut cur = lo;
    loop {
        // the largest block aligned at `cur` that ends at or before `hi`
        let mut size_log = if cur == 0 {
            bits
        } else {
            cur.trailing_zeros().min(bits)
        };
        while size_log > 0 {
            let last = if size_log >= 128 {
                u128::MAX
            } else {
                cur + ((1u128 << size_log) - 1)
            };
            if last <= hi {
                break;
            }
            size_log -= 1;
        }
        out.push((cur, (bits - size_log) as u8));
        let last = if size_log >= 128 {
            u128::MAX
        } else {
            cur + ((1u128 << size_log) - 1)
        };
        if last >= hi {
            break;
        }
        cur = last + 1;
    }
    out
}

pub fn addr4(a: u128, len: u8) -> String {
    let ip = Ipv4Addr::from(a as u32);
    if len == 32 {
        ip.to_string()
    } else {
        format!("{ip}/{len}")
    }
}

pub fn addr6(a: u128, len: u8) -> String {
    let ip = Ipv6Addr::from(a);
    if len == 128 {
        ip.to_string()
    } else {
        format!("{ip}/{len}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_become_the_fewest_prefixes() {
        assert_eq!(prefixes(0, u32::MAX as u128, 32), vec![(0, 0)]);
        assert_eq!(prefixes(0, u128::MAX, 128), vec![(0, 0)]);
        assert_eq!(prefixes(10, 10, 32), vec![(10, 32)]);
        // 10.0.0.1 - 10.0.0.6: .1/32 .2/31 .4/31 .6/32
        let base = 0x0a00_0000u128;
        assert_eq!(
            prefixes(base + 1, base + 6, 32),
            vec![
                (base + 1, 32),
                (base + 2, 31),
                (base + 4, 31),
                (base + 6, 32)
            ]
        );
        assert_eq!(
            elements(SetKind::Addr4, &[(base, base + 255)]),
            vec!["10.0.0.0/24"]
        );
        assert_eq!(
            elements(SetKind::Addr6, &[(u128::MAX, u128::MAX)]),
            vec!["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]
        );
        // the complement of 10.0.0.0/8 in IPv4
        let v = prefixes(0, base - 1, 32);
        assert_eq!(v, vec![(0, 5), (0x0800_0000, 7)]);
    }

    #[test]
    fn names_are_identifiers_and_unique() {
        assert_eq!(ident("addr-set-sshd"), "addr_set_sshd");
        assert_eq!(ident("1x"), "_1x");
        let mut t = SetTable::default();
        let a = t.derived(SetKind::Port, &[(80, 80), (443, 443)], "web", String::new);
        let b = t.derived(SetKind::Port, &[(80, 80), (443, 443)], "other", String::new);
        let c = t.derived(SetKind::Port, &[(22, 22), (443, 443)], "web", String::new);
        assert_eq!(
            (a.as_str(), b.as_str(), c.as_str()),
            ("web", "web", "web_2")
        );
    }
}
