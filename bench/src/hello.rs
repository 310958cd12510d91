//! TLS ClientHellos written by a real rustls client.
//!
//! [`HelloMaker::client_hello`] builds a rustls 0.23 `ClientConnection`
//! (aws-lc-rs provider: its cipher suites, signature schemes, extension
//! order and, with [`HelloSpec::post_quantum`], the X25519MLKEM768 hybrid key
//! share rustls prefers by default) and returns its first `write_tls`
//! output: the ClientHello record exactly as rustls sends it.
//!
//! Captures must be byte-identical per seed, so the provider's two sources of
//! randomness are swapped for a generator seeded by the caller:
//! - `secure_random` (client random, legacy session id) reads the seeded
//!   stream;
//! - each key exchange group makes its key share from seeded secrets:
//!   X25519, P-256 and P-384 public keys are computed from seeded scalars by
//!   aws-lc-rs; the ML-KEM-768 encapsulation key is 1152 bytes of seeded
//!   coefficients below q (the form FIPS 203's input check accepts) and a
//!   seeded 32-byte ρ.
//!
//! The handshake never goes past the ClientHello (no server answers), so
//! these key exchanges refuse to complete.

use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::Arc;

use aws_lc_rs::agreement;
use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};
use rustls::client::ClientConnection;
use rustls::crypto::{
    ActiveKeyExchange, CryptoProvider, GetRandomFailed, SecureRandom, SharedSecret, SupportedKxGroup,
};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, NamedGroup, ProtocolVersion, RootCertStore};

/// What the ClientHello should carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelloSpec<'a> {
    /// The name sent as SNI; `None` = the client connects by address and sends no SNI.
    pub server_name: Option<&'a str>,
    /// The server's address (what rustls is given when there is no name).
    pub server_ip: IpAddr,
    /// ALPN protocols offered, in order; empty = no ALPN extension.
    pub alpn: &'a [&'a str],
    /// Offer X25519MLKEM768 first (1216-byte key share) as well as X25519.
    pub post_quantum: bool,
}

/// Why no ClientHello could be made.
#[derive(Debug, thiserror::Error)]
pub enum HelloError {
    /// rustls refused the configuration or the connection.
    #[error("rustls: {0}")]
    Rustls(#[from] rustls::Error),
    /// The server name is not a valid DNS name.
    #[error("invalid server name {0:?}")]
    ServerName(String),
    /// Writing the TLS output failed.
    #[error("reading the ClientHello from rustls: {0}")]
    Io(#[from] std::io::Error),
}

/// Makes ClientHellos with rustls; holds the two providers (with and without
/// the post-quantum group) so each hello only builds a client config.
#[derive(Debug, Clone)]
pub struct HelloMaker {
    post_quantum: Arc<CryptoProvider>,
    classical: Arc<CryptoProvider>,
}

impl Default for HelloMaker {
    fn default() -> Self {
        HelloMaker::new()
    }
}

impl HelloMaker {
    /// The aws-lc-rs default provider with seeded randomness (see the module docs).
    pub fn new() -> HelloMaker {
        let seeded = |kx_groups: Vec<&'static dyn SupportedKxGroup>| {
            Arc::new(CryptoProvider {
                kx_groups,
                secure_random: &SEEDED_RANDOM,
                ..rustls::crypto::aws_lc_rs::default_provider()
            })
        };
        HelloMaker {
            post_quantum: seeded(vec![&SEEDED_X25519MLKEM768, &SEEDED_X25519, &SEEDED_P256, &SEEDED_P384]),
            classical: seeded(vec![&SEEDED_X25519, &SEEDED_P256, &SEEDED_P384]),
        }
    }

    /// The TLS records of the ClientHello rustls sends for `spec`; the same
    /// `seed` gives the same bytes.
    pub fn client_hello(&self, spec: &HelloSpec<'_>, seed: [u8; 32]) -> Result<Vec<u8>, HelloError> {
        let provider = if spec.post_quantum { &self.post_quantum } else { &self.classical };
        let mut config = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth();
        config.alpn_protocols = spec.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        let name = match spec.server_name {
            Some(name) => {
                ServerName::try_from(name.to_string()).map_err(|_| HelloError::ServerName(name.to_string()))?
            }
            None => ServerName::IpAddress(spec.server_ip.into()),
        };
        let config = Arc::new(config);
        let mut conn = with_seed(seed, || ClientConnection::new(config, name))?;
        let mut out = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut out)?;
        }
        Ok(out)
    }
}

thread_local! {
    /// The generator the seeded provider draws from, set only inside [`with_seed`].
    static SEEDED: RefCell<Option<ChaCha8Rng>> = const { RefCell::new(None) };
}

/// Runs `f` (which creates a rustls connection) with the seeded generator in place.
fn with_seed<T>(seed: [u8; 32], f: impl FnOnce() -> T) -> T {
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            SEEDED.with(|s| s.borrow_mut().take());
        }
    }
    SEEDED.with(|s| *s.borrow_mut() = Some(ChaCha8Rng::from_seed(seed)));
    let _clear = Clear;
    f()
}

/// Fills `buf` from the seeded generator; fails outside [`with_seed`].
fn seeded_fill(buf: &mut [u8]) -> Result<(), GetRandomFailed> {
    SEEDED.with(|s| match s.borrow_mut().as_mut() {
        Some(rng) => {
            rng.fill_bytes(buf);
            Ok(())
        }
        None => Err(GetRandomFailed),
    })
}

/// `SecureRandom` over the seeded generator.
#[derive(Debug)]
struct SeededRandom;

impl SecureRandom for SeededRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        seeded_fill(buf)
    }
}

static SEEDED_RANDOM: SeededRandom = SeededRandom;

/// A key exchange group whose key shares come from seeded secrets.
#[derive(Debug)]
struct SeededKx {
    group: NamedGroup,
}

static SEEDED_X25519: SeededKx = SeededKx { group: NamedGroup::X25519 };
static SEEDED_P256: SeededKx = SeededKx { group: NamedGroup::secp256r1 };
static SEEDED_P384: SeededKx = SeededKx { group: NamedGroup::secp384r1 };
static SEEDED_X25519MLKEM768: SeededKx = SeededKx { group: NamedGroup::X25519MLKEM768 };

/// ML-KEM-768 encapsulation key length (k = 3 polynomials of 384 bytes, and ρ).
pub const MLKEM768_ENCAPSULATION_KEY_LEN: usize = 1184;
/// The ML-KEM modulus.
const MLKEM_Q: u16 = 3329;

impl SupportedKxGroup for SeededKx {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let failed = |_| rustls::Error::FailedToGetRandomBytes;
        let pub_key = match self.group {
            NamedGroup::X25519 => ec_public_key(&agreement::X25519, 32)?,
            NamedGroup::secp256r1 => ec_public_key(&agreement::ECDH_P256, 32)?,
            NamedGroup::secp384r1 => ec_public_key(&agreement::ECDH_P384, 48)?,
            NamedGroup::X25519MLKEM768 => {
                let mut share = mlkem768_encapsulation_key().map_err(failed)?;
                share.extend(ec_public_key(&agreement::X25519, 32)?);
                share
            }
            other => return Err(rustls::Error::General(format!("no seeded key share for {other:?}"))),
        };
        Ok(Box::new(SeededShare { group: self.group, pub_key }))
    }

    fn name(&self) -> NamedGroup {
        self.group
    }

    fn usable_for_version(&self, version: ProtocolVersion) -> bool {
        // As rustls's own hybrid group: TLS 1.3 only.
        self.group != NamedGroup::X25519MLKEM768 || version == ProtocolVersion::TLSv1_3
    }
}

/// A key share made by [`SeededKx`].
struct SeededShare {
    group: NamedGroup,
    pub_key: Vec<u8>,
}

impl ActiveKeyExchange for SeededShare {
    fn complete(self: Box<Self>, _peer_pub_key: &[u8]) -> Result<SharedSecret, rustls::Error> {
        Err(rustls::Error::General(
            "the traffic generator's key shares only serve ClientHellos; no handshake completes".into(),
        ))
    }

    fn hybrid_component(&self) -> Option<(NamedGroup, &[u8])> {
        // Lets rustls add the separate X25519 share it sends next to the hybrid one.
        (self.group == NamedGroup::X25519MLKEM768)
            .then(|| self.pub_key.get(MLKEM768_ENCAPSULATION_KEY_LEN..))
            .flatten()
            .map(|x25519| (NamedGroup::X25519, x25519))
    }

    fn pub_key(&self) -> &[u8] {
        &self.pub_key
    }

    fn group(&self) -> NamedGroup {
        self.group
    }
}

/// The public key of a seeded private scalar of `len` bytes (redrawn in the
/// rare case aws-lc-rs rejects it as out of range).
fn ec_public_key(alg: &'static agreement::Algorithm, len: usize) -> Result<Vec<u8>, rustls::Error> {
    let mut scalar = vec![0u8; len];
    for _ in 0..16 {
        seeded_fill(&mut scalar).map_err(|_| rustls::Error::FailedToGetRandomBytes)?;
        if let Ok(key) = agreement::PrivateKey::from_private_key(alg, &scalar) {
            if let Ok(public) = key.compute_public_key() {
                return Ok(public.as_ref().to_vec());
            }
        }
    }
    // Sixteen rejections in a row do not happen with a working generator.
    Err(rustls::Error::FailedToGetRandomBytes)
}

/// An ML-KEM-768 encapsulation key of seeded coefficients (each below q,
/// twelve bits packed little-endian in pairs) followed by a seeded ρ.
fn mlkem768_encapsulation_key() -> Result<Vec<u8>, GetRandomFailed> {
    let mut key = Vec::with_capacity(MLKEM768_ENCAPSULATION_KEY_LEN + 32);
    let mut draw = [0u8; 2];
    let mut coefficient = || -> Result<u16, GetRandomFailed> {
        loop {
            seeded_fill(&mut draw)?;
            let c = u16::from_le_bytes(draw) & 0x0fff;
            if c < MLKEM_Q {
                return Ok(c);
            }
        }
    };
    for _ in 0..(3 * 256 / 2) {
        let (a, b) = (coefficient()?, coefficient()?);
        key.push((a & 0xff) as u8);
        key.push(((a >> 8) | ((b & 0x0f) << 4)) as u8);
        key.push((b >> 4) as u8);
    }
    let mut rho = [0u8; 32];
    seeded_fill(&mut rho)?;
    key.extend_from_slice(&rho);
    Ok(key)
}
