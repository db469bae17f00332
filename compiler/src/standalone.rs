//! A rule file's text made to compile on its own: every `set NAME = file "PATH"`
//! written out as the list of addresses the compiler read from that file.
//!
//! An install records this text (`sockc show` prints it back, `diff --installed` and
//! `apply --dry-run` compile it), so what it shows does not depend on set files that
//! may have changed or moved since. Invariant: the text compiles to the same module as
//! the original did, and every line keeps its number (a list is written on the line
//! of the `file "PATH"` it replaces), so rule lines and counters still line up.

use std::fmt::Write as _;

use crate::{
    ir::Module,
    syntax::{self, ast},
};

/// `src` with each `file "PATH"` set body replaced by `{ a, b, ... }`, the set's
/// contents in `module` (what compiling `src` gave). A set the module does not hold, or
/// holds empty, keeps its `file` body; so does all of `src` when it does not parse.
pub fn sets_written_out(src: &str, module: &Module) -> String {
    let (file, diags) = syntax::parse(src);
    if crate::diag::has_errors(&diags) {
        return src.to_string();
    }
    let mut edits: Vec<(usize, usize, String)> = file
        .items
        .iter()
        .filter_map(|item| match item {
            ast::Item::Set(decl) => file_set_edit(src, decl, module),
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

/// The byte range of `file "PATH"` in `decl` and the list that replaces it.
fn file_set_edit(
    src: &str,
    decl: &ast::SetDecl,
    module: &Module,
) -> Option<(usize, usize, String)> {
    let ast::SetBody::File { span, .. } = &decl.body else {
        return None;
    };
    let set = module.sets.values().find(|s| s.name == decl.name.name)?;
    if set.v4.is_empty() && set.v6.is_empty() {
        return None;
    }
    // Written straight into one string: a file set may hold a million elements.
    let mut list = String::with_capacity(4 + set.v4.len() * 20 + set.v6.len() * 44);
    list.push_str("{ ");
    for (i, net) in set.v4.iter().enumerate() {
        if i > 0 {
            list.push_str(", ");
        }
        push_v4_net(&mut list, net);
    }
    for (i, net) in set.v6.iter().enumerate() {
        if i > 0 || !set.v4.is_empty() {
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
fn push_v4_net(out: &mut String, net: &ipnet::Ipv4Net) {
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
