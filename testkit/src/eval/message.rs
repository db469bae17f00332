//! The reference meaning of a sockmap block (docs/language.md, "sockmap blocks") for
//! one message a socket sends (`sockmap`) or one chunk of data it receives (`sockmap
//! receive`), written from the language reference and not from the lowering.
//!
//! A rule sees the connection's addresses and ports: sending, `from` is the socket's
//! local end and `to` its remote end; receiving, the other way round. An IPv4 address a
//! dual-stack socket shows as `::ffff:a.b.c.d` is IPv4. The protocol is TCP. What the
//! kernel adds is in [`MessageFacts`]: whether the peer socket is local and in the
//! same socket map, whether the socket has sent through the TCP stack before (after
//! which `redirect local` never redirects it), and which named sockets are registered.

use std::net::{IpAddr, SocketAddr};

use sockc_compiler::{
    hooks::HookKind,
    ir::{sockmap::SockmapGroup, Action, Module, Program, SockId},
    syntax::ast::Verdict,
};

use super::{packet_matches, Decider, Headers, IpHeader, L4Fields};

/// One message on a connected TCP socket, as its own ends name the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketMessage {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Bytes (what the rule's byte counter adds).
    pub len: usize,
}

/// What the kernel knows about the socket beyond its addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageFacts {
    /// The socket at the other end of the connection is on this host, in the same
    /// network namespace and in the same socket map.
    pub peer_in_map: bool,
    /// The socket has let a message through the TCP stack before.
    pub sent_through_stack: bool,
    /// Named sockets registered in the socket map.
    pub registered: Vec<SockId>,
}

/// What happens to the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageOutcome {
    /// Through the TCP stack (`SK_PASS`, no redirect).
    Pass,
    /// Dropped (`SK_DROP`): a send fails with `EACCES`; received data is discarded.
    Drop,
    /// Into the peer socket's receive queue (`redirect local`).
    Peer,
    /// To a named socket: out of it, or with `ingress` into its receive queue.
    Sock { sock: SockId, ingress: bool },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageEvaluation {
    pub decider: Decider,
    pub outcome: MessageOutcome,
    /// `count` rules passed on the way (rule indexes).
    pub counted: Vec<usize>,
    /// The counter slot of the decider: a `redirect local` rule counts redirected
    /// messages in its own slot and the ones it sent through the stack in the second
    /// slot its group gives it.
    pub slot: u32,
}

impl MessageEvaluation {
    /// Every counter slot that rises by one message.
    pub fn counter_slots(&self, prog: &Program) -> Vec<u32> {
        let mut slots: Vec<u32> = self
            .counted
            .iter()
            .map(|&i| prog.rules[i].counter)
            .collect();
        slots.push(self.slot);
        slots
    }
}

/// An IPv4-mapped IPv6 address is the IPv4 address it maps.
fn plain(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    }
}

/// Evaluates one message against a sockmap block (send or receive side).
pub fn evaluate_message(
    module: &Module,
    prog: &Program,
    msg: &SocketMessage,
    facts: &MessageFacts,
) -> MessageEvaluation {
    let send = prog.hook == HookKind::SockmapSend;
    let (from, to) = if send {
        (msg.local, msg.remote)
    } else {
        (msg.remote, msg.local)
    };
    let headers = Headers {
        len: msg.len,
        ether_type: None,
        vlan: None,
        ip: Some(IpHeader {
            src: plain(from.ip()),
            dst: plain(to.ip()),
            proto: 6,
            fragment: false,
            // The socket layer has no IP header: no rule there tests it.
            ttl: 0,
            tos: 0,
            l4: L4Fields::Ports {
                sport: from.port(),
                dport: to.port(),
                tcp_flags: None,
            },
        }),
    };
    let group: Option<&SockmapGroup> = module.sockmaps.iter().find(|g| g.cgroup == prog.attach_to);
    let mut counted = Vec::new();
    for (i, rule) in prog.rules.iter().enumerate() {
        if !packet_matches(module, &rule.m, &headers) {
            continue;
        }
        let (outcome, slot) = match rule.action {
            Action::Count => {
                counted.push(i);
                continue;
            }
            Action::Allow => (MessageOutcome::Pass, rule.counter),
            Action::Drop => (MessageOutcome::Drop, rule.counter),
            Action::Pass => unreachable!("sockmap blocks have no `pass`"),
            Action::Reject(_) => unreachable!("sockmap blocks have no `reject`"),
            Action::RedirectCall(_) => unreachable!("sockmap blocks redirect to sockets"),
            Action::Redirect(None) if facts.peer_in_map && !facts.sent_through_stack => {
                (MessageOutcome::Peer, rule.counter)
            }
            Action::Redirect(None) => (
                MessageOutcome::Pass,
                group
                    .and_then(|g| g.stack_counter(i))
                    .expect("a redirect local rule has a stack counter"),
            ),
            Action::Redirect(Some(sock)) | Action::RedirectIngress(sock) => {
                let ingress = matches!(rule.action, Action::RedirectIngress(_));
                if facts.registered.contains(&sock) {
                    (MessageOutcome::Sock { sock, ingress }, rule.counter)
                } else {
                    // Not registered: drops and counts (docs/design.md).
                    (MessageOutcome::Drop, rule.counter)
                }
            }
        };
        return MessageEvaluation {
            decider: Decider::Rule(i),
            outcome,
            counted,
            slot,
        };
    }
    MessageEvaluation {
        decider: Decider::Default,
        outcome: match prog.default {
            Verdict::Drop => MessageOutcome::Drop,
            Verdict::Allow | Verdict::Pass => MessageOutcome::Pass,
        },
        counted,
        slot: prog.default_counter,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(src: &str) -> Module {
        let (c, diags) = sockc_compiler::compile(src, &Default::default());
        assert!(c.is_some(), "{diags:?}");
        c.unwrap().module
    }

    fn msg(local: &str, remote: &str) -> SocketMessage {
        SocketMessage {
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            len: 10,
        }
    }

    const SRC: &str = "socket p = tcp\n\
        sockmap cgroup \"/sys/fs/cgroup/x\" {\n\
        drop to 192.0.2.0/24\n\
        count from *:8080\n\
        redirect to *:3128 to sock p ingress\n\
        redirect local\n\
        default allow\n}\n\
        sockmap receive cgroup \"/sys/fs/cgroup/x\" {\n\
        drop from 198.51.100.0/24\n\
        default allow\n}\n";

    #[test]
    fn send_side_reads_local_as_from_and_maps_v4_in_v6() {
        let m = module(SRC);
        let send = m.programs.values().next().unwrap();
        let f = MessageFacts::default();
        let e = evaluate_message(&m, send, &msg("10.0.0.1:5000", "192.0.2.7:80"), &f);
        assert_eq!(
            (e.decider, e.outcome),
            (Decider::Rule(0), MessageOutcome::Drop)
        );
        let e = evaluate_message(
            &m,
            send,
            &msg("[::ffff:10.0.0.1]:5000", "[::ffff:192.0.2.7]:80"),
            &f,
        );
        assert_eq!(e.outcome, MessageOutcome::Drop, "v4-mapped is IPv4");
        let e = evaluate_message(&m, send, &msg("10.0.0.1:8080", "10.0.0.2:3128"), &f);
        assert_eq!(e.counted, vec![1]);
        assert_eq!(
            e.outcome,
            MessageOutcome::Drop,
            "an unregistered socket drops"
        );
        let reg = MessageFacts {
            registered: vec![SockId::from_u32(0)],
            ..f.clone()
        };
        let e = evaluate_message(&m, send, &msg("10.0.0.1:8080", "10.0.0.2:3128"), &reg);
        assert_eq!(
            e.outcome,
            MessageOutcome::Sock {
                sock: SockId::from_u32(0),
                ingress: true
            }
        );
    }

    #[test]
    fn redirect_local_needs_a_peer_and_a_socket_that_never_used_the_stack() {
        let m = module(SRC);
        let send = m.programs.values().next().unwrap();
        let g = &m.sockmaps[0];
        let m1 = msg("127.0.0.1:5000", "127.0.0.1:6000");
        let peer = MessageFacts {
            peer_in_map: true,
            ..Default::default()
        };
        let e = evaluate_message(&m, send, &m1, &peer);
        assert_eq!(
            (e.outcome, e.slot),
            (MessageOutcome::Peer, send.rules[3].counter)
        );
        let used = MessageFacts {
            sent_through_stack: true,
            ..peer
        };
        let e = evaluate_message(&m, send, &m1, &used);
        assert_eq!(e.outcome, MessageOutcome::Pass);
        assert_eq!(Some(e.slot), g.stack_counter(3));
        let e = evaluate_message(&m, send, &m1, &MessageFacts::default());
        assert_eq!(Some(e.slot), g.stack_counter(3));
    }

    #[test]
    fn receive_side_reads_remote_as_from() {
        let m = module(SRC);
        let recv = m.programs.values().nth(1).unwrap();
        let f = MessageFacts::default();
        let e = evaluate_message(&m, recv, &msg("10.0.0.1:80", "198.51.100.3:4000"), &f);
        assert_eq!(e.outcome, MessageOutcome::Drop);
        let e = evaluate_message(&m, recv, &msg("198.51.100.3:80", "10.0.0.1:4000"), &f);
        assert_eq!(
            (e.decider, e.outcome),
            (Decider::Default, MessageOutcome::Pass)
        );
    }
}
