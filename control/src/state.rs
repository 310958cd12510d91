//! What the API, the report channel and the background tasks share.

use crate::config::ControlConfig;
use crate::eve::EveWriter;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::policy::PolicyInForce;
use crate::store::{GatewayRow, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The control plane's state.
pub struct Shared {
    /// The configuration in force.
    pub config: ControlConfig,
    /// The database.
    pub store: Arc<Store>,
    /// Connected gateways.
    pub hub: Hub,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// The EVE export, if configured.
    pub eve: Option<EveWriter>,
    /// SHA-256 of the API token (compared in constant time).
    pub token_digest: [u8; 32],
    live: Mutex<HashMap<String, GatewayRow>>,
    policy: Mutex<Option<Arc<PolicyInForce>>>,
}

impl Shared {
    /// Bundles the parts.
    pub fn new(config: ControlConfig, store: Store, eve: Option<EveWriter>, token_digest: [u8; 32]) -> Self {
        Shared {
            config,
            store: Arc::new(store),
            hub: Hub::default(),
            metrics: Metrics::new(),
            eve,
            token_digest,
            live: Mutex::new(HashMap::new()),
            policy: Mutex::new(None),
        }
    }

    /// The newest stored policy, parsed (once per version); `None` before
    /// the first policy is stored.
    pub async fn policy_in_force(&self) -> Result<Option<Arc<PolicyInForce>>, StoreError> {
        let Some(version) = self.with_store(|s| s.current_policy_version()).await? else { return Ok(None) };
        let cached = self.policy.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(cached) = cached.filter(|p| p.version == version) {
            return Ok(Some(cached));
        }
        let stored = self.with_store(|s| s.current_policy()).await?;
        let parsed = stored.as_ref().and_then(PolicyInForce::from_version).map(Arc::new);
        if let Some(p) = &parsed {
            *self.policy.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(p));
        }
        Ok(parsed)
    }

    /// The in-memory state of gateways heard from since this process started.
    pub fn live(&self) -> MutexGuard<'_, HashMap<String, GatewayRow>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs a blocking storage call off the async workers.
    pub async fn with_store<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(result) => result,
            Err(e) => Err(StoreError::Task(e.to_string())),
        }
    }
}
