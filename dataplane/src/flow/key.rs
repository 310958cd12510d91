//! A direction-free flow key: both directions of a TCP session map to the
//! same key, so one table lookup finds the session whichever side sent.

use std::net::{IpAddr, Ipv6Addr};

/// One endpoint as stored in a key: the address (IPv4 mapped into IPv6) and port.
///
/// The address is one integer, so that ordering, comparing and hashing a
/// key (once per packet) are a few word operations; its value order is the
/// order of the address's octets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    addr: u128,
    /// TCP port.
    pub port: u16,
}

impl Endpoint {
    /// The endpoint of `addr:port`.
    pub fn new(addr: IpAddr, port: u16) -> Self {
        let addr = match addr {
            IpAddr::V4(v4) => 0xffff_u128 << 32 | u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        };
        Endpoint { addr, port }
    }

    /// The address, IPv4 again where it was one.
    pub fn ip(&self) -> IpAddr {
        Ipv6Addr::from(self.addr).to_canonical()
    }
}

/// The canonical key of a TCP session: its two endpoints, lower first.
///
/// Stored as 64-bit halves and 16-bit ports (40 bytes, 8-aligned) rather
/// than two [`Endpoint`]s (64 bytes: a `u128` is 16-aligned), because one
/// lives in every flow-table entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowKey {
    lo_addr: [u64; 2],
    hi_addr: [u64; 2],
    lo_port: u16,
    hi_port: u16,
}

fn halves(addr: u128) -> [u64; 2] {
    [(addr >> 64) as u64, addr as u64]
}

fn joined([high, low]: [u64; 2]) -> u128 {
    u128::from(high) << 64 | u128::from(low)
}

impl std::hash::Hash for FlowKey {
    /// Hashes the key as three words (it is hashed once per packet).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(joined(self.lo_addr));
        state.write_u128(joined(self.hi_addr));
        state.write_u32(u32::from(self.lo_port) << 16 | u32::from(self.hi_port));
    }
}

impl FlowKey {
    /// The key of a segment from `src` to `dst`, and whether `src` is the
    /// key's lower endpoint (so callers can tell the direction).
    pub fn new(src: Endpoint, dst: Endpoint) -> (FlowKey, bool) {
        let src_is_lo = src <= dst;
        let (lo, hi) = if src_is_lo { (src, dst) } else { (dst, src) };
        let key = FlowKey { lo_addr: halves(lo.addr), hi_addr: halves(hi.addr), lo_port: lo.port, hi_port: hi.port };
        (key, src_is_lo)
    }

    /// The lower endpoint.
    pub fn lo(&self) -> Endpoint {
        Endpoint { addr: joined(self.lo_addr), port: self.lo_port }
    }

    /// The higher endpoint.
    pub fn hi(&self) -> Endpoint {
        Endpoint { addr: joined(self.hi_addr), port: self.hi_port }
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
        assert_eq!(a_lo, a < b);
        assert_eq!(a.ip().to_string(), "198.51.100.23");
        let v6: std::net::Ipv6Addr = "2001:db8::25".parse().unwrap();
        assert_eq!(Endpoint::new(v6.into(), 25).ip(), IpAddr::V6(v6));
        let mapped: std::net::Ipv6Addr = "::ffff:198.51.100.23".parse().unwrap();
        assert_eq!(Endpoint::new("198.51.100.23".parse().unwrap(), 1).addr, u128::from(mapped));
        // Keys order as the addresses' octets do, whatever the family.
        let low = Endpoint::new("2001:db8::1".parse().unwrap(), 9);
        let high = Endpoint::new("2001:db8::1:0".parse().unwrap(), 1);
        assert!(low < high && a < b);
        assert_eq!((k1.lo(), k1.hi()), (a, b));
        let (k6, _) = FlowKey::new(high, low);
        assert_eq!((k6.lo(), k6.hi()), (low, high));
        assert_eq!(std::mem::size_of::<FlowKey>(), 40);
    }
}
