//! The residual in the kernel: the netfilter ruleset an import left beside an
//! install's netfilter programs, installed, switched between its modes and removed
//! with the install, by the tool its format belongs to (`nft -f`, `nft -j -f`,
//! `iptables-restore --noflush`), together with the *glue* sockc adds around each
//! netfilter program (an nft table `inet sockc_glue_<install>`): a chain just after
//! the program that clears the residual's mark bit again, and, while the programs
//! change, a chain just before it that sets the bit on every packet.
//!
//! The modes (docs/import.md, "Installing the residual"): `min` — the residual holds
//! what sockc's programs do not run, marks what it accepts, and lets the rest through
//! unmarked for the programs to decide; `full` — every rule of the original runs in
//! netfilter and every packet that survives it is marked, so the programs let
//! everything through, whatever generation they are. An apply goes old pair → `full`
//! (one transaction) → programs swapped → `min` (one transaction); a flush goes
//! `full` → programs detached → removed.
//!
//! Invariants: with nft every change is one `nft -f` transaction (the residual's
//! tables, their mode and the glue together); with iptables the glue is one nft
//! transaction and each table one `iptables-restore` commit. Every operation brings
//! the kernel to a state named by its arguments alone (tables replaced whole, chains
//! flushed and refilled, jumps added only if absent), so running it again after a
//! kill finishes it. Only tables and chains named as this install's are touched. Every
//! operation passes a fault point first. The tools run in the calling thread's network
//! namespace, which the callers have entered.

use std::{
    io::{self, Write},
    process::{Command, Stdio},
};

use sockc_compiler::hooks::HookKind;

use crate::store::{Manifest, ResidualRecord};

/// Which rules the residual's dispatchers run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// What sockc's programs do not run.
    Min,
    /// Every rule, every surviving packet marked.
    Full,
}

/// A netfilter program's place: its hook and priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place {
    pub hook: &'static str,
    pub priority: i32,
}

/// The places of `m`'s netfilter programs.
pub fn places(m: &Manifest) -> Vec<Place> {
    let mut out: Vec<Place> = m
        .programs
        .iter()
        .filter_map(|p| {
            let hook = nft_hook(p.hook)?;
            let priority = p.attach_to.parse().ok()?;
            Some(Place { hook, priority })
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The nft name of a netfilter hook.
fn nft_hook(k: HookKind) -> Option<&'static str> {
    Some(match k {
        HookKind::NfPrerouting => "prerouting",
        HookKind::NfInput => "input",
        HookKind::NfForward => "forward",
        HookKind::NfOutput => "output",
        HookKind::NfPostrouting => "postrouting",
        _ => return None,
    })
}

/// The glue table of install `install`.
pub fn glue_table(install: &str) -> String {
    format!("sockc_glue_{install}")
}

/// The glue: at every place of `restore`, a chain one priority after the program that
/// clears `mark`; at every place of `transit`, one a priority before it that sets it.
/// As an nft script that replaces the table (or deletes it, when both are empty).
fn glue_script(install: &str, mark: u32, restore: &[Place], transit: &[Place]) -> String {
    let t = glue_table(install);
    let mut s = format!("add table inet {t}\ndelete table inet {t}\n");
    if restore.is_empty() && transit.is_empty() {
        return s;
    }
    s.push_str(&format!(
        "table inet {t} {{\n\tcomment \"sockc glue of install {install}\"\n"
    ));
    for (places, what, step) in [(restore, "restore", 1), (transit, "transit", -1)] {
        for p in places {
            let verb = if step > 0 {
                format!("& {:#010x}", !mark)
            } else {
                format!("| {mark:#010x}")
            };
            s.push_str(&format!(
                "\tchain {what}_{}_{} {{\n\t\ttype filter hook {} priority {}; policy accept;\n\t\tmeta mark set meta mark {verb}\n\t}}\n",
                p.hook,
                p.priority.to_string().replace('-', "m"),
                p.hook,
                p.priority.saturating_add(step)
            ));
        }
    }
    s.push_str("}\n");
    s
}

/// Brings the residual `r` of install `install` to `mode`, with the glue for
/// `restore` and `transit` places, replacing the residual `old` (a previous
/// generation's, whose tables or chains `r` does not have are removed).
pub fn set(
    install: &str,
    r: &ResidualRecord,
    mode: Mode,
    (restore, transit): (&[Place], &[Place]),
    old: Option<&ResidualRecord>,
) -> io::Result<()> {
    crate::fault::point(&format!(
        "residual of {install}: install it in {} mode",
        if mode == Mode::Min { "min" } else { "full" }
    ));
    let glue = glue_script(install, r.mark, restore, transit);
    if r.iptables() {
        run("nft", &["-f", "-"], &glue)?;
        return iptables::set(r, mode, old);
    }
    let mut script = String::new();
    for owned in old.iter().flat_map(|o| &o.owned).chain(&r.owned) {
        script.push_str(&format!("add table {owned}\ndelete table {owned}\n"));
    }
    script.push_str(&glue);
    if r.json() {
        // One transaction: the deletions and the glue first as a script of their own
        // would be a second one, so they go into the JSON document as commands.
        let doc = json_document(&script, r, mode)?;
        return run("nft", &["-j", "-f", "-"], &doc);
    }
    script.push_str(&r.text);
    script.push_str(&switch_script(r, mode));
    run("nft", &["-f", "-"], &script)
}

/// Points the dispatchers of the installed residual `r` at `mode`, with the glue for
/// `restore` and `transit` places: nothing reloaded (dynamic sets and limits keep
/// their state).
pub fn switch(
    install: &str,
    r: &ResidualRecord,
    mode: Mode,
    (restore, transit): (&[Place], &[Place]),
) -> io::Result<()> {
    crate::fault::point(&format!(
        "residual of {install}: switch it to {} mode",
        if mode == Mode::Min { "min" } else { "full" }
    ));
    let glue = glue_script(install, r.mark, restore, transit);
    if r.iptables() {
        run("nft", &["-f", "-"], &glue)?;
        return iptables::switch(r, mode);
    }
    run("nft", &["-f", "-"], &(glue + &switch_script(r, mode)))
}

/// The places of `a` and `b` together.
fn union(a: Option<&Manifest>, b: &Manifest) -> Vec<Place> {
    let mut p: Vec<Place> = a.map(places).unwrap_or_default();
    p.extend(places(b));
    p.sort();
    p.dedup();
    p
}

/// An apply from `old` to `target`, before any program changes: the residual in
/// `full` mode (the new one, or, when the new file has none, the old one), every
/// packet marked at every place of either generation's programs.
pub fn before_programs(old: Option<&Manifest>, target: &Manifest) -> io::Result<()> {
    let o = old.and_then(|m| m.residual.as_ref());
    let all = union(old, target);
    match (target.residual.as_ref(), o) {
        (Some(n), Some(o)) if o.text == n.text => switch(&target.name, n, Mode::Full, (&all, &all)),
        (Some(n), o) => set(&target.name, n, Mode::Full, (&all, &all), o),
        (None, Some(o)) => switch(&target.name, o, Mode::Full, (&all, &all)),
        (None, None) => Ok(()),
    }
}

/// An apply from `old` to `target`, once the programs are `target`'s: its residual in
/// `min` mode (its digest recorded in `target`), or, when it has none, the old one
/// removed.
pub fn after_programs(old: Option<&Manifest>, target: &mut Manifest) -> io::Result<()> {
    let here = places(target);
    let name = target.name.clone();
    match (
        target.residual.as_mut(),
        old.and_then(|m| m.residual.as_ref()),
    ) {
        (Some(n), _) => {
            switch(&name, n, Mode::Min, (&here, &[]))?;
            n.digest = digest(n)?.unwrap_or_default();
            Ok(())
        }
        (None, Some(o)) => remove(&name, Some(o)),
        (None, None) => Ok(()),
    }
}

/// An apply from `old` to `target` undone before its programs swapped: the old
/// residual back in `min` mode (loaded again when the new one replaced it), or the
/// new one removed when the old install had none.
pub fn back_to(old: Option<&Manifest>, target: &Manifest) -> io::Result<()> {
    let t = target.residual.as_ref();
    match (old.and_then(|m| m.residual.as_ref().map(|r| (m, r))), t) {
        (Some((m, o)), Some(n)) if o.text == n.text => {
            switch(&m.name, o, Mode::Min, (&places(m), &[]))
        }
        (Some((m, o)), t) => set(&m.name, o, Mode::Min, (&places(m), &[]), t),
        (None, Some(t)) => remove(&target.name, Some(t)),
        (None, None) => Ok(()),
    }
}

/// `sockc repair` (and an apply that changes nothing) of `m`'s residual: loaded again
/// in `min` mode with its glue when it is not as installed; says what it did.
pub fn repair(m: &Manifest) -> io::Result<Option<String>> {
    let Some(r) = &m.residual else {
        return Ok(None);
    };
    let state = state(r);
    if state == "present" {
        return Ok(None);
    }
    set(&m.name, r, Mode::Min, (&places(m), &[]), None)?;
    Ok(Some(format!(
        "residual of {} was {state}: installed again",
        m.name
    )))
}

/// A flush of `m`, before its programs come off: its residual in `full` mode.
pub fn before_detach(m: &Manifest) -> io::Result<()> {
    match &m.residual {
        Some(r) => {
            let here = places(m);
            switch(&m.name, r, Mode::Full, (&here, &here))
        }
        None => Ok(()),
    }
}

/// A flush of `m`, once its programs are off: its residual and glue removed.
pub fn after_detach(m: &Manifest) -> io::Result<()> {
    if m.residual.is_none() {
        return Ok(());
    }
    remove(&m.name, m.residual.as_ref())
}

/// Points every dispatcher of `r` at its `mode` chain (nft text).
fn switch_script(r: &ResidualRecord, mode: Mode) -> String {
    let mut s = String::new();
    for d in &r.dispatchers {
        let Some((fam_table, chain)) = d.rsplit_once(' ') else {
            continue;
        };
        s.push_str(&format!(
            "flush chain {fam_table} {chain}\nadd rule {fam_table} {chain} goto {}\n",
            mode_chain(chain, mode)
        ));
    }
    s
}

fn mode_chain(chain: &str, mode: Mode) -> String {
    match mode {
        Mode::Min => format!("sockc_min_{chain}"),
        Mode::Full => format!("sockc_full_{chain}"),
    }
}

/// An `nft -j -f` document: the commands of nft script `prelude` (table deletions and
/// the glue), then the residual's objects, then the dispatchers pointed at `mode`.
fn json_document(prelude: &str, r: &ResidualRecord, mode: Mode) -> io::Result<String> {
    let bad = |e: serde_json::Error| io::Error::new(io::ErrorKind::InvalidData, e);
    let doc: serde_json::Value = serde_json::from_str(&r.text).map_err(bad)?;
    let mut items = Vec::new();
    for cmd in prelude_commands(prelude) {
        items.push(cmd);
    }
    items.extend(
        doc.get("nftables")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default()
            .into_iter()
            // A listing's `metainfo` describes the document; it is not an object to add.
            .filter(|o| o.get("metainfo").is_none())
            .map(|o| serde_json::json!({ "add": o })),
    );
    for d in &r.dispatchers {
        let parts: Vec<&str> = d.splitn(3, ' ').collect();
        let [family, table, chain] = parts[..] else {
            continue;
        };
        let c = serde_json::json!({"family": family, "table": table, "name": chain});
        items.push(serde_json::json!({"flush": {"chain": c}}));
        items.push(serde_json::json!({"add": {"rule": {
            "family": family, "table": table, "chain": chain,
            "expr": [{"goto": {"target": mode_chain(chain, mode)}}]
        }}}));
    }
    serde_json::to_string(&serde_json::json!({ "nftables": items })).map_err(bad)
}

/// The glue and table deletions as JSON commands (the script is sockc's own, written
/// by [`glue_script`] and [`set`]: `add table`, `delete table` lines and table blocks
/// of base chains with one mark statement).
fn prelude_commands(script: &str) -> Vec<serde_json::Value> {
    use serde_json::json;
    let mut out = Vec::new();
    let mut table: Option<(String, String)> = None;
    let mut chain: Option<serde_json::Value> = None;
    for line in script.lines().map(str::trim) {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["add", "table", f, n] => out.push(json!({"add": {"table": {"family": f, "name": n}}})),
            ["delete", "table", f, n] => {
                out.push(json!({"delete": {"table": {"family": f, "name": n}}}))
            }
            ["table", f, n, "{"] => {
                out.push(json!({"add": {"table": {"family": f, "name": n}}}));
                table = Some((f.to_string(), n.to_string()));
            }
            ["chain", name, "{"] => {
                let (f, t) = table.clone().unwrap_or_default();
                chain = Some(json!({"family": f, "table": t, "name": name}));
            }
            ["type", "filter", "hook", hook, "priority", prio, ..] => {
                if let Some(c) = chain.as_mut() {
                    c["type"] = json!("filter");
                    c["hook"] = json!(hook);
                    c["prio"] = json!(prio.trim_end_matches(';').parse::<i64>().unwrap_or(0));
                    c["policy"] = json!("accept");
                    out.push(json!({"add": {"chain": c.clone()}}));
                }
            }
            ["meta", "mark", "set", "meta", "mark", op, value] => {
                if let Some(c) = &chain {
                    let v = u32::from_str_radix(value.trim_start_matches("0x"), 16).unwrap_or(0);
                    out.push(json!({"add": {"rule": {
                        "family": c["family"], "table": c["table"], "chain": c["name"],
                        "expr": [{"mangle": {"key": {"meta": {"key": "mark"}},
                            "value": {*op: [{"meta": {"key": "mark"}}, v]}}}]
                    }}}));
                }
            }
            _ => {}
        }
    }
    out
}

/// Removes the residual `r` (if any) and the glue of install `install`.
pub fn remove(install: &str, r: Option<&ResidualRecord>) -> io::Result<()> {
    crate::fault::point(&format!("residual of {install}: remove it"));
    let mut script = glue_script(install, 0, &[], &[]);
    match r {
        Some(r) if r.iptables() => {
            run("nft", &["-f", "-"], &script)?;
            iptables::remove(r, &[])
        }
        Some(r) => {
            for owned in &r.owned {
                script.push_str(&format!("add table {owned}\ndelete table {owned}\n"));
            }
            run("nft", &["-f", "-"], &script)
        }
        None => run("nft", &["-f", "-"], &script),
    }
}

/// Runs `tool args` with `input` on its standard input; its error output is the error.
/// nft looks `socket cgroupv2` paths up below `/sys/fs/cgroup` of its mount namespace:
/// where it finds one missing and cgroup v2 is mounted elsewhere (a hybrid host's
/// `/sys/fs/cgroup/unified`), the transaction (which then changed nothing) runs again
/// in a mount namespace of its own with cgroup v2 bound at `/sys/fs/cgroup`, so a
/// residual written where cgroup v2 is there loads (docs/import.md, "Cgroup matches").
fn run(tool: &str, args: &[&str], input: &str) -> io::Result<()> {
    match run_in(tool, args, input, None) {
        Err(e) if tool == "nft" && e.to_string().contains("cgroupv2 path fails") => {
            match crate::cgroup::cgroup2_root() {
                Some(root) if root != std::path::Path::new("/sys/fs/cgroup") => {
                    run_in(tool, args, input, Some(&root))
                }
                _ => Err(e),
            }
        }
        r => r,
    }
}

/// [`run`] once; with `bound`, in a new mount namespace where `bound` is bound at
/// `/sys/fs/cgroup` (the network namespace stays the calling thread's).
fn run_in(
    tool: &str,
    args: &[&str],
    input: &str,
    bound: Option<&std::path::Path>,
) -> io::Result<()> {
    let mut cmd = match bound {
        None => Command::new(tool),
        Some(root) => {
            let line = crate::cgroup::with_cgroup2_at_sys_fs_cgroup(root, tool);
            let mut c = Command::new(&line[0]);
            c.args(&line[1..]);
            c
        }
    };
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("{tool}: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let written = stdin.write_all(input.as_bytes());
    drop(stdin);
    let out = child.wait_with_output()?;
    written?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let first: Vec<&str> = err.lines().take(4).collect();
    Err(io::Error::other(format!(
        "{tool} {}: {}",
        args.join(" "),
        first.join(" / ")
    )))
}

/// Runs `tool args`; its standard output when it succeeds.
fn output(tool: &str, args: &[&str]) -> io::Result<String> {
    let out = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("{tool}: {e}")))?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{tool} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The residual's rules as the kernel lists them now, as a digest (counters, handles
/// and set elements left out: they change with traffic); `Ok(None)` when it is not
/// there at all.
pub fn digest(r: &ResidualRecord) -> io::Result<Option<String>> {
    use sha2::Digest;
    let listing = if r.iptables() {
        iptables::listing(r)?
    } else {
        nft_listing(r)?
    };
    Ok(listing.map(|l| {
        sha2::Sha256::digest(l.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }))
}

/// The chains and rules of `r`'s tables, without counters, handles and elements.
fn nft_listing(r: &ResidualRecord) -> io::Result<Option<String>> {
    let mut all = String::new();
    for owned in &r.owned {
        let (family, table) = owned.split_once(' ').unwrap_or(("", owned));
        let Ok(text) = output("nft", &["-j", "list", "table", family, table]) else {
            return Ok(None);
        };
        let doc: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        for item in doc["nftables"].as_array().into_iter().flatten() {
            let Some((kind, body)) = item.as_object().and_then(|o| o.iter().next()) else {
                continue;
            };
            if !matches!(kind.as_str(), "chain" | "rule") {
                continue;
            }
            let mut body = body.clone();
            strip(&mut body);
            all.push_str(&format!("{kind} {body}\n"));
        }
    }
    Ok(Some(all))
}

/// Removes handles and counter values from a listed object.
fn strip(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            o.remove("handle");
            if o.contains_key("packets") && o.contains_key("bytes") {
                o.clear();
            }
            o.values_mut().for_each(strip);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

/// The residual's state for `status`: `present`, `missing`, `changed`, or `unreadable:
/// WHY`.
pub fn state(r: &ResidualRecord) -> String {
    match digest(r) {
        Ok(None) => "missing".into(),
        Ok(Some(d)) if d == r.digest || r.digest.is_empty() => "present".into(),
        Ok(Some(_)) => "changed".into(),
        Err(e) => format!("unreadable: {e}"),
    }
}

mod iptables {
    //! The iptables side: one `iptables-restore --noflush` per family (each table one
    //! commit), the built-in chains' jumps added at their heads when absent, chains a
    //! previous generation had and this one has not flushed and deleted.

    use std::io;

    use super::{output, run, Mode};
    use crate::store::ResidualRecord;

    fn tool(family: &str) -> &'static str {
        if family == "ip6" {
            "ip6tables"
        } else {
            "iptables"
        }
    }

    /// The sections of `text` of family `family` (`ip`, `ip6`): each follows a
    /// `# Generated by iptables-save` or `ip6tables-save` line.
    fn sections(text: &str, family: &str) -> String {
        let mut out = String::new();
        let mut six = false;
        for line in text.lines() {
            if line.starts_with("# Generated by ip6tables-save") {
                six = true;
            } else if line.starts_with("# Generated by iptables-save") {
                six = false;
            }
            if six == (family == "ip6") {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    fn families(r: &ResidualRecord) -> Vec<&'static str> {
        ["ip", "ip6"]
            .into_iter()
            .filter(|f| sections(&r.text, f).lines().any(|l| l.starts_with('*')))
            .collect()
    }

    /// `r` loaded, its dispatchers in `mode`, the built-in chains jumping to it, and
    /// what `old` had that `r` has not removed.
    pub(super) fn set(
        r: &ResidualRecord,
        mode: Mode,
        old: Option<&ResidualRecord>,
    ) -> io::Result<()> {
        let switch = |text: String| match mode {
            Mode::Min => text,
            Mode::Full => switched(&text, &r.dispatchers),
        };
        for family in families(r) {
            let restore = format!("{}-restore", tool(family));
            run(&restore, &["--noflush"], &switch(sections(&r.text, family)))?;
        }
        for h in &r.hooked {
            let [family, table, builtin] = parts(h);
            let target = hook_chain(r, h);
            let args = ["-t", table, "-C", builtin, "-j", &target];
            if output(tool(family), &args).is_err() {
                output(
                    tool(family),
                    &["-t", table, "-I", builtin, "1", "-j", &target],
                )?;
            }
        }
        if let Some(old) = old {
            let gone: Vec<String> = old
                .owned
                .iter()
                .filter(|c| !r.owned.contains(c))
                .cloned()
                .collect();
            let unhooked: Vec<&String> = old
                .hooked
                .iter()
                .filter(|h| !r.hooked.contains(h))
                .collect();
            remove_parts(old, &unhooked, &gone)?;
        }
        Ok(())
    }

    /// Only the dispatchers pointed at `mode`: each table's dispatching chains
    /// flushed and given their one rule again, one commit per table.
    pub(super) fn switch(r: &ResidualRecord, mode: Mode) -> io::Result<()> {
        for family in ["ip", "ip6"] {
            let mut by_table: Vec<(&str, String)> = Vec::new();
            for d in &r.dispatchers {
                let [f, table, builtin] = parts(d);
                if f != family {
                    continue;
                }
                let hook = hook_chain(r, d);
                let tag = hook.strip_suffix(&format!("-{builtin}")).unwrap_or(&hook);
                let to = match mode {
                    Mode::Min => format!("{tag}-min-{builtin}"),
                    Mode::Full => format!("{tag}-full-{builtin}"),
                };
                let lines = format!(":{hook} - [0:0]\n-A {hook} -g {to}\n");
                match by_table.iter_mut().find(|(t, _)| *t == table) {
                    Some((_, l)) => l.push_str(&lines),
                    None => by_table.push((table, lines)),
                }
            }
            if by_table.is_empty() {
                continue;
            }
            let input: String = by_table
                .iter()
                .map(|(t, l)| format!("*{t}\n{l}COMMIT\n"))
                .collect();
            run(&format!("{}-restore", tool(family)), &["--noflush"], &input)?;
        }
        Ok(())
    }

    /// The text with each dispatcher's `-g TAG-min-X` pointed at `TAG-full-X`.
    fn switched(text: &str, dispatchers: &[String]) -> String {
        let mut t = text.to_string();
        for d in dispatchers {
            let [_, _, builtin] = parts(d);
            t = t.replace(&format!("-min-{builtin}\n"), &format!("-full-{builtin}\n"));
        }
        t
    }

    fn parts(s: &str) -> [&str; 3] {
        let mut it = s.splitn(3, ' ');
        [
            it.next().unwrap_or(""),
            it.next().unwrap_or(""),
            it.next().unwrap_or(""),
        ]
    }

    /// The chain built-in chain `h` (`family table BUILTIN`) jumps to: `TAG-BUILTIN`,
    /// the owned chain of its table named so.
    fn hook_chain(r: &ResidualRecord, h: &str) -> String {
        let [family, table, builtin] = parts(h);
        r.owned
            .iter()
            .map(|o| parts(o))
            .find(|[f, t, c]| {
                *f == family
                    && *t == table
                    && c.ends_with(&format!("-{builtin}"))
                    && !c.contains("-min-")
                    && !c.contains("-full-")
            })
            .map(|[_, _, c]| c.to_string())
            .unwrap_or_default()
    }

    /// Removes all of `r`: its jumps, then its chains.
    pub(super) fn remove(r: &ResidualRecord, _: &[String]) -> io::Result<()> {
        let hooked: Vec<&String> = r.hooked.iter().collect();
        remove_parts(r, &hooked, &r.owned)
    }

    /// Takes out the jumps `hooked` of `r`, then flushes and deletes `chains` (each
    /// `family table chain`; absent ones are no error).
    fn remove_parts(r: &ResidualRecord, hooked: &[&String], chains: &[String]) -> io::Result<()> {
        for h in hooked {
            let [family, table, builtin] = parts(h);
            let target = hook_chain(r, h);
            while output(tool(family), &["-t", table, "-D", builtin, "-j", &target]).is_ok() {}
        }
        for flag in ["-F", "-X"] {
            for c in chains {
                let [family, table, chain] = parts(c);
                let _ = output(tool(family), &["-t", table, flag, chain]);
            }
        }
        for c in chains {
            let [family, table, chain] = parts(c);
            if output(tool(family), &["-t", table, "-S", chain]).is_ok() {
                return Err(io::Error::other(format!(
                    "{} chain {chain} of table {table} could not be deleted",
                    tool(family)
                )));
            }
        }
        Ok(())
    }

    /// The residual's chains and the built-in chains' jumps to them, as listed now
    /// (counters left out); `None` when none of its chains is there.
    pub(super) fn listing(r: &ResidualRecord) -> io::Result<Option<String>> {
        let mut all = String::new();
        let mut found = false;
        for c in &r.owned {
            let [family, table, chain] = parts(c);
            match output(tool(family), &["-t", table, "-S", chain]) {
                Ok(s) => {
                    found = true;
                    all.push_str(&s);
                }
                Err(_) => all.push_str(&format!("missing {c}\n")),
            }
        }
        for h in &r.hooked {
            let [family, table, builtin] = parts(h);
            let target = hook_chain(r, h);
            let ok = output(tool(family), &["-t", table, "-C", builtin, "-j", &target]).is_ok();
            all.push_str(&format!("jump {h} {ok}\n"));
        }
        Ok(found.then_some(all))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_glue_clears_after_and_sets_before_each_place() {
        let p = [Place {
            hook: "input",
            priority: 1,
        }];
        let s = glue_script("web", 0x8000_0000, &p, &p);
        assert!(s.contains("chain restore_input_1 {\n\t\ttype filter hook input priority 2;"));
        assert!(s.contains("meta mark set meta mark & 0x7fffffff"));
        assert!(s.contains("chain transit_input_1 {\n\t\ttype filter hook input priority 0;"));
        assert!(s.contains("meta mark set meta mark | 0x80000000"));
        let cmds = prelude_commands(&s);
        assert_eq!(cmds.len(), 2 + 1 + 2 * 2);
        assert!(glue_script("web", 1, &[], &[]).ends_with("delete table inet sockc_glue_web\n"));
    }
}
