//! The TLS 1.3 records that follow a ClientHello, as they look on the wire:
//! the server's flight (a ServerHello in clear, then ChangeCipherSpec and
//! encrypted handshake records), the client's Finished, application data and
//! close_notify alerts. Only the ServerHello is readable; everything after
//! it is random bytes of the sizes an AEAD record of the same plaintext has,
//! which is all a passive observer (and the dataplane) can see of it.

use rand::{Rng, RngExt};

/// TLS record content types.
const HANDSHAKE: u8 = 22;
const CHANGE_CIPHER_SPEC: u8 = 20;
const APPLICATION_DATA: u8 = 23;

/// Bytes an encrypted TLS 1.3 record adds to its plaintext: the inner
/// content type and a 16-byte AEAD tag.
pub const RECORD_OVERHEAD: usize = 17;
/// The largest plaintext of one record.
pub const MAX_PLAINTEXT: usize = 16_384;

/// The ML-KEM-768 ciphertext plus the X25519 share of a hybrid server share.
const MLKEM768_SERVER_SHARE_LEN: usize = 1088 + 32;

/// The server's first flight: ServerHello (echoing the ClientHello's session
/// id; the hybrid group when `post_quantum`, X25519 otherwise),
/// ChangeCipherSpec, and the encrypted EncryptedExtensions…Finished.
pub fn server_flight<R: Rng + ?Sized>(client_hello: &[u8], post_quantum: bool, rng: &mut R) -> Vec<u8> {
    let session_id = legacy_session_id(client_hello).unwrap_or_default();
    let (group, share_len): (u16, usize) =
        if post_quantum { (0x11ec, MLKEM768_SERVER_SHARE_LEN) } else { (0x001d, 32) };
    let cipher: u16 = if rng.random_bool(0.5) { 0x1301 } else { 0x1302 };

    let mut extensions = Vec::new();
    extensions.extend_from_slice(&0x002bu16.to_be_bytes()); // supported_versions
    extensions.extend_from_slice(&2u16.to_be_bytes());
    extensions.extend_from_slice(&0x0304u16.to_be_bytes());
    extensions.extend_from_slice(&0x0033u16.to_be_bytes()); // key_share
    extensions.extend_from_slice(&((share_len + 4) as u16).to_be_bytes());
    extensions.extend_from_slice(&group.to_be_bytes());
    extensions.extend_from_slice(&(share_len as u16).to_be_bytes());
    extensions.extend(random_bytes(share_len, rng));

    let mut body = Vec::new();
    body.extend_from_slice(&0x0303u16.to_be_bytes());
    body.extend(random_bytes(32, rng));
    body.push(session_id.len() as u8);
    body.extend_from_slice(&session_id);
    body.extend_from_slice(&cipher.to_be_bytes());
    body.push(0); // null compression
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend(extensions);

    let mut handshake = vec![2u8]; // server_hello
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend(body);

    let mut out = record(HANDSHAKE, &handshake);
    out.extend(change_cipher_spec());
    // EncryptedExtensions, Certificate (a chain of one or two), CertificateVerify, Finished.
    let encrypted = rng.random_range(2_000..5_000);
    out.extend(application_data(encrypted, rng));
    out
}

/// The client's answer to the server flight: ChangeCipherSpec and the encrypted Finished.
pub fn client_finished<R: Rng + ?Sized>(rng: &mut R) -> Vec<u8> {
    let mut out = change_cipher_spec();
    out.extend(application_data(36, rng));
    out
}

/// Encrypted records carrying `plaintext_len` bytes (several records past 16 KiB).
pub fn application_data<R: Rng + ?Sized>(plaintext_len: usize, rng: &mut R) -> Vec<u8> {
    let mut out = Vec::with_capacity(plaintext_len + 64);
    let mut left = plaintext_len.max(1);
    while left > 0 {
        let chunk = left.min(MAX_PLAINTEXT);
        out.extend(record(APPLICATION_DATA, &random_bytes(chunk + RECORD_OVERHEAD, rng)));
        left -= chunk;
    }
    out
}

/// An encrypted close_notify alert.
pub fn close_notify<R: Rng + ?Sized>(rng: &mut R) -> Vec<u8> {
    application_data(2, rng)
}

/// The legacy_session_id of a ClientHello record (bytes 43.. of the record).
pub fn legacy_session_id(client_hello: &[u8]) -> Option<Vec<u8>> {
    // record header (5) + handshake header (4) + legacy_version (2) + random (32)
    let len = usize::from(*client_hello.get(43)?);
    client_hello.get(44..44 + len).map(<[u8]>::to_vec)
}

fn change_cipher_spec() -> Vec<u8> {
    record(CHANGE_CIPHER_SPEC, &[1])
}

fn record(content_type: u8, fragment: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fragment.len() + 5);
    out.push(content_type);
    out.extend_from_slice(&0x0303u16.to_be_bytes());
    out.extend_from_slice(&(fragment.len() as u16).to_be_bytes());
    out.extend_from_slice(fragment);
    out
}

fn random_bytes<R: Rng + ?Sized>(len: usize, rng: &mut R) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rng.fill_bytes(&mut bytes);
    bytes
}
