//! SIGHUP: re-read the policy from the config file while running.
//!
//! The policy is compiled here, on the main lcore, and published to the
//! workers' mailbox; each worker takes it up on its next tick. A file that
//! does not validate is refused with its errors and the running policy
//! stays in force. `[dataplane]` settings take effect only at the next start.

use crate::report::PolicyMailbox;
use crate::verdict::load_policy_file;
use std::path::Path;

/// Handles one SIGHUP: re-reads `path`, publishes its policy to `mailbox`,
/// and says what happened on stderr.
pub fn on_sighup(path: Option<&Path>, mailbox: Option<&PolicyMailbox>) {
    let Some(path) = path else {
        eprintln!("mailgate: SIGHUP: no --config file was given, nothing to reload");
        return;
    };
    let Some(mailbox) = mailbox else {
        eprintln!("mailgate: SIGHUP: no policy mailbox, nothing to reload");
        return;
    };
    match load_policy_file(path) {
        Ok(policy) => {
            let hash = policy.hash().to_string();
            mailbox.publish(policy);
            eprintln!("mailgate: SIGHUP: policy {} from {} in force", hash.get(..16).unwrap_or(&hash), path.display());
        }
        Err(e) => eprintln!("mailgate: SIGHUP: {} refused, the running policy stays in force:\n{e}", path.display()),
    }
}
