//! Realistic application dialogues written onto [`TcpSession`]s: what
//! clients and servers of each protocol say, with the timing between their
//! turns, and the facts ([`Facts`]) a correct inspection must find in them.

pub mod mailbox;
pub mod smtp;
pub mod web;

use rand::rngs::ChaCha8Rng;
use rand::RngExt;

use crate::hello::{HelloError, HelloMaker, HelloSpec};
use crate::records;
use crate::synth::{Dir, TcpSession};
use crate::truth::{Facts, TlsFacts};

/// Prefix of every password the generator puts in a dialogue, so tests can
/// search records for leaked credentials.
pub const PASSWORD_PREFIX: &str = "Pw-secret-";

/// A session being scripted, with the flow's generator.
pub struct Conv<'a> {
    /// The session the dialogue is written onto.
    pub session: TcpSession,
    /// The flow's generator (every random choice of the flow comes from it).
    pub rng: &'a mut ChaCha8Rng,
    /// Makes the flow's ClientHellos.
    pub hello: &'a HelloMaker,
}

impl Conv<'_> {
    /// The client sends `text` after a short think time.
    pub fn client(&mut self, text: &str) {
        let think = self.rng.random_range(50..1_500);
        self.client_after(think, text.as_bytes());
    }

    /// The client sends `bytes` after `think_us`.
    pub fn client_after(&mut self, think_us: u64, bytes: &[u8]) {
        self.session.pause(think_us);
        self.session.send(Dir::ToServer, bytes);
    }

    /// The server answers with `text` after its processing time.
    pub fn server(&mut self, text: &str) {
        let processing = self.rng.random_range(100..3_000);
        self.server_after(processing, text.as_bytes());
    }

    /// The server sends `bytes` after `processing_us`.
    pub fn server_after(&mut self, processing_us: u64, bytes: &[u8]) {
        self.session.pause(processing_us);
        self.session.send(Dir::ToClient, bytes);
    }

    /// A pause of `lo_ms..hi_ms` milliseconds (a user, a timer).
    pub fn idle_ms(&mut self, lo_ms: u64, hi_ms: u64) {
        let us = self.rng.random_range(lo_ms * 1000..hi_ms * 1000);
        self.session.pause(us);
    }

    /// The client's ClientHello (made by rustls), the server's flight and the
    /// client's Finished; returns what the ClientHello carries.
    pub fn tls_handshake(&mut self, spec: &HelloSpec<'_>, implicit: bool) -> Result<TlsFacts, HelloError> {
        let mut seed = [0u8; 32];
        rand::Rng::fill_bytes(self.rng, &mut seed);
        let hello = self.hello.client_hello(spec, seed)?;
        let hello_segments = hello.len().div_ceil(self.session.max_payload()) as u32;
        let think = self.rng.random_range(200..2_000);
        self.client_after(think, &hello);
        let flight = records::server_flight(&hello, spec.post_quantum, self.rng);
        let processing = self.rng.random_range(500..4_000);
        self.server_after(processing, &flight);
        let finished = records::client_finished(self.rng);
        let think = self.rng.random_range(300..2_500);
        self.client_after(think, &finished);
        Ok(TlsFacts {
            implicit,
            sni: spec.server_name.map(str::to_string),
            alpn: spec.alpn.iter().map(|p| p.to_string()).collect(),
            hello_segments,
        })
    }

    /// An encrypted record of `plaintext_len` bytes from the client.
    pub fn tls_client(&mut self, plaintext_len: usize) {
        let data = records::application_data(plaintext_len, self.rng);
        let think = self.rng.random_range(50..1_500);
        self.client_after(think, &data);
    }

    /// An encrypted record of `plaintext_len` bytes from the server.
    pub fn tls_server(&mut self, plaintext_len: usize) {
        let data = records::application_data(plaintext_len, self.rng);
        let processing = self.rng.random_range(100..3_000);
        self.server_after(processing, &data);
    }

    /// close_notify from the client, then the client closes the connection.
    pub fn tls_close_by_client(&mut self) {
        let alert = records::close_notify(self.rng);
        self.client_after(100, &alert);
        self.session.close(Dir::ToServer);
    }

    /// The client closes the connection.
    pub fn close_by_client(&mut self) {
        self.session.pause(self.rng.random_range(50..500));
        self.session.close(Dir::ToServer);
    }

    /// The server closes the connection (as SMTP and POP3 servers do after QUIT).
    pub fn close_by_server(&mut self) {
        self.session.pause(self.rng.random_range(50..500));
        self.session.close(Dir::ToClient);
    }
}

/// A password the tests can recognise: [`PASSWORD_PREFIX`] and 12 random letters and digits.
pub fn password(rng: &mut ChaCha8Rng) -> String {
    format!("{PASSWORD_PREFIX}{}", token(rng, 12))
}

/// `len` random letters and digits.
pub fn token(rng: &mut ChaCha8Rng, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    (0..len).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
}

/// Picks one of `items`.
pub fn pick<'t, T>(rng: &mut ChaCha8Rng, items: &'t [T]) -> &'t T {
    &items[rng.random_range(0..items.len())]
}

/// Facts for a session that carries no mail protocol: the mail objects of
/// its record (if it gets one) must be null.
pub fn non_mail_facts() -> Facts {
    Facts { absent: vec!["smtp", "imap", "pop3"], ..Facts::default() }
}
