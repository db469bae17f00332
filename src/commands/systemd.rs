//! `sockc systemd`: the systemd drop-ins that keep an install's unit blocks (`cgroup
//! egress unit "NAME"`, `cgroup connect unit "NAME"`, ...) on their units across
//! restarts. systemd makes a unit a new
//! cgroup on every start; sockc's link stays with the old one. A drop-in
//! `ROOT/etc/systemd/system/UNIT.d/50-sockc-INSTALL.conf` points
//! `IPIngressFilterPath=`/`IPEgressFilterPath=` (`BPFProgram=TYPE:PATH` for the other
//! cgroup attach types: a socket-call block's two programs, `connect4` and `connect6`
//! ...; each row's setting is in the hook table, `HookSpec::systemd`) at the program the install pins for the unit (beside its link,
//! renamed over by every re-apply: `sockc_runtime::attach::cgroup_skb`), and systemd
//! attaches it to each new cgroup (`BPF_PROG_ATTACH`, multi) when the unit starts.
//!
//! Prints them (default), writes them (`--write`), compares the files with them
//! (`--check`: drift, exit 3) or removes this install's (`--remove`, also after a
//! flush). Invariant: files are written through `output::write_replacing` (a new file
//! renamed over the old, never through a link) and only files named
//! `50-sockc-INSTALL.conf` are ever removed; `systemctl daemon-reload` runs only on the
//! host's own root where systemd is PID 1, and is otherwise asked for.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::Args;
use sockc_compiler::hooks::unit;
use sockc_runtime::{
    attach::cgroup_skb::program_pin,
    install::{self, StatusOptions},
};

use crate::shared::{
    json::sockc_error,
    output::write_replacing,
    privileges,
    stderr::errln,
    stdout::{out, outln},
    store::{check_name, fail, open_for, Target},
    systemd,
};

#[derive(Args)]
pub struct SystemdArgs {
    #[command(flatten)]
    pub target: Target,
    /// the root the drop-ins go under: ROOT/etc/systemd/system/UNIT.d/50-sockc-NAME.conf
    #[arg(long, default_value = "/", value_name = "DIR")]
    pub root: PathBuf,
    /// write the drop-ins (each replaced whole), then daemon-reload where systemd runs
    #[arg(long, conflicts_with_all = ["check", "remove"])]
    pub write: bool,
    /// compare the drop-ins on disk with the install's: missing, changed or left over
    /// is drift (exit 3)
    #[arg(long, conflicts_with = "remove")]
    pub check: bool,
    /// remove the install's drop-ins (also once the install is flushed)
    #[arg(long)]
    pub remove: bool,
}

/// One unit's drop-in: where it goes and what it says.
struct DropIn {
    path: PathBuf,
    text: String,
}

pub fn run(args: &SystemdArgs) -> ExitCode {
    let Some(name) = args.target.name.as_deref() else {
        sockc_error!("name the install whose drop-ins these are (--name)");
        return ExitCode::from(2);
    };
    if let Err(code) = check_name(name) {
        return code;
    }
    if args.remove {
        return remove(&args.root, name);
    }
    let wanted = match drop_ins(&args.target, &args.root, name) {
        Ok(Some(w)) => w,
        // Nothing installed: no drop-in is wanted, so one on disk is a leftover that
        // --check reports (a unit would not start on its missing pin) and --remove
        // takes away; --write does not (a wrong --bpffs would take the drop-ins away).
        Ok(None) if args.check => Vec::new(),
        Ok(None) => return fail(install::InstallError::NotInstalled(name.to_string())),
        Err(code) => return code,
    };
    if args.write {
        write(&args.root, name, &wanted)
    } else if args.check {
        check(&args.root, name, &wanted)
    } else {
        for d in &wanted {
            outln!("# {}", d.path.display());
            out!("{}", d.text);
        }
        ExitCode::SUCCESS
    }
}

/// The drop-ins install `name`'s unit blocks need, one per unit, in unit order;
/// `None` when nothing is installed under that name.
fn drop_ins(target: &Target, root: &Path, name: &str) -> Result<Option<Vec<DropIn>>, ExitCode> {
    let store = open_for("systemd", privileges::READ, target)?;
    let report = match install::status(&store, Some(name), StatusOptions { deep: false }) {
        Ok(r) => r,
        Err(install::InstallError::NotInstalled(_)) => return Ok(None),
        Err(e) => return Err(fail(e)),
    };
    let Some(status) = report.installs.first() else {
        return Ok(None);
    };
    let mut lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for h in &status.hooks {
        let (Some(unit), Some(link)) = (unit::of_attach(&h.attach_to), &h.link) else {
            continue;
        };
        let pin = program_pin(Path::new(link)).display().to_string();
        let Some(setting) = h.hook.spec().systemd else {
            sockc_error!("{}: systemd has no setting that attaches it", h.hook);
            return Err(ExitCode::from(3));
        };
        lines
            .entry(unit.to_string())
            .or_default()
            .push(setting.setting(&pin));
    }
    Ok(Some(
        lines
            .into_iter()
            .map(|(unit, settings)| DropIn {
                path: systemd::drop_in_path(root, &unit, name),
                text: drop_in_text(&unit, name, &settings),
            })
            .collect(),
    ))
}

/// The unit's drop-in: its type's section (`[Service]`, `[Slice]`, ...) with one
/// setting per program.
fn drop_in_text(unit: &str, name: &str, settings: &[String]) -> String {
    let kind = unit.rsplit('.').next().unwrap_or("service");
    let mut section = kind.to_string();
    section[..1].make_ascii_uppercase();
    format!(
        "# Written by `sockc systemd --name {name} --write`: the programs of sockc install\n\
         # {name} for this unit, attached by systemd to the unit's cgroup on every start.\n\
         # `sockc systemd --name {name} --remove` takes it away.\n\
         [{section}]\n{}\n",
        settings.join("\n")
    )
}

/// Writes every drop-in that is not on disk as it should be (its unit's `.d`
/// directory made if needed) and removes those of units without a block; systemd is
/// told only when something changed, so running it after every apply is cheap.
fn write(root: &Path, name: &str, wanted: &[DropIn]) -> ExitCode {
    let mut changed = false;
    for d in wanted {
        if std::fs::read_to_string(&d.path).is_ok_and(|t| t == d.text) {
            continue;
        }
        changed = true;
        if let Some(dir) = d.path.parent() {
            if let Err(e) = std::fs::create_dir_all(dir) {
                sockc_error!("cannot make {}: {e}", dir.display());
                return ExitCode::from(3);
            }
        }
        if let Err(code) = write_replacing(&d.path, d.text.as_bytes()) {
            return code;
        }
        errln!("sockc: wrote {}", d.path.display());
    }
    let stray = systemd::on_disk(root, name)
        .into_iter()
        .filter(|p| !wanted.iter().any(|d| &d.path == p));
    for p in stray {
        changed = true;
        let _ = std::fs::remove_file(&p);
        errln!("sockc: removed {} (its unit has no block now)", p.display());
    }
    if changed {
        systemd::reload(root);
    }
    ExitCode::SUCCESS
}

/// Drift between the drop-ins on disk and the install's: exit 3 when any.
fn check(root: &Path, name: &str, wanted: &[DropIn]) -> ExitCode {
    let mut drift = Vec::new();
    for d in wanted {
        match std::fs::read_to_string(&d.path) {
            Ok(t) if t == d.text => {}
            Ok(_) => drift.push(format!("{}: changed", d.path.display())),
            Err(_) => drift.push(format!("{}: missing", d.path.display())),
        }
    }
    for p in systemd::on_disk(root, name) {
        if !wanted.iter().any(|d| d.path == p) {
            drift.push(format!("{}: its unit has no block", p.display()));
        }
    }
    for d in &drift {
        outln!("drift: {d}");
    }
    if drift.is_empty() {
        outln!("{} drop-in(s) as the install needs them", wanted.len());
        return ExitCode::SUCCESS;
    }
    sockc_error!(
        "drop-ins differ from install {name}'s; `sockc systemd --name {name} --write` writes them"
    );
    ExitCode::from(3)
}

/// Removes install `name`'s drop-ins, wherever a unit has one.
fn remove(root: &Path, name: &str) -> ExitCode {
    match systemd::remove(root, name) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            sockc_error!("{e}");
            ExitCode::from(3)
        }
    }
}
