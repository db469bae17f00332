//! A rule's nf_tables expressions in words, in the notation of `nft --debug=netlink`
//! (`[ ct load state => reg 1 ]`): the few a comparison with a known rule needs
//! spelled out (`ct`, `bitwise`, `cmp`, `counter`, `immediate`), any other by its
//! name, so two rules read the same exactly when they do the same (counter values
//! aside).
//!
//! Invariant: decoding never fails and never reads past the bytes given; an
//! attribute it does not know is left out of the words, a value it cannot read is
//! shown as `?`.

use std::fmt;

use super::message::{attribute, attributes, be32, text};

const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;

/// One expression of a rule, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr(pub String);

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[ {} ]", self.0)
    }
}

/// A rule: its expressions in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule(pub Vec<Expr>);

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = self.0.iter().map(Expr::to_string).collect();
        f.write_str(&words.join(" "))
    }
}

impl Rule {
    /// The rule whose `NFTA_RULE_EXPRESSIONS` nest holds `list`.
    pub fn decode(list: &[u8]) -> Rule {
        Rule(
            attributes(list)
                .into_iter()
                .filter(|(ty, _)| *ty == NFTA_LIST_ELEM)
                .map(|(_, e)| decode_expr(e))
                .collect(),
        )
    }
}

fn decode_expr(e: &[u8]) -> Expr {
    let name = attribute(e, NFTA_EXPR_NAME).map(text).unwrap_or_default();
    let data = attribute(e, NFTA_EXPR_DATA).unwrap_or_default();
    let num = |ty: u16| attribute(data, ty).and_then(be32);
    let reg = |ty: u16| num(ty).map_or("?".to_string(), |r| format!("reg {r}"));
    let value = |ty: u16| {
        attribute(data, ty)
            .and_then(|d| attribute(d, NFTA_DATA_VALUE))
            .map_or("?".to_string(), hex)
    };
    Expr(match name.as_str() {
        // NFTA_CT_DREG 1, NFTA_CT_KEY 2, NFTA_CT_DIRECTION 3, NFTA_CT_SREG 4.
        "ct" => {
            let key = num(2).map_or("?".to_string(), ct_key);
            let dir = attribute(data, 3)
                .and_then(|d| d.first())
                .map(|d| format!(" {}", if *d == 0 { "original" } else { "reply" }))
                .unwrap_or_default();
            match attribute(data, 4) {
                Some(_) => format!("ct set {key}{dir} with {}", reg(4)),
                None => format!("ct load {key}{dir} => {}", reg(1)),
            }
        }
        // NFTA_BITWISE_SREG 1, DREG 2, LEN 3, MASK 4, XOR 5, OP 6 (0: mask and xor).
        "bitwise" if num(6).unwrap_or(0) == 0 => format!(
            "bitwise {} = ( {} & {} ) ^ {}",
            reg(2),
            reg(1),
            value(4),
            value(5)
        ),
        // NFTA_CMP_SREG 1, OP 2, DATA 3.
        "cmp" => format!("cmp {} {} {}", cmp_op(num(2)), reg(1), value(3)),
        "counter" => "counter".to_string(),
        // NFTA_IMMEDIATE_DREG 1, DATA 2.
        "immediate" => format!("immediate {} {}", reg(1), immediate(data)),
        _ => name,
    })
}

/// An immediate's data: a verdict (with its chain) or a value.
fn immediate(data: &[u8]) -> String {
    let Some(d) = attribute(data, 2) else {
        return "?".to_string();
    };
    if let Some(v) = attribute(d, NFTA_DATA_VERDICT) {
        let code = attribute(v, NFTA_VERDICT_CODE)
            .and_then(be32)
            .map(|c| c as i32);
        let word = match code {
            Some(libc::NF_ACCEPT) => "accept".to_string(),
            Some(libc::NF_DROP) => "drop".to_string(),
            Some(-1) => "continue".to_string(),
            Some(-2) => "break".to_string(),
            Some(-3) => "jump".to_string(),
            Some(-4) => "goto".to_string(),
            Some(-5) => "return".to_string(),
            other => format!("verdict {other:?}"),
        };
        return match attribute(v, NFTA_VERDICT_CHAIN) {
            Some(chain) => format!("{word} -> {}", text(chain)),
            None => word,
        };
    }
    attribute(d, NFTA_DATA_VALUE).map_or("?".to_string(), hex)
}

/// `enum nft_ct_keys` as nft names them (the first ones).
fn ct_key(key: u32) -> String {
    let names = [
        "state",
        "direction",
        "status",
        "mark",
        "secmark",
        "expiration",
        "helper",
        "l3protocol",
        "saddr",
        "daddr",
        "protocol",
        "proto-src",
        "proto-dst",
        "labels",
    ];
    names
        .get(key as usize)
        .map_or_else(|| format!("key {key}"), |n| n.to_string())
}

/// `enum nft_cmp_ops` in nft's words.
fn cmp_op(op: Option<u32>) -> &'static str {
    match op {
        Some(0) => "eq",
        Some(1) => "neq",
        Some(2) => "lt",
        Some(3) => "lte",
        Some(4) => "gt",
        Some(5) => "gte",
        _ => "?",
    }
}

/// A value as nft's debug output shows it: 32-bit words in hex, in the order of the
/// bytes.
fn hex(bytes: &[u8]) -> String {
    let words: Vec<String> = bytes
        .chunks(4)
        .map(|w| {
            let mut word = [0u8; 4];
            word[..w.len()].copy_from_slice(w);
            format!("0x{:08x}", u32::from_ne_bytes(word))
        })
        .collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nft::message::{nested, put, put_str};

    fn expr(name: &str, data: &[u8]) -> Vec<u8> {
        let mut e = Vec::new();
        put_str(&mut e, NFTA_EXPR_NAME, name);
        put(&mut e, nested(NFTA_EXPR_DATA), data);
        let mut list = Vec::new();
        put(&mut list, nested(NFTA_LIST_ELEM), &e);
        list
    }

    #[test]
    fn a_verdict_and_an_unknown_expression_are_named() {
        let mut code = Vec::new();
        put(
            &mut code,
            NFTA_VERDICT_CODE,
            &(libc::NF_DROP as u32).to_be_bytes(),
        );
        let mut verdict = Vec::new();
        put(&mut verdict, nested(NFTA_DATA_VERDICT), &code);
        let mut data = Vec::new();
        put(&mut data, 1, &0u32.to_be_bytes());
        put(&mut data, nested(2), &verdict);
        let mut list = expr("immediate", &data);
        list.extend(expr("payload", &[]));
        list.extend(expr("counter", &[]));
        assert_eq!(
            Rule::decode(&list).to_string(),
            "[ immediate reg 0 drop ] [ payload ] [ counter ]"
        );
    }

    #[test]
    fn garbage_decodes_to_what_can_be_read() {
        assert_eq!(Rule::decode(&[1, 2, 3]).0, Vec::new());
        let list = expr("cmp", &[8, 0, 1]);
        assert_eq!(Rule::decode(&list).to_string(), "[ cmp ? ? ? ]");
    }
}
