//! The conntrack anchor: an nftables table that switches connection tracking on in
//! an install's network namespace, for installs whose rules test `ct state`.
//! Conntrack registers its hooks in a namespace only while something there uses it
//! (`nf_ct_netns_get`); without a user every lookup an XDP or TC program makes
//! misses and a netfilter program reads every packet as `invalid`, so `allow ct state established`
//! before `default drop` would drop every reply. A BPF netfilter link does not count
//! as a user. The anchor is `table inet sockc_ct_<install> { chain anchor { ct state
//! new } }`: a chain with no hook is never traversed, so it costs nothing per packet,
//! but initialising its `ct` expression takes a conntrack reference for IPv4 and IPv6
//! (`nft_ct_get_init`). The nfnetlink batches are sockc's own (`crate::nft`); no `nft`
//! binary is needed.
//!
//! Invariants: the table's name is derived from the install's name alone, so a flush
//! or a re-apply finds it whatever happened before (a `kill -9` between apply and
//! flush included); sockc changes only a table that carries its mark (the table's
//! comment, [`mark`]): a table of that name somebody else made is left as it is and
//! named as the reason. What sockc made is the table, its chain `anchor` (no hook)
//! and that chain's one rule; `status` compares the chain with that rule
//! ([`Found::differences`]) and names anything else the table holds
//! ([`Found::foreign`]). While the table holds something sockc did not make, nothing
//! re-creates or deletes the table: an apply or a repair leaves it as it is and says
//! what is there, and a flush or a re-apply that no longer needs the anchor deletes
//! only the chain `anchor`. Every batch is tied to the ruleset generation the table
//! was read in (`NFNL_BATCH_GENID`), so a table changed in between (swapped, or
//! given a chain) is read again, not overwritten; every request runs in the calling
//! thread's namespace, which the callers have entered.

use std::io;

use serde::Serialize;

use crate::{
    nft::{
        expr,
        message::{nested, put, put_str, Batch},
        ruleset::{
            self, Family, NFTA_CHAIN_NAME, NFTA_CHAIN_TABLE, NFTA_RULE_CHAIN,
            NFTA_RULE_EXPRESSIONS, NFTA_RULE_TABLE, NFTA_TABLE_NAME, NFTA_TABLE_USERDATA,
        },
    },
    store::Manifest,
};

// From include/uapi/linux/netfilter/nf_tables.h (libc has the message types, not
// these attribute numbers).
/// The type of a table's comment in its user data (libnftnl's
/// `NFTNL_UDATA_TABLE_COMMENT`), so `nft list ruleset` shows the mark as a comment.
const UDATA_TABLE_COMMENT: u8 = 0;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_CT_DREG: u16 = 1;
const NFTA_CT_KEY: u16 = 2;
const NFTA_BITWISE_SREG: u16 = 1;
const NFTA_BITWISE_DREG: u16 = 2;
const NFTA_BITWISE_LEN: u16 = 3;
const NFTA_BITWISE_MASK: u16 = 4;
const NFTA_BITWISE_XOR: u16 = 5;
const NFTA_CMP_SREG: u16 = 1;
const NFTA_CMP_OP: u16 = 2;
const NFTA_CMP_DATA: u16 = 3;
const NFTA_DATA_VALUE: u16 = 1;

/// The anchor's family: one table switches conntrack on for IPv4 and IPv6.
const INET: Family = Family::INET;

/// The chain holding the anchor's one rule.
const CHAIN: &str = "anchor";

/// The anchor's rule as sockc writes it, in nft's words.
const RULE_TEXT: &str = "ct state new";

/// The name of install `install`'s anchor table (family `inet`).
pub fn table_name(install: &str) -> String {
    format!("sockc_ct_{install}")
}

/// The user data of install `install`'s anchor table: the comment that marks it as
/// sockc's (a type-length-value record, the string NUL-terminated, as nft writes it).
fn mark(install: &str) -> Vec<u8> {
    let comment = format!("sockc conntrack anchor of install {install}");
    let mut m = vec![UDATA_TABLE_COMMENT, (comment.len() + 1) as u8];
    m.extend_from_slice(comment.as_bytes());
    m.push(0);
    m
}

/// Why sockc leaves a table of its anchor's name alone.
const FOREIGN: &str = "a table of that name exists that sockc did not create, and sockc \
                       leaves it as it is (delete it, if it is nobody's, and run `sockc \
                       repair`)";

fn foreign() -> io::Error {
    io::Error::new(io::ErrorKind::AlreadyExists, FOREIGN)
}

/// Why sockc leaves its own table as it is: `what` else it holds.
fn shared(what: &[String]) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "the table also holds what sockc did not make ({}), and sockc leaves the table \
             as it is while it does (move that into a table of its own, then run `sockc \
             repair`)",
            what.join(", ")
        ),
    )
}

/// What sockc's anchor table of an install holds, against what sockc made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// How its chain `anchor` differs from what sockc writes (a hookless chain
    /// holding the one rule `ct state new`); empty when it is exactly that.
    pub differences: Vec<String>,
    /// Everything else the table holds (other chains, sets, maps, flowtables,
    /// stateful objects), as nft names them.
    pub foreign: Vec<String>,
    /// Whether the chain `anchor` exists.
    pub has_chain: bool,
}

/// The anchor table of install `install` in the calling thread's namespace, read
/// back: `None` when there is none; an error when a table of its name is not
/// sockc's.
pub fn inspect(install: &str) -> io::Result<Option<Found>> {
    let name = table_name(install);
    let Some(table) = ruleset::table(INET, &name)? else {
        return Ok(None);
    };
    if table.userdata.as_deref() != Some(&mark(install)[..]) {
        return Err(foreign());
    }
    let mut found = Found::default();
    for chain in ruleset::chains_of(INET, &name)? {
        if chain.name != CHAIN {
            found.foreign.push(chain.to_string());
            continue;
        }
        found.has_chain = true;
        if let Some(h) = &chain.hook {
            found.differences.push(format!(
                "its chain `{CHAIN}` is a base chain (type {} hook {} priority {}), where \
                 sockc's has no hook",
                h.kind,
                ruleset::hook_name(INET, h.hooknum),
                h.priority
            ));
        }
    }
    found.foreign.extend(ruleset::objects_of(INET, &name)?);
    if !found.has_chain {
        found
            .differences
            .push(format!("its chain `{CHAIN}` is missing"));
        return Ok(Some(found));
    }
    let rules = ruleset::rules(INET, &name, CHAIN)?;
    found.differences.extend(rule_difference(&rules));
    Ok(Some(found))
}

/// How `rules` (the anchor chain's) differ from sockc's one rule, in words.
fn rule_difference(rules: &[expr::Rule]) -> Option<String> {
    let ours = expected_rule();
    if rules == std::slice::from_ref(&ours) {
        return None;
    }
    let theirs: Vec<String> = rules.iter().map(|r| format!("`{r}`")).collect();
    let holds = match theirs.len() {
        0 => "no rule".to_string(),
        1 => format!("the rule {}", theirs[0]),
        n => format!("{n} rules: {}", theirs.join(", ")),
    };
    Some(format!(
        "its chain `{CHAIN}` holds {holds} where sockc writes the one rule `{RULE_TEXT}` \
         (`{ours}`)"
    ))
}

/// The anchor's rule as the kernel reads it back.
fn expected_rule() -> expr::Rule {
    let attrs = rule_attrs(&table_name("x"));
    let list = crate::nft::message::attribute(&attrs, NFTA_RULE_EXPRESSIONS).unwrap_or_default();
    expr::Rule::decode(list)
}

/// How often a batch refused because the ruleset changed under it is tried again.
const GENERATION_TRIES: usize = 5;

/// Reads install `install`'s anchor table and runs the batch `plan` makes of what it
/// found (given the ruleset generation it was read in), again while the ruleset
/// changes between the look and the batch. `Ok(false)`: `plan` made no batch.
fn transact(
    install: &str,
    plan: impl Fn(u32, Option<&Found>) -> io::Result<Option<Batch>>,
) -> io::Result<bool> {
    let mut tries = 0;
    loop {
        let generation = ruleset::generation()?;
        let found = inspect(install)?;
        let Some(batch) = plan(generation, found.as_ref())? else {
            return Ok(false);
        };
        match batch.send() {
            Err(e) if e.raw_os_error() == Some(libc::ERESTART) && tries < GENERATION_TRIES => {
                tries += 1;
            }
            Err(e) => return Err(e),
            Ok(()) => return Ok(true),
        }
    }
}

/// True when some rule of `m` tests `ct state` (or, in netfilter blocks, the entry:
/// `ct status`, `ct direction`, `ct mark`), in any block: XDP and TC programs look
/// the state up in conntrack's table, netfilter programs read what conntrack gave the
/// packet, and both need conntrack running.
pub fn needed(m: &Manifest) -> bool {
    needed_by(
        m.snapshot
            .programs
            .iter()
            .flat_map(|p| p.rules.iter())
            .map(|r| &*r.text),
    )
}

/// [`needed`] of the rules whose text (as written) is `texts`.
pub fn needed_by<'a>(mut texts: impl Iterator<Item = &'a str>) -> bool {
    // Most rules have no `ct` at all: a substring search rules them out before the
    // word-by-word look (10k rules: ~1 ms of an apply otherwise).
    texts.any(|t| t.contains("ct") && tests_ct_state(t))
}

/// Whether rule text (as written) has the word `ct` then `state`, `status`,
/// `direction` or `mark`.
fn tests_ct_state(text: &str) -> bool {
    let mut words = text.split_whitespace();
    let mut before = words.next();
    words.any(|w| {
        let what = matches!(w, "state" | "status" | "direction" | "mark");
        let ct_state = before == Some("ct") && what;
        before = Some(w);
        ct_state
    })
}

/// What [`after_apply`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do: the anchor is needed and in place, or not needed and absent.
    Nothing,
    /// The anchor is in place; the text says what it is.
    Created(String),
    /// The install no longer tests `ct state`: its anchor was deleted (or its chain,
    /// from a table that holds what sockc did not make); the text says so.
    Removed(String),
    /// The anchor is in place, in a table that also holds what sockc did not make,
    /// which stays as it is; the text says what.
    Shared(String),
    /// The anchor is needed but could not be created; the text says why.
    Failed(String),
}

/// Brings the anchor of install `name` in line with the rules it now runs: created
/// (again) when they test `ct state` (`needed`, [`needed_by`] of the file just
/// applied: not read back from the manifest, whose rules at 100,000 are megabytes),
/// deleted when they do not. Runs in the install's namespace, which `sockc apply`
/// has entered.
pub fn after_apply(name: &str, needed: bool) -> Outcome {
    let table = table_name(name);
    if !needed {
        return match remove(name) {
            Ok(
                Removal::Nothing
                | Removal::Chain {
                    had_chain: false, ..
                },
            )
            | Err(_) => Outcome::Nothing,
            Ok(r) => Outcome::Removed(format!(
                "{}: no rule of {name} tests `ct state` any more",
                r.text(&table)
            )),
        };
    }
    match inspect(name) {
        Ok(Some(f)) if f.differences.is_empty() && f.foreign.is_empty() => Outcome::Nothing,
        Ok(Some(f)) if f.differences.is_empty() => Outcome::Shared(format!(
            "nft table inet {table} also holds what sockc did not make ({}); sockc leaves it \
             as it is",
            f.foreign.join(", ")
        )),
        _ => match ensure(name) {
            Ok(()) => Outcome::Created(format!(
                "conntrack switched on in the install's network namespace for `ct state`: nft \
                 table inet {table} (a chain that never runs, holding the rule `{RULE_TEXT}`); \
                 `sockc flush --name {name}` deletes it"
            )),
            Err(e) => Outcome::Failed(failure_text(&table, &e)),
        },
    }
}

/// Why the anchor could not be made, and what that means for the rules.
pub fn failure_text(table: &str, e: &io::Error) -> String {
    format!(
        "conntrack could not be switched on (nft table inet {table}: {e}); `ct state` \
         sees no connection unless something else in this network namespace uses \
         conntrack (an nft or iptables rule with a ct match); `sockc repair` tries again"
    )
}

/// Creates the anchor of install `install` in the calling thread's namespace, or
/// replaces it by a fresh one; a table of its name that sockc did not make, or that
/// holds what sockc did not make, is an error, and left as it is.
pub fn ensure(install: &str) -> io::Result<()> {
    let table = table_name(install);
    crate::fault::point(&format!("create nft table inet {table}"));
    transact(install, |generation, found| match found {
        Some(f) if !f.foreign.is_empty() => Err(shared(&f.foreign)),
        _ => Ok(Some(anchor_batch(install, generation))),
    })
    .map(|_| ())
}

/// The batch that (re)creates install `install`'s anchor, for ruleset `generation`.
fn anchor_batch(install: &str, generation: u32) -> Batch {
    let table = table_name(install);
    let mut b = Batch::new(generation);
    // Adding before deleting makes the delete succeed whether or not the table was
    // there; the kernel applies the whole batch or none of it, and the old rule's
    // conntrack reference is dropped only after the new one is taken.
    b.message(
        INET.0,
        libc::NFT_MSG_NEWTABLE,
        libc::NLM_F_CREATE,
        &table_attrs(&table),
    );
    b.message(INET.0, libc::NFT_MSG_DELTABLE, 0, &table_attrs(&table));
    let mut marked = table_attrs(&table);
    put(&mut marked, NFTA_TABLE_USERDATA, &mark(install));
    b.message(INET.0, libc::NFT_MSG_NEWTABLE, libc::NLM_F_CREATE, &marked);
    b.message(
        INET.0,
        libc::NFT_MSG_NEWCHAIN,
        libc::NLM_F_CREATE,
        &chain_attrs(&table),
    );
    b.message(
        INET.0,
        libc::NFT_MSG_NEWRULE,
        libc::NLM_F_CREATE | libc::NLM_F_APPEND,
        &rule_attrs(&table),
    );
    b
}

/// What [`remove`] took away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removal {
    /// Nothing: there was no anchor, or the table of its name is not sockc's.
    Nothing,
    /// The table, with everything in it (all of it sockc's).
    Table,
    /// Only the chain `anchor` (`had_chain`: there was one): the table holds `left`,
    /// which sockc did not make, and stays with it.
    Chain { had_chain: bool, left: Vec<String> },
}

impl Removal {
    /// What was done, in words, for the anchor table `table`.
    pub fn text(&self, table: &str) -> String {
        match self {
            Removal::Nothing => format!("nft table inet {table}: nothing of sockc's"),
            Removal::Table => format!("nft table inet {table} deleted"),
            Removal::Chain { had_chain, left } => format!(
                "{}nft table inet {table} left as it is: it holds what sockc did not make ({}); \
                 delete the table once that is nobody's",
                if *had_chain {
                    format!("sockc's chain `{CHAIN}` deleted; ")
                } else {
                    String::new()
                },
                left.join(", ")
            ),
        }
    }
}

/// Deletes the anchor of install `install`: the table when everything in it is
/// sockc's, only its chain `anchor` when the table holds what sockc did not make
/// (which stays, with the table). A table of its name that is not sockc's is left as
/// it is. Looks first, so a flush of an install that never had one changes nothing
/// (and passes no fault point): no table of its name is one request, without the
/// ruleset generation a batch is tied to (every apply of rules that test no `ct`
/// state asks).
pub fn remove(install: &str) -> io::Result<Removal> {
    let table = table_name(install);
    if ruleset::table(INET, &table)?.is_none() {
        return Ok(Removal::Nothing);
    }
    let removal = std::cell::RefCell::new(Removal::Nothing);
    let deleted = transact(install, |generation, found| {
        let Some(f) = found else {
            return Ok(None);
        };
        let mut b = Batch::new(generation);
        if f.foreign.is_empty() {
            crate::fault::point(&format!("delete nft table inet {table}"));
            b.message(INET.0, libc::NFT_MSG_DELTABLE, 0, &table_attrs(&table));
            *removal.borrow_mut() = Removal::Table;
            return Ok(Some(b));
        }
        *removal.borrow_mut() = Removal::Chain {
            had_chain: f.has_chain,
            left: f.foreign.clone(),
        };
        if !f.has_chain {
            return Ok(None);
        }
        crate::fault::point(&format!("delete nft chain inet {table} {CHAIN}"));
        // The chain's rules first: the kernel deletes a chain only once it is empty.
        let mut rules = Vec::new();
        put_str(&mut rules, NFTA_RULE_TABLE, &table);
        put_str(&mut rules, NFTA_RULE_CHAIN, CHAIN);
        b.message(INET.0, libc::NFT_MSG_DELRULE, 0, &rules);
        b.message(INET.0, libc::NFT_MSG_DELCHAIN, 0, &chain_attrs(&table));
        Ok(Some(b))
    });
    match deleted {
        Ok(_) => Ok(removal.into_inner()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(Removal::Nothing),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Removal::Nothing),
        Err(e) => Err(e),
    }
}

/// The anchor as `sockc status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AnchorStatus {
    /// `inet sockc_ct_<install>`.
    pub table: String,
    /// `present`, `changed`, `missing`, `unreadable: <why>`, or [`LEFT_OVER`].
    pub state: String,
    /// With `changed`: how its chain differs from what sockc writes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
    /// What else the table holds, which sockc did not make.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub foreign: Vec<String>,
}

/// The state of an anchor that no rule of the install needs any more (a re-apply
/// killed before it deleted it): it keeps conntrack on in the namespace for nothing.
pub const LEFT_OVER: &str = "left over";

/// The state of an anchor whose chain differs from what sockc writes.
pub const CHANGED: &str = "changed";

impl AnchorStatus {
    /// The drift lines of an anchor that is not exactly what sockc made.
    pub fn drift(&self) -> Vec<String> {
        let table = &self.table;
        let mut lines = Vec::new();
        let repair = if self.foreign.is_empty() {
            "`sockc repair` writes it again"
        } else {
            "`sockc repair` writes it again once the table holds nothing else"
        };
        match self.state.as_str() {
            "present" => {}
            LEFT_OVER => lines.push(format!(
                "conntrack anchor nft table {table} left over: no rule tests `ct state` any \
                 more, and it keeps conntrack on here (`sockc repair` deletes it)"
            )),
            "missing" => lines.push(format!(
                "conntrack anchor nft table {table} missing: `ct state` sees no connection \
                 unless something else here uses conntrack (`sockc repair` creates it again)"
            )),
            CHANGED => lines.push(format!(
                "conntrack anchor nft table {table} changed: {}; conntrack may be off, and \
                 then `ct state` sees no connection ({repair})",
                self.differences.join("; ")
            )),
            other => lines.push(format!("conntrack anchor nft table {table}: {other}")),
        }
        if !self.foreign.is_empty() {
            lines.push(format!(
                "conntrack anchor nft table {table} also holds what sockc did not make: {}; \
                 sockc's apply, repair and flush leave the table as it is while it does \
                 (move that into a table of its own)",
                self.foreign.join(", ")
            ));
        }
        lines
    }
}

/// The anchor of install `m` as it is in the calling thread's namespace; `None` when
/// `m` needs none and none of sockc's is there under its name.
pub fn status(m: &Manifest) -> Option<AnchorStatus> {
    let table = format!("inet {}", table_name(&m.name));
    let shown = |state: &str, found: Found| AnchorStatus {
        table: table.clone(),
        state: state.to_string(),
        differences: found.differences,
        foreign: found.foreign,
    };
    if !needed(m) {
        // Only a table sockc marked as its own: another program's of that name is not
        // this install's business.
        return match inspect(&m.name) {
            Ok(Some(f)) if f.has_chain || f.foreign.is_empty() => Some(shown(
                LEFT_OVER,
                Found {
                    differences: Vec::new(),
                    ..f
                },
            )),
            _ => None,
        };
    }
    Some(match inspect(&m.name) {
        Ok(None) => shown("missing", Found::default()),
        Ok(Some(f)) if f.differences.is_empty() => shown("present", f),
        Ok(Some(f)) => shown(CHANGED, f),
        Err(e) => shown(&format!("unreadable: {e}"), Found::default()),
    })
}

/// `sockc repair` of the anchor of `m`: created again when `m` needs it and it is
/// not exactly what sockc writes, deleted when `m` does not (a re-apply that stopped
/// testing `ct state` and was killed before it deleted it). Says what it did
/// (`Ok(None)`: nothing); a table holding what sockc did not make is left as it is,
/// and that is the error.
pub fn restore(m: &Manifest) -> Result<Option<String>, String> {
    let table = table_name(&m.name);
    if !needed(m) {
        return match remove(&m.name) {
            Ok(
                Removal::Nothing
                | Removal::Chain {
                    had_chain: false, ..
                },
            ) => Ok(None),
            Ok(r) => Ok(Some(format!(
                "{}: no rule tests `ct state`",
                r.text(&table)
            ))),
            // A host without nf_tables has no anchor to delete, and one left behind
            // only keeps conntrack on: neither makes the repair fail.
            Err(_) => Ok(None),
        };
    }
    match inspect(&m.name) {
        Ok(Some(f)) if f.differences.is_empty() && f.foreign.is_empty() => Ok(None),
        Ok(Some(f)) if f.differences.is_empty() => {
            Err(format!("nft table inet {table}: {}", shared(&f.foreign)))
        }
        _ => match ensure(&m.name) {
            Ok(()) => Ok(Some(format!(
                "conntrack anchor nft table inet {table} created again"
            ))),
            Err(e) => Err(failure_text(&table, &e)),
        },
    }
}

fn table_attrs(table: &str) -> Vec<u8> {
    let mut a = Vec::new();
    put_str(&mut a, NFTA_TABLE_NAME, table);
    a
}

fn chain_attrs(table: &str) -> Vec<u8> {
    let mut a = Vec::new();
    put_str(&mut a, NFTA_CHAIN_TABLE, table);
    put_str(&mut a, NFTA_CHAIN_NAME, CHAIN);
    a
}

/// The rule `ct state new`, as nft encodes it (`[ ct load state => reg 1 ]`, `[
/// bitwise reg 1 = (reg 1 & NEW) ^ 0 ]`, `[ cmp neq reg 1 0 ]`), so `nft list
/// ruleset` shows it as written: the `ct` expression's init is what takes the
/// conntrack reference; the rule never runs.
fn rule_attrs(table: &str) -> Vec<u8> {
    let be = |v: i32| (v as u32).to_be_bytes();
    // `ct state` is a host-order bit mask in the register; NEW is bit 3.
    let new_bit = 8u32.to_ne_bytes();
    let mut ct = Vec::new();
    put(&mut ct, NFTA_CT_KEY, &be(libc::NFT_CT_STATE));
    put(&mut ct, NFTA_CT_DREG, &be(libc::NFT_REG_1));
    let mut bitwise = Vec::new();
    put(&mut bitwise, NFTA_BITWISE_SREG, &be(libc::NFT_REG_1));
    put(&mut bitwise, NFTA_BITWISE_DREG, &be(libc::NFT_REG_1));
    put(&mut bitwise, NFTA_BITWISE_LEN, &be(4));
    put(&mut bitwise, nested(NFTA_BITWISE_MASK), &data(&new_bit));
    put(&mut bitwise, nested(NFTA_BITWISE_XOR), &data(&[0; 4]));
    let mut cmp = Vec::new();
    put(&mut cmp, NFTA_CMP_SREG, &be(libc::NFT_REG_1));
    put(&mut cmp, NFTA_CMP_OP, &be(libc::NFT_CMP_NEQ));
    put(&mut cmp, nested(NFTA_CMP_DATA), &data(&[0; 4]));
    let mut list = Vec::new();
    for (name, attrs) in [("ct", ct), ("bitwise", bitwise), ("cmp", cmp)] {
        let mut expr = Vec::new();
        put_str(&mut expr, NFTA_EXPR_NAME, name);
        put(&mut expr, nested(NFTA_EXPR_DATA), &attrs);
        put(&mut list, nested(NFTA_LIST_ELEM), &expr);
    }
    let mut a = Vec::new();
    put_str(&mut a, NFTA_RULE_TABLE, table);
    put_str(&mut a, NFTA_RULE_CHAIN, CHAIN);
    put(&mut a, nested(NFTA_RULE_EXPRESSIONS), &list);
    a
}

/// A constant as nft sends one: `NFTA_DATA_VALUE` inside the nest.
fn data(value: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    put(&mut d, NFTA_DATA_VALUE, value);
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nft::message::attribute;

    #[test]
    fn ct_state_is_found_as_two_words() {
        assert!(tests_ct_state("allow ct state established,related"));
        assert!(tests_ct_state("drop tcp  ct\tstate invalid"));
        assert!(!tests_ct_state("allow tcp to *:22"));
        assert!(tests_ct_state("allow ct mark 1"));
        assert!(tests_ct_state("drop ct status dnat"));
        assert!(!tests_ct_state("allow mark 1"));
    }

    #[test]
    fn the_rule_reads_back_as_nft_debug_shows_ct_state_new() {
        assert_eq!(
            expected_rule().to_string(),
            "[ ct load state => reg 1 ] [ bitwise reg 1 = ( reg 1 & 0x00000008 ) ^ \
             0x00000000 ] [ cmp neq reg 1 0x00000000 ]"
        );
        assert_eq!(rule_difference(&[expected_rule()]), None);
        let counter = expr::Rule(vec![expr::Expr("counter".into())]);
        let said = rule_difference(&[counter]).expect("a difference");
        assert!(
            said.contains("the rule `[ counter ]` where sockc writes"),
            "{said}"
        );
        let said = rule_difference(&[]).expect("a difference");
        assert!(said.contains("holds no rule"), "{said}");
        let twice = [expected_rule(), expected_rule()];
        assert!(rule_difference(&twice)
            .expect("a difference")
            .contains("2 rules"));
    }

    #[test]
    fn the_mark_is_found_among_a_tables_attributes_and_names_the_install() {
        let mut a = table_attrs("sockc_ct_x");
        put(&mut a, NFTA_TABLE_USERDATA, &mark("x"));
        assert_eq!(attribute(&a, NFTA_TABLE_USERDATA), Some(&mark("x")[..]));
        assert_ne!(mark("x"), mark("y"));
    }

    #[test]
    fn drift_names_what_differs_and_what_else_is_there() {
        let s = AnchorStatus {
            table: "inet sockc_ct_x".into(),
            state: CHANGED.into(),
            differences: vec!["its chain `anchor` holds no rule".into()],
            foreign: vec!["chain inet sockc_ct_x input".into()],
        };
        let lines = s.drift();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("holds no rule") && lines[0].contains("once the table"));
        assert!(lines[1].contains("chain inet sockc_ct_x input"));
        let present = AnchorStatus {
            state: "present".into(),
            differences: Vec::new(),
            foreign: Vec::new(),
            ..s
        };
        assert!(present.drift().is_empty());
    }

    /// In a network namespace of its own (a thread that unshares it; the namespace
    /// goes when the thread ends): the anchor is made with sockc's mark, reads back
    /// as exactly sockc's, and is deleted; a batch for a ruleset generation that has
    /// moved on is refused (`ERESTART`) and changes nothing. Root only.
    #[test]
    fn a_batch_for_a_generation_the_ruleset_left_is_refused() {
        if !crate::sys::tests_run_as_root() {
            return;
        }
        std::thread::spawn(|| {
            // SAFETY: unshare changes only this thread's namespace.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
            let before = ruleset::generation().expect("generation");
            ensure("gen").expect("ensure");
            let found = inspect("gen").expect("inspect").expect("the table");
            assert_eq!(
                found,
                Found {
                    has_chain: true,
                    ..Found::default()
                }
            );
            let mut stale = Batch::new(before);
            stale.message(
                INET.0,
                libc::NFT_MSG_DELTABLE,
                0,
                &table_attrs("sockc_ct_gen"),
            );
            let refused = stale.send().expect_err("a stale generation");
            assert_eq!(refused.raw_os_error(), Some(libc::ERESTART));
            assert!(inspect("gen").expect("inspect").is_some());
            assert_eq!(remove("gen").expect("remove"), Removal::Table);
            assert_eq!(inspect("gen").expect("inspect"), None);
        })
        .join()
        .expect("the test thread");
    }

    /// A chain somebody added to sockc's table is named, and keeps the table: a
    /// remove deletes sockc's chain alone, an ensure refuses and changes nothing.
    /// Root only.
    #[test]
    fn a_chain_added_to_the_table_is_named_and_kept() {
        if !crate::sys::tests_run_as_root() {
            return;
        }
        std::thread::spawn(|| {
            // SAFETY: unshare changes only this thread's namespace.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
            ensure("own").expect("ensure");
            let table = table_name("own");
            let mut b = Batch::new(ruleset::generation().expect("generation"));
            let mut chain = Vec::new();
            put_str(&mut chain, NFTA_CHAIN_TABLE, &table);
            put_str(&mut chain, NFTA_CHAIN_NAME, "mine");
            b.message(INET.0, libc::NFT_MSG_NEWCHAIN, libc::NLM_F_CREATE, &chain);
            b.send().expect("add a chain");
            let found = inspect("own").expect("inspect").expect("the table");
            assert_eq!(found.foreign, [format!("chain inet {table} mine")]);
            assert!(found.differences.is_empty(), "{found:?}");
            let refused = ensure("own").expect_err("a shared table");
            assert!(refused.to_string().contains("mine"), "{refused}");
            let removed = remove("own").expect("remove");
            assert!(
                matches!(
                    removed,
                    Removal::Chain {
                        had_chain: true,
                        ..
                    }
                ),
                "{removed:?}"
            );
            let found = inspect("own").expect("inspect").expect("the table stays");
            assert!(!found.has_chain && found.foreign.len() == 1, "{found:?}");
        })
        .join()
        .expect("the test thread");
    }
}
