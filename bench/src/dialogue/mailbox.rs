//! IMAP and POP3 dialogues: greetings with capabilities, CAPABILITY / CAPA,
//! cleartext LOGIN, AUTHENTICATE PLAIN, USER/PASS, AUTH PLAIN, mailbox work
//! (SELECT, SEARCH, FETCH; STAT, RETR, DELE), or STARTTLS / STLS followed by
//! a rustls ClientHello and an encrypted rest.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use mailgate_protocol::record::MailProto;
use rand::RngExt;

use super::Conv;
use crate::hello::{HelloError, HelloSpec};
use crate::hosts::Software;
use crate::truth::{Facts, MailboxFacts};

/// How an IMAP client names its commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagStyle {
    /// `1`, `2`, … (Thunderbird).
    Numbers,
    /// `A001`, `A002`, … (Outlook).
    Padded,
    /// `JNLK1`, `JNLK2`, … (Python imaplib: a fixed random prefix).
    Prefixed,
}

/// How a mailbox client logs in while in clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxLogin {
    /// IMAP `LOGIN user password` / POP3 `USER` + `PASS`.
    Plaintext {
        /// IMAP: quote user and password as strings.
        quoted: bool,
    },
    /// IMAP `AUTHENTICATE PLAIN` with SASL-IR / POP3 `AUTH PLAIN` with an initial response.
    SaslPlain,
}

/// A whole IMAP or POP3 dialogue.
#[derive(Debug, Clone)]
pub struct MailboxScript<'a> {
    /// The server's software (decides every server line).
    pub software: Software,
    /// Ask for capabilities (CAPABILITY / CAPA) first.
    pub capabilities_first: bool,
    /// STARTTLS / STLS with this ClientHello before logging in; the rest is encrypted.
    pub starttls: Option<HelloSpec<'a>>,
    /// How to log in (in clear, or inside TLS after STARTTLS); `None` =
    /// log out without logging in (a capability probe).
    pub login: Option<MailboxLogin>,
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// Messages waiting in the mailbox.
    pub waiting: u32,
    /// Fetch (and, for POP3, delete) the waiting messages.
    pub fetch: bool,
    /// Approximate size of each message.
    pub message_len: usize,
}

fn imap_capabilities(software: Software) -> &'static str {
    match software {
        Software::Postfix => "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN AUTH=LOGIN",
        Software::Exim => {
            "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE STARTTLS AUTH=PLAIN ACL ACL2=UNION"
        }
        Software::Exchange => "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+ STARTTLS",
    }
}

fn imap_greeting(software: Software) -> String {
    match software {
        Software::Postfix => format!("* OK [CAPABILITY {}] Dovecot (Debian) ready.\r\n", imap_capabilities(software)),
        Software::Exim => format!(
            "* OK [CAPABILITY {}] Courier-IMAP ready. Copyright 1998-2018 Double Precision, Inc.  See COPYING for distribution information.\r\n",
            imap_capabilities(software)
        ),
        Software::Exchange => "* OK The Microsoft Exchange IMAP4 service is ready.\r\n".to_string(),
    }
}

struct Tags {
    style: TagStyle,
    prefix: String,
    n: u32,
}

impl Tags {
    fn next(&mut self) -> String {
        self.n += 1;
        match self.style {
            TagStyle::Numbers => self.n.to_string(),
            TagStyle::Padded => format!("A{:03}", self.n),
            TagStyle::Prefixed => format!("{}{}", self.prefix, self.n),
        }
    }
}

/// Plays an IMAP dialogue; returns the facts it put in clear.
pub fn imap(conv: &mut Conv<'_>, script: &MailboxScript<'_>, tags: TagStyle) -> Result<Facts, HelloError> {
    let software = script.software;
    let prefix = super::token(conv.rng, 4).to_ascii_uppercase();
    let mut tags = Tags { style: tags, prefix, n: 0 };
    let mut facts = Facts {
        proto: Some(MailProto::Imap),
        proto_source: Some("content"),
        absent: vec!["smtp", "pop3"],
        ..Facts::default()
    };
    let mut mailbox = MailboxFacts::default();

    conv.server(&imap_greeting(software));
    if script.capabilities_first {
        let t = tags.next();
        conv.client(&format!("{t} CAPABILITY\r\n"));
        conv.server(&format!(
            "* CAPABILITY {}\r\n{t} OK Pre-login capabilities listed, post-login capabilities have more.\r\n",
            imap_capabilities(software)
        ));
    }
    if let Some(hello) = &script.starttls {
        let t = tags.next();
        conv.client(&format!("{t} STARTTLS\r\n"));
        conv.server(&format!("{t} OK Begin TLS negotiation now.\r\n"));
        facts.tls = Some(conv.tls_handshake(hello, false)?);
        mailbox.starttls = true;
        // LOGIN, SELECT, the fetches and LOGOUT, encrypted.
        if script.login.is_some() {
            conv.tls_client(script.user.len() + script.password.len() + 16);
            conv.tls_server(180);
            conv.tls_client(20);
            conv.tls_server(300);
            for _ in 0..fetched(script) {
                conv.tls_client(36);
                conv.tls_server(script.message_len + 60);
            }
        }
        conv.tls_client(12);
        conv.tls_server(50);
        conv.tls_close_by_client();
        facts.imap = Some(mailbox);
        return Ok(facts);
    }
    facts.absent.push("tls");

    if let Some(login) = script.login {
        imap_session(conv, script, login, &mut tags, &mut facts, &mut mailbox);
    }
    let t = tags.next();
    conv.client(&format!("{t} LOGOUT\r\n"));
    conv.server(&format!("* BYE Logging out\r\n{t} OK Logout completed (0.001 + 0.000 secs).\r\n"));
    conv.close_by_server();
    facts.imap = Some(mailbox);
    Ok(facts)
}

/// How many messages the client fetches.
fn fetched(script: &MailboxScript<'_>) -> u32 {
    if script.fetch {
        script.waiting
    } else {
        0
    }
}

/// Cleartext IMAP login, SELECT, SEARCH and the fetches.
fn imap_session(
    conv: &mut Conv<'_>,
    script: &MailboxScript<'_>,
    login: MailboxLogin,
    tags: &mut Tags,
    facts: &mut Facts,
    mailbox: &mut MailboxFacts,
) {
    let software = script.software;
    let t = tags.next();
    match login {
        MailboxLogin::Plaintext { quoted } => {
            if quoted {
                conv.client(&format!("{t} LOGIN \"{}\" \"{}\"\r\n", script.user, script.password));
            } else {
                conv.client(&format!("{t} LOGIN {} {}\r\n", script.user, script.password));
            }
            mailbox.auth_mech = Some("LOGIN".into());
        }
        MailboxLogin::SaslPlain => {
            let plain = B64.encode(format!("\0{}\0{}", script.user, script.password));
            conv.client(&format!("{t} AUTHENTICATE PLAIN {plain}\r\n"));
            facts.secrets.push(plain);
            mailbox.auth_mech = Some("PLAIN".into());
        }
    }
    conv.server(&match software {
        Software::Postfix => format!(
            "{t} OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SPECIAL-USE LITERAL+ NAMESPACE UIDPLUS MOVE] Logged in\r\n"
        ),
        Software::Exim => format!("{t} OK LOGIN Ok.\r\n"),
        Software::Exchange => format!("{t} OK AUTHENTICATE completed.\r\n"),
    });
    mailbox.user = Some(script.user.clone());
    facts.cleartext_auth = true;
    facts.secrets.push(script.password.clone());

    let t = tags.next();
    conv.client(&format!("{t} SELECT INBOX\r\n"));
    let uid_next = conv.rng.random_range(100..5_000u32);
    conv.server(&format!(
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n* {} EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1704067200] UIDs valid\r\n* OK [UIDNEXT {uid_next}] Predicted next UID\r\n{t} OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n",
        script.waiting
    ));
    let t = tags.next();
    conv.client(&format!("{t} UID SEARCH UNSEEN\r\n"));
    let first_uid = uid_next - script.waiting;
    let uids: Vec<String> = (first_uid..uid_next).map(|u| u.to_string()).collect();
    conv.server(&format!(
        "* SEARCH{}{}\r\n{t} OK Search completed (0.001 + 0.000 secs).\r\n",
        if uids.is_empty() { "" } else { " " },
        uids.join(" ")
    ));
    if script.fetch {
        for (seq, uid) in uids.iter().enumerate() {
            let t = tags.next();
            conv.client(&format!("{t} UID FETCH {uid} (BODY.PEEK[])\r\n"));
            let body = mail_text(conv, script.message_len);
            conv.server(&format!(
                "* {} FETCH (UID {uid} BODY[] {{{}}}\r\n{body})\r\n{t} OK Fetch completed (0.002 + 0.000 secs).\r\n",
                seq + 1,
                body.len()
            ));
        }
    }
}

fn pop3_greeting(software: Software) -> &'static str {
    match software {
        Software::Postfix => "+OK Dovecot (Debian) ready.\r\n",
        Software::Exim => "+OK Hello there.\r\n",
        Software::Exchange => "+OK The Microsoft Exchange POP3 service is ready.\r\n",
    }
}

fn pop3_capa(software: Software) -> &'static str {
    match software {
        Software::Postfix => "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n",
        Software::Exim => "+OK Here's what I can do:\r\nSTLS\r\nTOP\r\nUSER\r\nLOGIN-DELAY 10\r\nPIPELINING\r\nUIDL\r\nIMPLEMENTATION Courier Mail Server\r\nSASL PLAIN\r\n.\r\n",
        Software::Exchange => "+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN XOAUTH2\r\nUSER\r\nSTLS\r\n.\r\n",
    }
}

/// Plays a POP3 dialogue; returns the facts it put in clear.
pub fn pop3(conv: &mut Conv<'_>, script: &MailboxScript<'_>) -> Result<Facts, HelloError> {
    let software = script.software;
    let mut facts = Facts {
        proto: Some(MailProto::Pop3),
        proto_source: Some("content"),
        absent: vec!["smtp", "imap"],
        ..Facts::default()
    };
    let mut mailbox = MailboxFacts::default();

    conv.server(pop3_greeting(software));
    if script.capabilities_first {
        conv.client("CAPA\r\n");
        conv.server(pop3_capa(software));
    }
    if let Some(hello) = &script.starttls {
        conv.client("STLS\r\n");
        conv.server("+OK Begin TLS negotiation now.\r\n");
        facts.tls = Some(conv.tls_handshake(hello, false)?);
        mailbox.starttls = true;
        if script.login.is_some() {
            conv.tls_client(script.user.len() + 7);
            conv.tls_server(5);
            conv.tls_client(script.password.len() + 7);
            conv.tls_server(16);
            conv.tls_client(6);
            conv.tls_server(14);
            for _ in 0..fetched(script) {
                conv.tls_client(8);
                conv.tls_server(script.message_len + 24);
            }
        }
        conv.tls_client(6);
        conv.tls_server(18);
        conv.tls_close_by_client();
        facts.pop3 = Some(mailbox);
        return Ok(facts);
    }
    facts.absent.push("tls");

    if let Some(login) = script.login {
        pop3_session(conv, script, login, &mut facts, &mut mailbox);
    }
    conv.client("QUIT\r\n");
    conv.server("+OK Logging out.\r\n");
    conv.close_by_server();
    facts.pop3 = Some(mailbox);
    Ok(facts)
}

/// Cleartext POP3 login, STAT and the retrievals.
fn pop3_session(
    conv: &mut Conv<'_>,
    script: &MailboxScript<'_>,
    login: MailboxLogin,
    facts: &mut Facts,
    mailbox: &mut MailboxFacts,
) {
    let software = script.software;
    match login {
        MailboxLogin::Plaintext { .. } => {
            conv.client(&format!("USER {}\r\n", script.user));
            conv.server("+OK\r\n");
            conv.client(&format!("PASS {}\r\n", script.password));
            mailbox.auth_mech = Some("USER".into());
        }
        MailboxLogin::SaslPlain => {
            let plain = B64.encode(format!("\0{}\0{}", script.user, script.password));
            conv.client(&format!("AUTH PLAIN {plain}\r\n"));
            facts.secrets.push(plain);
            mailbox.auth_mech = Some("PLAIN".into());
        }
    }
    conv.server(match software {
        Software::Postfix => "+OK Logged in.\r\n",
        Software::Exim => "+OK logged in.\r\n",
        Software::Exchange => "+OK User successfully authenticated.\r\n",
    });
    mailbox.user = Some(script.user.clone());
    facts.cleartext_auth = true;
    facts.secrets.push(script.password.clone());

    conv.client("STAT\r\n");
    let sizes: Vec<usize> = (0..script.waiting).map(|_| script.message_len + conv.rng.random_range(0..400)).collect();
    conv.server(&format!("+OK {} {}\r\n", sizes.len(), sizes.iter().sum::<usize>()));
    if script.fetch {
        for n in 1..=sizes.len() {
            conv.client(&format!("RETR {n}\r\n"));
            let body = mail_text(conv, sizes[n - 1]);
            conv.server(&format!("+OK {} octets\r\n{body}.\r\n", body.len()));
            conv.client(&format!("DELE {n}\r\n"));
            conv.server("+OK Marked to be deleted.\r\n");
        }
    }
}

/// A stored message of about `len` bytes: headers and base64 lines (an
/// attachment, or a C2 task), CRLF-terminated, no line starting with a dot.
fn mail_text(conv: &mut Conv<'_>, len: usize) -> String {
    let mut text = format!(
        "Return-Path: <noreply@{}.example>\r\nSubject: {}\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n",
        super::token(conv.rng, 6).to_ascii_lowercase(),
        super::token(conv.rng, 10)
    );
    let mut raw = [0u8; 57];
    while text.len() < len {
        rand::Rng::fill_bytes(conv.rng, &mut raw);
        text.push_str(&B64.encode(raw));
        text.push_str("\r\n");
    }
    text
}
