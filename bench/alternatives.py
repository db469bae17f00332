#!/usr/bin/env python3
"""Sizes of the classifier designs sockc did not choose, computed on the ClassBench sets.

For each set (acl1, fw1, ipc1 at 1k, 10k and 100k filters) this prints what two
published alternatives to sockc's byte-cut tries would cost, from the filters
themselves (no model, no sampling):

* Tuple space search (Srinivasan, Suri, Varghese 1999; Open vSwitch's megaflow
  classifier): filters are grouped by their tuple of prefix lengths (source,
  destination, source port, destination port, protocol exact or wild), port ranges
  expanded into prefixes; a packet probes one hash table per tuple. Printed: the
  tuples (hash probes per packet, worst case: a packet that no tuple decides early)
  and the expanded entries (memory).
* Recursive flow classification (Gupta and McKeown 1999): phase 0 reads seven 16-bit
  chunks (source high/low, destination high/low, source port, destination port,
  protocol) into equivalence classes (the distinct sets of filters a value lies in);
  the next phases index cross-product tables of class numbers. The reduction tree
  here is the three-phase one: phase 1 joins {src_hi, src_lo}, {dst_hi, dst_lo} and
  {sport, dport, proto}; phase 2 joins the three. Printed: the classes of each whole
  field (what phase 1 reduces source high x low to, and destination high x low), the
  classes of ports x protocol, the phase-1 table entries (src_hi x src_lo + dst_hi x
  dst_lo + sport x dport x proto classes) and the phase-2 table entries (source
  classes x destination classes x port/protocol classes), 2 bytes each. Other trees
  move the cross product between phases; phase 1 alone is the figure to compare.

sockc's tries read at most 13 array nodes for IPv4 and check one leaf of at most
LEAF_MAX entries, and their maps stay under 64 MiB at 100k (bench/RESULTS.md).

Usage: python3 bench/alternatives.py [CLASSBENCH_DIR]   (default ../shared/bench/classbench)
Takes about a minute for the nine sets.
"""

import os
import random
import sys


def parse(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("@"):
                continue
            parts = line[1:].split("\t")
            src, dst = parts[0], parts[1]
            sp = [int(x) for x in parts[2].split(":")]
            dp = [int(x) for x in parts[3].split(":")]
            proto, mask = [int(x, 16) for x in parts[4].split("/")]

            def net(s):
                a, l = s.split("/")
                o = [int(x) for x in a.split(".")]
                v = (o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]
                l = int(l)
                lo = v & (((1 << 32) - 1) ^ ((1 << (32 - l)) - 1)) if l else 0
                return lo, lo | ((1 << (32 - l)) - 1), l

            out.append((net(src), net(dst), tuple(sp), tuple(dp), (proto, mask)))
    return out


def range_to_prefix_lens(lo, hi, bits=16):
    """Prefix lengths of the minimal prefix cover of [lo, hi]."""
    lens = []
    while lo <= hi:
        size = lo & -lo if lo else 1 << bits
        while size > hi - lo + 1:
            size >>= 1
        lens.append(bits - size.bit_length() + 1)
        lo += size
    return lens


def tss(filters):
    tuples, entries = set(), 0
    for (s, d, sp, dp, (proto, mask)) in filters:
        sl, dl = range_to_prefix_lens(*sp), range_to_prefix_lens(*dp)
        for a in set(sl):
            for b in set(dl):
                tuples.add((s[2], d[2], a, b, mask == 0xFF))
        entries += len(sl) * len(dl)
    return len(tuples), entries


def classes_1d(intervals, space):
    """Distinct sets of intervals over [0, space): sweep with an XOR hash per interval."""
    rng = random.Random(7)
    events = {}
    for lo, hi in intervals:
        h = rng.getrandbits(64)
        events[lo] = events.get(lo, 0) ^ h
        if hi + 1 < space:
            events[hi + 1] = events.get(hi + 1, 0) ^ h
    seen, cur = set(), 0
    if 0 not in events:
        seen.add(0)
    for p in sorted(events):
        cur ^= events[p]
        seen.add(cur)
    return len(seen)


def classes_of_points(intervals, space):
    """For each elementary interval of [0, space): the bitset of intervals covering
    it, deduplicated; returns the list of distinct bitsets."""
    starts, ends = {}, {}
    for i, (lo, hi) in enumerate(intervals):
        starts.setdefault(lo, []).append(i)
        ends.setdefault(hi + 1, []).append(i)
    points = sorted(set(starts) | set(ends) | {0})
    cur, out = 0, set()
    for p in points:
        if p >= space:
            break
        for i in ends.get(p, ()):
            cur &= ~(1 << i)
        for i in starts.get(p, ()):
            cur |= 1 << i
        out.add(cur)
    return list(out)


def rfc(filters):
    src_hi = classes_1d([(s[0] >> 16, s[1] >> 16) for (s, *_ ) in filters], 1 << 16)
    src_lo = classes_1d([(s[0] & 0xFFFF, s[1] & 0xFFFF) if s[2] > 16 else (0, 0xFFFF) for (s, *_ ) in filters], 1 << 16)
    dst_hi = classes_1d([(d[0] >> 16, d[1] >> 16) for (_, d, *_ ) in filters], 1 << 16)
    dst_lo = classes_1d([(d[0] & 0xFFFF, d[1] & 0xFFFF) if d[2] > 16 else (0, 0xFFFF) for (_, d, *_ ) in filters], 1 << 16)
    src = classes_1d([(s[0], s[1]) for (s, *_ ) in filters], 1 << 32)
    dst = classes_1d([(d[0], d[1]) for (_, d, *_ ) in filters], 1 << 32)
    sports = classes_of_points([f[2] for f in filters], 1 << 16)
    dports = classes_of_points([f[3] for f in filters], 1 << 16)
    protos = classes_of_points([(p, p) if m == 0xFF else (0, 255) for (*_, (p, m)) in filters], 256)
    # Ports x protocol: the distinct intersections of one class of each.
    pp = set()
    for a in sports:
        for b in dports:
            ab = a & b
            if not ab:
                pp.add(0)
                continue
            for c in protos:
                pp.add(ab & c)
    phase1 = src_hi * src_lo + dst_hi * dst_lo + len(sports) * len(dports) * len(protos)
    final = src * dst * len(pp)
    return dict(src_hi=src_hi, src_lo=src_lo, dst_hi=dst_hi, dst_lo=dst_lo, src=src, dst=dst,
                sport=len(sports), dport=len(dports), proto=len(protos), ports_proto=len(pp),
                phase1=phase1, final=final)


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../shared/bench/classbench")
    print("| set | filters | TSS tuples (probes/packet) | TSS entries | RFC classes src / dst / ports+proto | RFC phase-1 entries (2 B each) | RFC phase-2 entries (2 B each) |")
    print("|---|---:|---:|---:|---|---:|---:|")
    for fam in ["acl1", "fw1", "ipc1"]:
        for size in ["1000", "10000", "100000"]:
            p = os.path.join(d, f"{fam}_{size}.rules")
            if not os.path.exists(p):
                continue
            fs = parse(p)
            t, e = tss(fs)
            r = rfc(fs)
            print(f"| {fam}_{size} | {len(fs):,} | {t:,} | {e:,} | {r['src']:,} / {r['dst']:,} / {r['ports_proto']:,} "
                  f"| {r['phase1']:,} ({r['phase1'] * 2 / 2**20:,.1f} MiB) | {r['final']:,} ({r['final'] * 2 / 2**30:,.1f} GiB) |", flush=True)


if __name__ == "__main__":
    main()
