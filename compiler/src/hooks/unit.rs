//! Systemd units as cgroup targets: a cgroup block may name a unit (`cgroup egress
//! unit "nginx.service"`) instead of a cgroup v2 path. The block's attach text is then
//! `unit:NAME` ([`attach_text`]), which no path can be (a path starts with `/`), and
//! every stage that needs the directory asks [`cgroup_path`] for it, relative to where
//! cgroup v2 is mounted (the runtime knows that; the compiler does not).
//!
//! Invariant: a name [`check_name`] accepts is one systemd accepts for a unit that has
//! a cgroup of its own (`unit_name_is_valid` with `UNIT_NAME_PLAIN | UNIT_NAME_INSTANCE`,
//! and a unit type that systemd puts in a cgroup), so the directory [`cgroup_path`]
//! gives is the one systemd creates for it on every start.

use crate::syntax::ast::UNIT_PREFIX as PREFIX;

/// The drop-in setting that makes systemd attach a pinned program to a unit's cgroup
/// (`BPF_PROG_ATTACH` with `BPF_F_ALLOW_MULTI`) on every start of the unit: a row of
/// the hook table ([`super::HookSpec::systemd`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemdAttach {
    /// `IPIngressFilterPath=PIN` (systemd 243).
    IngressFilter,
    /// `IPEgressFilterPath=PIN` (systemd 243).
    EgressFilter,
    /// `BPFProgram=TYPE:PIN` (systemd 249), TYPE systemd's name of the attach type
    /// (its `bpf_cgroup_attach_type_table`: `connect4`, `sendmsg6`, `bind4`, ...).
    Program(&'static str),
}

impl SystemdAttach {
    /// The drop-in's line for the program pinned at `pin`.
    pub fn setting(self, pin: &str) -> String {
        match self {
            SystemdAttach::IngressFilter => format!("IPIngressFilterPath={pin}"),
            SystemdAttach::EgressFilter => format!("IPEgressFilterPath={pin}"),
            SystemdAttach::Program(ty) => format!("BPFProgram={ty}:{pin}"),
        }
    }
}

/// Unit types systemd runs in a cgroup of their own (`UNIT_VTABLE(u)->cgroup_context_offset`).
const CGROUP_TYPES: [&str; 6] = ["service", "socket", "scope", "slice", "mount", "swap"];

/// systemd's `UNIT_NAME_MAX` less the terminating NUL.
pub const MAX_LEN: usize = 255;

/// The attach text of a block that names unit `name`.
pub fn attach_text(name: &str) -> String {
    format!("{PREFIX}{name}")
}

/// The unit an attach text names, if it names one.
pub fn of_attach(attach_to: &str) -> Option<&str> {
    attach_to.strip_prefix(PREFIX)
}

/// Why `name` is no unit sockc can attach to, or `None` when it is one.
pub fn check_name(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > MAX_LEN {
        return Some(format!("a unit name is 1 to {MAX_LEN} bytes"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ":-_.\\@".contains(*c)))
    {
        return Some(format!(
            "U+{:04X} is not allowed in a unit name (letters, digits and `:-_.\\@` are)",
            u32::from(c)
        ));
    }
    let Some((stem, kind)) = name.rsplit_once('.') else {
        return Some("a unit name ends with its type (`.service`, `.slice`, ...)".into());
    };
    if !CGROUP_TYPES.contains(&kind) {
        return Some(format!(
            "`.{kind}` units have no cgroup of their own (these do: {})",
            CGROUP_TYPES.map(|t| format!(".{t}")).join(", ")
        ));
    }
    if stem.starts_with('@') {
        return Some(
            "a unit name cannot start with `@` (its template's name goes before it)".into(),
        );
    }
    if stem.is_empty() || stem.ends_with('@') {
        return Some(
            "a template unit has no cgroup; name one of its instances (`name@instance.service`)"
                .into(),
        );
    }
    if kind == "slice" && stem != "-" {
        return slice_problem(stem);
    }
    None
}

/// Why systemd refuses `STEM.slice` (`slice_name_is_valid`): a slice's name is its
/// place in the tree of slices, so a `-` cannot start or end it or come twice in a
/// row (no parent has an empty name), and a slice has no instances.
fn slice_problem(stem: &str) -> Option<String> {
    if stem.contains('@') {
        return Some("a slice has no instances (`@`)".into());
    }
    let dashes = stem.starts_with('-') || stem.ends_with('-') || stem.contains("--");
    dashes.then(|| {
        "a slice's name is its path in the tree of slices (`a-b.slice` is in `a.slice`): a `-` \
         cannot start or end it, nor follow another"
            .into()
    })
}

/// Where systemd puts unit `name`'s cgroup, relative to the cgroup v2 mount: a slice
/// at its place in the tree of slices (`a-b.slice` is `a.slice/a-b.slice`, `-.slice`
/// the root), any other unit in `system.slice` (its default `Slice=`; a unit that
/// another slice holds is named by its path instead).
pub fn cgroup_path(name: &str) -> String {
    let Some(stem) = name.strip_suffix(".slice") else {
        // PID 1's scope is in the root slice, as the slices systemd starts with are.
        if name == "init.scope" {
            return escaped(name);
        }
        // An instance of a template is in the template's slice, `system-PREFIX.slice`
        // (systemd's `unit_set_default_slice`, PREFIX escaped as a unit name is).
        if let Some((prefix, _)) = name.split_once('@') {
            let slice = format!("system-{}.slice", unit_name_escape(prefix));
            return format!("system.slice/{}/{}", escaped(&slice), escaped(name));
        }
        return format!("system.slice/{}", escaped(name));
    };
    if stem == "-" {
        return String::new();
    }
    let mut parts = Vec::new();
    for (i, _) in stem.match_indices('-') {
        parts.push(escaped(&format!("{}.slice", &stem[..i])));
    }
    parts.push(escaped(name));
    parts.join("/")
}

/// `text` as systemd's `unit_name_escape` writes it into a unit name: `/` as `-`,
/// and `-`, `\\` and every byte but letters, digits, `:`, `_` and a `.` that does not
/// lead as `\\xNN`.
fn unit_name_escape(text: &str) -> String {
    let mut out = String::new();
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i > 0 => out.push('.'),
            b if b.is_ascii_alphanumeric() || b == b':' || b == b'_' => out.push(b as char),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// Controller names systemd keeps a unit's cgroup from looking like (`CONTROLLER.` is
/// a controller's file): those of systemd 252 (Debian 12's), `cpuacct` and `blkio`
/// included, which later versions dropped.
const CONTROLLERS: [&str; 13] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "io",
    "blkio",
    "memory",
    "devices",
    "pids",
    "bpf-firewall",
    "bpf-devices",
    "bpf-foreign",
    "bpf-socket-bind",
    "bpf-restrict-network-interfaces",
];

/// A unit's (or slice's) directory name as systemd makes it (`cg_escape`): with a `_`
/// in front when the name could be taken for a file of the cgroup's own (it starts
/// with `_` or `.`, with `cgroup.`, or with a controller's name and a `.`).
fn escaped(name: &str) -> String {
    let controller_file = CONTROLLERS.iter().any(|c| {
        name.strip_prefix(c)
            .is_some_and(|rest| rest.starts_with('.'))
    });
    if name.starts_with(['_', '.']) || name.starts_with("cgroup.") || controller_file {
        format!("_{name}")
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_live_in_system_slice_and_slices_nest_by_dashes() {
        assert_eq!(cgroup_path("nginx.service"), "system.slice/nginx.service");
        assert_eq!(
            cgroup_path("getty@tty1.service"),
            "system.slice/system-getty.slice/getty@tty1.service"
        );
        assert_eq!(
            cgroup_path("openvpn-client@x.service"),
            "system.slice/system-openvpn\\x2dclient.slice/openvpn-client@x.service"
        );
        assert_eq!(cgroup_path("system.slice"), "system.slice");
        assert_eq!(cgroup_path("a-b-c.slice"), "a.slice/a-b.slice/a-b-c.slice");
        assert_eq!(cgroup_path("-.slice"), "");
    }

    /// systemd's `cg_escape`: a name that could be taken for a cgroup's own file gets
    /// a `_` in front, in every part of the path; PID 1's scope is at the top.
    #[test]
    fn names_like_a_cgroups_own_files_are_escaped_as_systemd_escapes_them() {
        assert_eq!(cgroup_path("_foo.service"), "system.slice/__foo.service");
        assert_eq!(cgroup_path("io.service"), "system.slice/_io.service");
        assert_eq!(
            cgroup_path("memory.service"),
            "system.slice/_memory.service"
        );
        assert_eq!(
            cgroup_path("cgroup.service"),
            "system.slice/_cgroup.service"
        );
        assert_eq!(cgroup_path("_data.mount"), "system.slice/__data.mount");
        assert_eq!(cgroup_path("io-x.slice"), "_io.slice/io-x.slice");
        assert_eq!(cgroup_path("iox.service"), "system.slice/iox.service");
        assert_eq!(cgroup_path("cpus.service"), "system.slice/cpus.service");
        assert_eq!(cgroup_path("init.scope"), "init.scope");
    }

    #[test]
    fn names_systemd_refuses_or_without_a_cgroup_are_refused() {
        assert_eq!(check_name("nginx.service"), None);
        assert_eq!(check_name("getty@tty1.service"), None);
        assert_eq!(check_name("machine-qemu\\x2d1.scope"), None);
        for bad in [
            "",
            "nginx",
            "nginx.timer",
            "getty@.service",
            ".service",
            "a b.service",
            "../x.service",
            "a/b.service",
            // Slices systemd refuses (`systemd-analyze verify`: "Invalid argument").
            "a--x.slice",
            "-a.slice",
            "a-.slice",
            "a@x.slice",
            "@foo.service",
        ] {
            assert!(check_name(bad).is_some(), "{bad:?}");
        }
        for slice in ["-.slice", "a.slice", "a-b.slice", "a-b-c.slice"] {
            assert_eq!(check_name(slice), None, "{slice:?}");
        }
        assert!(check_name(&format!("{}.service", "a".repeat(250))).is_some());
    }

    /// Every row whose blocks may name a unit (a cgroup block's) has the drop-in setting
    /// systemd attaches its program with, `BPFProgram=`'s attach type spelled as
    /// systemd spells it; no other row has one.
    #[test]
    fn every_cgroup_block_row_has_its_systemd_setting() {
        use super::super::{HookKind as K, Target, HOOKS};
        let want = |k: K| match k {
            K::CgroupIngress => Some(SystemdAttach::IngressFilter),
            K::CgroupEgress => Some(SystemdAttach::EgressFilter),
            K::CgroupConnect4 => Some(SystemdAttach::Program("connect4")),
            K::CgroupConnect6 => Some(SystemdAttach::Program("connect6")),
            K::CgroupSendmsg4 => Some(SystemdAttach::Program("sendmsg4")),
            K::CgroupSendmsg6 => Some(SystemdAttach::Program("sendmsg6")),
            K::CgroupBind4 => Some(SystemdAttach::Program("bind4")),
            K::CgroupBind6 => Some(SystemdAttach::Program("bind6")),
            _ => None,
        };
        for row in &HOOKS {
            assert_eq!(row.systemd, want(row.kind), "{}", row.name);
            let cgroup_block = row.block && row.target == Target::Cgroup;
            assert_eq!(row.systemd.is_some(), cgroup_block, "{}", row.name);
        }
        assert_eq!(
            SystemdAttach::Program("bind6").setting("/p"),
            "BPFProgram=bind6:/p"
        );
        assert_eq!(
            SystemdAttach::EgressFilter.setting("/p"),
            "IPEgressFilterPath=/p"
        );
    }

    #[test]
    fn the_attach_text_round_trips_and_no_path_is_a_unit() {
        assert_eq!(of_attach(&attach_text("x.service")), Some("x.service"));
        assert_eq!(of_attach("/sys/fs/cgroup/unit:x.service"), None);
    }
}
