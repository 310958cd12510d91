//! Starting the control plane: open the store, bind the listeners, and run
//! the API (with the dashboard), the report channel and the background
//! jobs (retention, periodic-session detection, the endpoint telemetry
//! directory) until shut down.

use crate::config::ControlConfig;
use crate::eve::{self, EveWriter};
use crate::state::Shared;
use crate::store::Store;
use crate::{api, endpoint, ingest, periodic, tls};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UnixListener};
use tokio::task::JoinHandle;

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration (or the token file) is unusable.
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    /// The database could not be opened.
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    /// A listener could not be bound, or a file opened.
    #[error("{what}: {source}")]
    Io {
        /// What was being opened.
        what: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The TLS listener's certificates are unusable.
    #[error("channel.tls: {0}")]
    Tls(String),
}

/// A running control plane; dropping it stops everything.
pub struct Running {
    /// The state every part shares.
    pub shared: Arc<Shared>,
    /// Where the API listens (useful with port 0).
    pub api_addr: SocketAddr,
    /// Where the TLS report listener listens, if configured.
    pub tls_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Waits until the API server stops (which only happens on a fatal error).
    pub async fn wait(&mut self) {
        if let Some(first) = self.tasks.first_mut() {
            let _ = first.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(path) = &self.shared.config.channel.unix_socket {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let what = what.into();
    move |source| StartError::Io { what, source }
}

/// Starts every part of the control plane on the current Tokio runtime.
pub async fn start(config: ControlConfig) -> Result<Running, StartError> {
    let token = config.token()?;
    let store = Store::open(&config.storage.db_path)?;
    let eve = match &config.eve {
        Some(e) => Some(EveWriter::open(&e.path).map_err(io(format!("eve.path {}", e.path.display())))?),
        None => None,
    };
    let shared = Arc::new(Shared::new(config.clone(), store, eve, api::token_digest(&token)));
    let mut tasks = Vec::new();

    let api_listener =
        TcpListener::bind(config.api.listen).await.map_err(io(format!("api.listen {}", config.api.listen)))?;
    let api_addr = api_listener.local_addr().map_err(io("api.listen"))?;
    let router = api::router(Arc::clone(&shared));
    tasks.push(tokio::spawn(async move {
        if let Err(e) = axum::serve(api_listener, router).await {
            log::error!("API server: {e}");
        }
    }));
    log::info!("API listening on http://{api_addr}");

    if let Some(path) = &config.channel.unix_socket {
        // A socket file left by a previous run would make bind fail.
        if std::fs::symlink_metadata(path).is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type())) {
            let _ = std::fs::remove_file(path);
        }
        let listener = UnixListener::bind(path).map_err(io(format!("channel.unix_socket {}", path.display())))?;
        // Owner and group only: whoever can connect can report sessions.
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o660))
            .map_err(io(format!("channel.unix_socket {}", path.display())))?;
        tasks.push(tokio::spawn(ingest::serve_unix(listener, Arc::clone(&shared))));
        log::info!("report channel listening on {}", path.display());
    }

    let mut tls_addr = None;
    if let Some(tls_config) = &config.channel.tls {
        let server = tls::server_config(tls_config).map_err(StartError::Tls)?;
        let listener = TcpListener::bind(tls_config.listen)
            .await
            .map_err(io(format!("channel.tls.listen {}", tls_config.listen)))?;
        tls_addr = Some(listener.local_addr().map_err(io("channel.tls.listen"))?);
        let acceptor = tokio_rustls::TlsAcceptor::from(server);
        tasks.push(tokio::spawn(ingest::serve_tls(listener, acceptor, Arc::clone(&shared))));
        log::info!("report channel (mutual TLS) listening on {}", tls_config.listen);
    }

    if let Some(dir) = &config.endpoint.watch_dir {
        std::fs::read_dir(dir).map_err(io(format!("endpoint.watch_dir {}", dir.display())))?;
        let interval = Duration::from_secs(config.endpoint.watch_interval_secs.max(1));
        tasks.push(tokio::spawn(endpoint::watch::watch(Arc::clone(&shared), dir.clone(), interval)));
        log::info!("reading endpoint telemetry from {}", dir.display());
    }

    tasks.push(tokio::spawn(retention_job(Arc::clone(&shared))));
    tasks.push(tokio::spawn(periodic_job(Arc::clone(&shared))));
    Ok(Running { shared, api_addr, tls_addr, tasks })
}

async fn retention_job(shared: Arc<Shared>) {
    let storage = shared.config.storage.clone();
    let mut tick = tokio::time::interval(Duration::from_secs(storage.retention_interval_secs.max(1)));
    loop {
        tick.tick().await;
        let max_bytes = storage.max_db_mb.saturating_mul(1 << 20);
        match shared.with_store(move |s| s.apply_retention(storage.retention_days, max_bytes)).await {
            Ok(0) => {}
            Ok(n) => log::info!("retention: {n} old sessions deleted"),
            Err(e) => log::error!("retention: {e}"),
        }
    }
}

async fn periodic_job(shared: Arc<Shared>) {
    let config = shared.config.periodic.clone();
    let mut tick = tokio::time::interval(Duration::from_secs(config.interval_secs.max(1)));
    loop {
        tick.tick().await;
        let run_config = config.clone();
        match shared.with_store(move |s| periodic::detect(s, &run_config)).await {
            Ok(raised) => {
                for alert in &raised {
                    shared
                        .metrics
                        .alerts_raised
                        .get_or_create(&crate::metrics::KindLabels { kind: periodic::ALERT_KIND.into() })
                        .inc();
                    if let Some(writer) = &shared.eve {
                        if let Err(e) = writer.write(&[eve::periodic_event(alert)]) {
                            log::error!("EVE export: {e}");
                        }
                    }
                }
            }
            Err(e) => log::error!("periodic detection: {e}"),
        }
    }
}
