//! Hostile and broken input: every corpus ruleset and txlate case cut at many points,
//! and mutated byte by byte (seeded), is imported in every format without a panic;
//! what fails fails with a syntax error inside the input, a "too large" error at a
//! rule, or a usage error. Errors carry the line and column of the problem. Every
//! import that `sockc import` would exit 0 on at `--hook netfilter` compiles with its
//! residual beside it.
//!
//! The test binary runs under a memory cap (a counting allocator refuses to hold more
//! than `SOCKC_ROBUST_MEM_MB`, default 1024 MB, at once) and a watchdog (one import
//! may take `SOCKC_ROBUST_SECS`, default 120 s): a regression that makes an import
//! grow or run without bound aborts the run naming the input, instead of taking the
//! machine down. `SOCKC_ROBUST_MUTATIONS` (default 40 per input) and
//! `SOCKC_ROBUST_SEED` (default 29) make a long run.

mod common;

use std::{
    alloc::{GlobalAlloc, Layout, System},
    io::Write,
    sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed},
    time::{Duration, Instant},
};

use sockc_import::{eval::Rng, import, Format, Hook, ImportError, Options};

/// The system allocator, refusing to hold more than [`cap`] bytes at once.
struct Capped;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static CAP: AtomicUsize = AtomicUsize::new(usize::MAX);
static REFUSED: AtomicBool = AtomicBool::new(false);
/// The case being imported: (input index + 1) << 32 | mutation index (0: unmutated);
/// 0 for none.
static CASE: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if LIVE.fetch_add(layout.size(), Relaxed) + layout.size() > CAP.load(Relaxed) {
            LIVE.fetch_sub(layout.size(), Relaxed);
            refused(layout.size());
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's layout is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Capped = Capped;

/// Says which case went over the cap (once: writing to stderr must not recurse).
fn refused(size: usize) {
    if REFUSED.swap(true, Relaxed) {
        return;
    }
    let case = CASE.load(Relaxed);
    let _ = writeln!(
        std::io::stderr(),
        "MEMORY CAP: an allocation of {size} bytes would pass SOCKC_ROBUST_MEM_MB, importing input {} mutation {} (0: unmutated; input -1: outside the imports)",
        (case >> 32) as i64 - 1,
        case & 0xffff_ffff
    );
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Sets the memory cap and starts the watchdog (once per test binary).
fn guard() {
    static START: std::sync::Once = std::sync::Once::new();
    START.call_once(|| {
        CAP.store(
            (env_num("SOCKC_ROBUST_MEM_MB", 1024) as usize) << 20,
            Relaxed,
        );
        let limit = Duration::from_secs(env_num("SOCKC_ROBUST_SECS", 120));
        std::thread::spawn(move || {
            let mut seen = (u64::MAX, Instant::now());
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let case = CASE.load(Relaxed);
                if case != seen.0 {
                    seen = (case, Instant::now());
                } else if case != 0 && seen.1.elapsed() > limit {
                    eprintln!(
                        "WATCHDOG: importing input {} mutation {} took over {limit:?}",
                        (case >> 32).wrapping_sub(1),
                        case & 0xffff_ffff
                    );
                    std::process::abort();
                }
            }
        });
    });
}

fn try_all(text: &str) {
    for from in [
        None,
        Some(Format::Iptables),
        Some(Format::Nft),
        Some(Format::NftJson),
    ] {
        for hook in [Hook::Tc, Hook::Netfilter] {
            let o = Options {
                from,
                hook,
                interface: Some("eth0".into()),
                source_name: None,
                ..Default::default()
            };
            match import(text, &o) {
                // (Not with ipsets as set files: `sockc import` exits 1 until they are
                // exported.)
                Ok(imp)
                    if hook == Hook::Netfilter
                        && imp.inexact.is_empty()
                        && imp.set_files.is_empty() =>
                {
                    checks_with_its_residual(&imp)
                }
                Ok(_) | Err(ImportError::Usage(_)) => {}
                Err(ImportError::TooLarge(d)) => assert!(d.span.start <= text.len(), "{d:?}"),
                Err(ImportError::Syntax(d)) => {
                    assert!(!d.is_empty());
                    for x in d {
                        assert!(
                            x.span.line >= 1 && x.span.column >= 1 && x.span.start <= text.len(),
                            "{x:?}"
                        );
                    }
                }
            }
        }
    }
}

/// An import `sockc import` would exit 0 on (netfilter, exact) writes a rule file
/// that compiles with its residual beside it, and a residual its own reader reads
/// back (issue 48: a file sockc writes that its `check` refuses is a bug).
fn checks_with_its_residual(imp: &sockc_import::Import) {
    let dir = std::env::temp_dir().join(format!("sockc-robust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    if let Some(r) = &imp.residual {
        let file = sockc_import::default_residual_file(None, r.format);
        std::fs::write(dir.join(file), &r.text).unwrap();
        if let Err(e) = sockc_import::read(&r.text, r.format) {
            panic!("the residual does not read back: {e}\n{}", r.text);
        }
    }
    if let Err(e) = common::compile(&imp.sk_text, Some(&dir)) {
        panic!("an exact import does not compile: {e}\n{}", imp.sk_text);
    }
}

/// Every ruleset of the corpus, then every seventh txlate case's two sides.
fn inputs() -> Vec<String> {
    let mut v: Vec<String> = common::corpus_files()
        .iter()
        .map(|f| std::fs::read_to_string(&f.path).unwrap())
        .collect();
    let cases = std::fs::read_to_string(common::corpus().join("txlate/cases.jsonl")).unwrap();
    for l in cases.lines().step_by(7) {
        let c: serde_json::Value = serde_json::from_str(l).unwrap();
        for k in ["iptables_save", "nft_ruleset"] {
            if let Some(s) = c[k].as_str() {
                v.push(s.to_string());
            }
        }
    }
    v
}

#[test]
fn truncated_inputs_never_panic() {
    guard();
    for (n, text) in inputs().into_iter().enumerate() {
        CASE.store((n as u64 + 1) << 32, Relaxed);
        let step = (text.len() / 40).max(1);
        for cut in (0..text.len()).step_by(step) {
            let mut end = cut;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            try_all(&text[..end]);
        }
    }
}

#[test]
fn mutated_inputs_never_panic() {
    const BYTES: &[u8] = b" \t\n{}()[],;:./-!\"'@#*+=&|<>0123456789abcxyz";
    guard();
    let per_input = env_num("SOCKC_ROBUST_MUTATIONS", 40);
    let mut rng = Rng::new(env_num("SOCKC_ROBUST_SEED", 29));
    let mut imported = 0u64;
    for (n, text) in inputs().iter().enumerate() {
        for m in 0..per_input {
            let mut b = text.clone().into_bytes();
            for _ in 0..1 + rng.below(4) {
                if b.is_empty() {
                    break;
                }
                let i = rng.below(b.len());
                match rng.below(3) {
                    0 => b[i] = BYTES[rng.below(BYTES.len())],
                    1 => {
                        b.remove(i);
                    }
                    _ => b.insert(i, BYTES[rng.below(BYTES.len())]),
                }
            }
            if let Ok(s) = String::from_utf8(b) {
                CASE.store(((n as u64 + 1) << 32) | (m + 1), Relaxed);
                try_all(&s);
                imported += 1;
            }
        }
    }
    CASE.store(0, Relaxed);
    eprintln!("{imported} mutated inputs imported in 8 ways each");
    assert!(imported > 0);
}

#[test]
fn syntax_errors_say_where() {
    let at = |text: &str, from: Format| match import(
        text,
        &Options {
            from: Some(from),
            hook: Hook::Tc,
            interface: Some("eth0".into()),
            source_name: None,
            ..Default::default()
        },
    ) {
        Err(ImportError::Syntax(d)) => (d[0].span.line, d[0].span.column, d[0].message.clone()),
        other => panic!("expected a syntax error, got {other:?}"),
    };
    let (l, c, m) = at(
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.300 -j DROP\nCOMMIT\n",
        Format::Iptables,
    );
    assert_eq!((l, c), (3, 10), "{m}");
    let (l, c, _) = at(
        "*filter\n-A INPUT --comment \"open\nCOMMIT\n",
        Format::Iptables,
    );
    assert_eq!((l, c), (2, 20));
    let (l, c, _) = at("*filter\n:INPUT ACCEPT [0:0]\n-X INPUT\n", Format::Iptables);
    assert_eq!((l, c), (3, 1));
    let (l, c, _) = at(
        "table inet t {\n\tchain c {\n\t\ttype filter hook sideways priority 0;\n\t}\n}\n",
        Format::Nft,
    );
    assert_eq!((l, c), (3, 20));
    let (l, _, _) = at("table inet t {\n\tchain c {\n", Format::Nft);
    assert_eq!(l, 2);
    let (l, c, _) = at("{\"nftables\": [\n  {\"table\": {\"family\": \"inet\", \"name\": \"t\"}},\n  {\"chain\": {\"family\": \"inet\", \"table\": \"x\", \"name\": \"c\"}}\n]}", Format::NftJson);
    assert_eq!((l, c), (3, 3));
    let (l, c, _) = at("{\"nftables\": [\n  {\"table\": }\n]}", Format::NftJson);
    assert_eq!((l, c), (2, 13));
}
