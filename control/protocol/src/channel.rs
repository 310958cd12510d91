//! The report channel between a dataplane's reporter and `mailgate-control`.
//!
//! One stream connection (Unix socket, or TCP with mutual TLS) carries
//! frames both ways. A frame is a big-endian `u32` length followed by that
//! many bytes of CBOR (RFC 8949). CBOR is self-describing, so either end may
//! be a version ahead: fields it does not know are ignored, and fields added
//! with `#[serde(default)]` may be missing (the session record relies on
//! this: it skips some absent fields when serialized).
//!
//! The conversation:
//! 1. the dataplane sends [`FromDataplane::Hello`];
//! 2. it sends [`FromDataplane::Sessions`] batches, numbered; the control
//!    plane answers [`FromControl::BatchAck`] once a batch is stored, and
//!    the dataplane forgets only acknowledged batches (it resends the others
//!    after a reconnect; the control plane drops the duplicates);
//! 3. the control plane may at any time send a command ([`FromControl::SetPolicy`],
//!    [`FromControl::SetMode`], [`FromControl::StatsRequest`]) and the dataplane
//!    answers it with the same `request_id`.

use crate::record::SessionRecord;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The channel version this crate speaks; a peer with another is refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest frame either end accepts unless configured otherwise (4 MiB).
pub const DEFAULT_MAX_FRAME_BYTES: u32 = 4 << 20;

/// Bytes of the length prefix in front of every frame.
pub const LENGTH_PREFIX_BYTES: usize = 4;

/// The crypto both ends of the TLS channel use: rustls over aws-lc-rs,
/// whose key exchange prefers the post-quantum hybrid X25519MLKEM768, so
/// that records taken off the wire today (user names, hosts, verdicts)
/// cannot be decrypted later by a quantum computer. Either end falls back
/// to X25519 with a peer that has no hybrid.
pub fn tls_provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Names of the counters the reporter itself keeps, reported in
/// [`Hello::counters`] and [`Stats::counters`] next to the caller's own.
pub mod counter {
    /// Sessions a worker could not hand over because its ring was full.
    pub const RING_DROPPED: &str = "ring_dropped";
    /// Sessions thrown away because the spool was full while disconnected.
    pub const SPOOL_DISCARDED: &str = "spool_discarded";
    /// Sessions the control plane acknowledged as stored.
    pub const RECORDS_ACKED: &str = "records_acked";
    /// Sessions taken off the worker rings.
    pub const RECORDS_RECEIVED: &str = "records_received";
    /// Sessions waiting in the spool (not yet acknowledged).
    pub const SPOOL_RECORDS: &str = "spool_records";
    /// Connections established to the control plane (the first one included).
    pub const CONNECTS: &str = "connects";
}

/// Whether the dataplane enforces its policy or only reports what it would do
/// (the policy file's `mode`, which the control plane may override).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Drop and reset as the policy says.
    Block,
    /// Forward everything; verdicts become `would_drop` / `would_reset`.
    Monitor,
}

impl Mode {
    /// The name as configuration files and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Block => "block",
            Mode::Monitor => "monitor",
        }
    }
}

/// First frame of every connection: who the dataplane is and what it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub protocol_version: u32,
    /// The gateway's name (over TLS it must be a name its certificate is valid for).
    pub gateway: String,
    /// The dataplane's software version.
    pub software_version: String,
    /// Random per dataplane process: batch numbers restart with it.
    pub instance: u64,
    /// RFC 3339 time the dataplane process started.
    pub started_at: String,
    /// Hash of the policy in force, if any.
    pub policy_hash: Option<String>,
    /// The mode in force, if the dataplane knows it.
    pub mode: Option<Mode>,
    /// Counters at the time of the hello (see [`counter`]).
    pub counters: BTreeMap<String, u64>,
}

/// A numbered batch of finished sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionBatch {
    /// Increases by one per batch within one [`Hello::instance`].
    pub seq: u64,
    /// The sessions, oldest first.
    pub records: Vec<SessionRecord>,
}

/// The dataplane's counters, sent when asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// The [`FromControl::StatsRequest`] this answers.
    pub request_id: u64,
    /// Hash of the policy in force, if any.
    pub policy_hash: Option<String>,
    /// The mode in force, if known.
    pub mode: Option<Mode>,
    /// Counters (see [`counter`]), cumulative since the process started.
    pub counters: BTreeMap<String, u64>,
}

/// What became of a pushed policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum PolicyOutcome {
    /// Compiled and now in force.
    Applied {
        /// The hash of the policy now in force.
        hash: String,
    },
    /// Refused; the previous policy stays in force.
    Rejected {
        /// Why, one message per problem.
        errors: Vec<String>,
    },
}

/// Answer to [`FromControl::SetPolicy`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyAck {
    /// The request this answers.
    pub request_id: u64,
    /// Applied with a hash, or rejected with errors.
    pub outcome: PolicyOutcome,
}

/// Answer to [`FromControl::SetMode`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeAck {
    /// The request this answers.
    pub request_id: u64,
    /// The mode now in force, or why it could not change.
    pub result: Result<Mode, String>,
}

/// Every frame a dataplane sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FromDataplane {
    /// Opens the conversation.
    Hello(Hello),
    /// Finished sessions.
    Sessions(SessionBatch),
    /// Counters, on request.
    Stats(Stats),
    /// Outcome of a pushed policy.
    PolicyAck(PolicyAck),
    /// Outcome of a mode change.
    ModeAck(ModeAck),
}

/// Every frame the control plane sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FromControl {
    /// The batch with this number (and every earlier one) is stored.
    BatchAck {
        /// [`SessionBatch::seq`] of the stored batch.
        seq: u64,
    },
    /// Compile this policy and put it in force.
    SetPolicy {
        /// Echoed in the [`PolicyAck`].
        request_id: u64,
        /// The policy, as TOML.
        toml: String,
    },
    /// Switch between enforcing and monitoring.
    SetMode {
        /// Echoed in the [`ModeAck`].
        request_id: u64,
        /// The wanted mode.
        mode: Mode,
    },
    /// Send a [`Stats`] frame now.
    StatsRequest {
        /// Echoed in the [`Stats`].
        request_id: u64,
    },
    /// The connection is refused; the control plane closes it after this.
    Refused {
        /// Why, for the dataplane's log.
        reason: String,
    },
}

/// Why a frame could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix (or the encoded message) exceeds the limit.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// The frame's length.
        len: u64,
        /// The limit in force.
        max: u32,
    },
    /// The message could not be encoded.
    #[error("cannot encode frame: {0}")]
    Encode(String),
    /// The frame's bytes are not a message of the expected type.
    #[error("malformed frame: {0}")]
    Decode(String),
}

/// Encodes `message` as one frame (length prefix included).
pub fn encode_frame<T: Serialize>(message: &T, max_frame_bytes: u32) -> Result<Vec<u8>, FrameError> {
    let mut out = vec![0u8; LENGTH_PREFIX_BYTES];
    ciborium::into_writer(message, &mut out).map_err(|e| FrameError::Encode(e.to_string()))?;
    let body_len = out.len() - LENGTH_PREFIX_BYTES;
    let len = u32::try_from(body_len)
        .ok()
        .filter(|len| *len <= max_frame_bytes)
        .ok_or(FrameError::TooLarge { len: body_len as u64, max: max_frame_bytes })?;
    out.splice(..LENGTH_PREFIX_BYTES, len.to_be_bytes());
    Ok(out)
}

/// Reassembles frames from a byte stream read in arbitrary pieces.
///
/// Feed it whatever the socket returned with [`FrameDecoder::push`], then
/// take complete messages with [`FrameDecoder::next_message`] until it
/// returns `Ok(None)`. A length over the limit is reported as soon as the
/// prefix is in, so a peer cannot make it buffer more than one frame.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    max_frame_bytes: u32,
}

impl FrameDecoder {
    /// A decoder refusing frames longer than `max_frame_bytes`.
    pub fn new(max_frame_bytes: u32) -> Self {
        FrameDecoder { buf: Vec::new(), max_frame_bytes }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered that do not yet form a whole frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete message, `Ok(None)` if more bytes are needed.
    /// After an error the stream is out of sync and must be closed.
    pub fn next_message<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        let Some(prefix) = self.buf.first_chunk::<LENGTH_PREFIX_BYTES>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*prefix);
        if len > self.max_frame_bytes {
            return Err(FrameError::TooLarge { len: u64::from(len), max: self.max_frame_bytes });
        }
        let end = LENGTH_PREFIX_BYTES + len as usize;
        let Some(body) = self.buf.get(LENGTH_PREFIX_BYTES..end) else {
            return Ok(None);
        };
        let message = ciborium::from_reader(body).map_err(|e| FrameError::Decode(e.to_string()));
        self.buf.drain(..end);
        message.map(Some)
    }
}
