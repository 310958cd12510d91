//! Addresses as the store indexes them: every IP as 16 bytes (IPv4 mapped
//! into IPv6), so that an address or a CIDR filter is one range scan.

use std::net::IpAddr;

/// The 16-byte key of an address (IPv4 as `::ffff:a.b.c.d`).
pub fn key(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The key of an address written as text, if it is one.
pub fn key_of(text: &str) -> Option<[u8; 16]> {
    text.parse().ok().map(key)
}

/// The inclusive key range an address or CIDR (`10.0.0.0/8`, `2001:db8::/32`) covers.
pub fn range(filter: &str) -> Result<([u8; 16], [u8; 16]), String> {
    if let Ok(addr) = filter.parse::<IpAddr>() {
        return Ok((key(addr), key(addr)));
    }
    let net: ipnet::IpNet = filter.parse().map_err(|_| format!("{filter:?} is neither an IP address nor a CIDR"))?;
    Ok((key(net.network()), key(net.broadcast())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_cidr_covers_exactly_its_addresses() {
        let (lo, hi) = range("10.1.0.0/16").unwrap_or_else(|e| panic!("{e}"));
        let inside = key_of("10.1.255.3").unwrap_or_default();
        let outside = key_of("10.2.0.0").unwrap_or_default();
        assert!(lo <= inside && inside <= hi);
        assert!(outside > hi);
        // An IPv6 address never falls in an IPv4 range.
        let v6 = key_of("2001:db8::1").unwrap_or_default();
        assert!(!(lo <= v6 && v6 <= hi));
    }

    #[test]
    fn single_address_and_bad_input() {
        let (lo, hi) = range("2001:db8::25").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lo, hi);
        assert!(range("10.0.0.0/33").is_err());
        assert!(range("mail.example").is_err());
    }
}
