//! Programs carry the install and the hook in their kernel names (`bpftool prog
//! show`): `HOOKTAG.INSTALL`, cut at the kernel's 15 bytes, read back here through
//! `BPF_OBJ_GET_INFO_BY_FD`; programs loaded outside an install keep their symbol.

use std::os::fd::AsFd;

use sockc_runtime::{sys, LoadOptions, LoadedObject};

use crate::common;

use common::kernel;

const RULES: &str = "xdp on eth0 {\n    drop tcp to *:22\n    default allow\n}\n\
                     tc egress on eth0 {\n    default allow\n}\n";

fn elf() -> Vec<u8> {
    let (c, d) = sockc_compiler::compile(RULES, &Default::default());
    c.unwrap_or_else(|| panic!("{d:?}")).to_elf().unwrap()
}

fn kernel_names(obj: &LoadedObject) -> Vec<String> {
    obj.programs()
        .iter()
        .map(|p| {
            sys::prog_info(obj.program(&p.symbol).unwrap().as_fd())
                .unwrap()
                .name
        })
        .collect()
}

#[test]
fn an_install_names_its_programs_after_itself_and_their_hook() {
    if !kernel() {
        return;
    }
    let elf = elf();
    let obj = LoadedObject::load_with(
        &elf,
        &LoadOptions {
            install: Some("edge-gateway-2"),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(kernel_names(&obj), ["xdp.edge_gatewa", "tce.edge_gatewa"]);
    let obj = LoadedObject::load_with(
        &elf,
        &LoadOptions {
            install: Some("web"),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(kernel_names(&obj), ["xdp.web", "tce.web"]);
}

#[test]
fn programs_loaded_outside_an_install_keep_their_symbol() {
    if !kernel() {
        return;
    }
    let obj = LoadedObject::load(&elf()).unwrap();
    let symbols: Vec<String> = obj.programs().iter().map(|p| p.symbol.clone()).collect();
    assert_eq!(kernel_names(&obj), symbols);
}
