//! Where an install's hooks live: its network namespace, found by identity (the cookie
//! the manifest records, `crate::netns`) and entered for as long as a command looks at
//! or changes its hooks.
//!
//! Invariant: a command enters an install's namespace only when it is the one the
//! install was applied in — the namespace its recorded path names now, if that is
//! still the same namespace, or else the same namespace reached through a process
//! that lives in it ([`Scope::Orphaned`], for looking and taking hooks off, never for
//! attaching; the one exception is outside this module: the rollback of an unconfirmed
//! change, `confirmation::settle` in the CLI, puts the rules before it back through
//! such a process, where the change still runs) — so nothing is attached in, read
//! from or registered into a namespace that merely took the install's name or inode. A manifest of an older sockc that
//! recorded only the inode is trusted in the namespace with that inode only while one
//! of its hooks is attached there (a live namespace's inode is not reused); otherwise
//! it is [`Scope::Unverified`] (for a named namespace: the calling thread's own, which
//! an install without `--netns` was applied in, cannot have been re-created while the
//! thread is in it).

use std::path::Path;

use sockc_compiler::hooks::Target;

use crate::{
    attach::{backend, link, Attachment, LinkState},
    netns::{self, Identity},
    store::{InstalledProgram, Manifest, Store},
};

/// Where an install's hooks are, as seen from the calling thread.
pub(crate) enum Scope {
    /// The calling thread is in the install's namespace (or the install records none).
    Here,
    /// Entered through its recorded path until this drops.
    Entered { _guard: netns::Entered },
    /// Its path is gone or names another namespace now, but a process lives in the
    /// install's namespace: entered through it until this drops.
    Orphaned { _entered: netns::Entered, pid: u32 },
    /// Gone, or alive where no process shows it: its namespaced hooks went with it or
    /// run where sockc cannot look.
    Gone,
    /// The install records no path and this thread is in another namespace.
    Elsewhere,
    /// Recorded by inode only, and no hook of the install is attached in the namespace
    /// with that inode.
    Unverified,
}

impl Scope {
    /// True where the install's hooks can be attached: its own namespace, reached by
    /// its name (or the calling thread's).
    pub(crate) fn can_attach(&self) -> bool {
        matches!(self, Scope::Here | Scope::Entered { .. })
    }

    /// True where the install's hooks can be read and taken off.
    pub(crate) fn can_look(&self) -> bool {
        matches!(
            self,
            Scope::Here | Scope::Entered { .. } | Scope::Orphaned { .. }
        )
    }

    /// What is wrong with the install's namespace, for `status` and refusals; `None`
    /// when it is where it should be.
    pub(crate) fn problem(&self, m: &Manifest) -> Option<String> {
        let path = m.netns.as_deref().unwrap_or("of the apply");
        match self {
            Scope::Here | Scope::Entered { .. } => None,
            Scope::Orphaned { pid, .. } => Some(format!(
                "network namespace {path} is gone or names another namespace now; the install's hooks still run in the one they were attached in, which PID {pid} keeps alive: `sockc flush --name {}` takes them off",
                m.name
            )),
            Scope::Gone => Some(format!(
                "network namespace {path} is gone or was created again (cookie {} recorded); its hooks went with it, or run where sockc cannot reach them: `sockc flush --name {}` removes the install",
                m.netns_cookie, m.name
            )),
            Scope::Elsewhere => Some(format!(
                "install `{}` lives in another network namespace than this command runs in; run it there",
                m.name
            )),
            Scope::Unverified => Some(format!(
                "network namespace {path} was recorded by an older sockc by inode only ({}), and no hook of the install runs in the namespace with that inode now: it cannot be told apart from a new namespace that took the inode; apply the file again there (which records the namespace's cookie), or `sockc flush --name {}`",
                m.netns_ino, m.name
            )),
        }
    }

    /// What the kernel runs at `p`'s hook as far as can be seen from here.
    pub(crate) fn hook_state(
        &self,
        store: &Store,
        m: &Manifest,
        p: &InstalledProgram,
    ) -> LinkState {
        let live = p.attachment(store, &m.name);
        if self.can_look() || !namespaced(p) {
            return backend(p.hook).live_state(&p.attach_point(), &live, &p.expected());
        }
        match (self, &live) {
            (Scope::Gone, Attachment::Link(pin)) if link::attached_somewhere(pin, p.prog_id) => {
                LinkState::Unreachable
            }
            (Scope::Elsewhere, _) => LinkState::NotHere,
            (Scope::Unverified, _) => LinkState::NetnsUnverified,
            _ => LinkState::NetnsGone,
        }
    }
}

/// Whether `p`'s hook is in a network namespace (an interface's, or the namespace
/// itself, or its netfilter hooks) rather than on a cgroup or a map, which every namespace sees alike.
pub(crate) fn namespaced(p: &InstalledProgram) -> bool {
    matches!(
        p.hook.spec().target,
        Target::Interface | Target::Netns | Target::Netfilter
    )
}

/// Where install `m`'s hooks are; see the module docs.
pub(crate) fn locate(store: &Store, m: &Manifest) -> Scope {
    if m.netns_ino == 0 && m.netns_cookie == 0 {
        // Format 1: no identity was recorded; the path is all there is.
        return match &m.netns {
            Some(p) => {
                netns::enter(Path::new(p)).map_or(Scope::Gone, |g| Scope::Entered { _guard: g })
            }
            None => Scope::Here,
        };
    }
    let (guard, seen) = match &m.netns {
        Some(p) => match netns::enter(Path::new(p)) {
            Ok(e) => {
                let id = e.identity;
                (Some(e), Some(id))
            }
            Err(_) => (None, None),
        },
        None => (None, netns::current().ok()),
    };
    if let Some(id) = seen {
        if matches(m, id) {
            let guard_was_named = guard.is_some();
            let scope = guard.map_or(Scope::Here, |g| Scope::Entered { _guard: g });
            // An older manifest of a named namespace, which is what gets deleted and
            // created again (the caller's own, unnamed, cannot be while it runs here).
            if m.netns_cookie == 0 && guard_was_named && !any_namespaced_hook_attached(store, m) {
                return Scope::Unverified;
            }
            return scope;
        }
    }
    drop(guard);
    if m.netns.is_none() {
        // Applied where the caller was, without a name: the command belongs there.
        return Scope::Elsewhere;
    }
    let want = Identity {
        ino: m.netns_ino,
        cookie: m.netns_cookie,
    };
    match netns::find(want) {
        Some((entered, pid)) => Scope::Orphaned {
            _entered: entered,
            pid,
        },
        None => Scope::Gone,
    }
}

/// Whether `id` is install `m`'s namespace by what `m` records: the cookie, or for an
/// older manifest the inode (which its caller confirms: see the module docs).
pub(crate) fn matches(m: &Manifest, id: Identity) -> bool {
    if m.netns_cookie != 0 {
        id.cookie == m.netns_cookie
    } else {
        m.netns_ino == 0 || id.ino == m.netns_ino
    }
}

/// Whether some hook of `m` on an interface or the namespace itself runs its program
/// here: proof that this namespace, which has `m`'s inode, is `m`'s.
pub(crate) fn any_namespaced_hook_attached(store: &Store, m: &Manifest) -> bool {
    m.programs.iter().filter(|p| namespaced(p)).any(|p| {
        backend(p.hook).live_state(
            &p.attach_point(),
            &p.attachment(store, &m.name),
            &p.expected(),
        ) == LinkState::Attached
    })
}
