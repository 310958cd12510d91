//! SOCKS4/4a/5 tunnel set-up (RFC 1928, RFC 1929): mail relayed through a
//! SOCKS proxy is still mail. The proxy handshake is parsed from both
//! directions' first bytes; once the proxy has granted the CONNECT, the
//! rest of each direction is the tunnelled session, which the engine then
//! inspects like any other. The proxy password is skipped, never stored.

use crate::text::BoundedStr;

/// Where the client asked the proxy to connect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocksFacts {
    /// 4 or 5.
    pub version: u8,
    /// The target host: a domain name or an address in text form.
    pub target_host: BoundedStr<255>,
    /// The target port.
    pub target_port: u16,
    /// The user name given to the proxy (SOCKS5 user/password, SOCKS4 user id).
    pub user: Option<BoundedStr<128>>,
}

/// What [`parse`] made of the two directions so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocksStatus {
    /// More bytes are needed from either side.
    NeedMore,
    /// The tunnel is up: the tunnelled streams start at these offsets.
    Tunnel {
        /// Bytes of the client's stream taken by the SOCKS handshake.
        client_consumed: usize,
        /// Bytes of the server's stream taken by the SOCKS handshake.
        server_consumed: usize,
    },
    /// The proxy refused the request, or the client does not follow SOCKS.
    NotTunnel,
}

/// True when the client's first bytes may start a SOCKS handshake (cheap,
/// for detection): `05 n methods…` or `04 01 port addr`.
pub fn probe(client: &[u8]) -> bool {
    match client {
        [5, n, methods @ ..] => *n >= 1 && methods.iter().take(usize::from(*n)).all(|m| *m <= 0x09 || *m >= 0x80),
        [4, 1, ..] => true,
        _ => false,
    }
}

/// A borrowed byte cursor; every read is checked.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
    }
    fn until_nul(&mut self, max: usize) -> Option<&'a [u8]> {
        let rest = self.buf.get(self.pos..)?;
        let end = rest.iter().take(max).position(|b| *b == 0)?;
        self.pos += end + 1;
        rest.get(..end)
    }
}

/// Parses the SOCKS handshake from the client's and the server's in-order
/// bytes (any prefixes), filling `out` once the tunnel is up.
pub fn parse(client: &[u8], server: &[u8], out: &mut SocksFacts) -> SocksStatus {
    let result = match client.first() {
        Some(5) => parse_v5(client, server, out),
        Some(4) => parse_v4(client, server, out),
        Some(_) => Some(SocksStatus::NotTunnel),
        None => None,
    };
    result.unwrap_or(SocksStatus::NeedMore)
}

/// `None` = need more bytes.
fn parse_v5(client: &[u8], server: &[u8], out: &mut SocksFacts) -> Option<SocksStatus> {
    let mut c = Cursor { buf: client, pos: 0 };
    let mut s = Cursor { buf: server, pos: 0 };
    c.u8()?; // version
    let n = c.u8()?;
    c.take(usize::from(n))?;
    if s.u8()? != 5 {
        return Some(SocksStatus::NotTunnel);
    }
    let method = s.u8()?;
    let mut user = None;
    match method {
        0x00 => {}
        0x02 => {
            // RFC 1929: 01 ulen user plen password; reply 01 status.
            if c.u8()? != 1 {
                return Some(SocksStatus::NotTunnel);
            }
            let ulen = c.u8()?;
            user = Some(BoundedStr::from_bytes(c.take(usize::from(ulen))?));
            let plen = c.u8()?;
            c.take(usize::from(plen))?; // the password: skipped, never kept
            s.u8()?;
            if s.u8()? != 0 {
                return Some(SocksStatus::NotTunnel);
            }
        }
        _ => return Some(SocksStatus::NotTunnel), // no acceptable method, or GSSAPI (opaque)
    }
    // Request: 05 cmd 00 atyp addr port.
    if c.u8()? != 5 || c.u8()? != 1 {
        return Some(SocksStatus::NotTunnel); // only CONNECT carries a session
    }
    c.u8()?;
    let host = read_v5_addr(&mut c)?;
    let port = c.u16()?;
    // Reply: 05 rep 00 atyp addr port.
    if s.u8()? != 5 || s.u8()? != 0 {
        return Some(SocksStatus::NotTunnel);
    }
    s.u8()?;
    read_v5_addr(&mut s)?;
    s.u16()?;
    *out = SocksFacts { version: 5, target_host: host, target_port: port, user };
    Some(SocksStatus::Tunnel { client_consumed: c.pos, server_consumed: s.pos })
}

fn read_v5_addr(c: &mut Cursor<'_>) -> Option<BoundedStr<255>> {
    let mut host = BoundedStr::new();
    match c.u8()? {
        1 => {
            let a = c.take(4)?;
            push_display(&mut host, std::net::Ipv4Addr::new(*a.first()?, *a.get(1)?, *a.get(2)?, *a.get(3)?));
        }
        3 => {
            let len = c.u8()?;
            host.push_bytes(c.take(usize::from(len))?);
        }
        4 => {
            let a: [u8; 16] = c.take(16)?.try_into().ok()?;
            push_display(&mut host, std::net::Ipv6Addr::from(a));
        }
        _ => return None,
    }
    Some(host)
}

fn push_display(out: &mut BoundedStr<255>, value: impl std::fmt::Display) {
    use std::io::Write;
    let mut buf = [0u8; 64];
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    if write!(cursor, "{value}").is_ok() {
        let len = usize::try_from(cursor.position()).unwrap_or(0);
        out.push_bytes(buf.get(..len).unwrap_or(&[]));
    }
}

fn parse_v4(client: &[u8], server: &[u8], out: &mut SocksFacts) -> Option<SocksStatus> {
    // 04 01 port ip userid\0 [domain\0 when ip is 0.0.0.x, x != 0 (SOCKS4a)]
    let mut c = Cursor { buf: client, pos: 0 };
    c.take(2)?;
    let port = c.u16()?;
    let ip = c.take(4)?;
    let user = c.until_nul(255)?;
    let mut host = BoundedStr::new();
    if let [0, 0, 0, x] = ip {
        if *x != 0 {
            host.push_bytes(c.until_nul(255)?);
        }
    }
    if host.is_empty() {
        push_display(&mut host, std::net::Ipv4Addr::new(*ip.first()?, *ip.get(1)?, *ip.get(2)?, *ip.get(3)?));
    }
    // Reply: 00 5A port ip (8 bytes); 0x5A = granted.
    let reply = server.get(..8)?;
    if reply.first() != Some(&0) || reply.get(1) != Some(&0x5a) {
        return Some(SocksStatus::NotTunnel);
    }
    let user = (!user.is_empty()).then(|| BoundedStr::from_bytes(user));
    *out = SocksFacts { version: 4, target_host: host, target_port: port, user };
    Some(SocksStatus::Tunnel { client_consumed: c.pos, server_consumed: 8 })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn socks5_connect_by_name_as_in_the_arkime_capture() {
        let client = b"\x05\x01\x00\x05\x01\x00\x03\x0e010.000.00.003\x00\x19EHLO x\r\n";
        let server = b"\x05\x00\x05\x00\x00\x01\x0a\x00\x00\x01\xd1\xcd220 mx ESMTP\r\n";
        let mut f = SocksFacts::default();
        for cut in 0..client.len() - 8 {
            assert_eq!(parse(&client[..cut], server, &mut f), SocksStatus::NeedMore, "cut {cut}");
        }
        let st = parse(client, server, &mut f);
        assert_eq!(st, SocksStatus::Tunnel { client_consumed: client.len() - 8, server_consumed: 12 });
        assert_eq!((f.version, f.target_host.to_string().as_str(), f.target_port), (5, "010.000.00.003", 25));
        assert!(probe(client));
    }

    #[test]
    fn user_password_auth_keeps_the_user_only() {
        let client = b"\x05\x01\x02\x01\x05alice\x0aPw-secret-\x05\x01\x00\x01\xcb\x00\x71\x09\x00\x19";
        let server = b"\x05\x02\x01\x00\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00";
        let mut f = SocksFacts::default();
        assert!(matches!(parse(client, server, &mut f), SocksStatus::Tunnel { .. }));
        assert_eq!(f.user.unwrap().to_string(), "alice");
        assert_eq!(f.target_host.to_string(), "203.0.113.9");
        assert!(!format!("{f:?}").contains("Pw-secret"));
    }

    #[test]
    fn socks4a_and_refusals() {
        let client = b"\x04\x01\x00\x6e\x00\x00\x00\x01bob\x00pop.example\x00USER x\r\n";
        let mut f = SocksFacts::default();
        let st = parse(client, b"\x00\x5a\x00\x00\x00\x00\x00\x00+OK\r\n", &mut f);
        assert_eq!(st, SocksStatus::Tunnel { client_consumed: client.len() - 8, server_consumed: 8 });
        assert_eq!((f.target_host.to_string().as_str(), f.target_port), ("pop.example", 110));
        assert_eq!(parse(client, b"\x00\x5b\x00\x00\x00\x00\x00\x00", &mut f), SocksStatus::NotTunnel);
        assert_eq!(parse(b"\x05\x01\x00", b"\x05\xff", &mut f), SocksStatus::NotTunnel);
        assert!(!probe(b"EHLO"));
    }

    #[test]
    fn never_panics_on_random_input() {
        let mut f = SocksFacts::default();
        let mut x = 0x12345678u32;
        for _ in 0..20_000 {
            let mut a = [0u8; 24];
            let mut b = [0u8; 24];
            for v in a.iter_mut().chain(b.iter_mut()) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *v = (x % 7) as u8;
            }
            a[0] = 4 + (x % 2) as u8;
            let _ = parse(&a[..(x % 24) as usize], &b[..(x % 23) as usize], &mut f);
        }
    }
}
