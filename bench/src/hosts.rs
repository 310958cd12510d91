//! The address plan of generated captures, documentation prefixes only:
//! clients in 198.51.100.0/24 and 2001:db8:1::/64, servers in
//! 203.0.113.0/24 and 2001:db8:2::/64.
//!
//! | who | addresses |
//! | --- | --- |
//! | workstations (dual-stack) | 198.51.100.20–.199, 2001:db8:1::1000–10b3 |
//! | clients of 64-byte traffic (`nonmail64`) | 198.51.100.20–.250 |
//! | approved relay | 198.51.100.10 |
//! | DNS resolver | 198.51.100.53, 2001:db8:1::53 |
//! | C2-like hosts (POP3 poll, IMAP poll, SMTP beacon) | 198.51.100.200, .201, .202 |
//! | build server (SMTP on 2525) | 198.51.100.203 |
//! | corporate MX `mx.corp.test` | 203.0.113.50 |
//! | mail providers (SMTP / IMAP / POP3) | 203.0.113.25–27 / 143–145 / 110–112 |
//! | C2 mail servers | 203.0.113.200–203 |
//! | SSH server | 203.0.113.22 |
//! | web servers | 203.0.113.100–.123, 2001:db8:2::100–117 |
//!
//! Every eighth workstation sits on an 802.1Q VLAN (110, 120 or 130); the
//! others are untagged.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rand::rngs::ChaCha8Rng;
use rand::RngExt;

use crate::truth::demo;

/// The MAC address of the router every client talks to.
pub const GATEWAY_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01];

/// How many workstations there are.
pub const WORKSTATIONS: u32 = 180;

/// A client machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    /// Its address for this flow.
    pub ip: IpAddr,
    /// Its MAC address.
    pub mac: [u8; 6],
    /// Its VLAN.
    pub vlan: Option<u16>,
    /// Whether it is a Windows machine (TTL 128, `DESKTOP-…` names).
    pub windows: bool,
    /// Its number (stable per machine, names and users derive from it).
    pub index: u32,
}

fn host_mac(index: u32) -> [u8; 6] {
    let [_, _, hi, lo] = index.to_be_bytes();
    [0x02, 0x00, 0x00, 0x01, hi, lo]
}

/// Workstation `index` (mod [`WORKSTATIONS`]), by IPv4 or IPv6.
pub fn workstation(index: u32, v6: bool) -> Host {
    let i = index % WORKSTATIONS;
    let ip = if v6 {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x1000 + i as u16))
    } else {
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, 20 + i as u8))
    };
    Host {
        ip,
        mac: host_mac(i),
        vlan: (i % 8 == 3).then(|| [110, 120, 130][(i / 8 % 3) as usize]),
        windows: i.is_multiple_of(3),
        index: i,
    }
}

/// Any machine 198.51.100.`last` of the client LAN, by IPv4, untagged, Linux
/// (the clients of 64-byte traffic).
pub fn lan_host(last: u8) -> Host {
    Host {
        ip: IpAddr::V4(Ipv4Addr::new(198, 51, 100, last)),
        mac: host_mac(2000 + u32::from(last)),
        vlan: None,
        windows: false,
        index: 2000 + u32::from(last),
    }
}

/// A random workstation; IPv6 with probability `v6_share`.
pub fn random_workstation(rng: &mut ChaCha8Rng, v6_share: f64) -> Host {
    let index = rng.random_range(0..WORKSTATIONS);
    workstation(index, rng.random_bool(v6_share))
}

/// The machines that are not workstations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// The approved relay.
    Relay,
    /// Polls a POP3 mailbox on a schedule.
    C2Pop3,
    /// Polls an IMAP mailbox on a schedule.
    C2Imap,
    /// Sends small SMTP messages on a schedule.
    C2Smtp,
    /// A build server that mails through port 2525.
    BuildServer,
}

/// The host of a [`Special`] role (IPv4, untagged, Linux).
pub fn special(role: Special) -> Host {
    let (last, index) = match role {
        Special::Relay => (demo::RELAY.octets()[3], 1000),
        Special::C2Pop3 => (200, 1001),
        Special::C2Imap => (201, 1002),
        Special::C2Smtp => (202, 1003),
        Special::BuildServer => (203, 1004),
    };
    Host { ip: IpAddr::V4(Ipv4Addr::new(198, 51, 100, last)), mac: host_mac(index), vlan: None, windows: false, index }
}

/// The DNS resolver for a client of `ip`'s family.
pub fn resolver(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(198, 51, 100, 53)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x53)),
    }
}

/// A server: its name and addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Server {
    /// Its DNS name (the SNI clients send).
    pub name: &'static str,
    /// Its IPv4 address.
    pub v4: Ipv4Addr,
    /// Its IPv6 address, if it has one.
    pub v6: Option<Ipv6Addr>,
}

impl Server {
    /// The address a client of `client`'s family connects to (IPv4 when the server has no IPv6).
    pub fn addr_for(&self, client: IpAddr) -> IpAddr {
        match (client, self.v6) {
            (IpAddr::V6(_), Some(v6)) => IpAddr::V6(v6),
            _ => IpAddr::V4(self.v4),
        }
    }
}

const fn v6(last: u16) -> Option<Ipv6Addr> {
    Some(Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, last))
}

/// The mail server software a provider runs (decides every server line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Software {
    /// Postfix and Dovecot.
    Postfix,
    /// Exim and Courier.
    Exim,
    /// Microsoft Exchange.
    Exchange,
}

/// A mail provider outside the company.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provider {
    /// The mail domain of its users.
    pub domain: &'static str,
    /// Its SMTP submission server.
    pub smtp: Server,
    /// Its IMAP server.
    pub imap: Server,
    /// Its POP3 server.
    pub pop3: Server,
    /// What it runs.
    pub software: Software,
}

/// The external mail providers workstations reach.
pub const PROVIDERS: [Provider; 3] = [
    Provider {
        domain: "mailhost.test",
        smtp: Server { name: "smtp.mailhost.test", v4: Ipv4Addr::new(203, 0, 113, 25), v6: v6(0x25) },
        imap: Server { name: "imap.mailhost.test", v4: Ipv4Addr::new(203, 0, 113, 143), v6: v6(0x143) },
        pop3: Server { name: "pop.mailhost.test", v4: Ipv4Addr::new(203, 0, 113, 110), v6: v6(0x110) },
        software: Software::Postfix,
    },
    Provider {
        domain: "freemail.example",
        smtp: Server { name: "smtp.freemail.example", v4: Ipv4Addr::new(203, 0, 113, 26), v6: None },
        imap: Server { name: "imap.freemail.example", v4: Ipv4Addr::new(203, 0, 113, 144), v6: None },
        pop3: Server { name: "pop3.freemail.example", v4: Ipv4Addr::new(203, 0, 113, 111), v6: None },
        software: Software::Exim,
    },
    Provider {
        domain: "office-mail.example",
        smtp: Server { name: "smtp.office-mail.example", v4: Ipv4Addr::new(203, 0, 113, 27), v6: v6(0x27) },
        imap: Server { name: "outlook.office-mail.example", v4: Ipv4Addr::new(203, 0, 113, 145), v6: v6(0x145) },
        pop3: Server { name: "outlook.office-mail.example", v4: Ipv4Addr::new(203, 0, 113, 112), v6: v6(0x112) },
        software: Software::Exchange,
    },
];

/// The corporate MX.
pub const CORP_MX: Server = Server { name: demo::ALLOW_SNI, v4: demo::CORP_MX, v6: None };

/// The mailbox the C2-like POP3 poller reads.
pub const C2_POP3: Server = Server { name: "pop.dropbox-mail.example", v4: Ipv4Addr::new(203, 0, 113, 200), v6: None };
/// The mailbox the C2-like IMAP poller reads.
pub const C2_IMAP: Server = Server { name: "imap.dropbox-mail.example", v4: Ipv4Addr::new(203, 0, 113, 201), v6: None };
/// The server the C2-like beacon sends through.
pub const C2_SMTP: Server = Server { name: "smtp.dropbox-mail.example", v4: Ipv4Addr::new(203, 0, 113, 202), v6: None };
/// An SMTP server listening on a port no mail protocol uses (8025).
pub const ODD_PORT_SMTP: Server =
    Server { name: "relay.bulk-sender.example", v4: Ipv4Addr::new(203, 0, 113, 203), v6: None };
/// An SSH server (and the far end of tunnels on mail ports).
pub const SSH: Server = Server { name: "bastion.example.net", v4: Ipv4Addr::new(203, 0, 113, 22), v6: v6(0x22) };

/// Web server names; server `k` is 203.0.113.(100+k) and 2001:db8:2::(100+k hex).
pub const WEB_NAMES: [&str; 24] = [
    "www.example.com",
    "cdn.example.net",
    "api.example.org",
    "static.example.com",
    "login.example.net",
    "video.example.org",
    "news.example.com",
    "files.example.net",
    "maps.example.org",
    "shop.example.com",
    "img.example.net",
    "docs.example.org",
    "chat.example.com",
    "update.example.net",
    "telemetry.example.org",
    "fonts.example.com",
    "ads.example.net",
    "search.example.org",
    "wiki.example.com",
    "git.example.net",
    "pkg.example.org",
    "status.example.com",
    "auth.example.net",
    "media.example.org",
];

/// Web server `k` (mod the number of names).
pub fn web_server(k: usize) -> Server {
    let k = k % WEB_NAMES.len();
    Server { name: WEB_NAMES[k], v4: Ipv4Addr::new(203, 0, 113, 100 + k as u8), v6: v6(0x100 + k as u16) }
}

/// Hands out client ports per host like Linux does: from a random point of
/// the ephemeral range, a few ports further each time.
#[derive(Debug, Default)]
pub struct PortAllocator {
    next: HashMap<IpAddr, u16>,
}

/// Linux's default ephemeral port range.
const EPHEMERAL: std::ops::RangeInclusive<u16> = 32_768..=60_999;

impl PortAllocator {
    /// The next client port of `ip`.
    pub fn allocate(&mut self, ip: IpAddr, rng: &mut ChaCha8Rng) -> u16 {
        let step = rng.random_range(1..=7u16);
        let start = rng.random_range(EPHEMERAL);
        let port = self.next.entry(ip).or_insert(start);
        let current = *port;
        let advanced = u32::from(current) + u32::from(step);
        *port = if advanced > u32::from(*EPHEMERAL.end()) {
            *EPHEMERAL.start() + (advanced - u32::from(*EPHEMERAL.end()) - 1) as u16
        } else {
            advanced as u16
        };
        current
    }
}
