//! `socket NAME = tcp ADDR:PORT cgroup "PATH"`: sockets that register themselves when
//! their service listens (sk_lookup, issue 14). Checks the declaration (TCP, with an
//! address, a cgroup directory) and builds one [`Registrar`] per cgroup, with its
//! counter slots after every rule's. Invariant: a registrar lists only TCP sockets
//! with an address, so its program always has something to compare.

use crate::{
    diag::{Diagnostic, Span},
    ir::{Registrar, SockId},
    syntax::ast::{self, SockProto},
};

use super::Checker;

/// What a registrar counts, one counter slot each (`sockc stats` shows them as the
/// lines of its program).
pub const REGISTRAR_COUNTERS: [&str; 2] = [
    "sockets registered when they listened",
    "sockets not registered: the kernel refused the insertion",
];

impl Checker<'_> {
    /// Checks a declaration's `cgroup "PATH"`; `false` when it has errors.
    pub(super) fn check_socket_cgroup(&mut self, s: &ast::SocketDecl) -> bool {
        let Some((path, span)) = &s.cgroup else {
            return true;
        };
        let before = self.diags.len();
        self.check_cgroup(*span, path);
        if s.proto == SockProto::Udp {
            self.diags.push(
                Diagnostic::error(
                    "sockc::register-udp",
                    format!(
                        "socket `{}` is UDP: it cannot register itself when it binds",
                        s.name.name
                    ),
                )
                .label(*span, "sock_ops sees TCP sockets only")
                .help(
                    "drop `cgroup`; register the UDP socket after each start with \
                     `ExecStartPost=sockc register NAME` (socket activation) or let \
                     `sockc repair` find it by address",
                ),
            );
        }
        if s.addr.is_none() {
            self.diags.push(
                Diagnostic::error(
                    "sockc::register-address",
                    format!(
                        "socket `{}` has no address: a listening socket is recognised by it",
                        s.name.name
                    ),
                )
                .label(*span, "needs `tcp ADDR:PORT` before `cgroup`"),
            );
        }
        self.diags.len() == before
    }

    /// One registrar per cgroup named by a socket declaration, in the order the
    /// cgroups first appear.
    pub(super) fn registrars(&mut self, counter: &mut u32) {
        let named: Vec<(SockId, String, Span)> = std::mem::take(&mut self.self_registered);
        for (id, cgroup, span) in named {
            if let Some(r) = self
                .module
                .registrars
                .iter_mut()
                .find(|r| r.cgroup == cgroup)
            {
                r.sockets.push(id);
                continue;
            }
            let counters = [*counter, *counter + 1];
            *counter += 2;
            let line = self.lines.line(span);
            self.module.registrars.push(Registrar {
                cgroup,
                symbol: String::new(),
                sockets: vec![id],
                counters,
                line,
                span,
            });
        }
    }
}
