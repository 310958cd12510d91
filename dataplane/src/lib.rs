//! The mailgate dataplane: everything between a received frame and a verdict.
//!
//! A frame goes `decode` → `flow` (table, reassembly) → `session`
//! (detection, protocol parsers from `mailgate-proto`) → `verdict` (the
//! policy from `mailgate-config`) → `rst`; `engine` ties these together per
//! worker, `worker` runs the poll loop over any `io` backend, `record` and
//! `replay` turn finished sessions into JSON records.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod decode;
pub mod engine;
pub mod flow;
pub mod io;
pub mod record;
pub mod replay;
pub mod report;
pub mod rst;
#[cfg(feature = "dpdk")]
pub mod runtime;
pub mod session;
pub mod settings;
pub mod verdict;
pub mod worker;
