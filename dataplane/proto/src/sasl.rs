//! The client side of a SASL exchange (RFC 4422) as SMTP AUTH, IMAP
//! AUTHENTICATE and POP3 AUTH carry it: base64 responses, from which the
//! user name is taken and everything else forgotten.
//!
//! Each response is decoded into a buffer on the stack, the user name (and
//! nothing else) is copied out, and the buffer goes out of scope: passwords,
//! digests and tokens are never stored. A response that is not base64 is an
//! `INVALID_SASL` anomaly, not an error.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use crate::anomaly::Anomalies;
use crate::line::starts_with_ignore_case;
use crate::text::BoundedStr;

/// A user name taken from a login (the facts' `user`).
pub type UserName = BoundedStr<128>;

/// Decoded bytes kept per response; the user name always lies in the first
/// few hundred bytes (an NTLM AUTHENTICATE message is typically 200–700).
/// The rest of a longer response is still checked for valid base64.
const DECODED_MAX: usize = 1024;

/// Base64 as RFC 4648 defines it; padding is stripped and checked by hand so
/// that clients that omit it are still decoded.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// The SASL mechanisms this crate knows how to find a user name in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMech {
    /// RFC 4616: `authzid NUL authcid NUL passwd`.
    Plain,
    /// The de-facto `LOGIN` mechanism: user name, then password.
    Login,
    /// RFC 2195: `user SP hex-digest`.
    CramMd5,
    /// RFC 2831: `username="…"` in the digest response.
    DigestMd5,
    /// RFC 5802 / 7677 (`SCRAM-SHA-1`, `SCRAM-SHA-256`, `-PLUS`): `n=user` in the client-first message.
    Scram,
    /// Google/Microsoft `XOAUTH2`: `user=…` before the bearer token.
    XOAuth2,
    /// RFC 7628: the GS2 header's `a=user`.
    OAuthBearer,
    /// NTLM: the user name field of the AUTHENTICATE (type 3) message.
    Ntlm,
    /// RFC 4422 appendix A: the response is the authorisation identity.
    External,
    /// Any other mechanism (GSSAPI, ANONYMOUS…): no user name is extracted.
    Other,
}

impl SaslMech {
    /// The mechanism a client named (case-insensitive).
    pub fn from_name(name: &[u8]) -> SaslMech {
        const NAMES: &[(&[u8], SaslMech)] = &[
            (b"PLAIN", SaslMech::Plain),
            (b"LOGIN", SaslMech::Login),
            (b"CRAM-MD5", SaslMech::CramMd5),
            (b"DIGEST-MD5", SaslMech::DigestMd5),
            (b"XOAUTH2", SaslMech::XOAuth2),
            (b"OAUTHBEARER", SaslMech::OAuthBearer),
            (b"NTLM", SaslMech::Ntlm),
            (b"EXTERNAL", SaslMech::External),
        ];
        if let Some((_, mech)) = NAMES.iter().find(|(n, _)| name.eq_ignore_ascii_case(n)) {
            *mech
        } else if starts_with_ignore_case(name, b"SCRAM-") {
            SaslMech::Scram
        } else {
            SaslMech::Other
        }
    }

    /// How many client responses the mechanism normally sends, or `None`
    /// when that is not known in advance.
    fn responses(self) -> Option<u8> {
        match self {
            SaslMech::Plain | SaslMech::CramMd5 | SaslMech::XOAuth2 | SaslMech::OAuthBearer | SaslMech::External => {
                Some(1)
            }
            SaslMech::Login | SaslMech::DigestMd5 | SaslMech::Scram | SaslMech::Ntlm => Some(2),
            SaslMech::Other => None,
        }
    }
}

/// What one client response did to the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslOutcome {
    /// Nothing to report (a password, a proof, an undecodable response…).
    Continue,
    /// This response named the user; it was stored.
    UserLearned,
    /// The client cancelled the exchange with `*`.
    Cancelled,
}

/// One SASL exchange, seen from the client's responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaslExchange {
    mech: SaslMech,
    responses: u8,
}

impl SaslExchange {
    /// An exchange for `mech`, before any response.
    pub fn new(mech: SaslMech) -> Self {
        SaslExchange { mech, responses: 0 }
    }

    /// True while the mechanism still has client responses to send; false
    /// once it has sent all it normally sends (a line that looks like a
    /// command then most likely is one).
    pub fn expects_more(&self) -> bool {
        match self.mech.responses() {
            Some(n) => self.responses < n,
            None => true,
        }
    }

    /// Feeds one client response as it is on the wire (base64, `=` for an
    /// empty initial response, `*` to cancel): stores the user name in
    /// `user` if this response carries it, flags `INVALID_SASL` if it cannot
    /// be decoded or is malformed for the mechanism.
    pub fn client_response(
        &mut self,
        response: &[u8],
        user: &mut Option<UserName>,
        anomalies: &mut Anomalies,
    ) -> SaslOutcome {
        let response = response.trim_ascii();
        if response == b"*" {
            return SaslOutcome::Cancelled;
        }
        let index = self.responses;
        self.responses = self.responses.saturating_add(1);
        let mut buf = [0u8; DECODED_MAX];
        let Some(len) = decode_base64(response, &mut buf) else {
            anomalies.insert(Anomalies::INVALID_SASL);
            return SaslOutcome::Continue;
        };
        let decoded = buf.get(..len).unwrap_or_default();
        let found = match (self.mech, index) {
            (SaslMech::Plain, 0) => plain_user(decoded),
            (SaslMech::Login, 0) => Found::from_raw(decoded),
            (SaslMech::CramMd5, 0) => cram_md5_user(decoded),
            (SaslMech::DigestMd5, _) => digest_md5_user(decoded),
            (SaslMech::Scram, 0) => scram_user(decoded),
            (SaslMech::XOAuth2, 0) => xoauth2_user(decoded),
            (SaslMech::OAuthBearer, 0) => oauthbearer_user(decoded),
            (SaslMech::Ntlm, _) => ntlm_user(decoded),
            (SaslMech::External, 0) => Found::from_raw(decoded),
            _ => Found::Nothing,
        };
        match found {
            Found::User(name) => {
                *user = Some(name);
                SaslOutcome::UserLearned
            }
            Found::Nothing => SaslOutcome::Continue,
            Found::Malformed => {
                anomalies.insert(Anomalies::INVALID_SASL);
                SaslOutcome::Continue
            }
        }
    }
}

/// What a mechanism-specific reader found in a decoded response.
enum Found {
    User(UserName),
    /// Nothing to take (an empty response, an NTLM NEGOTIATE message…).
    Nothing,
    /// Decodable but not what the mechanism sends at this step.
    Malformed,
}

impl Found {
    fn from_raw(name: &[u8]) -> Found {
        if name.is_empty() {
            Found::Nothing
        } else {
            Found::User(UserName::from_bytes(name))
        }
    }

    /// A SASL name with RFC 5802 / 5801 escapes (`=2C` → `,`, `=3D` → `=`).
    fn from_saslname(name: &[u8]) -> Found {
        if name.is_empty() {
            return Found::Nothing;
        }
        let mut out = UserName::new();
        let mut rest = name;
        while let Some((&b, tail)) = rest.split_first() {
            let (byte, tail) = match (b, tail) {
                (b'=', [b'2', c, tail @ ..]) if c.eq_ignore_ascii_case(&b'C') => (b',', tail),
                (b'=', [b'3', d, tail @ ..]) if d.eq_ignore_ascii_case(&b'D') => (b'=', tail),
                _ => (b, tail),
            };
            out.push_bytes(&[byte]);
            rest = tail;
        }
        Found::User(out)
    }
}

/// Decodes base64 `input` (surrounding padding `=` allowed, `=` alone meaning
/// empty) into `out`, keeping the first `out.len()` decoded bytes and still
/// checking the rest; `None` if it is not base64.
fn decode_base64(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let data_end = input.iter().position(|&b| b == b'=').unwrap_or(input.len());
    let (data, padding) = input.split_at(data_end);
    if padding.len() > 2 || padding.iter().any(|&b| b != b'=') {
        return None;
    }
    if !padding.is_empty() && !data.is_empty() && (data.len() + padding.len()) % 4 != 0 {
        return None;
    }
    let mut written = 0;
    // 64 characters decode to exactly 48 bytes; chunks stay 4-aligned.
    let mut scratch = [0u8; 48];
    for chunk in data.chunks(64) {
        let n = BASE64.decode_slice(chunk, &mut scratch).ok()?;
        let take = n.min(out.len().saturating_sub(written));
        if let (Some(dst), Some(src)) = (out.get_mut(written..written + take), scratch.get(..take)) {
            dst.copy_from_slice(src);
        }
        written += take;
    }
    Some(written)
}

/// RFC 4616: the authentication identity (the second field); the
/// authorisation identity if the client left the former empty.
fn plain_user(msg: &[u8]) -> Found {
    if msg.is_empty() {
        return Found::Nothing;
    }
    let mut fields = msg.splitn(3, |&b| b == 0);
    let (Some(authzid), Some(authcid), Some(_passwd)) = (fields.next(), fields.next(), fields.next()) else {
        return Found::Malformed;
    };
    match Found::from_raw(authcid) {
        Found::Nothing => match Found::from_raw(authzid) {
            Found::Nothing => Found::Malformed,
            user => user,
        },
        user => user,
    }
}

/// RFC 2195: `user SP digest`, the user being everything before the last space.
fn cram_md5_user(msg: &[u8]) -> Found {
    match msg.iter().rposition(|&b| b == b' ') {
        Some(space) => Found::from_raw(msg.get(..space).unwrap_or_default()),
        None => Found::Malformed,
    }
}

/// RFC 2831: the `username` directive of a digest-response (quoted-string
/// with `\` escapes, or a token). Other responses (the empty one after
/// `rspauth`) carry none.
fn digest_md5_user(msg: &[u8]) -> Found {
    let mut rest = msg;
    loop {
        rest = rest.trim_ascii_start();
        while let Some(tail) = rest.strip_prefix(b",") {
            rest = tail.trim_ascii_start();
        }
        if rest.is_empty() {
            return Found::Nothing;
        }
        let Some(eq) = rest.iter().position(|&b| b == b'=') else {
            return Found::Nothing;
        };
        let key = rest.get(..eq).unwrap_or_default().trim_ascii();
        rest = rest.get(eq + 1..).unwrap_or_default().trim_ascii_start();
        let mut value = UserName::new();
        if let Some(quoted) = rest.strip_prefix(b"\"") {
            let mut escaped = false;
            let mut end = quoted.len();
            for (i, &b) in quoted.iter().enumerate() {
                if escaped {
                    value.push_bytes(&[b]);
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    end = i + 1;
                    break;
                } else {
                    value.push_bytes(&[b]);
                }
            }
            rest = quoted.get(end..).unwrap_or_default();
        } else {
            let end = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
            value.push_bytes(rest.get(..end).unwrap_or_default().trim_ascii_end());
            rest = rest.get(end..).unwrap_or_default();
        }
        if key.eq_ignore_ascii_case(b"username") {
            return if value.is_empty() { Found::Nothing } else { Found::User(value) };
        }
    }
}

/// RFC 5802: `gs2-header [reserved-mext ","] "n=" saslname "," nonce …`.
fn scram_user(msg: &[u8]) -> Found {
    let mut fields = msg.split(|&b| b == b',');
    let (Some(cbind), Some(_authzid)) = (fields.next(), fields.next()) else {
        return Found::Malformed;
    };
    if !(cbind == b"n" || cbind == b"y" || cbind.starts_with(b"p=")) {
        return Found::Malformed;
    }
    for field in fields {
        if let Some(name) = field.strip_prefix(b"n=") {
            return Found::from_saslname(name);
        }
        if !field.starts_with(b"m=") {
            break;
        }
    }
    Found::Malformed
}

/// XOAUTH2: `user=…` `^A` `auth=Bearer …` `^A^A`.
fn xoauth2_user(msg: &[u8]) -> Found {
    kv_user(msg).unwrap_or(Found::Malformed)
}

/// RFC 7628: `gs2-header` (`n,a=user,`) `^A` key=value pairs `^A^A`; the
/// authzid names the user. Some clients send a `user=` pair instead.
fn oauthbearer_user(msg: &[u8]) -> Found {
    let header = msg.split(|&b| b == 0x01).next().unwrap_or_default();
    let mut fields = header.split(|&b| b == b',');
    let (Some(cbind), Some(authzid)) = (fields.next(), fields.next()) else {
        return Found::Malformed;
    };
    if !(cbind == b"n" || cbind == b"y" || cbind.starts_with(b"p=")) {
        return Found::Malformed;
    }
    if let Some(name) = authzid.strip_prefix(b"a=") {
        return Found::from_saslname(name);
    }
    kv_user(msg).unwrap_or(Found::Nothing)
}

/// The `user=` value among `^A`-separated key=value pairs.
fn kv_user(msg: &[u8]) -> Option<Found> {
    msg.split(|&b| b == 0x01)
        .find(|kv| starts_with_ignore_case(kv, b"user="))
        .map(|kv| Found::from_raw(kv.get(5..).unwrap_or_default()))
}

/// NTLM (MS-NLMP §2.2.1.3): the user name of an AUTHENTICATE message, in
/// UTF-16LE when the Unicode flag is set, else in the OEM code page (taken
/// as bytes). NEGOTIATE messages, which name no user, yield nothing.
fn ntlm_user(msg: &[u8]) -> Found {
    const SIGNATURE: &[u8] = b"NTLMSSP\0";
    const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
    let u16_at = |at: usize| msg.get(at..at + 2).and_then(|b| b.try_into().ok()).map(u16::from_le_bytes);
    let u32_at = |at: usize| msg.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes);
    if !msg.starts_with(SIGNATURE) {
        return Found::Malformed;
    }
    match u32_at(8) {
        Some(3) => {}
        Some(1 | 2) => return Found::Nothing,
        _ => return Found::Malformed,
    }
    // Six (length, max length, offset) fields from byte 12; the flags follow
    // at 60 unless the payload starts earlier (old, flag-less messages).
    let field = |at: usize| Some((usize::from(u16_at(at)?), usize::try_from(u32_at(at + 4)?).ok()?));
    let fields: [Option<(usize, usize)>; 6] = [field(12), field(20), field(28), field(36), field(44), field(52)];
    let Some((user_len, user_offset)) = fields[3] else {
        return Found::Malformed;
    };
    let payload_start =
        fields.iter().flatten().filter(|(len, _)| *len > 0).map(|(_, offset)| *offset).min().unwrap_or(usize::MAX);
    let unicode = payload_start >= 64 && u32_at(60).is_some_and(|flags| flags & NEGOTIATE_UNICODE != 0);
    let Some(raw) = user_offset.checked_add(user_len).and_then(|end| msg.get(user_offset..end)) else {
        return Found::Malformed;
    };
    if !unicode {
        return Found::from_raw(raw);
    }
    let mut name = UserName::new();
    let units = raw.chunks_exact(2).filter_map(|b| b.try_into().ok()).map(u16::from_le_bytes);
    for c in char::decode_utf16(units) {
        let mut utf8 = [0u8; 4];
        name.push_bytes(c.unwrap_or(char::REPLACEMENT_CHARACTER).encode_utf8(&mut utf8).as_bytes());
    }
    if name.is_empty() {
        Found::Nothing
    } else {
        Found::User(name)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    /// Runs `responses` through a fresh exchange; returns the user, the
    /// anomalies and the last outcome.
    fn run(mech: &[u8], responses: &[&[u8]]) -> (Option<String>, Anomalies, SaslOutcome) {
        let mut ex = SaslExchange::new(SaslMech::from_name(mech));
        let mut user = None;
        let mut anomalies = Anomalies::NONE;
        let mut outcome = SaslOutcome::Continue;
        for r in responses {
            outcome = ex.client_response(r, &mut user, &mut anomalies);
        }
        (user.map(|u| u.to_string()), anomalies, outcome)
    }

    #[test]
    fn mechanism_names() {
        assert_eq!(SaslMech::from_name(b"plain"), SaslMech::Plain);
        assert_eq!(SaslMech::from_name(b"Cram-MD5"), SaslMech::CramMd5);
        assert_eq!(SaslMech::from_name(b"SCRAM-SHA-256-PLUS"), SaslMech::Scram);
        assert_eq!(SaslMech::from_name(b"GSSAPI"), SaslMech::Other);
        assert_eq!(SaslMech::from_name(b""), SaslMech::Other);
    }

    #[test]
    fn plain_takes_the_authentication_identity() {
        // RFC 4616 §4 example: "\0tim\0tanstaaftanstaaf".
        let (user, anomalies, outcome) = run(b"PLAIN", &[b"AHRpbQB0YW5zdGFhZnRhbnN0YWFm"]);
        assert_eq!(user.as_deref(), Some("tim"));
        assert!(anomalies.is_empty());
        assert_eq!(outcome, SaslOutcome::UserLearned);
        // "admin\0tim\0tanstaaftanstaaf": authzid is not the user.
        assert_eq!(run(b"PLAIN", &[b"YWRtaW4AdGltAHRhbnN0YWFmdGFuc3RhYWY="]).0.as_deref(), Some("tim"));
        // "\012345678@aol.com\0passwd" (arkime-smtp-data-250.pcap).
        assert_eq!(run(b"PLAIN", &[b"ADEyMzQ1Njc4QGFvbC5jb20AcGFzc3dk"]).0.as_deref(), Some("12345678@aol.com"));
        // "tim\0\0pw": empty authcid, fall back to the authzid.
        assert_eq!(run(b"PLAIN", &[b"dGltAABwdw=="]).0.as_deref(), Some("tim"));
    }

    #[test]
    fn plain_without_separators_is_invalid() {
        // "timpassword": no NULs.
        let (user, anomalies, _) = run(b"PLAIN", &[b"dGltcGFzc3dvcmQ="]);
        assert_eq!(user, None);
        assert!(anomalies.contains(Anomalies::INVALID_SASL));
        // "=" is an empty initial response, not an error.
        let (user, anomalies, _) = run(b"PLAIN", &[b"="]);
        assert_eq!(user, None);
        assert!(anomalies.is_empty());
    }

    #[test]
    fn login_takes_the_first_response_only() {
        // Exim session of suricata-verify-bug-3616-smtp.pcap.
        let (user, anomalies, outcome) = run(b"LOGIN", &[b"Z3VycGFydGFwQHBhdHJpb3RzLmlu", b"cHVuamFiQDEyMw=="]);
        assert_eq!(user.as_deref(), Some("gurpartap@patriots.in"));
        assert!(anomalies.is_empty());
        assert_eq!(outcome, SaslOutcome::Continue);
        let mut ex = SaslExchange::new(SaslMech::Login);
        assert!(ex.expects_more());
        let (mut user, mut anomalies) = (None, Anomalies::NONE);
        ex.client_response(b"Z2FsdW50", &mut user, &mut anomalies);
        assert!(ex.expects_more());
        ex.client_response(b"VjF2MXRyMG4=", &mut user, &mut anomalies);
        assert!(!ex.expects_more());
        assert_eq!(user.map(|u| u.to_string()).as_deref(), Some("galunt"));
    }

    #[test]
    fn cram_md5_user_is_before_the_digest() {
        // RFC 2195 §2 example response: "tim b913a602c7eda7a495b4e6e7334d3890".
        let (user, anomalies, _) = run(b"CRAM-MD5", &[b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"]);
        assert_eq!(user.as_deref(), Some("tim"));
        assert!(anomalies.is_empty());
        // "nodigest" (no space) is malformed.
        assert!(run(b"CRAM-MD5", &[b"bm9kaWdlc3Q="]).1.contains(Anomalies::INVALID_SASL));
    }

    #[test]
    fn digest_md5_username_directive() {
        // RFC 2831 §4 example digest-response.
        let resp = b"Y2hhcnNldD11dGYtOCx1c2VybmFtZT0iY2hyaXMiLHJlYWxtPSJlbHdvb2QuaW5ub3NvZnQuY29tIixub25jZT0iT0E2TUc5dEVRR20yaGgiLG5jPTAwMDAwMDAxLGNub25jZT0iT0E2TUhYaDZWcVRyUmsiLGRpZ2VzdC11cmk9ImltYXAvZWx3b29kLmlubm9zb2Z0LmNvbSIscmVzcG9uc2U9ZDM4OGRhZDkwZDRiYmQ3NjBhMTUyMzIxZjIxNDNhZjcscW9wPWF1dGg=";
        let (user, anomalies, _) = run(b"DIGEST-MD5", &[resp, b""]);
        assert_eq!(user.as_deref(), Some("chris"));
        assert!(anomalies.is_empty());
        assert_eq!(digest_user_of(br#"realm="a,b", username = "x\"y""#).as_deref(), Some("x\"y"));
        assert_eq!(digest_user_of(b"username=bob,qop=auth").as_deref(), Some("bob"));
        assert_eq!(digest_user_of(b"qop=auth").as_deref(), None);
    }

    fn digest_user_of(msg: &[u8]) -> Option<String> {
        match digest_md5_user(msg) {
            Found::User(u) => Some(u.to_string()),
            _ => None,
        }
    }

    #[test]
    fn scram_client_first_message() {
        // RFC 5802 §5 example: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL".
        let (user, anomalies, _) = run(b"SCRAM-SHA-1", &[b"biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdM"]);
        assert_eq!(user.as_deref(), Some("user"));
        assert!(anomalies.is_empty());
        // "n,a=admin,n=a=2Cb=3Dc,r=x": escaped name.
        let (user, _, _) = run(b"SCRAM-SHA-256", &[b"bixhPWFkbWluLG49YT0yQ2I9M0RjLHI9eA=="]);
        assert_eq!(user.as_deref(), Some("a,b=c"));
    }

    #[test]
    fn xoauth2_user_pair() {
        // Google's XOAUTH2 documentation example.
        let (user, anomalies, _) = run(
            b"XOAUTH2",
            &[b"dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="],
        );
        assert_eq!(user.as_deref(), Some("someuser@example.com"));
        assert!(anomalies.is_empty());
    }

    #[test]
    fn oauthbearer_gs2_authzid() {
        // RFC 7628 §4.1 example.
        let (user, anomalies, _) = run(
            b"OAUTHBEARER",
            &[b"bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB"],
        );
        assert_eq!(user.as_deref(), Some("user@example.com"));
        assert!(anomalies.is_empty());
    }

    #[test]
    fn ntlm_authenticate_message_user() {
        // arkime-ntlm_synthetic.pcap, SMTP session: NEGOTIATE then AUTHENTICATE for "jack".
        let negotiate = b"TlRMTVNTUAABAAAABwIAAgcABwAoAAAACAAIAC8AAAAKAGFKAAAAD1NNVFBET01TTVRQSE9TVA==";
        let authenticate = b"TlRMTVNTUAADAAAAGAAYAFgAAAAYABgAcAAAAA4ADgCIAAAACAAIAJYAAAAQABAAngAAABAAEACuAAAABQIAAgoAYUoAAAAPAAAAAAAAAAAAAAAAAAAAAExMTExMTExMTExMTExMTExMTExMTExMTE5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTlMATQBUAFAARABPAE0AagBhAGMAawBTAE0AVABQAEgATwBTAFQAS0tLS0tLS0tLS0tLS0tLSw==";
        let mut ex = SaslExchange::new(SaslMech::Ntlm);
        let (mut user, mut anomalies) = (None, Anomalies::NONE);
        assert_eq!(ex.client_response(negotiate, &mut user, &mut anomalies), SaslOutcome::Continue);
        assert!(ex.expects_more());
        assert_eq!(ex.client_response(authenticate, &mut user, &mut anomalies), SaslOutcome::UserLearned);
        assert!(!ex.expects_more());
        assert_eq!(user.map(|u| u.to_string()).as_deref(), Some("jack"));
        assert!(anomalies.is_empty());
        // Not NTLM at all.
        assert!(run(b"NTLM", &[b"aGVsbG8="]).1.contains(Anomalies::INVALID_SASL));
    }

    #[test]
    fn invalid_base64_is_an_anomaly_not_a_user() {
        for bad in [&b"not base64!"[..], b"abcde", b"ab=c", b"a===", b"YQ=x"] {
            let (user, anomalies, _) = run(b"LOGIN", &[bad]);
            assert_eq!(user, None, "{bad:?}");
            assert!(anomalies.contains(Anomalies::INVALID_SASL), "{bad:?}");
        }
        // Missing padding is tolerated: "dXNlcg" is "user".
        assert_eq!(run(b"LOGIN", &[b"dXNlcg"]).0.as_deref(), Some("user"));
    }

    #[test]
    fn external_response_is_the_authorisation_identity() {
        // RFC 4422 appendix A.2: "fred" requested as authzid.
        assert_eq!(run(b"EXTERNAL", &[b"ZnJlZA=="]).0.as_deref(), Some("fred"));
        assert_eq!(run(b"EXTERNAL", &[b"="]).0, None);
    }

    #[test]
    fn star_cancels() {
        assert_eq!(run(b"LOGIN", &[b"*"]).2, SaslOutcome::Cancelled);
    }

    #[test]
    fn long_responses_are_decoded_up_to_the_cap_and_checked_to_the_end() {
        let mut long = b"dXNlcj1ib2IB".to_vec(); // "user=bob\x01"
        long.extend_from_slice(&[b'Q'; 4000]);
        assert_eq!(run(b"XOAUTH2", &[&long]).0.as_deref(), Some("bob"));
        long.push(b'!');
        assert!(run(b"XOAUTH2", &[&long]).1.contains(Anomalies::INVALID_SASL));
    }

    #[test]
    fn other_mechanisms_never_stop_expecting_responses() {
        let mut ex = SaslExchange::new(SaslMech::from_name(b"GSSAPI"));
        let (mut user, mut anomalies) = (None, Anomalies::NONE);
        for _ in 0..300 {
            ex.client_response(b"YWJj", &mut user, &mut anomalies);
        }
        assert!(ex.expects_more());
        assert_eq!(user, None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_responses_never_panic(
            mech in 0usize..10,
            responses in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120), 0..4),
        ) {
            let names: [&[u8]; 10] = [b"PLAIN", b"LOGIN", b"CRAM-MD5", b"DIGEST-MD5", b"SCRAM-SHA-1", b"XOAUTH2", b"OAUTHBEARER", b"NTLM", b"EXTERNAL", b"X"];
            let mut ex = SaslExchange::new(SaslMech::from_name(names[mech]));
            let (mut user, mut anomalies) = (None, Anomalies::NONE);
            for r in &responses {
                let encoded = base64::engine::general_purpose::STANDARD.encode(r);
                ex.client_response(encoded.as_bytes(), &mut user, &mut anomalies);
                ex.client_response(r, &mut user, &mut anomalies);
            }
        }
    }
}
