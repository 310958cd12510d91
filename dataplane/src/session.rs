//! Per-session inspection: protocol detection from content, line feeding to
//! the SMTP/IMAP/POP3 parsers, and the hand-over to the ClientHello parser
//! after STARTTLS or on implicit TLS. It sees only the in-order bytes that
//! reassembly produced, and reports the decision points it crossed.

use crate::flow::reassembly::{DirBuf, DirStream, Streams};
use crate::io::prefetch;
use arrayvec::ArrayVec;
use mailgate_proto::detect::{self, MailProtoKind, Probe};
use mailgate_proto::imap::ImapSession;
use mailgate_proto::line::{LineSplitter, Split};
use mailgate_proto::pop3::Pop3Session;
use mailgate_proto::smtp::SmtpSession;
use mailgate_proto::socks::{self, SocksFacts, SocksStatus};
use mailgate_proto::tls::{self, TlsFacts, TlsStatus};
use mailgate_proto::{Anomalies, LineParser, Step};
use mailgate_protocol::record::{MailProto, MailProtoSource};

/// The longest protocol line parsed; longer ones are cut (RFC 5321 allows
/// 512 for commands, 1000 for text lines).
pub const MAX_LINE: usize = 1024;
/// Lines seen without any mail-protocol evidence before a session is judged not mail.
const MAX_PROBE_LINES: u8 = 3;

/// A direction of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Client to server.
    ToServer = 0,
    /// Server to client.
    ToClient = 1,
}

impl Dir {
    /// The index used for per-direction arrays.
    pub fn idx(self) -> usize {
        self as usize
    }
}

/// A policy decision point a session crossed (in wire order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// The mail protocol (or its absence on a mail port) became known.
    Detect,
    /// EHLO/HELO/LHLO.
    Helo,
    /// Authentication started.
    Auth,
    /// MAIL FROM.
    MailFrom,
    /// STARTTLS/STLS was accepted.
    StartTls,
    /// The ClientHello was parsed.
    ClientHello,
}

/// Decision points crossed while handling one segment.
pub type Points = ArrayVec<Point, 16>;

/// The protocol parser a session runs.
#[derive(Debug, Clone, Copy, Default)]
// Facts live in a pre-allocated pool of fixed-size slots, so every variant
// is inline by design (boxing would allocate per session).
#[allow(clippy::large_enum_variant)]
// The tag first (see `SessionFacts`'s layout): resetting it touches one cache line.
#[repr(u8)]
pub enum Parser {
    /// Not known yet, or not mail.
    #[default]
    None,
    /// SMTP (also LMTP).
    Smtp(SmtpSession),
    /// IMAP.
    Imap(ImapSession),
    /// POP3.
    Pop3(Pop3Session),
}

impl Parser {
    /// Makes this a fresh parser for `kind`, for a session seen from its
    /// start or picked up `midstream`. Written through `&mut self`, so the
    /// new parser is built in place (a parser is kilobytes: returning one
    /// by value costs copies).
    #[inline(never)]
    fn start(&mut self, kind: MailProtoKind, midstream: bool) {
        *self = match (kind, midstream) {
            (MailProtoKind::Smtp, false) => Parser::Smtp(SmtpSession::new()),
            (MailProtoKind::Smtp, true) => Parser::Smtp(SmtpSession::mid_stream()),
            (MailProtoKind::Imap, false) => Parser::Imap(ImapSession::new()),
            (MailProtoKind::Imap, true) => Parser::Imap(ImapSession::mid_stream()),
            (MailProtoKind::Pop3, false) => Parser::Pop3(Pop3Session::new()),
            (MailProtoKind::Pop3, true) => Parser::Pop3(Pop3Session::mid_stream()),
        };
    }
}

/// Where the inspection of a session stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for bytes that tell the protocol.
    #[default]
    Detecting,
    /// A mail protocol's lines are being parsed.
    Lines,
    /// A SOCKS proxy handshake is under way (the tunnelled session follows).
    Socks,
    /// Waiting for the ClientHello, from client stream offset `start`.
    Tls {
        /// Offset in the client stream where the TLS records begin.
        start: u32,
    },
    /// Nothing more to inspect.
    Done,
}

/// What inspection learnt about a session: kept until the session ends.
///
/// Laid out for the pool: a new session writes only the first two cache
/// lines (state, flags, the parser's tag); the large parts — parser facts,
/// ClientHello, SOCKS request — are written when they are filled, and the
/// ClientHello and SOCKS parts are valid only under their flag, so a reused
/// slot need not clear their kilobytes.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct SessionFacts {
    /// Inspection phase.
    pub phase: Phase,
    /// Bytes of each direction already consumed as lines.
    parsed: [u32; 2],
    /// Where each direction's tunnelled stream starts (after a SOCKS handshake; else 0).
    tunnel_start: [u32; 2],
    /// Line splitting state per direction (resynchronises after over-long lines).
    lines: [LineSplitter; 2],
    /// The mail protocol, once known.
    pub mail: Option<MailProto>,
    /// How it was known.
    pub mail_source: Option<MailProtoSource>,
    /// True once the session is known to carry something other than mail.
    pub not_mail: bool,
    /// True when the client sent AUTH/LOGIN/USER before any TLS.
    pub cleartext_auth: bool,
    /// Lines looked at per direction while detecting.
    probe_lines: [u8; 2],
    probe_logged: u8,
    /// A 220 greeting was seen but the client has not yet confirmed SMTP.
    smtp_tentative: bool,
    /// The session was picked up after its start (parsers must not expect a greeting).
    midstream: bool,
    /// The server direction's reassembly window is spent.
    server_spent: bool,
    /// `tls` holds this session's ClientHello.
    has_tls: bool,
    /// `socks` holds this session's SOCKS request.
    has_socks: bool,
    /// The protocol parser and its facts.
    pub parser: Parser,
    /// Where the lines that proved nothing yet lie, in wire order (fed to
    /// the parser once the protocol is known).
    probe_log: [(Dir, u32, u32); 2 * MAX_PROBE_LINES as usize],
    /// The ClientHello (meaningful under `has_tls`).
    tls: TlsFacts,
    /// The SOCKS proxy request (meaningful under `has_socks`).
    socks: SocksFacts,
}

impl Default for SessionFacts {
    fn default() -> Self {
        SessionFacts {
            parser: Parser::None,
            tls: TlsFacts::default(),
            has_tls: false,
            mail: None,
            mail_source: None,
            not_mail: false,
            cleartext_auth: false,
            phase: Phase::Detecting,
            parsed: [0; 2],
            lines: [LineSplitter::new(MAX_LINE); 2],
            probe_lines: [0; 2],
            probe_log: [(Dir::ToServer, 0, 0); 2 * MAX_PROBE_LINES as usize],
            probe_logged: 0,
            smtp_tentative: false,
            midstream: false,
            server_spent: false,
            tunnel_start: [0; 2],
            socks: SocksFacts::default(),
            has_socks: false,
        }
    }
}

impl SessionFacts {
    /// Makes a pooled slot the facts of a new session (`midstream` when it
    /// was picked up after its start), writing only what a fresh session reads: the large parts
    /// (parser, ClientHello, SOCKS) become `None` without their kilobytes
    /// being cleared. The destructuring names every field, so a new one
    /// cannot be forgotten here.
    pub fn reset(&mut self, midstream: bool) {
        let SessionFacts {
            parser,
            tls: _, // valid only under `has_tls`
            has_tls,
            socks: _, // valid only under `has_socks`
            has_socks,
            mail,
            mail_source,
            not_mail,
            cleartext_auth,
            phase,
            parsed,
            lines,
            probe_lines,
            probe_log: _, // read only below `probe_logged`
            probe_logged,
            smtp_tentative,
            midstream: was_midstream,
            server_spent,
            tunnel_start,
        } = self;
        *parser = Parser::None;
        *has_tls = false;
        *has_socks = false;
        *mail = None;
        *mail_source = None;
        *not_mail = false;
        *cleartext_auth = false;
        *phase = Phase::Detecting;
        *parsed = [0; 2];
        *lines = [LineSplitter::new(MAX_LINE); 2];
        *probe_lines = [0; 2];
        *probe_logged = 0;
        *smtp_tentative = false;
        *was_midstream = midstream;
        *server_spent = false;
        *tunnel_start = [0; 2];
    }

    /// Starts loading the two cache lines [`SessionFacts::reset`] writes
    /// (for a pooled slot about to be reset).
    pub fn prefetch_reset_lines(&self) {
        prefetch(&self.not_mail);
        prefetch(&self.parser);
    }

    /// The ClientHello, when one was seen.
    pub fn tls(&self) -> Option<&TlsFacts> {
        self.has_tls.then_some(&self.tls)
    }

    /// The SOCKS proxy request, when the session is tunnelled through one.
    pub fn socks(&self) -> Option<&SocksFacts> {
        self.has_socks.then_some(&self.socks)
    }

    /// True while more bytes could still change what is known.
    pub fn inspecting(&self) -> bool {
        self.phase != Phase::Done
    }

    /// Adds a segment of direction `dir` and parses whatever became
    /// contiguous; pushes the decision points crossed to `points`.
    #[allow(clippy::too_many_arguments)]
    pub fn on_segment(
        &mut self,
        streams: &mut Streams<'_>,
        dir: Dir,
        seq: u32,
        payload: &[u8],
        tls_scratch: &mut [u8],
        anomalies: &mut Anomalies,
        points: &mut Points,
    ) {
        let d = dir.idx();
        let budget = streams.bytes.get(d).map_or(0, |b| b.len());
        let inserted = match (streams.dirs.get_mut(d), streams.bytes.get_mut(d), streams.bits.get_mut(d)) {
            (Some(state), Some(bytes), Some(bits)) => {
                state.insert(&mut DirBuf { bytes, bits }, seq, payload, anomalies)
            }
            _ => return,
        };
        let in_order = |i: usize| -> &[u8] {
            let len = streams.dirs.get(i).map_or(0, DirStream::contiguous);
            streams.bytes.get(i).and_then(|b| b.get(..len)).unwrap_or(&[])
        };
        let (client, server) = (in_order(0), in_order(1));
        if inserted {
            if self.phase != Phase::Socks {
                self.parse(dir, [client, server], tls_scratch, anomalies, points);
            }
            if self.phase == Phase::Socks {
                self.socks_step(client, server, tls_scratch, anomalies, points);
            }
        }
        let spent = if dir == Dir::ToServer { client.len() } else { server.len() } >= budget;
        if self.inspecting() && spent && !(dir == Dir::ToClient && self.server_spent) {
            // This direction's window is spent. Without the client's side
            // nothing more can be learnt; without the server's, the client's
            // commands still can be.
            anomalies.insert(Anomalies::REASSEMBLY_BUDGET_EXCEEDED);
            match dir {
                Dir::ToServer => self.phase = Phase::Done,
                Dir::ToClient => self.server_spent = true,
            }
        }
    }

    /// Follows a SOCKS handshake; once the proxy granted the tunnel, the
    /// tunnelled streams are inspected from where the handshake ended.
    fn socks_step(
        &mut self,
        client: &[u8],
        server: &[u8],
        scratch: &mut [u8],
        anomalies: &mut Anomalies,
        points: &mut Points,
    ) {
        let mut facts = SocksFacts::default();
        match socks::parse(client, server, &mut facts) {
            SocksStatus::NeedMore => {}
            SocksStatus::NotTunnel => self.set_not_mail(points),
            SocksStatus::Tunnel { client_consumed, server_consumed } => {
                self.socks = facts;
                self.has_socks = true;
                let start = [client_consumed as u32, server_consumed as u32];
                self.parsed = start;
                self.tunnel_start = start;
                self.phase = Phase::Detecting;
                self.parse(Dir::ToClient, [client, server], scratch, anomalies, points);
                self.parse(Dir::ToServer, [client, server], scratch, anomalies, points);
            }
        }
    }

    /// Parses the not yet consumed part of direction `dir`'s in-order bytes
    /// (`both`: the client's and the server's in-order bytes so far).
    fn parse(
        &mut self,
        dir: Dir,
        both: [&[u8]; 2],
        scratch: &mut [u8],
        anomalies: &mut Anomalies,
        points: &mut Points,
    ) {
        let d = dir.idx();
        let data = both.get(d).copied().unwrap_or(&[]);
        loop {
            let consumed = self.parsed.get(d).copied().unwrap_or(0) as usize;
            let Some(rest) = data.get(consumed..) else { return };
            match self.phase {
                Phase::Done => return,
                Phase::Tls { start } => {
                    if dir == Dir::ToClient {
                        return; // the server's side of the handshake carries nothing we need
                    }
                    let stream = data.get(start as usize..).unwrap_or(&[]);
                    // A ClientHello spread over segments is parsed anew as it grows.
                    let mut facts = TlsFacts::default();
                    match tls::parse_client_hello(stream, scratch, &mut facts, anomalies) {
                        TlsStatus::NeedMore => return,
                        TlsStatus::Done { .. } => {
                            facts.implicit = matches!(self.parser, Parser::None);
                            self.tls = facts;
                            self.has_tls = true;
                            self.on_client_hello(&facts);
                            self.phase = Phase::Done;
                            let _ = points.try_push(Point::ClientHello);
                            return;
                        }
                        TlsStatus::NotTls | TlsStatus::Invalid => {
                            if matches!(self.parser, Parser::None) {
                                anomalies.insert(Anomalies::INVALID_TLS);
                                self.phase = Phase::Done;
                                return;
                            }
                            // STARTTLS was accepted but the client went on in clear.
                            anomalies.insert(Anomalies::PLAINTEXT_AFTER_STARTTLS);
                            self.phase = Phase::Lines;
                        }
                    }
                }
                Phase::Socks => return,
                Phase::Detecting if dir == Dir::ToServer && consumed == self.tunnel_start[0] as usize => {
                    match tls::probe(rest) {
                        tls::Probe::Yes => {
                            self.phase = Phase::Tls { start: consumed as u32 };
                        }
                        tls::Probe::Maybe => return,
                        tls::Probe::No if !self.has_socks && socks::probe(rest) => {
                            self.phase = Phase::Socks;
                            return;
                        }
                        tls::Probe::No => {
                            if !self.next_line(dir, rest, both, anomalies, points) {
                                return;
                            }
                        }
                    }
                }
                Phase::Detecting
                    if dir == Dir::ToClient
                        && !self.midstream
                        && consumed == self.tunnel_start[1] as usize
                        && detect::server_start_is_binary(rest) =>
                {
                    self.set_not_mail(points);
                    return;
                }
                Phase::Detecting | Phase::Lines => {
                    if !self.next_line(dir, rest, both, anomalies, points) {
                        return;
                    }
                }
            }
        }
    }

    /// Consumes one line of `rest` if complete; false when more bytes are needed.
    fn next_line(
        &mut self,
        dir: Dir,
        rest: &[u8],
        both: [&[u8]; 2],
        anomalies: &mut Anomalies,
        points: &mut Points,
    ) -> bool {
        let d = dir.idx();
        let line_start = self.parsed.get(d).copied().unwrap_or(0);
        let Some(splitter) = self.lines.get_mut(d) else { return false };
        let (line, consumed) = match splitter.next(rest) {
            Split::NeedMore => return false,
            Split::Skip { consumed } => (None, consumed),
            Split::Line { line, consumed, bare_lf, truncated } => {
                if bare_lf {
                    anomalies.insert(Anomalies::BARE_LF);
                }
                if truncated {
                    anomalies.insert(Anomalies::LONG_LINE);
                }
                (Some(line), consumed)
            }
        };
        if let Some(p) = self.parsed.get_mut(d) {
            *p = p.saturating_add(consumed as u32);
        }
        let Some(line) = line else { return true };
        if self.phase == Phase::Detecting {
            self.detect(dir, line, line_start, both, anomalies, points);
            if self.phase != Phase::Lines {
                return true;
            }
        } else if self.smtp_tentative && dir == Dir::ToServer {
            // A bare 220 greeting: the client's first command tells SMTP from FTP.
            match detect::probe_client_after_220(line) {
                Probe::Certain(kind) => {
                    self.smtp_tentative = false;
                    self.set_mail(kind, MailProtoSource::Content, points);
                }
                Probe::NotMail => {
                    self.smtp_tentative = false;
                    self.set_not_mail(points);
                    return true;
                }
                Probe::Unsure => self.count_unsure(dir, points),
            }
        }
        self.feed(dir, line, anomalies, points);
        true
    }

    /// Hands one line to the protocol parser.
    fn feed(&mut self, dir: Dir, line: &[u8], anomalies: &mut Anomalies, points: &mut Points) {
        let parser: &mut dyn LineParser = match &mut self.parser {
            Parser::None => return,
            Parser::Smtp(s) => s,
            Parser::Imap(s) => s,
            Parser::Pop3(s) => s,
        };
        let step = match dir {
            Dir::ToServer => parser.client_line(line, anomalies),
            Dir::ToClient => parser.server_line(line, anomalies),
        };
        self.on_step(step, points);
    }

    /// Protocol detection on one line while the protocol is unknown. Lines
    /// that prove nothing yet are logged; once the protocol is certain they
    /// are fed to its parser in wire order, so nothing seen while detecting
    /// is lost (a user name sent before the proof, on a session picked up
    /// mid-stream).
    fn detect(
        &mut self,
        dir: Dir,
        line: &[u8],
        line_start: u32,
        both: [&[u8]; 2],
        anomalies: &mut Anomalies,
        points: &mut Points,
    ) {
        if line.trim_ascii().is_empty() {
            return; // an empty line proves nothing either way
        }
        let probe = match dir {
            Dir::ToServer => match detect::probe_client_line(line) {
                // Picked up mid-stream, any SMTP-only command proves SMTP.
                Probe::Unsure if self.midstream => match detect::probe_client_after_220(line) {
                    Probe::NotMail => Probe::Unsure,
                    other => other,
                },
                other => other,
            },
            Dir::ToClient => match detect::probe_server_line(line) {
                Probe::Unsure if self.midstream && detect::is_smtp_extension_reply(line) => {
                    Probe::Certain(MailProtoKind::Smtp)
                }
                other => other,
            },
        };
        match probe {
            Probe::Certain(kind) => {
                self.start_parser(kind, points);
                self.replay_logged(both, anomalies, points);
            }
            Probe::Unsure if dir == Dir::ToClient && line.starts_with(b"220") => {
                // FTP greets with 220 too: parse as SMTP, confirm on the client's first command.
                self.smtp_tentative = true;
                self.parser.start(MailProtoKind::Smtp, self.midstream);
                self.phase = Phase::Lines;
                self.replay_logged(both, anomalies, points);
            }
            Probe::Unsure => {
                self.log_line(dir, line_start, line.len());
                self.count_unsure(dir, points);
            }
            // A client may send junk before a server's greeting: only the
            // server's side, or a client that keeps at it, decides "not mail".
            Probe::NotMail if dir == Dir::ToServer && self.probe_lines.get(1) == Some(&0) => {
                self.log_line(dir, line_start, line.len());
                self.count_unsure(dir, points);
            }
            Probe::NotMail => self.set_not_mail(points),
        }
    }

    /// Remembers where a detection line lies (in its direction's stream).
    fn log_line(&mut self, dir: Dir, start: u32, len: usize) {
        if let Some(slot) = self.probe_log.get_mut(usize::from(self.probe_logged)) {
            *slot = (dir, start, u32::try_from(len).unwrap_or(u32::MAX));
            self.probe_logged += 1;
        }
    }

    /// Feeds the logged detection lines to the parser just started.
    fn replay_logged(&mut self, both: [&[u8]; 2], anomalies: &mut Anomalies, points: &mut Points) {
        let logged = self.probe_log;
        for &(dir, start, len) in logged.iter().take(usize::from(self.probe_logged)) {
            let (start, len) = (start as usize, len as usize);
            if let Some(line) = both.get(dir.idx()).and_then(|d| d.get(start..start + len)) {
                self.feed(dir, line, anomalies, points);
            }
        }
        self.probe_logged = 0;
    }

    fn count_unsure(&mut self, dir: Dir, points: &mut Points) {
        if let Some(n) = self.probe_lines.get_mut(dir.idx()) {
            *n = n.saturating_add(1);
            if *n >= MAX_PROBE_LINES {
                self.set_not_mail(points);
            }
        }
    }

    fn start_parser(&mut self, kind: MailProtoKind, points: &mut Points) {
        self.parser.start(kind, self.midstream);
        self.set_mail(kind, MailProtoSource::Content, points);
        self.phase = Phase::Lines;
    }

    fn set_mail(&mut self, kind: MailProtoKind, source: MailProtoSource, points: &mut Points) {
        self.mail = Some(match kind {
            MailProtoKind::Smtp => MailProto::Smtp,
            MailProtoKind::Imap => MailProto::Imap,
            MailProtoKind::Pop3 => MailProto::Pop3,
        });
        self.mail_source = Some(source);
        let _ = points.try_push(Point::Detect);
    }

    fn set_not_mail(&mut self, points: &mut Points) {
        self.parser = Parser::None;
        self.not_mail = true;
        self.phase = Phase::Done;
        let _ = points.try_push(Point::Detect);
    }

    fn on_step(&mut self, step: Step, points: &mut Points) {
        let in_clear = !self.has_tls;
        match step {
            Step::Continue => {}
            Step::Helo => {
                let _ = points.try_push(Point::Helo);
            }
            Step::Auth => {
                if in_clear {
                    self.cleartext_auth = true;
                }
                let _ = points.try_push(Point::Auth);
            }
            Step::MailFrom => {
                let _ = points.try_push(Point::MailFrom);
            }
            Step::TlsUpgrade => {
                let start = self.parsed.first().copied().unwrap_or(0);
                self.phase = Phase::Tls { start };
                let _ = points.try_push(Point::StartTls);
            }
            Step::Done => self.phase = Phase::Done,
        }
    }

    /// After implicit TLS, the mail protocol can come only from the port or ALPN.
    fn on_client_hello(&mut self, facts: &TlsFacts) {
        if self.mail.is_some() {
            return;
        }
        for alpn in facts.alpn.iter() {
            let kind = match alpn.as_bytes() {
                b"smtp" => MailProtoKind::Smtp,
                b"imap" => MailProtoKind::Imap,
                b"pop3" => MailProtoKind::Pop3,
                _ => continue,
            };
            let mut ignored = Points::new();
            self.set_mail(kind, MailProtoSource::Alpn, &mut ignored);
            return;
        }
    }

    /// Marks an implicit-TLS session on 465/993/995 as the protocol its port carries.
    pub fn set_mail_from_port(&mut self, proto: MailProto) {
        if self.mail.is_none() {
            self.mail = Some(proto);
            self.mail_source = Some(MailProtoSource::Port);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_gives_the_facts_of_a_fresh_session() {
        let mut used = SessionFacts {
            parser: Parser::Pop3(Pop3Session::new()),
            has_tls: true,
            has_socks: true,
            mail: Some(MailProto::Pop3),
            mail_source: Some(MailProtoSource::Content),
            not_mail: true,
            cleartext_auth: true,
            phase: Phase::Tls { start: 9 },
            parsed: [7, 8],
            probe_lines: [1, 2],
            probe_logged: 3,
            smtp_tentative: true,
            server_spent: true,
            tunnel_start: [4, 5],
            ..SessionFacts::default()
        };
        for midstream in [true, false] {
            used.reset(midstream);
            let fresh = SessionFacts { midstream, ..SessionFacts::default() };
            assert_eq!(format!("{used:?}"), format!("{fresh:?}"));
        }
    }
}
