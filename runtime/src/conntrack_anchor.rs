//! The conntrack anchor: an nftables table that switches connection tracking on in
//! an install's network namespace, for installs whose rules test `ct state`.
//! Conntrack registers its hooks in a namespace only while something there uses it
//! (`nf_ct_netns_get`); without a user every lookup an XDP or TC program makes
//! misses and a netfilter program reads every packet as `invalid`, so `allow ct state established`
//! before `default drop` would drop every reply. A BPF netfilter link does not count
//! as a user. The anchor is `table inet sockc_ct_<install> { chain anchor { ct state
//! new } }`: a chain with no hook is never traversed, so it costs nothing per packet,
//! but initialising its `ct` expression takes a conntrack reference for IPv4 and IPv6
//! (`nft_ct_get_init`). The nfnetlink batch is encoded here; no `nft` binary is needed.
//!
//! Invariants: the table's name is derived from the install's name alone, so a flush
//! or a re-apply finds it whatever happened before (a `kill -9` between apply and
//! flush included); creating it is idempotent (one batch adds, deletes and re-creates
//! it, so it always holds exactly one rule); sockc deletes or replaces only a table
//! that carries its mark (the table's comment, [`mark`]): a table of that name
//! somebody else made is left as it is and named as the reason, and the batch that
//! replaces a marked one is tied to the ruleset generation the mark was read in
//! (`NFNL_BATCH_GENID`), so a table swapped in between is not deleted either; every
//! request runs in the calling thread's namespace, which the callers have entered.

use std::io;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

use serde::Serialize;

use crate::store::Manifest;

// From include/uapi/linux/netfilter/nf_tables.h (libc has the message types, not
// these attribute numbers).
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_USERDATA: u16 = 6;
const NFTA_GEN_ID: u16 = 1;
/// The type of a table's comment in its user data (libnftnl's
/// `NFTNL_UDATA_TABLE_COMMENT`), so `nft list ruleset` shows the mark as a comment.
const UDATA_TABLE_COMMENT: u8 = 0;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
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

/// The sequence number of a batch's `NFNL_MSG_BATCH_BEGIN` (messages count from it).
const BEGIN_SEQ: u32 = 1;

/// The chain holding the anchor's one rule.
const CHAIN: &str = "anchor";

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

/// Who the table of install `install`'s anchor name is, in the calling thread's
/// namespace.
#[derive(Debug, PartialEq, Eq)]
enum Owner {
    Absent,
    Sockc,
    Foreign,
}

fn owner(install: &str) -> io::Result<Owner> {
    let replies = get(
        libc::NFT_MSG_GETTABLE,
        libc::NLM_F_ACK,
        &table_attrs(&table_name(install)),
    )?;
    let Some(table) = replies.first() else {
        return Ok(Owner::Absent);
    };
    let marked = attribute(table.get(4..).unwrap_or_default(), NFTA_TABLE_USERDATA)
        .is_some_and(|data| data == mark(install));
    Ok(if marked { Owner::Sockc } else { Owner::Foreign })
}

fn foreign() -> io::Error {
    io::Error::new(io::ErrorKind::AlreadyExists, FOREIGN)
}

/// The ruleset's generation: a batch that names it is refused (`ERESTART`) when
/// anything changed the ruleset since.
fn generation() -> io::Result<u32> {
    let replies = get(libc::NFT_MSG_GETGEN, libc::NLM_F_ACK, &[])?;
    replies
        .first()
        .and_then(|r| attribute(r.get(4..)?, NFTA_GEN_ID))
        .and_then(|v| Some(u32::from_be_bytes(v.try_into().ok()?)))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no ruleset generation"))
}

/// How often a batch refused because the ruleset changed under it is tried again.
const GENERATION_TRIES: usize = 5;

/// Runs `batch` (given the ruleset generation it must apply to) when install
/// `install`'s anchor table is absent or sockc's, again while the ruleset changes
/// between the look and the batch. `Ok(false)`: the table is absent and `batch` was
/// not run because `only_if_present`.
fn with_own_table(
    install: &str,
    only_if_present: bool,
    batch: impl Fn(u32) -> Batch,
) -> io::Result<bool> {
    let mut tries = 0;
    loop {
        let generation = generation()?;
        match owner(install)? {
            Owner::Foreign => return Err(foreign()),
            Owner::Absent if only_if_present => return Ok(false),
            Owner::Absent | Owner::Sockc => {}
        }
        match batch(generation).send() {
            Err(e) if e.raw_os_error() == Some(libc::ERESTART) && tries < GENERATION_TRIES => {
                tries += 1;
            }
            Err(e) => return Err(e),
            Ok(()) => return Ok(true),
        }
    }
}

/// True when some rule of `m` tests `ct state`, in any block: XDP and TC programs look
/// the state up in conntrack's table, netfilter programs read what conntrack gave the
/// packet, and both need conntrack running.
pub fn needed(m: &Manifest) -> bool {
    needed_by(
        m.snapshot
            .programs
            .iter()
            .flat_map(|p| &p.rules)
            .map(|r| &*r.text),
    )
}

/// [`needed`] of the rules whose text (as written) is `texts`.
pub fn needed_by<'a>(mut texts: impl Iterator<Item = &'a str>) -> bool {
    // Most rules have no `state` at all: a substring search rules them out before
    // the word-by-word look (10k rules: ~1 ms of an apply otherwise).
    texts.any(|t| t.contains("state") && tests_ct_state(t))
}

/// Whether rule text (as written) has the words `ct state` in a row.
fn tests_ct_state(text: &str) -> bool {
    let mut words = text.split_whitespace();
    let mut before = words.next();
    words.any(|w| {
        let ct_state = before == Some("ct") && w == "state";
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
    /// The install no longer tests `ct state`: its anchor was deleted.
    Removed(String),
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
            Ok(true) => Outcome::Removed(format!(
                "nft table inet {table} deleted: no rule of {name} tests `ct state` any more"
            )),
            _ => Outcome::Nothing,
        };
    }
    if present(name).unwrap_or(false) {
        return Outcome::Nothing;
    }
    match ensure(name) {
        Ok(()) => Outcome::Created(format!(
            "conntrack switched on in the install's network namespace for `ct state`: nft table inet \
             {table} (a chain that never runs, holding the rule `ct state new`); `sockc flush \
             --name {name}` deletes it"
        )),
        Err(e) => Outcome::Failed(failure_text(&table, &e)),
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
/// replaces it by a fresh one; a table of its name that sockc did not make is an
/// error, and left as it is.
pub fn ensure(install: &str) -> io::Result<()> {
    let table = table_name(install);
    crate::fault::point(&format!("create nft table inet {table}"));
    with_own_table(install, false, |generation| {
        anchor_batch(install, generation)
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
        libc::NFT_MSG_NEWTABLE,
        libc::NLM_F_CREATE,
        &table_attrs(&table),
    );
    b.message(libc::NFT_MSG_DELTABLE, 0, &table_attrs(&table));
    let mut marked = table_attrs(&table);
    put(&mut marked, NFTA_TABLE_USERDATA, &mark(install));
    b.message(libc::NFT_MSG_NEWTABLE, libc::NLM_F_CREATE, &marked);
    let mut chain = Vec::new();
    put_str(&mut chain, NFTA_CHAIN_TABLE, &table);
    put_str(&mut chain, NFTA_CHAIN_NAME, CHAIN);
    b.message(libc::NFT_MSG_NEWCHAIN, libc::NLM_F_CREATE, &chain);
    b.message(
        libc::NFT_MSG_NEWRULE,
        libc::NLM_F_CREATE | libc::NLM_F_APPEND,
        &rule_attrs(&table),
    );
    b
}

/// Deletes the anchor of install `install`; `Ok(false)` when there was none, or the
/// table of its name is not sockc's (left as it is). Looks first, so a flush of an
/// install that never had one changes nothing (and passes no fault point).
pub fn remove(install: &str) -> io::Result<bool> {
    let table = table_name(install);
    let deleted = with_own_table(install, true, |generation| {
        crate::fault::point(&format!("delete nft table inet {table}"));
        let mut b = Batch::new(generation);
        b.message(libc::NFT_MSG_DELTABLE, 0, &table_attrs(&table));
        b
    });
    match deleted {
        Ok(deleted) => Ok(deleted),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether the anchor of install `install` is in place: its chain holds a rule (a
/// table emptied by `nft flush table` switches conntrack off as surely as a deleted
/// one). A table of its name that sockc did not make is an error saying so.
pub fn present(install: &str) -> io::Result<bool> {
    match owner(install)? {
        Owner::Absent => return Ok(false),
        Owner::Foreign => return Err(foreign()),
        Owner::Sockc => {}
    }
    let mut attrs = Vec::new();
    put_str(&mut attrs, NFTA_RULE_TABLE, &table_name(install));
    put_str(&mut attrs, NFTA_RULE_CHAIN, CHAIN);
    Ok(!get(libc::NFT_MSG_GETRULE, libc::NLM_F_DUMP, &attrs)?.is_empty())
}

/// Sends get request `msg` and returns the payloads of the objects the kernel answers
/// with, until the dump's end or the acknowledgement; an object that does not exist
/// is none.
fn get(msg: i32, flags: i32, attrs: &[u8]) -> io::Result<Vec<Vec<u8>>> {
    let socket = open()?;
    socket.send(&nft_message(msg, flags, 1, attrs), 0)?;
    let mut objects = Vec::new();
    loop {
        let bytes = crate::netlink::receive(&socket)?;
        for (ty, payload) in messages(&bytes) {
            if ty == libc::NLMSG_DONE as u16 {
                return Ok(objects);
            }
            if ty != libc::NLMSG_ERROR as u16 {
                objects.push(payload.to_vec());
                continue;
            }
            return match error_code(payload) {
                0 => Ok(objects),
                e if e == -libc::ENOENT => Ok(Vec::new()),
                e => Err(io::Error::from_raw_os_error(-e)),
            };
        }
    }
}

/// The data of the first attribute of type `ty` (nested flag ignored) in `attrs`.
fn attribute(attrs: &[u8], ty: u16) -> Option<&[u8]> {
    let mut at = 0;
    while at + 4 <= attrs.len() {
        let len = u16::from_ne_bytes([attrs[at], attrs[at + 1]]) as usize;
        let kind = u16::from_ne_bytes([attrs[at + 2], attrs[at + 3]]) & 0x3fff;
        if len < 4 || at + len > attrs.len() {
            return None;
        }
        if kind == ty {
            return Some(&attrs[at + 4..at + len]);
        }
        at += len.next_multiple_of(4);
    }
    None
}

/// The anchor as `sockc status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AnchorStatus {
    /// `inet sockc_ct_<install>`.
    pub table: String,
    /// `present`, `missing`, `unreadable: <why>`, or [`LEFT_OVER`].
    pub state: String,
}

/// The state of an anchor that no rule of the install needs any more (a re-apply
/// killed before it deleted it): it keeps conntrack on in the namespace for nothing.
pub const LEFT_OVER: &str = "left over";

impl AnchorStatus {
    /// The drift line for an anchor that is not in place.
    pub fn drift(&self) -> Option<String> {
        match self.state.as_str() {
            "present" => None,
            LEFT_OVER => Some(format!(
                "conntrack anchor nft table {} left over: no rule tests `ct state` any \
                 more, and it keeps conntrack on here (`sockc repair` deletes it)",
                self.table
            )),
            "missing" => Some(format!(
                "conntrack anchor nft table {} missing: `ct state` sees no connection \
                 unless something else here uses conntrack (`sockc repair` creates it again)",
                self.table
            )),
            other => Some(format!(
                "conntrack anchor nft table {}: {other}",
                self.table
            )),
        }
    }
}

/// The anchor of install `m` as it is in the calling thread's namespace; `None` when
/// `m` needs none and none of sockc's is there under its name.
pub fn status(m: &Manifest) -> Option<AnchorStatus> {
    if !needed(m) {
        // Only a table sockc marked as its own: another program's of that name is not
        // this install's business.
        return matches!(owner(&m.name), Ok(Owner::Sockc)).then(|| AnchorStatus {
            table: format!("inet {}", table_name(&m.name)),
            state: LEFT_OVER.to_string(),
        });
    }
    let state = match present(&m.name) {
        Ok(true) => "present".to_string(),
        Ok(false) => "missing".to_string(),
        Err(e) => format!("unreadable: {e}"),
    };
    Some(AnchorStatus {
        table: format!("inet {}", table_name(&m.name)),
        state,
    })
}

/// `sockc repair` of the anchor of `m`: created again when `m` needs it and it is
/// not in place, deleted when `m` does not (a re-apply that stopped testing `ct
/// state` and was killed before it deleted it). Says what it did (`Ok(None)`:
/// nothing).
pub fn restore(m: &Manifest) -> Result<Option<String>, String> {
    let table = table_name(&m.name);
    if !needed(m) {
        return match remove(&m.name) {
            Ok(true) => Ok(Some(format!(
                "nft table inet {table} deleted: no rule tests `ct state`"
            ))),
            // A host without nf_tables has no anchor to delete, and one left behind
            // only keeps conntrack on: neither makes the repair fail.
            Ok(false) | Err(_) => Ok(None),
        };
    }
    match present(&m.name) {
        Ok(true) => Ok(None),
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

fn nested(ty: u16) -> u16 {
    ty | libc::NLA_F_NESTED as u16
}

/// Appends attribute `ty` holding `data`, padded to 4 bytes.
fn put(buf: &mut Vec<u8>, ty: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(buf.len().next_multiple_of(4), 0);
}

/// A string attribute, NUL-terminated as nftables sends them.
fn put_str(buf: &mut Vec<u8>, ty: u16, s: &str) {
    let mut data = s.as_bytes().to_vec();
    data.push(0);
    put(buf, ty, &data);
}

/// One nfnetlink message of the nftables subsystem, family `inet`.
fn nft_message(msg: i32, flags: i32, seq: u32, attrs: &[u8]) -> Vec<u8> {
    let ty = nft_type(msg);
    let flags = libc::NLM_F_REQUEST as u16 | flags as u16;
    netlink_message(ty, flags, seq, libc::NFPROTO_INET as u8, 0, attrs)
}

/// The netlink message type of nftables message `msg`.
fn nft_type(msg: i32) -> u16 {
    ((libc::NFNL_SUBSYS_NFTABLES as u16) << 8) | msg as u16
}

/// An nlmsghdr, an nfgenmsg (`family`, version 0, `res_id` big-endian) and `attrs`.
fn netlink_message(
    ty: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
    attrs: &[u8],
) -> Vec<u8> {
    let len = 16 + 4 + attrs.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.push(family);
    m.push(libc::NFNETLINK_V0 as u8);
    m.extend_from_slice(&res_id.to_be_bytes());
    m.extend_from_slice(attrs);
    m
}

/// An nftables transaction: messages between `NFNL_MSG_BATCH_BEGIN` and `_END`,
/// each acknowledged, applied by the kernel all together or not at all.
struct Batch {
    buf: Vec<u8>,
    seq: u32,
    acked: usize,
}

impl Batch {
    /// A batch the kernel applies only to ruleset `generation`.
    fn new(generation: u32) -> Batch {
        let mut b = Batch {
            buf: Vec::new(),
            seq: 0,
            acked: 0,
        };
        let mut genid = Vec::new();
        put(
            &mut genid,
            libc::NFNL_BATCH_GENID as u16,
            &generation.to_be_bytes(),
        );
        b.control(libc::NFNL_MSG_BATCH_BEGIN, &genid);
        b
    }

    fn control(&mut self, ty: i32, attrs: &[u8]) {
        self.seq += 1;
        let res_id = libc::NFNL_SUBSYS_NFTABLES as u16;
        let m = netlink_message(
            ty as u16,
            libc::NLM_F_REQUEST as u16,
            self.seq,
            0,
            res_id,
            attrs,
        );
        self.buf.extend_from_slice(&m);
    }

    fn message(&mut self, msg: i32, flags: i32, attrs: &[u8]) {
        self.seq += 1;
        self.acked += 1;
        let m = nft_message(msg, flags | libc::NLM_F_ACK, self.seq, attrs);
        self.buf.extend_from_slice(&m);
    }

    /// Sends the batch and waits for every acknowledgement; the first error the
    /// kernel reports is the batch's. An error answering `NFNL_MSG_BATCH_BEGIN` (no
    /// permission, no nf_tables) means nothing of the batch ran and no more answers
    /// come.
    fn send(mut self) -> io::Result<()> {
        self.control(libc::NFNL_MSG_BATCH_END, &[]);
        let socket = open()?;
        socket.send(&self.buf, 0)?;
        let mut answers = 0;
        let mut first_error = 0;
        while answers < self.acked {
            let bytes = crate::netlink::receive(&socket)?;
            for (ty, payload) in messages(&bytes) {
                if ty != libc::NLMSG_ERROR as u16 {
                    continue;
                }
                let code = error_code(payload);
                if code != 0 && error_seq(payload) == Some(BEGIN_SEQ) {
                    return Err(io::Error::from_raw_os_error(-code));
                }
                answers += 1;
                if first_error == 0 {
                    first_error = code;
                }
            }
        }
        match first_error {
            0 => Ok(()),
            e => Err(io::Error::from_raw_os_error(-e)),
        }
    }
}

fn open() -> io::Result<Socket> {
    let mut socket = Socket::new(NETLINK_NETFILTER)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    crate::netlink::set_receive_timeout(&socket, std::time::Duration::from_secs(5))?;
    Ok(socket)
}

/// The (type, payload) of each netlink message in `bytes`.
fn messages(bytes: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 16 <= bytes.len() {
        let len = u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap_or_default()) as usize;
        let ty = u16::from_ne_bytes([bytes[at + 4], bytes[at + 5]]);
        if len < 16 || at + len > bytes.len() {
            break;
        }
        out.push((ty, &bytes[at + 16..at + len]));
        at += len.next_multiple_of(4);
    }
    out
}

/// The sequence number of the request an `NLMSG_ERROR` payload answers (it quotes
/// the request's header after the errno).
fn error_seq(payload: &[u8]) -> Option<u32> {
    let b = payload.get(12..16)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// The (negative) errno of an `NLMSG_ERROR` payload; 0 is an acknowledgement.
fn error_code(payload: &[u8]) -> i32 {
    payload.get(..4).map_or(-libc::EPROTO, |b| {
        i32::from_ne_bytes([b[0], b[1], b[2], b[3]])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_state_is_found_as_two_words() {
        assert!(tests_ct_state("allow ct state established,related"));
        assert!(tests_ct_state("drop tcp  ct\tstate invalid"));
        assert!(!tests_ct_state("allow tcp to *:22"));
        assert!(!tests_ct_state("allow ct mark 1"));
    }

    #[test]
    fn attributes_are_padded_and_strings_terminated() {
        let mut a = Vec::new();
        put_str(&mut a, NFTA_TABLE_NAME, "ab");
        assert_eq!(a, [7, 0, 1, 0, b'a', b'b', 0, 0]);
    }

    #[test]
    fn the_rule_loads_ct_state_into_register_one() {
        let a = rule_attrs("t");
        // table "t", chain "anchor", then the nested expression list.
        assert_eq!(&a[..8], &[6, 0, 1, 0, b't', 0, 0, 0]);
        let key = [8, 0, NFTA_CT_KEY as u8, 0, 0, 0, 0, 0];
        let dreg = [8, 0, NFTA_CT_DREG as u8, 0, 0, 0, 0, 1];
        assert!(a.windows(8).any(|w| w == key));
        assert!(a.windows(8).any(|w| w == dreg));
    }

    #[test]
    fn the_mark_is_found_among_a_tables_attributes_and_names_the_install() {
        let mut a = table_attrs("sockc_ct_x");
        put(&mut a, NFTA_TABLE_USERDATA, &mark("x"));
        assert_eq!(attribute(&a, NFTA_TABLE_USERDATA), Some(&mark("x")[..]));
        assert_ne!(mark("x"), mark("y"));
        assert_eq!(attribute(&a, 7), None);
        // A truncated attribute is not read past the buffer.
        assert_eq!(attribute(&a[..a.len() - 8], NFTA_TABLE_USERDATA), None);
    }

    /// In a network namespace of its own (a thread that unshares it; the namespace
    /// goes when the thread ends): the anchor is made with sockc's mark and deleted,
    /// and a batch for a ruleset generation that has moved on is refused (`ERESTART`)
    /// and changes nothing. Root only.
    #[test]
    fn a_batch_for_a_generation_the_ruleset_left_is_refused() {
        if !crate::sys::tests_run_as_root() {
            return;
        }
        std::thread::spawn(|| {
            // SAFETY: unshare changes only this thread's namespace.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
            let before = generation().expect("generation");
            ensure("gen").expect("ensure");
            assert_eq!(owner("gen").expect("owner"), Owner::Sockc);
            let mut stale = Batch::new(before);
            stale.message(libc::NFT_MSG_DELTABLE, 0, &table_attrs("sockc_ct_gen"));
            let refused = stale.send().expect_err("a stale generation");
            assert_eq!(refused.raw_os_error(), Some(libc::ERESTART));
            assert!(present("gen").expect("present"));
            assert!(remove("gen").expect("remove"));
            assert_eq!(owner("gen").expect("owner"), Owner::Absent);
        })
        .join()
        .expect("the test thread");
    }

    #[test]
    fn a_batch_is_framed_by_begin_and_end() {
        let mut b = Batch::new(7);
        b.message(libc::NFT_MSG_DELTABLE, 0, &table_attrs("t"));
        b.control(libc::NFNL_MSG_BATCH_END, &[]);
        let types: Vec<u16> = messages(&b.buf).iter().map(|(t, _)| *t).collect();
        assert_eq!(types, [0x10, 0x0a02, 0x11]);
        assert_eq!(b.acked, 1);
    }
}
