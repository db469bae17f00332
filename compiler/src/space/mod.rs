//! The header space: every per-packet input a rule can test as a dimension, rules as
//! regions of it, and the set algebra on regions that the anomaly search, the
//! semantic diff and example-packet generation share.
//!
//! # The algebra
//!
//! A *dimension* ([`Dim`], described as data in [`DIMS`]) is one input with the domain
//! `0..=max`: the frame kind (non-IP, IPv4, IPv6), the IP protocol, whether the
//! transport header is complete, the IPv4 and IPv6 source and destination addresses
//! (four dimensions: an IPv4 address is a number below 2^32), the ports, the TCP
//! flags (the 8 bits as one number, so `syn !ack` is the set of numbers with bit 1
//! set and bit 4 clear), the ICMP type and code, what a socket lookup finds, whether
//! the packet is a fragment, its conntrack state, its routing class, the devices it
//! came in on and goes out of, and which `limit` buckets have no room for it (the
//! last five: facts from outside the frame, which `sockc test` takes as `ct STATE`,
//! `route CLASS`, `in NAME`, `out NAME` and `over-limit:SPEC`).
//! A *point* ([`Point`]) is one value per dimension; a *value set* ([`ValueSet`]) a
//! sorted list of disjoint, non-adjacent inclusive intervals; a *box*
//! ([`HeaderBox`]) the product of one value set per dimension; a *region*
//! ([`Region`]) a finite union of pairwise disjoint, non-empty boxes.
//!
//! Operations: per value set, intersection, subtraction, union, covering and overlap
//! by merging interval lists; per box, intersection and covering/overlap dimension
//! by dimension, and `A \ B` as at most one box per dimension (the part of `A` that
//! agrees with `B` on the dimensions before `d` and leaves it on `d`); per region,
//! the same built on boxes, plus a witness: one point of a box, taking readable values
//! (the lowest address or port, TCP before other protocols), printable as a
//! `sockc test` packet ([`Packet`]).
//!
//! # Points are packets
//!
//! Not every dimension means something for every packet: ports only for a complete
//! TCP or UDP header, IPv6 addresses only for IPv6, and so on ([`DimSpec::relevant`]).
//! A packet is the set of points that agree with it where it is relevant, whatever
//! they hold elsewhere; a box stands for packets only if it constrains a dimension
//! only where that dimension is relevant (it is *closed* under the irrelevant
//! coordinates). Boxes made from rules ([`rule_region`]) are closed by construction
//! (a port match also restricts the protocol and the transport header), intersection
//! keeps them closed, and so does subtraction, because relevance reads only earlier
//! dimensions and `A \ B` splits in dimension order. For closed boxes, disjoint boxes
//! hold disjoint packets, an empty box holds none, and every point of a box (its
//! witness too) is a packet the box holds.
//!
//! # Invariants
//!
//! * A value set's intervals are sorted, disjoint and non-adjacent, within the
//!   dimension's domain.
//! * A region's boxes are non-empty and pairwise disjoint.
//! * A box's witness is in the box; a region's is in the region.
//! * [`rule_region`] holds exactly the packets the rule matches as the reference
//!   evaluator (`sockc_testkit::eval`) reads them, in both directions; the factored
//!   [`MatchShape`] comparisons answer exactly what the region operations answer.
//!
//! # Cost
//!
//! Every operation adds what it walks to a `work` counter the caller keeps (saturating
//! `u32`): value-set operations one unit per interval merged (a list of at most
//! [`set::SMALL`] intervals is looked up by binary search instead, one unit per
//! interval), box operations the sum over the dimensions they look at (those where
//! either box is not whole), region operations the sum
//! over the pairs of boxes they compare. Intersection of regions of `n` and `m` boxes
//! makes at most `n · m` boxes. Subtraction fragments: a box minus a box is at most
//! [`NDIMS`] boxes (one per dimension where the subtrahend cuts), so a region of `n`
//! boxes minus `m` boxes can reach `n · NDIMS^m` boxes in the worst case (in practice
//! far fewer: rules constrain a few dimensions each). Every fragmenting operation
//! takes the most boxes its result may have and stops with [`TooFragmented`] past
//! it; the caller decides what a cut-short answer means.
//!
//! # Files
//!
//! * `dims.rs`: the dimension table and points.
//! * `dev.rs`: device names as numbers (a name or prefix match is an interval).
//! * `set.rs`: interval lists (generic slices, and [`ValueSet`]).
//! * `header_box.rs`: boxes (storing only the dimensions they constrain) and their
//!   witnesses.
//! * `region.rs`: regions.
//! * `shape.rs`: rules as regions ([`rule_region`]), the factored form of a match and
//!   its allocation-free comparisons ([`MatchShape`], the anomaly search's fast path),
//!   and what each hook sees ([`hook_universe`]).
//! * `witness.rs`: a point as a packet, in `sockc test` syntax.
//! * `tests.rs`: the algebra's properties on random boxes and rules
//!   (`compiler/tests/compiler/space.rs` checks [`rule_region`] against the evaluator).

pub mod dev;
mod dims;
mod header_box;
mod region;
pub mod set;
mod shape;
mod witness;

pub use dims::{
    ct, ct_status, frame, l4, over, route, socket, vlan, Dim, DimSpec, Point, DIMS, NDIMS,
};
pub use header_box::{dims_of, HeaderBox};
pub use region::{Region, TooFragmented};
pub use set::{Iv, ValueSet};
pub use shape::{
    cond_box, family_width, hook_universe, limit_box, never_a_packet, packets_of, prefix_interval,
    rule_region, Addr, AddrSets, MatchShape, Protos,
};
pub use witness::{packet_word, IpPacket, Packet, Transport};

#[cfg(test)]
mod tests;
