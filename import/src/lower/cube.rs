//! One cube → the matches of the sockc rules that admit exactly its packets: family,
//! protocol, source and destination endpoints (literals, the input's named sets, or
//! sets declared for value lists), TCP flags, ICMP type and code, the TTL or hop limit,
//! the DSCP and ECN.
//!
//! Invariant: the rules returned admit exactly the cube's packets (a cube that needs
//! several protocols, flag combinations or ICMP types becomes several rules, each
//! disjoint from the others); a cube the language cannot say is refused with every
//! feature it would need, never narrowed or widened here.

use super::{
    cgroup::CgroupWords,
    iface::Devices,
    limit::LimitPlan,
    sets::{addr4, addr6, port_range, prefixes, SetBody, SetKind, SetTable},
};
use crate::{
    algebra::{AtomId, Cube, Dim, Ivs},
    features::Feature,
    model::{NamedSet, NfHook, SetContent, Value},
    semantics::atoms::{AtomKind, Atoms},
};

/// The most sockc rules one cube may become.
pub const MAX_RULES_PER_CUBE: usize = 256;

/// Why a cube is not written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The language cannot say it: the features, each with a detail.
    Needs(Vec<(Feature, String)>),
    /// It admits no packet (a lookup in an empty set).
    Never(String),
}

pub struct CubeWriter<'a> {
    pub atoms: &'a Atoms,
    pub sets: &'a [NamedSet],
    pub table: &'a mut SetTable,
    /// Names derived sets after the rule they serve.
    pub hint: String,
    /// The rate limits that may be written as `limit`.
    pub limits: &'a LimitPlan,
    /// In a netfilter block: whether its hook has an input and an output device
    /// (`in on`, `out on`); `None` at xdp and tc, which write no interface match.
    pub devices: Option<[bool; 2]>,
    /// The block's hook reads the sending socket's owner (netfilter output and
    /// postrouting).
    pub owner: bool,
    /// The block's netfilter hook (`None` at xdp and tc), for its cgroup tests.
    pub nf_hook: Option<NfHook>,
    /// The block's hook reads the packet's conntrack entry (netfilter).
    pub ct_entry: bool,
    /// The block's hook reads the packet's mark (netfilter, TC).
    pub mark: bool,
    /// Pieces of the cubes written that the language cannot match and that were left
    /// out of the rules (the caller decides whether that is approximate or refused).
    pub left_out: Vec<String>,
}

/// One side's address: nothing, a literal, or a set name.
enum Addr {
    Any,
    Literal(String, bool),
    Set(String),
}

impl CubeWriter<'_> {
    /// The match words of each rule the cube becomes.
    pub fn write(&mut self, cube: &Cube) -> Result<Vec<Vec<String>>, Refusal> {
        let mut needs = Vec::new();
        if cube.get(Dim::CtState).is_some() {
            needs.push((Feature::CtState, "a conntrack state".to_string()));
        }
        let mut limit: Option<String> = None;
        for (a, positive) in cube.atoms() {
            if let Some(words) = self.limits.written(self.atoms, *a, *positive) {
                if limit.replace(words).is_some() {
                    needs.push((Feature::Limit, "two rate limits in one rule".to_string()));
                }
                continue;
            }
            match self.atoms.kind(*a) {
                AtomKind::InSet { .. } | AtomKind::Cgroup(_) => {}
                AtomKind::Iif(_)
                | AtomKind::Oif(_)
                | AtomKind::IifIndex(_)
                | AtomKind::OifIndex(_)
                    if self.devices.is_some() => {}
                AtomKind::Iif(p) => {
                    needs.push((Feature::Interface, format!("input interface {p}")))
                }
                AtomKind::Oif(p) => {
                    needs.push((Feature::Interface, format!("output interface {p}")))
                }
                AtomKind::IifIndex(n) => {
                    needs.push((Feature::Interface, format!("input interface index {n}")))
                }
                AtomKind::OifIndex(n) => {
                    needs.push((Feature::Interface, format!("output interface index {n}")))
                }
                AtomKind::Opaque {
                    feature: Feature::Limit | Feature::Hashlimit,
                    key,
                } if self.limits.refused.is_some() => needs.push((
                    self.limits.refused.unwrap_or(Feature::Limit),
                    format!("{key} at a netfilter hook"),
                )),
                AtomKind::Opaque {
                    feature: Feature::Limit | Feature::Hashlimit,
                    key,
                } if !*positive || super::limit::words(key).is_some() => needs.push((
                    Feature::Limit,
                    format!(
                        "{key} (not its own rule's one bucket here: the rule is split or \
                         reached more than once, or the limit guards a jump, return or \
                         a shared hashlimit table)"
                    ),
                )),
                AtomKind::Opaque { feature, key } => needs.push((*feature, key.clone())),
            }
        }
        let devices = self.device_words(cube, &mut needs)?;
        let owner = super::owner::words(cube, self.owner).unwrap_or_else(|need| {
            needs.push(need);
            Vec::new()
        });
        let cgroup = match super::cgroup::words(cube, self.atoms, self.nf_hook) {
            CgroupWords::Words(w) => w,
            CgroupWords::Never(why) => return Err(Refusal::Never(why)),
            CgroupWords::Cannot(why) => {
                needs.push((Feature::Owner, why));
                Vec::new()
            }
        };
        let entry = super::ct_entry::words(cube, self.ct_entry).unwrap_or_else(|need| {
            needs.push(need);
            Vec::new()
        });
        let marks = super::mark::words(cube, self.mark).unwrap_or_else(|need| {
            needs.push(need);
            Vec::new()
        });
        if !needs.is_empty() {
            return Err(Refusal::Needs(needs));
        }
        let families = cube
            .get(Dim::Family)
            .map(|f| f.intersect(&Ivs::from_ranges(vec![(4, 4), (6, 6)])))
            .unwrap_or_else(|| Ivs::from_ranges(vec![(4, 4), (6, 6)]));
        if families.is_empty() {
            return Err(Refusal::Never("no IP version".into()));
        }
        let src = self.endpoint(cube, Dim::Src4, Dim::Src6, Dim::SrcPort, "src")?;
        let dst = self.endpoint(cube, Dim::Dst4, Dim::Dst6, Dim::DstPort, "dst")?;
        let protos = self.protocols(cube, &families)?;
        let flags = flag_words(cube);
        let icmp = icmp_words(cube)?;
        let hop = hop_words(cube, &families)?;
        let tos = tos_words(cube);
        let mut out = Vec::new();
        let mut lengths_of_none = None;
        let alternatives = flags.iter().flat_map(|f| marks.iter().map(move |m| (f, m)));
        for (fam, proto) in &protos {
            // The lengths of the IP versions this rule's words keep it to.
            let length = match length_words(cube, &written_families(fam, proto, &families)) {
                Ok(w) => w,
                Err(why) => {
                    lengths_of_none = Some(why);
                    continue;
                }
            };
            for (f, m) in alternatives.clone() {
                for i in &icmp {
                    let mut words = Vec::new();
                    words.extend(fam.clone());
                    words.extend(proto.clone());
                    words.extend(src.clone());
                    words.extend(dst.clone());
                    words.extend(f.iter().cloned());
                    words.extend(i.iter().cloned());
                    words.extend(hop.iter().cloned());
                    words.extend(tos.iter().cloned());
                    words.extend(length.iter().cloned());
                    words.extend(devices.iter().cloned());
                    words.extend(owner.iter().cloned());
                    words.extend(cgroup.iter().cloned());
                    words.extend(entry.iter().cloned());
                    words.extend(m.iter().cloned());
                    if words.is_empty() {
                        // a rule without a match takes every frame; netfilter's IP
                        // tables only ever see IP packets
                        words.push("any".to_string());
                    }
                    // the limit is the rule's last test, as the language evaluates it
                    words.extend(limit.clone());
                    out.push(words);
                    if out.len() > MAX_RULES_PER_CUBE {
                        return Err(Refusal::Needs(vec![(
                            Feature::Other,
                            format!("it would take more than {MAX_RULES_PER_CUBE} sockc rules"),
                        )]));
                    }
                }
            }
        }
        match lengths_of_none {
            Some(why) if out.is_empty() => Err(why),
            _ => Ok(out),
        }
    }

    /// The `in on` / `out on` words of a cube in a netfilter block; what the language
    /// cannot say goes into `needs`.
    fn device_words(
        &self,
        cube: &Cube,
        needs: &mut Vec<(Feature, String)>,
    ) -> Result<Vec<String>, Refusal> {
        let Some(has) = self.devices else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (input, word) in [(true, "in"), (false, "out")] {
            let tests = super::iface::of_direction(self.atoms, cube.atoms(), input);
            match super::iface::words(tests, word, has[usize::from(!input)]) {
                Devices::Words(w) => out.extend(w),
                Devices::Never(why) => return Err(Refusal::Never(why)),
                Devices::Cannot(why) => needs.push((Feature::Interface, why)),
            }
        }
        Ok(out)
    }

    /// The family and protocol words of each rule: one per protocol the cube admits
    /// (none when any protocol, or TCP-or-UDP under a port match).
    fn protocols(&mut self, cube: &Cube, families: &Ivs) -> Result<Vec<Words>, Refusal> {
        let fam_word = |f: u128| Some(if f == 4 { "ip4" } else { "ip6" }.to_string());
        let both = families.count() == 2;
        let has_ports = cube.get(Dim::SrcPort).is_some()
            || cube.get(Dim::DstPort).is_some()
            || cube.atoms().iter().any(|(a, _)| {
                matches!(
                    self.atoms.kind(*a),
                    AtomKind::InSet {
                        dim: Dim::SrcPort | Dim::DstPort,
                        ..
                    }
                )
            });
        let Some(protos) = cube.get(Dim::Proto) else {
            if has_ports {
                return Err(needs(Feature::L4Header, "ports of any protocol"));
            }
            if both {
                return Ok(vec![(None, None)]);
            }
            return Ok(vec![(fam_word(families.ranges()[0].0), None)]);
        };
        if has_ports {
            let tcp_udp = Ivs::from_ranges(vec![(6, 6), (17, 17)]);
            if !protos.is_subset(&tcp_udp) {
                return Err(needs(
                    Feature::L4Header,
                    "ports of protocols other than TCP and UDP",
                ));
            }
            if *protos == tcp_udp {
                let fam = if both {
                    None
                } else {
                    fam_word(families.ranges()[0].0)
                };
                return Ok(vec![(fam, None)]);
            }
        }
        if protos.count() > 32 {
            return Err(needs(Feature::Other, "more than 32 protocols in one rule"));
        }
        // An IPv6 packet whose next header is ICMPv4's number, or the reverse, is
        // written `ip6 proto 1` (`ip4 proto 58`); its type and code are not read, so a
        // rule testing them leaves those packets out.
        let icmp_dim = |d: Dim| matches!(d, Dim::IcmpType | Dim::IcmpCode);
        let icmp_fields = cube.get(Dim::IcmpType).is_some()
            || cube.get(Dim::IcmpCode).is_some()
            || cube.atoms().iter().any(|(a, _)| {
                matches!(self.atoms.kind(*a), AtomKind::InSet { dim, .. } if icmp_dim(*dim))
            });
        let mut out = Vec::new();
        for &(lo, hi) in protos.ranges() {
            for p in lo..=hi {
                if !both {
                    let f = families.ranges()[0].0;
                    if let Some(piece) = other_family_icmp(p, f) {
                        match icmp_fields {
                            true => self.left_out.push(piece.into()),
                            false => out.push((fam_word(f), Some(proto_word(p, f)))),
                        }
                        continue;
                    }
                    let implied = matches!((p, f), (1, 4) | (58, 6));
                    out.push((
                        if implied { None } else { fam_word(f) },
                        Some(proto_word(p, f)),
                    ));
                    continue;
                }
                // `icmp` means IPv4 and `icmpv6` IPv6: the other family's packets of
                // that number are a rule of their own (`ip6 proto 1`), or left out
                // under ICMP fields.
                match p {
                    1 | 58 => {
                        let own = if p == 1 { 4 } else { 6 };
                        out.push((None, Some(proto_word(p, own))));
                        let other = 10 - own;
                        match icmp_fields {
                            true => self
                                .left_out
                                .extend(other_family_icmp(p, other).map(String::from)),
                            false => out.push((fam_word(other), Some(proto_word(p, other)))),
                        }
                    }
                    _ => out.push((None, Some(proto_word(p, 4)))),
                }
            }
        }
        Ok(out)
    }

    /// `from`/`to` words for one side.
    fn endpoint(
        &mut self,
        cube: &Cube,
        d4: Dim,
        d6: Dim,
        dport: Dim,
        side: &str,
    ) -> Result<Vec<String>, Refusal> {
        let addr = self.address(cube, d4, d6, side)?;
        let port = self.port(cube, dport, side)?;
        let kw = if side == "src" { "from" } else { "to" };
        let text = match (addr, port) {
            (Addr::Any, None) => return Ok(Vec::new()),
            (Addr::Any, Some(p)) => format!("*:{p}"),
            (Addr::Literal(a, _), None) => a,
            (Addr::Literal(a, true), Some(p)) => format!("[{a}]:{p}"),
            (Addr::Literal(a, false), Some(p)) => format!("{a}:{p}"),
            (Addr::Set(s), None) => format!("@{s}"),
            (Addr::Set(s), Some(p)) => format!("@{s}:{p}"),
        };
        Ok(vec![kw.to_string(), text])
    }

    fn address(&mut self, cube: &Cube, d4: Dim, d6: Dim, side: &str) -> Result<Addr, Refusal> {
        let (dim, kind, ivs) = match (cube.get(d4), cube.get(d6)) {
            (Some(v), None) => (d4, SetKind::Addr4, Some(v.clone())),
            (None, Some(v)) => (d6, SetKind::Addr6, Some(v.clone())),
            (None, None) => (d4, SetKind::Addr4, None),
            (Some(_), Some(_)) => {
                return Err(Refusal::Never("both IPv4 and IPv6 addresses".into()))
            }
        };
        let set_atoms = self.set_atoms(cube, &[d4, d6]);
        let (dim, kind) = match set_atoms.first() {
            Some((a, _)) if ivs.is_none() => match self.atoms.kind(*a) {
                AtomKind::InSet { dim, .. } if *dim == d6 => (d6, SetKind::Addr6),
                _ => (d4, SetKind::Addr4),
            },
            _ => (dim, kind),
        };
        match self.combine(ivs, &set_atoms, dim)? {
            Values::Any => Ok(Addr::Any),
            Values::Set(name) => Ok(Addr::Set(name)),
            Values::Ivs(v) => {
                let bits = if kind == SetKind::Addr4 { 32 } else { 128 };
                let p = if v.ranges().len() == 1 {
                    prefixes(v.ranges()[0].0, v.ranges()[0].1, bits)
                } else {
                    Vec::new()
                };
                if p.len() == 1 {
                    let (a, l) = p[0];
                    return Ok(if kind == SetKind::Addr4 {
                        Addr::Literal(addr4(a, l), false)
                    } else {
                        Addr::Literal(addr6(a, l), true)
                    });
                }
                let hint = format!("{}_{side}", self.hint);
                let comment = || format!("{side} addresses of the rule at {}", self.hint);
                Ok(Addr::Set(self.table.derived(
                    kind,
                    v.ranges(),
                    &hint,
                    comment,
                )))
            }
        }
    }

    fn port(&mut self, cube: &Cube, dim: Dim, side: &str) -> Result<Option<String>, Refusal> {
        let ivs = cube.get(dim).cloned();
        let set_atoms = self.set_atoms(cube, &[dim]);
        match self.combine(ivs, &set_atoms, dim)? {
            Values::Any => Ok(None),
            Values::Set(name) => Ok(Some(format!("@{name}"))),
            Values::Ivs(v) if v.ranges().len() == 1 => {
                Ok(Some(port_range(v.ranges()[0].0, v.ranges()[0].1)))
            }
            Values::Ivs(v) => {
                let hint = format!("{}_{side}port", self.hint);
                let comment = || format!("{side} ports of the rule at {}", self.hint);
                Ok(Some(format!(
                    "@{}",
                    self.table
                        .derived(SetKind::Port, v.ranges(), &hint, comment)
                )))
            }
        }
    }

    fn set_atoms(&self, cube: &Cube, dims: &[Dim]) -> Vec<(AtomId, bool)> {
        cube.atoms()
            .iter()
            .filter(|(a, _)| matches!(self.atoms.kind(*a), AtomKind::InSet { dim, .. } if dims.contains(dim)))
            .copied()
            .collect()
    }

    /// A field's values from its interval constraint and its set lookups: one set
    /// lookup alone stays the set; anything else is computed (which needs the sets'
    /// contents).
    fn combine(
        &mut self,
        ivs: Option<Ivs>,
        set_atoms: &[(AtomId, bool)],
        dim: Dim,
    ) -> Result<Values, Refusal> {
        if let ([(a, true)], None) = (set_atoms, &ivs) {
            return self.set_name(*a).map(Values::Set);
        }
        let mut cur = ivs.unwrap_or_else(|| Ivs::range(dim.lowest(), dim.highest()));
        for (a, positive) in set_atoms {
            let AtomKind::InSet { set, .. } = self.atoms.kind(*a) else {
                continue;
            };
            let s = &self.sets[*set];
            let SetContent::Known(elems) = &s.content else {
                let how = if *positive {
                    "the intersection of"
                } else {
                    "the complement of"
                };
                return Err(needs(
                    Feature::SetMatch,
                    &format!("{how} set {} of unknown contents", s.name),
                ));
            };
            let members = set_values(elems, dim);
            cur = if *positive {
                cur.intersect(&members)
            } else {
                cur.subtract(&members)
            };
        }
        if cur.is_empty() {
            return Err(Refusal::Never("the set lookups leave no value".into()));
        }
        if cur == Ivs::range(dim.lowest(), dim.highest()) {
            return Ok(Values::Any);
        }
        Ok(Values::Ivs(cur))
    }

    /// The declaration standing for the input's set behind atom `a`.
    fn set_name(&mut self, a: AtomId) -> Result<String, Refusal> {
        let AtomKind::InSet { dim, set } = self.atoms.kind(a) else {
            unreachable!("only set atoms")
        };
        let s = &self.sets[*set];
        let kind = match dim {
            Dim::Src4 | Dim::Dst4 => SetKind::Addr4,
            Dim::Src6 | Dim::Dst6 => SetKind::Addr6,
            _ => SetKind::Port,
        };
        let body = match &s.content {
            SetContent::Known(elems) => {
                let ivs = set_values(elems, *dim);
                if ivs.is_empty() {
                    return Err(Refusal::Never(format!("set {} is empty", s.name)));
                }
                Some(ivs)
            }
            SetContent::External => None,
        };
        let name = s.name.clone();
        let comment = match &s.content {
            SetContent::Known(_) => format!("set {} ({})", s.name, s.type_text),
            SetContent::External => format!(
                "ipset {0}: export its members with `ipset save {0} | awk '$1 == \"add\" {{ print $3 }}' > {1}.txt`",
                s.name,
                super::sets::ident(&s.name)
            ),
        };
        Ok(self.table.named(
            *set,
            &name,
            |decl| match body {
                Some(ivs) => SetBody::Elements(super::sets::elements(kind, ivs.ranges())),
                None => SetBody::File(format!("{decl}.txt")),
            },
            || comment,
        ))
    }
}

/// A set's values as values of `dim`: only what the field can hold (a reader lets no
/// other value in; kept so that no value can make a set's elements unbounded).
fn set_values(elems: &[Vec<Value>], dim: Dim) -> Ivs {
    Ivs::from_ranges(
        elems
            .iter()
            .filter_map(|e| match e.first() {
                Some(Value::Range(lo, hi)) => Some((*lo, *hi)),
                _ => None,
            })
            .collect(),
    )
    .intersect(&Ivs::range(dim.lowest(), dim.highest()))
}

/// The family and protocol words of one rule.
type Words = (Option<String>, Option<String>);

enum Values {
    Any,
    Set(String),
    Ivs(Ivs),
}

fn needs(f: Feature, detail: &str) -> Refusal {
    Refusal::Needs(vec![(f, detail.to_string())])
}

/// The packets of protocol `p` in family `f` whose ICMP type and code the language
/// does not read (ICMP's number in the other IP version: `ip6 proto 1`), named for
/// the report.
fn other_family_icmp(p: u128, f: u128) -> Option<&'static str> {
    match (p, f) {
        (1, 6) => Some("IPv6 packets of protocol 1 (ICMP) by ICMP type or code"),
        (58, 4) => Some("IPv4 packets of protocol 58 (ICMPv6) by ICMPv6 type or code"),
        _ => None,
    }
}

/// The protocol word for protocol `p` in family `f`.
fn proto_word(p: u128, f: u128) -> String {
    match (p, f) {
        (6, _) => "tcp".into(),
        (17, _) => "udp".into(),
        (1, 4) => "icmp".into(),
        (58, 6) => "icmpv6".into(),
        _ => format!("proto {p}"),
    }
}

/// TCP flag words: the fewest set/clear combinations covering the flag values.
fn flag_words(cube: &Cube) -> Vec<Vec<String>> {
    let Some(v) = cube.get(Dim::TcpFlags) else {
        return vec![Vec::new()];
    };
    const NAMES: [&str; 8] = ["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"];
    cover(v)
        .into_iter()
        .map(|(mask, value)| {
            (0..8)
                .filter(|b| mask & (1 << b) != 0)
                .map(|b| {
                    if value & (1 << b) != 0 {
                        NAMES[b].to_string()
                    } else {
                        format!("!{}", NAMES[b])
                    }
                })
                .collect()
        })
        .collect()
}

/// A cover of a set of bytes by disjoint cubes (mask, value): `b & mask == value`.
pub fn cover(v: &Ivs) -> Vec<(u8, u8)> {
    let mut left: Vec<bool> = (0..=255u128).map(|b| v.contains(b)).collect();
    let mut out = Vec::new();
    for b in 0..=255usize {
        if !left[b] {
            continue;
        }
        // widen the cube around b one free bit at a time while all its bytes remain
        let mut mask: u8 = 0xff;
        for bit in 0..8 {
            let trial = mask & !(1u8 << bit);
            if (0..=255usize)
                .filter(|x| (*x as u8) & trial == (b as u8) & trial)
                .all(|x| left[x])
            {
                mask = trial;
            }
        }
        let value = (b as u8) & mask;
        for (x, l) in left.iter_mut().enumerate() {
            if (x as u8) & mask == value {
                *l = false;
            }
        }
        out.push((mask, value));
    }
    out
}

/// The `ttl` (IPv4) or `hoplimit` (IPv6) words of a cube, values and ranges in one
/// list (none when it does not test the field). Every cube that tests the field holds
/// one IP version (the keys that set it fix the family).
fn hop_words(cube: &Cube, families: &Ivs) -> Result<Vec<String>, Refusal> {
    let Some(values) = cube.get(Dim::HopLimit) else {
        return Ok(Vec::new());
    };
    let word = match families.ranges() {
        [(4, 4)] => "ttl",
        [(6, 6)] => "hoplimit",
        _ => {
            return Err(needs(
                Feature::IpHeader,
                "a TTL or hop limit test over both IP versions",
            ))
        }
    };
    Ok(vec![word.to_string(), value_list(values)])
}

/// A field's values and ranges as one list of the language (`1,5-9`).
fn value_list(values: &Ivs) -> String {
    let items: Vec<String> = values
        .ranges()
        .iter()
        .map(|&(lo, hi)| port_range(lo, hi))
        .collect();
    items.join(",")
}

/// The `dscp` and `ecn` words of a cube (none for a field it does not test, or whose
/// every value it admits). sockc's fields read both IP versions' byte, so the family
/// words (written apart) keep the cube's version.
fn tos_words(cube: &Cube) -> Vec<String> {
    let mut out = Vec::new();
    for (dim, word) in [(Dim::Dscp, "dscp"), (Dim::Ecn, "ecn")] {
        let Some(values) = cube.get(dim) else {
            continue;
        };
        if values.ranges() == [(0, dim.highest())] {
            continue;
        }
        out.extend([word.to_string(), value_list(values)]);
    }
    out
}

/// The IP versions of the cube's `families` a rule keeps to with its family word
/// (`ip4`, `ip6`) and protocol word (`icmp` is IPv4's, `icmpv6` IPv6's).
fn written_families(fam: &Option<String>, proto: &Option<String>, families: &Ivs) -> Ivs {
    let only = |v: u128| Ivs::single(v).intersect(families);
    match (fam.as_deref(), proto.as_deref()) {
        (Some("ip4"), _) | (_, Some("icmp")) => only(4),
        (Some("ip6"), _) | (_, Some("icmpv6")) => only(6),
        _ => families.clone(),
    }
}

/// The `length` words of a cube: its lengths that a packet of its IP versions can
/// have (IPv4 up to 65535 bytes, IPv6 from 40), none when it admits every one.
fn length_words(cube: &Cube, families: &Ivs) -> Result<Vec<String>, Refusal> {
    let Some(values) = cube.get(Dim::Length) else {
        return Ok(Vec::new());
    };
    let mut possible = Vec::new();
    if families.contains(4) {
        possible.push((0, 65535));
    }
    if families.contains(6) {
        possible.push((40, Dim::Length.highest()));
    }
    let possible = Ivs::from_ranges(possible);
    let lengths = values.intersect(&possible);
    if lengths.is_empty() {
        return Err(Refusal::Never(
            "no packet of its IP version has these lengths".into(),
        ));
    }
    if lengths == possible {
        return Ok(Vec::new());
    }
    Ok(vec!["length".to_string(), value_list(&lengths)])
}

/// ICMP type and code words.
fn icmp_words(cube: &Cube) -> Result<Vec<Vec<String>>, Refusal> {
    let types = cube.get(Dim::IcmpType);
    let codes = cube.get(Dim::IcmpCode);
    let (Some(types), codes) = (
        types.cloned().or_else(|| codes.map(|_| Ivs::range(0, 255))),
        codes,
    ) else {
        return Ok(vec![Vec::new()]);
    };
    if types.count() * codes.map_or(1, |c| c.count()) > MAX_RULES_PER_CUBE as u128 {
        return Err(needs(Feature::Other, "ICMP type and code lists this long"));
    }
    let mut out = Vec::new();
    for &(lo, hi) in types.ranges() {
        for t in lo..=hi {
            match codes {
                None => out.push(vec!["type".to_string(), t.to_string()]),
                Some(c) => {
                    for &(clo, chi) in c.ranges() {
                        for code in clo..=chi {
                            out.push(vec![
                                "type".into(),
                                t.to_string(),
                                "code".into(),
                                code.to_string(),
                            ]);
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}
