//! Reporting finished sessions to the control plane, and taking its commands.
//!
//! Workers push the finished sessions a gateway reports ([`ReportFilter`]:
//! mail, or a mail port) into per-worker rings ([`facts_ring`]: the facts
//! travel by pointer, their boxes come back); one reporter thread
//! ([`Reporter::spawn`]) converts them into [`SessionRecord`]s, batches
//! them into frames, and ships them
//! over the control channel (see `mailgate_protocol::channel`). While the
//! control plane is away the batches wait in a bounded spool, the dataplane
//! keeps enforcing its last policy, and what had to be discarded is counted
//! and reported after the reconnect. The same thread applies the control
//! plane's commands through the [`DataplaneControl`] the caller supplies,
//! normally a [`MailboxControl`] that publishes compiled policies to the
//! workers through a [`PolicyMailbox`].
//!
//! The thread does everything in one loop: drain the rings, seal a batch
//! when it is full or `flush_interval_ms` old, write unsent batches, read
//! commands (10 ms poll). Connecting blocks the loop for at most 5 s (TCP
//! connect and TLS handshake timeouts); a worker ring must absorb that long
//! an outage of the loop, or count what it cannot.

mod agent;
mod config;
mod filter;
mod mailbox;
mod policy_file;
mod ring;
mod spool;
mod transport;

pub use config::{Endpoint, ReporterConfig};
pub use filter::ReportFilter;
pub use mailbox::{MailboxControl, MailboxReader, PolicyMailbox};
pub use policy_file::{load_saved_policy, save_policy};
pub use ring::{facts_ring, session_ring, RingItem, RingSink, RingSource};

use mailgate_protocol::channel::{Mode, PolicyOutcome};
use mailgate_protocol::SessionRecord;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Why the reporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The configuration is inconsistent.
    #[error("invalid report configuration: {0}")]
    Config(String),
    /// A certificate or key file could not be used.
    #[error("TLS setup: {0}")]
    Tls(String),
    /// The thread could not be started.
    #[error("cannot start the reporter thread: {0}")]
    Spawn(#[from] std::io::Error),
}

/// What the reporter needs from the rest of the dataplane to carry out the
/// control plane's commands. Called on the reporter thread only.
pub trait DataplaneControl: Send + 'static {
    /// Validates and compiles `toml`; on success puts it in force (the
    /// workers pick it up from their mailbox) and returns its hash.
    fn apply_policy(&mut self, toml: &str) -> PolicyOutcome;
    /// Switches between enforcing and monitoring; returns the mode now in force.
    fn set_mode(&mut self, mode: Mode) -> Result<Mode, String>;
    /// Hash of the policy in force, if any.
    fn policy_hash(&self) -> Option<String>;
    /// The mode in force.
    fn mode(&self) -> Option<Mode>;
    /// The dataplane's own counters (packets, flows…), reported beside the reporter's.
    fn counters(&self) -> BTreeMap<String, u64>;
}

/// The running reporter thread.
pub struct Reporter {
    stop: Arc<agent::Stop>,
    counters: Arc<Mutex<BTreeMap<String, u64>>>,
    thread: Option<JoinHandle<()>>,
}

impl Reporter {
    /// Starts the reporter thread over one ring source per worker.
    /// `convert` turns a worker's summary into a record; it runs on the
    /// reporter thread, so allocating there costs the workers nothing.
    pub fn spawn<T, F, C>(
        config: ReporterConfig,
        sources: Vec<RingSource<T>>,
        convert: F,
        control: C,
    ) -> Result<Reporter, ReportError>
    where
        T: RingItem,
        F: FnMut(&T) -> SessionRecord + Send + 'static,
        C: DataplaneControl,
    {
        config.validate().map_err(ReportError::Config)?;
        let connector = transport::Connector::new(&config.endpoint)?;
        let stop = Arc::new(agent::Stop::default());
        let counters = Arc::new(Mutex::new(BTreeMap::new()));
        let agent = agent::Agent::new(config, connector, sources, convert, control, Arc::clone(&counters));
        let thread_stop = Arc::clone(&stop);
        let thread =
            std::thread::Builder::new().name("mailgate-reporter".into()).spawn(move || agent.run(&thread_stop))?;
        Ok(Reporter { stop, counters, thread: Some(thread) })
    }

    /// The reporter's counters (see `mailgate_protocol::channel::counter`),
    /// as of its last pass.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.counters.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Stops the thread after it has drained the rings and tried, for at
    /// most `grace`, to deliver what is still spooled.
    pub fn shutdown(mut self, grace: Duration) {
        self.stop_and_join(grace);
    }

    fn stop_and_join(&mut self, grace: Duration) {
        if let Some(thread) = self.thread.take() {
            self.stop.request(grace);
            if thread.join().is_err() {
                log::error!("reporter thread panicked");
            }
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.stop_and_join(Duration::ZERO);
    }
}
