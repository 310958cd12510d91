//! The mailgate control plane: receives session reports from dataplanes,
//! stores them in SQLite, serves them over an HTTP API with Prometheus
//! metrics, exports Suricata-style EVE JSON, detects periodic mail
//! sessions, and pushes policies to the gateways. `mailgatectl` is its
//! command-line client ([`client`], [`baseline`]).

pub mod addr;
pub mod api;
pub mod baseline;
pub mod client;
pub mod config;
pub mod eve;
pub mod hub;
pub mod ingest;
pub mod metrics;
pub mod periodic;
pub mod policy;
pub mod server;
pub mod state;
pub mod store;
pub mod tls;
