//! `in on NAME` / `out on NAME`: the device a packet came in on or goes out of, at a
//! netfilter hook, matched by name the way iptables' `-i`/`-o` and nft's
//! `iifname`/`oifname` match it: the name's bytes and its terminating NUL (a name
//! ending in `*` or `+`: only the bytes before it, a prefix), so a device deleted and
//! created again under the same name still matches, whatever its new index.
//!
//! `in index N` / `out index N` compare the device's index instead (`ifindex`, what
//! nft's `iif`/`oif` compare): it follows the device that had the index, not its name.
//!
//! Invariant: [`IfaceName::words`] is the one reading of a name: the bytecode compares
//! the device's `name[16]` as two little-endian 64-bit words under these masks, and
//! [`IfaceMatch::matches`] (the evaluator's) compares the same bytes the same way, a
//! missing device reading as sixteen zero bytes, as the kernel's load of a NULL device
//! does; an index is compared as the 32-bit `ifindex`, a missing device reading as 0,
//! which no device has.

/// `IFNAMSIZ`: a device name and its NUL fit in 16 bytes.
pub const IFNAMSIZ: usize = 16;

/// The loopback device's index, in every network namespace (`LOOPBACK_IFINDEX`:
/// `loopback_net_init` registers it first and the kernel checks that it got 1; it
/// cannot be deleted, only renamed while down).
pub const LOOPBACK_IFINDEX: u32 = 1;

/// The largest index a device can have (`ifindex` is a positive `int`).
pub const MAX_IFINDEX: u32 = i32::MAX as u32;

/// The index a device has in `sockc test` and the evaluator: the one given (`in-index
/// N`), else [`LOOPBACK_IFINDEX`] for a device named `lo`, else 0 (no device, or one
/// whose index was not given: no `in index` test matches it).
pub fn index_of(dev: Option<&DevName>, given: Option<u32>) -> u32 {
    given.unwrap_or(match dev {
        Some(d) if d.as_str() == "lo" => LOOPBACK_IFINDEX,
        _ => 0,
    })
}

/// Which of the packet's devices a match reads (`struct nf_hook_state`'s `in` or `out`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    In,
    Out,
}

impl Dir {
    /// The word the language uses.
    pub fn word(self) -> &'static str {
        match self {
            Dir::In => "in",
            Dir::Out => "out",
        }
    }

    /// The member of `struct nf_hook_state` holding the device.
    pub fn state_member(self) -> &'static str {
        match self {
            Dir::In => "in",
            Dir::Out => "out",
        }
    }
}

/// A device's name as the kernel keeps it: 16 bytes, NUL-padded (`None`: no device).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct DevName(pub [u8; IFNAMSIZ]);

impl DevName {
    /// A name of at most 15 bytes, without NUL.
    pub fn new(name: &str) -> Option<DevName> {
        let b = name.as_bytes();
        if b.is_empty() || b.len() >= IFNAMSIZ || b.contains(&0) {
            return None;
        }
        let mut out = [0u8; IFNAMSIZ];
        out[..b.len()].copy_from_slice(b);
        Some(DevName(out))
    }

    pub fn as_str(&self) -> &str {
        let end = self.0.iter().position(|&c| c == 0).unwrap_or(IFNAMSIZ);
        std::str::from_utf8(&self.0[..end]).unwrap_or("?")
    }
}

/// One name of a match: exact, or a prefix (written with a trailing `*` or `+`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfaceName {
    /// The name without its wildcard.
    pub name: String,
    pub prefix: bool,
}

/// Why a written name is not a device name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    TooLong(usize),
    Empty,
}

impl IfaceName {
    /// A name as written (`eth0`, `veth*`, `br-+`).
    pub fn parse(text: &str) -> Result<IfaceName, NameError> {
        let (name, prefix) = match text.strip_suffix(['*', '+']) {
            Some(n) => (n, true),
            None => (text, false),
        };
        if name.is_empty() && !prefix {
            return Err(NameError::Empty);
        }
        // A device name is at most 15 bytes (16 with its NUL): a longer name or
        // prefix could match no device.
        if name.len() >= IFNAMSIZ {
            return Err(NameError::TooLong(name.len()));
        }
        Ok(IfaceName {
            name: name.to_string(),
            prefix,
        })
    }

    /// The bytes compared (the name, and its NUL unless a prefix) as (mask, value) of
    /// the two little-endian words of `name[16]`.
    pub fn words(&self) -> [(u64, u64); 2] {
        let mut value = [0u8; IFNAMSIZ];
        let mut mask = [0u8; IFNAMSIZ];
        let b = self.name.as_bytes();
        value[..b.len()].copy_from_slice(b);
        let compared = b.len() + usize::from(!self.prefix);
        mask[..compared].fill(0xff);
        let word = |a: &[u8; IFNAMSIZ], i: usize| {
            u64::from_le_bytes(a[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
        };
        [0, 1].map(|i| (word(&mask, i), word(&value, i)))
    }

    /// Whether the device called `dev` has this name (or prefix).
    pub fn matches(&self, dev: &DevName) -> bool {
        let [w0, w1] = self.words();
        let d0 = u64::from_le_bytes(dev.0[..8].try_into().expect("8 bytes"));
        let d1 = u64::from_le_bytes(dev.0[8..].try_into().expect("8 bytes"));
        d0 & w0.0 == w0.1 && d1 & w1.0 == w1.1
    }
}

impl std::fmt::Display for IfaceName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.name, if self.prefix { "*" } else { "" })
    }
}

/// What a device match compares.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Devices {
    /// `on NAME,...`: the device's name (never empty).
    Names(Vec<IfaceName>),
    /// `index N,...`: the device's index, each 1 to [`MAX_IFINDEX`] (never empty).
    Indexes(Vec<u32>),
}

/// `in on [!]NAME[,NAME...]` or `in index [!]N[,N...]`: the packet's device (`dir`)
/// has one of the names or indexes (with `negated`: none of them).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IfaceMatch {
    pub dir: Dir,
    pub negated: bool,
    pub devices: Devices,
}

impl IfaceMatch {
    /// Whether a packet whose device is `dev` (`None`: no device), of index `index`
    /// (0: none), matches.
    pub fn matches(&self, dev: Option<&DevName>, index: u32) -> bool {
        let dev = dev.copied().unwrap_or_default();
        let any = match &self.devices {
            Devices::Names(names) => names.iter().any(|n| n.matches(&dev)),
            Devices::Indexes(ixs) => ixs.contains(&index),
        };
        any != self.negated
    }

    /// The names it compares (none for an index match).
    pub fn names(&self) -> &[IfaceName] {
        match &self.devices {
            Devices::Names(n) => n,
            Devices::Indexes(_) => &[],
        }
    }

    pub fn by_index(&self) -> bool {
        matches!(self.devices, Devices::Indexes(_))
    }
}

impl std::fmt::Display for IfaceMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (word, list): (&str, Vec<String>) = match &self.devices {
            Devices::Names(n) => ("on", n.iter().map(|n| n.to_string()).collect()),
            Devices::Indexes(i) => ("index", i.iter().map(|i| i.to_string()).collect()),
        };
        let bang = if self.negated { "!" } else { "" };
        write!(f, "{} {word} {bang}{}", self.dir.word(), list.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(s: &str) -> DevName {
        DevName::new(s).unwrap()
    }

    #[test]
    fn exact_names_compare_the_nul_and_prefixes_do_not() {
        let eth0 = IfaceName::parse("eth0").unwrap();
        assert!(eth0.matches(&dev("eth0")));
        assert!(!eth0.matches(&dev("eth01")));
        assert!(!eth0.matches(&dev("eth")));
        let eth = IfaceName::parse("eth+").unwrap();
        assert_eq!(eth, IfaceName::parse("eth*").unwrap());
        assert!(eth.matches(&dev("eth")) && eth.matches(&dev("eth0")));
        assert!(!eth.matches(&dev("et")) && !eth.matches(&dev("veth0")));
        // Names past 8 bytes use the second word.
        let long = IfaceName::parse("br-0123456789a").unwrap();
        assert!(long.matches(&dev("br-0123456789a")));
        assert!(!long.matches(&dev("br-0123456789b")));
        let any = IfaceName::parse("+").unwrap();
        assert!(any.matches(&dev("lo")) && any.matches(&DevName::default()));
    }

    #[test]
    fn bad_names_are_refused() {
        assert_eq!(
            IfaceName::parse("0123456789abcdef"),
            Err(NameError::TooLong(16))
        );
        assert_eq!(IfaceName::parse(""), Err(NameError::Empty));
        assert!(IfaceName::parse("0123456789abcde").is_ok());
    }

    #[test]
    fn a_missing_device_has_no_name_and_negation_inverts() {
        let m = IfaceMatch {
            dir: Dir::In,
            negated: true,
            devices: Devices::Names(vec![IfaceName::parse("docker0").unwrap()]),
        };
        assert!(m.matches(None, 0));
        assert!(m.matches(Some(&dev("eth0")), 2));
        assert!(!m.matches(Some(&dev("docker0")), 3));
        assert_eq!(m.to_string(), "in on !docker0");
    }

    #[test]
    fn an_index_match_reads_the_index_not_the_name() {
        let m = IfaceMatch {
            dir: Dir::Out,
            negated: false,
            devices: Devices::Indexes(vec![1, 7]),
        };
        assert!(m.matches(Some(&dev("lo")), 1));
        assert!(m.matches(Some(&dev("lo0")), 1));
        assert!(m.matches(Some(&dev("eth0")), 7));
        assert!(!m.matches(Some(&dev("lo")), 2));
        assert!(!m.matches(None, 0));
        let not = IfaceMatch { negated: true, ..m };
        assert!(not.matches(None, 0) && !not.matches(None, 7));
        assert_eq!(not.to_string(), "out index !1,7");
        assert_eq!(index_of(Some(&dev("lo")), None), LOOPBACK_IFINDEX);
        assert_eq!(index_of(Some(&dev("eth0")), None), 0);
        assert_eq!(index_of(Some(&dev("eth0")), Some(4)), 4);
        assert_eq!(index_of(None, None), 0);
    }
}
