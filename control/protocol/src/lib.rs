//! Types shared by `mailgate-dataplane` and `mailgate-control`.
//!
//! [`record::SessionRecord`] is the contract that `inspect` writes as JSON
//! lines, that the reporter ships to the control plane, and that the API
//! serves: its field names are read by tools and tests and never renamed.
//! [`channel`] holds the report channel's messages and framing.

pub mod channel;
pub mod record;

pub use record::SessionRecord;
