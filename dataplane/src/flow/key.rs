//! A direction-free flow key: both directions of a TCP session map to the
//! same key, so one table lookup finds the session whichever side sent.

use std::net::{IpAddr, Ipv6Addr};

/// One endpoint as stored in a key: the address (IPv4 mapped into IPv6) and port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    /// Address octets; IPv4 is stored as `::ffff:a.b.c.d`.
    pub addr: [u8; 16],
    /// TCP port.
    pub port: u16,
}

impl Endpoint {
    /// The endpoint of `addr:port`.
    pub fn new(addr: IpAddr, port: u16) -> Self {
        let addr = match addr {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        Endpoint { addr, port }
    }

    /// The address, IPv4 again where it was one.
    pub fn ip(&self) -> IpAddr {
        Ipv6Addr::from(self.addr).to_canonical()
    }
}

/// The canonical key of a TCP session: its two endpoints, lower first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FlowKey {
    lo: Endpoint,
    hi: Endpoint,
}

impl FlowKey {
    /// The key of a segment from `src` to `dst`, and whether `src` is the
    /// key's lower endpoint (so callers can tell the direction).
    pub fn new(src: Endpoint, dst: Endpoint) -> (FlowKey, bool) {
        if src <= dst {
            (FlowKey { lo: src, hi: dst }, true)
        } else {
            (FlowKey { lo: dst, hi: src }, false)
        }
    }

    /// The lower endpoint.
    pub fn lo(&self) -> &Endpoint {
        &self.lo
    }

    /// The higher endpoint.
    pub fn hi(&self) -> &Endpoint {
        &self.hi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_give_one_key() {
        let a = Endpoint::new("198.51.100.23".parse().unwrap(), 50000);
        let b = Endpoint::new("203.0.113.9".parse().unwrap(), 25);
        let (k1, a_lo) = FlowKey::new(a, b);
        let (k2, b_lo) = FlowKey::new(b, a);
        assert_eq!(k1, k2);
        assert_ne!(a_lo, b_lo);
        assert_eq!(a.ip().to_string(), "198.51.100.23");
    }
}
