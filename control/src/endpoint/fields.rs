//! Reading fields out of endpoint JSON, whose shippers disagree on types
//! (numbers as strings, ECS fields nested or flattened) and on time formats.

use serde_json::Value;
use std::net::IpAddr;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Longest process path, user or host name accepted.
pub const MAX_TEXT: usize = 4096;

/// The value at a dotted path: nested objects (`source.ip` as
/// `{"source": {"ip": …}}`), or the flattened key (`{"source.ip": …}`).
pub fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = v;
    let mut nested = true;
    for part in path.split('.') {
        match current.get(part) {
            Some(next) => current = next,
            None => {
                nested = false;
                break;
            }
        }
    }
    let found = if nested { Some(current) } else { v.get(path) };
    found.filter(|v| !v.is_null())
}

/// A text field: strings as they are, numbers and booleans written out;
/// empty strings count as absent. Longer than [`MAX_TEXT`] is an error.
pub fn text(v: &Value, path: &str) -> Result<Option<String>, String> {
    let s = match get(v, path) {
        None => return Ok(None),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(other) => return Err(format!("{path}: expected a string, found {}", kind(other))),
    };
    if s.len() > MAX_TEXT {
        return Err(format!("{path}: longer than {MAX_TEXT} bytes"));
    }
    Ok((!s.is_empty()).then_some(s))
}

/// The first of `paths` that is set, as text.
pub fn first_text(v: &Value, paths: &[&str]) -> Result<Option<String>, String> {
    for path in paths {
        if let Some(s) = text(v, path)? {
            return Ok(Some(s));
        }
    }
    Ok(None)
}

/// An unsigned integer field, given as a number or a decimal string.
pub fn integer(v: &Value, path: &str) -> Result<Option<u64>, String> {
    match get(v, path) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            n.as_u64().map(Some).ok_or_else(|| format!("{path}: expected a non-negative integer, found {n}"))
        }
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => {
            s.trim().parse().map(Some).map_err(|_| format!("{path}: expected a non-negative integer, found {s:?}"))
        }
        Some(other) => Err(format!("{path}: expected an integer, found {}", kind(other))),
    }
}

/// A TCP port: 1–65535; 0 or empty counts as absent (osquery writes 0 for "unknown").
pub fn port(v: &Value, path: &str) -> Result<Option<u16>, String> {
    match integer(v, path)? {
        None | Some(0) => Ok(None),
        Some(n) => u16::try_from(n).map(Some).map_err(|_| format!("{path}: port {n} is out of range (1-65535)")),
    }
}

/// A process id.
pub fn pid(v: &Value, path: &str) -> Result<Option<u32>, String> {
    match integer(v, path)? {
        None => Ok(None),
        Some(n) => u32::try_from(n).map(Some).map_err(|_| format!("{path}: process id {n} is out of range")),
    }
}

/// An IP address field; IPv4-mapped IPv6 (`::ffff:10.0.0.1`) becomes IPv4.
/// `None` when absent or unspecified (`0.0.0.0`, `::`).
pub fn ip(v: &Value, path: &str) -> Result<Option<IpAddr>, String> {
    let Some(s) = text(v, path)? else { return Ok(None) };
    // Windows writes scoped IPv6 addresses with a zone (`fe80::1%12`).
    let bare = s.split('%').next().unwrap_or(&s);
    let addr: IpAddr = bare.parse().map_err(|_| format!("{path}: {s:?} is not an IP address"))?;
    let addr = addr.to_canonical();
    Ok((!addr.is_unspecified()).then_some(addr))
}

/// A boolean given as `true`/`false` or as the strings Sysmon writes.
pub fn boolean(v: &Value, path: &str) -> Result<Option<bool>, String> {
    match get(v, path) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(format!("{path}: expected true or false, found {s:?}")),
        },
        Some(other) => Err(format!("{path}: expected true or false, found {}", kind(other))),
    }
}

/// A time as Unix nanoseconds: RFC 3339; Sysmon's `UtcTime`
/// (`2024-05-01 10:00:00.123`, UTC); osquery's `calendarTime`
/// (`Wed May  1 10:00:00 2024 UTC`); or Unix seconds as a number or a
/// decimal string (fractions allowed).
pub fn timestamp(v: &Value, path: &str) -> Result<Option<i64>, String> {
    let bad = |shown: &str| {
        format!("{path}: {shown} is not a time (expected RFC 3339, \"YYYY-MM-DD HH:MM:SS.fff\" UTC, or Unix seconds)")
    };
    let seconds = |s: f64| -> Result<i64, String> {
        if s.is_finite() && (0.0..1e11).contains(&s) {
            // Rounded to the microsecond: a double holds no more for current times.
            Ok((s * 1e6).round() as i64 * 1000)
        } else {
            Err(bad(&s.to_string()))
        }
    };
    match get(v, path) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(seconds).transpose(),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            if let Ok(n) = s.parse::<f64>() {
                return seconds(n).map(Some);
            }
            parse_time_text(s).map(Some).ok_or_else(|| bad(&format!("{s:?}")))
        }
        Some(other) => Err(format!("{path}: expected a time, found {}", kind(other))),
    }
}

fn parse_time_text(s: &str) -> Option<i64> {
    let utc = |t: PrimitiveDateTime| i64::try_from(t.assume_utc().unix_timestamp_nanos()).ok();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return i64::try_from(t.unix_timestamp_nanos()).ok();
    }
    let sysmon = format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]");
    if let Ok(t) = PrimitiveDateTime::parse(s, &sysmon) {
        return utc(t);
    }
    let sysmon_whole = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    if let Ok(t) = PrimitiveDateTime::parse(s, &sysmon_whole) {
        return utc(t);
    }
    // osquery's calendarTime pads the day with a space: "Wed May  1 10:00:00 2024 UTC".
    let squeezed = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let calendar = format_description!(
        "[weekday repr:short] [month repr:short] [day padding:none] [hour]:[minute]:[second] [year] UTC"
    );
    PrimitiveDateTime::parse(&squeezed, &calendar).ok().and_then(utc)
}

/// A JSON type's name, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_and_flattened_fields_and_loose_types() {
        let v = json!({"source": {"ip": "10.0.0.1", "port": "49712"}, "destination.port": 587, "x": ""});
        assert_eq!(text(&v, "source.ip").ok().flatten().as_deref(), Some("10.0.0.1"));
        assert_eq!(port(&v, "source.port").ok().flatten(), Some(49712));
        assert_eq!(port(&v, "destination.port").ok().flatten(), Some(587));
        assert_eq!(text(&v, "x").ok().flatten(), None);
        assert!(port(&json!({"p": 70000}), "p").is_err());
        assert!(port(&json!({"p": "x"}), "p").is_err());
        assert_eq!(ip(&json!({"a": "::ffff:10.1.2.3"}), "a").ok().flatten(), "10.1.2.3".parse().ok());
        assert_eq!(ip(&json!({"a": "fe80::1%12"}), "a").ok().flatten(), "fe80::1".parse().ok());
        assert_eq!(ip(&json!({"a": "0.0.0.0"}), "a").ok().flatten(), None);
        assert!(ip(&json!({"a": "mail.example"}), "a").is_err());
    }

    #[test]
    fn the_time_formats_endpoints_write() {
        let want = Some(1_714_557_600_123_000_000);
        let t = |v: Value| timestamp(&json!({"t": v}), "t").ok().flatten();
        assert_eq!(t(json!("2024-05-01T10:00:00.123Z")), want);
        assert_eq!(t(json!("2024-05-01 10:00:00.123")), want);
        assert_eq!(t(json!(1_714_557_600.123)), want);
        assert_eq!(t(json!("1714557600")), Some(1_714_557_600_000_000_000));
        assert_eq!(t(json!("Wed May  1 10:00:00 2024 UTC")), Some(1_714_557_600_000_000_000));
        assert!(timestamp(&json!({"t": "yesterday"}), "t").is_err());
        assert!(timestamp(&json!({"t": -5}), "t").is_err());
    }
}
