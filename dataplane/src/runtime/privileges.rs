//! Dropping privileges once DPDK is up: the ports are open, the memory is
//! mapped, and nothing the appliance does afterwards (polling, sending on
//! open devices, writing records to the reporter's socket, re-reading the
//! config file) needs a capability. Every thread that runs mailgate code —
//! the main lcore, each worker lcore, and the reporter (which inherits the
//! main thread's set) — clears its capability sets and sets
//! `no_new_privs`, so a compromised parser cannot reach beyond the process.
//! Capabilities are per thread in Linux: DPDK's own service threads (the
//! interrupt and telemetry threads, started by EAL) keep theirs.

use caps::CapSet;

/// Clears the calling thread's capabilities and forbids regaining any.
/// Errors name the step that failed (the platform may not allow it, e.g.
/// inside some containers); callers report them and carry on.
pub fn drop_for_this_thread() -> Result<(), String> {
    nix::sys::prctl::set_no_new_privs().map_err(|e| format!("no_new_privs: {e}"))?;
    // The bounding set can only shrink while CAP_SETPCAP is still effective.
    for cap in caps::all() {
        if caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| format!("bounding set: {e}"))?;
        }
    }
    for set in [CapSet::Ambient, CapSet::Inheritable, CapSet::Effective, CapSet::Permitted] {
        caps::clear(None, set).map_err(|e| format!("{set:?} set: {e}"))?;
    }
    Ok(())
}

/// [`drop_for_this_thread`] when `enabled`, with a one-line note on failure.
pub fn drop_or_warn(enabled: bool, who: &str) {
    if !enabled {
        return;
    }
    if let Err(e) = drop_for_this_thread() {
        eprintln!("mailgate: {who}: cannot drop privileges ({e}); running with them");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_that_dropped_its_privileges_has_none_left() {
        // On a thread of its own, so the test runner keeps its privileges.
        let after = std::thread::spawn(|| {
            drop_for_this_thread()
                .map(|()| (caps::read(None, CapSet::Effective).unwrap(), caps::read(None, CapSet::Permitted).unwrap()))
        })
        .join()
        .unwrap();
        match after {
            Ok((effective, permitted)) => assert!(effective.is_empty() && permitted.is_empty()),
            // Not permitted here (no CAP_SETPCAP): the error says which step.
            Err(e) => assert!(e.contains("set") || e.contains("no_new_privs"), "{e}"),
        }
    }
}
