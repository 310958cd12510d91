//! JA3 and JA4 client fingerprints of a ClientHello.
//!
//! JA3 (Salesforce, 2017): `SSLVersion,Ciphers,Extensions,EllipticCurves,
//! EllipticCurvePointFormats`, values in decimal joined by `-`, GREASE left
//! out, then MD5. JA4 (FoxIO, `technical_details/JA4.md`): a readable prefix
//! then two truncated SHA-256 hashes of the sorted cipher and extension
//! lists. Both are built straight from the borrowed hello, with fixed-size
//! stack buffers and streaming hashes: no allocation.

use md5::{Digest, Md5};
use sha2::Sha256;

use super::client_hello::{extensions, is_grease, ClientHello, EXT_ALPN, EXT_SERVER_NAME};
use super::reader::u16s;
use crate::BoundedStr;

/// The most cipher suites JA4 sorts; a hello listing more gets no JA4.
const MAX_JA4_CIPHERS: usize = 512;
/// The most extensions JA4 sorts; a hello carrying more gets no JA4.
const MAX_JA4_EXTENSIONS: usize = 256;
/// JA4's stand-in for the hash of an empty list.
const JA4_EMPTY_HASH: &[u8; 12] = b"000000000000";

/// Writes the JA3 string into `text` (truncated there if longer than its
/// capacity) and returns the MD5 of the whole string.
pub(crate) fn ja3<const N: usize>(hello: &ClientHello<'_>, text: &mut BoundedStr<N>) -> [u8; 16] {
    let mut out = Ja3Writer { text, md5: Md5::new() };
    out.decimal(hello.legacy_version);
    out.push(b",");
    out.list(u16s(hello.cipher_suites));
    out.push(b",");
    out.list(extensions(hello.extensions).map(|(ext_type, _)| ext_type));
    out.push(b",");
    out.list(u16s(hello.supported_groups));
    out.push(b",");
    out.list(hello.ec_point_formats.iter().map(|f| u16::from(*f)));
    out.md5.finalize().into()
}

/// Feeds the JA3 string to both the stored text and the hash.
struct Ja3Writer<'a, const N: usize> {
    text: &'a mut BoundedStr<N>,
    md5: Md5,
}

impl<const N: usize> Ja3Writer<'_, N> {
    fn push(&mut self, bytes: &[u8]) {
        self.text.push_bytes(bytes);
        self.md5.update(bytes);
    }

    fn decimal(&mut self, value: u16) {
        let mut digits = [0u8; 5];
        let mut start = digits.len();
        let mut rest = value;
        for slot in digits.iter_mut().rev() {
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
            start -= 1;
            if rest == 0 {
                break;
            }
        }
        self.push(digits.get(start..).unwrap_or(&[]));
    }

    /// The non-GREASE values, dash-joined.
    fn list(&mut self, values: impl Iterator<Item = u16>) {
        for (i, value) in values.filter(|v| !is_grease(*v)).enumerate() {
            if i > 0 {
                self.push(b"-");
            }
            self.decimal(value);
        }
    }
}

/// Writes the JA4 fingerprint of a hello seen over TCP into `out`; leaves
/// `out` empty when the hello lists more than 512 cipher suites or carries
/// more than 256 extensions (no real client does; JA4 over part of the list
/// would be a wrong fingerprint, not a partial one).
pub(crate) fn ja4(hello: &ClientHello<'_>, out: &mut BoundedStr<40>) {
    out.clear();
    let mut ciphers = [0u16; MAX_JA4_CIPHERS];
    let Some(ciphers) = collect(u16s(hello.cipher_suites), &mut ciphers) else {
        return;
    };
    let mut ext_types = [0u16; MAX_JA4_EXTENSIONS];
    let Some(ext_types) = collect(extensions(hello.extensions).map(|(t, _)| t), &mut ext_types) else {
        return;
    };
    let [v1, v2] = version_code(hello.max_supported_version.unwrap_or(hello.legacy_version));
    let sni = if hello.has_server_name { b'd' } else { b'i' };
    let [c1, c2] = two_digits(ciphers.len());
    let [e1, e2] = two_digits(ext_types.len());
    let [a1, a2] = alpn_code(hello.first_alpn);
    let prefix = [b't', v1, v2, sni, c1, c2, e1, e2, a1, a2];

    ciphers.sort_unstable();
    let cipher_hash = hash12(ciphers.iter().copied(), None::<std::iter::Empty<u16>>);
    ext_types.sort_unstable();
    let listed = ext_types.iter().copied().filter(|t| *t != EXT_SERVER_NAME && *t != EXT_ALPN);
    let signatures = u16s(hello.signature_algorithms).filter(|s| !is_grease(*s));
    let ext_hash = hash12(listed, Some(signatures));

    out.push_bytes(&prefix);
    out.push_bytes(b"_");
    out.push_bytes(&cipher_hash);
    out.push_bytes(b"_");
    out.push_bytes(&ext_hash);
}

/// The non-GREASE values into `buf`, or `None` if there are too many.
fn collect(values: impl Iterator<Item = u16>, buf: &mut [u16]) -> Option<&mut [u16]> {
    let mut len = 0;
    for value in values.filter(|v| !is_grease(*v)) {
        *buf.get_mut(len)? = value;
        len += 1;
    }
    buf.get_mut(..len)
}

/// JA4's two-character TLS version.
fn version_code(version: u16) -> [u8; 2] {
    match version {
        0x0304 => *b"13",
        0x0303 => *b"12",
        0x0302 => *b"11",
        0x0301 => *b"10",
        0x0300 => *b"s3",
        0x0002 => *b"s2",
        0xfeff => *b"d1",
        0xfefd => *b"d2",
        0xfefc => *b"d3",
        _ => *b"00",
    }
}

/// A count as two decimal digits, capped at 99.
fn two_digits(n: usize) -> [u8; 2] {
    let n = n.min(99) as u8;
    [b'0' + n / 10, b'0' + n % 10]
}

/// JA4's ALPN part: the first and last character of the first protocol
/// name; `00` without one; when either end is not ASCII alphanumeric, the
/// first and last hex digit of the name instead.
fn alpn_code(first: Option<&[u8]>) -> [u8; 2] {
    match first {
        Some([head, .., tail]) | Some([head @ tail]) => {
            if head.is_ascii_alphanumeric() && tail.is_ascii_alphanumeric() {
                [*head, *tail]
            } else {
                [hex_digit(head >> 4), hex_digit(tail & 0xf)]
            }
        }
        _ => *b"00",
    }
}

/// The first 12 hex digits of the SHA-256 of the values as comma-joined
/// 4-digit hex, followed when `then` has values by `_` and those; JA4's
/// `000000000000` when `values` is empty.
fn hash12(values: impl Iterator<Item = u16>, then: Option<impl Iterator<Item = u16>>) -> [u8; 12] {
    let mut sha = Sha256::new();
    let mut any = false;
    for (i, value) in values.enumerate() {
        if i > 0 {
            sha.update(b",");
        }
        sha.update(hex4(value));
        any = true;
    }
    if !any {
        return *JA4_EMPTY_HASH;
    }
    for (i, value) in then.into_iter().flatten().enumerate() {
        sha.update(if i == 0 { b"_" } else { b"," });
        sha.update(hex4(value));
    }
    let digest: [u8; 32] = sha.finalize().into();
    let mut out = [0u8; 12];
    for (pair, byte) in out.chunks_exact_mut(2).zip(digest) {
        if let [hi, lo] = pair {
            *hi = hex_digit(byte >> 4);
            *lo = hex_digit(byte & 0xf);
        }
    }
    out
}

/// A 16-bit value as 4 lowercase hex digits.
fn hex4(value: u16) -> [u8; 4] {
    let [a, b] = value.to_be_bytes();
    [hex_digit(a >> 4), hex_digit(a & 0xf), hex_digit(b >> 4), hex_digit(b & 0xf)]
}

/// The lowercase hex digit of the low nibble of `n`.
pub(crate) fn hex_digit(n: u8) -> u8 {
    match n & 0xf {
        d @ 0..=9 => b'0' + d,
        d => b'a' + d - 10,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::tls::client_hello::parse;
    use crate::tls::testing::{alpn_data, point_formats_data, sni_data, u16_list_data, versions_data, Hello};
    use crate::tls::TlsFacts;
    use crate::Anomalies;

    fn fingerprints(hello: &Hello) -> (String, String, Anomalies) {
        let message = hello.message();
        let mut facts = TlsFacts::default();
        let mut anomalies = Anomalies::NONE;
        let parsed = parse(&message, &mut facts, &mut anomalies).unwrap();
        let mut ja3_text = BoundedStr::<1024>::new();
        let md5 = ja3(&parsed, &mut ja3_text);
        if !ja3_text.truncated() {
            assert_eq!(md5, <[u8; 16]>::from(Md5::digest(ja3_text.as_bytes())));
        }
        let mut ja4_text = BoundedStr::new();
        ja4(&parsed, &mut ja4_text);
        (ja3_text.to_string(), ja4_text.to_string(), anomalies)
    }

    /// The example hello of the JA4 specification (`JA4.md`, "Example").
    fn spec_example(signatures: &[u16]) -> Hello {
        let mut hello = Hello::tls12();
        hello.ciphers = vec![
            0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d,
            0x002f, 0x0035,
        ];
        for ext_type in [
            0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01,
            0x000b, 0x000a, 0x0015,
        ] {
            let data = match ext_type {
                0x0000 => sni_data(&[(0, b"example.com")]),
                0x0010 => alpn_data(&[b"h2", b"http/1.1"]),
                0x000d => u16_list_data(signatures),
                0x002b => versions_data(&[0x0304, 0x0303]),
                _ => Vec::new(),
            };
            hello = hello.ext(ext_type, data);
        }
        hello
    }

    #[test]
    fn ja4_of_the_spec_example() {
        let signatures = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601];
        let (_, ja4, _) = fingerprints(&spec_example(&signatures));
        assert_eq!(ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
        // "If there are no signature algorithms in the hello packet, then the
        // string ends without an underscore": 0x000d is still listed here,
        // with an (invalid) empty list.
        let (_, ja4, anomalies) = fingerprints(&spec_example(&[]));
        assert_eq!(ja4, "t13d1516h2_8daaf6152771_6d807ffa2a79");
        assert!(anomalies.contains(Anomalies::INVALID_TLS));
    }

    #[test]
    fn ja4_ignores_grease_everywhere() {
        let signatures = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601];
        let mut hello = spec_example(&signatures);
        hello.ciphers.insert(0, 0x2a2a);
        let hello = hello.ext(0xdada, vec![0]).ext(0x000d, u16_list_data(&[0x7a7a]));
        // The repeated 0x000d is counted (it is a 17th extension) but its
        // content is ignored, so only the count changes.
        let (_, ja4, _) = fingerprints(&hello);
        assert_eq!(&ja4[..10], "t13d1517h2");
        let mut hello = spec_example(&[0x0403, 0x1a1a, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]);
        hello.ciphers.push(0xfafa);
        let (_, ja4, _) = fingerprints(&hello);
        assert_eq!(ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
    }

    #[test]
    fn ja4_version_sni_and_counts() {
        let mut hello = Hello::tls12();
        hello.version = 0x0301;
        hello.ciphers = (1..=120).collect();
        let (_, ja4, _) = fingerprints(&hello);
        assert_eq!(&ja4[..11], "t10i990000_");
        // No extension at all: JA4_c is the empty-list marker.
        assert!(ja4.ends_with("_000000000000"));
        // Only GREASE suites: JA4_b is the empty-list marker.
        let mut hello = Hello::tls12().ext(0x0000, sni_data(&[(0, b"a.example")]));
        hello.ciphers = vec![0x0a0a];
        let (_, ja4, _) = fingerprints(&hello);
        assert_eq!(&ja4[..23], "t12d000100_000000000000");
        // SNI alone is counted but not hashed, leaving an empty list.
        assert!(ja4.ends_with("_000000000000"));
        // SSL 3.0 hello; supported_versions wins over legacy_version.
        let mut hello = Hello::tls12();
        hello.version = 0x0300;
        assert_eq!(&fingerprints(&hello).1[..3], "ts3");
        let hello = Hello::tls12().ext(0x002b, versions_data(&[0x7f1c, 0x0304]));
        assert_eq!(&fingerprints(&hello).1[..3], "t00", "highest value, known or not");
    }

    #[test]
    fn ja4_alpn_rules_of_the_spec() {
        for (name, code) in [
            (&b"h2"[..], "h2"),
            (b"http/1.1", "h1"),
            (b"imap", "ip"),
            (b"x", "xx"),
            (b"\xab", "ab"),
            (b"\xab\xcd", "ad"),
            (b"\x30\xab", "3b"),
            (b"\x30\x31\xab\xcd", "3d"),
            (b"\x30\xab\xcd\x31", "01"),
        ] {
            let hello = Hello::tls12().ext(0x0010, alpn_data(&[name, b"second"]));
            assert_eq!(&fingerprints(&hello).1[8..10], code, "{name:?}");
        }
        assert_eq!(&fingerprints(&Hello::tls12()).1[8..10], "00");
    }

    #[test]
    fn ja4_is_left_empty_past_its_sort_buffers() {
        let mut hello = Hello::tls12();
        hello.ciphers = (1..=600).collect();
        assert_eq!(fingerprints(&hello).1, "");
        let mut hello = Hello::tls12();
        for ext_type in 0x1000..0x1000 + 300 {
            hello = hello.ext(ext_type, Vec::new());
        }
        assert_eq!(fingerprints(&hello).1, "");
    }

    #[test]
    fn ja3_string_drops_grease_and_keeps_order() {
        let mut hello = Hello::tls12()
            .ext(0x0a0a, vec![])
            .ext(0x0000, sni_data(&[(0, b"a.example")]))
            .ext(0x000a, u16_list_data(&[0x2a2a, 29, 23, 24]))
            .ext(0x000b, point_formats_data(&[0, 1, 2]))
            .ext(0xff01, vec![0]);
        hello.ciphers = vec![0x3a3a, 0x1301, 0x00ff, 0xc02b];
        let (ja3, _, _) = fingerprints(&hello);
        assert_eq!(ja3, "771,4865-255-49195,0-10-11-65281,29-23-24,0-1-2");
        let (ja3, _, _) = fingerprints(&Hello::tls12());
        assert_eq!(ja3, "771,49195-49199,,,");
    }

    #[test]
    fn ja3_hash_covers_the_whole_string_when_the_text_is_truncated() {
        let mut hello = Hello::tls12();
        hello.ciphers = (10_000..10_300).collect();
        let message = hello.message();
        let mut facts = TlsFacts::default();
        let parsed = parse(&message, &mut facts, &mut Anomalies::default()).unwrap();
        let mut text = BoundedStr::<1024>::new();
        let md5 = ja3(&parsed, &mut text);
        assert!(text.truncated());
        let full: Vec<String> = (10_000..10_300).map(|c: u16| c.to_string()).collect();
        let full = format!("771,{},,,", full.join("-"));
        assert_eq!(md5, <[u8; 16]>::from(Md5::digest(full.as_bytes())));
        assert_eq!(text.as_bytes(), &full.as_bytes()[..1024]);
    }

    #[test]
    fn hex_and_decimal_helpers() {
        assert_eq!(&hex4(0xc02b), b"c02b");
        assert_eq!(two_digits(7), *b"07");
        assert_eq!(two_digits(1000), *b"99");
        let mut text = BoundedStr::<16>::new();
        let mut w = Ja3Writer { text: &mut text, md5: Md5::new() };
        for v in [0, 9, 10, 65535] {
            w.decimal(v);
            w.push(b" ");
        }
        assert_eq!(text.as_bytes(), b"0 9 10 65535 ");
    }
}
