//! Why `run` could not start or did not finish, each start-up failure with
//! the one-sentence fix an operator needs.

use crate::io::dpdk::DpdkError;

/// A failure of the runtime.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The appliance could not start (exit status 2).
    #[error("{problem}\n  fix: {fix}")]
    Startup {
        /// What went wrong.
        problem: String,
        /// What to do about it, in one sentence.
        fix: String,
    },
    /// The appliance started but failed while running or stopping (exit status 1).
    #[error("{0}")]
    Failed(String),
}

impl RunError {
    /// A start-up failure.
    pub fn startup(problem: impl Into<String>, fix: impl Into<String>) -> Self {
        RunError::Startup { problem: problem.into(), fix: fix.into() }
    }

    /// The process exit status for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Startup { .. } => 2,
            RunError::Failed(_) => 1,
        }
    }

    /// Explains a failed `rte_eal_init` by its errno.
    pub fn eal_init(e: &DpdkError) -> Self {
        let (problem, fix) = match e.errno() {
            Some(libc_errno::EACCES) => (
                "DPDK could not get hugepages (none reserved, or not permitted)",
                "reserve hugepages (echo 1024 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages, as root) or, for tests without them, add `--no-huge -m 2048` to the EAL arguments",
            ),
            Some(libc_errno::ENODEV) => (
                "a device named in the EAL arguments does not exist",
                "check each `--vdev` driver name (net_pcap, net_null, net_ring, net_memif, net_af_packet…) and each `-a` PCI address (`dpdk-devbind.py --status` lists them)",
            ),
            Some(libc_errno::EINVAL) => (
                "DPDK rejected the EAL arguments (see the EAL lines above)",
                "fix the EAL arguments after `--` (lcores given with `-l` must exist on this machine: `nproc`)",
            ),
            Some(libc_errno::EALREADY) => (
                "DPDK is already initialised in this process",
                "run one `mailgate-dataplane run` per process",
            ),
            _ => ("DPDK failed to initialise (see the EAL lines above)", "correct what the EAL messages above report"),
        };
        RunError::startup(format!("{problem}: {e}"), fix)
    }
}

/// The few errno values start-up errors are told apart by (Linux).
mod libc_errno {
    pub const EACCES: i32 = 13;
    pub const ENODEV: i32 = 19;
    pub const EINVAL: i32 = 22;
    pub const EALREADY: i32 = 114;
}

/// ENOMEM: what DPDK returns when a pool or a queue cannot get memory/mbufs.
pub(crate) const ENOMEM: i32 = 12;
