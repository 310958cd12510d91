//! SIGHUP: re-read the config file while running.
//!
//! HOOK for the policy swap: compile `loaded.document` with
//! `mailgate-config` and publish it to the workers' policy mailboxes here;
//! on any error keep the running policy. Runtime settings (`[dataplane]`)
//! take effect only at the next start.

use super::config::RuntimeConfig;
use std::path::Path;

/// Handles one SIGHUP: re-reads `path` and logs the outcome on stderr.
pub fn on_sighup(path: Option<&Path>) {
    let Some(path) = path else {
        eprintln!("SIGHUP: no --config file was given, nothing to reload");
        return;
    };
    match RuntimeConfig::load(path) {
        Ok(loaded) => eprintln!(
            "SIGHUP: re-read {} ({} top-level table(s)); policy swap not wired yet, the running policy stays; [dataplane] changes apply at the next start",
            path.display(),
            loaded.document.len()
        ),
        Err(e) => eprintln!("SIGHUP: cannot reload, keeping the running policy: {e}"),
    }
}
