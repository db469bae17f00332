//! The semantic diff in words: [`render_text`] (the answer first — "no packet changes
//! its verdict" or "N regions change verdict" with a table of regions, "at least N"
//! where a block's comparison stopped ([`at_least`]) — then the changes to counting
//! alone), [`to_json`] (the same as data) and [`describe_box`] (a box as the match it
//! stands for, e.g. `IPv4 tcp to 10.0.0.0/8 dport 22`).
//!
//! Invariant: the lists are cut at [`RenderOptions::max_listed`] entries with a line
//! saying how many were left out; nothing is dropped silently, and the first line
//! says whether any packet changes its verdict.

use std::{borrow::Cow, fmt::Write};

use serde_json::{json, Value};

use super::{BlockDiff, Change, NotCompared, Outcome, SemDiff, Side};
use crate::{
    limits::Limit,
    space::{
        ct, ct_status, dev, frame, l4, over, route, socket, vlan, Dim, HeaderBox, Iv, ValueSet,
    },
    syntax::{iface::IFNAMSIZ, limit_fact::OverLimit},
};

/// How the diff is written.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// The names of the two files (for `file:line`).
    pub old: String,
    pub new: String,
    /// Regions (and counting changes) listed at most.
    pub max_listed: usize,
    /// Draws the region table: a header and rows, as the lines to print. The CLI
    /// passes its table helper (comfy-table, one style for every command);
    /// [`plain_table`] is a stand-in for callers without one.
    pub table: TableFn,
}

/// How [`render_text`] draws its table: header and rows in, lines out.
pub type TableFn = fn(header: [&str; 5], rows: Vec<[String; 5]>) -> Vec<String>;

/// The cells of each row joined by two spaces, unaligned: for callers (tests) that
/// read the words, not the layout.
pub fn plain_table(header: [&str; 5], rows: Vec<[String; 5]>) -> Vec<String> {
    std::iter::once(header.map(String::from))
        .chain(rows)
        .map(|r| r.join("  ").trim_end().to_string())
        .collect()
}

impl Outcome {
    pub fn text(&self) -> String {
        match self {
            Outcome::Allow => "allow".into(),
            Outcome::Drop => "drop".into(),
            Outcome::Pass => "pass".into(),
            Outcome::Redirect {
                socket: None,
                ingress: _,
            } => "redirect local".into(),
            Outcome::Redirect {
                socket: Some(s),
                ingress,
            } => format!(
                "redirect to sock {s}{}",
                if *ingress { " ingress" } else { "" }
            ),
            Outcome::Reject(w) => format!("reject {}", w.text()).trim_end().to_string(),
            Outcome::RedirectCall(t) => format!("redirect to {t}"),
        }
    }
}

fn side_text(s: &Side, file: &str) -> String {
    match s.line {
        Some(l) => format!("{} {file}:{l}", s.outcome.text()),
        None => format!("{} (no block)", s.outcome.text()),
    }
}

/// The block as plans and listings name it (`xdp on eth0`, `netfilter input priority
/// 10`, `cgroup egress /sys/fs/cgroup/app`).
fn block_name(b: &BlockDiff) -> String {
    b.hook.spec().label(&b.attach_to)
}

/// The example packet: its `sockc test --packet` text, and `--socket STATE` when the
/// region depends on what a socket lookup finds (else every state is in it, and
/// `sockc test`'s default, none, will do).
fn example_text(c: &Change) -> String {
    let p = c.example.packet();
    let mut s = c.example_text().unwrap_or_else(|| "non-IP frame".into());
    let any_socket = c
        .region
        .boxes()
        .iter()
        .all(|b| b.get(Dim::Socket).is_full(Dim::Socket.max_value()));
    if let Some(sock) = p.socket_name().filter(|_| !any_socket) {
        write!(s, " (socket {sock})").unwrap();
    }
    s
}

/// The regions of a change, described box by box (at most three, then a count).
fn region_text(b: &BlockDiff, c: &Change) -> String {
    let boxes = c.region.boxes();
    let mut parts: Vec<String> = boxes
        .iter()
        .take(3)
        .map(|x| describe_in(x, &b.buckets))
        .collect();
    if boxes.len() > 3 {
        parts.push(format!("… {} more boxes", boxes.len() - 3));
    }
    parts.join(" | ")
}

/// "at least " before a count of `n` regions or counter moves when a block's comparison
/// stopped ([`SemDiff::stopped`]): they are then some of those that change. Never
/// before 0.
pub fn at_least(d: &SemDiff, n: usize) -> &'static str {
    match d.stopped() && n > 0 {
        true => "at least ",
        false => "",
    }
}

/// The diff as text: the answer, the table of regions that change verdict, blocks
/// cut short, then what changes counting alone.
pub fn render_text(d: &SemDiff, o: &RenderOptions) -> String {
    let mut out = String::new();
    let n = d.verdict_regions();
    let cut: Vec<&BlockDiff> = d.blocks.iter().filter(|b| b.cut_short.is_some()).collect();
    match (n, cut.is_empty()) {
        (0, true) => out.push_str("no packet changes its verdict\n"),
        (1, _) => writeln!(out, "{}1 region changes verdict:", at_least(d, 1)).unwrap(),
        (n, _) => writeln!(out, "{}{n} regions change verdict:", at_least(d, n)).unwrap(),
    }
    if n > 0 {
        let mut rows = Vec::new();
        let all = d
            .blocks
            .iter()
            .flat_map(|b| b.verdicts.iter().map(move |c| (b, c)));
        for (b, c) in all.clone().take(o.max_listed) {
            rows.push([
                block_name(b),
                side_text(&c.before, &o.old),
                side_text(&c.after, &o.new),
                example_text(c),
                region_text(b, c),
            ]);
        }
        let header = ["hook", "before", "after", "example packet", "packets"];
        for line in (o.table)(header, rows) {
            writeln!(out, "{line}").unwrap();
        }
        if n > o.max_listed {
            writeln!(out, "  … {} more", n - o.max_listed).unwrap();
        }
    }
    for b in cut {
        let why = b.cut_short.unwrap();
        writeln!(
            out,
            "{}: not compared to the end ({why}): verdicts may change beyond the regions \
             listed{}",
            block_name(b),
            more_work_hint(why)
        )
        .unwrap();
    }
    out.push_str(&counting_text(d, o));
    out
}

/// How to let a comparison that stopped at its work or its boxes go further (both grow
/// with `--max-diff-work`, [`Budget::of_work`](super::Budget::of_work)); nothing for
/// the other reasons, which more work does not change.
fn more_work_hint(why: NotCompared) -> String {
    match why {
        NotCompared::Work(_) | NotCompared::Fragmented(_) => {
            let l = Limit::DiffWork;
            format!("; raise its budget with {} N (or {}=N)", l.flag(), l.env())
        }
        _ => String::new(),
    }
}

fn counting_text(d: &SemDiff, o: &RenderOptions) -> String {
    let mut lines = Vec::new();
    for b in &d.blocks {
        let name = block_name(b);
        for c in &b.moved {
            lines.push(format!(
                "{name}: {} decided by {} instead of {}, e.g. {}",
                region_text(b, c),
                side_text(&c.after, &o.new),
                side_text(&c.before, &o.old),
                example_text(c)
            ));
        }
        for c in &b.counting {
            let at = |l: Option<usize>, f: &str| l.map(|l| format!("{f}:{l}"));
            let place: Vec<String> = [at(c.old_line, &o.old), at(c.new_line, &o.new)]
                .into_iter()
                .flatten()
                .collect();
            match place.is_empty() {
                true => lines.push(format!("{name}: {}", c.what)),
                false => lines.push(format!("{name}: {} ({})", c.what, place.join(" → "))),
            }
        }
    }
    if lines.is_empty() {
        return String::new();
    }
    // A block that stopped lists the counter moves it found, as it lists its regions.
    let mut out = format!(
        "{}{} counting change{} (verdicts unchanged):\n",
        at_least(d, lines.len()),
        lines.len(),
        if lines.len() == 1 { "" } else { "s" }
    );
    for l in lines.iter().take(o.max_listed) {
        writeln!(out, "  {l}").unwrap();
    }
    if lines.len() > o.max_listed {
        writeln!(out, "  … {} more", lines.len() - o.max_listed).unwrap();
    }
    out
}

fn side_json(s: &Side, file: &str) -> Value {
    json!({
        "outcome": s.outcome.text(),
        "line": s.line,
        "at": s.line.map(|l| format!("{file}:{l}")),
        "default": matches!(s.decider, super::Decider::Default),
    })
}

fn change_json(b: &BlockDiff, c: &Change, o: &RenderOptions) -> Value {
    let p = c.example.packet();
    json!({
        "before": side_json(&c.before, &o.old),
        "after": side_json(&c.after, &o.new),
        "example": {"packet": c.example_text(), "socket": p.socket_name()},
        "packets": c.region.boxes().iter().map(|x| describe_in(x, &b.buckets)).collect::<Vec<_>>(),
    })
}

/// The diff as data (docs/json.md, `semantic` of `sockc.diff/1`).
pub fn to_json(d: &SemDiff, o: &RenderOptions) -> Value {
    let blocks: Vec<Value> = d
        .blocks
        .iter()
        .map(|b| {
            let listed = |cs: &[Change]| {
                cs.iter()
                    .take(o.max_listed)
                    .map(|c| change_json(b, c, o))
                    .collect::<Vec<_>>()
            };
            json!({
                "hook": b.hook.to_string(),
                "attach_to": b.attach_to,
                "regions": listed(&b.verdicts),
                "regions_more": b.verdicts.len().saturating_sub(o.max_listed),
                "counter_moves": listed(&b.moved),
                "counter_moves_more": b.moved.len().saturating_sub(o.max_listed),
                "counting": b.counting.iter().map(|c| json!({
                    "what": c.what, "old_line": c.old_line, "new_line": c.new_line,
                })).collect::<Vec<_>>(),
                "cut_short": b.cut_short.map(|e| e.to_string()),
                "stopped": b.cut_short.is_some_and(|e| e.stopped()),
            })
        })
        .collect();
    json!({
        "verdicts_change": d.changes_verdicts(),
        "regions": d.verdict_regions(),
        "counting_changes": d.counting_changes(),
        "blocks": blocks,
    })
}

/// A box as the match it stands for: the dimensions it restricts, in rule words (a
/// `limit` bucket by its number: [`BlockDiff::buckets`] names them).
pub fn describe_box(b: &HeaderBox) -> String {
    describe_in(b, &[])
}

/// The rule word of the TTL or hop limit in a box whose frames are `frames`.
fn hop_word(frames: &ValueSet) -> &'static str {
    match frames.intervals() {
        [(lo, hi)] if *lo == frame::V4 && *hi == frame::V4 => "ttl ",
        [(lo, hi)] if *lo == frame::V6 && *hi == frame::V6 => "hoplimit ",
        _ => "ttl/hoplimit ",
    }
}

/// [`describe_box`], the `limit` buckets named by `buckets` (by bit number).
fn describe_in(b: &HeaderBox, buckets: &[OverLimit]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for d in Dim::ALL {
        let set = b.get(d);
        if set.is_full(d.max_value()) {
            continue;
        }
        parts.push(match d {
            Dim::Frame => frame_text(set),
            Dim::Proto => values("", d, set, |v| proto_in(v, b.get(Dim::Frame))),
            Dim::L4 if set.contains(l4::ABSENT) => "no transport header".into(),
            Dim::L4 => continue,
            Dim::Src4 => values("from ", d, set, |v| address_text(v, 32)),
            Dim::Dst4 => values("to ", d, set, |v| address_text(v, 32)),
            Dim::Src6 => values("from ", d, set, |v| address_text(v, 128)),
            Dim::Dst6 => values("to ", d, set, |v| address_text(v, 128)),
            Dim::Sport => values("sport ", d, set, number),
            Dim::Dport => values("dport ", d, set, number),
            Dim::TcpFlags => flags_text(set),
            Dim::IcmpType => values("type ", d, set, number),
            Dim::IcmpCode => values("code ", d, set, number),
            Dim::Socket if set.intervals() == [(socket::NONE + 1, socket::TIMEWAIT)] => {
                "socket exists".into()
            }
            Dim::Socket => format!("socket {}", each(set, socket::name)),
            Dim::EtherType => values("ether type ", d, set, |v| format!("{v:#06x}")),
            // The values are the VLAN id plus one; 0 is an untagged frame.
            Dim::Vlan if set.intervals() == [(0, 0)] => "untagged".into(),
            Dim::Vlan => vlan_text(set),
            Dim::Frag if set.contains(1) => "frag".into(),
            Dim::Frag => "not a fragment".into(),
            Dim::Ct => format!("ct state {}", each(set, |v| ct::state(v).name())),
            Dim::Route => format!("route {}", each(set, |v| route::class(v).name())),
            Dim::InDev => devices("in on ", set),
            Dim::OutDev => devices("out on ", set),
            Dim::Mark => values("mark ", d, set, |v| format!("{v:#x}")),
            Dim::HopLimit => values(hop_word(b.get(Dim::Frame)), d, set, number),
            Dim::Dscp => values("dscp ", d, set, number),
            Dim::Ecn => values("ecn ", d, set, number),
            Dim::Length => length_text(b.get(Dim::Frame), set),
            Dim::Uid => values("owner uid ", d, set, owner_text),
            Dim::Gid => values("owner gid ", d, set, owner_text),
            Dim::CtStatus => values("ct status bits ", d, set, status_text),
            Dim::CtDir => values("ct direction ", d, set, |v| {
                ["original", "reply"][usize::from(v == 1)].to_string()
            }),
            Dim::CtMark => values("ct mark ", d, set, |v| format!("{v:#x}")),
            Dim::Comm => values("comm ", d, set, comm_text),
            Dim::Over => match buckets_text(set, buckets) {
                t if t.is_empty() => continue,
                t => t,
            },
        });
    }
    if parts.is_empty() {
        "every packet".into()
    } else {
        parts.join(" ")
    }
}

/// `length ...` in bytes of the whole packet: [`Dim::Length`] holds an IPv6 packet's
/// payload length, 40 less (a box of both families names both readings).
fn length_text(frames: &ValueSet, set: &ValueSet) -> String {
    let text = |base: u128| {
        let (not, shown) = shorter_side(set, Dim::Length.max_value(), "not ");
        let shifted = shown
            .intervals()
            .iter()
            .map(|&(lo, hi)| (lo + base, hi + base));
        let shown = ValueSet::from_intervals(shifted);
        format!(
            "length {not}{}",
            list(shown.intervals(), 4, number, numbers)
        )
    };
    match (frames.contains(frame::V4), frames.contains(frame::V6)) {
        (_, false) => text(0),
        (false, true) => text(40),
        (true, true) => format!("{} (IPv4) or {} (IPv6)", text(0), text(40)),
    }
}

/// The status bits a [`Dim::CtStatus`] value stands for, all of them (`none`: no bit).
fn status_text(v: u128) -> String {
    let names = crate::syntax::ct_entry::status_names(ct_status::word(v));
    if names.is_empty() {
        "none".into()
    } else {
        format!("{{{names}}}")
    }
}

/// An owner's id, or `none` for a packet no socket owns.
fn owner_text(v: u128) -> String {
    if v == u128::from(crate::syntax::owner::NO_OWNER) {
        "none".into()
    } else {
        v.to_string()
    }
}

fn frame_text(set: &ValueSet) -> String {
    let has = |v| set.contains(v);
    match (has(frame::NON_IP), has(frame::V4), has(frame::V6)) {
        (false, true, false) => "IPv4",
        (false, false, true) => "IPv6",
        (false, true, true) => "IP",
        (true, false, false) => "non-IP",
        _ => "frames",
    }
    .into()
}

/// [`proto_name`] in a box of `frames`: ICMP's number in the other family's box is a
/// number (`ip6 proto 1`: an IPv6 packet whose next header is 1, not ICMP).
fn proto_in(v: u128, frames: &ValueSet) -> String {
    let only = |f| frames.intervals() == [(f, f)];
    match v {
        1 if only(frame::V6) => "proto 1".into(),
        58 if only(frame::V4) => "proto 58".into(),
        v => proto_name(v),
    }
}

fn proto_name(v: u128) -> String {
    match v {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "icmpv6".into(),
        v => format!("proto {v}"),
    }
}

/// `word` and the values of dimension `d` in `set`, or `word` and `not` and the
/// values outside it when those are fewer (`dport not 22`); addresses as prefixes.
fn values(word: &str, d: Dim, set: &ValueSet, name: impl Fn(u128) -> String) -> String {
    let (not, shown) = shorter_side(set, d.max_value(), "not ");
    let text = match d {
        Dim::Src4 | Dim::Dst4 => addresses(&shown, 32),
        Dim::Src6 | Dim::Dst6 => addresses(&shown, 128),
        Dim::Uid | Dim::Gid => list(&owners_apart(&shown), 4, name, numbers),
        _ => list(shown.intervals(), 4, name, |lo, hi| range_text(d, lo, hi)),
    };
    format!("{word}{not}{text}")
}

/// `set`, or the values up to `max` outside it, with `not` before them, when those are
/// fewer intervals to write (`dport not 22`, `!lo`).
fn shorter_side<'a>(
    set: &'a ValueSet,
    max: u128,
    not: &'static str,
) -> (&'static str, Cow<'a, ValueSet>) {
    let rest = ValueSet::full(max).subtract(set, &mut 0);
    if rest.intervals().len() < set.intervals().len() {
        (not, Cow::Owned(rest))
    } else {
        ("", Cow::Borrowed(set))
    }
}

/// A process name (`comm`) value, quoted as a rule writes it.
fn comm_text(v: u128) -> String {
    let name = crate::syntax::comm::name_of(&crate::syntax::comm::from_value(v));
    format!("\"{name}\"")
}

fn number(v: u128) -> String {
    v.to_string()
}

fn numbers(lo: u128, hi: u128) -> String {
    format!("{lo}-{hi}")
}

/// A range of dimension `d`'s values written as its single values are: EtherTypes and
/// marks in hexadecimal, names quoted, a protocol range with its word (a single one is
/// named: `tcp`).
fn range_text(d: Dim, lo: u128, hi: u128) -> String {
    match d {
        Dim::Proto => format!("proto {lo}-{hi}"),
        Dim::EtherType => format!("{lo:#06x}-{hi:#06x}"),
        Dim::Mark | Dim::CtMark | Dim::CtStatus => format!("{lo:#x}-{hi:#x}"),
        Dim::Comm => format!("{}-{}", comm_text(lo), comm_text(hi)),
        _ => numbers(lo, hi),
    }
}

/// An owner set's intervals with "no owner" (the largest value) apart from the ids below
/// it, so that a range never ends in it (`1000-4294967294,none`, not `1000-4294967295`).
fn owners_apart(set: &ValueSet) -> Vec<Iv> {
    let none = u128::from(crate::syntax::owner::NO_OWNER);
    let mut ivs: Vec<Iv> = set.intervals().to_vec();
    if let Some(last) = ivs
        .last_mut()
        .filter(|&&mut (lo, hi)| hi == none && lo < hi)
    {
        last.1 = none - 1;
        ivs.push((none, none));
    }
    ivs
}

/// A set of [`Dim::Vlan`] values other than `{0}` as VLAN ids, ranges included (a
/// value is the id plus one: [`list`] would print a range's ends as they are stored).
/// The `not` form, when shorter, never holds 0: `vlan not 3` takes in untagged frames.
fn vlan_text(set: &ValueSet) -> String {
    let (not, shown) = shorter_side(set, vlan::MAX, "not ");
    let ids: Vec<Iv> = shown
        .intervals()
        .iter()
        .filter(|&&(_, hi)| hi != vlan::UNTAGGED)
        .map(|&(lo, hi)| (lo.max(1) - 1, hi - 1))
        .collect();
    let ids = list(
        ValueSet::from_intervals(ids).intervals(),
        4,
        number,
        numbers,
    );
    if shown.contains(vlan::UNTAGGED) {
        format!("untagged or vlan {ids}")
    } else {
        format!("vlan {not}{ids}")
    }
}

/// Every value of a small set by name, comma-separated.
fn each(set: &ValueSet, name: impl Fn(u128) -> &'static str) -> String {
    let names: Vec<&str> = set
        .intervals()
        .iter()
        .flat_map(|&(lo, hi)| lo..=hi)
        .map(name)
        .collect();
    names.join(",")
}

/// Values (by `name`) and ranges (by `range`), comma-separated, at most `max` of them
/// and then a count.
fn list(
    ivs: &[Iv],
    max: usize,
    name: impl Fn(u128) -> String,
    range: impl Fn(u128, u128) -> String,
) -> String {
    let mut parts: Vec<String> = ivs
        .iter()
        .take(max)
        .map(|&(lo, hi)| if lo == hi { name(lo) } else { range(lo, hi) })
        .collect();
    if ivs.len() > max {
        parts.push(format!("+{} more", ivs.len() - max));
    }
    parts.join(",")
}

/// The largest prefixes covering `lo..=hi` in a `width`-bit space.
fn prefixes(mut lo: u128, hi: u128, width: u32, max: usize) -> Option<Vec<(u128, u32)>> {
    let mut out = Vec::new();
    loop {
        let align = if lo == 0 {
            width
        } else {
            lo.trailing_zeros().min(width)
        };
        let span = hi - lo;
        let fit = if span == u128::MAX {
            128
        } else {
            127 - (span + 1).leading_zeros()
        };
        let bits = align.min(fit).min(width);
        out.push((lo, width - bits));
        if out.len() > max {
            return None;
        }
        let step_end = if bits >= 128 {
            u128::MAX
        } else {
            lo + ((1u128 << bits) - 1)
        };
        if step_end >= hi {
            return Some(out);
        }
        lo = step_end + 1;
    }
}

fn address_text(v: u128, width: u32) -> String {
    if width == 32 {
        std::net::Ipv4Addr::from(v as u32).to_string()
    } else {
        std::net::Ipv6Addr::from(v).to_string()
    }
}

/// Addresses as prefixes where few cover them, else as ranges.
fn addresses(set: &ValueSet, width: u32) -> String {
    let mut parts = Vec::new();
    for &(lo, hi) in set.intervals().iter().take(3) {
        match prefixes(lo, hi, width, 2) {
            Some(ps) => parts.extend(ps.into_iter().map(|(a, len)| {
                if len == width {
                    address_text(a, width)
                } else {
                    format!("{}/{len}", address_text(a, width))
                }
            })),
            None => parts.push(format!(
                "{}-{}",
                address_text(lo, width),
                address_text(hi, width)
            )),
        }
    }
    if set.intervals().len() > 3 {
        parts.push(format!("+{} more", set.intervals().len() - 3));
    }
    parts.join(",")
}

/// TCP flags as `syn !ack` when the set is every value with some bits fixed, else as
/// the number of flag combinations.
fn flags_text(set: &ValueSet) -> String {
    const NAMES: [&str; 8] = ["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"];
    let values: Vec<u128> = set
        .intervals()
        .iter()
        .flat_map(|&(lo, hi)| lo..=hi)
        .collect();
    let (and, or) = values
        .iter()
        .fold((0xffu128, 0u128), |(a, o), &v| (a & v, o | v));
    let fixed = !(and ^ or) & 0xff;
    if values.len() as u128 == 1u128 << (8 - fixed.count_ones()) {
        let words: Vec<String> = (0..8)
            .filter(|i| fixed & (1 << i) != 0)
            .map(|i| {
                let on = and & (1 << i) != 0;
                format!("{}{}", if on { "" } else { "!" }, NAMES[i])
            })
            .collect();
        return words.join(" ");
    }
    format!("tcp flags ({} combinations)", values.len())
}

/// A device set as `in on` writes it: names and prefixes (`eth0`, `wg*`), negated
/// (`!lo`) when the devices outside it are fewer to write, and the names a range
/// leaves out (`eth* but not eth0`).
fn devices(word: &str, set: &ValueSet) -> String {
    let (not, shown) = shorter_side(set, u128::MAX, "!");
    // Runs of intervals whose gaps are each one name or prefix: the run's hull, and
    // the names it leaves out.
    let mut runs: Vec<((u128, u128), Vec<String>)> = Vec::new();
    for &(lo, hi) in shown.intervals() {
        match runs.last_mut() {
            Some(((_, end), holes)) if named(*end + 1, lo - 1).is_some() => {
                holes.extend(named(*end + 1, lo - 1));
                *end = hi;
            }
            _ => runs.push(((lo, hi), Vec::new())),
        }
    }
    let parts: Vec<String> = runs
        .iter()
        .take(4)
        .map(|&((lo, hi), ref holes)| {
            let hull = named(lo, hi).unwrap_or_else(|| device_range(lo, hi));
            if holes.is_empty() {
                hull
            } else {
                format!("{hull} but not {}", holes.join(","))
            }
        })
        .collect();
    let more = runs.len().saturating_sub(4);
    let more = if more > 0 {
        format!(",+{more} more")
    } else {
        String::new()
    };
    format!("{word}{not}{}{more}", parts.join(","))
}

/// An interval of device values as the one name (its bytes and NUL) or prefix
/// (`eth*`) it is, if it is one.
fn named(lo: u128, hi: u128) -> Option<String> {
    let (l, h) = (lo.to_be_bytes(), hi.to_be_bytes());
    let same = l.iter().zip(&h).take_while(|(a, b)| a == b).count();
    let whole = l[same..].iter().all(|&b| b == 0) && h[same..].iter().all(|&b| b == 0xff);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match same {
        _ if hi == 0 => Some("(none)".into()),
        _ if !whole => None,
        0 => Some("*".into()),
        k if l[k - 1] == 0 => Some(text(&l[..k - 1])),
        k if k < IFNAMSIZ => Some(format!("{}*", text(&l[..k]))),
        _ => None,
    }
}

/// Any other interval of device values, as the range between two names.
fn device_range(lo: u128, hi: u128) -> String {
    let name = |v: u128| dev::name(v).map_or(format!("{v:#x}"), |n| n.as_str().into());
    if lo == 0 {
        format!("(none)..{}", name(hi))
    } else {
        format!("{}..{}", name(lo), name(hi))
    }
}

/// The buckets a set of [`Dim::Over`] values decides: `over` (no room) or `within`
/// each limit whose bit it fixes.
fn buckets_text(set: &ValueSet, buckets: &[OverLimit]) -> String {
    let values: Vec<u128> = set
        .intervals()
        .iter()
        .flat_map(|&(lo, hi)| lo..=hi)
        .collect();
    let mut parts = Vec::new();
    for i in 0..over::BUCKETS {
        let bit = over::bit(i);
        let name = buckets.get(i).map_or(format!("bucket {i}"), |b| {
            b.to_string().replacen("over-limit:", "limit ", 1)
        });
        if values.iter().all(|v| v & bit != 0) {
            parts.push(format!("over {name}"));
        } else if values.iter().all(|v| v & bit == 0) {
            parts.push(format!("within {name}"));
        }
    }
    parts.join(" ")
}
