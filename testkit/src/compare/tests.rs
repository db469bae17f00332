use super::*;
use crate::{
    eval::{evaluate, Facts},
    packet::parse_packet,
};

/// The comparison is what makes `sockc test` and the differential tests worth
/// trusting: feed it kernel answers that differ in the verdict, in the deciding
/// counter, in a passed `count` rule and in the bytes, and check each is caught and
/// named.
#[test]
fn compare_catches_every_kind_of_difference() {
    let src = "set web = { 80, 443 }\nxdp on eth0 {\ncount tcp to *:@web\n\
               drop tcp to *:22\ndefault allow\n}\n";
    let c = sockc_compiler::compile(src, &Default::default()).0.unwrap();
    let prog = c.module.programs.values().next().unwrap();
    let frame = parse_packet("tcp 1.1.1.1:1 -> 2.2.2.2:443")
        .unwrap()
        .build();
    let e = evaluate(&c.module, prog, &frame, &Facts::default());
    let len = frame.len() as u64;
    let (count_slot, default_slot) = (prog.rules[0].counter, prog.default_counter);
    let agree = KernelRun {
        retval: 2,
        moved: [(count_slot, (1, len)), (default_slot, (1, len))].into(),
        answers_limited: [0; 2],
    };
    assert_eq!(compare(prog, &e, &agree, frame.len()), None);

    let wrong_verdict = KernelRun {
        retval: 1,
        ..agree.clone()
    };
    let msg = compare(prog, &e, &wrong_verdict, frame.len()).unwrap();
    assert!(
        msg.contains("returned 1 (drop), the evaluator says allow"),
        "{msg}"
    );

    let wrong_rule = KernelRun {
        moved: [(count_slot, (1, len)), (prog.rules[1].counter, (1, len))].into(),
        ..agree.clone()
    };
    let msg = compare(prog, &e, &wrong_rule, frame.len()).unwrap();
    assert!(msg.contains("line 4 (+1 pkt"), "{msg}");

    let missed_count = KernelRun {
        moved: [(default_slot, (1, len))].into(),
        ..agree.clone()
    };
    assert!(compare(prog, &e, &missed_count, frame.len()).is_some());

    let wrong_bytes = KernelRun {
        moved: [(count_slot, (1, len)), (default_slot, (1, len - 1))].into(),
        ..agree.clone()
    };
    assert!(compare(prog, &e, &wrong_bytes, frame.len()).is_some());
    // An answer refused by the limits that the evaluator does not expect.
    let limited = KernelRun {
        answers_limited: [1, 0],
        ..agree.clone()
    };
    let msg = compare(prog, &e, &limited, frame.len()).unwrap();
    assert!(msg.contains("answer limits"), "{msg}");
}

#[test]
fn moves_are_the_slots_that_changed_with_their_gains() {
    let before = [(1, 100), (5, 500), (0, 0)];
    let after = [(1, 100), (7, 620), (1, 60)];
    assert_eq!(
        moved_between(&before, &after),
        Moves::from([(1, (2, 120)), (2, (1, 60))])
    );
}
