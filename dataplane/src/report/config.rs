//! The reporter's settings, as the `[report]` table of the dataplane's
//! configuration file.

use mailgate_protocol::channel::DEFAULT_MAX_FRAME_BYTES;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where the control plane listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "transport", rename_all = "lowercase", deny_unknown_fields)]
pub enum Endpoint {
    /// A Unix stream socket on the same host (the default deployment).
    Unix {
        /// The socket's path.
        path: PathBuf,
    },
    /// TCP with mutual TLS, for a control plane on another host.
    Tls {
        /// `host:port` of the control plane's TLS listener.
        addr: String,
        /// The name the control plane's certificate must be valid for.
        server_name: String,
        /// PEM file of the CA(s) that sign the control plane's certificate.
        ca_file: PathBuf,
        /// PEM file of this gateway's certificate chain.
        cert_file: PathBuf,
        /// PEM file of this gateway's private key.
        key_file: PathBuf,
    },
}

/// Everything the reporter thread needs to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReporterConfig {
    /// This gateway's name, as the control plane lists it (over TLS, a
    /// DNS name the gateway's certificate is valid for).
    pub gateway: String,
    /// The control plane to report to.
    pub endpoint: Endpoint,
    /// Records per batch frame at most.
    #[serde(default = "default_batch_max_records")]
    pub batch_max_records: usize,
    /// A partial batch is sent after this long.
    #[serde(default = "default_flush_interval_ms")]
    pub flush_interval_ms: u64,
    /// Records kept while the control plane is unreachable (the loss bound).
    #[serde(default = "default_spool_max_records")]
    pub spool_max_records: usize,
    /// Encoded bytes kept while the control plane is unreachable.
    #[serde(default = "default_spool_max_bytes")]
    pub spool_max_bytes: usize,
    /// First reconnect delay; doubled after every failure.
    #[serde(default = "default_backoff_initial_ms")]
    pub backoff_initial_ms: u64,
    /// Longest reconnect delay.
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Largest frame sent or accepted.
    #[serde(default = "default_max_frame_bytes")]
    pub max_frame_bytes: u32,
    /// Where the last policy the control plane pushed is saved, to start
    /// from after a restart; `None` keeps pushed policies in memory only.
    #[serde(default)]
    pub policy_path: Option<PathBuf>,
    /// Report every TCP flow, as `inspect --all-flows` writes them, not
    /// only the sessions that are mail or used a mail port (the default).
    #[serde(default)]
    pub all_flows: bool,
}

impl ReporterConfig {
    /// A configuration with every default, reporting to `endpoint` as `gateway`.
    pub fn new(gateway: impl Into<String>, endpoint: Endpoint) -> Self {
        ReporterConfig {
            gateway: gateway.into(),
            endpoint,
            batch_max_records: default_batch_max_records(),
            flush_interval_ms: default_flush_interval_ms(),
            spool_max_records: default_spool_max_records(),
            spool_max_bytes: default_spool_max_bytes(),
            backoff_initial_ms: default_backoff_initial_ms(),
            backoff_max_ms: default_backoff_max_ms(),
            max_frame_bytes: default_max_frame_bytes(),
            policy_path: None,
            all_flows: false,
        }
    }

    /// Checks the bounds relate sensibly; the message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.gateway.is_empty() {
            return Err("report.gateway must not be empty".into());
        }
        if self.batch_max_records == 0 {
            return Err("report.batch_max_records must be at least 1".into());
        }
        if self.spool_max_records < self.batch_max_records {
            return Err("report.spool_max_records must be at least report.batch_max_records".into());
        }
        if self.spool_max_bytes < self.max_frame_bytes as usize {
            return Err("report.spool_max_bytes must be at least report.max_frame_bytes".into());
        }
        if self.backoff_initial_ms == 0 || self.backoff_max_ms < self.backoff_initial_ms {
            return Err("report.backoff_initial_ms must be positive and at most report.backoff_max_ms".into());
        }
        Ok(())
    }
}

fn default_batch_max_records() -> usize {
    256
}
fn default_flush_interval_ms() -> u64 {
    200
}
fn default_spool_max_records() -> usize {
    100_000
}
fn default_spool_max_bytes() -> usize {
    256 << 20
}
fn default_backoff_initial_ms() -> u64 {
    100
}
fn default_backoff_max_ms() -> u64 {
    30_000
}
fn default_max_frame_bytes() -> u32 {
    DEFAULT_MAX_FRAME_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_unix_endpoint_with_defaults_and_rejects_unknown_keys() {
        let config: ReporterConfig = serde_json::from_str(
            r#"{"gateway": "gw1", "endpoint": {"transport": "unix", "path": "/run/mailgate/control.sock"}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config, ReporterConfig::new("gw1", Endpoint::Unix { path: "/run/mailgate/control.sock".into() }));
        assert!(config.validate().is_ok());
        let err = serde_json::from_str::<ReporterConfig>(
            r#"{"gateway": "gw1", "spool": 3, "endpoint": {"transport": "unix", "path": "/x"}}"#,
        );
        assert!(err.is_err());
    }

    #[test]
    fn spool_smaller_than_a_batch_is_refused() {
        let mut config = ReporterConfig::new("gw1", Endpoint::Unix { path: "/x".into() });
        config.spool_max_records = 10;
        assert!(config.validate().is_err_and(|e| e.contains("spool_max_records")));
    }
}
