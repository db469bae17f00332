use super::*;

fn rate(rate: u64, unit_secs: u64, burst: Option<u64>) -> Setting {
    Setting::Rate {
        rate,
        unit_secs,
        burst,
    }
}

/// A new namespace's sysctls give the kernel's buckets: 1,000 answers a second with
/// 50 of credit, shared by both families, and per destination 6 answers then one a
/// second (IPv4) or one per 100 ms (IPv6).
#[test]
fn the_kernel_defaults_are_its_buckets() {
    let c = AnswerLimits::default().config(&Sysctls::DEFAULTS);
    let host = c.host.unwrap();
    assert_eq!(
        (host.interval_ns, host.burst, host.cap_ns),
        (1_000_000, 50, 1_000_000_000)
    );
    assert!(c.host4 && c.host6);
    let (p4, p6) = (c.peer4.unwrap(), c.peer6.unwrap());
    assert_eq!((p4.cost, p4.depth), (1_000_000_000, 6_000_000_000));
    assert_eq!((p6.cost, p6.depth), (100_000_000, 600_000_000));
    assert!(c.limits());
}

/// A rate mask without destination unreachable leaves the family out of the kernel's
/// buckets, not of a rate the file writes; a zero per-destination interval is no
/// limit, a zero host rate refills nothing.
#[test]
fn masks_and_zeros_mean_what_the_kernel_makes_of_them() {
    let k = Sysctls {
        v4_masked: false,
        ratelimit_ms: 0,
        msgs_per_sec: 0,
        ..Sysctls::DEFAULTS
    };
    let c = AnswerLimits::default().config(&k);
    assert!(!c.host4 && c.host6);
    assert_eq!(c.peer4, None);
    assert_eq!(c.host.unwrap().interval_ns, u64::MAX);
    let file = AnswerLimits {
        host: rate(100, 1, None),
        peer: Setting::Kernel,
    };
    let c = file.config(&k);
    assert!(c.host4 && c.host6, "a written rate limits every answer");
    assert_eq!(c.host.unwrap().burst, HOST_BURST);
    let none = AnswerLimits {
        host: Setting::Unlimited,
        peer: Setting::Unlimited,
    };
    assert!(none.unlimited() && !none.config(&Sysctls::DEFAULTS).limits());
}

#[test]
fn written_rates_become_buckets() {
    let file = AnswerLimits {
        host: rate(30, 60, Some(4)),
        peer: rate(2, 1, None),
    };
    let c = file.config(&Sysctls::DEFAULTS);
    let host = c.host.unwrap();
    // one answer per 2 s: a refill counts up to the burst's 8 s, not the kernel's 1 s
    assert_eq!(
        (host.interval_ns, host.burst, host.cap_ns),
        (2_000_000_000, 4, 8_000_000_000)
    );
    let p = c.peer4.unwrap();
    assert_eq!((p.cost, p.depth), (500_000_000, 3_000_000_000));
    assert_eq!(c.peer6, c.peer4);
    assert_eq!(
        file.to_string(),
        "reject answers 30/minute burst 4; reject answers 2/second per destination"
    );
}

#[test]
fn the_ipv6_rate_mask_is_a_list_of_ranges() {
    assert_eq!(Sysctls::v6_mask_limits("0-1,3-127"), Some(true));
    assert_eq!(Sysctls::v6_mask_limits("0,2-127\n"), Some(false));
    assert_eq!(Sysctls::v6_mask_limits(""), Some(false));
    assert_eq!(Sysctls::v6_mask_limits("1"), Some(true));
    assert_eq!(Sysctls::v6_mask_limits("x-2"), None);
    assert!(Sysctls::v4_mask_limits(0x1818));
    assert!(!Sysctls::v4_mask_limits(0x1810));
}

#[test]
fn the_words_are_where_the_bytecode_reads_them() {
    let c = AnswerLimits::default().config(&Sysctls::DEFAULTS);
    let b = c.to_bytes();
    let at = |off: i16| u64::from_le_bytes(b[off as usize..off as usize + 8].try_into().unwrap());
    assert_eq!(at(word::FLAGS), 15);
    assert_eq!(at(word::HOST_INTERVAL), 1_000_000);
    assert_eq!(at(word::HOST_BURST), 50);
    assert_eq!(at(word::HOST_CAP), 1_000_000_000);
    assert_eq!(at(word::PEER4_COST), 1_000_000_000);
    assert_eq!(at(word::PEER6_DEPTH), 600_000_000);
}
