//! `sockc bench`'s socket-condition table: socket conditions priced per hook (XDP, TC
//! ingress, TC egress) and protocol. The same one-rule program with and without `if
//! socket exists`, on the same packet, run in a private network namespace
//! ([`SocketNetns`]) with no socket, a listener, or a connected socket for the
//! packet. The condition's cost is the lookup (plus the state read and the reference
//! release).

use sockc_compiler::{hooks, opt::OptLevel};
use sockc_runtime::LoadedObject;
use sockc_testkit::{
    eval::SocketState,
    socket_fixture::{Endpoints, SocketNetns},
};

use crate::measure::{compile, kernel_ns, TestRuns};

/// The table; see the module docs. Printed as it goes, and returned.
pub fn table(runs: TestRuns) -> Result<String, String> {
    let mut out = String::from(
        "\nSocket conditions (ns per packet; the rule matches the packet; private netns):\n\n\
         | hook | proto | no condition | `if socket exists`, no socket | listener | connected | lookup cost (no socket) |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
    );
    print!("{out}");
    let packet_hooks = hooks::HOOKS
        .iter()
        .filter(|h| h.caps.socket_conditions && h.unsupported.is_none());
    for spec in packet_hooks {
        let (hook, head) = (spec.name, spec.label("lo"));
        for proto in ["tcp", "udp"] {
            let packet = format!("{proto} 10.0.0.1:40000 -> 10.0.0.2:80");
            let frame = sockc_testkit::packet::parse_packet(&packet)
                .map_err(|e| e.to_string())?
                .build();
            let load = |cond: &str| -> Result<(LoadedObject, String), String> {
                let src = format!(
                    "{head} {{\n    allow {proto} to 10.0.0.2:80{cond}\n    default drop\n}}\n"
                );
                let c = compile(&src, OptLevel::O2)?;
                let elf = c.to_elf().map_err(|e| e.to_string())?;
                let obj = LoadedObject::load(&elf).map_err(|e| e.to_string())?;
                let symbol = obj.programs()[0].symbol.clone();
                Ok((obj, symbol))
            };
            let (plain, plain_sym) = load("")?;
            let (cond, cond_sym) = load(" if socket exists")?;
            let ends = Endpoints::of_frame(&frame, spec.egress).ok_or("no endpoints")?;
            let time = |obj: &LoadedObject, symbol: &str, state: SocketState| {
                let ns = SocketNetns::new().map_err(|e| e.to_string())?;
                let want = (state != SocketState::None).then_some((&ends, state));
                ns.run(want, || kernel_ns(obj, symbol, &frame, runs))
                    .map_err(|e| e.to_string())
            };
            let base = time(&plain, &plain_sym, SocketState::None)?;
            let none = time(&cond, &cond_sym, SocketState::None)?;
            let listening = time(&cond, &cond_sym, SocketState::Listening)?;
            let connected = time(&cond, &cond_sym, SocketState::Established)?;
            let line = format!(
                "| {hook} | {proto} | {base:.1} | {none:.1} | {listening:.1} | {connected:.1} | +{:.1} ({:.2}x) |\n",
                none - base,
                none / base
            );
            print!("{line}");
            out.push_str(&line);
        }
    }
    Ok(out)
}
