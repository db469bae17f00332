//! Kernel integration tests of how XDP and TCX hooks go on (`runtime/src/attach/xdp.rs`,
//! `dispatcher.rs`, `install/ready_hooks.rs`): an XDP hook runs a dispatcher whose
//! program-array slot holds the block's program, so a re-apply swaps the slot and the
//! interface keeps its dispatcher; a first install makes its XDP and TCX hooks ready
//! while the rest of its file compiles and its programs are verified (`apply
//! --timings` says so), and one that fails (a missing interface, a file over a kernel
//! limit) leaves nothing on the interface; an XDP link that runs its program directly (what an
//! older sockc attached) is still read back, swapped and flushed. Each test builds its
//! own namespaces (`tests/netns`); they need root and skip otherwise.

use crate::common;
use crate::netns;

use std::{
    os::fd::{AsFd, AsRawFd},
    path::Path,
};

use netns::{in_netns, sockc, Lab};
use serde_json::Value;
use sockc_runtime::sys;

/// The hooks of `status --json` as (hook, prog_id, state).
fn hooks(status: &Value) -> Vec<(String, u64, String)> {
    status["hooks"]
        .as_array()
        .expect("hooks")
        .iter()
        .map(|h| {
            (
                h["hook"].as_str().unwrap().to_string(),
                h["prog_id"].as_u64().unwrap(),
                h["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn prog_of(status: &Value, hook: &str) -> u32 {
    hooks(status)
        .into_iter()
        .find(|(h, _, _)| h == hook)
        .unwrap_or_else(|| panic!("no {hook} hook: {status:#}"))
        .1 as u32
}

/// What `bpftool net show dev IF` lists on A's interface (XDP and TCX programs).
fn net_show(lab: &Lab) -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &lab.ns_a, "bpftool", "net", "show", "dev"])
        .arg(&lab.if_a)
        .output()
        .expect("bpftool");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_first_install_makes_its_hooks_ready_ahead_and_xdp_swaps_its_slot() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("rdyahd", 120);
    let a = &lab.if_a;
    let rules = |xdp_port: u16, tc_port: u16| {
        format!(
            "xdp on {a} {{\n  drop udp to *:{xdp_port}\n  default allow\n}}\n\
             tc ingress on {a} {{\n  drop udp to *:{tc_port}\n  default allow\n}}\n"
        )
    };
    let gen1 = lab.rules("1.sk", &rules(9001, 9002));
    let gen2 = lab.rules("2.sk", &rules(9003, 9002));

    let r = lab.apply(&gen1, &["--timings"]).ok();
    for hook in ["xdp", "tc ingress"] {
        let said = format!("attach {hook} on {a} (made ready ahead)");
        assert!(r.stderr.contains(&said), "{said}:\n{r}");
    }
    lab.expect_verdicts(
        "generation 1",
        &[(9001, false), (9002, false), (9003, true)],
    );
    let s1 = lab.status_attached();
    let prog1 = prog_of(&s1, "xdp");
    let dispatcher = lab
        .xdp_attached_id()
        .expect("an XDP program on the interface");
    assert_ne!(dispatcher, prog1, "the interface runs a dispatcher");
    assert_eq!(lab.xdp_prog_id(), Some(prog1), "its slot holds the program");
    assert!(
        lab.pins()
            .iter()
            .any(|p| p.starts_with(&format!("link_xdp_{}_slot", a.replace('-', "_")))),
        "the slot is pinned beside the link: {:#?}",
        lab.pins()
    );

    // A changed XDP rule: the slot gets the new program, the dispatcher stays.
    let r = lab.apply(&gen2, &["--timings"]).ok();
    assert!(r.stdout.contains("generation 2 applied"), "{r}");
    assert!(r.stderr.contains(&format!("swap xdp on {a}")), "{r}");
    lab.expect_verdicts(
        "generation 2",
        &[(9001, true), (9002, false), (9003, false)],
    );
    let s2 = lab.status_attached();
    let prog2 = prog_of(&s2, "xdp");
    assert_ne!(prog2, prog1);
    assert_eq!(
        lab.xdp_attached_id(),
        Some(dispatcher),
        "the same dispatcher"
    );
    assert_eq!(
        lab.xdp_prog_id(),
        Some(prog2),
        "the slot holds the new program"
    );

    // Another program in the slot is drift, and an apply of the same file repairs it.
    let slot = lab
        .pin_dir()
        .join(format!("link_xdp_{}_slot", a.replace('-', "_")));
    let stranger = netns::xdp_drop_all();
    let array = sys::obj_get(&slot).expect("slot pin");
    let value = (stranger.as_raw_fd() as u32).to_ne_bytes();
    sys::map_update(array.as_fd(), &0u32.to_ne_bytes(), &value, 0).expect("slot update");
    let (run, st) = lab.status_run(&[]);
    assert_eq!(run.code, 3, "{run}");
    let drift = st.expect("listed")["drift"].to_string();
    assert!(drift.contains("link runs program"), "{drift}");
    lab.apply_ok(&gen2);
    assert_eq!(
        lab.xdp_prog_id(),
        Some(prog2),
        "repaired: {}",
        net_show(&lab)
    );
    lab.expect_verdicts("repaired", &[(9001, true), (9002, false), (9003, false)]);

    sockc(&["flush", "--name", &lab.name]).ok();
    assert_eq!(lab.xdp_attached_id(), None, "{}", lab.link_a());
    let shown = net_show(&lab);
    assert!(!shown.contains("tcx/ingress"), "{shown}");
    assert!(!lab.pin_dir().exists(), "{:#?}", lab.pins());
}

#[test]
fn a_failed_first_install_leaves_no_hook_made_ready() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("rdyfail", 121);
    let a = &lab.if_a;
    // The XDP hook is made ready; the second block's interface does not exist, which
    // the apply finds after it started making hooks ready.
    let file = lab.rules(
        "x.sk",
        &format!(
            "xdp on {a} {{\n  drop udp to *:9001\n  default allow\n}}\n\
             tc ingress on nosuch0 {{\n  default allow\n}}\n"
        ),
    );
    let r = lab.apply(&file, &[]);
    assert_ne!(r.code, 0, "{r}");
    assert!(r.stderr.contains("nosuch0"), "{r}");
    assert_eq!(lab.xdp_attached_id(), None, "{}", lab.link_a());
    assert!(!net_show(&lab).contains("tcx"), "{}", net_show(&lab));
    lab.expect_verdicts("nothing installed", &[(9001, true)]);
    let (run, _) = lab.status_run(&[]);
    assert!(
        run.stderr.contains("nothing is installed") || run.code == 0,
        "{run}"
    );
}

#[test]
fn a_file_refused_after_sema_leaves_no_hook_made_ready() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("rdylimit", 123);
    let a = &lab.if_a;
    // Through sema (so its hooks are made ready while the rest compiles), then
    // refused by the driver: 20,000 overlapping count rules are over a kernel limit.
    let counts = "    count tcp\n".repeat(20_000);
    let file = lab.rules(
        "x.sk",
        &format!(
            "xdp on {a} {{\n{counts}    default allow\n}}\n\
             tc ingress on {a} {{\n  drop udp to *:9001\n  default allow\n}}\n"
        ),
    );
    let r = lab.apply(&file, &["--timings"]);
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("sockc::kernel-limit"), "{r}");
    assert_eq!(lab.xdp_attached_id(), None, "{}", lab.link_a());
    assert!(!net_show(&lab).contains("tcx"), "{}", net_show(&lab));
    lab.expect_verdicts("nothing installed", &[(9001, true)]);
    assert!(!lab.pin_dir().exists(), "{:#?}", lab.pins());
}

/// Replaces the dispatcher of install `lab.name`'s XDP hook with a link that runs the
/// pinned program directly, pinned where the dispatcher's link was: an XDP hook as an
/// older sockc attached it.
fn make_direct(lab: &Lab, symbol: &str, generation: &str) {
    let dir = lab.pin_dir();
    let link_pin = dir.join(format!("link_{symbol}"));
    let slot_pin = dir.join(format!("link_{symbol}_slot"));
    let prog_pin = dir.join(generation).join(format!("prog_{symbol}"));
    let link = sys::obj_get(&link_pin).expect("the dispatcher's link");
    sys::link_detach(link.as_fd()).expect("detach");
    drop(link);
    std::fs::remove_file(&link_pin).unwrap();
    std::fs::remove_file(&slot_pin).unwrap();
    let iface = lab.if_a.clone();
    let link_pin2 = link_pin.clone();
    in_netns(&lab.ns_a, move || {
        let prog = sys::obj_get(&prog_pin).expect("program pin");
        let c = std::ffi::CString::new(iface).unwrap();
        // SAFETY: if_nametoindex reads a NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(c.as_ptr()) };
        let xdp = aya_obj::generated::bpf_attach_type::BPF_XDP as u32;
        // The interface's link may still be going (released from a work queue).
        let mut tries = 0;
        let link = loop {
            match sys::link_create_on_interface(prog.as_fd(), ifindex, xdp, 0) {
                Ok(l) => break l,
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => panic!("direct XDP link: {e}"),
            }
        };
        sys::obj_pin(link.as_fd(), Path::new(&link_pin2)).expect("pin");
    });
}

#[test]
fn an_older_sockcs_direct_xdp_link_is_read_back_swapped_and_flushed() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("legxdp", 122);
    let a = &lab.if_a;
    let gen1 = lab.rules(
        "1.sk",
        &format!("xdp on {a} {{\n  drop udp to *:9001\n  default allow\n}}\n"),
    );
    let gen2 = lab.rules(
        "2.sk",
        &format!("xdp on {a} {{\n  drop udp to *:9002\n  default allow\n}}\n"),
    );
    lab.apply_ok(&gen1);
    let s1 = lab.status_attached();
    let symbol = s1["hooks"][0]["symbol"].as_str().unwrap().to_string();
    let prog1 = prog_of(&s1, "xdp");
    make_direct(&lab, &symbol, "g1");
    assert_eq!(lab.xdp_attached_id(), Some(prog1), "a direct link");
    assert_eq!(
        lab.status_attached()["generation"],
        1,
        "read back as attached"
    );
    lab.expect_verdicts("direct", &[(9001, false), (9002, true)]);

    // A re-apply swaps the direct link's program, as an older sockc did.
    lab.apply_ok(&gen2);
    let prog2 = prog_of(&lab.status_attached(), "xdp");
    assert_eq!(
        lab.xdp_attached_id(),
        Some(prog2),
        "swapped in place: {}",
        lab.link_a()
    );
    lab.expect_verdicts("direct, swapped", &[(9001, true), (9002, false)]);

    sockc(&["flush", "--name", &lab.name]).ok();
    assert_eq!(lab.xdp_attached_id(), None, "{}", lab.link_a());
    lab.expect_verdicts("flushed", &[(9001, true), (9002, true)]);
}
