//! The algebra's laws on random small boxes and points: intersection and subtraction
//! agree with membership, subtraction's boxes are disjoint, witnesses are members, and
//! the region operations built on them agree with membership too.

use proptest::prelude::*;

use super::*;

/// A value set of a dimension: mostly a few intervals among small values (so that
/// random boxes meet), sometimes the whole domain or its top.
fn values(d: Dim) -> impl Strategy<Value = ValueSet> {
    let max = d.max_value();
    prop_oneof![
        3 => proptest::collection::vec((0u128..8, 0u128..3), 1..4).prop_map(move |ivs| {
            ValueSet::from_intervals(ivs.into_iter().map(|(lo, n)| (lo.min(max), (lo + n).min(max))))
        }),
        1 => Just(ValueSet::full(max)),
        1 => (0u128..4).prop_map(move |n| ValueSet::range(max.saturating_sub(n), max)),
    ]
}

fn header_box() -> impl Strategy<Value = HeaderBox> {
    Dim::ALL.map(values).prop_map(|sets| {
        Dim::ALL
            .iter()
            .zip(sets)
            .fold(HeaderBox::full(), |b, (&d, s)| b.with(d, s))
    })
}

fn point() -> impl Strategy<Value = Point> {
    Dim::ALL
        .map(|d| {
            let max = d.max_value();
            prop_oneof![4 => 0u128..10, 1 => (0u128..4).prop_map(move |n| max.saturating_sub(n))]
                .prop_map(move |v| v.min(max))
        })
        .prop_map(Point)
}

fn region(max: usize) -> impl Strategy<Value = Region> {
    proptest::collection::vec(header_box(), 0..max).prop_map(|boxes| {
        // Disjoint by construction: each box minus the ones before it.
        let mut r = Region::empty();
        for b in boxes {
            r = r
                .union(&Region::from_box(b), usize::MAX, &mut 0)
                .expect("no cap");
        }
        r
    })
}

fn pairwise_disjoint(boxes: &[HeaderBox]) -> bool {
    boxes.iter().enumerate().all(|(i, a)| {
        boxes[i + 1..]
            .iter()
            .all(|b| a.intersect(b, &mut 0).is_none())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn intersection_is_membership_in_both(a in header_box(), b in header_box(), ps in proptest::collection::vec(point(), 32)) {
        let both = a.intersect(&b, &mut 0);
        for p in &ps {
            prop_assert_eq!(both.as_ref().is_some_and(|x| x.contains(p)), a.contains(p) && b.contains(p));
        }
        prop_assert_eq!(both.is_some(), a.overlaps(&b, &mut 0));
    }

    #[test]
    fn subtraction_is_membership_in_one_only(a in header_box(), b in header_box(), ps in proptest::collection::vec(point(), 32)) {
        let pieces = a.subtract(&b, &mut 0);
        prop_assert!(pieces.len() <= NDIMS);
        prop_assert!(pieces.iter().all(|x| !x.is_empty()));
        prop_assert!(pairwise_disjoint(&pieces));
        for p in &ps {
            let inside = pieces.iter().filter(|x| x.contains(p)).count();
            prop_assert_eq!(inside == 1, a.contains(p) && !b.contains(p));
            prop_assert!(inside <= 1);
        }
        prop_assert_eq!(pieces.is_empty(), b.covers(&a, &mut 0));
    }

    #[test]
    fn split_on_is_intersection_and_subtraction(a in header_box(), b in header_box()) {
        // Looking only at the dimensions `b` constrains gives what the full operations give.
        let dims = b.constrained_dims();
        prop_assert!(dims.windows(2).all(|w| w[0] < w[1]));
        prop_assert_eq!(a.overlaps_on(&b, &dims, &mut 0), a.overlaps(&b, &mut 0));
        let mut outside = Vec::new();
        match a.split_on(&b, &dims, &mut 0, &mut outside) {
            Some(inside) => {
                prop_assert_eq!(Some(inside), a.intersect(&b, &mut 0));
                prop_assert_eq!(outside, a.subtract(&b, &mut 0));
            }
            None => prop_assert!(!a.overlaps(&b, &mut 0) && outside.is_empty()),
        }
    }

    #[test]
    fn coalescing_keeps_the_points_in_fewer_boxes(a in header_box(), cuts in proptest::collection::vec(header_box(), 1..5), ps in proptest::collection::vec(point(), 32)) {
        // The slabs of a box cut by a few others agree on many dimensions.
        let mut pieces = Region::from_box(a);
        for c in cuts {
            pieces = pieces.subtract(&Region::from_box(c), usize::MAX, &mut 0).unwrap();
        }
        let pieces = pieces.into_boxes();
        let joined = HeaderBox::coalesce(pieces.clone(), &mut 0);
        prop_assert!(joined.len() <= pieces.len());
        prop_assert!(pairwise_disjoint(&joined));
        let holds = |bs: &[HeaderBox], p: &Point| bs.iter().any(|b| b.contains(p));
        let witnesses = pieces.iter().chain(&joined).filter_map(HeaderBox::witness);
        for p in ps.iter().cloned().chain(witnesses) {
            prop_assert_eq!(holds(&joined, &p), holds(&pieces, &p));
        }
        // No two boxes left agree on all dimensions but one.
        for (i, x) in joined.iter().enumerate() {
            for y in &joined[i + 1..] {
                let differ = Dim::ALL.iter().filter(|&&d| x.get(d) != y.get(d)).count();
                prop_assert!(differ > 1, "{x} and {y} could join");
            }
        }
    }

    #[test]
    fn witnesses_are_members(a in header_box()) {
        match a.witness() {
            Some(w) => prop_assert!(a.contains(&w)),
            None => prop_assert!(a.is_empty()),
        }
    }

    #[test]
    fn region_operations_are_membership(a in region(4), b in region(4), ps in proptest::collection::vec(point(), 32)) {
        let w = &mut 0;
        let both = a.intersect(&b, usize::MAX, w).unwrap();
        let only_a = a.subtract(&b, usize::MAX, w).unwrap();
        let either = a.union(&b, usize::MAX, w).unwrap();
        for r in [&a, &b, &both, &only_a, &either] {
            prop_assert!(pairwise_disjoint(r.boxes()));
            prop_assert!(r.witness().is_none_or(|p| r.contains(&p)));
        }
        for p in &ps {
            let (x, y) = (a.contains(p), b.contains(p));
            prop_assert_eq!(both.contains(p), x && y);
            prop_assert_eq!(only_a.contains(p), x && !y);
            prop_assert_eq!(either.contains(p), x || y);
        }
        prop_assert_eq!(a.covers(&b, usize::MAX, w).unwrap(), b.subtract(&a, usize::MAX, w).unwrap().is_empty());
        prop_assert_eq!(a.overlaps(&b, w), !both.is_empty());
    }
}

#[test]
fn the_cap_stops_fragmentation() {
    // The full box minus a point in every dimension: one piece per dimension.
    let mut point = HeaderBox::full();
    for d in Dim::ALL {
        point = point.with(d, ValueSet::single(1));
    }
    let full = Region::full();
    let cut = Region::from_box(point);
    let w = &mut 0;
    assert_eq!(full.subtract(&cut, NDIMS, w).unwrap().boxes().len(), NDIMS);
    assert_eq!(
        full.subtract(&cut, NDIMS - 1, w),
        Err(TooFragmented { boxes: NDIMS })
    );
    assert!(*w > 0);
}

#[test]
fn witnesses_prefer_readable_values() {
    let tcp_or_icmp = HeaderBox::full()
        .with(Dim::Frame, ValueSet::single(frame::V6))
        .with(Dim::Proto, ValueSet::from_intervals([(1, 1), (58, 58)]))
        .with(Dim::Dst6, ValueSet::range(1 << 100, 1 << 101));
    let p = tcp_or_icmp.witness().unwrap();
    assert_eq!(p[Dim::Proto], 58, "an IPv6 packet takes ICMPv6");
    assert_eq!(p[Dim::L4], l4::PRESENT);
    assert_eq!(p[Dim::Dst6], 1 << 100);
    assert_eq!(p.packet().to_string(), "icmpv6 :: -> 0:10:: type 0 code 0");
    let w = HeaderBox::full().witness().unwrap().packet();
    assert_eq!(w.to_string(), "tcp 0.0.0.0:0 -> 0.0.0.0:0 (socket none)");
}

#[test]
fn packets_print_in_the_test_syntax() {
    let mut p = HeaderBox::full().witness().unwrap();
    p[Dim::TcpFlags] = 0x12;
    p[Dim::Src4] = 0x0a00_0001;
    p[Dim::Dport] = 443;
    assert_eq!(
        p.packet().text().unwrap(),
        "tcp 10.0.0.1:0 -> 0.0.0.0:443 syn,ack"
    );
    p[Dim::L4] = l4::ABSENT;
    assert_eq!(
        p.packet().text().unwrap(),
        "tcp 10.0.0.1:0 -> 0.0.0.0:0 len 34"
    );
    // A length other than the packet's own is named.
    p[Dim::Length] = 1500;
    assert_eq!(
        p.packet().text().unwrap(),
        "tcp 10.0.0.1:0 -> 0.0.0.0:0 len 34 length 1500"
    );
    p[Dim::Proto] = 47;
    // (The 20 bytes of an IPv4 header with nothing after it: its own length.)
    p[Dim::Length] = 20;
    // A state other than the one the packet has without a conntrack entry is named,
    // and so is a routing class other than `local`.
    assert_eq!(
        p.packet().to_string(),
        "proto 47 10.0.0.1 -> 0.0.0.0 ct invalid"
    );
    p[Dim::Route] = route::value(crate::syntax::route::RouteClass::Forward);
    assert_eq!(
        p.packet().to_string(),
        "proto 47 10.0.0.1 -> 0.0.0.0 ct invalid route forward"
    );
    p[Dim::Ct] = p.ct_without_entry();
    p[Dim::Route] = route::LOCAL;
    assert_eq!(p.packet().to_string(), "proto 47 10.0.0.1 -> 0.0.0.0");
    p[Dim::Frame] = frame::V6;
    p[Dim::Proto] = 1;
    p[Dim::L4] = l4::PRESENT;
    p[Dim::IcmpType] = 3;
    p[Dim::Ct] = p.ct_without_entry();
    // Its own payload length: the 4 bytes of type, code and zeros.
    p[Dim::Length] = 4;
    assert_eq!(
        p.packet().text().unwrap(),
        "proto 1 :: -> :: payload 03000000"
    );
    p[Dim::Frame] = frame::NON_IP;
    p[Dim::EtherType] = 0x0806;
    assert_eq!(p.packet().to_string(), "arp 0.0.0.0 -> 0.0.0.0");
    p[Dim::EtherType] = 0x0800;
    p[Dim::Vlan] = 8;
    assert_eq!(
        p.packet().to_string(),
        "proto 0 0.0.0.0 -> 0.0.0.0 vlan 7 ether 0x0800 len 20"
    );
}

/// A region made of a filtered list keeps room for only the boxes that list may give
/// (every rule's region is kept through a diff: room for four boxes where one came was
/// most of a 100k-rule diff's memory), and for as many as came past a few.
#[test]
fn a_region_keeps_room_for_the_boxes_it_may_hold() {
    let one = HeaderBox::full().with(Dim::Proto, ValueSet::single(6));
    let parts = [
        one.clone(),
        HeaderBox::full().with(Dim::Proto, ValueSet::empty()),
    ];
    let region = Region::from_disjoint(parts.iter().filter_map(|b| b.intersect(&one, &mut 0)));
    assert_eq!(region.boxes(), std::slice::from_ref(&one));
    assert!(region.room() <= 2, "room for {} boxes", region.room());
    let many: Vec<HeaderBox> = (0..10u128)
        .map(|p| HeaderBox::full().with(Dim::Proto, ValueSet::single(p)))
        .collect();
    let region = Region::from_disjoint(many.iter().filter(|_| true).cloned());
    assert_eq!(region.boxes(), &many[..]);
}
