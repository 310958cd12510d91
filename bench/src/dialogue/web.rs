//! Background traffic that is not mail: HTTPS (rustls ClientHello, then
//! encrypted request/response rounds), HTTP/1.1 GETs, SSH, DNS over UDP,
//! and the minimal sessions of 64-byte frames.

use std::net::{IpAddr, SocketAddr};

use rand::rngs::ChaCha8Rng;
use rand::RngExt;

use super::{non_mail_facts, pick, Conv};
use crate::frame::{udp_frame, Frame, IpFields, Link};
use crate::hello::{HelloError, HelloSpec};
use crate::synth::{Dir, TcpSession};
use crate::truth::Facts;

/// A response body size, IMIX-like in frames: 7 in 12 fit one segment of
/// a few hundred bytes, 4 in 12 take a few segments, 1 in 12 is a download.
pub fn body_len(rng: &mut ChaCha8Rng) -> usize {
    match rng.random_range(0..12) {
        0..=6 => rng.random_range(60..900),
        7..=10 => rng.random_range(900..6_000),
        _ => rng.random_range(6_000..48_000),
    }
}

/// HTTPS: the ClientHello `hello`, then 1–4 request/response rounds with
/// think time between them, close_notify, FIN from the client.
pub fn https(conv: &mut Conv<'_>, hello: &HelloSpec<'_>) -> Result<Facts, HelloError> {
    let mut facts = non_mail_facts();
    facts.tls = Some(conv.tls_handshake(hello, true)?);
    let rounds = conv.rng.random_range(1..=4);
    for round in 0..rounds {
        if round > 0 {
            conv.idle_ms(200, 8_000);
        }
        let request = conv.rng.random_range(120..700);
        conv.tls_client(request);
        let response = body_len(conv.rng) + conv.rng.random_range(150..400);
        conv.tls_server(response);
    }
    conv.tls_close_by_client();
    Ok(facts)
}

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "curl/7.88.1",
    "Debian APT-HTTP/1.3 (2.6.1)",
];

const PATHS: &[&str] = &[
    "/",
    "/index.html",
    "/static/app.js",
    "/static/style.css",
    "/downloads/agent-update.bin",
    "/api/v1/status",
    "/debian/dists/bookworm/InRelease",
];

/// HTTP/1.1: 1–3 keep-alive GETs to `host` and their responses.
pub fn http(conv: &mut Conv<'_>, host: &str) -> Facts {
    let agent = *pick(conv.rng, USER_AGENTS);
    let rounds = conv.rng.random_range(1..=3);
    for round in 0..rounds {
        if round > 0 {
            conv.idle_ms(100, 3_000);
        }
        let path = *pick(conv.rng, PATHS);
        conv.client(&format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {agent}\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n"
        ));
        let len = body_len(conv.rng);
        let (kind, text) = if path.ends_with(".bin") {
            ("application/octet-stream", false)
        } else {
            ("text/html; charset=utf-8", true)
        };
        let mut response = format!(
            "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: {kind}\r\nContent-Length: {len}\r\nConnection: keep-alive\r\nCache-Control: max-age=3600\r\n\r\n"
        )
        .into_bytes();
        let mut body = vec![0u8; len];
        if text {
            body.iter_mut().for_each(|b| *b = b"abcdefghij <p>\n"[conv.rng.random_range(0..15)]);
        } else {
            rand::Rng::fill_bytes(conv.rng, &mut body);
        }
        response.extend(body);
        let processing = conv.rng.random_range(300..5_000);
        conv.server_after(processing, &response);
    }
    conv.close_by_client();
    non_mail_facts()
}

/// SSH: both banners, the key exchange in clear (KEXINIT both ways,
/// curve25519 ECDH, NEWKEYS), then encrypted packets. Used on port 22 and
/// as a tunnel on mail ports.
pub fn ssh(conv: &mut Conv<'_>) -> Facts {
    conv.server("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
    conv.client("SSH-2.0-OpenSSH_9.6\r\n");
    let kexinit = |conv: &mut Conv<'_>| {
        let mut payload = vec![20u8]; // SSH_MSG_KEXINIT
        payload.extend(random_bytes(conv.rng, 16));
        for list in [
            "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,diffie-hellman-group14-sha256",
            "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256",
            "chacha20-poly1305@openssh.com,aes128-ctr,aes256-gcm@openssh.com",
            "chacha20-poly1305@openssh.com,aes128-ctr,aes256-gcm@openssh.com",
            "umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-256",
            "umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-256",
            "none,zlib@openssh.com",
            "none,zlib@openssh.com",
            "",
            "",
        ] {
            put_string(&mut payload, list.as_bytes());
        }
        payload.push(0); // first_kex_packet_follows
        payload.extend_from_slice(&0u32.to_be_bytes());
        ssh_packet(&payload, conv.rng)
    };
    let client_kexinit = kexinit(conv);
    conv.client_after(300, &client_kexinit);
    let server_kexinit = kexinit(conv);
    conv.server_after(800, &server_kexinit);

    let mut init = vec![30u8]; // SSH_MSG_KEX_ECDH_INIT
    put_string(&mut init, &random_bytes(conv.rng, 32));
    let init = ssh_packet(&init, conv.rng);
    conv.client_after(400, &init);

    let mut host_key = Vec::new();
    put_string(&mut host_key, b"ssh-ed25519");
    put_string(&mut host_key, &random_bytes(conv.rng, 32));
    let mut signature = Vec::new();
    put_string(&mut signature, b"ssh-ed25519");
    put_string(&mut signature, &random_bytes(conv.rng, 64));
    let mut reply = vec![31u8]; // SSH_MSG_KEX_ECDH_REPLY
    put_string(&mut reply, &host_key);
    put_string(&mut reply, &random_bytes(conv.rng, 32));
    put_string(&mut reply, &signature);
    let mut flight = ssh_packet(&reply, conv.rng);
    flight.extend(ssh_packet(&[21], conv.rng)); // SSH_MSG_NEWKEYS
    conv.server_after(1_500, &flight);
    let newkeys = ssh_packet(&[21], conv.rng);
    conv.client_after(300, &newkeys);

    // chacha20-poly1305: encrypted length, encrypted packet, 16-byte tag.
    let packets = conv.rng.random_range(4..20);
    for _ in 0..packets {
        let len = conv.rng.random_range(2..40) * 8 + 4 + 16;
        let bytes = random_bytes(conv.rng, len);
        let think = conv.rng.random_range(300..20_000);
        conv.client_after(think, &bytes);
        let len = conv.rng.random_range(2..150) * 8 + 4 + 16;
        let bytes = random_bytes(conv.rng, len);
        let processing = conv.rng.random_range(200..3_000);
        conv.server_after(processing, &bytes);
    }
    conv.close_by_client();
    non_mail_facts()
}

/// An SSH binary packet (RFC 4253 §6) of `payload`, padded to 8 bytes.
fn ssh_packet(payload: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut padding = 8 - (payload.len() + 5) % 8;
    if padding < 4 {
        padding += 8;
    }
    let mut packet = ((payload.len() + padding + 1) as u32).to_be_bytes().to_vec();
    packet.push(padding as u8);
    packet.extend_from_slice(payload);
    packet.extend(random_bytes(rng, padding));
    packet
}

/// An SSH `string`: a 32-bit length and the bytes.
fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn random_bytes(rng: &mut ChaCha8Rng, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rand::Rng::fill_bytes(rng, &mut bytes);
    bytes
}

/// A DNS lookup over UDP that precedes a connection.
#[derive(Debug, Clone, Copy)]
pub struct DnsLookup<'a> {
    /// The client's link (client to gateway).
    pub link: Link,
    /// The client's address and source port.
    pub client: SocketAddr,
    /// The resolver's address and port 53.
    pub resolver: SocketAddr,
    /// The name looked up.
    pub name: &'a str,
    /// The address the resolver answers with (A or AAAA by its family).
    pub answer: IpAddr,
    /// Time of the query.
    pub start_us: u64,
    /// Time until the answer.
    pub rtt_us: u64,
}

impl DnsLookup<'_> {
    /// The query and the answer as two UDP frames.
    pub fn frames(&self, rng: &mut ChaCha8Rng) -> Vec<Frame> {
        let id: u16 = rng.random();
        let qtype: u16 = if self.answer.is_ipv4() { 1 } else { 28 };
        let mut question = Vec::new();
        for label in self.name.split('.') {
            question.push(label.len() as u8);
            question.extend_from_slice(label.as_bytes());
        }
        question.push(0);
        question.extend_from_slice(&qtype.to_be_bytes());
        question.extend_from_slice(&1u16.to_be_bytes());

        let header = |flags: u16, answers: u16| {
            let mut h = Vec::with_capacity(12);
            for field in [id, flags, 1, answers, 0, 0] {
                h.extend_from_slice(&field.to_be_bytes());
            }
            h
        };
        let mut query = header(0x0100, 0);
        query.extend_from_slice(&question);
        let mut response = header(0x8180, 1);
        response.extend_from_slice(&question);
        response.extend_from_slice(&0xc00cu16.to_be_bytes()); // name: pointer to the question
        response.extend_from_slice(&qtype.to_be_bytes());
        response.extend_from_slice(&1u16.to_be_bytes());
        response.extend_from_slice(&300u32.to_be_bytes());
        let rdata = match self.answer {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        response.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        response.extend(rdata);

        let mut frames = Vec::new();
        let query_ip = IpFields { hop_limit: 64, ident: rng.random() };
        if let Some(data) = udp_frame(&self.link, self.client, self.resolver, query_ip, &query) {
            frames.push(Frame { ts_us: self.start_us, data });
        }
        let answer_ip = IpFields { hop_limit: 64, ident: rng.random() };
        if let Some(data) = udp_frame(&self.link.reversed(), self.resolver, self.client, answer_ip, &response) {
            frames.push(Frame { ts_us: self.start_us + self.rtt_us, data });
        }
        frames
    }
}

/// One of the minimal sessions of [`crate::mix::Mix::Nonmail64`]: SYN with
/// only an MSS, 1–4 rounds of 6-byte requests and answers, FIN both ways;
/// every frame is 60 bytes (64 on the wire with the FCS).
pub fn tiny(session: &mut TcpSession, rng: &mut ChaCha8Rng) -> Facts {
    session.handshake();
    let rounds = rng.random_range(1..=4);
    let mut payload = [0u8; 6];
    for _ in 0..rounds {
        rand::Rng::fill_bytes(rng, &mut payload);
        session.pause(rng.random_range(5..200));
        session.send(Dir::ToServer, &payload);
        rand::Rng::fill_bytes(rng, &mut payload);
        session.pause(rng.random_range(5..200));
        session.send(Dir::ToClient, &payload);
    }
    session.pause(rng.random_range(5..200));
    session.close(Dir::ToServer);
    non_mail_facts()
}
