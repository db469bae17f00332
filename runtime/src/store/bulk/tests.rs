//! Tests of the bulk records: named by their digest, checked when read, sealed,
//! collected when nothing names them, and a program record never held whole.

use super::*;

/// A fresh directory on bpffs (records are pins), or `None` when not root.
fn scratch(tag: &str) -> Option<std::path::PathBuf> {
    if !crate::sys::tests_run_as_root() {
        return None;
    }
    let dir = Path::new("/sys/fs/bpf").join(format!("sockc-bulk-{tag}-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    Some(dir)
}

#[test]
fn a_json_record_is_named_by_the_digest_of_its_bytes_and_reads_back_whole() {
    let Some(dir) = scratch("json") else { return };
    let at = open_dir(&dir).unwrap();
    // Several record elements of JSON, escapes included.
    let value: Vec<String> = (0..3000)
        .map(|i| format!("rule {i}: \"to\" \\ 1.2.3.4"))
        .collect();
    let json = serde_json::to_vec(&value).unwrap();
    assert!(json.len() > 2 * crate::store::record_writer::CHUNK);
    let digest = put_json(&dir, &at, &value).unwrap();
    // The name a record of these bytes always had (records written whole).
    assert_eq!(digest, sha256(&[&json]));
    assert_eq!(get_one(&dir, &at, &digest).unwrap(), json);
    // Written once: found by its name the second time.
    assert_eq!(put_json(&dir, &at, &value).unwrap(), digest);
    // Held whole (a journal after the load): the same bytes, the same name.
    let buffered = serde_json::to_vec(&value).unwrap();
    assert_eq!(put_one(&dir, &at, &[&buffered]).unwrap(), digest);
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        names,
        [std::ffi::OsString::from(format!("{PREFIX}{digest}"))]
    );
    remove_tree(&dir).unwrap();
}

/// A record of several megabytes (a large set's) is hashed beside its writing and
/// its reading: named by the digest of its bytes all the same, read back whole,
/// and refused when one byte in its last piece changed.
#[test]
fn a_large_record_is_named_by_its_digest_and_checked_when_read() {
    let Some(dir) = scratch("large") else { return };
    let at = open_dir(&dir).unwrap();
    // Not a whole number of elements or pieces: the last of each is partial.
    let bytes: Vec<u8> = (0..3 * HASHED_BESIDE_FROM + 12_345)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let (head, tail) = bytes.split_at(1000);
    let digest = put_one(&dir, &at, &[head, tail]).unwrap();
    assert_eq!(digest, sha256(&[&bytes]));
    assert!(get_one(&dir, &at, &digest).unwrap() == bytes);
    // The same bytes but one, written under the first one's name.
    let mut changed = bytes.clone();
    *changed.last_mut().unwrap() ^= 1;
    let name = format!("{PREFIX}{digest}");
    write_record_at(&dir, &at, &name, &[&changed]).unwrap();
    let err = get_one(&dir, &at, &digest).unwrap_err().to_string();
    assert!(err.contains("does not hold the bytes"), "{err}");
    remove_tree(&dir).unwrap();
}

/// A record sealed with a digest (frozen, read-only to programs, the digest after
/// its bytes) is taken to hold the bytes of that digest without hashing them; one
/// whose trailer names another digest (a record swapped in under this name), or
/// one not frozen, is hashed, and refused when its bytes are not its name's.
#[test]
fn a_sealed_record_is_trusted_only_frozen_and_under_its_own_digest() {
    let Some(dir) = scratch("sealed") else { return };
    let at = open_dir(&dir).unwrap();
    let bytes: Vec<u8> = (0..2 * HASHED_BESIDE_FROM)
        .map(|i| (i % 253) as u8)
        .collect();
    // Written by the store: sealed with its digest, read back whole.
    let digest = put_one(&dir, &at, &[&bytes]).unwrap();
    assert!(get_one(&dir, &at, &digest).unwrap() == bytes);
    // A frozen record whose trailer says `claimed`, though its bytes are other:
    // trusted (what sealing saves is this hash), so nothing but the store seals.
    let claimed = sha256(&[b"other bytes"]);
    let lie = sealable_record(&[&bytes])
        .and_then(|w| w.seal(&trailer(&claimed)))
        .unwrap();
    pin_record(&dir, &at, &format!("{PREFIX}{claimed}"), lie).unwrap();
    assert!(
        get_one(&dir, &at, &claimed).unwrap() == bytes,
        "not trusted"
    );
    // The same, not frozen: hashed, and refused.
    let unfrozen = sealable_record(&[&bytes]).unwrap();
    let unfrozen =
        crate::store::record_writer::tests::unfrozen_with_trailer(unfrozen, &trailer(&claimed));
    pin_record(&dir, &at, &format!("{PREFIX}{claimed}"), unfrozen).unwrap();
    let err = get_one(&dir, &at, &claimed).unwrap_err().to_string();
    assert!(err.contains("does not hold the bytes"), "{err}");
    // A sealed record under another record's name: its trailer is not that name.
    let swapped = sealable_record(&[&bytes])
        .and_then(|w| w.seal(&trailer(&digest)))
        .unwrap();
    pin_record(&dir, &at, &format!("{PREFIX}{claimed}"), swapped).unwrap();
    let err = get_one(&dir, &at, &claimed).unwrap_err().to_string();
    assert!(err.contains("does not hold the bytes"), "{err}");
    remove_tree(&dir).unwrap();
}

/// A rule text's record named by a digest its caller hashed (`put_text`) is not
/// sealed, so were the digest not the text's (a caller's bug: `ApplyRequest::
/// source_sha256` is a public field) reading it back hashes the bytes and refuses
/// them, as before records were sealed. Sealed with the caller's digest (review
/// h61), it read back as the other text, taken on trust.
#[test]
fn a_text_recorded_under_a_digest_that_is_not_its_own_is_refused_when_read() {
    let Some(dir) = scratch("wrongdigest") else {
        return;
    };
    let at = open_dir(&dir).unwrap();
    let wrong = sha256(&[b"the text the caller meant"]);
    let written = put_text(&dir, &at, "another text", Some(&wrong)).unwrap();
    assert_eq!(written, wrong);
    let read = get_one(&dir, &at, &wrong);
    remove_tree(&dir).unwrap();
    let err = read.expect_err("taken on trust").to_string();
    assert!(err.contains("does not hold the bytes"), "{err}");
}

/// Each way the store writes a record seals it: a record held whole (large and
/// small), streamed, and serialized twice.
#[test]
fn every_record_the_store_writes_is_sealed() {
    let Some(dir) = scratch("sealall") else {
        return;
    };
    let at = open_dir(&dir).unwrap();
    let big: Vec<u8> = (0..HASHED_BESIDE_FROM + 5)
        .map(|i| (i % 241) as u8)
        .collect();
    let value: Vec<String> = (0..3000).map(|i| format!("rule {i}")).collect();
    let digests = [
        put_one(&dir, &at, &[&big]).unwrap(),
        put_one(&dir, &at, &[b"small"]).unwrap(),
        put_json(&dir, &at, &value).unwrap(),
        pin_unless_there(
            &dir,
            &at,
            sealed_streamed(5, |w| w.write_all(b"strea")).unwrap(),
        )
        .unwrap(),
    ];
    for d in digests {
        let map = aya::maps::MapData::from_pin(dir.join(format!("{PREFIX}{d}"))).unwrap();
        let fd = map.fd().as_fd();
        assert!(crate::sys::map_frozen(fd).unwrap(), "{d} not frozen");
        let (bytes, hex) =
            read_record_digested(&dir.join(format!("{PREFIX}{d}")), "bulk", Some(&d))
                .unwrap()
                .unwrap();
        assert_eq!(hex.as_deref(), Some(d.as_str()));
        assert_eq!(sha256(&[&bytes]), d);
    }
    remove_tree(&dir).unwrap();
}

/// A large rule text written beside the programs' record (a record written whole)
/// gives the records and references it gives written one after the other.
#[test]
fn a_text_written_beside_the_programs_is_the_text_written_after_them() {
    let Some(beside) = scratch("beside") else {
        return;
    };
    let after = scratch("after").unwrap();
    let text: String = (0..HASHED_BESIDE_FROM / 16)
        .map(|i| format!("drop tcp to *:{i}\n"))
        .collect();
    assert!(text.len() >= HASHED_BESIDE_FROM);
    let programs: Vec<ProgramSnapshot> = Vec::new();
    let put_in = |dir: &Path, json| {
        let source = (Some(text.as_str()), None);
        put(dir, (&[], None), source, Programs::OneJson(&programs), json).unwrap()
    };
    let refs = put_in(&beside, Json::Buffered);
    assert_eq!(refs, put_in(&after, Json::Streamed));
    let digest = refs.source_text.as_deref().expect("a text record");
    let at = open_dir(&beside).unwrap();
    assert_eq!(get_text(&beside, &at, digest).unwrap(), text);
    assert!(refs.programs.is_some());
    remove_tree(&beside).unwrap();
    remove_tree(&after).unwrap();
}

#[test]
fn records_nothing_names_are_collected_and_named_ones_kept() {
    let Some(dir) = scratch("collect") else {
        return;
    };
    let named = put(
        &dir,
        (&[], None),
        (Some("allow tcp"), None),
        Programs::Inline,
        Json::Streamed,
    )
    .unwrap();
    let unnamed = put(
        &dir,
        (&[], None),
        (Some("drop tcp"), None),
        Programs::OneJson(&[]),
        Json::Buffered,
    )
    .unwrap();
    let (removed, stuck) = collect(&dir, [&named]).unwrap();
    assert!(stuck.is_empty(), "{stuck:?}");
    assert_eq!(removed.len(), 2, "{removed:?}");
    assert!(unnamed
        .source_text
        .iter()
        .all(|d| removed.iter().any(|r| r.contains(d.as_str()))));
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let kept = format!("{PREFIX}{}", named.source_text.clone().unwrap());
    assert_eq!(left, [std::ffi::OsString::from(kept)]);
    remove_tree(&dir).unwrap();
}

/// A program's record that a journal or manifest writes itself ([`Json::Buffered`])
/// is never held whole (no block this thread asks for is an eighth of it), is
/// named by the digest of the bytes written and reads back as the program; put
/// again, it is found by name.
#[test]
fn a_program_record_put_buffered_is_never_held_whole() {
    let Some(dir) = scratch("whole") else { return };
    let programs = [program_record::tests::program(30_000)];
    let whole = program_record::to_vec(&programs[0]);
    let put_in = || {
        let each = Programs::Each(&programs, None);
        put(&dir, (&[], None), (None, None), each, Json::Buffered).unwrap()
    };
    let (refs, largest) = largest_block::during(put_in);
    assert!(
        largest < whole.len() / 8,
        "a block of {largest} bytes for a record of {}",
        whole.len()
    );
    let digest = &refs.program_records[0];
    assert_eq!(*digest, sha256(&[&whole]));
    let at = open_dir(&dir).unwrap();
    assert_eq!(get_one(&dir, &at, digest).unwrap(), whole);
    assert_eq!(put_in(), refs, "found by name");
    remove_tree(&dir).unwrap();
}

/// The largest block the current thread asks for, and the bytes it asks for in all:
/// the test binary's allocator is the system's, which it notes each size for.
mod largest_block {
    use std::{
        alloc::{GlobalAlloc, Layout, System},
        cell::Cell,
    };

    thread_local! {
        static LARGEST: Cell<usize> = const { Cell::new(0) };
        static ASKED: Cell<usize> = const { Cell::new(0) };
    }

    struct Noting;

    fn note(size: usize) {
        // A thread's last frees may come after its slot is gone: nothing to note.
        let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        let _ = ASKED.try_with(|a| a.set(a.get() + size));
    }

    // SAFETY: every call is the system allocator's, with the caller's arguments.
    unsafe impl GlobalAlloc for Noting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            // SAFETY: as the caller's contract with `alloc`.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            // SAFETY: as the caller's contract with `alloc_zeroed`.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            note(new_size);
            // SAFETY: as the caller's contract with `realloc`.
            unsafe { System.realloc(ptr, layout, new_size) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: as the caller's contract with `dealloc`.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static NOTING: Noting = Noting;

    /// What `f` gives, and the largest block this thread asked for while it ran.
    pub fn during<R>(f: impl FnOnce() -> R) -> (R, usize) {
        LARGEST.with(|l| l.set(0));
        let out = f();
        (out, LARGEST.with(Cell::get))
    }

    /// What `f` gives, and the bytes this thread asked for while it ran (a block
    /// grown counts its new size).
    pub fn asked_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
        let before = ASKED.with(Cell::get);
        let out = f();
        (out, ASKED.with(Cell::get) - before)
    }
}

/// Program records made ahead (beside a re-apply's plan) are pinned by `put` as
/// the records it writes itself: the same references and records (sealed, read
/// back as the programs); put again, found by name; made ahead of another count
/// of programs, not used; dropped unput, nothing of them is left.
#[test]
fn program_records_made_ahead_are_the_records_put_writes() {
    let Some(ahead) = scratch("ahead") else {
        return;
    };
    let direct = scratch("direct").unwrap();
    let other = scratch("other").unwrap();
    let programs = [
        program_record::tests::program(30_000),
        program_record::tests::program(3),
    ];
    assert!(program_record::to_vec(&programs[0]).len() > HASHED_BESIDE_FROM);
    let put_in = |dir: &Path, prepared: Option<&Prepared>| {
        let each = Programs::Each(&programs, prepared);
        put(dir, (&[], None), (None, None), each, Json::Buffered).unwrap()
    };
    let names = |dir: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        v.sort();
        v
    };
    // Every element of a record's map, the trailer after its bytes included.
    let elements = |dir: &Path, d: &str| {
        let map = aya::maps::MapData::from_pin(dir.join(format!("{PREFIX}{d}"))).unwrap();
        let (mut all, mut value) = (Vec::new(), vec![0u8; CHUNK]);
        let mut i = 0u32;
        while crate::sys::map_lookup_into(map.fd().as_fd(), &i.to_ne_bytes(), &mut value)
            .unwrap_or(false)
        {
            all.extend_from_slice(&value);
            i += 1;
        }
        all
    };
    let prepared = Prepared::programs(&programs).expect("made");
    let refs = put_in(&ahead, Some(&prepared));
    assert_eq!(refs, put_in(&direct, None));
    assert_eq!(names(&ahead), names(&direct));
    let at = open_dir(&ahead).unwrap();
    for (p, d) in programs.iter().zip(&refs.program_records) {
        let pin = ahead.join(format!("{PREFIX}{d}"));
        let map = aya::maps::MapData::from_pin(&pin).unwrap();
        assert!(crate::sys::map_frozen(map.fd().as_fd()).unwrap(), "sealed");
        assert_eq!(get_one(&ahead, &at, d).unwrap(), program_record::to_vec(p));
        // Its trailer too: a record made ahead is trusted on it when read back.
        assert_eq!(elements(&ahead, d), elements(&direct, d), "the same map");
    }
    assert_eq!(put_in(&ahead, Some(&prepared)), refs, "found by name");
    let one = Prepared::programs(&programs[..1]).expect("made");
    assert_eq!(put_in(&other, Some(&one)), refs, "not used");
    drop((prepared, one));
    let left: Vec<_> = [&ahead, &direct, &other].map(|d| names(d)).to_vec();
    assert!(left.iter().all(|n| n.len() == programs.len()), "{left:?}");
    for dir in [ahead, direct, other] {
        remove_tree(&dir).unwrap();
    }
}

/// The bytes of the one block that holds `n` rules in an `Arc<[RuleMeta]>` (its two
/// counts, then the rules).
fn rules_block(n: usize) -> usize {
    16 + n * std::mem::size_of::<sockc_compiler::metadata::RuleMeta>()
}

/// A program record's rules are read into the one block the snapshot keeps: the bytes
/// asked for are those of that block, the texts and the sockets (each a block of its
/// own), the disassembly and the head, not a second copy of every rule (a `Vec` made
/// first and turned into the `Arc<[_]>` asked for 56 bytes a rule twice).
#[test]
fn a_program_records_rules_are_read_into_one_block() {
    let p = program_record::tests::program(10_000);
    let bytes = program_record::to_vec(&p);
    let (decoded, asked) = largest_block::asked_during(|| program_record::decode(&bytes));
    assert_eq!(decoded.unwrap(), p);
    let rules = rules_block(p.rules.len());
    let texts: usize = p
        .rules
        .iter()
        .map(|r| (16 + r.text.len()).next_multiple_of(8))
        .sum();
    let sockets: usize = p
        .rules
        .iter()
        .filter_map(|r| r.socket.as_ref())
        .map(String::len)
        .sum();
    let rest = p.asm.len() + p.symbol.len() + p.attach_to.len() + 4096;
    assert!(
        asked <= rules + texts + sockets + rest,
        "{asked} bytes asked for: rules {rules}, texts {texts}, sockets {sockets}"
    );
}

/// A record whose rule count its bytes could hold but whose first rule is torn is
/// refused after one block for the rules it counted, not a block more per rule.
#[test]
fn a_torn_program_record_is_refused_without_a_block_per_rule() {
    let n = 10_000usize;
    let mut bytes = program_record::to_vec(&program_record::tests::program(0));
    let count_at = bytes.len() - 8;
    bytes[count_at..].copy_from_slice(&(n as u64).to_le_bytes());
    // Each rule's text length all ones: the first text runs past the end.
    bytes.extend(std::iter::repeat_n(0xff, n * 20));
    let (decoded, asked) = largest_block::asked_during(|| program_record::decode(&bytes));
    assert!(decoded.unwrap_err().contains("ends inside a field"));
    let rules = rules_block(n);
    assert!(
        asked <= rules + 4096,
        "{asked} bytes asked for, the rules' block {rules}"
    );
}
