//! Drives the SMTP, IMAP and POP3 sessions and the protocol probes over the
//! real conversations of the shared corpus captures (transcripts extracted
//! with tshark, see `tests/fixtures/mail/README.md`), the way the engine
//! does: each direction's bytes go through a `LineSplitter`, lines reach the
//! session in wire order. Expected values come from the peers' expected
//! files next to each capture (named at each assertion) or, where a peer
//! records nothing, from the transcript itself.

use std::path::Path;

use mailgate_proto::detect::{
    looks_like_server_line, probe_client_after_220, probe_client_line, probe_server_line, MailProtoKind, Probe,
};
use mailgate_proto::imap::{ImapFacts, ImapSession};
use mailgate_proto::line::{LineSplitter, Split};
use mailgate_proto::pop3::{Pop3Facts, Pop3Session};
use mailgate_proto::smtp::{SmtpFacts, SmtpSession};
use mailgate_proto::{Anomalies, Step};

/// Longest line the splitter keeps in these tests (RFC 5321's text line limit).
const MAX_LINE: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
enum Entry {
    /// A protocol line (`C: ` / `S: `), without its CR LF.
    Line { client: bool, bytes: Vec<u8> },
    /// A raw, non-text segment (`C! ` / `S! `): TLS or a binary protocol.
    Raw { client: bool, bytes: Vec<u8> },
}

fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut bytes = text.as_bytes().iter();
    while let Some(&b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex = [*bytes.next().unwrap(), *bytes.next().unwrap()];
                out.push(u8::from_str_radix(std::str::from_utf8(&hex).unwrap(), 16).unwrap());
            }
            other => panic!("bad escape {other:?} in {text}"),
        }
    }
    out
}

fn transcript(name: &str) -> Vec<Entry> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mail").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (tag, rest) = l.split_at(3);
            let bytes = unescape(rest);
            match tag {
                "C: " => Entry::Line { client: true, bytes },
                "S: " => Entry::Line { client: false, bytes },
                "C! " => Entry::Raw { client: true, bytes },
                "S! " => Entry::Raw { client: false, bytes },
                _ => panic!("bad line in {name}: {l}"),
            }
        })
        .collect()
}

/// A parser the driver can feed.
trait Session {
    fn client_line(&mut self, line: &[u8], anomalies: &mut Anomalies) -> Step;
    fn server_line(&mut self, line: &[u8], anomalies: &mut Anomalies) -> Step;
}

macro_rules! session {
    ($t:ty) => {
        impl Session for $t {
            fn client_line(&mut self, line: &[u8], anomalies: &mut Anomalies) -> Step {
                <$t>::client_line(self, line, anomalies)
            }
            fn server_line(&mut self, line: &[u8], anomalies: &mut Anomalies) -> Step {
                <$t>::server_line(self, line, anomalies)
            }
        }
    };
}
session!(SmtpSession);
session!(ImapSession);
session!(Pop3Session);

/// Steps (other than Continue) and anomalies of a transcript, fed up to the
/// first `Done` as the engine would.
struct Run {
    steps: Vec<Step>,
    anomalies: Anomalies,
}

fn run(session: &mut impl Session, name: &str) -> Run {
    let mut splitters = [LineSplitter::new(MAX_LINE), LineSplitter::new(MAX_LINE)];
    let mut buffers = [Vec::new(), Vec::new()];
    let mut steps = Vec::new();
    let mut anomalies = Anomalies::NONE;
    for entry in transcript(name) {
        let Entry::Line { client, bytes } = entry else { break };
        let dir = usize::from(client);
        buffers[dir].extend_from_slice(&bytes);
        buffers[dir].extend_from_slice(b"\r\n");
        loop {
            match splitters[dir].next(&buffers[dir]) {
                Split::Line { line, consumed, bare_lf, truncated } => {
                    if truncated {
                        anomalies.insert(Anomalies::LONG_LINE);
                    }
                    if bare_lf {
                        anomalies.insert(Anomalies::BARE_LF);
                    }
                    let step = if client {
                        session.client_line(line, &mut anomalies)
                    } else {
                        session.server_line(line, &mut anomalies)
                    };
                    buffers[dir].drain(..consumed);
                    if step != Step::Continue {
                        steps.push(step);
                        if step == Step::Done {
                            return Run { steps, anomalies };
                        }
                    }
                }
                Split::Skip { consumed } => {
                    buffers[dir].drain(..consumed);
                }
                Split::NeedMore => break,
            }
        }
    }
    Run { steps, anomalies }
}

fn s<const N: usize>(v: &Option<mailgate_proto::BoundedStr<N>>) -> Option<String> {
    v.as_ref().map(|b| b.to_string())
}

fn list<const I: usize, const L: usize>(l: &mailgate_proto::text::StrList<I, L>) -> Vec<String> {
    l.iter().map(|b| b.to_string()).collect()
}

fn smtp(name: &str) -> (SmtpFacts, Run) {
    let mut session = SmtpSession::new();
    let run = run(&mut session, name);
    (session.facts, run)
}

fn imap(name: &str) -> (ImapFacts, Run) {
    let mut session = ImapSession::new();
    let run = run(&mut session, name);
    (session.facts, run)
}

fn pop3(name: &str) -> (Pop3Facts, Run) {
    let mut session = Pop3Session::new();
    let run = run(&mut session, name);
    (session.facts, run)
}

#[test]
fn smtp_helo_fallback_and_many_recipients() {
    // ndpi-smtp.pcap: nDPI names the host pigeon.eyrie.af.mil from the banner.
    let (f, r) = smtp("ndpi-smtp.txt");
    assert_eq!(
        s(&f.banner).as_deref(),
        Some("pigeon.eyrie.af.mil ESMTP Sendmail 8.8.7/8.8.7; Sat, 7 Aug 1999 08:20:11 -0400")
    );
    // EHLO is refused with 500, the client falls back to HELO.
    assert_eq!(r.steps, [Step::Helo, Step::Helo, Step::MailFrom, Step::Done]);
    assert_eq!(s(&f.helo_verb).as_deref(), Some("HELO"));
    assert_eq!(s(&f.helo).as_deref(), Some("delta.peach.mil"));
    assert_eq!(s(&f.mail_from).as_deref(), Some("coreys@delta.peach.mil"));
    assert_eq!(f.rcpt_to.len(), 8);
    assert_eq!(f.rcpt_to.dropped(), 22);
    assert_eq!(list(&f.rcpt_to)[0], "camronm@pigeon.eyrie.af.mil");
    assert!(f.auth_mechs_offered.is_empty() && !f.starttls_offered);
    assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
}

#[test]
fn smtp_auth_login_exim() {
    // suricata-verify-bug-3616-smtp.pcap; the same session is in zeek-smtp.pcap,
    // whose smtp.log says helo GP, mailfrom gurpartap@patriots.in, rcptto raj_deol2002in@yahoo.co.in.
    let (f, r) = smtp("suricata-verify-bug-3616-smtp.txt");
    assert_eq!(r.steps, [Step::Helo, Step::Auth, Step::Auth, Step::MailFrom, Step::Done]);
    assert_eq!(
        s(&f.banner).as_deref(),
        Some("xc90.websitewelcome.com ESMTP Exim 4.69 #1 Mon, 05 Oct 2009 01:05:54 -0500")
    );
    assert_eq!(s(&f.helo).as_deref(), Some("GP"));
    assert_eq!(list(&f.auth_mechs_offered), ["PLAIN", "LOGIN"]);
    assert!(f.starttls_offered && !f.starttls);
    assert_eq!(s(&f.auth_mech).as_deref(), Some("LOGIN"));
    assert_eq!(s(&f.user).as_deref(), Some("gurpartap@patriots.in"));
    assert_eq!(s(&f.mail_from).as_deref(), Some("gurpartap@patriots.in"));
    assert_eq!(list(&f.rcpt_to), ["raj_deol2002in@yahoo.co.in"]);
    // The password is "punjab@123" (cHVuamFiQDEyMw==).
    assert!(!format!("{f:?}").contains("punjab"));
    assert!(r.anomalies.is_empty());
}

#[test]
fn smtp_auth_plain_initial_response_aol() {
    // arkime-smtp-data-250.expected.test: smtpHello localhost, src 12345678@aol.com, dst xxxx.xxxxxx@xxxxx.com.
    let (f, r) = smtp("arkime-smtp-data-250.txt");
    assert_eq!(r.steps, [Step::Helo, Step::Auth, Step::MailFrom, Step::Done]);
    assert_eq!(s(&f.helo).as_deref(), Some("localhost"));
    assert_eq!(list(&f.auth_mechs_offered), ["PLAIN", "XAOL-UAS-MB", "LOGIN"]);
    assert!(f.starttls_offered);
    assert_eq!(s(&f.auth_mech).as_deref(), Some("PLAIN"));
    assert_eq!(s(&f.user).as_deref(), Some("12345678@aol.com"));
    assert_eq!(s(&f.mail_from).as_deref(), Some("12345678@aol.com"));
    assert_eq!(list(&f.rcpt_to), ["xxxx.xxxxxx@xxxxx.com"]);
    assert!(!format!("{f:?}").contains("passwd"));
}

#[test]
fn smtp_auth_plain_after_334_aol() {
    // arkime-smtp-data-521.expected.test: smtpHello xxxxxxxx.xxx.aol.com, src 1234567899@aol.com.
    let (f, r) = smtp("arkime-smtp-data-521.txt");
    assert_eq!(r.steps, [Step::Helo, Step::Auth, Step::Auth, Step::MailFrom, Step::Done]);
    assert_eq!(s(&f.helo).as_deref(), Some("xxxxxxxx.xxx.aol.com"));
    assert_eq!(s(&f.user).as_deref(), Some("123456789@aol.com"));
    assert_eq!(s(&f.mail_from).as_deref(), Some("1234567899@aol.com"));
    assert_eq!(list(&f.rcpt_to), ["xxxxx-xxxx@xxxx.xxx.xx.jp"]);
    assert_eq!(list(&f.auth_mechs_offered), ["LOGIN", "PLAIN", "XAOL-UAS-MB"]);
}

#[test]
fn smtp_pipelining_with_message_before_354() {
    // suricata-verify-smtp-pipelining.expected.yaml: mail_from <username@domain.com>, rcpt_to[0] <john.doe@example.com>.
    let (f, r) = smtp("suricata-verify-smtp-pipelining.txt");
    assert_eq!(r.steps, [Step::Helo, Step::MailFrom, Step::Done]);
    assert_eq!(s(&f.banner).as_deref(), Some("Air-de-catena.localdomain ESMTP Postfix"));
    assert_eq!(s(&f.helo).as_deref(), Some("ehlo.fr"));
    assert_eq!(s(&f.mail_from).as_deref(), Some("username@domain.com"));
    assert_eq!(list(&f.rcpt_to), ["john.doe@example.com"]);
    // The client sent the message without waiting for the 354.
    assert!(r.anomalies.contains(Anomalies::UNEXPECTED_COMMAND));
}

#[test]
fn smtp_helo_without_name_and_paths_without_brackets() {
    // arkime-smtp-nospaces.expected.test: src random@example.com, dst reciever@example.com (no smtpHello).
    let (f, r) = smtp("arkime-smtp-nospaces.txt");
    assert_eq!(r.steps, [Step::Helo, Step::MailFrom, Step::Done]);
    assert_eq!(s(&f.helo_verb).as_deref(), Some("HELO"));
    assert_eq!(s(&f.helo).as_deref(), Some(""), "a bare HELO records an empty name (tshark agrees)");
    assert_eq!(s(&f.mail_from).as_deref(), Some("random@example.com"));
    assert_eq!(list(&f.rcpt_to), ["reciever@example.com"]);
}

#[test]
fn smtp_client_talks_before_the_banner() {
    // mercury-smtp.pcap: HELO, MAIL and RCPT sent before the 220 arrives.
    let (f, r) = smtp("mercury-smtp.txt");
    assert_eq!(r.steps, [Step::Helo, Step::MailFrom, Step::Done]);
    assert!(r.anomalies.contains(Anomalies::EARLY_CLIENT_DATA));
    assert!(s(&f.banner).unwrap().starts_with("test.smtp.org ESMTP Sendmail 8.14.9 ready at"));
    assert_eq!(s(&f.helo).as_deref(), Some("malware.com"));
    assert_eq!(s(&f.mail_from).as_deref(), Some("malware@malware.com"));
    assert_eq!(list(&f.rcpt_to), ["bit-bucket@test.smtp.org"]);
}

#[test]
fn smtp_starttls_accepted() {
    // ndpi-smtp-starttls.expected.out: both flows SMTPS (TLS after STARTTLS),
    // the first with SNI mx.google.com.
    let (f, r) = smtp("ndpi-smtp-starttls.0.txt");
    assert_eq!(r.steps, [Step::Helo, Step::TlsUpgrade]);
    assert_eq!(s(&f.banner).as_deref(), Some("mx.google.com ESMTP s4si9696358qcc.63 - gsmtp"));
    assert_eq!(s(&f.helo).as_deref(), Some("xxxxxxxxxxxxx.xxx.com"));
    assert!(f.starttls_offered && f.starttls);
    let (f, r) = smtp("ndpi-smtp-starttls.1.txt");
    assert_eq!(r.steps, [Step::Helo, Step::TlsUpgrade]);
    assert_eq!(s(&f.helo).as_deref(), Some("[IPv6:2003:de:2016:125:fc36:8317:4e86:cb72]"));
    assert!(f.starttls);
    // zeek-tls-smtp-starttls.expected.smtp.log: helo openssl.client.net, tls T.
    let (f, r) = smtp("zeek-tls-smtp-starttls.txt");
    assert_eq!(r.steps, [Step::Helo, Step::TlsUpgrade]);
    assert_eq!(s(&f.helo).as_deref(), Some("openssl.client.net"));
    assert!(f.starttls);
    assert!(r.anomalies.is_empty());
}

#[test]
fn smtp_pipelined_rset_and_starttls_with_bare_codes() {
    // suricata-verify-smtp-rset-starttls.pcap: replies are bare "250" / "220".
    let (f, r) = smtp("suricata-verify-smtp-rset-starttls.txt");
    assert_eq!(r.steps, [Step::Helo, Step::TlsUpgrade]);
    assert_eq!(s(&f.helo).as_deref(), Some(""));
    assert!(f.starttls);
    // suricata-verify-protocol-change-failed-event.pcap: EHLO answered by a 220.
    let (f, r) = smtp("suricata-verify-protocol-change-failed-event.txt");
    assert_eq!(r.steps, [Step::Helo, Step::TlsUpgrade]);
    assert_eq!(s(&f.banner).as_deref(), Some("f"));
    assert!(f.starttls);
}

#[test]
fn smtp_plaintext_after_starttls_in_a_decrypted_capture() {
    // arkime-smtp-decrypted.expected.test: dst aponcelet@shewa.intradef.gouv.fr.
    let (f, r) = smtp("arkime-smtp-decrypted.0.txt");
    assert_eq!(r.steps, [Step::Helo, Step::TlsUpgrade, Step::Helo, Step::MailFrom, Step::Done]);
    assert!(r.anomalies.contains(Anomalies::PLAINTEXT_AFTER_STARTTLS));
    assert!(f.starttls && f.starttls_offered);
    assert_eq!(s(&f.helo).as_deref(), Some("TRANSIT-MTA"));
    assert_eq!(list(&f.auth_mechs_offered), ["NTLM", "LOGIN"]);
    assert_eq!(s(&f.mail_from).as_deref(), Some("papanoel@intradef.gouv.fr"));
    assert_eq!(list(&f.rcpt_to), ["aponcelet@shewa.intradef.gouv.fr"]);
}

#[test]
fn smtp_one_sided_captures() {
    // zeek-smtp-one-side-only.expected.smtp.log: helo enzo.icir.org, mailfrom robin@icir.org, rcptto robin@icir.org.
    let (f, r) = smtp("zeek-smtp-one-side-only.txt");
    assert_eq!(r.steps, [Step::Helo, Step::MailFrom]);
    assert_eq!(s(&f.helo).as_deref(), Some("enzo.icir.org"));
    assert_eq!(s(&f.mail_from).as_deref(), Some("robin@icir.org"));
    assert_eq!(list(&f.rcpt_to), ["robin@icir.org"]);
    // Message lines after DATA are not commands ("From: robin@icir.org" is no MAIL FROM).
    assert!(!r.anomalies.contains(Anomalies::UNEXPECTED_COMMAND));
    // zeek-smtp-attachment-msg.expected.smtp.log: helo localhost.localdomain,
    // mailfrom sender@example.com, rcptto recipient@example.com.
    let (f, _) = smtp("zeek-smtp-attachment-msg.txt");
    assert_eq!(s(&f.helo).as_deref(), Some("localhost.localdomain"));
    assert_eq!(s(&f.mail_from).as_deref(), Some("sender@example.com"));
    assert_eq!(list(&f.rcpt_to), ["recipient@example.com"]);
    // suricata-verify-smtp-bug-5989.expected.yaml: helo Percival; the server's
    // replies after the banner are missing, the AUTH LOGIN user is still read.
    let (f, r) = smtp("suricata-verify-smtp-bug-5989.txt");
    assert_eq!(r.steps, [Step::Helo, Step::Auth, Step::Auth, Step::MailFrom]);
    assert_eq!(s(&f.helo).as_deref(), Some("Percival"));
    assert_eq!(s(&f.user).as_deref(), Some("galunt"));
    assert_eq!(s(&f.mail_from).as_deref(), Some("xxxxxx@xxxxx.co.uk"));
    assert!(!format!("{f:?}").contains("V1v1tr0n"));
}

#[test]
fn smtp_bdat_ends_the_handshake() {
    // zeek-smtp-rfc3030-bdat-example1.expected.smtp.log: helo localhost, mailfrom zeek@localhost, rcptto root@localhost.
    let (f, r) = smtp("zeek-smtp-rfc3030-bdat-example1.txt");
    assert_eq!(r.steps, [Step::Helo, Step::MailFrom, Step::Done]);
    assert_eq!(s(&f.helo).as_deref(), Some("localhost"));
    assert_eq!(s(&f.mail_from).as_deref(), Some("zeek@localhost"));
    assert_eq!(list(&f.rcpt_to), ["root@localhost"]);
}

#[test]
fn smtp_over_long_ehlo() {
    // suricata-verify-smtp-long-command.expected.yaml: helo "OBLAHOBLAH…" and a TRUNCATED_LINE anomaly.
    let (f, r) = smtp("suricata-verify-smtp-long-command.txt");
    assert!(r.anomalies.contains(Anomalies::LONG_LINE));
    let helo = f.helo.unwrap();
    assert!(helo.truncated());
    assert!(helo.to_string().starts_with("OBLAHOBLAHOBLAH"));
    // The line after the long one is parsed normally.
    assert_eq!(list(&f.auth_mechs_offered), ["PLAIN", "LOGIN"]);
    assert_eq!(s(&f.auth_mech).as_deref(), Some("LOGIN"));
    // The client answered the username prompt with "QUIT", which the server
    // decoded as base64 (it then asked for the password): so do we.
    assert_eq!(f.user.unwrap().as_bytes(), b"AB\x13");
    assert_eq!(r.steps, [Step::Helo, Step::Auth, Step::Auth]);
}

#[test]
fn smtp_ntlm_and_emotet_auth_login() {
    // arkime-ntlm_synthetic.expected.test, port 25 session: smtpHello client.example.com, user jack.
    let (f, r) = smtp("arkime-ntlm_synthetic.10-smtp.txt");
    assert_eq!(r.steps, [Step::Helo, Step::Auth, Step::Auth, Step::Done]);
    assert_eq!(s(&f.helo).as_deref(), Some("client.example.com"));
    assert_eq!(s(&f.auth_mech).as_deref(), Some("NTLM"));
    assert_eq!(list(&f.auth_mechs_offered), ["NTLM"]);
    assert_eq!(s(&f.user).as_deref(), Some("jack"));
    // ndpi-emotet.pcap: a spam bot logging in to submission.
    let (f, r) = smtp("ndpi-emotet.0.txt");
    assert_eq!(r.steps, [Step::Helo, Step::Auth, Step::Auth, Step::MailFrom, Step::Done]);
    assert_eq!(s(&f.helo).as_deref(), Some("[173.66.46.97]"));
    assert_eq!(s(&f.user).as_deref(), Some("raulparedes@wanadoo.fr"));
    assert_eq!(list(&f.rcpt_to), ["mitzy.torres@2080.cl"]);
    // Password "cultumexfr1" (Y3VsdHVtZXhmcjE=).
    assert!(!format!("{f:?}").contains("cultumex"));
}

#[test]
fn smtp_helo_then_ehlo_and_refused_pipeline() {
    // suricata-verify-smtp-ehlo-reset.expected.yaml: first transaction mail_from <alice@example.com>.
    let (f, r) = smtp("suricata-verify-smtp-ehlo-reset.txt");
    assert_eq!(r.steps, [Step::Helo, Step::MailFrom, Step::Helo, Step::MailFrom, Step::Done]);
    assert_eq!(s(&f.helo_verb).as_deref(), Some("EHLO"));
    assert_eq!(s(&f.helo).as_deref(), Some("client.example.com"));
    assert_eq!(s(&f.mail_from).as_deref(), Some("alice@example.com"));
    assert_eq!(list(&f.rcpt_to), ["alice@example.com"]);
    // suricata-verify-smtperr.pcap stream 2: MAIL/RCPT/DATA pipelined, all refused.
    let (f, r) = smtp("suricata-verify-smtperr.2.txt");
    assert_eq!(r.steps, [Step::Helo, Step::MailFrom]);
    assert_eq!(list(&f.auth_mechs_offered), ["LOGIN", "PLAIN", "CRAM-MD5", "DIGEST-MD5", "GSSAPI", "MSN", "NTLM"]);
    assert!(f.starttls_offered);
    assert_eq!(s(&f.mail_from).as_deref(), Some("unusualz@prg-dc.dhl.com"));
    // suricata-verify-smtp-url-b64.pcap: EHLO refused, HELO accepted, on port 2525.
    let (f, r) = smtp("suricata-verify-smtp-url-b64.txt");
    assert_eq!(r.steps, [Step::Helo, Step::Helo, Step::MailFrom, Step::Done]);
    assert_eq!(s(&f.banner).as_deref(), Some("server.domain.com MX SMTP server ready"));
    assert_eq!(s(&f.helo_verb).as_deref(), Some("HELO"));
    // zeek-smtp.expected.smtp.log, second session: helo [192.168.133.100], three recipients.
    let (f, _) = smtp("zeek-smtp.2.txt");
    assert_eq!(s(&f.helo).as_deref(), Some("[192.168.133.100]"));
    assert_eq!(s(&f.mail_from).as_deref(), Some("albert@example.com"));
    assert_eq!(list(&f.rcpt_to), ["ericlim220@yahoo.com", "felica4uu@hotmail.com", "davis_mark1@outlook.com"]);
    assert_eq!(list(&f.auth_mechs_offered), ["LOGIN"]);
}

#[test]
fn imap_login_uw_and_exchange() {
    // ndpi-imap.expected.out: "User: samir", "Pwd: pfres".
    let (f, r) = imap("ndpi-imap.txt");
    assert_eq!(r.steps, [Step::Auth, Step::Done]);
    assert_eq!(s(&f.banner).as_deref(), Some("IMAP4Rev1 Server Version 4.9.04.012"));
    assert_eq!(list(&f.capabilities), ["IMAP4rev1", "IDLE", "AUTH=LOGIN", "AUTH=PLAIN", "AUTH=CRAM-MD5"]);
    assert_eq!(s(&f.auth_mech).as_deref(), Some("LOGIN"));
    assert_eq!(s(&f.user).as_deref(), Some("samir"));
    assert!(!format!("{f:?}").contains("pfres"));
    // suricata-verify-imap-detection.pcap: quoted LOGIN arguments.
    let (f, r) = imap("suricata-verify-imap-detection.txt");
    assert_eq!(r.steps, [Step::Auth, Step::Done]);
    assert_eq!(
        s(&f.banner).as_deref(),
        Some("Microsoft Exchange IMAP4rev1 server version 5.5.2650.23 (umr-mail02) ready")
    );
    assert_eq!(s(&f.user).as_deref(), Some("neulingern"));
    assert!(f.capabilities.contains_ignore_ascii_case(b"AUTH=NTLM"));
    assert!(!format!("{f:?}").contains("XXXXXX"));
}

#[test]
fn imap_starttls_with_greeting_capabilities() {
    // ndpi-imap-starttls.expected.zeek-imap-capabilities.stdout (Zeek, same traffic).
    let (f, r) = imap("ndpi-imap-starttls.txt");
    assert_eq!(r.steps, [Step::TlsUpgrade]);
    assert!(f.starttls);
    let zeek = [
        "IMAP4rev1",
        "CHILDREN",
        "ENABLE",
        "ID",
        "IDLE",
        "LIST-EXTENDED",
        "LIST-STATUS",
        "LITERAL+",
        "MOVE",
        "NAMESPACE",
        "SASL-IR",
        "SORT",
        "SPECIAL-USE",
        "THREAD=ORDEREDSUBJECT",
        "UIDPLUS",
        "UNSELECT",
        "WITHIN",
        "STARTTLS",
        "AUTH=LOGIN",
        "AUTH=PLAIN",
    ];
    assert_eq!(list(&f.capabilities), zeek);
    // peafowl-imap-ssl.pcapng: Dovecot, "." as the tag.
    let (f, r) = imap("peafowl-imap-ssl.txt");
    assert_eq!(r.steps, [Step::TlsUpgrade]);
    assert_eq!(s(&f.banner).as_deref(), Some("Dovecot (Ubuntu) ready."));
    assert!(f.starttls && f.capabilities.contains_ignore_ascii_case(b"STARTTLS"));
    assert!(r.anomalies.is_empty());
}

#[test]
fn imap_authenticate_ntlm_and_banner_only() {
    // arkime-ntlm_synthetic.expected.test, port 143 session: user kate.
    let (f, r) = imap("arkime-ntlm_synthetic.11-imap.txt");
    assert_eq!(r.steps, [Step::Auth, Step::Auth, Step::Done]);
    assert_eq!(s(&f.auth_mech).as_deref(), Some("NTLM"));
    assert_eq!(s(&f.user).as_deref(), Some("kate"));
    let (f, r) = imap("arkime-imap-tag.txt");
    assert!(r.steps.is_empty());
    assert_eq!(s(&f.banner).as_deref(), Some("IMAP4 ready"));
}

#[test]
fn pop3_user_pass() {
    // ndpi-pop3.expected.out: "User: cicciopernacchio@mail.com", "Pwd: pippozzo".
    let (f, r) = pop3("ndpi-pop3.0.txt");
    assert_eq!(r.steps, [Step::Auth, Step::Done]);
    assert_eq!(s(&f.banner).as_deref(), Some("POP server ready H migmxus005"));
    assert_eq!(s(&f.auth_mech).as_deref(), Some("USER"));
    assert_eq!(s(&f.user).as_deref(), Some("cicciopernacchio@mail.com"));
    assert!(!format!("{f:?}").contains("pippozzo"));
    // suricata-verify-pop3.expected.yaml: header "POP server ready H mieueus020 …", USER args[0].
    let (f, r) = pop3("suricata-verify-pop3.txt");
    assert_eq!(r.steps, [Step::Auth, Step::Done]);
    assert_eq!(s(&f.banner).as_deref(), Some("POP server ready H mieueus020 1Mw7UO-1j88qA02mS-00sOH0"));
    assert_eq!(s(&f.user).as_deref(), Some("moises.nunez@ingenierianumar.com"));
    // zeek-pop3-unknown-commands.pcap.
    let (f, r) = pop3("zeek-pop3-unknown-commands.txt");
    assert_eq!(r.steps, [Step::Auth, Step::Done]);
    assert_eq!(s(&f.user).as_deref(), Some("zeek@zeek.org"));
}

#[test]
fn pop3_sasl_plain_capa_and_pipelining() {
    // zeek-pop3-pop3.expected.out: AUTH PLAIN answered "+OK mailbox "digitalinvestigator@networksims.com" …".
    let (f, r) = pop3("zeek-pop3-pop3.5.txt");
    assert_eq!(r.steps, [Step::Auth, Step::Auth, Step::Done]);
    assert_eq!(list(&f.capabilities), ["TOP", "USER", "UIDL", "STLS", "SASL PLAIN", "IMPLEMENTATION trinity"]);
    assert_eq!(s(&f.auth_mech).as_deref(), Some("PLAIN"));
    assert_eq!(s(&f.user).as_deref(), Some("digitalinvestigator@networksims.com"));
    assert!(!format!("{f:?}").contains("napier"));
    // The same client failing ("-ERR authentication failed"): no Done.
    let (f, r) = pop3("zeek-pop3-pop3.3.txt");
    assert_eq!(r.steps, [Step::Auth, Step::Auth]);
    assert_eq!(s(&f.user).as_deref(), Some("digitalinvestigator@networksims.com"));
    // ndpi-pop3.pcap stream 1: CAPA and QUIT in one segment.
    let (f, r) = pop3("ndpi-pop3.1.txt");
    assert_eq!(r.steps, [Step::Done]);
    assert!(f.capabilities.contains_ignore_ascii_case(b"STLS"));
}

#[test]
fn pop3_stls() {
    // ndpi-pop3_stls.expected.out: POPS with SNI pop.lavabit.com after STLS.
    let (f, r) = pop3("ndpi-pop3_stls.txt");
    assert_eq!(r.steps, [Step::TlsUpgrade]);
    assert_eq!(s(&f.banner).as_deref(), Some("lavad"));
    assert!(f.starttls);
    assert_eq!(
        list(&f.capabilities),
        [
            "TOP",
            "USER",
            "UIDL",
            "STLS",
            "PIPELINING",
            "EXPIRE NEVER",
            "LOGIN-DELAY 0",
            "RESP-CODES",
            "AUTH-RESP-CODE",
            "IMPLEMENTATION lavad 4.3.0"
        ]
    );
    // zeek-tls-pop3-starttls.pcap: a Cyrus banner with an APOP timestamp.
    let (f, r) = pop3("zeek-tls-pop3-starttls.txt");
    assert_eq!(r.steps, [Step::TlsUpgrade]);
    assert_eq!(
        s(&f.banner).as_deref(),
        Some("ladymacbeth.local Cyrus POP3 v2.3.16 server ready <15125655727712503824.1400173552@ladymacbeth.local>")
    );
    assert!(f.starttls && r.anomalies.is_empty());
}

#[test]
fn pop3_xoauth2_without_greeting() {
    // suricata-verify-pop3-auth-01.expected.yaml: CAPA response data, AUTH XOAUTH2, "+OK Welcome.".
    let (f, r) = pop3("suricata-verify-pop3-auth-01.txt");
    assert_eq!(r.steps, [Step::Auth, Step::Auth, Step::Done]);
    assert_eq!(f.banner, None);
    assert_eq!(
        list(&f.capabilities),
        [
            "USER",
            "RESP-CODES",
            "EXPIRE 0",
            "LOGIN-DELAY 300",
            "TOP",
            "UIDL",
            "X-GOOGLE-RICO",
            "SASL PLAIN XOAUTH2 OAUTHBEARER"
        ]
    );
    assert_eq!(s(&f.auth_mech).as_deref(), Some("XOAUTH2"));
    assert_eq!(s(&f.user).as_deref(), Some("joe.speedboat"));
    assert!(!format!("{f:?}").contains("AAAAAAAA"));
}

#[test]
fn pop3_ntlm_and_banner_only() {
    // arkime-ntlm_synthetic.expected.test, port 110 session: user liam.
    let (f, r) = pop3("arkime-ntlm_synthetic.12-pop3.txt");
    assert_eq!(r.steps, [Step::Auth, Step::Auth, Step::Done]);
    assert_eq!(s(&f.user).as_deref(), Some("liam"));
    let (f, _) = pop3("arkime-pop3-tag.txt");
    assert_eq!(s(&f.banner).as_deref(), Some("POP3 ready"));
}

/// The first line each side sent, as protocol lines or raw segments.
fn first_lines(name: &str) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let entries = transcript(name);
    let first = |want_client: bool| {
        entries.iter().find_map(|e| match e {
            Entry::Line { client, bytes } | Entry::Raw { client, bytes } if *client == want_client => {
                Some(bytes.clone())
            }
            _ => None,
        })
    };
    (first(true), first(false))
}

#[test]
fn every_mail_transcript_is_detected_as_its_protocol() {
    use MailProtoKind::*;
    let cases: &[(&str, MailProtoKind)] = &[
        ("ndpi-smtp.txt", Smtp),
        ("suricata-verify-bug-3616-smtp.txt", Smtp),
        ("arkime-smtp-data-250.txt", Smtp),
        ("arkime-smtp-data-521.txt", Smtp),
        ("suricata-verify-smtp-pipelining.txt", Smtp),
        ("arkime-smtp-nospaces.txt", Smtp),
        ("mercury-smtp.txt", Smtp),
        ("ndpi-smtp-starttls.0.txt", Smtp),
        ("ndpi-smtp-starttls.1.txt", Smtp),
        ("suricata-verify-smtp-rset-starttls.txt", Smtp),
        ("suricata-verify-protocol-change-failed-event.txt", Smtp),
        ("arkime-smtp-decrypted.0.txt", Smtp),
        ("zeek-smtp-one-side-only.txt", Smtp),
        ("zeek-smtp-rfc3030-bdat-example1.txt", Smtp),
        ("suricata-verify-smtp-long-command.txt", Smtp),
        ("suricata-verify-smtp-bug-5989.txt", Smtp),
        ("arkime-ntlm_synthetic.10-smtp.txt", Smtp),
        ("ndpi-emotet.0.txt", Smtp),
        ("suricata-verify-smtp-ehlo-reset.txt", Smtp),
        ("suricata-verify-smtperr.2.txt", Smtp),
        ("suricata-verify-smtp-url-b64.txt", Smtp),
        ("zeek-smtp.2.txt", Smtp),
        ("zeek-smtp-attachment-msg.txt", Smtp),
        ("zeek-tls-smtp-starttls.txt", Smtp),
        ("ndpi-imap.txt", Imap),
        ("suricata-verify-imap-detection.txt", Imap),
        ("ndpi-imap-starttls.txt", Imap),
        ("peafowl-imap-ssl.txt", Imap),
        ("arkime-ntlm_synthetic.11-imap.txt", Imap),
        ("arkime-imap-tag.txt", Imap),
        ("ndpi-pop3.0.txt", Pop3),
        ("ndpi-pop3.1.txt", Pop3),
        ("zeek-pop3-pop3.3.txt", Pop3),
        ("zeek-pop3-pop3.5.txt", Pop3),
        ("ndpi-pop3_stls.txt", Pop3),
        ("zeek-tls-pop3-starttls.txt", Pop3),
        ("suricata-verify-pop3-auth-01.txt", Pop3),
        ("suricata-verify-pop3.txt", Pop3),
        ("arkime-ntlm_synthetic.12-pop3.txt", Pop3),
        ("arkime-pop3-tag.txt", Pop3),
        ("zeek-pop3-unknown-commands.txt", Pop3),
    ];
    for (name, proto) in cases {
        let (client, server) = first_lines(name);
        let server_probe = server.as_deref().map(probe_server_line);
        let client_probe = client.as_deref().map(probe_client_line);
        for probe in [server_probe, client_probe].into_iter().flatten() {
            assert!(matches!(probe, Probe::Unsure) || probe == Probe::Certain(*proto), "{name}: {probe:?}");
        }
        let certain = [server_probe, client_probe].contains(&Some(Probe::Certain(*proto)))
            || (server_probe == Some(Probe::Unsure)
                && client.as_deref().map(probe_client_after_220) == Some(Probe::Certain(Smtp)));
        assert!(certain, "{name} not detected: server {server_probe:?}, client {client_probe:?}");
        if let Some(server) = &server {
            assert!(looks_like_server_line(server), "{name}: first server line");
        }
        if let Some(client) = &client {
            assert!(!looks_like_server_line(client), "{name}: first client line");
        }
    }
}

#[test]
fn non_mail_sessions_are_not_detected_as_mail() {
    // ndpi-ftp-start-tls.expected.out: FTPS. A bare 220, then the FTP "AUTH TLS".
    let (client, server) = first_lines("ndpi-ftp-start-tls.txt");
    let (client, server) = (client.unwrap(), server.unwrap());
    assert_eq!(probe_server_line(&server), Probe::Unsure);
    assert_eq!(client, b"AUTH TLS");
    assert_eq!(probe_client_line(&client), Probe::NotMail);
    assert_eq!(probe_client_after_220(&client), Probe::NotMail);
    // suricata-verify-ldap-starttls.pcap: an LDAP StartTLS extended request (BER).
    let (client, server) = first_lines("suricata-verify-ldap-starttls.txt");
    let client = client.unwrap();
    assert!(server.is_none());
    assert_eq!(probe_client_line(&client), Probe::NotMail);
    assert_eq!(probe_server_line(&client), Probe::NotMail);
    assert!(!looks_like_server_line(&client));
    // ndpi-smtps.pcapng: a TLS ClientHello first on port 465.
    let (client, _) = first_lines("ndpi-smtps.txt");
    assert_eq!(probe_client_line(&client.unwrap()), Probe::NotMail);
    // ndpi-emotet.pcap stream 1: HTTP.
    let (client, _) = first_lines("ndpi-emotet.1-http.txt");
    assert_eq!(probe_client_line(&client.unwrap()), Probe::NotMail);
}
