use super::*;

fn ivs(r: &[(u128, u128)]) -> Ivs {
    Ivs::from_ranges(r.to_vec())
}

#[test]
fn interval_sets_normalize_and_complement() {
    assert_eq!(ivs(&[(5, 9), (1, 3), (4, 4)]).ranges(), &[(1, 9)]);
    assert_eq!(
        ivs(&[(1, 3), (7, 9)]).complement_within(0, 10).ranges(),
        &[(0, 0), (4, 6), (10, 10)]
    );
    assert_eq!(
        Ivs::range(0, u128::MAX)
            .complement_within(0, u128::MAX)
            .ranges(),
        &[]
    );
    assert_eq!(
        Ivs::single(u128::MAX)
            .complement_within(0, u128::MAX)
            .ranges(),
        &[(0, u128::MAX - 1)]
    );
    assert_eq!(
        ivs(&[(1, 10)]).subtract(&ivs(&[(3, 4), (8, 20)])).ranges(),
        &[(1, 2), (5, 7)]
    );
    assert!(ivs(&[(3, 4)]).is_subset(&ivs(&[(1, 10)])));
    assert!(!ivs(&[(3, 11)]).is_subset(&ivs(&[(1, 10)])));
    assert!(ivs(&[(1, 3), (7, 9)]).contains(8) && !ivs(&[(1, 3), (7, 9)]).contains(5));
}

#[test]
fn masked_bytes_are_the_flag_values() {
    // SYN set, ACK clear
    let s = Ivs::masked_byte(0x12, 0x02);
    assert_eq!(s.count(), 64);
    assert!(s.contains(0x02) && s.contains(0x03) && !s.contains(0x12));
}

/// Counts, by brute force over a small space, the points of (family, proto, port)
/// each cube admits, to check subtraction against set difference.
fn points(c: &Cube) -> Vec<(u128, u128, u128)> {
    let mut v = Vec::new();
    for f in [4u128, 6] {
        for p in [6u128, 17, 1] {
            for port in [21u128, 22, 23, 80] {
                let ok = c.get(Dim::Family).is_none_or(|s| s.contains(f))
                    && c.get(Dim::Proto).is_none_or(|s| s.contains(p))
                    && c.get(Dim::DstPort).is_none_or(|s| s.contains(port));
                if ok {
                    v.push((f, p, port));
                }
            }
        }
    }
    v
}

#[test]
fn subtraction_is_set_difference_and_disjoint() {
    let a = Cube::all().with(Dim::Family, &Ivs::single(4)).unwrap();
    let b = Cube::all()
        .with(Dim::Proto, &Ivs::single(6))
        .unwrap()
        .with(Dim::DstPort, &Ivs::single(22))
        .unwrap();
    let pieces = a.subtract(&b);
    let mut got: Vec<_> = pieces.iter().flat_map(points).collect();
    let n = got.len();
    got.sort();
    got.dedup();
    assert_eq!(n, got.len(), "pieces overlap");
    let mut want: Vec<_> = points(&a)
        .into_iter()
        .filter(|p| !points(&b).contains(p))
        .collect();
    want.sort();
    assert_eq!(got, want);
    // ports are only ever constrained together with a protocol that has them
    for p in &pieces {
        if p.get(Dim::DstPort).is_some() {
            assert_eq!(p.get(Dim::Proto), Some(&Ivs::single(6)));
        }
    }
}

#[test]
fn atoms_split_and_conflict() {
    let a = Cube::all();
    let b = Cube::all()
        .with_atom(3, true)
        .unwrap()
        .with(Dim::Proto, &Ivs::single(6))
        .unwrap();
    let pieces = a.subtract(&b);
    assert_eq!(pieces.len(), 2);
    assert!(pieces.iter().any(|p| p.atom(3) == Some(false)));
    assert!(Cube::all()
        .with_atom(1, true)
        .unwrap()
        .with_atom(1, false)
        .is_none());
    assert!(b.is_subset(&Cube::all().with_atom(3, true).unwrap()));
    let u = disjoint_union(
        vec![
            b.clone(),
            Cube::all().with(Dim::Proto, &Ivs::single(6)).unwrap(),
        ],
        10,
    )
    .unwrap();
    assert_eq!(u.len(), 2);
    assert!(!u[0].intersects(&u[1]));
}

#[test]
fn with_full_range_is_no_constraint_after_subtract() {
    let a = Cube::all()
        .with(Dim::DstPort, &Ivs::range(0, 65535))
        .unwrap();
    assert!(Cube::all().is_subset(&a) || a.get(Dim::DstPort).is_some());
    let none = Cube::all().with(Dim::DstPort, &Ivs::empty());
    assert!(none.is_none());
}
