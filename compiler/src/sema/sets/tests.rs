//! Tests of set declarations and set files: the packed, streamed and general reads
//! keep and report the same elements, and the readers agree with the standard parsers.

use std::fs::File;

use super::*;
use crate::sema::set_lines::*;

/// The packed IPv4 path keeps and reports what the general path does: the same
/// set with one IPv6 element added (which takes the general path) keeps the same
/// IPv4 prefixes and reports the same overlaps.
#[test]
fn packed_ipv4_sets_keep_and_report_what_the_general_path_does() {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for _ in 0..40 {
        let nets: Vec<String> = (0..60)
            .map(|_| {
                let r = next();
                let len = [8u8, 16, 24, 30, 31, 32][(r % 6) as usize];
                // A few /8s, so that prefixes cover and repeat one another.
                let addr = (10 + (r >> 8) as u32 % 3) << 24 | (r >> 16) as u32 & 0x00ff_ffff;
                Ipv4Net::new(addr.into(), len).unwrap().trunc().to_string()
            })
            .collect();
        let run = |extra: &str| {
            let src = format!(
                "set s = {{ {}{extra} }}\nxdp on eth0 {{ drop from @s; default allow }}\n",
                nets.join(", ")
            );
            let opts = crate::driver::Options {
                opt: crate::opt::OptLevel::O0,
                ..Default::default()
            };
            let (c, diags) = crate::compile(&src, &opts);
            let c = c.expect("compiles");
            let overlaps: Vec<String> = diags
                .iter()
                .filter(|d| d.code == "sockc::set-overlap")
                .map(|d| d.message.clone())
                .collect();
            (c.module.sets.values().next().unwrap().v4.clone(), overlaps)
        };
        let packed = run("");
        assert!(!packed.1.is_empty(), "the /8s cover other elements");
        assert_eq!(packed, run(", 2001:db8::/32"), "{nets:?}");
    }
}

/// `drop from @s` at XDP (-O0) with `set s = file "FILE"` read from `dir`: the
/// set's IPv4 contents and the compile's diagnostics.
fn compile_set_file(
    dir: &std::path::Path,
    file: &str,
) -> (Vec<ipnet::Ipv4Net>, Vec<crate::diag::Diagnostic>) {
    let src = format!("set s = file \"{file}\"\nxdp on eth0 {{ drop from @s; default allow }}\n");
    let opts = crate::driver::Options {
        sema: crate::sema::Options {
            base_dir: Some(dir.to_path_buf()),
            ..Default::default()
        },
        opt: crate::opt::OptLevel::O0,
        ..Default::default()
    };
    let (c, diags) = crate::compile(&src, &opts);
    let v4 = c
        .expect("compiles")
        .module
        .sets
        .values()
        .next()
        .unwrap()
        .v4
        .clone();
    (v4, diags)
}

/// Sema calls the caller's hook once for each set file of a megabyte or more, a
/// file of plain addresses or not, and never for a smaller one (`apply` reads its
/// installed generation ahead then).
#[test]
fn a_large_set_file_is_told_to_the_hook_and_a_small_one_is_not() {
    let dir = std::env::temp_dir().join(format!("sockc-hook-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::new();
    for i in 0..100_000u32 {
        text += &format!("{}\n", std::net::Ipv4Addr::from(0x0a00_0000 | (i * 13)));
    }
    assert!(text.len() >= TWO_THREADS_FROM);
    std::fs::write(dir.join("large.txt"), &text).unwrap();
    std::fs::write(dir.join("other.txt"), format!("# a comment\n{text}")).unwrap();
    let small = text[..TWO_THREADS_FROM - 100].rfind('\n').unwrap() + 1;
    std::fs::write(dir.join("small.txt"), &text[..small]).unwrap();
    let calls = |file: &str| {
        let called = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = std::sync::Arc::clone(&called);
        let hook = move || {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        };
        let src =
            format!("set s = file \"{file}\"\nxdp on eth0 {{ drop from @s; default allow }}\n");
        let opts = crate::driver::Options {
            sema: crate::sema::Options {
                base_dir: Some(dir.clone()),
                on_large_set_file: Some(super::super::Hook(std::sync::Arc::new(hook))),
                ..Default::default()
            },
            opt: crate::opt::OptLevel::O0,
            ..Default::default()
        };
        assert!(crate::compile(&src, &opts).0.is_some(), "{file}");
        called.load(std::sync::atomic::Ordering::SeqCst)
    };
    let got = [calls("large.txt"), calls("other.txt"), calls("small.txt")];
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(got, [1, 1, 0]);
}

/// A file set given its recorded elements (what a dry run reads an install with)
/// takes them and reads no file; a set the record names empty reads its file.
#[test]
fn a_file_set_given_recorded_elements_takes_them_and_reads_no_file() {
    let src = "set s = file \"gone.txt\"\nset t = file \"gone.txt\"\n\
               xdp on eth0 { drop from @s; drop from @t; default allow }\n";
    let v4: Vec<Ipv4Net> = vec![
        "10.0.0.0/8".parse().unwrap(),
        "192.0.2.1/32".parse().unwrap(),
    ];
    let v6: Vec<Ipv6Net> = vec!["2001:db8::/32".parse().unwrap()];
    let compile = |t: (Vec<Ipv4Net>, Vec<Ipv6Net>)| {
        let lists = [
            ("s".to_string(), (v4.clone(), v6.clone())),
            ("t".to_string(), t),
        ];
        let opts = crate::driver::Options {
            sema: crate::sema::Options {
                base_dir: Some(std::env::temp_dir().join("sockc-no-such-dir")),
                recorded_sets: Some(std::sync::Arc::new(lists.into_iter().collect())),
                ..Default::default()
            },
            opt: crate::opt::OptLevel::O0,
            ..Default::default()
        };
        crate::compile(src, &opts)
    };
    let (c, diags) = compile((v4[..1].to_vec(), Vec::new()));
    let sets: Vec<_> = c.expect("compiles").module.sets.values().cloned().collect();
    assert!(
        diags.iter().all(|d| d.code != "sockc::set-file"),
        "{diags:?}"
    );
    assert_eq!((&sets[0].v4, &sets[0].v6), (&v4, &v6));
    assert_eq!((&sets[1].v4[..], &sets[1].v6[..]), (&v4[..1], &[][..]));
    // Recorded empty: its file is read, and it is not there.
    let (c, diags) = compile((Vec::new(), Vec::new()));
    assert!(c.is_none());
    assert!(
        diags.iter().any(|d| d.code == "sockc::set-file"),
        "{diags:?}"
    );
}

/// A set file of IPv4 lines alone (kept packed) keeps and reports, with file
/// lines, what the same file does with an IPv6 line at its end (read as elements).
#[test]
fn packed_set_files_keep_and_report_what_element_lists_do() {
    let dir = std::env::temp_dir().join(format!("sockc-packed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let v4 = "10.0.0.0/8\n# comment\n10.1.2.3\n\n192.0.2.0/24\n10.1.2.3\n192.0.2.7\n9.9.9.9\n";
    std::fs::write(dir.join("a.txt"), v4).unwrap();
    std::fs::write(dir.join("b.txt"), format!("{v4}2001:db8::/32\n")).unwrap();
    let run = |file: &str| {
        let (v4, diags) = compile_set_file(&dir, file);
        let overlaps: Vec<String> = diags
            .iter()
            .filter(|d| d.code == "sockc::set-overlap")
            .map(|d| d.message.clone())
            .collect();
        (v4, overlaps)
    };
    let (packed, listed) = (run("a.txt"), run("b.txt"));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(packed, listed);
    assert_eq!(
        packed.1,
        [
            "set `s`: 10.1.2.3/32 (file line 3) is covered by 10.0.0.0/8 (file line 1)",
            "set `s`: 10.1.2.3/32 (file line 6) is covered by 10.0.0.0/8 (file line 1)",
            "set `s`: 192.0.2.7/32 (file line 7) is covered by 192.0.2.0/24 (file line 5)",
        ]
    );
    assert_eq!(packed.0.len(), 3);
}

/// The two-thread read of a file of plain addresses gives the addresses the line by
/// line read gives, sorted, wherever the halves split; any other line leaves it to
/// the line by line read.
#[test]
fn plain_file_addrs_are_the_line_by_line_addresses() {
    let line_by_line = |text: &str| {
        let mut addrs: Vec<u32> = file_lines(text)
            .map(|l| match l {
                FileLine::Plain(a) => a.to_bits(),
                FileLine::Text(t) => panic!("{t:?} is not plain"),
            })
            .collect();
        addrs.sort_unstable();
        addrs
    };
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for n in [1usize, 2, 3, 10, 5000] {
        let mut text = String::new();
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // A few hundred addresses: many repeated, as duplicates are.
            let a = std::net::Ipv4Addr::from(0x0a00_0000 | ((x % 300) as u32 * 7919));
            text += &format!("{a}\n");
        }
        let unended = text.trim_end().to_string();
        for t in [&text, &unended] {
            let (a, b) = plain_file_addrs(t).unwrap();
            assert_eq!(
                merged(a, b).collect::<Vec<_>>(),
                line_by_line(t),
                "{n} lines"
            );
        }
        for odd in ["# c\n", "\n", "10.0.0.0/8\n", "10.0.0.1 \n", "x\n"] {
            assert_eq!(plain_file_addrs(&format!("{text}{odd}")), None, "{odd:?}");
            assert_eq!(plain_file_addrs(&format!("{odd}{text}")), None, "{odd:?}");
        }
    }
    assert_eq!(plain_file_addrs(""), Some((Vec::new(), Vec::new())));
    let both: Vec<u64> = merged(vec![1, 4, 9], vec![2, 4, 10, 11]).collect();
    assert_eq!(both, [1, 2, 4, 4, 9, 10, 11]);
    assert_eq!(merged(vec![], vec![3]).collect::<Vec<_>>(), [3]);
}

/// The block-by-block read of a file on two threads gives what the read of its
/// whole text gives (the same addresses, or `None`), whatever the blocks' size and
/// however many pieces it is cut into (pieces shorter than a line too): random files of plain addresses (many repeated), with
/// and without a last line end, with an odd line put anywhere (a comment, a blank,
/// a CRLF, a prefix, a leading zero, a blank after, an octet past 255, a byte that
/// is not UTF-8, a long line); and `None` when the file is longer or shorter than
/// the size it is read as (it changed).
#[test]
fn the_streamed_read_gives_what_the_whole_text_gives() {
    let dir = std::env::temp_dir().join(format!("sockc-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let odd: [&[u8]; 10] = [
        b"# c\n",
        b"\n",
        b"10.0.0.1\r\n",
        b"10.0.0.0/8\n",
        b"010.0.0.1\n",
        b"10.0.0.1 \n",
        b"10.0.0.256\n",
        b"10.0.\xff.1\n",
        b"10.0.0.1111111111111\n",
        b"1.2.3.4.5\n",
    ];
    let whole = |bytes: &[u8]| {
        let (a, b) = plain_file_addrs(std::str::from_utf8(bytes).ok()?)?;
        Some(merged(a, b).collect::<Vec<u32>>())
    };
    let path = dir.join("s.txt");
    for round in 0..400 {
        let n = [0, 1, 2, 3, 5, 40, 300][round % 7];
        let mut text: Vec<u8> = Vec::new();
        for _ in 0..n {
            let r = next();
            let a = std::net::Ipv4Addr::from((r >> 8) as u32 & [0xff, !0][(r & 1) as usize]);
            text.extend_from_slice(format!("{a}\n").as_bytes());
        }
        if round % 3 == 1 {
            text.pop();
        }
        if round % 2 == 0 {
            let line = odd[(next() % 10) as usize];
            let ends: Vec<usize> = std::iter::once(0)
                .chain(memchr::memchr_iter(b'\n', &text).map(|e| e + 1))
                .collect();
            let at = ends[(next() % ends.len() as u64) as usize];
            text.splice(at..at, line.iter().copied());
        }
        std::fs::write(&path, &text).unwrap();
        let file = File::open(&path).unwrap();
        let want = whole(&text);
        let size = text.len() as u64;
        for (block, pieces) in [
            (1, 2),
            (2, 3),
            (7, 1),
            (16, 5),
            (17, 2),
            (100, 16),
            (4096, 2),
        ] {
            let got = streamed_plain_addrs(&file, size, (block, pieces)).map(|(a, b)| {
                assert!(a.is_sorted() && b.is_sorted());
                merged(a, b).collect::<Vec<u32>>()
            });
            let shown = String::from_utf8_lossy(&text);
            assert_eq!(got, want, "{shown:?}, blocks of {block}, {pieces} pieces");
        }
        if size > 0 {
            assert_eq!(streamed_plain_addrs(&file, size - 1, (7, 3)), None, "grew");
        }
        assert_eq!(
            streamed_plain_addrs(&file, size + 1, (7, 3)),
            None,
            "shrank"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A large file of plain addresses, none repeated, read in pieces, compiles to
/// what the line-by-line read gives, with no diagnostic; with a comment as its
/// last line (the read in pieces gives up at the end), too, and the same
/// diagnostics. (Files with repeats: the tests above.)
#[test]
fn a_large_plain_file_read_in_blocks_is_what_the_line_by_line_read_gives() {
    let dir = std::env::temp_dir().join(format!("sockc-blocks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::new();
    let mut i = 0u32;
    while text.len() <= TWO_THREADS_FROM {
        text += &format!(
            "{}\n",
            std::net::Ipv4Addr::from(0x0a00_0000 | (i * 7919 % (1 << 24)))
        );
        i += 1;
    }
    let (blocks, lines) = read_both_ways(&dir, &text);
    assert_eq!(blocks, lines);
    assert_eq!(blocks.0.len(), i as usize);
    assert!(blocks.1.is_empty(), "{:?}", blocks.1);
    let (blocks, lines) = read_both_ways(&dir, &format!("{text}# the end"));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(blocks, lines);
    assert_eq!(blocks.0.len(), i as usize);
}

/// A set file's IPv4 contents and its diagnostics' messages.
type SetRead = (Vec<ipnet::Ipv4Net>, Vec<String>);

/// `text` compiled as a set file twice, from `dir`: as written (`two.txt`, read on
/// two threads when large) and with a blank last line (`one.txt`, which sends it
/// to the line-by-line read); each as its IPv4 contents and its messages.
fn read_both_ways(dir: &std::path::Path, text: &str) -> (SetRead, SetRead) {
    std::fs::write(dir.join("two.txt"), text).unwrap();
    std::fs::write(dir.join("one.txt"), format!("{text}\n")).unwrap();
    let run = |file: &str| {
        let (v4, diags) = compile_set_file(dir, file);
        (v4, diags.into_iter().map(|d| d.message).collect())
    };
    (run("two.txt"), run("one.txt"))
}

/// A set file large enough to be read on two threads reports its duplicates as the
/// same file read line by line does (a blank last line sends it there).
#[test]
fn a_large_plain_file_reports_what_the_line_by_line_read_does() {
    let dir = std::env::temp_dir().join(format!("sockc-two-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::new();
    let mut i = 0u32;
    while text.len() <= TWO_THREADS_FROM || i < 100_100 {
        // The last hundred lines repeat the first hundred addresses.
        let a = std::net::Ipv4Addr::from(0x0a00_0000 | ((i % 100_000) * 13));
        text += &format!("{a}\n");
        i += 1;
    }
    // Written three and four times, within the second half and across both; one
    // at the very end, another where the addresses sort first and last.
    for i in [5u32, 99_999, 5, 0, 77_777, 77_777] {
        text += &format!("{}\n", std::net::Ipv4Addr::from(0x0a00_0000 | (i * 13)));
    }
    let (two, one) = read_both_ways(&dir, &text);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(two, one);
    assert_eq!(two.0.len(), 100_000);
    // 106 repeats: 100 shown (the diagnostics' cap), the rest counted.
    assert_eq!(two.1.len(), 101, "{:?}", two.1);
    assert_eq!(two.1[100], "6 more warnings not shown");
    assert!(two.1[0].contains("is covered by"), "{:?}", two.1);
}

/// Repeats anywhere in a file read on two threads — an address written up to
/// four times, in either half, out of order — are reported as the line by line
/// read reports them (fewer than the diagnostics' cap, so every one is compared).
#[test]
fn repeats_anywhere_in_a_large_plain_file_are_reported_line_by_line() {
    let dir = std::env::temp_dir().join(format!("sockc-rep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..3 {
        let n = 100_000u64;
        let addr = |i: u64| std::net::Ipv4Addr::from(0x0a00_0000 | (i * 7919 % n) as u32);
        let mut lines: Vec<u64> = (0..n).collect();
        for _ in 0..30 {
            let (what, copies) = (next() % n, 1 + next() % 3);
            for _ in 0..copies {
                let at = (next() % (lines.len() as u64 + 1)) as usize;
                lines.insert(at, what);
            }
        }
        let text: String = lines.iter().map(|&i| format!("{}\n", addr(i))).collect();
        assert!(text.len() >= TWO_THREADS_FROM);
        let (two, one) = read_both_ways(&dir, &text);
        assert_eq!(two, one, "round {round}");
        assert_eq!(two.0.len(), n as usize);
        assert_eq!(two.1.len(), lines.len() - n as usize, "round {round}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sort_addrs_sorts_as_sort_unstable() {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u32
    };
    // The bits that differ between addresses: anywhere, a /8, a /24, a /31, one
    // bit, a few bits far apart, two bytes with one between them alike, and none.
    for mask in [
        !0u32,
        0xff_ffff,
        0xff,
        1,
        0x100,
        0x8000_0f01,
        0x00ff_00ff,
        0,
    ] {
        for n in [0usize, 1, 2, 3, 1000, 70_000] {
            let base = next();
            let mut addrs: Vec<u32> = (0..n).map(|_| base & !mask | next() & mask).collect();
            let mut want = addrs.clone();
            want.sort_unstable();
            sort_addrs(&mut addrs);
            assert_eq!(addrs, want, "{n} addresses, {mask:#x}");
            // Already sorted, and reversed.
            sort_addrs(&mut addrs);
            assert_eq!(addrs, want);
            addrs.reverse();
            sort_addrs(&mut addrs);
            assert_eq!(addrs, want);
        }
    }
}

/// The sorted addresses keep the room the list had, whichever buffer the last pass
/// wrote: a streamed read inserts its spanning lines into that room
/// (`insert_all_sorted`), which a list as long as its addresses would reallocate and
/// copy whole (2 MB of a million-line file's half, its pages faulted in again).
#[test]
fn sort_addrs_keeps_the_room_given() {
    // One, two, three and four bytes that differ: passes of either parity.
    for mask in [0xffu32, 0xffff, 0xff_ffff, !0] {
        let n = 10_000u32;
        let mut addrs = Vec::with_capacity(3 * n as usize);
        addrs.extend((0..n).map(|i| i.wrapping_mul(2_654_435_761) & mask));
        let room = addrs.capacity();
        sort_addrs(&mut addrs);
        assert!(addrs.is_sorted(), "{mask:#x}");
        assert!(
            addrs.capacity() >= room,
            "{mask:#x}: room {room} became {}",
            addrs.capacity()
        );
    }
}

#[test]
fn sort_packed_sorts_as_sort_unstable() {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for n in [0usize, 1, 2, 1000, 70_000] {
        let mut keys: Vec<u64> = (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Upper bits with digits every key shares and repeats, above
                // the line order of a file's keys.
                let high = if i % 3 == 0 {
                    x & 0xffff_0000_ff00_0000
                } else {
                    (x % 5000) << 24
                };
                high | i as u64
            })
            .collect();
        // Out of line order (the fallback) as well as in it.
        let mut reversed = keys.clone();
        reversed.reverse();
        let mut want_reversed = reversed.clone();
        want_reversed.sort_unstable();
        sort_packed(&mut reversed);
        assert_eq!(reversed, want_reversed, "{n} keys out of line order");
        let mut want = keys.clone();
        want.sort_unstable();
        sort_packed(&mut keys);
        assert_eq!(keys, want, "{n} keys");
        // One length for every key, as a file of plain addresses packs them (the
        // length byte is then not sorted on), addresses repeated.
        let mut plain: Vec<u64> = (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x % 0x3_0000) | (x & 0xfff0_0000)) << 32 | 32 << 24 | i as u64
            })
            .collect();
        let mut want = plain.clone();
        want.sort_unstable();
        sort_packed(&mut plain);
        assert_eq!(plain, want, "{n} keys of one length");
        // Keys that differ in few bits (one pass, two, a digit of one bit): within
        // a /24, a /8, a /31, and only in their length.
        for (addresses, lengths) in [
            (0xff, 0),
            (0xff_ffff, 0),
            (1, 0),
            (0, 0x3f),
            (0xf0_0f00, 0x1f),
        ] {
            let mut few: Vec<u64> = (0..n)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (0x0a00_0000 | x & addresses) << 32 | (x >> 40 & lengths) << 24 | i as u64
                })
                .collect();
            let mut want = few.clone();
            want.sort_unstable();
            sort_packed(&mut few);
            assert_eq!(few, want, "{n} keys, {addresses:x} {lengths:x}");
        }
    }
}

/// With 16 bytes in view, an address is read as byte by byte: random lines of
/// digits, dots and line ends, each followed by more of them.
#[test]
fn leading_ipv4_reads_as_bytewise() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut plain = 0;
    for _ in 0..300_000 {
        let r = next();
        // Mostly short runs of digits between dots, as addresses are written.
        let mut text: Vec<u8> = (0..16 + (r % 8) as usize)
            .map(|i| {
                let d = next();
                match d % 11 {
                    0..=1 if i % 4 == 3 || r & 1 == 0 => b'.',
                    // Next to the digits and dots, and one with its high bit set.
                    2 => b"\n/ 0:-\xc3"[(d >> 8) as usize % 7],
                    _ => b'0' + [1, 2, 5, 9, 0, 2, 5][(d >> 12) as usize % 7],
                }
            })
            .collect();
        if r % 3 == 0 {
            // An address of octets up to 299 written over the start.
            let octets = [next() % 300, next() % 300, next() % 300, next() % 300];
            let quad = format!("{}.{}.{}.{}", octets[0], octets[1], octets[2], octets[3]);
            text[..quad.len()].copy_from_slice(quad.as_bytes());
        }
        let want = leading_ipv4_bytewise(&text);
        plain += usize::from(want.is_some());
        assert_eq!(
            leading_ipv4(&text),
            want,
            "{:?}",
            String::from_utf8_lossy(&text)
        );
    }
    assert!(plain > 1000, "addresses among the lines: {plain}");
}

#[test]
fn plain_ipv4_agrees_with_std_on_random_text() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 17) as usize;
        let text: String = (0..len)
            .map(|i| b"0123456789.0.5"[(x >> (4 + 4 * (i % 15)) & 0xf) as usize % 14] as char)
            .collect();
        assert_eq!(plain_ipv4(&text), text.parse().ok(), "{text:?}");
    }
}

#[test]
fn file_lines_are_the_std_lines() {
    for text in [
        "",
        "\n",
        "\n\n",
        "a",
        "a\n",
        "a\nb",
        "a\r\nb\r\n",
        "a\n\nb\n",
        "a\rb\n",
        "\r\n",
        "x\r",
        "1.2.3.4\n# c\n\n5.6.7.8",
        "1.2.3.4",
        "1.2.3.4\n",
        "1.2.3.4\r\n5.6.7.8\r",
        "1.2.3.4 \n 1.2.3.4\n1.2.3.4#c\n",
        "1.2.3.45a\n1.2.3.4567\n1.2.3.4.5\n1.2.3.4/32\n01.2.3.4\n256.1.1.1\n",
        "\n1.2.3.4\n\n",
        "1.2.3.\n1.2.3",
    ] {
        let ours: Vec<String> = file_lines(text)
            .map(|l| match l {
                FileLine::Plain(a) => a.to_string(),
                FileLine::Text(t) => t.trim().to_string(),
            })
            .collect();
        let std: Vec<&str> = text.lines().map(str::trim).collect();
        assert_eq!(ours, std, "{text:?}");
        // An address is taken as read only when it is all its line holds.
        for (line, std) in file_lines(text).zip(text.lines()) {
            if let FileLine::Plain(a) = line {
                assert_eq!(Some(a), plain_ipv4(std), "{std:?} in {text:?}");
            }
        }
    }
}

#[test]
fn plain_ipv4_reads_what_the_std_parser_reads() {
    for text in [
        "10.0.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "256.0.0.1",
        "01.2.3.4",
        "1.2.3",
        "1.2.3.4.5",
        "1..2.3",
        "1.2.3.4/32",
        "1.2.3.+4",
        "1.2.3.1000",
        "",
        "::1",
        " 1.2.3.4",
    ] {
        assert_eq!(
            plain_ipv4(text),
            text.parse::<std::net::Ipv4Addr>().ok(),
            "{text:?}"
        );
    }
}

#[test]
fn prefixes_sort_by_address_then_length_keeping_written_order() {
    let net = |s: &str| s.parse::<IpNet>().unwrap();
    let input = [
        "10.0.0.0/24",
        "10.0.0.0/8",
        "192.0.2.1/32",
        "10.0.0.0/24",
        "9.0.0.0/8",
    ];
    let mut v4: Vec<(IpNet, usize)> = input.iter().map(|s| net(s)).zip(0..).collect();
    sort_prefixes(&mut v4);
    let order: Vec<usize> = v4.iter().map(|(_, i)| *i).collect();
    assert_eq!(
        order,
        [4, 1, 0, 3, 2],
        "the first of two equal prefixes first"
    );

    let mut mixed: Vec<(IpNet, usize)> = ["2001:db8::/32", "10.0.0.0/8", "2001:db8::/16"]
        .iter()
        .map(|s| net(s))
        .zip(0..)
        .collect();
    sort_prefixes(&mut mixed);
    let order: Vec<usize> = mixed.iter().map(|(_, i)| *i).collect();
    assert_eq!(order, [1, 2, 0]);

    let mut sorted: Vec<(IpNet, usize)> = ["9.0.0.0/8", "10.0.0.0/8"]
        .iter()
        .map(|s| net(s))
        .zip(0..)
        .collect();
    sort_prefixes(&mut sorted);
    assert_eq!(sorted[0].1, 0);
}
