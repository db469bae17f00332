//! How times are printed: local time with its offset for people, RFC 3339 in UTC for
//! programs (JSON), and the `name ms, name ms` line of timed stages (`--timings`).

use std::time::Duration;

/// A time for people: local time with its UTC offset, `2026-11-22 12:30:01 +0100`
/// (the zone from TZ or /etc/localtime, as `date` finds it).
pub fn local_time(unix: u64) -> String {
    time_in(unix, &jiff::tz::TimeZone::system())
}

fn time_in(unix: u64, zone: &jiff::tz::TimeZone) -> String {
    timestamp(unix)
        .to_zoned(zone.clone())
        .strftime("%Y-%m-%d %H:%M:%S %z")
        .to_string()
}

/// A time for programs: RFC 3339 in UTC, `2026-11-22T11:30:01Z`.
pub fn rfc3339(unix: u64) -> String {
    timestamp(unix).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `unix` seconds as a timestamp; past jiff's range (year 9999) it stays at the end.
fn timestamp(unix: u64) -> jiff::Timestamp {
    let secs = i64::try_from(unix).unwrap_or(i64::MAX);
    jiff::Timestamp::from_second(secs).unwrap_or(jiff::Timestamp::MAX)
}

/// `name ms, name ms, ...` of timed stages (`compile --timings` and `apply`'s).
pub fn stages_ms(stages: &[(&str, Duration)]) -> String {
    let line: Vec<String> = stages
        .iter()
        .map(|(name, d)| format!("{name} {:.1}", d.as_secs_f64() * 1e3))
        .collect();
    line.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_332_841), "2026-11-22T07:34:01Z");
        assert_eq!(rfc3339(951_825_600), "2000-02-29T12:00:00Z");
        let zone = |secs| jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_seconds(secs).unwrap());
        assert_eq!(
            time_in(1_795_332_841, &zone(3600)),
            "2026-11-22 08:34:01 +0100"
        );
        assert_eq!(time_in(0, &zone(-5400)), "1969-12-31 22:30:00 -0130");
        assert_eq!(
            time_in(1_795_332_841, &zone(0)),
            "2026-11-22 07:34:01 +0000"
        );
    }
}
