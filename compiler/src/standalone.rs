//! A rule file's text made to compile on its own: every `set NAME = file "PATH"`
//! written out as the list of addresses the compiler read from that file.
//!
//! `sockc show` prints this text, `diff --installed` and `apply --dry-run` compile it,
//! so what they show does not depend on set files that may have changed or moved since.
//! An install records the source as written and the sets' entries in their maps'
//! records; the lists are written out from those when the text is read back
//! ([`file_sets_written_out`]), not at every apply (a million-element set is 14 MB of
//! text). Invariant: the text compiles to the same module as the original did, and
//! every line keeps its number (a list is written on the line of the `file "PATH"` it
//! replaces), so rule lines and counters still line up.

use std::{collections::BTreeMap, fmt::Write as _};

use ipnet::{Ipv4Net, Ipv6Net};

use crate::{
    bpf::maps::{set_of_map, Entries, MapContents},
    ir::{AddrSet, Module},
    syntax::{self, ast, ast::Family},
};

/// A set's addresses, by family, in the order the compiler keeps them.
pub type SetLists<'a> = (&'a [Ipv4Net], &'a [Ipv6Net]);

/// `src` with each `file "PATH"` set body replaced by `{ a, b, ... }`, the set's
/// contents in `module` (what compiling `src` gave). A set the module does not hold, or
/// holds empty, keeps its `file` body; so does all of `src` when it does not parse.
pub fn sets_written_out(src: &str, module: &Module) -> String {
    file_sets_written_out(src, |name| {
        module
            .sets
            .values()
            .find(|s| s.name == name)
            .map(|s| (&s.v4[..], &s.v6[..]))
    })
}

/// `src` with the body of each `file "PATH"` set that `lists` gives elements for
/// replaced by `{ a, b, ... }`; the other sets keep their bodies, and all of `src` is
/// kept when it does not parse.
pub fn file_sets_written_out<'a>(
    src: &str,
    lists: impl Fn(&str) -> Option<SetLists<'a>>,
) -> String {
    let (file, diags) = syntax::parse(src);
    if crate::diag::has_errors(&diags) {
        return src.to_string();
    }
    let mut edits: Vec<(usize, usize, String)> = file
        .items
        .iter()
        .filter_map(|item| match item {
            ast::Item::Set(decl) => file_set_edit(src, decl, &lists),
            _ => None,
        })
        .collect();
    edits.sort_by_key(|e| e.0);
    let mut out = String::with_capacity(src.len());
    let mut at = 0;
    for (start, end, list) in edits {
        out.push_str(&src[at..start]);
        out.push_str(&list);
        at = end;
    }
    out.push_str(&src[at..]);
    out
}

/// `src` as an install records it: only the `file` sets that no set map of
/// `maps` (the compiled contents) holds are written out, as [`sets_written_out`]
/// writes them (a set no rule uses has no map); the others are written out from their
/// maps when the text is read back ([`RecordedSets`]). Without such a set, `src` is
/// returned as it is, not parsed again.
pub fn sets_without_maps_written_out(src: &str, module: &Module, maps: &[MapContents]) -> String {
    let mapped = |name: &str, family: Family| {
        maps.iter()
            .any(|c| set_of_map(&c.map) == Some((name, family)))
    };
    let unmapped = |s: &AddrSet| {
        (!s.v4.is_empty() && !mapped(&s.name, Family::V4))
            || (!s.v6.is_empty() && !mapped(&s.name, Family::V6))
    };
    if !module.sets.values().any(unmapped) {
        return src.to_string();
    }
    file_sets_written_out(src, |name| {
        module
            .sets
            .values()
            .find(|s| s.name == name && unmapped(s))
            .map(|s| (&s.v4[..], &s.v6[..]))
    })
}

/// The address sets that set maps' recorded contents hold, by set name: what the
/// `file` sets of recorded rule text are written out from.
#[derive(Debug, Default)]
pub struct RecordedSets {
    sets: BTreeMap<String, (Vec<Ipv4Net>, Vec<Ipv6Net>)>,
}

impl RecordedSets {
    /// The sets held by the set maps among `contents` (keys as the compiler writes
    /// them: a little-endian `u32` prefix length, then the address); a map with a key
    /// that is not one is left out.
    pub fn from_maps(contents: &[MapContents]) -> RecordedSets {
        let mut out = RecordedSets::default();
        for c in contents {
            let Some((set, family)) = set_of_map(&c.map) else {
                continue;
            };
            let lists = out.sets.entry(set.to_string()).or_default();
            let ok = match family {
                Family::V4 => prefixes(&c.entries, &mut lists.0, |a: [u8; 4], l| {
                    Ipv4Net::new(a.into(), l).ok()
                }),
                Family::V6 => prefixes(&c.entries, &mut lists.1, |a: [u8; 16], l| {
                    Ipv6Net::new(a.into(), l).ok()
                }),
            };
            if !ok {
                out.sets.remove(set);
            }
        }
        out
    }

    /// The sets as [`crate::sema::Options::recorded_sets`] takes them.
    pub fn into_lists(self) -> crate::sema::RecordedLists {
        self.sets
    }

    /// `src` with each `file` set these sets hold written out.
    pub fn written_out(&self, src: &str) -> String {
        if self.sets.is_empty() {
            return src.to_string();
        }
        file_sets_written_out(src, |name| {
            self.sets.get(name).map(|(v4, v6)| (&v4[..], &v6[..]))
        })
    }
}

/// Appends the prefixes of the LPM keys of `entries` to `out`; false if a key is not
/// one of `N`-byte addresses.
fn prefixes<const N: usize, T>(
    entries: &Entries,
    out: &mut Vec<T>,
    net: impl Fn([u8; N], u8) -> Option<T>,
) -> bool {
    if entries.key_len() != 4 + N {
        return false;
    }
    out.reserve(entries.len());
    for (key, _) in entries.iter() {
        let (len, addr) = key.split_at(4);
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes"));
        let Some(n) = u8::try_from(len)
            .ok()
            .and_then(|l| net(addr.try_into().expect("N bytes"), l))
        else {
            return false;
        };
        out.push(n);
    }
    true
}

/// The byte range of `file "PATH"` in `decl` and the list that replaces it.
fn file_set_edit<'a>(
    src: &str,
    decl: &ast::SetDecl,
    lists: &impl Fn(&str) -> Option<SetLists<'a>>,
) -> Option<(usize, usize, String)> {
    let ast::SetBody::File { span, .. } = &decl.body else {
        return None;
    };
    let (v4, v6) = lists(&decl.name.name)?;
    if v4.is_empty() && v6.is_empty() {
        return None;
    }
    // Written straight into one string: a file set may hold a million elements.
    let mut list = String::with_capacity(4 + v4.len() * 20 + v6.len() * 44);
    list.push_str("{ ");
    for (i, net) in v4.iter().enumerate() {
        if i > 0 {
            list.push_str(", ");
        }
        push_v4_net(&mut list, net);
    }
    for (i, net) in v6.iter().enumerate() {
        if i > 0 || !v4.is_empty() {
            list.push_str(", ");
        }
        let _ = write!(list, "{net}");
    }
    list.push_str(" }");
    // The body starts at the `file` keyword, the last one before the path's string.
    let keyword = src[decl.span.start..span.start].rfind("file")? + decl.span.start;
    Some((keyword, span.end, list))
}

/// Appends `net` as its `Display` writes it (`192.0.2.0/24`), without the formatting
/// machinery, which was most of the time of writing out a million-element set.
fn push_v4_net(out: &mut String, net: &Ipv4Net) {
    for (i, octet) in net.addr().octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        push_decimal(out, octet);
    }
    out.push('/');
    push_decimal(out, net.prefix_len());
}

fn push_decimal(out: &mut String, n: u8) {
    if n >= 100 {
        out.push(char::from(b'0' + n / 100));
    }
    if n >= 10 {
        out.push(char::from(b'0' + n / 10 % 10));
    }
    out.push(char::from(b'0' + n % 10));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{driver::Options, sema};

    fn compile_in(dir: &std::path::Path, src: &str) -> crate::Compiled {
        let opts = Options {
            sema: sema::Options {
                base_dir: Some(dir.to_path_buf()),
                ..Default::default()
            },
            ..Default::default()
        };
        let (c, diags) = crate::compile(src, &opts);
        c.unwrap_or_else(|| panic!("does not compile: {diags:?}"))
    }

    #[test]
    fn file_sets_become_lists_on_the_same_line() {
        let dir = std::env::temp_dir().join(format!("sockc-standalone-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("b.txt"),
            "192.0.2.0/24\n# note\n2001:db8::/32\n10.1.2.3\n",
        )
        .unwrap();
        let src = "set b = file \"b.txt\"   # blocked\nset p = { 80 }\nxdp on eth0 {\n  drop from @b\n  drop tcp to *:@p\n  default allow\n}\n";
        let c = compile_in(&dir, src);
        let text = sets_written_out(src, &c.module);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            text.lines().next().unwrap(),
            "set b = { 10.1.2.3/32, 192.0.2.0/24, 2001:db8::/32 }   # blocked"
        );
        assert_eq!(text.lines().count(), src.lines().count());
        assert_eq!(
            &text[text.find("set p").unwrap()..],
            &src[src.find("set p").unwrap()..]
        );
        // It compiles without the file, to the same rules.
        let again = compile_in(std::path::Path::new("/nonexistent"), &text);
        assert!(!crate::semdiff::diff(&c.module, &again.module).changes_verdicts());
        assert_eq!(c.asm(), again.asm());
    }

    #[test]
    fn sets_with_maps_are_recorded_as_written_and_written_out_from_their_maps() {
        let dir = std::env::temp_dir().join(format!("sockc-standalone-m-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b.txt"), "192.0.2.0/24\n2001:db8::/32\n10.1.2.3\n").unwrap();
        std::fs::write(dir.join("u.txt"), "198.51.100.7\n").unwrap();
        // `u` is used by no rule, so it has no map: recorded written out.
        let src = "set b = file \"b.txt\"\nset u = file \"u.txt\"\nxdp on eth0 {\n  drop from @b\n  default allow\n}\n";
        let c = compile_in(&dir, src);
        std::fs::remove_dir_all(&dir).unwrap();
        let maps = &c.metadata.map_contents;
        let recorded = sets_without_maps_written_out(src, &c.module, maps);
        assert_eq!(
            recorded,
            src.replace("file \"u.txt\"", "{ 198.51.100.7/32 }")
        );
        let shown = RecordedSets::from_maps(maps).written_out(&recorded);
        assert_eq!(shown, sets_written_out(src, &c.module));
        assert!(shown.starts_with("set b = { 10.1.2.3/32, 192.0.2.0/24, 2001:db8::/32 }\n"));
        // A text whose unmapped sets are not `file` sets is kept as it is.
        let used = "set b = file \"b.txt\"\nxdp on eth0 { drop from @b; default allow }\n";
        assert_eq!(sets_without_maps_written_out(used, &c.module, maps), used);
    }

    #[test]
    fn a_map_whose_keys_are_not_prefixes_writes_nothing_out() {
        let mut entries = Entries::with_capacity(8, 1, 1);
        entries.push(&[33, 0, 0, 0, 10, 0, 0, 0], &[1]);
        let maps = [MapContents {
            map: "set_b_v4".into(),
            entries,
        }];
        let src = "set b = file \"b.txt\"\n";
        assert_eq!(RecordedSets::from_maps(&maps).written_out(src), src);
        assert_eq!(set_of_map("set_a_v4_v6"), Some(("a_v4", Family::V6)));
        assert_eq!(set_of_map("counters"), None);
    }

    #[test]
    fn text_without_file_sets_is_unchanged() {
        let src = "set a = { 192.0.2.1 }\nxdp on eth0 { drop from @a; default allow }\n";
        let c = compile_in(std::path::Path::new("/"), src);
        assert_eq!(sets_written_out(src, &c.module), src);
        assert_eq!(sets_written_out("not rules {", &c.module), "not rules {");
    }

    #[test]
    fn an_ipv4_network_is_written_as_its_display_writes_it() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let addr = std::net::Ipv4Addr::from((rng >> 8) as u32);
            let net = ipnet::Ipv4Net::new(addr, (rng % 33) as u8).unwrap();
            let mut out = String::new();
            super::push_v4_net(&mut out, &net);
            assert_eq!(out, net.to_string());
        }
    }
}
