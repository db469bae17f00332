//! An attacker's review of a hook whose slot another program took (issue 47, items 4
//! and 8): with a program of somebody else's in the XDP dispatcher's slot — which
//! `status`, `show`, `stats` and `apply --dry-run` all report —, `diff --installed`
//! said "no packet changes its verdict" and exited 0, and `flush` said "0 hooks
//! detached" although it took the XDP link off the interface.
//!
//! What is checked: `diff --installed` (text and `--json`) names the hook and what it
//! runs as drift, in the words `apply --dry-run` uses for it, and exits 3, and says
//! nothing of the kind for a hook the new file drops; `flush` counts the hook it took
//! off, whether another program or nothing was in its slot, at XDP and at a netfilter
//! hook (whose links, held open by another process, must still stop filtering). Makes
//! its own namespaces (`tests/netns`) and removes them. Root only; skipped otherwise.

use crate::common;
use crate::netns;

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use netns::{sockc, Lab};
use sockc_runtime::sys;

/// The pin of the lab's XDP dispatcher's link.
fn link_pin(lab: &Lab) -> std::path::PathBuf {
    lab.pin_dir()
        .join(format!("link_xdp_{}", lab.if_a.replace('-', "_")))
}

/// The program array of the lab's XDP dispatcher, opened from its pin.
fn slot_array(lab: &Lab) -> OwnedFd {
    let mut slot = link_pin(lab).into_os_string();
    slot.push("_slot");
    sys::obj_get(std::path::Path::new(&slot)).expect("the slot's pin")
}

/// Puts `prog` into the slot of the lab's XDP dispatcher, behind sockc's back.
fn take_the_slot(lab: &Lab, prog: &OwnedFd) {
    let value = (prog.as_raw_fd() as u32).to_ne_bytes();
    sys::map_update(slot_array(lab).as_fd(), &0u32.to_ne_bytes(), &value, 0).expect("slot update");
}

/// A lab whose install runs `drop udp to *:9002` at XDP on A's veth; its rule file.
fn installed(tag: &str, subnet: u8) -> (Lab, std::path::PathBuf) {
    let lab = Lab::new(tag, subnet);
    let xdp = format!(
        "xdp on {} {{\n    drop udp to *:9002\n    default allow\n}}\n",
        lab.if_a
    );
    let file = lab.rules("rules.sk", &xdp);
    lab.apply_ok(&file);
    (lab, file)
}

/// Item 4: `diff --installed` checks the hooks as `apply --dry-run` does.
#[test]
fn diff_installed_calls_a_foreign_program_in_the_slot_drift() {
    if !common::kernel() {
        return;
    }
    let (lab, file) = installed("fsdiff", 86);
    let path = file.to_str().expect("UTF-8");
    let diff = |extra: &[&str]| {
        let mut args = vec!["diff", "--installed", &lab.name, path];
        args.extend_from_slice(extra);
        sockc(&args)
    };
    let r = diff(&[]).ok();
    assert!(!r.stdout.contains("drift"), "{r}");

    let foreign = netns::xdp_drop_all();
    take_the_slot(&lab, &foreign);
    let r = diff(&[]).expect_code(3);
    let hook = format!("drift: xdp on {}: link runs program", lab.if_a);
    assert!(r.stdout.contains(&hook), "{r}");
    // The same hook, in the same words, as `apply --dry-run` finds it.
    let dry = lab.apply(&file, &["--dry-run"]).ok();
    let again = format!("would attach again xdp on {}: link runs program", lab.if_a);
    let line = |out: &str, prefix: &str| {
        out.lines()
            .find(|l| l.starts_with(prefix))
            .map(|l| l[prefix.len()..].to_string())
    };
    let said = line(&dry.stdout, "would attach again ");
    assert!(dry.stdout.contains(&again), "{dry}");
    assert_eq!(line(&r.stdout, "drift: "), said, "{r}\n{dry}");
    assert!(
        r.stderr.contains("does not run what its records say"),
        "{r}"
    );
    let r = diff(&["--json"]).expect_code(3);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    let state = v["drift"][0]["state"].as_str().unwrap_or_default();
    assert!(state.starts_with("link runs program"), "{v:#}");
    common::schema::Schemas::load().validate("diff", &v);

    // A file without the XDP block takes the hook off whatever it runs: no drift.
    let tc = format!("tc ingress on {} {{\n    default allow\n}}\n", lab.if_a);
    let other = lab.rules("other.sk", &tc);
    let r = sockc(&["diff", "--installed", &lab.name, other.to_str().unwrap()]);
    assert!(!r.stdout.contains("drift") && r.code != 3, "{r}");
}

/// Item 8: `flush` counts the hook it took off, whatever ran in its slot.
#[test]
fn flush_counts_a_hook_whose_slot_a_foreign_program_took() {
    if !common::kernel() {
        return;
    }
    let (lab, _) = installed("fsflush", 87);
    let foreign = netns::xdp_drop_all();
    take_the_slot(&lab, &foreign);
    assert!(lab.xdp_attached_id().is_some(), "{}", lab.link_a());
    // Held open here, the link outlives its pin: only a detach takes it off, as the
    // kernel frees a link whose last pin went only some time after the flush returned
    // (the flush once left it attached, and this test passed when the kernel was quick).
    let link = link_pin(&lab);
    let held = sys::obj_get(&link).expect("the link's pin");
    let r = sockc(&["flush", "--name", &lab.name, "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(v["detached"], 1, "{r}");
    assert_eq!(lab.xdp_attached_id(), None, "taken off: {}", lab.link_a());
    drop(held);
}

/// Item 8, the slot emptied instead: the dispatcher's link stays on the interface
/// (letting everything through) until the flush takes it off, which it counts, in
/// the text as in `--json`.
#[test]
fn flush_counts_a_hook_whose_slot_was_emptied() {
    if !common::kernel() {
        return;
    }
    let (lab, _) = installed("fsempty", 90);
    sys::map_delete(slot_array(&lab).as_fd(), &0u32.to_ne_bytes()).expect("empty the slot");
    assert!(lab.xdp_attached_id().is_some(), "{}", lab.link_a());
    let r = sockc(&["flush", "--name", &lab.name]).ok();
    assert!(r.stdout.contains("(1 hooks detached)"), "{r}");
    assert_eq!(lab.xdp_attached_id(), None, "taken off: {}", lab.link_a());
}

/// A netfilter program that drops everything (`r0 = NF_DROP; exit`): somebody else's
/// program, to put into the slot of sockc's netfilter dispatcher.
fn nf_drop_all() -> OwnedFd {
    use aya_obj::generated::{
        bpf_attach_type::BPF_NETFILTER, bpf_prog_type::BPF_PROG_TYPE_NETFILTER,
    };
    netns::stranger(BPF_PROG_TYPE_NETFILTER, BPF_NETFILTER, "stranger", 0)
}

/// The netfilter twin of [`flush_counts_a_hook_whose_slot_a_foreign_program_took`]:
/// the dispatcher's two links (IPv4, IPv6) come off at the flush although another
/// program runs in their slot, and the packets say so — with both links held open
/// here, a flush that only removed their pins would leave the stranger dropping
/// everything (the kernel keeps no list of netfilter hooks to look at instead).
#[test]
fn flush_takes_off_a_netfilter_hook_whose_slot_a_foreign_program_took() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("fsnf", 19);
    let nf = "netfilter input {\n    drop udp to *:9002\n    default allow\n}\n";
    lab.apply_ok(&lab.rules("rules.sk", nf));
    lab.expect_verdicts("applied", &[(9001, true), (9002, false)]);

    let link = std::fs::read_dir(lab.pin_dir())
        .expect("the install's pins")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("link_") && name.ends_with("_slot")
        })
        .expect("the netfilter dispatcher's slot");
    let slot = sys::obj_get(&link).expect("the slot's pin");
    let foreign = nf_drop_all();
    let value = (foreign.as_raw_fd() as u32).to_ne_bytes();
    sys::map_update(slot.as_fd(), &0u32.to_ne_bytes(), &value, 0).expect("slot update");
    lab.expect_verdicts("slot taken", &[(9001, false), (9002, false)]);

    let base = link.to_string_lossy().trim_end_matches("_slot").to_string();
    let held: Vec<OwnedFd> = [base.clone(), format!("{base}_ip6")]
        .iter()
        .map(|p| sys::obj_get(std::path::Path::new(p)).expect("a link's pin"))
        .collect();
    let r = sockc(&["flush", "--name", &lab.name, "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(v["detached"], 1, "{r}");
    lab.expect_verdicts("flushed", &[(9001, true), (9002, true)]);
    drop(held);
}
