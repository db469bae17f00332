//! The front end's entry points: a whole file through the fast scanner
//! ([`super::scan`]), which hands to pest what it does not take, or through pest
//! alone ([`parse_reference`]); both build the AST with [`super::build`].

use pest::Parser;

use super::{
    ast::*,
    build::{pest_error, Builder},
    grammar::{Rule, SockcParser},
};
use crate::{
    diag::{Code, Diagnostic},
    limits::{amount, Limit, Limits},
};

/// Parses a whole file with the default limits. Returns the AST of everything that
/// parsed and the diagnostics for everything that did not.
///
/// The hand-written scanner in [`super::scan`] does the work for the common shapes and
/// hands everything else to pest, one item or statement at a time; the result is the
/// same as [`parse_reference`]'s, node for node and span for span (tested in
/// `scan::tests`).
pub fn parse(src: &str) -> (File, Vec<Diagnostic>) {
    parse_with(src, &Limits::default())
}

/// [`parse`] within `limits`: a source over the size limit is refused before parsing,
/// and at most the diagnostics limit of errors is kept (the rest are counted).
pub(crate) fn parse_with(src: &str, limits: &Limits) -> (File, Vec<Diagnostic>) {
    if let Some(d) = too_large(src, limits) {
        return (File::default(), vec![d]);
    }
    let max = limits.count(Limit::Diagnostics);
    match super::scan::parse(src, max) {
        Some(done) => done,
        None => pest_file(src, max),
    }
}

/// [`parse_with`] into `sink` as it is read (see [`super::scan::Sink`]): the
/// diagnostics of the front end when the fast scanner read the whole file into it.
/// `None` when it did not (a source over the size limit, a file only pest reads, or
/// the sink stopped): what the sink was given is then not the file, and
/// [`parse_with`] is the way to read it.
pub(crate) fn stream_with(
    src: &str,
    limits: &Limits,
    sink: &mut dyn super::scan::Sink,
) -> Option<Vec<Diagnostic>> {
    if too_large(src, limits).is_some() {
        return None;
    }
    super::scan::scan_into(src, limits.count(Limit::Diagnostics), sink).map(|(diags, _)| diags)
}

/// [`parse`] with pest alone, the definition of the language: what the fast scanner is
/// tested against.
#[doc(hidden)]
pub fn parse_reference(src: &str) -> (File, Vec<Diagnostic>) {
    let limits = Limits::default();
    if let Some(d) = too_large(src, &limits) {
        return (File::default(), vec![d]);
    }
    pest_file(src, limits.count(Limit::Diagnostics))
}

fn too_large(src: &str, limits: &Limits) -> Option<Diagnostic> {
    let max = limits.source_bytes;
    (src.len() as u64 > max).then(|| {
        Diagnostic::new(
            Code::TooLarge,
            format!(
                "rule file is {} bytes; the {} is {}",
                src.len(),
                Limit::SourceBytes,
                amount(Limit::SourceBytes, max)
            ),
        )
        .help(Limit::SourceBytes.how_to_change())
    })
}

fn pest_file(src: &str, max_diagnostics: usize) -> (File, Vec<Diagnostic>) {
    let mut p = Builder::new(max_diagnostics);
    let file = match SockcParser::parse(Rule::file, src) {
        Ok(mut pairs) => p.file(pairs.next().expect("file rule always yields one pair")),
        Err(e) => {
            p.diags.push(pest_error(&e, 0, src, Code::Syntax));
            File::default()
        }
    };
    (file, p.diags.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str) -> File {
        let (f, d) = parse(src);
        assert!(d.is_empty(), "unexpected diagnostics for {src:?}: {d:#?}");
        f
    }

    fn rules(f: &File) -> Vec<&super::super::ast::Rule> {
        f.items
            .iter()
            .filter_map(|i| match i {
                Item::Hook(h) => Some(h),
                _ => None,
            })
            .flat_map(|h| h.stmts.iter())
            .filter_map(|s| match s {
                Stmt::Rule(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_two_product_sentences_parse_verbatim() {
        let f = ok("xdp on eth0 {\n allow tcp to 1.1.1.0/24:53 if socket exists\n default drop\n}\nsk_lookup {\n redirect 3.3.3.3:* to sock proxy\n default pass\n}\n");
        let r = rules(&f);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].action, ActionKw::Allow);
        assert!(matches!(r[0].matches[0], Match::Proto(Some(6), _, false)));
        match &r[0].matches[1] {
            Match::Dst(Endpoint {
                addr: AddrSpec::Prefix(n, _),
                port: Some(PortSpec::Range(53, 53, _)),
                ..
            }) => assert_eq!(n.to_string(), "1.1.1.0/24"),
            m => panic!("unexpected {m:?}"),
        }
        assert_eq!(r[0].cond.map(|c| c.0), Some(SockCond::Exists));
        assert_eq!(r[1].action, ActionKw::Redirect);
        assert!(matches!(
            &r[1].matches[0],
            Match::Dst(Endpoint {
                port: Some(PortSpec::Any(_)),
                ..
            })
        ));
        assert!(matches!(r[1].target.as_deref(), Some(Target::Sock(i)) if i.name == "proxy"));
    }

    /// `ece` is a TCP flag and also the start of an IPv6 address: `ece::/16` is the
    /// address (found by the differential tests' generator).
    #[test]
    fn a_bare_ipv6_destination_may_start_like_a_flag() {
        let f = ok("xdp on eth0 {\n drop tcp ece::/16\n drop tcp ece ::/0\n default allow\n}\n");
        let r = rules(&f);
        match &r[0].matches[1] {
            Match::Dst(Endpoint {
                addr: AddrSpec::Prefix(n, _),
                ..
            }) => assert_eq!(n.to_string(), "ece::/16"),
            m => panic!("unexpected {m:?}"),
        }
        assert!(
            matches!(r[1].matches[1], Match::Flag { .. }),
            "{:?}",
            r[1].matches
        );
    }

    #[test]
    fn sets_span_lines_and_take_ports() {
        let f = ok("set a = {\n 10.0.0.0/8, # private\n 2001:db8::/32\n}\nset p = { 80, 443, 8000-8080 }\n");
        match &f.items[0] {
            Item::Set(s) => match &s.body {
                SetBody::List(e) => assert_eq!(e.len(), 2),
                b => panic!("{b:?}"),
            },
            i => panic!("{i:?}"),
        }
        match &f.items[1] {
            Item::Set(s) => match &s.body {
                SetBody::List(e) => assert_eq!(e[2], SetElem::Ports(8000, 8080, e[2].span())),
                b => panic!("{b:?}"),
            },
            i => panic!("{i:?}"),
        }
    }

    #[test]
    fn ipv6_ports_need_brackets() {
        let f = ok("tc ingress on lo { allow udp to [2001:db8::1]:53; drop from 2001:db8::/32; default allow }");
        assert_eq!(rules(&f).len(), 2);
    }

    #[test]
    fn every_bad_line_is_reported_and_parsing_continues() {
        let (f, d) = parse("xdp on eth0 {\n drop frm 1.2.3.4\n allow tcp to 1.2.3.4:99999\n bogus\n default allow\n}\nwhat is this\n");
        assert_eq!(d.len(), 4, "{d:#?}");
        assert_eq!(d[0].message, "syntax error: unknown word `frm`");
        assert_eq!(d[0].help.as_deref(), Some("did you mean `from`?"));
        // the good lines survive
        assert!(matches!(&f.items[0], Item::Hook(h) if h.stmts.len() == 1));
    }

    #[test]
    fn host_bits_and_bad_lengths_are_errors() {
        let (_, d) = parse("xdp on e { drop from 10.0.0.1/8; drop to 10.0.0.0/33; default allow }");
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].code, "sockc::host-bits");
        assert_eq!(d[1].code, "sockc::bad-prefix");
    }

    #[test]
    fn keywords_do_not_swallow_longer_words() {
        let (_, d) = parse("xdp on e { allowx tcp; default allow }");
        assert_eq!(d.len(), 1);
    }
}
