//! The mailgate dataplane: everything between a received frame and a verdict.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod engine;
pub mod io;
pub mod worker;
