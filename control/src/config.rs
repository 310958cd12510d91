//! The control plane's own configuration file (TOML), not the egress policy.
//!
//! Unknown keys are errors, so a misspelt setting is reported instead of
//! silently ignored; see `control/mailgate-control.toml` for every key.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema (the message has line and column).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong and where.
        message: String,
    },
    /// The settings parse but do not make sense together.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    /// The HTTP API.
    pub api: ApiConfig,
    /// The SQLite database.
    pub storage: StorageConfig,
    /// The report channel's listeners.
    pub channel: ChannelConfig,
    /// Periodic-session detection.
    #[serde(default)]
    pub periodic: PeriodicConfig,
    /// Suricata-style EVE export; absent = no export.
    #[serde(default)]
    pub eve: Option<EveConfig>,
    /// Endpoint telemetry: the join to sessions, and a watched directory.
    #[serde(default)]
    pub endpoint: EndpointConfig,
    /// What coverage figures count as internal and as relays.
    #[serde(default)]
    pub coverage: CoverageConfig,
}

/// `[api]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Allow `listen` to be a non-loopback address (the API then faces the network).
    #[serde(default)]
    pub allow_remote: bool,
    /// The bearer token, inline. Exactly one of `token` and `token_file`.
    #[serde(default)]
    pub token: Option<String>,
    /// A file holding the bearer token (surrounding white space ignored).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// How long `POST /api/v1/policy` waits for the gateways' acknowledgements.
    #[serde(default = "default_ack_timeout_ms")]
    pub ack_timeout_ms: u64,
}

/// `[storage]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// The SQLite file (created if missing).
    pub db_path: PathBuf,
    /// Sessions older than this are deleted.
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// Oldest sessions are deleted while the database's live data exceeds this.
    #[serde(default = "default_max_db_mb")]
    pub max_db_mb: u64,
    /// How often retention runs.
    #[serde(default = "default_retention_interval_secs")]
    pub retention_interval_secs: u64,
}

/// `[channel]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// The Unix socket dataplanes on this host connect to; absent = none.
    #[serde(default)]
    pub unix_socket: Option<PathBuf>,
    /// The mutual-TLS listener for remote dataplanes; absent = none.
    #[serde(default)]
    pub tls: Option<TlsListenerConfig>,
    /// Largest frame accepted from a dataplane.
    #[serde(default = "default_max_frame_bytes")]
    pub max_frame_bytes: u32,
    /// How often connected dataplanes are asked for their counters.
    #[serde(default = "default_stats_interval_secs")]
    pub stats_interval_secs: u64,
    /// A gateway not heard from for this long is reported as down.
    #[serde(default = "default_liveness_secs")]
    pub liveness_secs: u64,
}

/// `[channel.tls]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsListenerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// PEM certificate chain of the control plane.
    pub cert_file: PathBuf,
    /// PEM private key of the control plane.
    pub key_file: PathBuf,
    /// PEM CA(s) that sign dataplane client certificates; others are refused.
    pub client_ca_file: PathBuf,
}

/// `[periodic]`: see [`crate::periodic`] for the method.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodicConfig {
    /// Sessions a path needs in the window before it is scored.
    #[serde(default = "default_min_sessions")]
    pub min_sessions: usize,
    /// Score (1 − coefficient of variation of the intervals) at or above which an alert is raised.
    #[serde(default = "default_min_score")]
    pub min_score: f64,
    /// Only sessions this recent are considered.
    #[serde(default = "default_window_hours")]
    pub window_hours: u64,
    /// How often the detector runs.
    #[serde(default = "default_run_interval_secs")]
    pub interval_secs: u64,
}

impl Default for PeriodicConfig {
    fn default() -> Self {
        PeriodicConfig {
            min_sessions: default_min_sessions(),
            min_score: default_min_score(),
            window_hours: default_window_hours(),
            interval_secs: default_run_interval_secs(),
        }
    }
}

/// `[eve]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EveConfig {
    /// The file EVE JSON lines are appended to.
    pub path: PathBuf,
}

/// `[endpoint]`: see [`crate::endpoint`] and [`crate::correlate`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// How far endpoint clocks may be from the gateways', in seconds: an
    /// event joins a session when its time is within the session widened
    /// by this much on both sides.
    #[serde(default = "default_clock_skew_secs")]
    pub clock_skew_secs: u64,
    /// A directory whose files (JSON lines in any accepted format) are
    /// tailed for endpoint telemetry; absent = the API only.
    #[serde(default)]
    pub watch_dir: Option<PathBuf>,
    /// How often the directory is scanned.
    #[serde(default = "default_watch_interval_secs")]
    pub watch_interval_secs: u64,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            clock_skew_secs: default_clock_skew_secs(),
            watch_dir: None,
            watch_interval_secs: default_watch_interval_secs(),
        }
    }
}

impl EndpointConfig {
    /// The tolerance in nanoseconds.
    pub fn skew_ns(&self) -> i64 {
        i64::try_from(self.clock_skew_secs.saturating_mul(1_000_000_000)).unwrap_or(i64::MAX)
    }
}

/// `[coverage]`: see [`crate::coverage`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageConfig {
    /// Destinations in these networks are internal; all others count as the internet.
    #[serde(default = "default_internal_networks")]
    pub internal_networks: Vec<ipnet::IpNet>,
    /// The `[hosts]` groups of the policy that are mail relays; absent =
    /// derived from the policy (groups in `from` of allow rules for smtp
    /// to a destination outside `internal_networks`).
    #[serde(default)]
    pub relay_groups: Option<Vec<String>>,
}

impl Default for CoverageConfig {
    fn default() -> Self {
        CoverageConfig { internal_networks: default_internal_networks(), relay_groups: None }
    }
}

impl ControlConfig {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<ControlConfig, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
        Self::parse(&shown, &text)
    }

    /// Parses and checks configuration text; `path` names it in errors.
    pub fn parse(path: &str, text: &str) -> Result<ControlConfig, ConfigError> {
        let config: ControlConfig =
            toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })?;
        config.check().map_err(|message| ConfigError::Invalid { path: path.into(), message })?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        match (&self.api.token, &self.api.token_file) {
            (Some(_), Some(_)) => return Err("api: set either token or token_file, not both".into()),
            (None, None) => return Err("api: a token (token or token_file) is required".into()),
            (Some(t), None) if t.trim().len() < 16 => {
                return Err("api.token: use at least 16 characters".into());
            }
            _ => {}
        }
        if !self.api.allow_remote && !self.api.listen.ip().is_loopback() {
            return Err(format!(
                "api.listen = {}: not a loopback address; set api.allow_remote = true to expose the API",
                self.api.listen
            ));
        }
        if self.channel.unix_socket.is_none() && self.channel.tls.is_none() {
            return Err("channel: configure unix_socket, [channel.tls], or both".into());
        }
        if self.periodic.min_sessions < 3 {
            return Err("periodic.min_sessions: at least 3 (two intervals)".into());
        }
        if !(0.0..=1.0).contains(&self.periodic.min_score) {
            return Err("periodic.min_score: between 0 and 1".into());
        }
        if self.endpoint.clock_skew_secs > 86_400 {
            return Err("endpoint.clock_skew_secs: at most 86400 (a day)".into());
        }
        if self.coverage.relay_groups.as_ref().is_some_and(Vec::is_empty) {
            return Err(
                "coverage.relay_groups: list at least one group, or omit it to derive them from the policy".into()
            );
        }
        if self.storage.retention_days == 0 || self.storage.max_db_mb == 0 {
            return Err("storage: retention_days and max_db_mb must be positive".into());
        }
        Ok(())
    }

    /// The API token, read from `token_file` if that is how it is given.
    pub fn token(&self) -> Result<String, ConfigError> {
        match (&self.api.token, &self.api.token_file) {
            (Some(token), _) => Ok(token.trim().to_string()),
            (None, Some(file)) => {
                let shown = file.display().to_string();
                let token = std::fs::read_to_string(file)
                    .map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
                let token = token.trim().to_string();
                if token.len() < 16 {
                    return Err(ConfigError::Invalid {
                        path: shown,
                        message: "token: use at least 16 characters".into(),
                    });
                }
                Ok(token)
            }
            (None, None) => Err(ConfigError::Invalid { path: String::new(), message: "no token".into() }),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8787))
}
fn default_ack_timeout_ms() -> u64 {
    5000
}
fn default_retention_days() -> u32 {
    30
}
fn default_max_db_mb() -> u64 {
    2048
}
fn default_retention_interval_secs() -> u64 {
    300
}
fn default_max_frame_bytes() -> u32 {
    mailgate_protocol::channel::DEFAULT_MAX_FRAME_BYTES
}
fn default_stats_interval_secs() -> u64 {
    10
}
fn default_liveness_secs() -> u64 {
    60
}
fn default_min_sessions() -> usize {
    8
}
fn default_min_score() -> f64 {
    0.9
}
fn default_window_hours() -> u64 {
    24
}
fn default_run_interval_secs() -> u64 {
    60
}
fn default_clock_skew_secs() -> u64 {
    120
}
fn default_watch_interval_secs() -> u64 {
    5
}
/// RFC 1918, shared address space (RFC 6598), loopback, link-local and
/// unique-local IPv6.
fn default_internal_networks() -> Vec<ipnet::IpNet> {
    [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    ]
    .iter()
    .filter_map(|n| n.parse().ok())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[api]\ntoken = \"0123456789abcdef\"\n[storage]\ndb_path = \"/tmp/x.db\"\n[channel]\nunix_socket = \"/tmp/x.sock\"\n";

    #[test]
    fn minimal_file_gets_defaults() {
        let config = ControlConfig::parse("t.toml", MINIMAL).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.api.listen, default_listen());
        assert_eq!(config.periodic.min_sessions, 8);
        assert!(config.eve.is_none());
        assert_eq!(config.endpoint.clock_skew_secs, 120);
        assert!(config.endpoint.watch_dir.is_none() && config.coverage.relay_groups.is_none());
        assert!(config
            .coverage
            .internal_networks
            .iter()
            .any(|n| n
                .contains(&"10.1.2.3".parse::<std::net::IpAddr>().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into()))));
    }

    #[test]
    fn endpoint_and_coverage_settings_are_checked() {
        let text = format!("{MINIMAL}[coverage]\ninternal_networks = [\"10.0.0.0/33\"]\n");
        let err = ControlConfig::parse("t.toml", &text).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("line 8"), "{err}");
        let text = format!("{MINIMAL}[coverage]\nrelay_groups = []\n");
        let err = ControlConfig::parse("t.toml", &text).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("coverage.relay_groups"), "{err}");
        let text = format!("{MINIMAL}[endpoint]\nclock_skew = 5\n");
        let err = ControlConfig::parse("t.toml", &text).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("clock_skew") && err.contains("clock_skew_secs"), "{err}");
    }

    #[test]
    fn unknown_key_is_an_error_with_its_position() {
        let text = MINIMAL.replace("[storage]\n", "[storage]\nretention_dayz = 3\n");
        let err = ControlConfig::parse("t.toml", &text).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("retention_dayz") && err.contains("line 4"), "{err}");
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let text = include_str!("../mailgate-control.toml");
        let config = ControlConfig::parse("mailgate-control.toml", text).unwrap_or_else(|e| panic!("{e}"));
        assert!(config.channel.tls.is_some() && config.eve.is_some());
        assert_eq!(config.api.token_file.as_deref(), Some(Path::new("/etc/mailgate/api-token")));
    }

    #[test]
    fn remote_listen_needs_opt_in() {
        let text = MINIMAL.replace("[api]\n", "[api]\nlisten = \"0.0.0.0:8787\"\n");
        let err = ControlConfig::parse("t.toml", &text).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("allow_remote"), "{err}");
        let text = MINIMAL.replace("[api]\n", "[api]\nlisten = \"0.0.0.0:8787\"\nallow_remote = true\n");
        assert!(ControlConfig::parse("t.toml", &text).is_ok());
    }
}
