//! The flat lists against a plain netfilter interpreter written here: for every
//! ruleset of the corpus, every txlate case and hand-written rulesets that stress
//! jumps, gotos, returns under conditions, policies and several base chains, the first
//! terminal flat rule gives every packet (chosen at the edges of every cube) the
//! verdict the interpreter gives it by walking the chains as the kernel does.

use crate::common;

use sockc_import::{
    eval::{self, Outcome, Packet},
    model::{NfHook, Policy, Ruleset, Verdict},
    read,
    semantics::{
        self,
        atoms::Atoms,
        cond::Converter,
        flatten::{Flattener, Stage},
    },
    Format,
};

/// How a chain walk ends.
enum End {
    Final(Outcome),
    /// `accept`: the base chain ends, the next one runs.
    Accepted,
    /// `return` or the chain's end.
    Returned,
}

struct Interp<'a> {
    rs: &'a Ruleset,
    atoms: Atoms,
}

impl Interp<'_> {
    fn matches(&mut self, id: usize, p: &Packet) -> bool {
        let rule = &self.rs.rules[id];
        let mut conv = Converter {
            atoms: &mut self.atoms,
            sets: &self.rs.sets,
        };
        let region = conv.conjunction(&rule.matches).expect("a region");
        region
            .iter()
            .any(|c| eval::admits(c, &self.atoms, &self.rs.sets, p))
    }

    fn entry_matches(
        &mut self,
        keys: &[sockc_import::model::Key],
        values: &[sockc_import::model::Value],
        p: &Packet,
    ) -> bool {
        let m = sockc_import::model::Match::test(
            keys.to_vec(),
            sockc_import::model::Rhs::Elements(vec![values.to_vec()]),
        );
        let mut conv = Converter {
            atoms: &mut self.atoms,
            sets: &self.rs.sets,
        };
        let region = conv.conjunction(&[m]).expect("a region");
        region
            .iter()
            .any(|c| eval::admits(c, &self.atoms, &self.rs.sets, p))
    }

    fn chain(&mut self, table: usize, chain: usize, p: &Packet, depth: usize) -> End {
        assert!(depth < 64, "the interpreter nests too deep");
        for &id in &self.rs.tables[table].chains[chain].rules.clone() {
            if !self.matches(id, p) {
                continue;
            }
            let mut v = self.rs.rules[id].verdict.clone();
            if let Verdict::Map { keys, entries } = &v {
                let hit = entries
                    .iter()
                    .find(|(vals, _)| self.entry_matches(keys, vals, p))
                    .map(|(_, v)| v.clone());
                match hit {
                    Some(x) => v = x,
                    None => continue,
                }
            }
            match v {
                Verdict::Continue => {}
                Verdict::Accept => return End::Accepted,
                Verdict::Drop => return End::Final(Outcome::Drop),
                Verdict::Reject(_) => return End::Final(Outcome::Reject),
                Verdict::Other { .. } => return End::Final(Outcome::Other),
                Verdict::Return => return End::Returned,
                Verdict::Jump(c) | Verdict::Goto(c) => {
                    let goto = matches!(self.rs.rules[id].verdict, Verdict::Goto(_));
                    let target = self.rs.tables[table].chain(&c).expect("the chain exists");
                    match self.chain(table, target, p, depth + 1) {
                        End::Returned if goto => return End::Returned,
                        End::Returned => {}
                        other => return other,
                    }
                }
                Verdict::Map { .. } => unreachable!("a map entry is a verdict"),
            }
        }
        End::Returned
    }

    fn run(&mut self, stages: &[Stage], p: &Packet) -> Outcome {
        for s in stages {
            let t = &self.rs.tables[s.table];
            let sees = t
                .family
                .ip_versions()
                .iter()
                .any(|v| (*v == sockc_import::model::IpVersion::V4) == (p.family == 4));
            if !sees {
                continue;
            }
            match self.chain(s.table, s.chain, p, 0) {
                End::Final(o) => return o,
                End::Accepted => {}
                End::Returned => {
                    if t.chains[s.chain]
                        .base
                        .as_ref()
                        .is_some_and(|b| b.policy == Policy::Drop)
                    {
                        return Outcome::Drop;
                    }
                }
            }
        }
        Outcome::Accept
    }
}

/// Compares the flat list of `hooks` (interfaces as given) with the interpreter on
/// edge packets; returns the number of packets compared.
fn check(
    rs: &Ruleset,
    hooks: &[NfHook],
    iif: Option<&str>,
    oif: Option<&str>,
    what: &str,
) -> usize {
    let (stages, _) = semantics::stages(rs, hooks);
    let mut atoms = Atoms::default();
    let list = Flattener::new(
        rs,
        &mut atoms,
        iif.map(str::to_string),
        oif.map(str::to_string),
        sockc_import::flat_budget(0),
    )
    .run(&stages)
    .expect("within budget");
    assert!(list.notes.is_empty(), "{what}: {:?}", list.notes);
    let mut interp = Interp {
        rs,
        atoms: Atoms::default(),
    };
    let names: Vec<String> = rs
        .rules
        .iter()
        .flat_map(|r| {
            r.source
                .split(['"', ' '])
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|w| {
            [
                "eth", "br-", "ppp", "lo", "docker", "bridge", "vB", "iif", "oif",
            ]
            .iter()
            .any(|p| w.starts_with(p))
        })
        .collect();
    let mut ifaces: Vec<&str> = names.iter().map(String::as_str).collect();
    ifaces.extend(["lo", "eth0"]);
    let mut n = 0;
    for mut p in eval::edge_packets(&[&list], &ifaces, 400, 7) {
        if let Some(i) = iif {
            p.iif = i.to_string();
        }
        if let Some(o) = oif {
            p.oif = o.to_string();
        }
        let flat = eval::verdict(&list, &atoms, &rs.sets, &p);
        let want = interp.run(&stages, &p);
        assert_eq!(
            flat, want,
            "{what}: the flat list and netfilter differ on {p:?}"
        );
        n += 1;
    }
    n
}

const ALL_HOOKS: [NfHook; 5] = [
    NfHook::Prerouting,
    NfHook::Input,
    NfHook::Forward,
    NfHook::Output,
    NfHook::Postrouting,
];

fn check_all(rs: &Ruleset, what: &str, iface: &str) -> usize {
    let mut n = 0;
    for h in ALL_HOOKS {
        n += check(rs, &[h], None, None, &format!("{what} at {h}"));
    }
    n += check(
        rs,
        &[NfHook::Prerouting, NfHook::Input],
        Some(iface),
        None,
        &format!("{what} at ingress"),
    );
    n += check(
        rs,
        &[NfHook::Output, NfHook::Postrouting],
        None,
        Some(iface),
        &format!("{what} at egress"),
    );
    n
}

#[test]
fn corpus_flat_lists_are_netfilters_verdicts() {
    let mut n = 0;
    for f in common::corpus_files() {
        let text = std::fs::read_to_string(&f.path).unwrap();
        let rs = read(&text, sockc_import::detect::detect(&text).unwrap()).unwrap();
        n += check_all(&rs, &f.name, &f.iface);
    }
    eprintln!("{n} packets compared");
}

#[test]
fn txlate_flat_lists_are_netfilters_verdicts() {
    let mut n = 0;
    let cases = std::fs::read_to_string(common::corpus().join("txlate/cases.jsonl")).unwrap();
    for l in cases.lines() {
        let c: serde_json::Value = serde_json::from_str(l).unwrap();
        for (field, format) in [
            ("iptables_save", Format::Iptables),
            ("nft_ruleset", Format::Nft),
        ] {
            let Some(text) = c[field].as_str().filter(|s| !s.is_empty()) else {
                continue;
            };
            let what = format!("{}:{} {field}", c["file"], c["line"]);
            let rs = read(text, format).unwrap_or_else(|e| panic!("{what}: {e}"));
            n += check_all(&rs, &what, "eth0");
        }
    }
    eprintln!("{n} packets compared");
}

/// Hand-written control flow: returns under conditions of several fields, gotos,
/// a chain called from two places, accept in an earlier base chain, return in a base
/// chain, negations, verdict maps.
#[test]
fn tricky_control_flow() {
    let ipt = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n:C - [0:0]\n\
        -A INPUT -p tcp -j A\n-A INPUT -p udp -g B\n-A INPUT -s 10.0.0.0/8 -j ACCEPT\n-A INPUT -p icmp -j RETURN\n-A INPUT -j A\n\
        -A A -s 192.168.0.0/16 -p tcp --dport 22 -j RETURN\n-A A ! -s 192.168.1.0/24 -p tcp --dport 20:30 -j DROP\n-A A -j C\n-A A -p tcp --sport 1024:65535 -j ACCEPT\n\
        -A B -d 172.16.0.0/12 -j RETURN\n-A B -p udp --dport 53 -j ACCEPT\n-A B -j C\n\
        -A C -p tcp --tcp-flags SYN,ACK SYN -m multiport --dports 80,443 -j ACCEPT\n-A C ! -p tcp -d 8.8.8.8 -j REJECT\n-A C -m iprange --src-range 1.1.1.1-1.1.1.9 -j RETURN\n-A C -p udp -j DROP\nCOMMIT\n\
        *raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -s 10.1.0.0/16 -j ACCEPT\n-A PREROUTING -s 10.0.0.0/8 -p tcp -j DROP\nCOMMIT\n";
    let rs = read(ipt, Format::Iptables).unwrap();
    check_all(&rs, "iptables control flow", "eth0");
    let nft = "table inet t {\n\tchain pre {\n\t\ttype filter hook input priority -10; policy accept;\n\t\tip saddr 10.0.0.0/8 accept\n\t\tip6 saddr fe80::/10 tcp dport 22 drop\n\t\ttcp dport 23 return\n\t\tudp dport 53 drop\n\t}\n\
        \tchain in {\n\t\ttype filter hook input priority 0; policy drop;\n\t\tct state vmap { established : accept, invalid : drop }\n\t\ttcp dport vmap { 22 : jump ssh, 80 : goto web }\n\t\tip daddr != 127.0.0.0/8 tcp flags syn / syn,ack jump ssh\n\t\treturn\n\t}\n\
        \tchain ssh {\n\t\tip saddr { 1.2.3.4, 5.6.7.0/24 } tcp sport 1000-2000 return\n\t\tip saddr 1.2.3.0/24 accept\n\t\ttcp dport 22 drop\n\t}\n\
        \tchain web {\n\t\tip6 saddr != 2001:db8::/32 return\n\t\taccept\n\t}\n}\n\
        table ip late {\n\tchain in {\n\t\ttype filter hook input priority 10; policy accept;\n\t\ttcp dport 80 ip saddr 9.9.9.9 drop\n\t}\n}\n";
    let rs = read(nft, Format::Nft).unwrap();
    check_all(&rs, "nft control flow", "eth0");
}
