//! The control plane's end of the report channel: accept dataplanes on the
//! Unix socket and the mutual-TLS listener, store their batches exactly
//! once, track their state, and relay commands to them.
//!
//! A connection that sends a malformed or oversized frame, a bad hello, or
//! a name its certificate does not cover is logged, counted in
//! `mailgate_channel_errors_total`, and closed; other connections carry on.

use crate::endpoint::EndpointInfo;
use crate::hub::CommandQueue;
use crate::state::Shared;
use crate::store::{now_ns, now_rfc3339, GatewayRow};
use crate::{correlate, eve};
use mailgate_protocol::channel::{
    encode_frame, FrameDecoder, FromControl, FromDataplane, Hello, PolicyOutcome, SessionBatch, PROTOCOL_VERSION,
};
use rustls::pki_types::CertificateDer;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio_rustls::TlsAcceptor;

/// A dataplane must say hello this soon after connecting.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
enum Fault {
    #[error("{0}")]
    Frame(#[from] mailgate_protocol::channel::FrameError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("storage: {0}")]
    Store(#[from] crate::store::StoreError),
}

impl Fault {
    fn kind(&self) -> &'static str {
        match self {
            Fault::Frame(_) => "malformed_frame",
            Fault::Io(_) => "io",
            Fault::Protocol(_) => "protocol",
            Fault::Refused(_) => "refused",
            Fault::Store(_) => "storage",
        }
    }
}

/// Accepts dataplanes on a Unix socket until the task is dropped.
pub async fn serve_unix(listener: UnixListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let shared = Arc::clone(&shared);
                tokio::spawn(async move { connection(stream, "unix".into(), None, shared).await });
            }
            Err(e) => {
                log::error!("unix socket accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Accepts dataplanes on the mutual-TLS listener until the task is dropped.
pub async fn serve_tls(listener: TcpListener, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                let acceptor = acceptor.clone();
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    match tokio::time::timeout(HELLO_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let cert = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).cloned();
                            connection(tls, peer.to_string(), Some(cert), shared).await;
                        }
                        Ok(Err(e)) => {
                            log::warn!("{peer}: TLS handshake refused: {e}");
                            shared.metrics.channel_error("tls_handshake");
                        }
                        Err(_) => {
                            log::warn!("{peer}: TLS handshake timed out");
                            shared.metrics.channel_error("tls_handshake");
                        }
                    }
                });
            }
            Err(e) => {
                log::error!("TLS listener accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One connection, from hello to close. `cert` is `Some` on the TLS
/// listener (the verified client certificate).
async fn connection<S>(stream: S, peer: String, cert: Option<Option<CertificateDer<'static>>>, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut decoder = FrameDecoder::new(shared.config.channel.max_frame_bytes);
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, read_message(&mut reader, &mut decoder)).await {
        Ok(Ok(Some(FromDataplane::Hello(hello)))) => hello,
        Ok(Ok(Some(_))) => return fail(&shared, &peer, &Fault::Protocol("first frame is not a hello".into())),
        Ok(Ok(None)) => return,
        Ok(Err(fault)) => return fail(&shared, &peer, &fault),
        Err(_) => return fail(&shared, &peer, &Fault::Protocol("no hello in time".into())),
    };
    if let Err(reason) = admit(&hello, cert.as_ref()) {
        let refusal = FromControl::Refused { reason: reason.clone() };
        if let Ok(frame) = encode_frame(&refusal, shared.config.channel.max_frame_bytes) {
            let _ = writer.write_all(&frame).await;
        }
        return fail(&shared, &peer, &Fault::Refused(reason));
    }
    let gateway = hello.gateway.clone();
    let connection_id = shared.hub.next_id();
    let commands = shared.hub.register(&gateway, connection_id);
    log::info!("gateway {gateway} connected from {peer} (version {})", hello.software_version);
    let name = gateway.clone();
    let presence = match shared.with_store(move |s| s.presence_open(&name, now_ns())).await {
        Ok(id) => Some(id),
        Err(e) => {
            log::error!("gateway {gateway}: cannot record its presence: {e}");
            None
        }
    };
    let result = converse(&shared, &hello, presence, &mut reader, &mut writer, &mut decoder, commands).await;
    touch_presence(&shared, presence).await;
    shared.hub.unregister(&gateway, connection_id);
    if !shared.hub.is_connected(&gateway) {
        shared.metrics.gateway_up.get_or_create(&label(&gateway)).set(0);
    }
    match result {
        Ok(()) => log::info!("gateway {gateway} disconnected"),
        Err(fault) => fail(&shared, &format!("gateway {gateway} ({peer})"), &fault),
    }
}

fn fail(shared: &Shared, who: &str, fault: &Fault) {
    log::error!("{who}: closing report connection: {fault}");
    shared.metrics.channel_error(fault.kind());
}

fn label(gateway: &str) -> crate::metrics::GatewayLabels {
    crate::metrics::GatewayLabels { gateway: gateway.to_string() }
}

/// Checks the hello: protocol version, a usable name, and over TLS a
/// certificate valid for that name.
fn admit(hello: &Hello, cert: Option<&Option<CertificateDer<'static>>>) -> Result<(), String> {
    if hello.protocol_version != PROTOCOL_VERSION {
        return Err(format!(
            "protocol version {} is not supported (this control plane speaks {PROTOCOL_VERSION})",
            hello.protocol_version
        ));
    }
    let name = &hello.gateway;
    if name.is_empty() || name.len() > 253 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) {
        return Err(format!("gateway name {name:?}: use 1-253 letters, digits, '-', '.', '_'"));
    }
    match cert {
        None => Ok(()),
        Some(None) => Err("no client certificate".into()),
        Some(Some(cert)) => crate::tls::check_certificate_name(cert, name),
    }
}

async fn read_message<R: AsyncRead + Unpin>(
    reader: &mut R,
    decoder: &mut FrameDecoder,
) -> Result<Option<FromDataplane>, Fault> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Some(message) = decoder.next_message()? {
            return Ok(Some(message));
        }
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return if decoder.buffered() == 0 {
                Ok(None)
            } else {
                Err(Fault::Protocol("connection closed inside a frame".into()))
            };
        }
        decoder.push(buf.get(..n).unwrap_or_default());
    }
}

/// The connected phase: frames in, commands out, periodic stats requests.
async fn converse<R, W>(
    shared: &Arc<Shared>,
    hello: &Hello,
    presence: Option<i64>,
    reader: &mut R,
    writer: &mut W,
    decoder: &mut FrameDecoder,
    mut commands: CommandQueue,
) -> Result<(), Fault>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let gateway = hello.gateway.as_str();
    let max = shared.config.channel.max_frame_bytes;
    let now = now_rfc3339();
    let first_seen = shared.live().get(gateway).map_or_else(|| now.clone(), |g| g.first_seen.clone());
    let row = GatewayRow {
        name: gateway.to_string(),
        software_version: hello.software_version.clone(),
        instance: hello.instance,
        started_at: hello.started_at.clone(),
        policy_hash: hello.policy_hash.clone(),
        mode: hello.mode.map(|m| m.as_str().to_string()),
        first_seen,
        last_report: now,
        counters: hello.counters.clone(),
    };
    record_gateway(shared, row, true).await?;
    // The control plane's current policy is the one gateways should run.
    let current = shared.with_store(|s| s.current_policy()).await?;
    if let Some(policy) = current {
        if hello.policy_hash.as_deref() != Some(policy.hash.as_str()) {
            log::info!("gateway {gateway} runs {:?}; pushing policy version {}", hello.policy_hash, policy.version);
            let request_id = shared.hub.next_id();
            let command = FromControl::SetPolicy { request_id, toml: policy.toml.unwrap_or_default() };
            writer.write_all(&encode_frame(&command, max)?).await?;
        }
    }
    let stats_every = Duration::from_secs(shared.config.channel.stats_interval_secs.max(1));
    let mut stats_tick = tokio::time::interval_at(tokio::time::Instant::now() + stats_every, stats_every);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while let Some(message) = decoder.next_message::<FromDataplane>()? {
            touch(shared, gateway);
            if let Some(reply) = handle(shared, hello, presence, message).await? {
                writer.write_all(&encode_frame(&reply, max)?).await?;
            }
        }
        tokio::select! {
            read = reader.read(&mut buf) => {
                let n = read?;
                if n == 0 {
                    return if decoder.buffered() == 0 {
                        Ok(())
                    } else {
                        Err(Fault::Protocol("connection closed inside a frame".into()))
                    };
                }
                decoder.push(buf.get(..n).unwrap_or_default());
            }
            command = commands.recv() => match command {
                Some(command) => writer.write_all(&encode_frame(&command, max)?).await?,
                None => return Ok(()), // replaced by a newer connection of the same gateway
            },
            _ = stats_tick.tick() => {
                let request = FromControl::StatsRequest { request_id: shared.hub.next_id() };
                writer.write_all(&encode_frame(&request, max)?).await?;
            }
        }
    }
}

/// Handles one frame; returns the reply to send, if any.
async fn handle(
    shared: &Arc<Shared>,
    hello: &Hello,
    presence: Option<i64>,
    message: FromDataplane,
) -> Result<Option<FromControl>, Fault> {
    let gateway = hello.gateway.as_str();
    match message {
        FromDataplane::Hello(_) => Err(Fault::Protocol("second hello on one connection".into())),
        FromDataplane::Sessions(SessionBatch { seq, records }) => {
            shared.metrics.reports_received.get_or_create(&label(gateway)).inc();
            let (name, instance) = (gateway.to_string(), hello.instance);
            let skew = shared.config.endpoint.skew_ns();
            let (ingested, records) = shared
                .with_store(move |store| {
                    let mut records = records;
                    store.ingest(&name, instance, seq, &mut records, skew).map(|ingested| (ingested, records))
                })
                .await?;
            if ingested.fresh {
                for record in &records {
                    let proto = record.mail_proto.map_or("none", |p| p.as_str());
                    shared
                        .metrics
                        .sessions
                        .get_or_create(&crate::metrics::SessionLabels {
                            mail_proto: proto.into(),
                            action: record.verdict.action.as_str().into(),
                        })
                        .inc();
                }
                if shared.eve.is_some() {
                    let shared = Arc::clone(shared);
                    let joined = ingested.joined.clone();
                    let written = tokio::task::spawn_blocking(move || {
                        let matched: HashMap<(u64, &str), &EndpointInfo> =
                            joined.iter().map(|j| ((j.record.flow_id, j.record.ts.as_str()), &j.endpoint)).collect();
                        let events: Vec<_> = records
                            .iter()
                            .flat_map(|r| eve::session_events(r, matched.get(&(r.flow_id, r.ts.as_str())).copied()))
                            .collect();
                        shared.eve.as_ref().map(|writer| writer.write(&events))
                    });
                    if let Ok(Some(Err(e))) = written.await {
                        log::error!("EVE export: {e}");
                    }
                }
                correlate::after_joins(shared, &ingested.joined).await;
            } else {
                shared.metrics.duplicate_reports.get_or_create(&label(gateway)).inc();
            }
            Ok(Some(FromControl::BatchAck { seq }))
        }
        FromDataplane::Stats(stats) => {
            touch_presence(shared, presence).await;
            let row = shared.live().get(gateway).cloned();
            if let Some(mut row) = row {
                row.policy_hash = stats.policy_hash;
                row.mode = stats.mode.map(|m| m.as_str().to_string());
                row.counters = stats.counters;
                record_gateway(shared, row, false).await?;
            }
            Ok(None)
        }
        FromDataplane::PolicyAck(ack) => {
            match &ack.outcome {
                PolicyOutcome::Applied { hash } => {
                    log::info!("gateway {gateway} applied policy {hash}");
                    let row = shared.live().get_mut(gateway).map(|row| {
                        row.policy_hash = Some(hash.clone());
                        row.clone()
                    });
                    if let Some(row) = row {
                        record_gateway(shared, row, false).await?;
                    }
                }
                PolicyOutcome::Rejected { errors } => {
                    log::warn!("gateway {gateway} rejected a policy: {}", errors.join("; "));
                }
            }
            shared.hub.policy_answered(gateway, ack.request_id, ack.outcome);
            Ok(None)
        }
        FromDataplane::ModeAck(ack) => {
            if let Ok(mode) = &ack.result {
                let row = shared.live().get_mut(gateway).map(|row| {
                    row.mode = Some(mode.as_str().to_string());
                    row.clone()
                });
                if let Some(row) = row {
                    record_gateway(shared, row, false).await?;
                }
            }
            shared.hub.mode_answered(gateway, ack.request_id, ack.result);
            Ok(None)
        }
    }
}

/// Extends a gateway's presence interval to now (for uptime over a period).
async fn touch_presence(shared: &Arc<Shared>, presence: Option<i64>) {
    if let Some(id) = presence {
        if let Err(e) = shared.with_store(move |s| s.presence_touch(id, now_ns())).await {
            log::error!("gateway presence: {e}");
        }
    }
}

/// Notes that a gateway was just heard from.
fn touch(shared: &Shared, gateway: &str) {
    let now = now_rfc3339();
    if let Some(row) = shared.live().get_mut(gateway) {
        row.last_report = now;
    }
    let unix = time::OffsetDateTime::now_utc().unix_timestamp();
    shared.metrics.gateway_last_report.get_or_create(&label(gateway)).set(unix);
}

/// Keeps a gateway's state in memory, in the database and in the metrics.
async fn record_gateway(shared: &Arc<Shared>, row: GatewayRow, connected: bool) -> Result<(), Fault> {
    shared.metrics.gateway_counters(&row.name, &row.counters);
    if connected {
        shared.metrics.gateway_up.get_or_create(&label(&row.name)).set(1);
    }
    shared.live().insert(row.name.clone(), row.clone());
    shared.with_store(move |store| store.upsert_gateway(&row)).await?;
    Ok(())
}
