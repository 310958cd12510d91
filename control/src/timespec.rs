//! Times on `mailgatectl`'s command line: an RFC 3339 time, or a span back
//! from now (`30d`, `12h`, `90m`, `45s`, `2w`), which `--since 30d` reads
//! as "30 days ago". The API itself takes RFC 3339 only.

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// The RFC 3339 time `spec` stands for, relative spans counted back from `now`.
pub fn resolve(spec: &str, now: OffsetDateTime) -> Result<String, String> {
    let spec = spec.trim();
    if OffsetDateTime::parse(spec, &Rfc3339).is_ok() {
        return Ok(spec.to_string());
    }
    let split = spec.find(|c: char| !c.is_ascii_digit()).unwrap_or(spec.len());
    let (digits, unit) = spec.split_at(split);
    let bad = || format!("{spec:?}: expected an RFC 3339 time or a span such as 30d, 12h, 90m, 45s, 2w");
    let n: i64 = digits.parse().map_err(|_| bad())?;
    let span = match unit {
        "s" => Duration::seconds(n),
        "m" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        "w" => Duration::weeks(n),
        _ => return Err(bad()),
    };
    now.checked_sub(span).and_then(|t| t.format(&Rfc3339).ok()).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn spans_count_back_from_now_and_times_pass_through() {
        let now = datetime!(2024-05-31 12:00:00 UTC);
        assert_eq!(resolve("30d", now).as_deref(), Ok("2024-05-01T12:00:00Z"));
        assert_eq!(resolve("90m", now).as_deref(), Ok("2024-05-31T10:30:00Z"));
        assert_eq!(resolve("2024-01-01T00:00:00+01:00", now).as_deref(), Ok("2024-01-01T00:00:00+01:00"));
        assert!(resolve("30 days", now).is_err() && resolve("d", now).is_err() && resolve("5y", now).is_err());
    }
}
