//! Traffic profiles: who talks to whom, on which port, saying what. Each
//! [`Profile`] turns a seed into one TCP flow's frames (preceded, for some,
//! by the DNS lookup of the server) and the facts of its ground truth.

use std::net::{IpAddr, SocketAddr};

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use crate::dialogue::mailbox::{self, MailboxLogin, MailboxScript, TagStyle};
use crate::dialogue::smtp::{self, SmtpAuth, SmtpScript, SmtpServer};
use crate::dialogue::web::{self, DnsLookup};
use crate::dialogue::{non_mail_facts, password, pick, token, Conv};
use crate::frame::{Frame, Link};
use crate::hello::{HelloError, HelloMaker, HelloSpec};
use crate::hosts::{self, Host, PortAllocator, Provider, Server, Software, Special};
use crate::synth::{SessionSpec, SynthError, TcpOptions, TcpSession};
use crate::truth::{demo, Facts};

/// A kind of flow. The name (`as_str`) is the truth file's `profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// The approved relay hands mail to the corporate MX: EHLO
    /// relay.corp.test, STARTTLS, ClientHello with SNI mx.corp.test (port 25, 10 % 587).
    Relay,
    /// The relay host with a HELO name the allow rule does not admit (`localhost`, …).
    RelayBadHelo,
    /// A workstation submits mail to an outside provider on 587 or 25 with
    /// cleartext AUTH PLAIN or LOGIN.
    WorkstationSmtp,
    /// A workstation submits on 587 with STARTTLS (SNI in 80 %).
    SubmissionStarttls,
    /// IMAP on 143 with cleartext LOGIN (or AUTHENTICATE PLAIN) from a workstation.
    ImapLogin,
    /// POP3 on 110 with USER/PASS (or AUTH PLAIN) from a workstation.
    Pop3User,
    /// IMAP on 143 with STARTTLS.
    ImapStarttls,
    /// POP3 on 110 with STLS.
    Pop3Stls,
    /// SMTP over implicit TLS on 465.
    Smtps,
    /// IMAP over implicit TLS on 993 (ALPN `imap` in 30 %).
    Imaps,
    /// POP3 over implicit TLS on 995 (ALPN `pop3` in 30 %).
    Pop3s,
    /// One host polls a POP3 mailbox (USER/PASS, STAT, RETR, DELE) on a fixed schedule with jitter.
    C2Pop3Poll,
    /// One host polls an IMAP mailbox (LOGIN, SELECT, SEARCH, FETCH) on a fixed schedule with jitter.
    C2ImapPoll,
    /// One host sends small SMTP messages (AUTH LOGIN on 587) on a fixed schedule with jitter.
    C2SmtpBeacon,
    /// A build server (not a mail host) sends mail through port 2525.
    SmtpPort2525,
    /// SMTP (HELO, no AUTH) on port 8025, which no mail protocol uses.
    SmtpNonstandardPort,
    /// HTTPS on 443: rustls ClientHello with SNI and ALPN h2/http1.1, then encrypted rounds.
    Https,
    /// HTTP/1.1 on 80.
    Http,
    /// SSH on 22.
    Ssh,
    /// SSH to a mail port (25, 587, 110 or 143): a tunnel, not mail.
    NonMailOnMailPort,
    /// A minimal session of 60-byte frames (handshake, 6-byte data, close).
    Tiny,
    /// The relay's EHLO / QUIT.
    StormRelay,
    /// A workstation's EHLO / QUIT to an outside server.
    StormSmtp,
    /// An IMAP greeting, CAPABILITY, LOGOUT.
    StormImap,
    /// A POP3 greeting, CAPA, QUIT.
    StormPop3,
}

impl Profile {
    /// The name the truth file uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Relay => "relay",
            Profile::RelayBadHelo => "relay_bad_helo",
            Profile::WorkstationSmtp => "workstation_smtp",
            Profile::SubmissionStarttls => "submission_starttls",
            Profile::ImapLogin => "imap_login",
            Profile::Pop3User => "pop3_user",
            Profile::ImapStarttls => "imap_starttls",
            Profile::Pop3Stls => "pop3_stls",
            Profile::Smtps => "smtps",
            Profile::Imaps => "imaps",
            Profile::Pop3s => "pop3s",
            Profile::C2Pop3Poll => "c2_pop3_poll",
            Profile::C2ImapPoll => "c2_imap_poll",
            Profile::C2SmtpBeacon => "c2_smtp_beacon",
            Profile::SmtpPort2525 => "smtp_port_2525",
            Profile::SmtpNonstandardPort => "smtp_nonstandard_port",
            Profile::Https => "https",
            Profile::Http => "http",
            Profile::Ssh => "ssh",
            Profile::NonMailOnMailPort => "nonmail_on_mail_port",
            Profile::Tiny => "tiny",
            Profile::StormRelay => "storm_relay",
            Profile::StormSmtp => "storm_smtp",
            Profile::StormImap => "storm_imap",
            Profile::StormPop3 => "storm_pop3",
        }
    }

    /// Flows of this profile speak a mail protocol.
    pub fn is_mail(self) -> bool {
        !matches!(self, Profile::Https | Profile::Http | Profile::Ssh | Profile::NonMailOnMailPort | Profile::Tiny)
    }

    /// Flows of this profile come from one host on a fixed schedule rather than at random times.
    pub fn scheduled(self) -> bool {
        matches!(self, Profile::C2Pop3Poll | Profile::C2ImapPoll | Profile::C2SmtpBeacon)
    }
}

/// What [`synthesize`] needs besides the profile.
pub struct FlowInput<'a> {
    /// Earliest time of the flow's first frame (µs since the Unix epoch).
    pub start_us: u64,
    /// The flow's seed: all its random choices derive from it.
    pub seed: u64,
    /// Makes ClientHellos.
    pub hello: &'a HelloMaker,
    /// Client ports in use so far.
    pub ports: &'a mut PortAllocator,
}

/// A synthesised flow.
#[derive(Debug)]
pub struct FlowOutput {
    /// All frames (DNS lookup first, if any), in time order.
    pub frames: Vec<Frame>,
    /// The client end.
    pub client: SocketAddr,
    /// The server end.
    pub server: SocketAddr,
    /// The VLAN of its frames.
    pub vlan: Option<u16>,
    /// Time of the SYN.
    pub syn_us: u64,
    /// What its bytes say.
    pub facts: Facts,
}

/// Why a flow could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// rustls could not make the ClientHello.
    #[error(transparent)]
    Hello(#[from] HelloError),
    /// The session's script was invalid.
    #[error(transparent)]
    Synth(#[from] SynthError),
}

/// Share of workstation flows that use IPv6 (where the server has an address).
const V6_SHARE: f64 = 0.2;

/// The flow of `profile` for `input`.
pub fn synthesize(profile: Profile, input: FlowInput<'_>) -> Result<FlowOutput, FlowError> {
    let mut rng = ChaCha8Rng::seed_from_u64(input.seed);
    let plan = plan(profile, &mut rng);
    let client_port = input.ports.allocate(plan.client.ip, &mut rng);
    let server_ip = plan.server.addr_for(plan.client.ip);
    let client = SocketAddr::new(plan.client.ip, client_port);
    let server = SocketAddr::new(server_ip, plan.port);

    let mut frames = Vec::new();
    let mut syn_us = input.start_us;
    if plan.dns {
        let dns_port = input.ports.allocate(plan.client.ip, &mut rng);
        let lookup = DnsLookup {
            link: Link { src_mac: plan.client.mac, dst_mac: hosts::GATEWAY_MAC, vlan: plan.client.vlan },
            client: SocketAddr::new(plan.client.ip, dns_port),
            resolver: SocketAddr::new(hosts::resolver(plan.client.ip), 53),
            name: plan.server.name,
            answer: server_ip,
            start_us: input.start_us,
            rtt_us: rng.random_range(300..25_000),
        };
        frames = lookup.frames(&mut rng);
        syn_us = input.start_us + lookup.rtt_us + rng.random_range(50..400);
    }

    let spec = session_spec(&mut rng, profile, &plan, client, server);
    let mut conv = Conv { session: TcpSession::new(spec, syn_us)?, rng: &mut rng, hello: input.hello };
    let facts = if profile == Profile::Tiny {
        web::tiny(&mut conv.session, conv.rng)
    } else {
        conv.session.handshake();
        dialogue(profile, &plan, &mut conv)?
    };
    frames.extend(conv.session.into_frames());
    Ok(FlowOutput { frames, client, server, vlan: plan.client.vlan, syn_us, facts })
}

/// The endpoints of a flow, chosen before any byte is written.
struct Plan {
    client: Host,
    server: Server,
    port: u16,
    provider: Provider,
    dns: bool,
}

fn plan(profile: Profile, rng: &mut ChaCha8Rng) -> Plan {
    let provider = *pick(rng, &hosts::PROVIDERS);
    let workstation = hosts::random_workstation(rng, V6_SHARE);
    let web = hosts::web_server(rng.random_range(0..hosts::WEB_NAMES.len()));
    let relay = hosts::special(Special::Relay);
    let (client, server, port) = match profile {
        Profile::Relay | Profile::RelayBadHelo => {
            let port = if rng.random_bool(0.9) { 25 } else { 587 };
            (relay, hosts::CORP_MX, port)
        }
        Profile::StormRelay => (relay, hosts::CORP_MX, 25),
        Profile::WorkstationSmtp => {
            let port = if rng.random_bool(0.7) { 587 } else { 25 };
            (workstation, provider.smtp, port)
        }
        Profile::StormSmtp => {
            let port = if rng.random_bool(0.5) { 587 } else { 25 };
            (workstation, provider.smtp, port)
        }
        Profile::SubmissionStarttls => (workstation, provider.smtp, 587),
        Profile::ImapLogin | Profile::ImapStarttls | Profile::StormImap => (workstation, provider.imap, 143),
        Profile::Pop3User | Profile::Pop3Stls | Profile::StormPop3 => (workstation, provider.pop3, 110),
        Profile::Smtps => (workstation, provider.smtp, 465),
        Profile::Imaps => (workstation, provider.imap, 993),
        Profile::Pop3s => (workstation, provider.pop3, 995),
        Profile::C2Pop3Poll => (hosts::special(Special::C2Pop3), hosts::C2_POP3, 110),
        Profile::C2ImapPoll => (hosts::special(Special::C2Imap), hosts::C2_IMAP, 143),
        Profile::C2SmtpBeacon => (hosts::special(Special::C2Smtp), hosts::C2_SMTP, 587),
        Profile::SmtpPort2525 => (hosts::special(Special::BuildServer), provider.smtp, 2525),
        Profile::SmtpNonstandardPort => (workstation, hosts::ODD_PORT_SMTP, 8025),
        Profile::Https => (workstation, web, 443),
        Profile::Http => (workstation, web, 80),
        Profile::Ssh => (workstation, hosts::SSH, 22),
        Profile::NonMailOnMailPort => (workstation, hosts::SSH, *pick(rng, &[25, 587, 110, 143])),
        Profile::Tiny => {
            // Any address of the client /24, IPv4 only: 64-byte frames leave no room for IPv6.
            let host = hosts::lan_host(rng.random_range(20..=250));
            (host, web, *pick(rng, &[443, 80, 8080, 8443, 22, 3389, 5222]))
        }
    };
    // A dual-stack workstation reaches an IPv4-only server over IPv4.
    let client =
        if client.ip.is_ipv6() && server.v6.is_none() { hosts::workstation(client.index, false) } else { client };
    let dns = matches!(profile, Profile::Https | Profile::Http) && rng.random_bool(0.5);
    Plan { client, server, port, provider, dns }
}

/// Stack behaviour of the two ends: random ISNs, clocks and IP ids; TTLs of
/// the client's OS and of a server some hops away; delays of a LAN client
/// and an Internet server (a LAN server for 64-byte traffic).
fn session_spec(
    rng: &mut ChaCha8Rng,
    profile: Profile,
    plan: &Plan,
    client: SocketAddr,
    server: SocketAddr,
) -> SessionSpec {
    let mut spec = SessionSpec::new(client, server);
    spec.vlan = plan.client.vlan;
    spec.client.mac = plan.client.mac;
    spec.server.mac = hosts::GATEWAY_MAC;
    for ep in [&mut spec.client, &mut spec.server] {
        ep.isn = rng.random();
        ep.ts_base = rng.random();
        ep.ip_id = rng.random();
    }
    spec.client.ttl = if plan.client.windows { 128 } else { 64 };
    spec.server.ttl = *pick(rng, &[50, 53, 57, 58, 116, 119, 243]);
    spec.client.delay_us = rng.random_range(80..600);
    spec.server.delay_us = rng.random_range(8_000..90_000);
    spec.server.window = *pick(rng, &[65_160, 64_240, 65_535, 28_960]);
    if plan.client.windows {
        spec.client.options.window_scale = Some(8);
    }
    if rng.random_bool(0.2) {
        spec.server.options.mss = if client.is_ipv4() { 1380 } else { 1360 };
    }
    if profile == Profile::Tiny {
        spec.client.options = TcpOptions::minimal(1460);
        spec.server.options = TcpOptions::minimal(1460);
        spec.client.delay_us = rng.random_range(20..200);
        spec.server.delay_us = rng.random_range(100..2_000);
    }
    spec
}

/// The client's HELO name: Windows host names, FQDNs, address literals.
fn workstation_helo(rng: &mut ChaCha8Rng, host: &Host) -> String {
    if host.windows && rng.random_bool(0.7) {
        return format!("DESKTOP-{}", token(rng, 7).to_ascii_uppercase());
    }
    match rng.random_range(0..3) {
        0 => match host.ip {
            IpAddr::V4(ip) => format!("[{ip}]"),
            IpAddr::V6(ip) => format!("[IPv6:{ip}]"),
        },
        1 => format!("ws-{:03}.office.test", host.index),
        _ => format!("laptop-{:03}.local", host.index),
    }
}

const FIRST_NAMES: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar", "peggy",
    "trent", "victor", "walter",
];

/// The mailbox user of a workstation: stable per machine.
fn user_of(host: &Host) -> String {
    let first = FIRST_NAMES[host.index as usize % FIRST_NAMES.len()];
    format!("{first}.{}{}", char::from(b'a' + (host.index % 26) as u8), host.index / 26)
}

fn date(rng: &mut ChaCha8Rng, at_us: u64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp((at_us / 1_000_000) as i64 + rng.random_range(0..3))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    at.format(&time::format_description::well_known::Rfc2822).unwrap_or_default()
}

/// A ClientHello for `server` by name (or, without SNI, by address).
fn hello<'a>(rng: &mut ChaCha8Rng, name: &'a str, ip: IpAddr, sni_share: f64, alpn: &'a [&'a str]) -> HelloSpec<'a> {
    HelloSpec {
        server_name: rng.random_bool(sni_share).then_some(name),
        server_ip: ip,
        alpn,
        post_quantum: rng.random_bool(0.5),
    }
}

fn smtp_server(provider: &Provider, name: &'static str, auth: &'static [&'static str]) -> SmtpServer<'static> {
    SmtpServer { name, software: provider.software, starttls: true, auth }
}

fn auth_mechs(software: Software) -> &'static [&'static str] {
    match software {
        Software::Postfix => &["PLAIN", "LOGIN"],
        Software::Exim => &["PLAIN", "LOGIN", "CRAM-MD5"],
        Software::Exchange => &["LOGIN", "XOAUTH2"],
    }
}

fn dialogue(profile: Profile, plan: &Plan, conv: &mut Conv<'_>) -> Result<Facts, HelloError> {
    let start = conv.session.now_us();
    let server_ip = conv.session.spec().server.addr.ip();
    let client_ip = plan.client.ip.to_string();
    let provider = plan.provider;
    let software = provider.software;
    let user = user_of(&plan.client);
    let smtp_base = |conv: &mut Conv<'_>, server: SmtpServer<'static>, helo: String| SmtpScript {
        server,
        verb: "EHLO",
        helo,
        client_ip: client_ip.clone(),
        auth: SmtpAuth::None,
        user: format!("{user}@{}", provider.domain),
        password: password(conv.rng),
        starttls: None,
        messages: 0,
        from: format!("{user}@{}", provider.domain),
        to: vec![format!("{}@partner.example", pick(conv.rng, FIRST_NAMES))],
        message_len: conv.rng.random_range(400..6_000),
        subject: "Re: weekly sync".into(),
        date: date(conv.rng, start),
    };
    let mailbox_base = |conv: &mut Conv<'_>, software: Software| MailboxScript {
        software,
        capabilities_first: conv.rng.random_bool(0.6),
        starttls: None,
        login: Some(if conv.rng.random_bool(0.75) {
            MailboxLogin::Plaintext { quoted: conv.rng.random_bool(0.3) }
        } else {
            MailboxLogin::SaslPlain
        }),
        user: user.clone(),
        password: password(conv.rng),
        waiting: conv.rng.random_range(0..4),
        fetch: true,
        message_len: conv.rng.random_range(600..8_000),
    };
    let tags = *pick(conv.rng, &[TagStyle::Numbers, TagStyle::Padded, TagStyle::Prefixed]);

    match profile {
        Profile::Relay | Profile::RelayBadHelo | Profile::StormRelay => {
            let mx = SmtpServer { name: hosts::CORP_MX.name, software: Software::Postfix, starttls: true, auth: &[] };
            let helo = match profile {
                Profile::RelayBadHelo => pick(conv.rng, &["localhost", "relay", "mta01.corp.example"]).to_string(),
                _ => "relay.corp.test".to_string(),
            };
            let mut script = smtp_base(conv, mx, helo);
            script.from = format!("{}@corp.test", pick(conv.rng, FIRST_NAMES));
            script.to = vec![format!("{}@corp.test", pick(conv.rng, FIRST_NAMES))];
            if profile != Profile::StormRelay {
                script.messages = conv.rng.random_range(1..=3);
                script.message_len = conv.rng.random_range(1_000..30_000);
                script.starttls = Some(HelloSpec {
                    server_name: Some(demo::ALLOW_SNI),
                    server_ip,
                    alpn: &[],
                    post_quantum: conv.rng.random_bool(0.5),
                });
            }
            smtp::run(conv, &script)
        }
        Profile::WorkstationSmtp | Profile::C2SmtpBeacon | Profile::SmtpPort2525 => {
            let server = match profile {
                Profile::C2SmtpBeacon => hosts::C2_SMTP,
                _ => provider.smtp,
            };
            let helo = match profile {
                Profile::C2SmtpBeacon => format!("WIN-{}", token(conv.rng, 11).to_ascii_uppercase()),
                Profile::SmtpPort2525 => "ci-runner-03.build.test".to_string(),
                _ => workstation_helo(conv.rng, &plan.client),
            };
            let mut script = smtp_base(conv, smtp_server(&provider, server.name, auth_mechs(software)), helo);
            script.auth = match conv.rng.random_range(0..3) {
                0 => SmtpAuth::Plain { initial: true },
                1 => SmtpAuth::Plain { initial: false },
                _ => SmtpAuth::Login,
            };
            if !script.server.auth.contains(&"PLAIN") {
                script.auth = SmtpAuth::Login;
            }
            script.messages = 1;
            match profile {
                Profile::C2SmtpBeacon => {
                    script.auth = SmtpAuth::Login;
                    script.user = "svc-telemetry@dropbox-mail.example".into();
                    script.password = "Pw-secret-beacon-7731".into();
                    script.from = script.user.clone();
                    script.to = vec!["inbox-4471@dropbox-mail.example".into()];
                    script.message_len = conv.rng.random_range(300..900);
                    script.subject = format!("report {}", token(conv.rng, 8));
                }
                Profile::SmtpPort2525 => {
                    script.user = "ci-notify@build.test".into();
                    script.from = script.user.clone();
                    script.subject = "Build #4711 passed".into();
                }
                _ => script.messages = conv.rng.random_range(1..=2),
            }
            smtp::run(conv, &script)
        }
        Profile::SmtpNonstandardPort => {
            let server =
                SmtpServer { name: hosts::ODD_PORT_SMTP.name, software: Software::Postfix, starttls: false, auth: &[] };
            let helo = workstation_helo(conv.rng, &plan.client);
            let mut script = smtp_base(conv, server, helo);
            script.verb = "HELO";
            script.messages = 1;
            script.subject = "Invoice overdue".into();
            smtp::run(conv, &script)
        }
        Profile::StormSmtp => {
            let helo = workstation_helo(conv.rng, &plan.client);
            let script = smtp_base(conv, smtp_server(&provider, provider.smtp.name, auth_mechs(software)), helo);
            smtp::run(conv, &script)
        }
        Profile::SubmissionStarttls => {
            let helo = workstation_helo(conv.rng, &plan.client);
            // Many submission servers offer AUTH only after STARTTLS.
            let auth: &'static [&'static str] = if conv.rng.random_bool(0.5) { &[] } else { auth_mechs(software) };
            let mut script = smtp_base(conv, smtp_server(&provider, provider.smtp.name, auth), helo);
            script.auth = SmtpAuth::Login;
            script.messages = conv.rng.random_range(1..=2);
            script.starttls = Some(hello(conv.rng, provider.smtp.name, server_ip, 0.8, &[]));
            smtp::run(conv, &script)
        }
        Profile::ImapLogin | Profile::ImapStarttls | Profile::StormImap => {
            let mut script = mailbox_base(conv, software);
            match profile {
                Profile::ImapStarttls => {
                    script.starttls = Some(hello(conv.rng, provider.imap.name, server_ip, 0.8, &[]));
                }
                Profile::StormImap => {
                    script.capabilities_first = true;
                    script.login = None;
                }
                _ => {}
            }
            mailbox::imap(conv, &script, tags)
        }
        Profile::C2ImapPoll => {
            let mut script = mailbox_base(conv, Software::Postfix);
            script.user = "drop-4471".into();
            script.password = "Pw-secret-poll-imap-19".into();
            script.login = Some(MailboxLogin::Plaintext { quoted: false });
            script.capabilities_first = false;
            script.waiting = u32::from(conv.rng.random_bool(0.3));
            script.message_len = conv.rng.random_range(300..2_000);
            mailbox::imap(conv, &script, TagStyle::Prefixed)
        }
        Profile::Pop3User | Profile::Pop3Stls | Profile::StormPop3 => {
            let mut script = mailbox_base(conv, software);
            match profile {
                Profile::Pop3Stls => {
                    script.capabilities_first = true;
                    script.starttls = Some(hello(conv.rng, provider.pop3.name, server_ip, 0.8, &[]));
                }
                Profile::StormPop3 => {
                    script.capabilities_first = true;
                    script.login = None;
                }
                _ => {}
            }
            mailbox::pop3(conv, &script)
        }
        Profile::C2Pop3Poll => {
            let mut script = mailbox_base(conv, Software::Postfix);
            script.user = "svc-update".into();
            script.password = "Pw-secret-poll-pop3-42".into();
            script.login = Some(MailboxLogin::Plaintext { quoted: false });
            script.capabilities_first = false;
            script.waiting = u32::from(conv.rng.random_bool(0.3));
            script.message_len = conv.rng.random_range(300..2_000);
            mailbox::pop3(conv, &script)
        }
        Profile::Smtps | Profile::Imaps | Profile::Pop3s => implicit_tls(profile, plan, conv, server_ip),
        Profile::Https => {
            let spec = hello(conv.rng, plan.server.name, server_ip, 1.0, &["h2", "http/1.1"]);
            web::https(conv, &spec)
        }
        Profile::Http => Ok(web::http(conv, plan.server.name)),
        Profile::Ssh | Profile::NonMailOnMailPort => Ok(web::ssh(conv)),
        Profile::Tiny => Ok(non_mail_facts()),
    }
}

/// Implicit TLS on 465 / 993 / 995: the ClientHello first, then the
/// protocol's dialogue as encrypted records.
fn implicit_tls(profile: Profile, plan: &Plan, conv: &mut Conv<'_>, server_ip: IpAddr) -> Result<Facts, HelloError> {
    let (proto, alpn): (_, &'static [&'static str]) = match profile {
        Profile::Smtps => (mailgate_protocol::record::MailProto::Smtp, &[]),
        Profile::Imaps => {
            (mailgate_protocol::record::MailProto::Imap, if conv.rng.random_bool(0.3) { &["imap"] } else { &[] })
        }
        _ => (mailgate_protocol::record::MailProto::Pop3, if conv.rng.random_bool(0.3) { &["pop3"] } else { &[] }),
    };
    let spec = hello(conv.rng, plan.server.name, server_ip, 0.8, alpn);
    let tls = conv.tls_handshake(&spec, true)?;
    // Greeting, capabilities, login, a little mailbox work, goodbye.
    conv.tls_server(60);
    let turns = conv.rng.random_range(3..8);
    for _ in 0..turns {
        let ask = conv.rng.random_range(8..80);
        conv.tls_client(ask);
        let answer = conv.rng.random_range(20..3_000);
        conv.tls_server(answer);
    }
    conv.tls_close_by_client();
    Ok(Facts {
        proto: Some(proto),
        // With ALPN the engine may name either source; without, it is the port.
        proto_source: alpn.is_empty().then_some("port"),
        tls: Some(tls),
        ..Facts::default()
    })
}
