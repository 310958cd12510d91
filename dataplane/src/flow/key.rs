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
        // Through integers: the octet arrays of `to_ipv6_mapped` compile to a byte loop.
        let addr = match addr {
            IpAddr::V4(v4) => (0xffff_u128 << 32 | u128::from(u32::from(v4))).to_be_bytes(),
            IpAddr::V6(v6) => u128::from(v6).to_be_bytes(),
        };
        Endpoint { addr, port }
    }

    /// The address, IPv4 again where it was one.
    pub fn ip(&self) -> IpAddr {
        Ipv6Addr::from(self.addr).to_canonical()
    }
}

impl Endpoint {
    /// The endpoint as two integers, ordered as the derived `Ord` orders
    /// endpoints (big-endian address, then port): comparing and hashing
    /// them costs a few instructions, not a byte loop.
    fn words(&self) -> (u128, u16) {
        (u128::from_be_bytes(self.addr), self.port)
    }
}

/// The canonical key of a TCP session: its two endpoints, lower first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowKey {
    lo: Endpoint,
    hi: Endpoint,
}

impl std::hash::Hash for FlowKey {
    /// Hashes the key as three words (it is hashed once per packet).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let ((lo, lo_port), (hi, hi_port)) = (self.lo.words(), self.hi.words());
        state.write_u128(lo);
        state.write_u128(hi);
        state.write_u32(u32::from(lo_port) << 16 | u32::from(hi_port));
    }
}

impl FlowKey {
    /// The key of a segment from `src` to `dst`, and whether `src` is the
    /// key's lower endpoint (so callers can tell the direction).
    pub fn new(src: Endpoint, dst: Endpoint) -> (FlowKey, bool) {
        if src.words() <= dst.words() {
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
        assert_eq!(a_lo, a <= b, "the fast order is the derived one");
        assert_eq!(a.ip().to_string(), "198.51.100.23");
        let v6: std::net::Ipv6Addr = "2001:db8::25".parse().unwrap();
        assert_eq!(Endpoint::new(v6.into(), 25).ip(), IpAddr::V6(v6));
        assert_eq!(
            Endpoint::new("198.51.100.23".parse().unwrap(), 1).addr,
            "::ffff:198.51.100.23".parse::<std::net::Ipv6Addr>().unwrap().octets()
        );
    }
}
