//! Reading a network namespace's nf_tables ruleset over nfnetlink: its generation,
//! tables, chains (base chains with their hook, priority, type and policy), the
//! rules of a chain as expressions in words ([`super::expr`]), and the other objects
//! a table holds (named sets and maps, flowtables, stateful objects).
//!
//! Invariant: only reads (get requests and dumps); every answer is of the calling
//! thread's namespace, which the callers have entered.

use std::{fmt, io};

use super::{
    expr,
    message::{self, be32, get, put_str, Object},
};

// From include/uapi/linux/netfilter/nf_tables.h (libc has the message types, not
// these attribute numbers).
pub const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_FLAGS: u16 = 2;
pub const NFTA_TABLE_USERDATA: u16 = 6;
const NFTA_GEN_ID: u16 = 1;
pub const NFTA_CHAIN_TABLE: u16 = 1;
pub const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
pub const NFTA_RULE_TABLE: u16 = 1;
pub const NFTA_RULE_CHAIN: u16 = 2;
pub const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_FLAGS: u16 = 3;
const NFTA_OBJ_TABLE: u16 = 1;
const NFTA_OBJ_NAME: u16 = 2;
const NFTA_OBJ_TYPE: u16 = 3;
const NFTA_FLOWTABLE_TABLE: u16 = 1;
const NFTA_FLOWTABLE_NAME: u16 = 2;
const NFT_MSG_GETFLOWTABLE: i32 = 23;
/// A table whose chains are not registered with netfilter (`flags dormant`).
pub const NFT_TABLE_F_DORMANT: u32 = 1;

/// The ruleset's generation: a batch that names it is refused (`ERESTART`) when
/// anything changed the ruleset since.
pub fn generation() -> io::Result<u32> {
    let replies = get(0, libc::NFT_MSG_GETGEN, libc::NLM_F_ACK, &[])?;
    replies
        .first()
        .and_then(|r| be32(r.get(NFTA_GEN_ID)?))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no ruleset generation"))
}

/// An nf_tables family by its number (`NFPROTO_*`), named as nft names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Family(pub u8);

impl Family {
    pub const INET: Family = Family(libc::NFPROTO_INET as u8);
    pub const IPV4: Family = Family(libc::NFPROTO_IPV4 as u8);
    pub const IPV6: Family = Family(libc::NFPROTO_IPV6 as u8);
    /// Every family, in a dump request.
    pub const ALL: Family = Family(libc::NFPROTO_UNSPEC as u8);

    /// Whether chains of this family see packets of IP family `ip` (IPV4 or IPV6).
    pub fn sees(self, ip: Family) -> bool {
        self == ip || self == Family::INET
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 as i32 {
            libc::NFPROTO_INET => "inet",
            libc::NFPROTO_IPV4 => "ip",
            libc::NFPROTO_IPV6 => "ip6",
            libc::NFPROTO_ARP => "arp",
            libc::NFPROTO_NETDEV => "netdev",
            libc::NFPROTO_BRIDGE => "bridge",
            n => return write!(f, "family {n}"),
        };
        f.write_str(name)
    }
}

/// A table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub family: Family,
    pub name: String,
    pub flags: u32,
    /// Its user data (where nft keeps its comment).
    pub userdata: Option<Vec<u8>>,
}

/// Table `name` of `family`, or `None`.
pub fn table(family: Family, name: &str) -> io::Result<Option<Table>> {
    let mut attrs = Vec::new();
    put_str(&mut attrs, NFTA_TABLE_NAME, name);
    let found = get(family.0, libc::NFT_MSG_GETTABLE, libc::NLM_F_ACK, &attrs)?;
    Ok(found.first().map(table_of))
}

/// Every table of `family` ([`Family::ALL`]: of every family).
pub fn tables(family: Family) -> io::Result<Vec<Table>> {
    let found = get(family.0, libc::NFT_MSG_GETTABLE, libc::NLM_F_DUMP, &[])?;
    Ok(found.iter().map(table_of).collect())
}

fn table_of(o: &Object) -> Table {
    Table {
        family: Family(o.family),
        name: o.text(NFTA_TABLE_NAME),
        flags: o.get(NFTA_TABLE_FLAGS).and_then(be32).unwrap_or(0),
        userdata: o.get(NFTA_TABLE_USERDATA).map(<[u8]>::to_vec),
    }
}

/// Where a base chain is registered with netfilter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseHook {
    /// The hook number (`enum nf_inet_hooks` for the ip, ip6 and inet families).
    pub hooknum: u32,
    pub priority: i32,
    /// `filter`, `nat` or `route`.
    pub kind: String,
    /// `accept` or `drop`.
    pub policy: Option<String>,
}

/// A chain; `hook` is `None` for a regular chain (run only when jumped to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub family: Family,
    pub table: String,
    pub name: String,
    pub hook: Option<BaseHook>,
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "chain {} {} {}", self.family, self.table, self.name)?;
        if let Some(h) = &self.hook {
            write!(
                f,
                " (type {} hook {} priority {}",
                h.kind,
                hook_name(self.family, h.hooknum),
                h.priority
            )?;
            if let Some(p) = &h.policy {
                write!(f, ", policy {p}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// The name nft gives hook `hooknum` of `family`'s chains.
pub fn hook_name(family: Family, hooknum: u32) -> String {
    let ip = [Family::INET, Family::IPV4, Family::IPV6, Family::ALL].contains(&family)
        || family.0 as i32 == libc::NFPROTO_BRIDGE;
    let names = [
        "prerouting",
        "input",
        "forward",
        "output",
        "postrouting",
        "ingress",
    ];
    match names.get(hooknum as usize) {
        Some(n) if ip => n.to_string(),
        _ => format!("{hooknum}"),
    }
}

/// Every chain of `family` ([`Family::ALL`]: of every family).
pub fn chains(family: Family) -> io::Result<Vec<Chain>> {
    let found = get(family.0, libc::NFT_MSG_GETCHAIN, libc::NLM_F_DUMP, &[])?;
    Ok(found.iter().map(chain_of).collect())
}

/// The chains of table `table` of `family`.
pub fn chains_of(family: Family, table: &str) -> io::Result<Vec<Chain>> {
    let mut all = chains(family)?;
    all.retain(|c| c.family == family && c.table == table);
    Ok(all)
}

fn chain_of(o: &Object) -> Chain {
    let hook = o.get(NFTA_CHAIN_HOOK).map(|h| BaseHook {
        hooknum: message::attribute(h, NFTA_HOOK_HOOKNUM)
            .and_then(be32)
            .unwrap_or(u32::MAX),
        priority: message::attribute(h, NFTA_HOOK_PRIORITY)
            .and_then(be32)
            .unwrap_or(0) as i32,
        kind: o.text(NFTA_CHAIN_TYPE),
        policy: o
            .get(NFTA_CHAIN_POLICY)
            .and_then(be32)
            .map(|p| match p as i32 {
                libc::NF_DROP => "drop".to_string(),
                libc::NF_ACCEPT => "accept".to_string(),
                n => format!("{n}"),
            }),
    });
    Chain {
        family: Family(o.family),
        table: o.text(NFTA_CHAIN_TABLE),
        name: o.text(NFTA_CHAIN_NAME),
        hook,
    }
}

/// The rules of chain `chain` of table `table`, each as its expressions in words.
pub fn rules(family: Family, table: &str, chain: &str) -> io::Result<Vec<expr::Rule>> {
    let mut attrs = Vec::new();
    put_str(&mut attrs, NFTA_RULE_TABLE, table);
    put_str(&mut attrs, NFTA_RULE_CHAIN, chain);
    let found = get(family.0, libc::NFT_MSG_GETRULE, libc::NLM_F_DUMP, &attrs)?;
    Ok(found
        .iter()
        // A dump may hold other chains' rules on kernels that do not filter it.
        .filter(|o| o.text(NFTA_RULE_TABLE) == table && o.text(NFTA_RULE_CHAIN) == chain)
        .map(|o| expr::Rule::decode(o.get(NFTA_RULE_EXPRESSIONS).unwrap_or_default()))
        .collect())
}

/// The named objects of table `table` of `family` other than chains, as nft lists
/// them (`set NAME`, `map NAME`, `flowtable NAME`, `counter NAME`, ...); a rule's
/// anonymous sets belong to the rule and are not listed.
pub fn objects_of(family: Family, table: &str) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut attrs = Vec::new();
    put_str(&mut attrs, NFTA_SET_TABLE, table);
    for s in get(family.0, libc::NFT_MSG_GETSET, libc::NLM_F_DUMP, &attrs)? {
        let flags = s.get(NFTA_SET_FLAGS).and_then(be32).unwrap_or(0);
        if s.text(NFTA_SET_TABLE) != table || flags & libc::NFT_SET_ANONYMOUS as u32 != 0 {
            continue;
        }
        let kind = if flags & libc::NFT_SET_MAP as u32 != 0 {
            "map"
        } else {
            "set"
        };
        out.push(format!("{kind} {}", s.text(NFTA_SET_NAME)));
    }
    for f in get(family.0, NFT_MSG_GETFLOWTABLE, libc::NLM_F_DUMP, &[])? {
        if f.text(NFTA_FLOWTABLE_TABLE) == table {
            out.push(format!("flowtable {}", f.text(NFTA_FLOWTABLE_NAME)));
        }
    }
    for o in get(family.0, libc::NFT_MSG_GETOBJ, libc::NLM_F_DUMP, &[])? {
        if o.text(NFTA_OBJ_TABLE) == table {
            let ty = o.get(NFTA_OBJ_TYPE).and_then(be32).unwrap_or(0);
            out.push(format!("{} {}", object_kind(ty), o.text(NFTA_OBJ_NAME)));
        }
    }
    Ok(out)
}

/// A stateful object's kind as nft writes it (`NFT_OBJECT_*`).
fn object_kind(ty: u32) -> String {
    let names = [
        "object",
        "counter",
        "quota",
        "ct helper",
        "limit",
        "ct count",
        "tunnel",
        "ct timeout",
        "secmark",
        "ct expectation",
        "synproxy",
    ];
    names
        .get(ty as usize)
        .map_or_else(|| format!("object of type {ty}"), |n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use message::put;

    #[test]
    fn a_base_chain_is_read_with_its_hook_and_shown_as_nft_writes_it() {
        let mut hook = Vec::new();
        put(&mut hook, NFTA_HOOK_HOOKNUM, &1u32.to_be_bytes());
        put(&mut hook, NFTA_HOOK_PRIORITY, &(-5i32).to_be_bytes());
        let mut attrs = Vec::new();
        put_str(&mut attrs, NFTA_CHAIN_TABLE, "t");
        put_str(&mut attrs, NFTA_CHAIN_NAME, "c");
        put(&mut attrs, message::nested(NFTA_CHAIN_HOOK), &hook);
        put(
            &mut attrs,
            NFTA_CHAIN_POLICY,
            &(libc::NF_DROP as u32).to_be_bytes(),
        );
        put_str(&mut attrs, NFTA_CHAIN_TYPE, "filter");
        let c = chain_of(&Object {
            family: Family::INET.0,
            attrs,
        });
        assert_eq!(
            c.to_string(),
            "chain inet t c (type filter hook input priority -5, policy drop)"
        );
        assert!(Family::INET.sees(Family::IPV6) && !Family::IPV4.sees(Family::IPV6));
    }
}
