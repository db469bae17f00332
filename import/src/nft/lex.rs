//! nft text as tokens: words (anything up to a blank or one of `{}(),;`), quoted
//! strings, those punctuation characters, and line ends; `#` comments are skipped.
//!
//! Invariant: every token knows its byte range; a string runs to the next quote, line
//! breaks included (nft's scanner reads `"[^"]*"`, and `nft list ruleset` prints a
//! comment's line breaks as they are), and one that is not closed before the text ends
//! is an error at its opening quote.

/// A token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tok {
    pub kind: Kind,
    pub text: String,
    pub start: usize,
    pub end: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Word,
    Str,
    Punct,
    Newline,
}

impl Tok {
    pub fn is(&self, s: &str) -> bool {
        matches!(self.kind, Kind::Word | Kind::Punct) && self.text == s
    }
}

/// Splits `text`; on an unclosed string, the offset of its quote.
pub fn tokens(text: &str) -> Result<Vec<Tok>, usize> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' => i += 1,
            b'\\' if b.get(i + 1) == Some(&b'\n') => i += 2,
            b'\n' => {
                out.push(Tok {
                    kind: Kind::Newline,
                    text: "\n".into(),
                    start: i,
                    end: i + 1,
                });
                i += 1;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += 1;
                }
                if i >= b.len() {
                    return Err(start);
                }
                out.push(Tok {
                    kind: Kind::Str,
                    text: text[start + 1..i].to_string(),
                    start,
                    end: i + 1,
                });
                i += 1;
            }
            b'{' | b'}' | b'(' | b')' | b',' | b';' => {
                out.push(Tok {
                    kind: Kind::Punct,
                    text: (c as char).to_string(),
                    start: i,
                    end: i + 1,
                });
                i += 1;
            }
            _ => {
                let start = i;
                while i < b.len()
                    && !matches!(
                        b[i],
                        b' ' | b'\t'
                            | b'\r'
                            | b'\n'
                            | b'{'
                            | b'}'
                            | b'('
                            | b')'
                            | b','
                            | b';'
                            | b'"'
                    )
                {
                    i += 1;
                }
                // `#` inside a word (never in nft's own output) still starts a comment
                let word = &text[start..i];
                let (word, cut) = match word.find('#') {
                    Some(h) => (&word[..h], start + h),
                    None => (word, i),
                };
                if !word.is_empty() {
                    out.push(Tok {
                        kind: Kind::Word,
                        text: word.to_string(),
                        start,
                        end: cut,
                    });
                }
                if cut < i {
                    i = cut;
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_strings_punctuation() {
        let t = tokens(
            "iifname \"br-lan\" tcp dport { 22, 80 } accept # x\nct state established,related",
        )
        .unwrap();
        let texts: Vec<&str> = t.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "iifname",
                "br-lan",
                "tcp",
                "dport",
                "{",
                "22",
                ",",
                "80",
                "}",
                "accept",
                "\n",
                "ct",
                "state",
                "established",
                ",",
                "related"
            ]
        );
        assert_eq!(t[1].kind, Kind::Str);
        assert_eq!((t[1].start, t[1].end), (8, 16));
        assert_eq!(tokens("comment \"open\nx"), Err(8));
        // A line break inside a string is part of it (nft prints a comment's as is).
        let t = tokens("accept comment \"a\nb\"\ndrop").unwrap();
        let texts: Vec<&str> = t.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, ["accept", "comment", "a\nb", "\n", "drop"]);
        let t = tokens("ip6 saddr fe80::/10 icmpv6 type . icmpv6 code { a . b }").unwrap();
        assert!(t.iter().any(|x| x.text == "fe80::/10") && t.iter().any(|x| x.text == "."));
    }
}
