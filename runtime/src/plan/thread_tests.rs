//! A plan's rule diff made on a thread of its own is the plan made on one, and a
//! plan of many rules takes that thread even where the apply keeps to its own.

use super::{tests::program_of, *};

/// One program of `texts` as its rules and a default, for plans of many rules
/// without compiling them.
fn one_program(texts: &[String]) -> Snapshot {
    let mut texts = texts.to_vec();
    texts.push("default allow".into());
    Snapshot {
        programs: vec![ProgramSnapshot {
            asm: "0: (b7) r0 = 2\n1: (95) exit\n".into(),
            ..program_of(&texts)
        }],
        ..Snapshot::default()
    }
}

/// A plan whose rule diff is made on a thread of its own is the plan made on one:
/// rules added, removed, changed and moved in 6,000 rules, of distinct texts and of
/// few (the alignments anchor, fill gaps, replace and compact), with the threshold
/// below and above them.
#[test]
fn a_plan_made_on_two_threads_is_the_plan_made_on_one() {
    for distinct in [700, 6_000] {
        let old: Vec<String> = (0..6_000)
            .map(|i| format!("drop tcp to *:{}", 1000 + i % distinct))
            .collect();
        let mut new = old.clone();
        new.insert(17, "drop udp to *:53".into());
        new.remove(2_500);
        new[4_000] = "drop tcp to *:9".into();
        let moved = new.remove(100);
        new.insert(5_000, moved);
        let (old, new) = (one_program(&old), one_program(&new));
        for installed in [None, Some(&old)] {
            let one = plan_with(installed, &new, usize::MAX);
            let two = plan_with(installed, &new, 0);
            assert_eq!(one, two);
            assert_eq!(one.to_json(), two.to_json());
            assert_eq!(plan(installed, &new), one);
            assert!(!one.rule_diff.is_empty());
        }
        let p = plan_with(Some(&old), &new, 0);
        assert!(p.counter_carry.len() > 10, "{distinct}");
    }
}

/// `beside` runs its first task on a thread of its own when asked, its second on the
/// caller's, and gives each task's answer in its place either way.
#[test]
fn beside_runs_the_first_task_on_its_own_thread() {
    let here = std::thread::current().id();
    let on = || std::thread::current().id();
    let (a, b) = beside(true, on, on);
    assert_ne!(a, here);
    assert_eq!(b, here);
    assert_eq!(beside(false, on, on), (here, here));
    assert_eq!(beside(true, || 1, || "two"), (1, "two"));
}

/// Review h65: on a thread that keeps its work to itself (a small file's `apply`,
/// `beside::keep_to_this_thread`), a plan of many rules still makes its rule diff on
/// a thread of its own: the rules counted are the installed generation's too, which
/// the small file says nothing of (100,000 installed rules replaced with 1,000
/// planned 43 ms in turn, 26 ms beside).
#[test]
fn a_plan_of_many_rules_takes_a_thread_where_the_apply_keeps_to_itself() {
    std::thread::spawn(|| {
        sockc_compiler::beside::keep_to_this_thread();
        let here = std::thread::current().id();
        let on = || std::thread::current().id();
        let (a, b) = beside(true, on, on);
        assert_ne!(a, here, "the rule diff ran in turn");
        assert_eq!(b, here);
        assert_eq!(beside(false, on, on), (here, here));
    })
    .join()
    .unwrap();
}
