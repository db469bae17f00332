//! The kernel side of `sockc test` for sk_lookup: real sockets for the registered
//! names, put into the program's socket map, and one `BPF_PROG_TEST_RUN` per lookup
//! (a `struct bpf_sk_lookup` and no packet; the kernel reports the selected socket's
//! cookie).
//!
//! Each registered name gets the socket its service would have: a TCP listener or an
//! unconnected UDP socket (the only kinds `bpf_sk_assign` takes), bound to the
//! declared address and port, or to `[::]` on a free port when the declaration has
//! none. They are made in a private network namespace where every address is local
//! ([`SocketNetns`]), so no host service is disturbed and no host address is needed;
//! the test run itself does not depend on the namespace. The slot of a name is its
//! declaration's index, as in an object loaded on its own. Invariant: the sockets live
//! as long as the [`Registered`] value, and a selected socket is named only by the
//! cookie of one of them.

use std::{
    collections::BTreeSet,
    net::SocketAddr,
    os::fd::{AsFd, OwnedFd},
};

use sockc_compiler::{
    ir::{Module, Program, SockId},
    syntax::ast::SockProto,
};
use sockc_runtime::{attach::sk_lookup::context, slot_map::socket_cookie, LoadedObject};
use sockc_testkit::{
    compare::{moved_between, Moves},
    eval::Lookup,
    socket_fixture::SocketNetns,
};

/// The registered names' sockets, in the loaded object's socket map.
pub struct Registered {
    /// (name, where the socket is bound, its cookie); the descriptors are held open.
    sockets: Vec<(SockId, SocketAddr, u64)>,
    _fds: Vec<OwnedFd>,
    _netns: SocketNetns,
}

impl Registered {
    /// Makes a socket for every name of `registered` and puts it into `obj`'s socket
    /// map under the name's slot.
    pub fn make(
        module: &Module,
        obj: &LoadedObject,
        registered: &BTreeSet<SockId>,
    ) -> Result<Registered, String> {
        let netns = SocketNetns::new().map_err(|e| format!("sk_lookup sockets: {e}"))?;
        let wanted: Vec<(SockId, SockProto, SocketAddr)> = registered
            .iter()
            .map(|&id| {
                let s = &module.sockets[id];
                let at = s
                    .addr
                    .map_or_else(|| "[::]:0".parse().expect("an address"), SocketAddr::from);
                (id, s.proto, at)
            })
            .collect();
        let made = netns
            .run(None, move || {
                wanted
                    .into_iter()
                    .map(|(id, proto, at)| bind(proto, at).map(|(fd, bound)| (id, fd, bound)))
                    .collect::<Result<Vec<_>, String>>()
            })
            .map_err(|e| format!("sk_lookup sockets: {e}"))??;
        let map = obj
            .socket_map()
            .ok_or("sk_lookup: the compiled object has no socket map")?;
        let mut sockets = Vec::new();
        let mut fds = Vec::new();
        for (id, fd, bound) in made {
            let name = &module.sockets[id].name;
            map.insert(id.as_u32(), fd.as_fd())
                .map_err(|e| format!("registering a socket for `{name}`: {e}"))?;
            let cookie = socket_cookie(fd.as_fd())
                .map_err(|e| format!("the cookie of `{name}`'s socket: {e}"))?;
            sockets.push((id, bound, cookie));
            fds.push(fd);
        }
        Ok(Registered {
            sockets,
            _fds: fds,
            _netns: netns,
        })
    }

    /// The cookie of the socket registered for `sock`.
    pub fn cookie_of(&self, sock: SockId) -> Option<u64> {
        self.sockets
            .iter()
            .find(|s| s.0 == sock)
            .map(|&(_, _, cookie)| cookie)
    }

    /// The name whose socket has `cookie`.
    pub fn name_of(&self, module: &Module, cookie: u64) -> Option<String> {
        self.sockets
            .iter()
            .find(|s| s.2 == cookie)
            .map(|&(id, _, _)| module.sockets[id].name.clone())
    }

    /// Every registered name and where its socket is bound, for the notes.
    pub fn describe(&self, module: &Module) -> Vec<String> {
        self.sockets
            .iter()
            .map(|&(id, at, _)| {
                let s = &module.sockets[id];
                format!("{} ({} {at})", s.name, s.proto.name())
            })
            .collect()
    }
}

/// A TCP listener or an unbound-peer UDP socket on `at`, and where it is bound.
fn bind(proto: SockProto, at: SocketAddr) -> Result<(OwnedFd, SocketAddr), String> {
    use socket2::{Domain, Socket, Type};
    let made = (|| {
        let ty = match proto {
            SockProto::Tcp => Type::STREAM,
            SockProto::Udp => Type::DGRAM,
        };
        let socket = Socket::new(Domain::for_address(at), ty, None)?;
        // An address of no interface of the run's namespace (its AnyIP route takes
        // IPv4, but an IPv6 bind needs FREEBIND even so).
        if at.is_ipv4() {
            socket.set_freebind_v4(true)?;
        } else {
            socket.set_freebind_v6(true)?;
        }
        if proto == SockProto::Tcp {
            // As `TcpListener::bind`, which this replaced, sets it.
            socket.set_reuse_address(true)?;
        }
        socket.bind(&at.into())?;
        if proto == SockProto::Tcp {
            socket.listen(16)?;
        }
        let bound = socket.local_addr()?.as_socket().unwrap_or(at);
        Ok::<_, std::io::Error>((OwnedFd::from(socket), bound))
    })();
    made.map_err(|e| format!("a {} socket on {at}: {e}", proto.name()))
}

/// What the kernel did with one lookup.
pub struct LookupRun {
    pub retval: u32,
    /// The cookie of the socket the program selected.
    pub selected: Option<u64>,
    /// Rule counters that moved.
    pub moved: Moves,
    /// Socket drop counters that moved, by declaration index: (nothing registered,
    /// the kernel refused the registered socket).
    pub drops: Vec<(usize, (u64, u64))>,
    /// With `--repeat`: the kernel's ns per lookup.
    pub ns_per_lookup: Option<f64>,
}

/// Runs `prog` on `lookup` once (and `repeat` more times, timed), reading the rule
/// and socket drop counters around the single run.
pub fn run(
    obj: &LoadedObject,
    prog: &Program,
    lookup: &Lookup,
    repeat: Option<u32>,
) -> Result<LookupRun, String> {
    let chain = |e: sockc_runtime::RuntimeError| sockc_runtime::error_chain(&e);
    let ctx = context(lookup.proto, lookup.remote, lookup.local);
    let counters = obj.counters().map_err(chain)?;
    let drops = obj.socket_drops().map_err(chain)?;
    let r = obj.test_run(&prog.symbol, &ctx, 1).map_err(chain)?;
    let counters_after = obj.counters().map_err(chain)?;
    let drops_after = obj.socket_drops().map_err(chain)?;
    let ns_per_lookup = match repeat {
        Some(n) => Some(
            obj.test_run(&prog.symbol, &ctx, n)
                .map_err(chain)?
                .duration
                .as_nanos() as f64,
        ),
        None => None,
    };
    Ok(LookupRun {
        retval: r.retval,
        selected: r.selected,
        moved: moved_between(&counters, &counters_after),
        drops: moved_between(&drops, &drops_after)
            .into_iter()
            .map(|(i, d)| (i as usize, d))
            .collect(),
        ns_per_lookup,
    })
}
