//! Object symbols of a module's programs (and of the programs sockc adds: sockmap
//! companions, registrars): `<hook>_<attach>`, `[a-z0-9_]`, at most 15 bytes (the
//! kernel's program name limit), unique. An install pins each hook's link under its
//! program's symbol, so a re-apply keeps the symbol of every hook it keeps ([`fit`]):
//! assigned afresh in program order, a symbol cut to 15 bytes (`cg_out_servicen`)
//! passed from one hook to another when a block was added or removed before it, and
//! the re-apply then swapped or detached the other hook's link.
//!
//! Invariant: after [`fit`] to an installed generation, a program on a hook and
//! attach point that generation has keeps its symbol there, and no other program takes
//! a symbol of that generation.

use std::collections::{HashMap, HashSet};

use crate::{hooks::HookKind, ir::Module};

/// The last component of an attach point as a symbol part: `[a-z0-9_]`.
pub(crate) fn tail(attach_to: &str) -> String {
    attach_to
        .rsplit('/')
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The symbols taken, and per base the first `_N` suffix not tried yet: every one
/// below it is taken (the set only grows), so each base's tries resume there (trying
/// `_1`, `_2`, ... from the start for each program of a base made a file of 40,000
/// blocks on one hook take minutes).
#[derive(Default)]
struct Taken {
    used: HashSet<String>,
    next: HashMap<String, usize>,
}

impl Taken {
    fn of(used: HashSet<String>) -> Taken {
        Taken {
            used,
            next: HashMap::new(),
        }
    }
}

/// The symbol of a program on `hook` at `attach_to` that `taken` does not hold (then
/// added to it): its base, or the base cut for a `_N` suffix.
fn fresh(taken: &mut Taken, hook: HookKind, attach_to: &str) -> String {
    let prefix = hook.spec().symbol_prefix;
    let tail = tail(attach_to);
    let base = if tail.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix}_{tail}")
    };
    let base: String = base.chars().take(15).collect();
    // 0 stands for the base itself, then `_1`, `_2`, ...
    let n = taken.next.entry(base.clone()).or_insert(0);
    loop {
        let name = match *n {
            0 => base.clone(),
            k => suffixed(&base, k),
        };
        *n += 1;
        if taken.used.insert(name.clone()) {
            return name;
        }
    }
}

/// `base` cut for the suffix `_n`, and the suffix.
fn suffixed(base: &str, n: usize) -> String {
    let suffix = format!("_{n}");
    format!("{}{suffix}", &base[..base.len().min(15 - suffix.len())])
}

/// Every program's key (hook, attach point) and symbol, in program order: the
/// block's programs, the sockmap companions, the registrars.
fn slots(module: &mut Module) -> Vec<(HookKind, String, &mut String)> {
    let mut out = Vec::new();
    for (_, p) in module.programs.iter_mut() {
        out.push((p.hook, p.attach_to.clone(), &mut p.symbol));
    }
    for g in &mut module.sockmaps {
        for c in &mut g.companions {
            out.push((c.hook, g.cgroup.clone(), &mut c.symbol));
        }
    }
    for r in &mut module.registrars {
        out.push((HookKind::SkLookupRegister, r.cgroup.clone(), &mut r.symbol));
    }
    out
}

/// [`slots`] read only: each program's key and symbol, in the same order.
fn names(module: &Module) -> Vec<(HookKind, &str, &str)> {
    let mut out = Vec::new();
    for p in module.programs.values() {
        out.push((p.hook, p.attach_to.as_str(), p.symbol.as_str()));
    }
    for g in &module.sockmaps {
        for c in &g.companions {
            out.push((c.hook, g.cgroup.as_str(), c.symbol.as_str()));
        }
    }
    for r in &module.registrars {
        out.push((
            HookKind::SkLookupRegister,
            r.cgroup.as_str(),
            r.symbol.as_str(),
        ));
    }
    out
}

/// Assigns every program's symbol afresh, in program order.
pub(crate) fn assign(module: &mut Module) {
    let mut taken = Taken::default();
    for (hook, attach_to, symbol) in slots(module) {
        *symbol = fresh(&mut taken, hook, &attach_to);
    }
}

/// The symbol each program (in [`slots`] order) takes fitted to an installed
/// generation's (`installed`: each program's hook, attach point and symbol): a program
/// on a hook and attach point it has keeps that symbol (the n-th there the n-th's);
/// the others get fresh ones that none of its programs has, so no link pin of it is
/// taken by another hook.
fn fitted(module: &Module, installed: &[(HookKind, String, String)]) -> Vec<String> {
    let mut symbols = Taken::of(installed.iter().map(|(_, _, s)| s.clone()).collect());
    let mut taken = vec![false; installed.len()];
    let keys = names(module);
    let mut out: Vec<Option<String>> = keys
        .iter()
        .map(|&(hook, attach_to, _)| {
            let (i, (_, _, s)) = installed
                .iter()
                .enumerate()
                .find(|(i, (h, a, _))| !taken[*i] && *h == hook && a == attach_to)?;
            taken[i] = true;
            Some(s.clone())
        })
        .collect();
    for (name, &(hook, attach_to, _)) in out.iter_mut().zip(&keys) {
        if name.is_none() {
            *name = Some(fresh(&mut symbols, hook, attach_to));
        }
    }
    out.into_iter().flatten().collect()
}

/// Whether [`fit`] would change some symbol (read only: nothing is changed).
pub fn misfit(module: &Module, installed: &[(HookKind, String, String)]) -> bool {
    let after = fitted(module, installed);
    names(module)
        .into_iter()
        .zip(after)
        .any(|((_, _, before), after)| before != after)
}

/// Fits the symbols to an installed generation's ([`fitted`]). Returns the symbols it
/// changed, each as (before, after).
pub fn fit(module: &mut Module, installed: &[(HookKind, String, String)]) -> Vec<(String, String)> {
    let after = fitted(module, installed);
    let mut renamed = Vec::new();
    for ((_, _, symbol), to) in slots(module).into_iter().zip(after) {
        if *symbol != to {
            renamed.push((std::mem::replace(symbol, to.clone()), to));
        }
    }
    renamed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver;

    fn module(src: &str) -> Module {
        driver::check(src, &Default::default())
            .unwrap_or_else(|d| panic!("{d:?}"))
            .module
    }

    fn symbols(m: &mut Module) -> Vec<(String, String)> {
        slots(m)
            .into_iter()
            .map(|(_, a, s)| (a, s.clone()))
            .collect()
    }

    fn block(cg: &str, port: u16) -> String {
        format!("cgroup egress \"/sys/fs/cgroup/{cg}\" {{\n    drop udp to 127.0.0.1:{port}\n    default allow\n}}\n")
    }

    /// Programs of one base are named the base, then `_1`, `_2`, ... in order, the
    /// suffix cutting the base, however many there are (each one's tries resume where
    /// the last one's ended).
    #[test]
    fn programs_of_one_base_take_the_next_suffix() {
        let names: Vec<String> = (0..1200).map(|_| "xdp_eth0".to_string()).collect();
        let mut taken = Taken::default();
        let made: Vec<String> = names
            .iter()
            .map(|_| fresh(&mut taken, HookKind::Xdp, "eth0"))
            .collect();
        assert_eq!(made[0], "xdp_eth0");
        assert_eq!(made[1], "xdp_eth0_1");
        assert_eq!(made[1199], "xdp_eth0_1199");
        let long: Vec<String> = (0..12)
            .map(|_| fresh(&mut taken, HookKind::Xdp, "interface12345"))
            .collect();
        assert_eq!(long[0], "xdp_interface12");
        assert_eq!(long[11], "xdp_interfac_11");
        let mut seen = std::collections::HashSet::new();
        assert!(made.iter().chain(&long).all(|n| seen.insert(n.clone())));
    }

    /// Two cgroups whose symbols are cut to one base: the kept one keeps its symbol when
    /// the other is removed before it or a new one is added before it, and a new one
    /// never takes a symbol of the installed generation.
    #[test]
    fn a_kept_hook_keeps_its_symbol_and_a_new_one_takes_none_installed() {
        let mut first = module(&(block("servicename1", 1) + &block("servicename2", 2)));
        let installed: Vec<(HookKind, String, String)> = slots(&mut first)
            .into_iter()
            .map(|(h, a, s)| (h, a, s.clone()))
            .collect();
        let one = &installed[1].2;
        assert_ne!(&installed[0].2, one, "{installed:?}");

        // The first block removed: assigned afresh, the second took the first's symbol.
        let mut second = module(&block("servicename2", 3));
        assert_eq!(symbols(&mut second)[0].1, installed[0].2);
        fit(&mut second, &installed);
        assert_eq!(&symbols(&mut second)[0].1, one);

        // A block added before the kept one.
        let mut third = module(&(block("servicename0", 4) + &block("servicename2", 5)));
        fit(&mut third, &installed);
        let s = symbols(&mut third);
        assert_eq!(&s[1].1, one, "{s:?}");
        assert!(installed.iter().all(|(_, _, i)| *i != s[0].1), "{s:?}");
        assert!(s[0].1.len() <= 15);
    }
}
