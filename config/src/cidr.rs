//! IPv4 and IPv6 networks as written in policy files (`198.51.100.0/24`, `2001:db8::/32`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A network: an address with its prefix length, host bits zero.
///
/// A bare address (`198.51.100.10`) is accepted as a single host (`/32`, `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

/// Why a string is not a network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// The part before `/` is not an IPv4 or IPv6 address.
    #[error("\"{0}\" is not an IPv4 or IPv6 address")]
    BadAddress(String),
    /// The part after `/` is not a number.
    #[error("prefix length \"{0}\" is not a number")]
    BadLength(String),
    /// The prefix length is longer than the address.
    #[error("prefix length {len} is too long for {family} (at most {max})")]
    LengthOutOfRange {
        /// The length written.
        len: u32,
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// 32 or 128.
        max: u8,
    },
    /// Bits below the prefix are set, which usually means a typo in the address or the length.
    #[error("host bits are set; did you mean \"{0}\"?")]
    HostBitsSet(Cidr),
}

impl Cidr {
    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// True for an IPv6 network.
    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }

    /// True when `addr` is in the network (an IPv4 address is never in an IPv6 network).
    pub fn contains(&self, addr: IpAddr) -> bool {
        let (first, last) = self.range();
        addr.is_ipv6() == self.is_ipv6() && (first..=last).contains(&addr_key(addr))
    }

    /// True when every address of `other` is in this network.
    pub fn covers(&self, other: &Cidr) -> bool {
        other.len >= self.len && self.contains(other.addr)
    }

    /// The first and last address of the network as integers in its family's key space
    /// (IPv4 addresses are `0..=u32::MAX`).
    pub(crate) fn range(&self) -> (u128, u128) {
        let bits = family_bits(self.addr);
        let start = addr_key(self.addr);
        let host = u32::from(bits - self.len);
        let span = if host >= 128 { u128::MAX } else { (1u128 << host) - 1 };
        (start, start | span)
    }
}

/// The address as an integer: IPv4 in the low 32 bits, IPv6 as all 128.
pub(crate) fn addr_key(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn family_bits(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

fn mask(addr: IpAddr, len: u8) -> IpAddr {
    let host = u32::from(family_bits(addr) - len);
    let keep = if host >= 128 { 0 } else { u128::MAX << host };
    match addr {
        IpAddr::V4(a) => {
            let keep = u32::try_from(keep & u128::from(u32::MAX)).unwrap_or(u32::MAX);
            IpAddr::V4((u32::from(a) & keep).into())
        }
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) & keep).into()),
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr_text, len_text) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| CidrError::BadAddress(addr_text.to_owned()))?;
        let max = family_bits(addr);
        let len = match len_text {
            None => max,
            Some(l) => {
                let n: u32 = l.parse().map_err(|_| CidrError::BadLength(l.to_owned()))?;
                let family = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
                match u8::try_from(n) {
                    Ok(n) if n <= max => n,
                    _ => return Err(CidrError::LengthOutOfRange { len: n, family, max }),
                }
            }
        };
        let network = Cidr { addr: mask(addr, len), len };
        if network.addr != addr {
            return Err(CidrError::HostBitsSet(network));
        }
        Ok(network)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_networks_and_single_hosts() {
        assert_eq!(cidr("198.51.100.0/24").to_string(), "198.51.100.0/24");
        assert_eq!(cidr("198.51.100.10").to_string(), "198.51.100.10/32");
        assert_eq!(cidr("2001:db8::/32").to_string(), "2001:db8::/32");
        assert_eq!(cidr("::1").prefix_len(), 128);
        assert_eq!(cidr("0.0.0.0/0").range(), (0, u128::from(u32::MAX)));
        assert_eq!(cidr("::/0").range(), (0, u128::MAX));
        assert_eq!(cidr("10.1.0.0/16").range(), (0x0a01_0000, 0x0a01_ffff));
    }

    #[test]
    fn containment_respects_the_family() {
        let net = cidr("10.1.0.0/16");
        assert!(net.contains("10.1.255.255".parse().unwrap()));
        assert!(!net.contains("10.2.0.0".parse().unwrap()));
        assert!(!cidr("::/0").contains("10.1.0.1".parse().unwrap()));
        assert!(net.covers(&cidr("10.1.2.0/24")) && !net.covers(&cidr("10.0.0.0/8")));
    }

    #[test]
    fn rejects_bad_networks_with_the_reason() {
        assert_eq!(
            "10.0.0.0/33".parse::<Cidr>().unwrap_err().to_string(),
            "prefix length 33 is too long for IPv4 (at most 32)"
        );
        assert_eq!(
            "10.0.0.1/8".parse::<Cidr>().unwrap_err().to_string(),
            "host bits are set; did you mean \"10.0.0.0/8\"?"
        );
        assert_eq!("10.0.0/8".parse::<Cidr>().unwrap_err(), CidrError::BadAddress("10.0.0".into()));
        assert_eq!("::/x".parse::<Cidr>().unwrap_err(), CidrError::BadLength("x".into()));
        assert!("2001:db8::/129".parse::<Cidr>().is_err());
    }
}
