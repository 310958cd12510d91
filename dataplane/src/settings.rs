//! Runtime settings: the `[dataplane]` table of the config file (the policy
//! in the same file is `mailgate-config`'s business). Every field has a
//! default that works on the virtual devices; unknown keys are errors.

use crate::engine::EngineConfig;
use crate::report::ReporterConfig;
use crate::worker::PortPair;
use serde::Deserialize;
use std::path::Path;

/// How the runtime sets up DPDK, its ports and its workers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// EAL arguments (`-l`, `--vdev`, `-a`, `-m`…), used when the command
    /// line gives none after `--`.
    pub eal_args: Vec<String>,
    /// Inline port pairs (default: port 0 inside ↔ port 1 outside).
    pub pairs: Vec<PairConfig>,
    /// Mbufs in each worker's pool. `net_pcap` with `infinite_rx=1` keeps
    /// the whole capture in the pool of the worker owning queue 0.
    pub mbufs: u32,
    /// Per-lcore cache of each pool (at most 512).
    pub mbuf_cache: u32,
    /// RX descriptors per queue (adjusted to the device's limits).
    pub rx_desc: u16,
    /// TX descriptors per queue (adjusted to the device's limits).
    pub tx_desc: u16,
    /// Frames per RX burst, 1..=32.
    pub burst: u16,
    /// Seconds between stats lines on stderr (0: none).
    pub stats_interval_s: u64,
    /// Milliseconds between worker ticks (idle expiry, counters).
    pub tick_ms: u64,
    /// Clear every capability of the appliance's threads once DPDK is up
    /// (see `runtime::privileges`).
    pub drop_privileges: bool,
    /// Sessions each worker's ring to the reporter holds (with as many
    /// spare boxes of facts, ~5.6 KB each, allocated at start-up); a full
    /// ring counts what it cannot take instead of waiting.
    pub ring_capacity: usize,
    /// Flow table, pools and timeouts of each worker's engine (`[dataplane.engine]`).
    pub engine: EngineConfig,
    /// Where to report sessions (`[dataplane.report]`); without it sessions
    /// are only counted.
    pub report: Option<ReporterConfig>,
}

/// One inline pair in the config file: `{ inside = 0, outside = 1 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairConfig {
    /// Port id facing the clients.
    pub inside: u16,
    /// Port id facing the servers.
    pub outside: u16,
}

impl From<PairConfig> for PortPair {
    fn from(p: PairConfig) -> Self {
        PortPair { inside: p.inside, outside: p.outside }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            eal_args: Vec::new(),
            pairs: vec![PairConfig { inside: 0, outside: 1 }],
            // 2^17 - 1 (a power of two minus one is the pool's best size):
            // a 100k-frame capture with room to spare, ~300 MB per worker.
            mbufs: 131_071,
            mbuf_cache: 256,
            rx_desc: 1024,
            tx_desc: 1024,
            burst: 32,
            stats_interval_s: 5,
            tick_ms: 1,
            drop_privileges: true,
            ring_capacity: 4096,
            engine: EngineConfig::default(),
            report: None,
        }
    }
}

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML, or `[dataplane]` does not match the schema.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong, and where.
        message: String,
    },
    /// The values are out of range.
    #[error("{path}: [dataplane] {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// The parsed config file: runtime settings plus the whole TOML document,
/// kept for the policy compiler.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The `[dataplane]` settings (defaults where absent).
    pub runtime: RuntimeConfig,
    /// The whole file, for the policy part.
    pub document: toml::Table,
}

impl RuntimeConfig {
    /// Reads `path` and takes its `[dataplane]` table.
    pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
        Self::parse(&text, &shown)
    }

    /// Parses config file text (`origin` names it in errors).
    pub fn parse(text: &str, origin: &str) -> Result<LoadedConfig, ConfigError> {
        let parse_err = |message: String| ConfigError::Parse { path: origin.to_owned(), message };
        let document: toml::Table = text.parse().map_err(|e: toml::de::Error| parse_err(e.to_string()))?;
        let runtime = match document.get("dataplane") {
            None => RuntimeConfig::default(),
            Some(table) => {
                table.clone().try_into().map_err(|e: toml::de::Error| parse_err(format!("[dataplane]: {e}")))?
            }
        };
        runtime.validate().map_err(|message| ConfigError::Invalid { path: origin.to_owned(), message })?;
        Ok(LoadedConfig { runtime, document })
    }

    /// Checks ranges the types cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.pairs.is_empty() {
            return Err("pairs: at least one port pair is needed".into());
        }
        let mut seen = Vec::new();
        for p in &self.pairs {
            if p.inside == p.outside {
                return Err(format!("pairs: port {} cannot be paired with itself", p.inside));
            }
            for port in [p.inside, p.outside] {
                if seen.contains(&port) {
                    return Err(format!("pairs: port {port} is in more than one pair"));
                }
                seen.push(port);
            }
        }
        if !(1..=crate::io::BURST as u16).contains(&self.burst) {
            return Err(format!("burst = {}: must be between 1 and {}", self.burst, crate::io::BURST));
        }
        if self.mbuf_cache > 512 {
            return Err(format!("mbuf_cache = {}: at most 512", self.mbuf_cache));
        }
        if self.rx_desc == 0 || self.tx_desc == 0 {
            return Err("rx_desc and tx_desc must be at least 1".into());
        }
        if self.tick_ms == 0 {
            return Err("tick_ms must be at least 1".into());
        }
        if self.ring_capacity == 0 {
            return Err("ring_capacity must be at least 1".into());
        }
        if self.engine.flow_capacity == 0 || self.engine.reassembly_bytes < 64 {
            return Err("engine: flow_capacity must be at least 1 and reassembly_bytes at least 64".into());
        }
        if let Some(report) = &self.report {
            report.validate()?;
        }
        Ok(())
    }

    /// The pairs as the worker takes them.
    pub fn port_pairs(&self) -> Vec<PortPair> {
        self.pairs.iter().copied().map(PortPair::from).collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_the_table_is_absent() {
        let c = RuntimeConfig::parse("[policy]\nx = 1\n", "t.toml").unwrap();
        assert_eq!(c.runtime, RuntimeConfig::default());
        assert!(c.document.contains_key("policy"));
        assert_eq!(c.runtime.port_pairs(), vec![PortPair { inside: 0, outside: 1 }]);
    }

    #[test]
    fn reads_the_dataplane_table() {
        let text = r#"
            [dataplane]
            eal_args = ["-l", "0,1", "--no-huge"]
            pairs = [{ inside = 2, outside = 3 }, { inside = 0, outside = 1 }]
            mbufs = 8191
            burst = 16
        "#;
        let c = RuntimeConfig::parse(text, "t.toml").unwrap().runtime;
        assert_eq!(c.eal_args, ["-l", "0,1", "--no-huge"]);
        assert_eq!(c.pairs.len(), 2);
        assert_eq!(c.mbufs, 8191);
        assert_eq!(c.burst, 16);
        assert_eq!(c.rx_desc, RuntimeConfig::default().rx_desc);
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let unknown = RuntimeConfig::parse("[dataplane]\nmbufz = 1\n", "t.toml").unwrap_err().to_string();
        assert!(unknown.contains("mbufz"), "{unknown}");
        let burst = RuntimeConfig::parse("[dataplane]\nburst = 64\n", "t.toml").unwrap_err().to_string();
        assert!(burst.contains("burst = 64"), "{burst}");
        let dup = "[dataplane]\npairs = [{ inside = 0, outside = 1 }, { inside = 1, outside = 2 }]\n";
        assert!(RuntimeConfig::parse(dup, "t.toml").unwrap_err().to_string().contains("more than one pair"));
        let same = "[dataplane]\npairs = [{ inside = 1, outside = 1 }]\n";
        assert!(RuntimeConfig::parse(same, "t.toml").unwrap_err().to_string().contains("itself"));
    }
}
