//! `socket NAME = tcp ADDR:PORT cgroup "PATH"`: sockets that register themselves when
//! their service listens (sk_lookup). Checks the declaration (TCP, with an
//! address, a cgroup directory) and builds one [`Registrar`] per cgroup, with its
//! counter slots after every rule's; and `owner ...`, who may own a socket registered
//! without a cgroup (resolved by [`super::ids`]). Invariant: a registrar lists only TCP
//! sockets with an address, so its program always has something to compare; a
//! declaration has a cgroup or an owner, never both (the registrar, which the kernel
//! runs at `listen()`, sees the socket's cgroup and not its owner).

use crate::{
    diag::{Code, Diagnostic, Span},
    ir::{Registrar, SockId},
    syntax::{
        ast::{self, SockProto},
        ids::IdSet,
    },
};

use super::Checker;

/// What a registrar counts, one counter slot each (`sockc stats` shows them as the
/// lines of its program).
pub(crate) const REGISTRAR_COUNTERS: [&str; 2] = [
    "sockets registered when they listened",
    "sockets not registered: the kernel refused the insertion",
];

impl Checker<'_> {
    /// Checks a declaration's `cgroup "PATH"`; `false` when it has errors.
    pub(super) fn check_socket_cgroup(&mut self, s: &ast::SocketDecl) -> bool {
        let Some((path, span)) = &s.cgroup else {
            return true;
        };
        let before = self.diags.errors();
        self.check_cgroup(*span, path);
        if s.proto == SockProto::Udp {
            self.diags.push(
                Diagnostic::new(
                    Code::RegisterUdp,
                    format!(
                        "socket `{}` is UDP: it cannot register itself when it binds",
                        crate::diag::quote(&s.name.name)
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
                Diagnostic::new(
                    Code::RegisterAddress,
                    format!(
                        "socket `{}` has no address: a listening socket is recognised by it",
                        crate::diag::quote(&s.name.name)
                    ),
                )
                .label(*span, "needs `tcp ADDR:PORT` before `cgroup`"),
            );
        }
        self.diags.errors() == before
    }

    /// The declaration's `owner`, resolved; `None` without one or when it has errors.
    /// Refused beside `cgroup`: the cgroup is the trust boundary, and the registrar
    /// could not keep an owner's promise.
    pub(super) fn socket_owner(&mut self, s: &ast::SocketDecl) -> Option<IdSet> {
        let owner = s.owner.as_ref()?;
        if let Some((_, cgroup)) = &s.cgroup {
            self.diags.push(
                Diagnostic::new(
                    Code::OwnerWithCgroup,
                    format!(
                        "socket `{}` names both a cgroup and an owner",
                        crate::diag::quote(&s.name.name)
                    ),
                )
                .label(owner.span, "owner")
                .label(*cgroup, "cgroup")
                .help(
                    "keep one: with `cgroup`, every socket made inside the cgroup may be \
                     registered, whoever owns it (the program that registers a socket when \
                     it listens sees its cgroup, not its owner); with `owner`, a socket of \
                     that user or group, made anywhere",
                ),
            );
            return None;
        }
        self.resolve_ids(owner)
    }

    /// A declared address a socket can be found on: port 0 is not one (binding it gets
    /// an ephemeral port, never 0), nor a broadcast or multicast address for TCP.
    pub(super) fn check_socket_address(&mut self, s: &ast::SocketDecl) {
        let Some((ip, port)) = s.addr else { return };
        if port == 0 {
            self.diags.push(
                Diagnostic::new(
                    Code::SocketPortZero,
                    format!("socket `{}` is declared on port 0", s.name.name),
                )
                .label(s.span, "no socket is ever bound to port 0")
                .help("declare the port the service binds (binding port 0 gets an ephemeral port)"),
            );
        }
        let no_tcp = match ip {
            std::net::IpAddr::V4(a) => a.is_broadcast() || a.is_multicast(),
            std::net::IpAddr::V6(a) => a.is_multicast(),
        };
        if no_tcp && s.proto == SockProto::Tcp {
            self.diags.push(
                Diagnostic::new(
                    Code::SocketAddress,
                    format!("socket `{}`: no TCP socket listens on {ip}", s.name.name),
                )
                .label(s.span, "a broadcast or multicast address"),
            );
        }
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

#[cfg(test)]
mod tests {
    use crate::driver::{compile, Options};

    fn codes(src: &str) -> Vec<String> {
        let (_, diags) = compile(src, &Options::default());
        diags.iter().map(|d| d.code.to_string()).collect()
    }

    /// A socket refused for being past the limit is not "not declared" where it is used.
    #[test]
    fn a_socket_past_the_limit_is_one_error_not_two() {
        let mut src: String = (0..=crate::ir::SOCKETS_MAX)
            .map(|i| format!("socket s{i} = tcp 127.0.0.1:{}\n", 10_000 + i))
            .collect();
        let last = crate::ir::SOCKETS_MAX;
        src.push_str(&format!(
            "sk_lookup {{\n redirect 3.3.3.3:80 to sock s{last}\n default pass\n}}\n"
        ));
        assert_eq!(codes(&src), ["sockc::too-many-sockets"]);
    }

    /// Two spellings of one cgroup are one registrar; `..` is refused.
    #[test]
    fn cgroup_spellings_are_one_registrar() {
        let src = "socket a = tcp 127.0.0.1:80 cgroup \"/sys/fs/cgroup/unified/svc\"\n\
                   socket b = tcp 127.0.0.1:81 cgroup \"/sys/fs/cgroup/unified//svc/\"\n\
                   sk_lookup {\n redirect 3.3.3.3:80 to sock a\n redirect 3.3.3.3:81 to sock b\n default pass\n}\n";
        let (compiled, diags) = compile(src, &Options::default());
        assert!(diags.is_empty(), "{diags:?}");
        let registrars = &compiled.expect("compiles").module.registrars;
        assert_eq!(registrars.len(), 1);
        assert_eq!(registrars[0].cgroup, "/sys/fs/cgroup/unified/svc");
        assert_eq!(
            codes("socket a = tcp 127.0.0.1:80 cgroup \"/sys/fs/cgroup/unified/x/../svc\"\n"),
            ["sockc::bad-cgroup"]
        );
    }
}
