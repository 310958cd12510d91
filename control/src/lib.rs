//! The mailgate control plane: receives session reports from dataplanes,
//! stores them in SQLite, serves them over an HTTP API with Prometheus
//! metrics and a read-only dashboard, exports Suricata-style EVE JSON,
//! detects periodic mail sessions, joins sessions to endpoint telemetry
//! ([`endpoint`], [`correlate`]), computes triage ([`triage`]), coverage
//! ([`coverage`]) and audit evidence ([`audit`]), and pushes policies to
//! the gateways. `mailgatectl` is its command-line client ([`client`],
//! [`baseline`], [`report`], [`terminal`], [`timespec`]).

pub mod addr;
pub mod api;
pub mod audit;
pub mod baseline;
pub mod blind;
pub mod client;
pub mod config;
pub mod correlate;
pub mod coverage;
pub mod dashboard;
pub mod endpoint;
pub mod eve;
pub mod gateways;
pub mod hub;
pub mod ingest;
pub mod metrics;
pub mod periodic;
pub mod policy;
pub mod report;
pub mod server;
pub mod state;
pub mod store;
pub mod svg;
pub mod terminal;
pub mod timespec;
pub mod tls;
pub mod triage;
