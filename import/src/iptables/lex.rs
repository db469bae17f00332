//! One `iptables-save` line as words, split the way `iptables-restore` splits it:
//! blanks separate words, `"` opens and closes a quoted part (not kept), and inside
//! quotes `\` takes the next character as it is (`iptables-save` writes `\"`, `\\`
//! and `\'` there).
//!
//! Invariant: every word knows its byte range in the line and whether any of it was
//! quoted (a quoted word is always a value, never an option).

/// A word of a rule line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub quoted: bool,
    pub start: usize,
    pub end: usize,
}

impl Word {
    /// An option name: `--long` or `-x` (a letter), and not quoted.
    pub fn is_option(&self) -> bool {
        if self.quoted {
            return false;
        }
        let t = self.text.as_str();
        (t.starts_with("--") && t.len() > 2)
            || (t.len() == 2 && t.starts_with('-') && t.as_bytes()[1].is_ascii_alphabetic())
    }

    pub fn is_bang(&self) -> bool {
        !self.quoted && self.text == "!"
    }
}

/// Why a line could not be split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unterminated(pub usize);

/// Splits `line`; offsets are relative to it.
pub fn words(line: &str) -> Result<Vec<Word>, Unterminated> {
    let mut out = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c == ' ' || c == '\t' {
            chars.next();
            continue;
        }
        let mut text = String::new();
        let mut quoted = false;
        let mut in_quote = false;
        let mut quote_start = start;
        let mut end = start;
        while let Some(&(i, c)) = chars.peek() {
            if !in_quote && (c == ' ' || c == '\t') {
                break;
            }
            chars.next();
            end = i + c.len_utf8();
            match c {
                '"' => {
                    in_quote = !in_quote;
                    quoted = true;
                    quote_start = i;
                }
                '\\' if in_quote => {
                    if let Some((j, n)) = chars.next() {
                        text.push(n);
                        end = j + n.len_utf8();
                    }
                }
                _ => text.push(c),
            }
        }
        if in_quote {
            return Err(Unterminated(quote_start));
        }
        out.push(Word {
            text,
            quoted,
            start,
            end,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(l: &str) -> Vec<String> {
        words(l).unwrap().into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn splits_as_iptables_restore_does() {
        assert_eq!(
            texts("-A INPUT  -p tcp\t--dport 22"),
            ["-A", "INPUT", "-p", "tcp", "--dport", "22"]
        );
        assert_eq!(
            texts(r#"--log-prefix "[UFW BLOCK] " -j X"#),
            ["--log-prefix", "[UFW BLOCK] ", "-j", "X"]
        );
        assert_eq!(
            texts(r#"--comment "\'dapp_Apache%20Full\'""#),
            ["--comment", "'dapp_Apache%20Full'"]
        );
        assert_eq!(
            texts(r#"--comment "a \"b\" \\c""#),
            ["--comment", r#"a "b" \c"#]
        );
        assert!(words(r#"--comment "open"#).is_err());
        let w = words(r#"-m comment --comment "x y""#).unwrap();
        assert!(w[3].quoted && !w[3].is_option() && w[2].is_option() && !w[1].is_option());
        assert_eq!((w[3].start, w[3].end), (21, 26));
    }
}
