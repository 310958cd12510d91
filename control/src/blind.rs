//! Blind spots: the reasons a session's content could not be (fully)
//! inspected, kept per session as bit flags so that coverage figures are
//! one aggregate query.

use mailgate_protocol::SessionRecord;

/// A ClientHello without SNI: the server name is unknown.
pub const TLS_WITHOUT_SNI: i64 = 1;
/// Encrypted Client Hello: the real server name is hidden.
pub const ECH: i64 = 2;
/// Picked up mid-stream (`direction_inferred` or anomaly `midstream`): the start was missed.
pub const MIDSTREAM: i64 = 4;
/// Anomaly `reassembly_budget_exceeded`: inspection stopped early.
pub const REASSEMBLY_BUDGET_EXCEEDED: i64 = 8;
/// Anomaly `not_inspected`: no inspection state was free.
pub const NOT_INSPECTED: i64 = 16;

/// Every reason with the name the API and reports use.
pub const REASONS: [(i64, &str); 5] = [
    (TLS_WITHOUT_SNI, "tls_without_sni"),
    (ECH, "ech"),
    (MIDSTREAM, "midstream"),
    (REASSEMBLY_BUDGET_EXCEEDED, "reassembly_budget_exceeded"),
    (NOT_INSPECTED, "not_inspected"),
];

/// The blind-spot flags of a record.
pub fn flags(record: &SessionRecord) -> i64 {
    let anomaly = |name: &str| record.anomalies.iter().any(|a| a == name);
    let mut flags = 0;
    if let Some(tls) = &record.tls {
        if tls.sni.is_none() {
            flags |= TLS_WITHOUT_SNI;
        }
        if tls.ech {
            flags |= ECH;
        }
    }
    if record.direction_inferred || anomaly("midstream") {
        flags |= MIDSTREAM;
    }
    if anomaly("reassembly_budget_exceeded") {
        flags |= REASSEMBLY_BUDGET_EXCEEDED;
    }
    if anomaly("not_inspected") {
        flags |= NOT_INSPECTED;
    }
    flags
}
