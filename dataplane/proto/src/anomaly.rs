//! Protocol and stream anomalies, recorded as events on the session rather
//! than returned as errors (a malformed handshake is evidence, not a failure).

/// A set of anomalies seen on one session, as a bit set so that it is `Copy`
/// and costs nothing to carry through the dataplane.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Anomalies(u32);

macro_rules! anomalies {
    ($($(#[$doc:meta])* $konst:ident = $bit:expr, $name:literal;)*) => {
        impl Anomalies {
            $($(#[$doc])* pub const $konst: Anomalies = Anomalies(1 << $bit);)*
            /// Every anomaly with its name in records, in bit order.
            pub const ALL: &'static [(Anomalies, &'static str)] = &[$((Anomalies::$konst, $name)),*];
        }
    };
}

anomalies! {
    /// Two copies of the same stream bytes differed; the first copy was kept.
    OVERLAP_MISMATCH = 0, "overlap_mismatch";
    /// The per-direction reassembly budget was spent before the handshake ended.
    REASSEMBLY_BUDGET_EXCEEDED = 1, "reassembly_budget_exceeded";
    /// A protocol line was longer than the parser keeps; it was truncated.
    LONG_LINE = 2, "long_line";
    /// A line ended with a bare LF instead of CRLF.
    BARE_LF = 3, "bare_lf";
    /// A SASL or base64 payload could not be decoded.
    INVALID_SASL = 4, "invalid_sasl";
    /// The client sent commands after STARTTLS was accepted without starting TLS.
    PLAINTEXT_AFTER_STARTTLS = 5, "plaintext_after_starttls";
    /// A TLS record or ClientHello was malformed.
    INVALID_TLS = 6, "invalid_tls";
    /// The ClientHello carried more than one SNI host name (RFC 6066 forbids it).
    DUPLICATE_SNI = 7, "duplicate_sni";
    /// The session was first seen after its TCP handshake (direction inferred).
    MIDSTREAM = 8, "midstream";
    /// A command was sent that the protocol does not allow in its state.
    UNEXPECTED_COMMAND = 9, "unexpected_command";
    /// Data was carried on the SYN segment.
    SYN_WITH_DATA = 10, "syn_with_data";
    /// A gap in the stream (lost segment) stopped inspection of that direction.
    STREAM_GAP = 11, "stream_gap";
    /// IP fragments of the session overlapped.
    FRAGMENT_OVERLAP = 12, "fragment_overlap";
    /// The client pipelined commands before the server greeting.
    EARLY_CLIENT_DATA = 13, "early_client_data";
    /// A mail protocol ran on a port that is not one of its standard ports.
    MAIL_ON_NONSTANDARD_PORT = 14, "mail_on_nonstandard_port";
    /// A mail port carried something that is not mail (a tunnel, another protocol).
    NON_MAIL_ON_MAIL_PORT = 15, "non_mail_on_mail_port";
    /// No inspection state was free (pools exhausted): the session was not inspected.
    NOT_INSPECTED = 16, "not_inspected";
}

impl Anomalies {
    /// The empty set.
    pub const NONE: Anomalies = Anomalies(0);

    /// Adds every anomaly of `other` to this set.
    #[inline]
    pub fn insert(&mut self, other: Anomalies) {
        self.0 |= other.0;
    }

    /// True when every anomaly of `other` is in this set.
    #[inline]
    pub fn contains(self, other: Anomalies) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// True when no anomaly was recorded.
    #[inline]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The names of the anomalies in this set, as records spell them.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::ALL.iter().filter(move |(a, _)| self.contains(*a)).map(|(_, name)| *name)
    }

    /// Looks an anomaly up by its record name (for policy files).
    pub fn from_name(name: &str) -> Option<Anomalies> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(a, _)| *a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_serialize_in_bit_order() {
        let mut set = Anomalies::NONE;
        set.insert(Anomalies::BARE_LF);
        set.insert(Anomalies::OVERLAP_MISMATCH);
        assert_eq!(set.names().collect::<Vec<_>>(), ["overlap_mismatch", "bare_lf"]);
        for (a, name) in Anomalies::ALL {
            assert_eq!(Anomalies::from_name(name), Some(*a));
        }
        assert!(!Anomalies::NONE.contains(Anomalies::NONE));
    }

    #[test]
    fn every_anomaly_has_its_own_bit_and_name() {
        for (i, (a, name)) in Anomalies::ALL.iter().enumerate() {
            for (b, other) in Anomalies::ALL.iter().skip(i + 1) {
                assert_ne!(a, b, "{name} and {other} share a bit");
                assert_ne!(name, other);
            }
        }
    }
}
