//! `sockc bench`'s per-construct table: what each construct of the language costs per
//! packet at XDP and TC ingress, as ns per packet of a program with it next to the
//! same program without it, in the same run, and their ratio. Each row is a pair of
//! rule files that differ only in the construct, run on one packet that reaches it:
//! `reject` (tcp-reset and ICMP) against `drop` on the same rule, `limit` and
//! `limit … per source` on the deciding rule, a `ct state` rule in front (a conntrack
//! lookup that misses; also for an ICMP error, whose quoted flow is looked up), a
//! reject answering IPv4 with options, `route local` on the deciding rule (a FIB lookup), the IPv6
//! extension-header walk (a destination-options header in front of the same TCP
//! segment) and `arp` and `ether type` rules in front.
//!
//! A reject rewrites the frame in place, and `BPF_PROG_TEST_RUN` runs its repeats on
//! the rewritten frame (an answer, which the next run drops): so reject rows, and the
//! `drop` they are compared with, are timed one run per test run, the median of at
//! least [`REJECT_RUNS`] of them. A limit's bucket drains within a long repeat; the
//! rate is the highest a bucket counts, so most runs still take the admitting path.

use sockc_compiler::opt::OptLevel;
use sockc_runtime::LoadedObject;

use crate::measure::{compile, kernel_ns, TestRuns};

/// Test runs of one repeat each that time a reject (and its `drop`).
const REJECT_RUNS: usize = 300;

/// One row: the construct, the packet, and the rules without and with it.
struct Row {
    construct: &'static str,
    packet: &'static str,
    without: &'static str,
    with: &'static str,
    /// Timed one run per test run (the program rewrites the frame).
    rewrites: bool,
    /// Lines before the block, in both files (the answer limits).
    head: &'static str,
}

/// ICMP answer rows time the answer itself: the runs all come from one source, which
/// the kernel's default limits would stop answering after a few.
const UNLIMITED: &str = "reject answers unlimited\n";
/// Answer limits that never refuse in a bench, so their check is timed on the path
/// that answers.
const WIDE_LIMITS: &str = "reject answers 10000000/second burst 1000000\n\
                           reject answers 10000000/second burst 1000000 per destination\n";

const SYN22: &str = "tcp 10.0.0.1:40000 -> 10.0.0.2:22 syn";
const PORT_RULE: &str = "allow tcp to *:22";
/// A port unreachable to 10.0.0.1 quoting its datagram 10.0.0.1:5000 -> 10.0.0.2:53.
const ICMP_ERROR: &str = "icmp 10.0.0.2 -> 10.0.0.1 type 3 code 3 payload \
                          4500001c00000000401100000a0000010a0000021388003500080000";

const ROWS: [Row; 11] = [
    Row {
        construct: "reject (tcp-reset)",
        packet: SYN22,
        without: "drop tcp to *:22",
        with: "reject tcp to *:22",
        rewrites: true,
        head: "",
    },
    Row {
        construct: "reject (ICMP port-unreachable)",
        packet: "udp 10.0.0.1:40000 -> 10.0.0.2:53",
        without: "drop udp to *:53",
        with: "reject udp to *:53",
        rewrites: true,
        head: UNLIMITED,
    },
    Row {
        construct: "reject (ICMP) with its answer limits checked",
        packet: "udp 10.0.0.1:40000 -> 10.0.0.2:53",
        without: "drop udp to *:53",
        with: "reject udp to *:53",
        rewrites: true,
        head: WIDE_LIMITS,
    },
    Row {
        construct: "reject (ICMP) behind IPv4 options",
        packet: "udp 10.0.0.1:40000 -> 10.0.0.2:53 ipopts 2",
        without: "drop udp to *:53",
        with: "reject udp to *:53",
        rewrites: true,
        head: UNLIMITED,
    },
    Row {
        construct: "limit N/s",
        packet: SYN22,
        without: PORT_RULE,
        with: "allow tcp to *:22 limit 10000000/s burst 1000000",
        rewrites: false,
        head: "",
    },
    Row {
        construct: "limit N/s per source",
        packet: SYN22,
        without: PORT_RULE,
        with: "allow tcp to *:22 limit 10000000/s burst 1000000 per source",
        rewrites: false,
        head: "",
    },
    Row {
        construct: "ct state (lookup, no entry)",
        packet: SYN22,
        without: PORT_RULE,
        with: "allow ct state established,related\n    allow tcp to *:22",
        rewrites: false,
        head: "",
    },
    Row {
        construct: "ct state (ICMP error: its quoted flow looked up, no entry)",
        packet: ICMP_ERROR,
        without: "allow icmp",
        with: "allow ct state established,related\n    allow icmp",
        rewrites: false,
        head: "",
    },
    Row {
        construct: "route local",
        packet: SYN22,
        without: PORT_RULE,
        with: "allow tcp to *:22 route local",
        rewrites: false,
        head: "",
    },
    Row {
        construct: "IPv6 extension-header walk (dst-opts)",
        packet: "tcp [2001:db8::1]:40000 -> [2001:db8::2]:22 syn ext dst",
        without: PORT_RULE,
        with: PORT_RULE,
        rewrites: false,
        head: "",
    },
    Row {
        construct: "arp and ether type rules in front",
        packet: SYN22,
        without: PORT_RULE,
        with: "allow arp\n    drop ether type 0x88cc\n    allow tcp to *:22",
        rewrites: false,
        head: "",
    },
];

/// The packet the extension-header row's "without" column runs: the same segment
/// with no extension header.
const NO_EXT: &str = "tcp [2001:db8::1]:40000 -> [2001:db8::2]:22 syn";

/// The table; see the module docs. Printed as it goes, and returned.
pub fn table(runs: TestRuns) -> Result<String, String> {
    let mut out = String::from(
        "\nCost per construct (ns per packet, the same program with and without it, same run):\n\n\
         | construct | hook | without | with | ratio |\n\
         |---|---|---:|---:|---:|\n",
    );
    print!("{out}");
    for row in &ROWS {
        for head in ["xdp on lo", "tc ingress on lo"] {
            let t = if row.rewrites {
                TestRuns {
                    repeat: 1,
                    runs: runs.runs.max(REJECT_RUNS),
                }
            } else {
                runs
            };
            let bare = if row.with == row.without {
                NO_EXT
            } else {
                row.packet
            };
            let without = ns(head, row, row.without, bare, t)?;
            let with = ns(head, row, row.with, row.packet, t)?;
            let hook = head.trim_end_matches(" on lo");
            let line = format!(
                "| {} | {hook} | {without:.1} | {with:.1} | {:.2} |\n",
                row.construct,
                with / without
            );
            print!("{line}");
            out.push_str(&line);
        }
    }
    Ok(out)
}

/// ns per packet of `rules` (then `default drop`) in a block at `head`, after the
/// row's own lines, on `packet`.
fn ns(head: &str, row: &Row, rules: &str, packet: &str, t: TestRuns) -> Result<f64, String> {
    let src = format!("{}{head} {{\n    {rules}\n    default drop\n}}\n", row.head);
    let c = compile(&src, OptLevel::O2)?;
    let obj =
        LoadedObject::load(&c.to_elf().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let symbol = obj.programs()[0].symbol.clone();
    let frame = sockc_testkit::packet::parse_packet(packet)?.build();
    Ok(kernel_ns(&obj, &symbol, &frame, t))
}
