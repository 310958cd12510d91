//! SMTP and submission dialogues: greeting, EHLO/HELO and the multi-line
//! reply, cleartext AUTH (PLAIN with or without initial response, LOGIN),
//! or STARTTLS followed by a rustls ClientHello and an encrypted rest;
//! envelopes and messages, pipelined when the server offers PIPELINING.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use mailgate_protocol::record::MailProto;
use rand::RngExt;

use super::{pick, Conv};
use crate::hello::{HelloError, HelloSpec};
use crate::hosts::Software;
use crate::truth::{Facts, SmtpFacts};

/// The server side of an SMTP dialogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmtpServer<'a> {
    /// Its host name (in the greeting and EHLO reply).
    pub name: &'a str,
    /// What it runs.
    pub software: Software,
    /// Whether it offers STARTTLS.
    pub starttls: bool,
    /// SASL mechanisms it offers before TLS (empty = no AUTH line).
    pub auth: &'a [&'a str],
}

/// How the client authenticates in clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpAuth {
    /// No AUTH.
    None,
    /// AUTH PLAIN; `initial` = credentials on the AUTH line (else after `334 `).
    Plain {
        /// Send the initial response on the AUTH line.
        initial: bool,
    },
    /// AUTH LOGIN with the `334 VXNlcm5hbWU6` / `334 UGFzc3dvcmQ6` prompts.
    Login,
}

/// A whole SMTP dialogue.
#[derive(Debug, Clone)]
pub struct SmtpScript<'a> {
    /// The server.
    pub server: SmtpServer<'a>,
    /// `EHLO` or `HELO`.
    pub verb: &'a str,
    /// The client's HELO name.
    pub helo: String,
    /// The client's address as the server's EHLO reply quotes it.
    pub client_ip: String,
    /// Cleartext authentication.
    pub auth: SmtpAuth,
    /// User name for AUTH.
    pub user: String,
    /// Password for AUTH.
    pub password: String,
    /// STARTTLS with this ClientHello right after the EHLO reply; everything
    /// after it is encrypted.
    pub starttls: Option<HelloSpec<'a>>,
    /// Messages to send (0 = EHLO and QUIT only).
    pub messages: u32,
    /// Envelope sender.
    pub from: String,
    /// Envelope recipients.
    pub to: Vec<String>,
    /// Approximate size of each message.
    pub message_len: usize,
    /// The message's subject.
    pub subject: String,
    /// The date the server's greeting and the message carry (RFC 2822).
    pub date: String,
}

/// The 220 greeting's text (after `220 `).
pub fn banner(server: &SmtpServer<'_>, date: &str) -> String {
    match server.software {
        Software::Postfix => format!("{} ESMTP Postfix (Debian/GNU)", server.name),
        Software::Exim => format!("{} ESMTP Exim 4.96 {date}", server.name),
        Software::Exchange => format!("{} Microsoft ESMTP MAIL Service ready at {date}", server.name),
    }
}

/// The multi-line 250 reply to EHLO.
pub fn ehlo_reply(server: &SmtpServer<'_>, helo: &str, client_ip: &str) -> String {
    let first = match server.software {
        Software::Postfix => server.name.to_string(),
        Software::Exim => format!("{} Hello {helo} [{client_ip}]", server.name),
        Software::Exchange => format!("{} Hello [{client_ip}]", server.name),
    };
    let auth = (!server.auth.is_empty()).then(|| format!("AUTH {}", server.auth.join(" ")));
    let starttls = server.starttls.then(|| "STARTTLS".to_string());
    let mut lines: Vec<String> = vec![first];
    let mut add = |items: &[&str]| lines.extend(items.iter().map(|s| s.to_string()));
    match server.software {
        Software::Postfix => {
            add(&["PIPELINING", "SIZE 10240000", "VRFY", "ETRN"]);
            lines.extend(starttls);
            lines.extend(auth);
            lines.extend(["ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"].map(String::from));
        }
        Software::Exim => {
            add(&["SIZE 52428800", "8BITMIME", "PIPELINING"]);
            lines.extend(auth);
            lines.push("CHUNKING".into());
            lines.extend(starttls);
            lines.extend(["PRDR", "HELP"].map(String::from));
        }
        Software::Exchange => {
            add(&["SIZE 37748736", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES"]);
            lines.extend(starttls);
            lines.extend(auth);
            lines.extend(["8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8"].map(String::from));
        }
    }
    let last = lines.len() - 1;
    lines.iter().enumerate().map(|(i, l)| format!("250{}{l}\r\n", if i == last { ' ' } else { '-' })).collect()
}

fn reply(software: Software, what: &str) -> &'static str {
    match (software, what) {
        (Software::Postfix, "auth") => "235 2.7.0 Authentication successful\r\n",
        (Software::Exim, "auth") => "235 Authentication succeeded\r\n",
        (Software::Exchange, "auth") => "235 2.7.0 Authentication successful\r\n",
        (Software::Postfix, "mail") => "250 2.1.0 Ok\r\n",
        (Software::Exim, "mail") => "250 OK\r\n",
        (Software::Exchange, "mail") => "250 2.1.0 Sender OK\r\n",
        (Software::Postfix, "rcpt") => "250 2.1.5 Ok\r\n",
        (Software::Exim, "rcpt") => "250 Accepted\r\n",
        (Software::Exchange, "rcpt") => "250 2.1.5 Recipient OK\r\n",
        (Software::Postfix, "data") => "354 End data with <CR><LF>.<CR><LF>\r\n",
        (Software::Exim, "data") => "354 Enter message, ending with \".\" on a line by itself\r\n",
        (Software::Exchange, "data") => "354 Start mail input; end with <CRLF>.<CRLF>\r\n",
        (Software::Postfix, "starttls") => "220 2.0.0 Ready to start TLS\r\n",
        (Software::Exim, "starttls") => "220 TLS go ahead\r\n",
        (Software::Exchange, "starttls") => "220 2.0.0 SMTP server ready\r\n",
        (Software::Postfix, _) => "221 2.0.0 Bye\r\n",
        (Software::Exim, _) => "221 closing connection\r\n",
        (Software::Exchange, _) => "221 2.0.0 Service closing transmission channel\r\n",
    }
}

fn queued(conv: &mut Conv<'_>, software: Software) -> String {
    let id = super::token(conv.rng, 10);
    match software {
        Software::Postfix => format!("250 2.0.0 Ok: queued as {}\r\n", id.to_ascii_uppercase()),
        Software::Exim => format!("250 OK id=1t{}-000{}\r\n", &id[..4], &id[4..]),
        Software::Exchange => format!("250 2.6.0 <{id}@mail.local> Queued mail for delivery\r\n"),
    }
}

/// Plays `script` on `conv`; returns the facts it put in clear.
pub fn run(conv: &mut Conv<'_>, script: &SmtpScript<'_>) -> Result<Facts, HelloError> {
    let server = &script.server;
    let software = server.software;
    let banner = banner(server, &script.date);
    conv.server(&format!("220 {banner}\r\n"));
    conv.client(&format!("{} {}\r\n", script.verb, script.helo));
    let ehlo = script.verb.eq_ignore_ascii_case("EHLO");
    if ehlo {
        conv.server(&ehlo_reply(server, &script.helo, &script.client_ip));
    } else {
        conv.server(&format!("250 {}\r\n", server.name));
    }
    let mut smtp = SmtpFacts {
        helo_verb: script.verb.to_ascii_uppercase(),
        helo: script.helo.clone(),
        banner,
        auth_mechs_offered: if ehlo { server.auth.iter().map(|m| m.to_string()).collect() } else { Vec::new() },
        starttls_offered: ehlo && server.starttls,
        ..SmtpFacts::default()
    };
    let mut facts = Facts {
        proto: Some(MailProto::Smtp),
        proto_source: Some("content"),
        absent: vec!["imap", "pop3"],
        ..Facts::default()
    };

    if let Some(hello) = &script.starttls {
        conv.client("STARTTLS\r\n");
        conv.server(reply(software, "starttls"));
        facts.tls = Some(conv.tls_handshake(hello, false)?);
        smtp.starttls = true;
        encrypted_rest(conv, script);
        facts.smtp = Some(smtp);
        return Ok(facts);
    }
    facts.absent.push("tls");

    let plain = B64.encode(format!("\0{}\0{}", script.user, script.password));
    match script.auth {
        SmtpAuth::None => {}
        SmtpAuth::Plain { initial: true } => {
            conv.client(&format!("AUTH PLAIN {plain}\r\n"));
            conv.server(reply(software, "auth"));
        }
        SmtpAuth::Plain { initial: false } => {
            conv.client("AUTH PLAIN\r\n");
            conv.server("334 \r\n");
            conv.client(&format!("{plain}\r\n"));
            conv.server(reply(software, "auth"));
        }
        SmtpAuth::Login => {
            let user = B64.encode(&script.user);
            let password = B64.encode(&script.password);
            conv.client("AUTH LOGIN\r\n");
            conv.server("334 VXNlcm5hbWU6\r\n");
            conv.client(&format!("{user}\r\n"));
            conv.server("334 UGFzc3dvcmQ6\r\n");
            conv.client(&format!("{password}\r\n"));
            conv.server(reply(software, "auth"));
            facts.secrets.push(password);
        }
    }
    if script.auth != SmtpAuth::None {
        smtp.auth_mech = Some(
            match script.auth {
                SmtpAuth::Login => "LOGIN",
                _ => "PLAIN",
            }
            .to_string(),
        );
        smtp.user = Some(script.user.clone());
        facts.cleartext_auth = true;
        facts.secrets.push(script.password.clone());
        if matches!(script.auth, SmtpAuth::Plain { .. }) {
            facts.secrets.push(plain);
        }
    }

    let pipelining = ehlo && conv.rng.random_bool(0.5);
    for _ in 0..script.messages {
        let envelope_from = format!("MAIL FROM:<{}>\r\n", script.from);
        let rcpts: Vec<String> = script.to.iter().map(|t| format!("RCPT TO:<{t}>\r\n")).collect();
        if pipelining {
            conv.client(&format!("{envelope_from}{}DATA\r\n", rcpts.concat()));
            let mut answer = reply(software, "mail").to_string();
            answer.extend(rcpts.iter().map(|_| reply(software, "rcpt")));
            answer.push_str(reply(software, "data"));
            conv.server(&answer);
        } else {
            conv.client(&envelope_from);
            conv.server(reply(software, "mail"));
            for rcpt in &rcpts {
                conv.client(rcpt);
                conv.server(reply(software, "rcpt"));
            }
            conv.client("DATA\r\n");
            conv.server(reply(software, "data"));
        }
        let body = message(conv, script);
        conv.client(&body);
        let q = queued(conv, software);
        conv.server(&q);
        smtp.mail_from.get_or_insert_with(|| script.from.clone());
        facts.cleartext_mail_from = true;
    }
    conv.client("QUIT\r\n");
    conv.server(reply(software, "quit"));
    conv.close_by_server();
    facts.smtp = Some(smtp);
    Ok(facts)
}

/// After STARTTLS: EHLO again, AUTH if any, the messages and QUIT, all as
/// encrypted records of the sizes the cleartext would have.
fn encrypted_rest(conv: &mut Conv<'_>, script: &SmtpScript<'_>) {
    conv.tls_client(script.helo.len() + 7);
    conv.tls_server(220);
    if script.auth != SmtpAuth::None {
        conv.tls_client(12 + 4 * (script.user.len() + script.password.len() + 4) / 3);
        conv.tls_server(36);
    }
    for _ in 0..script.messages {
        conv.tls_client(40 + script.to.len() * 30 + 6);
        conv.tls_server(20 + script.to.len() * 20 + 40);
        let len = script.message_len + conv.rng.random_range(200..600);
        conv.tls_client(len);
        conv.tls_server(48);
    }
    conv.tls_client(6);
    conv.tls_server(20);
    conv.tls_close_by_client();
}

/// A message with headers and a body of about `script.message_len` bytes,
/// ending with the `.` line.
fn message(conv: &mut Conv<'_>, script: &SmtpScript<'_>) -> String {
    const WORDS: &[&str] = &[
        "quarterly",
        "report",
        "attached",
        "please",
        "review",
        "the",
        "numbers",
        "before",
        "friday",
        "meeting",
        "thanks",
        "regards",
        "invoice",
        "schedule",
        "update",
        "project",
        "status",
        "draft",
        "agenda",
        "notes",
    ];
    let id = super::token(conv.rng, 16);
    let domain = script.from.split('@').nth(1).unwrap_or("localhost");
    let mut text = format!(
        "Date: {}\r\nFrom: <{}>\r\nTo: {}\r\nSubject: {}\r\nMessage-ID: <{id}@{domain}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
        script.date,
        script.from,
        script.to.iter().map(|t| format!("<{t}>")).collect::<Vec<_>>().join(", "),
        script.subject,
    );
    let mut line = String::new();
    while text.len() + line.len() < script.message_len {
        let word: &&str = pick(conv.rng, WORDS);
        line.push_str(word);
        if line.len() > 70 {
            text.push_str(&line);
            text.push_str("\r\n");
            line.clear();
        } else {
            line.push(' ');
        }
    }
    text.push_str(&line);
    text.push_str("\r\n.\r\n");
    text
}
