//! JA3 and JA4 client fingerprints of a ClientHello.
//!
//! JA3 (Salesforce, 2017): `SSLVersion,Ciphers,Extensions,EllipticCurves,
//! EllipticCurvePointFormats`, values in decimal joined by `-`, GREASE left
//! out, then MD5. JA4 (FoxIO, `technical_details/JA4.md`): a readable prefix
//! then two truncated SHA-256 hashes of the sorted cipher and extension
//! lists. Both are built with fixed-size stack buffers and streaming
//! hashes: no allocation.
//!
//! The parser does not compute them: it keeps their inputs
//! ([`HelloInputs`], a few hundred bytes of value lists) and whoever reads
//! the fingerprints computes them, which is the record builder, off the
//! worker, for the sessions it reports. Only a hello with longer lists than
//! the inputs keep has its fingerprints computed at once.

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

/// Longest lists [`HelloInputs`] keeps (non-GREASE values). Browsers send
/// about 16 suites, 18 extensions, 5 groups and 10 signature schemes;
/// OpenSSL up to 60 suites and 30 schemes.
const KEPT_CIPHERS: usize = 128;
/// See [`KEPT_CIPHERS`].
const KEPT_EXTENSIONS: usize = 48;
/// See [`KEPT_CIPHERS`].
const KEPT_GROUPS: usize = 24;
/// See [`KEPT_CIPHERS`].
const KEPT_POINT_FORMATS: usize = 4;
/// See [`KEPT_CIPHERS`].
const KEPT_SIGNATURES: usize = 48;

/// The single values of a hello its fingerprints use (the lists aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HelloScalars {
    /// `legacy_version`.
    legacy_version: u16,
    /// The highest non-GREASE `supported_versions` value.
    max_supported_version: Option<u16>,
    /// A `server_name` extension is present.
    has_server_name: bool,
    /// JA4's two characters for the first ALPN value.
    alpn_code: [u8; 2],
}

/// What JA3 and JA4 are computed from, whether borrowed from the message
/// or kept in [`HelloInputs`]. Lists may include GREASE: the fingerprints
/// leave it out.
pub(crate) trait HelloParts {
    /// The single values.
    fn scalars(&self) -> HelloScalars;
    /// Cipher suites, in order.
    fn ciphers(&self) -> impl Iterator<Item = u16> + '_;
    /// Extension types, in order, repeats included.
    fn extension_types(&self) -> impl Iterator<Item = u16> + '_;
    /// `supported_groups`, in order.
    fn groups(&self) -> impl Iterator<Item = u16> + '_;
    /// `ec_point_formats`, in order.
    fn point_formats(&self) -> impl Iterator<Item = u16> + '_;
    /// `signature_algorithms`, in order.
    fn signatures(&self) -> impl Iterator<Item = u16> + '_;
}

impl HelloParts for ClientHello<'_> {
    fn scalars(&self) -> HelloScalars {
        HelloScalars {
            legacy_version: self.legacy_version,
            max_supported_version: self.max_supported_version,
            has_server_name: self.has_server_name,
            alpn_code: alpn_code(self.first_alpn),
        }
    }
    fn ciphers(&self) -> impl Iterator<Item = u16> + '_ {
        u16s(self.cipher_suites)
    }
    fn extension_types(&self) -> impl Iterator<Item = u16> + '_ {
        extensions(self.extensions).map(|(ext_type, _)| ext_type)
    }
    fn groups(&self) -> impl Iterator<Item = u16> + '_ {
        u16s(self.supported_groups)
    }
    fn point_formats(&self) -> impl Iterator<Item = u16> + '_ {
        self.ec_point_formats.iter().map(|f| u16::from(*f))
    }
    fn signatures(&self) -> impl Iterator<Item = u16> + '_ {
        u16s(self.signature_algorithms)
    }
}

/// Up to `N` values in fixed space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Values<const N: usize> {
    len: u8,
    items: [u16; N],
}

impl<const N: usize> Values<N> {
    /// The non-GREASE values of `values`, or `None` when there are more than `N` (or 255).
    fn kept(values: impl Iterator<Item = u16>) -> Option<Self> {
        let mut kept = Values { len: 0, items: [0; N] };
        for value in values.filter(|v| !is_grease(*v)) {
            *kept.items.get_mut(usize::from(kept.len))? = value;
            kept.len = kept.len.checked_add(1)?;
        }
        Some(kept)
    }

    fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.items.iter().take(usize::from(self.len)).copied()
    }
}

/// A ClientHello's fingerprint inputs, copied out of the message (GREASE
/// left out) so that the fingerprints can be computed after the message
/// is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelloInputs {
    scalars: HelloScalars,
    ciphers: Values<KEPT_CIPHERS>,
    extension_types: Values<KEPT_EXTENSIONS>,
    groups: Values<KEPT_GROUPS>,
    point_formats: Values<KEPT_POINT_FORMATS>,
    signatures: Values<KEPT_SIGNATURES>,
}

impl HelloInputs {
    /// The inputs of `hello`, or `None` when one of its lists is longer than is kept.
    fn of(hello: &ClientHello<'_>) -> Option<Self> {
        Some(HelloInputs {
            scalars: hello.scalars(),
            ciphers: Values::kept(hello.ciphers())?,
            extension_types: Values::kept(hello.extension_types())?,
            groups: Values::kept(hello.groups())?,
            point_formats: Values::kept(hello.point_formats())?,
            signatures: Values::kept(hello.signatures())?,
        })
    }
}

impl HelloParts for HelloInputs {
    fn scalars(&self) -> HelloScalars {
        self.scalars
    }
    fn ciphers(&self) -> impl Iterator<Item = u16> + '_ {
        self.ciphers.iter()
    }
    fn extension_types(&self) -> impl Iterator<Item = u16> + '_ {
        self.extension_types.iter()
    }
    fn groups(&self) -> impl Iterator<Item = u16> + '_ {
        self.groups.iter()
    }
    fn point_formats(&self) -> impl Iterator<Item = u16> + '_ {
        self.point_formats.iter()
    }
    fn signatures(&self) -> impl Iterator<Item = u16> + '_ {
        self.signatures.iter()
    }
}

/// A JA3 fingerprint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ja3 {
    /// The JA3 string; cut at 1024 bytes (marked truncated) on huge hellos.
    pub text: BoundedStr<1024>,
    /// MD5 of the whole JA3 string, even when `text` was cut.
    pub md5: [u8; 16],
}

impl Ja3 {
    /// The hash as 32 lowercase hex digits, the form JA3 lists use.
    pub fn hash_hex(&self) -> BoundedStr<32> {
        let mut hex = [0u8; 32];
        write_hex(&mut hex, self.md5);
        BoundedStr::from_bytes(&hex)
    }
}

/// A hello's fingerprints as the facts hold them.
// The facts are fixed-size and `Copy` (they live in a pool and travel
// through rings): the rare large variant stays inline, as the JA3 text
// always was, rather than boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fingerprints {
    /// No well-formed hello: both fingerprints empty (and the JA3 hash zero).
    #[default]
    None,
    /// To be computed from these when read.
    Deferred(HelloInputs),
    /// Computed at once: the hello's lists were longer than [`HelloInputs`] keeps.
    Computed {
        /// JA3.
        ja3: Ja3,
        /// JA4 (empty past 512 suites or 256 extensions).
        ja4: BoundedStr<40>,
    },
}

impl Fingerprints {
    /// The fingerprints of `hello`: its inputs, or the fingerprints themselves when the inputs do not fit.
    pub(crate) fn of(hello: &ClientHello<'_>) -> Self {
        match HelloInputs::of(hello) {
            Some(inputs) => Fingerprints::Deferred(inputs),
            None => Fingerprints::Computed { ja3: ja3(hello), ja4: ja4(hello) },
        }
    }

    /// The JA3 fingerprint (an MD5 to compute, when deferred).
    pub fn ja3(&self) -> Ja3 {
        match self {
            Fingerprints::None => Ja3::default(),
            Fingerprints::Deferred(inputs) => ja3(inputs),
            Fingerprints::Computed { ja3, .. } => *ja3,
        }
    }

    /// The JA4 fingerprint (a sort and two SHA-256s to compute, when deferred).
    pub fn ja4(&self) -> BoundedStr<40> {
        match self {
            Fingerprints::None => BoundedStr::new(),
            Fingerprints::Deferred(inputs) => ja4(inputs),
            Fingerprints::Computed { ja4, .. } => *ja4,
        }
    }
}

/// The JA3 string (truncated at the text's capacity if longer) and the MD5 of all of it.
pub(crate) fn ja3(hello: &impl HelloParts) -> Ja3 {
    let mut fingerprint = Ja3::default();
    let mut out = Ja3Writer { text: &mut fingerprint.text, md5: Md5::new() };
    out.decimal(hello.scalars().legacy_version);
    out.push(b",");
    out.list(hello.ciphers());
    out.push(b",");
    out.list(hello.extension_types());
    out.push(b",");
    out.list(hello.groups());
    out.push(b",");
    out.list(hello.point_formats());
    fingerprint.md5 = out.md5.finalize().into();
    fingerprint
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

/// The JA4 fingerprint of a hello seen over TCP; empty when the hello
/// lists more than 512 cipher suites or carries more than 256 extensions
/// (no real client does; JA4 over part of the list would be a wrong
/// fingerprint, not a partial one).
pub(crate) fn ja4(hello: &impl HelloParts) -> BoundedStr<40> {
    let mut out = BoundedStr::new();
    let mut ciphers = [0u16; MAX_JA4_CIPHERS];
    let Some(ciphers) = collect(hello.ciphers(), &mut ciphers) else {
        return out;
    };
    let mut ext_types = [0u16; MAX_JA4_EXTENSIONS];
    let Some(ext_types) = collect(hello.extension_types(), &mut ext_types) else {
        return out;
    };
    let scalars = hello.scalars();
    let [v1, v2] = version_code(scalars.max_supported_version.unwrap_or(scalars.legacy_version));
    let sni = if scalars.has_server_name { b'd' } else { b'i' };
    let [c1, c2] = two_digits(ciphers.len());
    let [e1, e2] = two_digits(ext_types.len());
    let [a1, a2] = scalars.alpn_code;
    let prefix = [b't', v1, v2, sni, c1, c2, e1, e2, a1, a2];

    ciphers.sort_unstable();
    let cipher_hash = hash12(ciphers.iter().copied(), None::<std::iter::Empty<u16>>);
    ext_types.sort_unstable();
    let listed = ext_types.iter().copied().filter(|t| *t != EXT_SERVER_NAME && *t != EXT_ALPN);
    let signatures = hello.signatures().filter(|s| !is_grease(*s));
    let ext_hash = hash12(listed, Some(signatures));

    out.push_bytes(&prefix);
    out.push_bytes(b"_");
    out.push_bytes(&cipher_hash);
    out.push_bytes(b"_");
    out.push_bytes(&ext_hash);
    out
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
    write_hex(&mut out, digest);
    out
}

/// A 16-bit value as 4 lowercase hex digits.
fn hex4(value: u16) -> [u8; 4] {
    let [a, b] = value.to_be_bytes();
    [hex_digit(a >> 4), hex_digit(a & 0xf), hex_digit(b >> 4), hex_digit(b & 0xf)]
}

/// Fills `out` with the lowercase hex digits of the leading `bytes`.
fn write_hex(out: &mut [u8], bytes: impl IntoIterator<Item = u8>) {
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        if let [hi, lo] = pair {
            *hi = hex_digit(byte >> 4);
            *lo = hex_digit(byte & 0xf);
        }
    }
}

/// The lowercase hex digit of the low nibble of `n`.
fn hex_digit(n: u8) -> u8 {
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

    /// JA3 and JA4 of `hello`, computed from the message; where the
    /// hello's lists fit in [`HelloInputs`], the fingerprints computed later
    /// from the kept inputs must be the same.
    fn fingerprints(hello: &Hello) -> (String, String, Anomalies) {
        let message = hello.message();
        let mut facts = TlsFacts::default();
        let mut anomalies = Anomalies::NONE;
        let parsed = parse(&message, &mut facts, &mut anomalies).unwrap();
        let (ja3, ja4) = (ja3(&parsed), ja4(&parsed));
        if !ja3.text.truncated() {
            assert_eq!(ja3.md5, <[u8; 16]>::from(Md5::digest(ja3.text.as_bytes())));
        }
        match Fingerprints::of(&parsed) {
            Fingerprints::Deferred(inputs) => {
                assert_eq!((super::ja3(&inputs), super::ja4(&inputs)), (ja3, ja4));
                assert!(Values::<KEPT_CIPHERS>::kept(parsed.ciphers()).is_some());
            }
            computed => assert_eq!(computed, Fingerprints::Computed { ja3, ja4 }),
        }
        (ja3.text.to_string(), ja4.to_string(), anomalies)
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
        let Ja3 { text, md5 } = ja3(&parsed);
        assert!(text.truncated());
        let full: Vec<String> = (10_000..10_300).map(|c: u16| c.to_string()).collect();
        let full = format!("771,{},,,", full.join("-"));
        assert_eq!(md5, <[u8; 16]>::from(Md5::digest(full.as_bytes())));
        assert_eq!(text.as_bytes(), &full.as_bytes()[..1024]);
        // Too many suites to keep: computed at once, and the same.
        assert_eq!(Fingerprints::of(&parsed).ja3(), Ja3 { text, md5 });
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
