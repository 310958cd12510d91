//! The ClientHello message (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2) and the
//! extensions the policy and the fingerprints need.
//!
//! Two kinds of fault are told apart. A broken frame (a length that runs past
//! its container, bytes left over, an extension block that does not add up)
//! means the rest cannot be trusted: the hello is rejected. A broken value
//! inside a well-framed extension (an empty host name, an odd-length list) is
//! recorded as [`Anomalies::INVALID_TLS`] and the rest of the hello is still
//! used, since a peer may well accept it and the facts are evidence.

use super::reader::{u16s, Reader, Short};
use super::record::HANDSHAKE_HEADER;
use super::TlsFacts;
use crate::{Anomalies, BoundedStr};

/// Extension `server_name` (RFC 6066 §3).
pub(crate) const EXT_SERVER_NAME: u16 = 0x0000;
/// Extension `supported_groups`, formerly `elliptic_curves` (RFC 8422 §5.1.1).
const EXT_SUPPORTED_GROUPS: u16 = 0x000a;
/// Extension `ec_point_formats` (RFC 8422 §5.1.2).
const EXT_EC_POINT_FORMATS: u16 = 0x000b;
/// Extension `signature_algorithms` (RFC 8446 §4.2.3).
const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
/// Extension `application_layer_protocol_negotiation` (RFC 7301).
pub(crate) const EXT_ALPN: u16 = 0x0010;
/// Extension `pre_shared_key` (RFC 8446 §4.2.11); must come last.
const EXT_PRE_SHARED_KEY: u16 = 0x0029;
/// Extension `early_data` (RFC 8446 §4.2.10).
const EXT_EARLY_DATA: u16 = 0x002a;
/// Extension `supported_versions` (RFC 8446 §4.2.1).
const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;
/// Extension `encrypted_client_hello` (RFC 9849).
const EXT_ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;

/// `server_name` entry type for a DNS host name.
const NAME_TYPE_HOST_NAME: u8 = 0;
/// The longest legacy_session_id (RFC 8446 §4.1.2).
const MAX_SESSION_ID: usize = 32;
/// How many extension types are remembered to spot repeats; a hello with
/// more extensions than this is not checked for repeats past that point.
const TRACKED_EXTENSIONS: usize = 256;

/// True for the GREASE values of RFC 8701 (0x0a0a, 0x1a1a, … 0xfafa), which
/// clients send at random to keep servers tolerant and which fingerprints
/// leave out. Only these sixteen values count, as in the JA3 and JA4
/// reference implementations (not every 0x?a?a).
pub(crate) fn is_grease(value: u16) -> bool {
    value & 0x0f0f == 0x0a0a && value >> 8 == value & 0xff
}

/// The message's frame does not hold together; nothing after the fault can
/// be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

impl From<Short> for Malformed {
    fn from(_: Short) -> Self {
        Malformed
    }
}

/// The parts of a ClientHello the fingerprints are made of, borrowed from
/// the message.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ClientHello<'a> {
    /// `legacy_version` (the version field of the hello itself).
    pub(crate) legacy_version: u16,
    /// The `cipher_suites` list, two bytes per suite.
    pub(crate) cipher_suites: &'a [u8],
    /// The whole extension block (empty when the hello has none).
    pub(crate) extensions: &'a [u8],
    /// The `supported_groups` list, two bytes per group.
    pub(crate) supported_groups: &'a [u8],
    /// The `ec_point_formats` list, one byte per format.
    pub(crate) ec_point_formats: &'a [u8],
    /// The `signature_algorithms` list, two bytes per scheme.
    pub(crate) signature_algorithms: &'a [u8],
    /// The first ALPN protocol name, in full.
    pub(crate) first_alpn: Option<&'a [u8]>,
    /// True when a `server_name` extension is present, whatever it holds.
    pub(crate) has_server_name: bool,
    /// The highest non-GREASE value in `supported_versions`.
    pub(crate) max_supported_version: Option<u16>,
}

/// Parses a whole ClientHello handshake message (header included), writing
/// the facts it finds into `facts` as it goes: on [`Malformed`], `facts`
/// holds what came before the fault.
pub(crate) fn parse<'a>(
    message: &'a [u8],
    facts: &mut TlsFacts,
    anomalies: &mut Anomalies,
) -> Result<ClientHello<'a>, Malformed> {
    let mut r = Reader::new(message.get(HANDSHAKE_HEADER..).ok_or(Malformed)?);
    let mut hello = ClientHello { legacy_version: r.u16()?, ..ClientHello::default() };
    facts.legacy_version = hello.legacy_version;
    let _random = r.take(32)?;
    if r.vec_u8()?.len() > MAX_SESSION_ID {
        return Err(Malformed);
    }
    hello.cipher_suites = r.vec_u16()?;
    if hello.cipher_suites.is_empty() || !hello.cipher_suites.len().is_multiple_of(2) {
        return Err(Malformed);
    }
    let count = u16s(hello.cipher_suites).filter(|c| !is_grease(*c)).count();
    facts.cipher_count = u16::try_from(count).unwrap_or(u16::MAX);
    if r.vec_u8()?.is_empty() {
        // Not even the null compression method.
        return Err(Malformed);
    }
    // A hello without extensions simply ends here (SSL 3.0, early TLS).
    if !r.is_empty() {
        hello.extensions = r.vec_u16()?;
        if !r.is_empty() {
            return Err(Malformed);
        }
        parse_extensions(&mut hello, facts, anomalies)?;
    }
    Ok(hello)
}

/// The extensions of a well-framed extension block, in order: (type, data).
pub(crate) fn extensions(block: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut r = Reader::new(block);
    std::iter::from_fn(move || Some((r.u16().ok()?, r.vec_u16().ok()?)))
}

/// Walks the extension block, checking its framing and reading the
/// extensions that matter.
fn parse_extensions<'a>(
    hello: &mut ClientHello<'a>,
    facts: &mut TlsFacts,
    anomalies: &mut Anomalies,
) -> Result<(), Malformed> {
    let mut seen = [0u16; TRACKED_EXTENSIONS];
    let mut seen_len = 0;
    let mut after_psk = false;
    let mut r = Reader::new(hello.extensions);
    while !r.is_empty() {
        let ext_type = r.u16()?;
        let data = r.vec_u16()?;
        if after_psk {
            // pre_shared_key MUST be the last extension (RFC 8446 §4.2.11).
            anomalies.insert(Anomalies::INVALID_TLS);
            after_psk = false;
        }
        let repeated = seen.get(..seen_len).is_some_and(|s| s.contains(&ext_type));
        if repeated {
            // At most one extension of each type (RFC 8446 §4.2).
            anomalies.insert(Anomalies::INVALID_TLS);
        } else if let Some(slot) = seen.get_mut(seen_len) {
            *slot = ext_type;
            seen_len += 1;
        }
        if !is_grease(ext_type) {
            facts.extension_count = facts.extension_count.saturating_add(1);
        }
        // A repeated extension only matters when it names a second server.
        if repeated && ext_type != EXT_SERVER_NAME {
            continue;
        }
        let read = match ext_type {
            EXT_SERVER_NAME => {
                hello.has_server_name = true;
                server_name(data, &mut facts.sni, anomalies)
            }
            EXT_ALPN => alpn(data, hello, facts),
            EXT_SUPPORTED_VERSIONS => supported_versions(data, hello, facts),
            EXT_SUPPORTED_GROUPS => u16_list(data).map(|groups| hello.supported_groups = groups),
            EXT_EC_POINT_FORMATS => Reader::new(data)
                .vec_u8()
                .ok()
                .filter(|formats| formats.len() + 1 == data.len() && !formats.is_empty())
                .map(|formats| hello.ec_point_formats = formats)
                .ok_or(Malformed),
            EXT_SIGNATURE_ALGORITHMS => u16_list(data).map(|schemes| hello.signature_algorithms = schemes),
            EXT_PRE_SHARED_KEY => {
                facts.psk = true;
                after_psk = true;
                Ok(())
            }
            EXT_EARLY_DATA => {
                facts.early_data = true;
                if data.is_empty() {
                    Ok(())
                } else {
                    Err(Malformed)
                }
            }
            EXT_ENCRYPTED_CLIENT_HELLO => {
                facts.ech = true;
                Ok(())
            }
            _ => Ok(()),
        };
        if read.is_err() {
            anomalies.insert(Anomalies::INVALID_TLS);
        }
    }
    Ok(())
}

/// A non-empty `uint16 list<2..2^16-2>` filling the whole extension data.
fn u16_list(data: &[u8]) -> Result<&[u8], Malformed> {
    let mut r = Reader::new(data);
    let list = r.vec_u16()?;
    if r.is_empty() && !list.is_empty() && list.len().is_multiple_of(2) {
        Ok(list)
    } else {
        Err(Malformed)
    }
}

/// `server_name` (RFC 6066 §3): keeps the first host_name; any further one
/// is [`Anomalies::DUPLICATE_SNI`]. Entries of other name types are skipped
/// (read as two-byte-length values, as every deployed parser does).
fn server_name(data: &[u8], sni: &mut Option<BoundedStr<255>>, anomalies: &mut Anomalies) -> Result<(), Malformed> {
    let mut r = Reader::new(data);
    let list = r.vec_u16()?;
    if !r.is_empty() || list.is_empty() {
        return Err(Malformed);
    }
    let mut names = Reader::new(list);
    while !names.is_empty() {
        let name_type = names.u8()?;
        let name = names.vec_u16()?;
        if name_type != NAME_TYPE_HOST_NAME {
            continue;
        }
        if name.is_empty() {
            return Err(Malformed);
        }
        match sni {
            Some(_) => anomalies.insert(Anomalies::DUPLICATE_SNI),
            None => *sni = Some(BoundedStr::from_bytes(name)),
        }
    }
    Ok(())
}

/// `application_layer_protocol_negotiation` (RFC 7301 §3.1): the protocol
/// names in order; the first is kept whole for JA4.
fn alpn<'a>(data: &'a [u8], hello: &mut ClientHello<'a>, facts: &mut TlsFacts) -> Result<(), Malformed> {
    let mut r = Reader::new(data);
    let list = r.vec_u16()?;
    if !r.is_empty() || list.is_empty() {
        return Err(Malformed);
    }
    let mut names = Reader::new(list);
    while !names.is_empty() {
        let name = names.vec_u8()?;
        if name.is_empty() {
            return Err(Malformed);
        }
        hello.first_alpn.get_or_insert(name);
        facts.alpn.push(name);
    }
    Ok(())
}

/// `supported_versions` in its ClientHello form (RFC 8446 §4.2.1).
fn supported_versions<'a>(data: &'a [u8], hello: &mut ClientHello<'a>, facts: &mut TlsFacts) -> Result<(), Malformed> {
    let mut r = Reader::new(data);
    let list = r.vec_u8()?;
    hello.max_supported_version = u16s(list).filter(|v| !is_grease(*v)).max();
    facts.max_supported_version = hello.max_supported_version;
    if r.is_empty() && !list.is_empty() && list.len().is_multiple_of(2) {
        Ok(())
    } else {
        Err(Malformed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::tls::testing::{alpn_data, sni_data, u16_list_data, versions_data, Hello};

    fn parse_hello(hello: &Hello) -> (Result<(), Malformed>, TlsFacts, Anomalies) {
        let message = hello.message();
        let mut facts = TlsFacts::default();
        let mut anomalies = Anomalies::NONE;
        let result = parse(&message, &mut facts, &mut anomalies).map(|_| ());
        (result, facts, anomalies)
    }

    #[test]
    fn grease_is_the_sixteen_rfc_8701_values() {
        let grease: Vec<u16> = (0..=u16::MAX).filter(|v| is_grease(*v)).collect();
        assert_eq!(grease.len(), 16);
        assert!(grease.iter().all(|v| v & 0xff == 0x0a | ((v >> 8) & 0xf0)));
        assert!(!is_grease(0x1a2a));
    }

    #[test]
    fn reads_sni_alpn_and_versions() {
        let hello = Hello::tls12()
            .ext(0x0a0a, vec![])
            .ext(EXT_SERVER_NAME, sni_data(&[(0, b"Mail.Example.org")]))
            .ext(EXT_ALPN, alpn_data(&[b"imap", b"smtp"]))
            .ext(EXT_SUPPORTED_VERSIONS, versions_data(&[0x3a3a, 0x0304, 0x0303]));
        let (result, facts, anomalies) = parse_hello(&hello);
        assert_eq!(result, Ok(()));
        assert!(anomalies.is_empty(), "{anomalies:?}");
        assert_eq!(facts.sni.unwrap().as_bytes(), b"Mail.Example.org");
        assert_eq!(facts.alpn.iter().map(|a| a.to_string()).collect::<Vec<_>>(), ["imap", "smtp"]);
        assert_eq!(facts.legacy_version, 0x0303);
        assert_eq!(facts.max_supported_version, Some(0x0304));
        assert_eq!(facts.extension_count, 3, "GREASE extension not counted");
        assert_eq!(facts.cipher_count, 2);
        assert!(!facts.ech && !facts.psk && !facts.early_data);
    }

    #[test]
    fn a_second_host_name_is_an_anomaly_and_the_first_is_kept() {
        let two_in_one =
            Hello::tls12().ext(EXT_SERVER_NAME, sni_data(&[(0, b"first.example"), (0, b"second.example")]));
        let two_extensions = Hello::tls12()
            .ext(EXT_SERVER_NAME, sni_data(&[(0, b"first.example")]))
            .ext(EXT_SERVER_NAME, sni_data(&[(0, b"second.example")]));
        for hello in [two_in_one, two_extensions] {
            let (result, facts, anomalies) = parse_hello(&hello);
            assert_eq!(result, Ok(()));
            assert!(anomalies.contains(Anomalies::DUPLICATE_SNI));
            assert_eq!(facts.sni.unwrap().as_bytes(), b"first.example");
        }
    }

    #[test]
    fn other_name_types_are_skipped_not_taken_for_a_host() {
        let hello = Hello::tls12().ext(EXT_SERVER_NAME, sni_data(&[(7, b"opaque"), (0, b"host.example")]));
        let (result, facts, anomalies) = parse_hello(&hello);
        assert_eq!(result, Ok(()));
        assert!(anomalies.is_empty());
        assert_eq!(facts.sni.unwrap().as_bytes(), b"host.example");
    }

    #[test]
    fn a_long_host_name_is_kept_truncated() {
        let name = vec![b'a'; 300];
        let hello = Hello::tls12().ext(EXT_SERVER_NAME, sni_data(&[(0, &name)]));
        let (_, facts, _) = parse_hello(&hello);
        let sni = facts.sni.unwrap();
        assert_eq!(sni.as_bytes().len(), 255);
        assert!(sni.truncated());
    }

    #[test]
    fn bad_values_in_extensions_are_anomalies_not_failures() {
        for (ext_type, data) in [
            (EXT_SERVER_NAME, sni_data(&[(0, b"")])),
            (EXT_SERVER_NAME, vec![0, 0]),
            (EXT_SERVER_NAME, vec![0, 9, 0, 0, 1]),
            (EXT_ALPN, alpn_data(&[b""])),
            (EXT_ALPN, vec![0, 3, 2, b'h', b'2', 0]),
            (EXT_SUPPORTED_VERSIONS, vec![3, 3, 4, 3]),
            (EXT_SUPPORTED_GROUPS, vec![0, 1, 0]),
            (EXT_SIGNATURE_ALGORITHMS, vec![0, 0]),
            (EXT_EC_POINT_FORMATS, vec![2, 0]),
            (EXT_EARLY_DATA, vec![1]),
        ] {
            let hello = Hello::tls12().ext(ext_type, data.clone()).ext(0xff01, vec![0]);
            let (result, facts, anomalies) = parse_hello(&hello);
            assert_eq!(result, Ok(()), "{ext_type:#x} {data:?}");
            assert!(anomalies.contains(Anomalies::INVALID_TLS), "{ext_type:#x} {data:?}");
            assert_eq!(facts.extension_count, 2, "the walk went on");
        }
    }

    #[test]
    fn repeated_extensions_and_a_psk_not_last_are_anomalies() {
        let repeated = Hello::tls12().ext(EXT_ALPN, alpn_data(&[b"imap"])).ext(EXT_ALPN, alpn_data(&[b"smtp"]));
        let (result, facts, anomalies) = parse_hello(&repeated);
        assert_eq!(result, Ok(()));
        assert!(anomalies.contains(Anomalies::INVALID_TLS));
        assert_eq!(facts.alpn.iter().map(|a| a.to_string()).collect::<Vec<_>>(), ["imap"]);

        let psk_last = Hello::tls12().ext(EXT_EARLY_DATA, vec![]).ext(EXT_PRE_SHARED_KEY, vec![1]);
        let (result, facts, anomalies) = parse_hello(&psk_last);
        assert_eq!(result, Ok(()));
        assert!(anomalies.is_empty());
        assert!(facts.psk && facts.early_data);

        let psk_first = Hello::tls12().ext(EXT_PRE_SHARED_KEY, vec![1]).ext(EXT_EARLY_DATA, vec![]);
        let (_, _, anomalies) = parse_hello(&psk_first);
        assert!(anomalies.contains(Anomalies::INVALID_TLS));
    }

    #[test]
    fn ech_is_seen() {
        let (_, facts, _) = parse_hello(&Hello::tls12().ext(EXT_ENCRYPTED_CLIENT_HELLO, vec![0; 9]));
        assert!(facts.ech);
    }

    #[test]
    fn a_hello_without_extensions_is_fine() {
        let mut hello = Hello::tls12();
        hello.extensions = None;
        let (result, facts, anomalies) = parse_hello(&hello);
        assert_eq!(result, Ok(()));
        assert!(anomalies.is_empty());
        assert_eq!(facts.extension_count, 0);
        assert_eq!(facts.sni, None);
    }

    #[test]
    fn broken_frames_are_malformed() {
        let base = Hello::tls12().ext(EXT_SERVER_NAME, sni_data(&[(0, b"x.example")]));
        let mut long_session = base.clone();
        long_session.session_id = vec![0; 33];
        let mut odd_ciphers = base.clone();
        odd_ciphers.raw_ciphers = Some(vec![0x13, 0x01, 0x13]);
        let mut no_ciphers = base.clone();
        no_ciphers.ciphers.clear();
        let mut no_compression = base.clone();
        no_compression.compression.clear();
        let mut trailing = base.message();
        trailing.push(0);
        let mut short_block = base.message();
        // Claim one byte more for the extension block than there is.
        let at = 4 + 2 + 32 + 1 + 2 + base.ciphers.len() * 2 + 1 + base.compression.len();
        let claimed = u16::from_be_bytes([short_block[at], short_block[at + 1]]) + 1;
        short_block[at..at + 2].copy_from_slice(&claimed.to_be_bytes());
        for message in [
            long_session.message(),
            odd_ciphers.message(),
            no_ciphers.message(),
            no_compression.message(),
            trailing,
            short_block,
        ] {
            let mut facts = TlsFacts::default();
            let mut anomalies = Anomalies::NONE;
            assert_eq!(parse(&message, &mut facts, &mut anomalies).map(|_| ()), Err(Malformed));
        }
        // An extension whose length runs past the block.
        let bad_ext = Hello::tls12().ext(EXT_SERVER_NAME, vec![0; 4]).message();
        let mut message = bad_ext.clone();
        let n = message.len();
        message[n - 5] = 9; // the extension's length (bytes n-6, n-5) now runs past the block
        let mut facts = TlsFacts::default();
        let mut anomalies = Anomalies::NONE;
        assert_eq!(parse(&message, &mut facts, &mut anomalies).map(|_| ()), Err(Malformed));
    }

    #[test]
    fn u16_lists_need_an_even_non_empty_length_that_fills_the_data() {
        assert_eq!(u16_list(&u16_list_data(&[1, 2])), Ok(&[0u8, 1, 0, 2][..]));
        assert_eq!(u16_list(&[0, 0]), Err(Malformed));
        assert_eq!(u16_list(&[0, 2, 0, 1, 9]), Err(Malformed));
    }
}
