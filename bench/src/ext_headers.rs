//! `sockc bench`'s IPv6 extension-header table: what the prologue's walk costs per
//! packet at XDP and TC ingress. One program (`allow tcp to *:22`, default drop) on
//! the same TCP packet with no extension header, behind a destination-options header,
//! behind three headers and behind six (the walk's limit), next to the plain IPv4
//! packet; and the same program with a `frag` rule in front, to price that test.
//! Every packet is decided by the port rule, so the rows differ only in the walk.

use sockc_compiler::opt::OptLevel;
use sockc_runtime::LoadedObject;

use crate::measure::{compile, kernel_ns, TestRuns};

/// The packets of the table's columns, in order.
const PACKETS: [&str; 5] = [
    "tcp 10.0.0.1:40000 -> 10.0.0.2:22",
    "tcp [2001:db8::1]:40000 -> [2001:db8::2]:22",
    "tcp [2001:db8::1]:40000 -> [2001:db8::2]:22 ext dst",
    "tcp [2001:db8::1]:40000 -> [2001:db8::2]:22 ext hbh,rt,dst",
    "tcp [2001:db8::1]:40000 -> [2001:db8::2]:22 ext hbh,dst,dst,dst,dst,dst",
];

/// The table; see the module docs. Printed as it goes, and returned.
pub fn table(runs: TestRuns) -> Result<String, String> {
    let mut out = String::from(
        "\nIPv6 extension headers and `frag` (ns per packet; `allow tcp to *:22` decides):\n\n\
         | hook | rules | IPv4 | IPv6 | + dst-opts | + 3 headers | + 6 headers |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
    );
    print!("{out}");
    let frames: Vec<Vec<u8>> = PACKETS
        .iter()
        .map(|p| sockc_testkit::packet::parse_packet(p).map(|s| s.build()))
        .collect::<Result<_, _>>()?;
    for head in ["xdp on lo", "tc ingress on lo"] {
        for (label, first) in [("port rule", ""), ("`drop frag` first", "    drop frag\n")] {
            let src = format!("{head} {{\n{first}    allow tcp to *:22\n    default drop\n}}\n");
            let c = compile(&src, OptLevel::O2)?;
            let obj = LoadedObject::load(&c.to_elf().map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            let symbol = obj.programs()[0].symbol.clone();
            let cells: Vec<String> = frames
                .iter()
                .map(|f| format!("{:.1}", kernel_ns(&obj, &symbol, f, runs)))
                .collect();
            let hook = head.trim_end_matches(" on lo");
            let line = format!("| {hook} | {label} | {} |\n", cells.join(" | "));
            print!("{line}");
            out.push_str(&line);
        }
    }
    Ok(out)
}
