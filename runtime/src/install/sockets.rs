//! The install's socket slots: which slot of the install's socket map (`keep_sockets`)
//! each declared socket name holds, kept across generations.
//!
//! A name keeps its slot for as long as some generation declares it, so a re-apply
//! that adds, removes or reorders declarations leaves every registered socket where
//! the new programs look for it; a new name takes the lowest slot no name holds.
//! Invariant: after a commit, a slot holds a socket only if the committed generation
//! declares a socket of that slot's name with the declaration it had when the socket
//! was registered — the slots of names that are gone, and of names whose protocol or
//! address changed, are emptied (their socket answered the old declaration), so a
//! redirect never reaches a socket its rule did not mean.

use std::collections::BTreeMap;

use sockc_compiler::{bpf::maps::SOCKETS_MAP, metadata::SocketMeta};

use crate::{socket_map::SocketMap, store::Store};

/// Slots by name for a generation declaring `sockets`, given the installed
/// generation's (`old`).
pub fn assign_slots(old: &BTreeMap<String, u32>, sockets: &[SocketMeta]) -> BTreeMap<String, u32> {
    let mut out: BTreeMap<String, u32> = sockets
        .iter()
        .filter_map(|s| old.get(&s.name).map(|&slot| (s.name.clone(), slot)))
        .collect();
    // Slots still held by names the installed generation has stay reserved until the
    // commit empties them: its programs may still be running.
    let mut taken: std::collections::BTreeSet<u32> = old.values().copied().collect();
    let mut next = 0u32;
    for s in sockets {
        if out.contains_key(&s.name) {
            continue;
        }
        while taken.contains(&next) {
            next += 1;
        }
        taken.insert(next);
        out.insert(s.name.clone(), next);
    }
    out
}

/// The slot of each socket of `sockets`, in their order (what the programs are loaded
/// with).
pub fn slots_in_order(slots: &BTreeMap<String, u32>, sockets: &[SocketMeta]) -> Vec<u32> {
    sockets.iter().map(|s| slots[&s.name]).collect()
}

/// After a commit: empties the slots whose name the committed generation no longer
/// declares, or declares differently; returns a line per slot emptied that held a
/// socket.
pub fn clear_stale(
    store: &Store,
    name: &str,
    old: (&BTreeMap<String, u32>, &[SocketMeta]),
    new: (&BTreeMap<String, u32>, &[SocketMeta]),
) -> Vec<String> {
    let Ok(map) = SocketMap::open(&store.keep_path(name, SOCKETS_MAP)) else {
        return Vec::new();
    };
    let mut notices = Vec::new();
    for (socket, &slot) in old.0 {
        let before = old.1.iter().find(|s| &s.name == socket);
        let after = new.1.iter().find(|s| &s.name == socket);
        let why = match (before, after) {
            (_, None) => "no longer declared",
            (Some(b), Some(a)) if b != a => "declared differently now",
            _ => continue,
        };
        // A slot a new name took over was emptied when that name was assigned... no:
        // slots of names that are gone stay reserved until here, so this slot is still
        // the old name's.
        if new.0.values().any(|&s| s == slot) && after.is_none() {
            continue;
        }
        if let Ok(Some(_)) = map.cookie(slot) {
            if map.remove(slot).is_ok() {
                notices.push(format!(
                    "socket {socket}: {why}; its registered socket was taken out of the socket map"
                ));
            }
        }
    }
    notices
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(name: &str) -> SocketMeta {
        SocketMeta {
            name: name.into(),
            proto: "tcp".into(),
            addr: None,
        }
    }

    /// Names keep their slots; new names take the lowest slots that no installed name
    /// holds (a name that is going away keeps its slot reserved).
    #[test]
    fn names_keep_their_slots_and_new_names_fill_gaps() {
        let first = assign_slots(&BTreeMap::new(), &[decl("a"), decl("b"), decl("c")]);
        assert_eq!(
            first,
            BTreeMap::from([("a".into(), 0), ("b".into(), 1), ("c".into(), 2)])
        );
        // b goes, d comes, order changes: a and c keep 0 and 2; d may not take b's 1
        // while b's socket can still be in use.
        let second = assign_slots(&first, &[decl("c"), decl("d"), decl("a")]);
        assert_eq!(
            second,
            BTreeMap::from([("a".into(), 0), ("c".into(), 2), ("d".into(), 3)])
        );
        // Next time b is long gone: e takes 1.
        let third = assign_slots(&second, &[decl("e"), decl("a"), decl("c"), decl("d")]);
        assert_eq!(third["e"], 1);
        assert_eq!(slots_in_order(&third, &[decl("d"), decl("e")]), vec![3, 1]);
    }
}
