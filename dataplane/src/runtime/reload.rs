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

#[cfg(test)]
mod tests {
    use super::*;
    use mailgate_config::CompiledPolicy;
    use std::sync::Arc;

    #[test]
    fn an_invalid_file_is_refused_and_the_running_policy_stays() {
        let dir = std::env::temp_dir().join(format!("mailgate-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("policy.toml");
        let mailbox = PolicyMailbox::new(Arc::new(CompiledPolicy::embedded_default()));
        let running = mailbox.current().hash().to_string();
        std::fs::write(&file, "mode = \"blok\"\n").unwrap();
        on_sighup(Some(&file), Some(&mailbox));
        assert_eq!(mailbox.current().hash(), running, "an invalid file changes nothing");
        std::fs::write(&file, "mode = \"block\"\n").unwrap();
        on_sighup(Some(&file), Some(&mailbox));
        assert_ne!(mailbox.current().hash(), running, "a valid one is put in force");
        std::fs::remove_dir_all(dir).ok();
    }
}
