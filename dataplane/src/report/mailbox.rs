//! The policy mailbox: how a policy compiled on the reporter thread reaches
//! the workers without a lock or an allocation on their side, and how the
//! old policy is freed off the worker cores.
//!
//! The reporter [`PolicyMailbox::publish`]es a new `Arc<CompiledPolicy>`;
//! each worker holds a [`MailboxReader`] and calls [`MailboxReader::poll`]
//! on its tick: one atomic load when nothing changed, a short lock and an
//! `Arc` clone when something did. The mailbox keeps every replaced policy
//! until no worker refers to it any more, and [`PolicyMailbox::collect_retired`]
//! (called by the reporter) drops it there, so a worker never runs a
//! policy's destructor.

use super::DataplaneControl;
use crate::verdict::PolicyHandle;
use mailgate_config::CompiledPolicy;
use mailgate_protocol::channel::{Mode, PolicyOutcome};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Replaced policies kept for naming rules in late records, even when no worker holds them.
pub const KEEP_RETIRED: usize = 4;

const NO_OVERRIDE: u8 = 0;
const OVERRIDE_BLOCK: u8 = 1;
const OVERRIDE_MONITOR: u8 = 2;

struct Slots {
    current: PolicyHandle,
    retired: Vec<PolicyHandle>,
}

/// The current policy and the control plane's mode override, shared by
/// the reporter (writer) and the workers (readers).
pub struct PolicyMailbox {
    slots: Mutex<Slots>,
    generation: AtomicU64,
    mode_override: AtomicU8,
}

impl PolicyMailbox {
    /// A mailbox holding the policy the dataplane starts with.
    pub fn new(initial: PolicyHandle) -> Arc<PolicyMailbox> {
        Arc::new(PolicyMailbox {
            slots: Mutex::new(Slots { current: initial, retired: Vec::new() }),
            generation: AtomicU64::new(0),
            mode_override: AtomicU8::new(NO_OVERRIDE),
        })
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes `policy` the current one; workers pick it up on their next poll.
    pub fn publish(&self, policy: PolicyHandle) {
        let mut slots = self.slots();
        let old = std::mem::replace(&mut slots.current, policy);
        slots.retired.push(old);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The current policy.
    pub fn current(&self) -> PolicyHandle {
        Arc::clone(&self.slots().current)
    }

    /// A reader for one worker, already up to date with the current policy.
    pub fn reader(self: &Arc<Self>) -> MailboxReader {
        MailboxReader { mailbox: Arc::clone(self), seen: self.generation.load(Ordering::Acquire) }
    }

    /// Drops replaced policies no worker holds any more, except the
    /// [`KEEP_RETIRED`] most recent (records of sessions they decided are
    /// still to be written, see [`PolicyMailbox::policies`]); returns how
    /// many replaced policies are still kept.
    pub fn collect_retired(&self) -> usize {
        let mut slots = self.slots();
        let keep_from = slots.retired.len().saturating_sub(KEEP_RETIRED);
        let mut index = 0;
        slots.retired.retain(|p| {
            index += 1;
            index > keep_from || Arc::strong_count(p) > 1
        });
        slots.retired.len()
    }

    /// The current policy, then the replaced ones still kept, newest first:
    /// what `record::to_record` needs to name the rule of a session decided
    /// before the last swap.
    pub fn policies(&self) -> Vec<PolicyHandle> {
        let slots = self.slots();
        std::iter::once(&slots.current).chain(slots.retired.iter().rev()).cloned().collect()
    }

    /// Overrides the policy file's `mode` (the control plane's `set_mode`).
    pub fn set_mode_override(&self, mode: Mode) {
        let value = match mode {
            Mode::Block => OVERRIDE_BLOCK,
            Mode::Monitor => OVERRIDE_MONITOR,
        };
        self.mode_override.store(value, Ordering::Release);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The mode in force: the override if one was set, else the policy's own.
    pub fn mode(&self) -> Mode {
        match self.mode_override.load(Ordering::Acquire) {
            OVERRIDE_BLOCK => Mode::Block,
            OVERRIDE_MONITOR => Mode::Monitor,
            _ => match self.current().mode() {
                mailgate_config::Mode::Block => Mode::Block,
                mailgate_config::Mode::Monitor => Mode::Monitor,
            },
        }
    }
}

/// A worker's view of the mailbox.
pub struct MailboxReader {
    mailbox: Arc<PolicyMailbox>,
    seen: u64,
}

impl MailboxReader {
    /// The new policy and mode if either changed since the last poll, else
    /// `None` (one atomic load). Call on the worker's tick, not per packet.
    pub fn poll(&mut self) -> Option<(PolicyHandle, Mode)> {
        let generation = self.mailbox.generation.load(Ordering::Acquire);
        if generation == self.seen {
            return None;
        }
        self.seen = generation;
        Some((self.mailbox.current(), self.mailbox.mode()))
    }
}

impl crate::verdict::PolicySource for MailboxReader {
    fn poll(&mut self) -> Option<(PolicyHandle, bool)> {
        MailboxReader::poll(self).map(|(policy, mode)| (policy, mode == Mode::Block))
    }
}

/// The reporter's [`DataplaneControl`] over a mailbox: validates and
/// compiles pushed policies with `mailgate-config` and publishes them; the
/// dataplane's own counters come from `counters`.
pub struct MailboxControl<F> {
    mailbox: Arc<PolicyMailbox>,
    counters: F,
}

impl<F: Fn() -> BTreeMap<String, u64> + Send + 'static> MailboxControl<F> {
    /// Control over `mailbox`, reporting `counters()` beside the reporter's own.
    pub fn new(mailbox: Arc<PolicyMailbox>, counters: F) -> Self {
        MailboxControl { mailbox, counters }
    }
}

impl<F: Fn() -> BTreeMap<String, u64> + Send + 'static> DataplaneControl for MailboxControl<F> {
    fn apply_policy(&mut self, toml: &str) -> PolicyOutcome {
        self.mailbox.collect_retired();
        match CompiledPolicy::from_toml("pushed policy", toml) {
            Ok(policy) => {
                let hash = policy.hash().to_string();
                self.mailbox.publish(Arc::new(policy));
                PolicyOutcome::Applied { hash }
            }
            Err(e) => PolicyOutcome::Rejected { errors: e.to_string().lines().map(str::to_string).collect() },
        }
    }

    fn set_mode(&mut self, mode: Mode) -> Result<Mode, String> {
        self.mailbox.set_mode_override(mode);
        Ok(self.mailbox.mode())
    }

    fn policy_hash(&self) -> Option<String> {
        Some(self.mailbox.current().hash().to_string())
    }

    fn mode(&self) -> Option<Mode> {
        Some(self.mailbox.mode())
    }

    fn counters(&self) -> BTreeMap<String, u64> {
        self.mailbox.collect_retired();
        (self.counters)()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = "mode = \"block\"\n[[allow]]\nname = \"a\"\nfrom = [\"10.0.0.0/8\"]\nprotocols = [\"smtp\"]\n";

    fn compiled(text: &str) -> PolicyHandle {
        Arc::new(CompiledPolicy::from_toml("t", text).unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn readers_see_a_published_policy_once_and_old_ones_are_freed_off_the_workers() {
        let mailbox = PolicyMailbox::new(Arc::new(CompiledPolicy::embedded_default()));
        let mut reader = mailbox.reader();
        assert!(reader.poll().is_none());
        let mut worker_policy = mailbox.current();
        let new = compiled(POLICY);
        let hash = new.hash().to_string();
        mailbox.publish(new);
        let (got, mode) = reader.poll().unwrap_or_else(|| panic!("a new policy"));
        assert_eq!((got.hash(), mode), (hash.as_str(), Mode::Block));
        assert!(reader.poll().is_none());
        // The worker still holds the old policy: it stays retired, not freed.
        assert_eq!(mailbox.collect_retired(), 1);
        let old = std::mem::replace(&mut worker_policy, got);
        drop(old); // not the last reference: the mailbox frees it, later
        assert_eq!(worker_policy.hash(), hash);
        assert_eq!(mailbox.policies().len(), 2, "current, then the one it replaced");
        for _ in 0..KEEP_RETIRED + 3 {
            mailbox.publish(compiled(POLICY));
        }
        // Newest first: 7 published, the worker's, then the embedded default.
        let all = mailbox.policies();
        assert_eq!(all.len(), KEEP_RETIRED + 5);
        let default = all.last().map(Arc::downgrade).unwrap_or_default();
        let unheld = all.get(KEEP_RETIRED + 1).map(Arc::downgrade).unwrap_or_default();
        drop(all);
        assert_eq!(mailbox.collect_retired(), KEEP_RETIRED + 1, "the most recent, and the one a worker holds");
        assert!(default.upgrade().is_none() && unheld.upgrade().is_none(), "older ones were freed here");
        assert!(mailbox.policies().iter().any(|p| Arc::ptr_eq(p, &worker_policy)));
    }

    #[test]
    fn control_compiles_publishes_and_overrides_the_mode() {
        let mailbox = PolicyMailbox::new(Arc::new(CompiledPolicy::embedded_default()));
        let mut reader = mailbox.reader();
        let mut control = MailboxControl::new(Arc::clone(&mailbox), BTreeMap::new);
        let outcome = control.apply_policy(POLICY);
        let hash = compiled(POLICY).hash().to_string();
        assert_eq!(outcome, PolicyOutcome::Applied { hash: hash.clone() });
        assert_eq!(control.policy_hash(), Some(hash.clone()));
        assert!(matches!(control.apply_policy("mode = 3\n"), PolicyOutcome::Rejected { errors } if !errors.is_empty()));
        assert_eq!(control.policy_hash(), Some(hash), "a rejected policy changes nothing");
        assert!(reader.poll().is_some());
        assert_eq!(control.set_mode(Mode::Monitor), Ok(Mode::Monitor));
        assert_eq!(reader.poll().map(|(_, m)| m), Some(Mode::Monitor));
    }
}
