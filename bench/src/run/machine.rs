//! The machine a figure was measured on (every figure is stated with it):
//! CPU model from `lscpu`, cores, memory, kernel, and the date.

use std::process::Command;

/// Where the figures come from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Machine {
    /// `lscpu`'s "Model name".
    pub cpu: String,
    /// Online CPUs.
    pub cores: usize,
    /// Memory, GiB (`MemTotal`).
    pub ram_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// Whether `lscpu` names a hypervisor (figures from a VM are noisier).
    pub hypervisor: Option<String>,
    /// When the run started, RFC 3339 UTC.
    pub date: String,
    /// `/proc/loadavg` when the run started (other work on the machine skews every figure).
    pub load_at_start: String,
}

/// `/proc/loadavg`'s three load averages.
pub fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn lscpu_field(text: &str, field: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(field)).map(|v| v.trim_start_matches(':').trim().to_string())
}

impl Machine {
    /// Reads this machine's description.
    pub fn read() -> Machine {
        let lscpu =
            Command::new("lscpu").output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        let date =
            time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        Machine {
            cpu: lscpu_field(&lscpu, "Model name").unwrap_or_else(|| "unknown".into()),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            ram_gib: (mem_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string(),
            hypervisor: lscpu_field(&lscpu, "Hypervisor vendor"),
            date,
            load_at_start: load_average(),
        }
    }

    /// "AMD EPYC, 2 cores, 23.4 GiB (KVM)".
    pub fn short(&self) -> String {
        let vm = self.hypervisor.as_ref().map(|h| format!(" ({h} guest)")).unwrap_or_default();
        format!("{}, {} cores, {} GiB{vm}", self.cpu, self.cores, self.ram_gib)
    }
}
