//! Host-name patterns for the `sni` and `helo` constraints, and their
//! compiled, allocation-free matcher.
//!
//! A pattern is an exact name (`mx.corp.test`) or a wildcard whose `*` is
//! the whole leftmost label (`*.corp.test`), which matches one or more
//! leading labels: `a.corp.test` and `a.b.corp.test`, never `corp.test`.
//! `helo` patterns may also be SMTP address literals (`[192.0.2.1]`,
//! `[IPv6:2001:db8::1]`), matched exactly. Matching ignores ASCII case and
//! one trailing dot on either side.

use std::cmp::Ordering;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// One validated name pattern, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamePattern {
    /// Matches this name only.
    Exact(String),
    /// Matches any name that ends with this suffix (which starts with `.`) after at least one label.
    Wildcard(String),
}

/// Whether a pattern may be an SMTP address literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatternKind {
    /// A TLS server name: host names only.
    Sni,
    /// An SMTP EHLO/HELO argument: host names or address literals.
    Helo,
}

impl NamePattern {
    /// Validates `text` as a pattern; the error says what is wrong with it.
    pub(crate) fn parse(text: &str, kind: PatternKind) -> Result<NamePattern, String> {
        let lower = text.to_ascii_lowercase();
        let name = lower.strip_suffix('.').unwrap_or(&lower);
        if kind == PatternKind::Helo && name.starts_with('[') {
            return parse_address_literal(name).map(|()| NamePattern::Exact(name.to_owned()));
        }
        if name.is_empty() {
            return Err("a name pattern must not be empty".into());
        }
        if name.len() > 253 {
            return Err("a host name is at most 253 characters".into());
        }
        let (wildcard, rest) = match name.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        for label in rest.split('.') {
            if label.contains('*') {
                return Err("\"*\" may only be the whole leftmost label, as in \"*.corp.test\"".into());
            }
            check_label(label)?;
        }
        if wildcard {
            Ok(NamePattern::Wildcard(format!(".{rest}")))
        } else {
            Ok(NamePattern::Exact(rest.to_owned()))
        }
    }
}

fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("a name has an empty label (two dots in a row, or a leading dot)".into());
    }
    if label.len() > 63 {
        return Err(format!("label \"{label}\" is longer than 63 characters"));
    }
    if let Some(c) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
        return Err(format!("character {c:?} is not allowed in a host name (letters, digits, '-', '_')"));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("label \"{label}\" starts or ends with '-'"));
    }
    Ok(())
}

fn parse_address_literal(name: &str) -> Result<(), String> {
    let inner = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .ok_or_else(|| "an address literal must be written like [192.0.2.1] or [IPv6:2001:db8::1]".to_owned())?;
    let valid = match inner.strip_prefix("ipv6:") {
        Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
        None => inner.parse::<Ipv4Addr>().is_ok(),
    };
    if valid {
        Ok(())
    } else {
        Err(format!("\"{name}\" is not a valid address literal"))
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NamePattern::Exact(n) => f.write_str(n),
            NamePattern::Wildcard(suffix) => write!(f, "*{suffix}"),
        }
    }
}

/// A compiled set of patterns: sorted exact names and sorted wildcard
/// suffixes, searched without allocating.
#[derive(Debug, Clone)]
pub(crate) struct NameSet {
    exact: Box<[Box<[u8]>]>,
    suffixes: Box<[Box<[u8]>]>,
}

impl NameSet {
    pub(crate) fn new(patterns: &[NamePattern]) -> NameSet {
        let mut exact = Vec::new();
        let mut suffixes = Vec::new();
        for p in patterns {
            match p {
                NamePattern::Exact(n) => exact.push(n.as_bytes().into()),
                NamePattern::Wildcard(s) => suffixes.push(s.as_bytes().into()),
            }
        }
        exact.sort();
        exact.dedup();
        suffixes.sort();
        suffixes.dedup();
        NameSet { exact: exact.into_boxed_slice(), suffixes: suffixes.into_boxed_slice() }
    }

    /// True when `name` (as seen on the wire, any case) matches a pattern.
    pub(crate) fn matches(&self, name: &[u8]) -> bool {
        let name = name.strip_suffix(b".").unwrap_or(name);
        if contains(&self.exact, name) {
            return true;
        }
        if self.suffixes.is_empty() {
            return false;
        }
        // Each dot after the first label starts a candidate suffix.
        name.iter()
            .enumerate()
            .skip(1)
            .filter(|(_, b)| **b == b'.')
            .any(|(i, _)| name.get(i..).is_some_and(|s| contains(&self.suffixes, s)))
    }
}

fn contains(sorted: &[Box<[u8]>], name: &[u8]) -> bool {
    sorted.binary_search_by(|p| cmp_lowered(p, name)).is_ok()
}

/// Compares a lower-case pattern with a name of any case, as if the name were lower-cased.
fn cmp_lowered(pattern: &[u8], name: &[u8]) -> Ordering {
    pattern.iter().copied().cmp(name.iter().map(u8::to_ascii_lowercase))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(patterns: &[&str]) -> NameSet {
        let parsed: Vec<_> = patterns.iter().map(|p| NamePattern::parse(p, PatternKind::Helo).unwrap()).collect();
        NameSet::new(&parsed)
    }

    #[test]
    fn wildcard_matches_one_or_more_leading_labels_only() {
        let s = set(&["*.corp.test"]);
        assert!(s.matches(b"a.corp.test"));
        assert!(s.matches(b"a.b.corp.test"));
        assert!(s.matches(b"A.Corp.TEST."));
        assert!(!s.matches(b"corp.test"));
        assert!(!s.matches(b".corp.test"));
        assert!(!s.matches(b"acorp.test"));
        assert!(!s.matches(b"a.corp.test.evil"));
        assert!(!s.matches(b""));
    }

    #[test]
    fn exact_names_and_literals_match_case_insensitively() {
        let s = set(&["mx.corp.test", "MX2.corp.test.", "[192.0.2.1]", "[IPv6:2001:db8::1]"]);
        assert!(s.matches(b"MX.corp.test"));
        assert!(s.matches(b"mx2.corp.test"));
        assert!(!s.matches(b"a.mx.corp.test"));
        assert!(s.matches(b"[192.0.2.1]"));
        assert!(s.matches(b"[ipv6:2001:db8::1]"));
        assert!(!s.matches(b"\xff\xfe"));
    }

    #[test]
    fn rejects_misplaced_wildcards_and_bad_names() {
        let err = |p: &str| NamePattern::parse(p, PatternKind::Sni).unwrap_err();
        assert!(err("a.*.corp.test").contains("leftmost label"));
        assert!(err("*corp.test").contains("leftmost label"));
        assert!(err("*").contains("leftmost label"));
        assert!(err("*..").contains("empty label"));
        assert!(err("a..b").contains("empty label"));
        assert!(err("mx corp").contains("not allowed"));
        assert!(err("[192.0.2.1]").contains("not allowed"));
        assert!(NamePattern::parse("[192.0.2.300]", PatternKind::Helo).is_err());
        assert_eq!(NamePattern::parse("*.Corp.Test", PatternKind::Sni).unwrap().to_string(), "*.corp.test");
    }
}
