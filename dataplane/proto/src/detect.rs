//! Telling which mail protocol, if any, a TCP session speaks, from its first
//! lines, on any port.
//!
//! The engine calls these on the first complete line of each direction (see
//! [`crate::line`]) and creates the matching session once a probe is
//! [`Probe::Certain`]; it then feeds that session every line, the probed ones
//! included. The only ambiguity that needs two lines is a bare `220` greeting,
//! which SMTP and FTP share: [`probe_server_line`] answers [`Probe::Unsure`]
//! for it, and [`probe_client_after_220`] settles it with the client's first
//! line (`EHLO` → SMTP, `USER`/`AUTH TLS`/`FEAT`… → not mail).

use crate::line::{contains_ignore_case, split_word, starts_with_ignore_case};

/// A mail protocol this crate parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailProtoKind {
    /// SMTP, ESMTP, submission and LMTP.
    Smtp,
    /// IMAP4.
    Imap,
    /// POP3.
    Pop3,
}

/// The verdict of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The line can only be this protocol.
    Certain(MailProtoKind),
    /// The line may be mail; look at the next line (of either side).
    Unsure,
    /// The line is not the start of a mail session.
    NotMail,
}

/// Words in a `220` greeting that only mail servers use (`ESMTP` contains `SMTP`).
const SMTP_GREETING_WORDS: &[&[u8]] = &[b"SMTP", b"LMTP", b"POSTFIX", b"EXIM", b"SENDMAIL", b"QMAIL"];

/// Commands only FTP clients send (RFC 959, 2228, 2389, 2428, 3659).
const FTP_ONLY_COMMANDS: &[&[u8]] = &[
    b"FEAT", b"SYST", b"PASV", b"EPSV", b"PORT", b"EPRT", b"TYPE", b"PWD", b"CWD", b"CDUP", b"OPTS", b"PBSZ", b"PROT",
    b"SITE", b"MDTM", b"STOR", b"STOU", b"APPE", b"NLST", b"MLSD", b"MLST", b"MKD", b"RMD", b"RNFR", b"RNTO", b"ABOR",
    b"ACCT", b"REIN", b"SMNT", b"ALLO", b"REST", b"CLNT", b"XPWD", b"XCWD",
];

/// Mechanisms of the FTP `AUTH` command (RFC 2228, 4217), which SASL never names.
const FTP_AUTH_MECHS: &[&[u8]] = &[b"TLS", b"SSL", b"TLS-C", b"TLS-P"];

/// Commands of SMTP (RFC 5321, 1869, 2033, 3207, 3030) that FTP has not.
const SMTP_ONLY_COMMANDS: &[&[u8]] =
    &[b"EHLO", b"HELO", b"LHLO", b"MAIL", b"RCPT", b"DATA", b"BDAT", b"STARTTLS", b"VRFY", b"EXPN", b"RSET"];

/// IMAP commands (RFC 9051 and extensions) that may come before or during login.
const IMAP_COMMANDS: &[&[u8]] = &[
    b"CAPABILITY",
    b"NOOP",
    b"LOGOUT",
    b"STARTTLS",
    b"AUTHENTICATE",
    b"LOGIN",
    b"ID",
    b"ENABLE",
    b"SELECT",
    b"EXAMINE",
    b"LIST",
    b"LSUB",
    b"STATUS",
    b"NAMESPACE",
    b"IDLE",
    b"COMPRESS",
    b"UID",
    b"FETCH",
    b"APPEND",
];

/// POP3 commands (RFC 1939, 2449, 2595, 5034) that no other protocol uses.
const POP3_ONLY_COMMANDS: &[&[u8]] = &[b"CAPA", b"STLS", b"APOP", b"UIDL", b"TOP"];

fn is_one_of(word: &[u8], set: &[&[u8]]) -> bool {
    set.iter().any(|w| word.eq_ignore_ascii_case(w))
}

/// A server reply line with a 3-digit code (SMTP, FTP): `(code, text)`.
/// The code must be followed by a space, a hyphen or the end of the line.
pub(crate) fn reply_code(line: &[u8]) -> Option<(u16, u8, &[u8])> {
    let digits = line.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = digits.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    match line.get(3) {
        None => Some((code, b' ', &[])),
        Some(&sep @ (b' ' | b'-')) => Some((code, sep, line.get(4..).unwrap_or_default())),
        Some(_) => None,
    }
}

/// True for an IMAP tag: 1 to 64 atom characters other than `+` (RFC 9051 §9).
pub(crate) fn is_imap_tag(tag: &[u8]) -> bool {
    (1..=64).contains(&tag.len()) && tag.iter().all(|&b| b.is_ascii_graphic() && !b"(){%*\"\\]+".contains(&b))
}

/// Classifies the first line a server sent.
///
/// `220 …` is SMTP only if it names a mail server (`ESMTP`, `Postfix`…);
/// FTP greets with `220` too, so a `220` that says `FTP` is [`Probe::NotMail`]
/// and any other `220` is [`Probe::Unsure`]. `* OK`, `* PREAUTH` and `* BYE`
/// are IMAP, `+OK` is POP3; `-ERR` is probably POP3 but unsure.
pub fn probe_server_line(line: &[u8]) -> Probe {
    let line = line.trim_ascii();
    if let Some((code, _, text)) = reply_code(line) {
        return if SMTP_GREETING_WORDS.iter().any(|w| contains_ignore_case(text, w)) {
            Probe::Certain(MailProtoKind::Smtp)
        } else if contains_ignore_case(text, b"FTP") {
            Probe::NotMail
        } else if matches!(code, 200..=599) {
            Probe::Unsure
        } else {
            Probe::NotMail
        };
    }
    let (first, rest) = split_word(line);
    if first == b"*" {
        let (status, _) = split_word(rest);
        return if is_one_of(status, &[b"OK", b"PREAUTH", b"BYE"]) {
            Probe::Certain(MailProtoKind::Imap)
        } else {
            Probe::NotMail
        };
    }
    if first.eq_ignore_ascii_case(b"+OK") {
        return Probe::Certain(MailProtoKind::Pop3);
    }
    if first.eq_ignore_ascii_case(b"-ERR") {
        return Probe::Unsure;
    }
    Probe::NotMail
}

/// Classifies the first line a client sent, without knowing the greeting.
///
/// `EHLO`/`HELO`/`LHLO` are SMTP; a tag followed by an IMAP command is IMAP;
/// `CAPA`, `STLS`, `APOP`, `UIDL`, `TOP` are POP3. `USER`, `PASS`, `STAT`,
/// `AUTH <SASL mechanism>`, `QUIT`… are [`Probe::Unsure`]: POP3 and SMTP share
/// some, FTP shares `USER`/`PASS`/`STAT`; the server's reply decides.
/// FTP-only commands (`FEAT`, `SYST`, `AUTH TLS`…) are [`Probe::NotMail`].
pub fn probe_client_line(line: &[u8]) -> Probe {
    let line = line.trim_ascii();
    let (verb, args) = split_word(line);
    if is_one_of(verb, &[b"EHLO", b"HELO", b"LHLO"]) {
        return Probe::Certain(MailProtoKind::Smtp);
    }
    if is_one_of(verb, POP3_ONLY_COMMANDS) {
        return Probe::Certain(MailProtoKind::Pop3);
    }
    if is_ftp_command(verb, args) {
        return Probe::NotMail;
    }
    if is_imap_command(verb, args) {
        return Probe::Certain(MailProtoKind::Imap);
    }
    if is_one_of(verb, &[b"USER", b"PASS", b"STAT", b"AUTH", b"QUIT", b"NOOP", b"RSET", b"LIST", b"RETR", b"DELE"])
        || is_one_of(verb, SMTP_ONLY_COMMANDS)
    {
        return Probe::Unsure;
    }
    Probe::NotMail
}

/// Classifies the client's first line after a `220` greeting that
/// [`probe_server_line`] found [`Probe::Unsure`] (SMTP or FTP).
///
/// SMTP commands FTP has not (`EHLO`, `MAIL`, `STARTTLS`…) make it SMTP; FTP
/// commands (`USER`, `PASS`, `AUTH TLS`, `FEAT`, `SYST`…) make it not mail;
/// commands both have (`QUIT`, `NOOP`, `HELP`, `AUTH GSSAPI`) stay unsure.
pub fn probe_client_after_220(line: &[u8]) -> Probe {
    let (verb, args) = split_word(line.trim_ascii());
    if is_one_of(verb, SMTP_ONLY_COMMANDS) {
        Probe::Certain(MailProtoKind::Smtp)
    } else if is_one_of(verb, &[b"USER", b"PASS", b"STAT", b"LIST", b"RETR", b"DELE"]) || is_ftp_command(verb, args) {
        Probe::NotMail
    } else if is_one_of(verb, &[b"AUTH", b"QUIT", b"NOOP", b"HELP"]) {
        Probe::Unsure
    } else {
        Probe::NotMail
    }
}

fn is_ftp_command(verb: &[u8], args: &[u8]) -> bool {
    is_one_of(verb, FTP_ONLY_COMMANDS)
        || (verb.eq_ignore_ascii_case(b"AUTH") && is_one_of(split_word(args).0, FTP_AUTH_MECHS))
}

/// `<tag> <IMAP command> …`, with the argument count the command needs so
/// that `AUTH LOGIN` (SMTP, POP3) is not read as the tag `AUTH` + `LOGIN`.
fn is_imap_command(tag: &[u8], args: &[u8]) -> bool {
    if !is_imap_tag(tag) {
        return false;
    }
    let (command, rest) = split_word(args);
    if !is_one_of(command, IMAP_COMMANDS) {
        return false;
    }
    let argc = count_words(rest);
    if command.eq_ignore_ascii_case(b"LOGIN") {
        argc >= 2
    } else if is_one_of(command, &[b"CAPABILITY", b"NOOP", b"LOGOUT", b"STARTTLS", b"NAMESPACE", b"IDLE"]) {
        argc == 0
    } else {
        argc >= 1
    }
}

fn count_words(s: &[u8]) -> usize {
    s.split(u8::is_ascii_whitespace).filter(|w| !w.is_empty()).count()
}

/// SMTP service extensions (RFC 5321 and its extensions) that only an
/// SMTP server lists in a reply line.
const SMTP_EXTENSIONS: &[&[u8]] = &[
    b"AUTH",
    b"STARTTLS",
    b"PIPELINING",
    b"SIZE",
    b"8BITMIME",
    b"ENHANCEDSTATUSCODES",
    b"DSN",
    b"CHUNKING",
    b"SMTPUTF8",
    b"BINARYMIME",
    b"DELIVERBY",
    b"ETRN",
];

/// Is this server line one only SMTP sends: a reply (`250-…`/`250 …`)
/// naming an SMTP service extension, or carrying an RFC 3463 enhanced status
/// code (`235 2.7.0 …`)? For sessions picked up after the greeting, where a
/// bare 3-digit reply could be FTP as well.
pub fn is_smtp_extension_reply(line: &[u8]) -> bool {
    let (code, rest) = match (line.get(..3), line.get(3), line.get(4..)) {
        (Some(code), Some(b' ' | b'-'), Some(rest)) => (code, rest),
        _ => return false,
    };
    let reply_code = code.iter().all(u8::is_ascii_digit) && matches!(code.first(), Some(b'2'..=b'5'));
    if !reply_code {
        return false;
    }
    let (word, _) = split_word(rest.trim_ascii());
    let word = word.split(|b| *b == b'=').next().unwrap_or(word);
    if is_one_of(word, SMTP_EXTENSIONS) {
        return true;
    }
    // An enhanced status code: class.subject.detail, the class matching the reply's.
    let mut parts = word.split(|b| *b == b'.');
    let (Some(class), Some(subject), Some(detail), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    class.len() == 1
        && class.first() == code.first()
        && (1..=3).contains(&subject.len())
        && (1..=3).contains(&detail.len())
        && subject.iter().chain(detail).all(u8::is_ascii_digit)
}

/// For a session picked up mid-stream: does this line look like a server
/// reply (SMTP/FTP 3-digit code, IMAP untagged `* `, tagged `<tag> OK|NO|BAD`,
/// continuation `+`, POP3 `+OK`/`-ERR`) rather than a client command? The
/// engine uses it to tell which side is the server when the SYN was missed.
pub fn looks_like_server_line(line: &[u8]) -> bool {
    let line = line.trim_ascii();
    if reply_code(line).is_some() {
        return true;
    }
    if line == b"*" || line.starts_with(b"* ") || line == b"+" || line.starts_with(b"+ ") {
        return true;
    }
    if starts_with_ignore_case(line, b"+OK") || starts_with_ignore_case(line, b"-ERR") {
        return true;
    }
    let (tag, rest) = split_word(line);
    let (status, _) = split_word(rest);
    is_imap_tag(tag) && is_one_of(status, &[b"OK", b"NO", b"BAD"])
}

/// Bytes a server's first line looks at to be a text protocol's.
const TEXT_PREFIX: usize = 4;

/// Do a server's first bytes rule out every mail protocol? SMTP, IMAP and
/// POP3 servers greet with printable ASCII (`220`, `* OK`, `+OK`), so a
/// control or non-ASCII byte among the first few says "not mail" without
/// waiting for a line end that a binary protocol may never send. Only for a
/// stream seen from its start (a session picked up mid-stream may be in a
/// message body, where 8-bit text is allowed).
pub fn server_start_is_binary(start: &[u8]) -> bool {
    start.iter().take(TEXT_PREFIX).any(|&b| !(b == b'\t' || b == b'\r' || b == b'\n' || (b' '..=b'~').contains(&b)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use MailProtoKind::*;

    #[test]
    fn greetings_are_text_and_binary_servers_are_not_mail() {
        for greeting in
            [&b"220 mx.example.test ESMTP\r\n"[..], b"* OK [CAPABILITY IMAP4rev1] ready\r\n", b"+OK", b"2", b"\r\n220"]
        {
            assert!(!server_start_is_binary(greeting), "{}", String::from_utf8_lossy(greeting));
        }
        // MySQL's greeting, a TLS ServerHello, a NUL, UTF-8 in the first bytes.
        for binary in [&b"\x4a\x00\x00\x00\x0a8.0"[..], b"\x16\x03\x03\x00\x7a", b"22\x000", "220é".as_bytes()] {
            assert!(server_start_is_binary(binary), "{binary:?}");
        }
        // Only the first bytes count: a later byte may be anything.
        assert!(!server_start_is_binary(b"220 \xff\xfe"));
    }

    #[test]
    fn smtp_only_replies_prove_smtp_mid_stream() {
        for line in
            [&b"250-AUTH PLAIN LOGIN"[..], b"250 STARTTLS", b"250-SIZE 10240000", b"235 2.7.0 ok", b"550 5.1.1 no"]
        {
            assert!(is_smtp_extension_reply(line), "{}", String::from_utf8_lossy(line));
        }
        for line in [&b"250 ok"[..], b"250-mx.corp.test", b"230 User logged in", b"235 5.7.0 mismatch", b"* OK", b"25"]
        {
            assert!(!is_smtp_extension_reply(line), "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn server_greetings() {
        assert_eq!(probe_server_line(b"220 mx.google.com ESMTP s4si9696358qcc.63 - gsmtp"), Probe::Certain(Smtp));
        assert_eq!(probe_server_line(b"220-xc90.websitewelcome.com ESMTP Exim 4.69"), Probe::Certain(Smtp));
        assert_eq!(probe_server_line(b"220 example.com LMTP ready"), Probe::Certain(Smtp));
        assert_eq!(probe_server_line(b"220 host Postfix"), Probe::Certain(Smtp));
        assert_eq!(probe_server_line(b"554 5.7.1 ESMTP not accepting"), Probe::Certain(Smtp));
        assert_eq!(probe_server_line(b"220 f"), Probe::Unsure);
        assert_eq!(probe_server_line(b"220"), Probe::Unsure);
        assert_eq!(probe_server_line(b"220 ProFTPD Server ready"), Probe::NotMail);
        assert_eq!(probe_server_line(b"220 (vsFTPd 3.0.3)"), Probe::NotMail);
        assert_eq!(probe_server_line(b"* OK IMAP4rev1 ready"), Probe::Certain(Imap));
        assert_eq!(probe_server_line(b"* ok [CAPABILITY IMAP4rev1] hi"), Probe::Certain(Imap));
        assert_eq!(probe_server_line(b"* PREAUTH welcome"), Probe::Certain(Imap));
        assert_eq!(probe_server_line(b"+OK POP3 ready"), Probe::Certain(Pop3));
        assert_eq!(probe_server_line(b"+ok"), Probe::Certain(Pop3));
        assert_eq!(probe_server_line(b"-ERR too many"), Probe::Unsure);
        assert_eq!(probe_server_line(b"SSH-2.0-OpenSSH_9.2"), Probe::NotMail);
        assert_eq!(probe_server_line(b"HTTP/1.1 200 OK"), Probe::NotMail);
        assert_eq!(probe_server_line(b"2200 x"), Probe::NotMail);
        assert_eq!(probe_server_line(b"* 1 EXISTS"), Probe::NotMail);
        assert_eq!(probe_server_line(b""), Probe::NotMail);
    }

    #[test]
    fn client_first_lines() {
        assert_eq!(probe_client_line(b"eHlO client"), Probe::Certain(Smtp));
        assert_eq!(probe_client_line(b"  HELO x  "), Probe::Certain(Smtp));
        assert_eq!(probe_client_line(b"LHLO x"), Probe::Certain(Smtp));
        assert_eq!(probe_client_line(b"EHLO"), Probe::Certain(Smtp));
        assert_eq!(probe_client_line(b"a001 CAPABILITY"), Probe::Certain(Imap));
        assert_eq!(probe_client_line(b". capability"), Probe::Certain(Imap));
        assert_eq!(probe_client_line(b"a LOGIN user pass"), Probe::Certain(Imap));
        assert_eq!(probe_client_line(b"A1 AUTHENTICATE PLAIN"), Probe::Certain(Imap));
        assert_eq!(probe_client_line(b"x ID (\"name\" \"mutt\")"), Probe::Certain(Imap));
        assert_eq!(probe_client_line(b"CAPA"), Probe::Certain(Pop3));
        assert_eq!(probe_client_line(b"stls"), Probe::Certain(Pop3));
        assert_eq!(probe_client_line(b"APOP mrose c4c9334bac560ecc979e58001b3e22fb"), Probe::Certain(Pop3));
        // Shared with other protocols: the reply decides.
        assert_eq!(probe_client_line(b"USER bob"), Probe::Unsure);
        assert_eq!(probe_client_line(b"AUTH PLAIN"), Probe::Unsure);
        assert_eq!(probe_client_line(b"AUTH LOGIN"), Probe::Unsure);
        assert_eq!(probe_client_line(b"AUTH LOGIN dXNlcg=="), Probe::Unsure);
        assert_eq!(probe_client_line(b"STAT"), Probe::Unsure);
        // FTP only.
        assert_eq!(probe_client_line(b"AUTH TLS"), Probe::NotMail);
        assert_eq!(probe_client_line(b"FEAT"), Probe::NotMail);
        assert_eq!(probe_client_line(b"SYST"), Probe::NotMail);
        // Not mail at all.
        assert_eq!(probe_client_line(b"GET / HTTP/1.1"), Probe::NotMail);
        assert_eq!(probe_client_line(b"a NOOP extra"), Probe::NotMail);
        assert_eq!(probe_client_line(b"\x16\x03\x01\x02\x00\x01"), Probe::NotMail);
        assert_eq!(probe_client_line(b""), Probe::NotMail);
    }

    #[test]
    fn a_220_greeting_followed_by_ftp_commands_is_not_mail() {
        assert_eq!(probe_client_after_220(b"AUTH TLS"), Probe::NotMail);
        assert_eq!(probe_client_after_220(b"auth ssl"), Probe::NotMail);
        assert_eq!(probe_client_after_220(b"USER anonymous"), Probe::NotMail);
        assert_eq!(probe_client_after_220(b"FEAT"), Probe::NotMail);
        assert_eq!(probe_client_after_220(b"SYST"), Probe::NotMail);
        assert_eq!(probe_client_after_220(b"EHLO client"), Probe::Certain(Smtp));
        assert_eq!(probe_client_after_220(b"STARTTLS"), Probe::Certain(Smtp));
        assert_eq!(probe_client_after_220(b"MAIL FROM:<a@b>"), Probe::Certain(Smtp));
        assert_eq!(probe_client_after_220(b"QUIT"), Probe::Unsure);
        assert_eq!(probe_client_after_220(b"AUTH GSSAPI"), Probe::Unsure);
    }

    #[test]
    fn server_lines_versus_commands() {
        for server in [
            &b"250-PIPELINING"[..],
            b"354 go ahead",
            b"220",
            b"* OK ready",
            b"* 1 EXISTS",
            b"+ ",
            b"+",
            b"+OK",
            b"-ERR no",
            b"a001 OK LOGIN completed",
            b". no [ALERT] nope",
        ] {
            assert!(looks_like_server_line(server), "{:?}", String::from_utf8_lossy(server));
        }
        for client in
            [&b"EHLO x"[..], b"MAIL FROM:<a@b>", b"a001 LOGIN bob pw", b"USER bob", b"AHVzZXIAcGFzcw==", b"CAPA", b""]
        {
            assert!(!looks_like_server_line(client), "{:?}", String::from_utf8_lossy(client));
        }
    }

    proptest::proptest! {
        #[test]
        fn probes_never_panic(line in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = probe_server_line(&line);
            let _ = probe_client_line(&line);
            let _ = probe_client_after_220(&line);
            let _ = looks_like_server_line(&line);
        }
    }
}
