//! The connected gateways: a command queue to each, and the requests
//! waiting for their answers.

use mailgate_protocol::channel::{FromControl, Mode, PolicyOutcome};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Commands waiting to be written, per connection.
const QUEUE: usize = 64;

/// What a connection's task receives from the rest of the control plane.
pub type CommandQueue = mpsc::Receiver<FromControl>;

struct Connected {
    connection: u64,
    commands: mpsc::Sender<FromControl>,
    policy_waiters: HashMap<u64, oneshot::Sender<PolicyOutcome>>,
    mode_waiters: HashMap<u64, oneshot::Sender<Result<Mode, String>>>,
}

/// What became of a command sent to one gateway.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Delivery<T> {
    /// The gateway answered.
    Answered {
        /// Its answer.
        answer: T,
    },
    /// No answer in time.
    Timeout,
    /// The gateway went away before answering.
    Disconnected,
}

/// The registry of connected gateways.
#[derive(Default)]
pub struct Hub {
    gateways: Mutex<HashMap<String, Connected>>,
    next_id: AtomicU64,
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Connected>> {
        self.gateways.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh id for a connection or a request.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Registers a connection for `gateway`, replacing an older one (whose
    /// queue closes, so its task ends); returns its queue.
    pub fn register(&self, gateway: &str, connection: u64) -> CommandQueue {
        let (commands, queue) = mpsc::channel(QUEUE);
        let previous = self.lock().insert(
            gateway.to_string(),
            Connected { connection, commands, policy_waiters: HashMap::new(), mode_waiters: HashMap::new() },
        );
        if previous.is_some() {
            log::warn!("gateway {gateway} reconnected; closing its previous connection");
        }
        queue
    }

    /// Forgets `gateway` if `connection` is still the registered one.
    pub fn unregister(&self, gateway: &str, connection: u64) {
        let mut gateways = self.lock();
        if gateways.get(gateway).is_some_and(|c| c.connection == connection) {
            gateways.remove(gateway);
        }
    }

    /// Names of the connected gateways.
    pub fn connected(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().keys().cloned().collect();
        names.sort();
        names
    }

    /// Whether `gateway` is connected.
    pub fn is_connected(&self, gateway: &str) -> bool {
        self.lock().contains_key(gateway)
    }

    /// Pushes a policy to every connected gateway and waits (at most
    /// `timeout`) for each one's outcome.
    pub async fn push_policy(&self, toml: &str, timeout: Duration) -> Vec<(String, Delivery<PolicyOutcome>)> {
        let mut waiting = Vec::new();
        for gateway in self.connected() {
            let request_id = self.next_id();
            let (tx, rx) = oneshot::channel();
            let queued = {
                let mut gateways = self.lock();
                match gateways.get_mut(&gateway) {
                    Some(c) => {
                        c.policy_waiters.insert(request_id, tx);
                        c.commands.try_send(FromControl::SetPolicy { request_id, toml: toml.to_string() }).is_ok()
                    }
                    None => false,
                }
            };
            waiting.push((gateway, queued.then_some(rx)));
        }
        // One deadline for all: the answers are awaited in turn, but none
        // waits longer than `timeout` from the push.
        let deadline = tokio::time::Instant::now() + timeout;
        let mut results = Vec::new();
        for (gateway, rx) in waiting {
            results.push((gateway, wait(rx, deadline).await));
        }
        results
    }

    /// Asks one gateway to change mode and waits for its answer.
    pub async fn set_mode(&self, gateway: &str, mode: Mode, timeout: Duration) -> Delivery<Result<Mode, String>> {
        let request_id = self.next_id();
        let (tx, rx) = oneshot::channel();
        let queued = {
            let mut gateways = self.lock();
            match gateways.get_mut(gateway) {
                Some(c) => {
                    c.mode_waiters.insert(request_id, tx);
                    c.commands.try_send(FromControl::SetMode { request_id, mode }).is_ok()
                }
                None => false,
            }
        };
        wait(queued.then_some(rx), tokio::time::Instant::now() + timeout).await
    }

    /// Hands a gateway's policy answer to whoever waits for it.
    pub fn policy_answered(&self, gateway: &str, request_id: u64, outcome: PolicyOutcome) {
        if let Some(tx) = self.lock().get_mut(gateway).and_then(|c| c.policy_waiters.remove(&request_id)) {
            let _ = tx.send(outcome);
        }
    }

    /// Hands a gateway's mode answer to whoever waits for it.
    pub fn mode_answered(&self, gateway: &str, request_id: u64, result: Result<Mode, String>) {
        if let Some(tx) = self.lock().get_mut(gateway).and_then(|c| c.mode_waiters.remove(&request_id)) {
            let _ = tx.send(result);
        }
    }
}

async fn wait<T>(rx: Option<oneshot::Receiver<T>>, deadline: tokio::time::Instant) -> Delivery<T> {
    let Some(rx) = rx else { return Delivery::Disconnected };
    match tokio::time::timeout_at(deadline, rx).await {
        Ok(Ok(answer)) => Delivery::Answered { answer },
        Ok(Err(_)) => Delivery::Disconnected,
        Err(_) => Delivery::Timeout,
    }
}
