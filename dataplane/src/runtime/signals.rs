//! SIGINT/SIGTERM (stop) and SIGHUP (reload), recorded in flags the main
//! lcore polls; no code runs in the signal handlers beyond setting them.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Signal flags of the running appliance.
pub struct Signals {
    terminate: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
}

impl Signals {
    /// Installs the handlers. A second SIGINT/SIGTERM while stopping exits
    /// at once with status 1 (an operator's way out of a stuck drain).
    pub fn install() -> std::io::Result<Signals> {
        let terminate = Arc::new(AtomicBool::new(false));
        let reload = Arc::new(AtomicBool::new(false));
        for sig in [SIGINT, SIGTERM] {
            signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&terminate))?;
            signal_hook::flag::register(sig, Arc::clone(&terminate))?;
        }
        signal_hook::flag::register(SIGHUP, Arc::clone(&reload))?;
        Ok(Signals { terminate, reload })
    }

    /// True once SIGINT or SIGTERM arrived.
    pub fn terminate_requested(&self) -> bool {
        self.terminate.load(Ordering::Relaxed)
    }

    /// True once per SIGHUP (or burst of them) since the last call.
    pub fn take_reload(&self) -> bool {
        self.reload.swap(false, Ordering::Relaxed)
    }
}
