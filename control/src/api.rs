//! The HTTP API (JSON) and `/metrics`.
//!
//! Every route under `/api/v1` needs `Authorization: Bearer <token>`; the
//! token is compared in constant time (as SHA-256 digests, so its length
//! leaks nothing either). A missing or wrong token is answered 401, logged
//! and counted. `/metrics` is open, for Prometheus scrapers.

use crate::hub::Delivery;
use crate::policy;
use crate::state::Shared;
use crate::store::{now_ns, parse_ts_ns, GatewayRow, SessionQuery, StoreError};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mailgate_protocol::channel::{Mode, PolicyOutcome};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// Largest policy body accepted.
const MAX_POLICY_BYTES: usize = 1 << 20;

/// An error answer: a status and `{"error": ..., "errors": [...]}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    details: Vec<String>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), details: Vec::new() }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::BadQuery(message) => ApiError::new(StatusCode::BAD_REQUEST, message),
            other => {
                log::error!("API: {other}");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.message});
        if !self.details.is_empty() {
            body["errors"] = json!(self.details);
        }
        (self.status, Json(body)).into_response()
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The router: `/api/v1/...` behind the token, `/metrics` open.
pub fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/api/v1/sessions", get(sessions))
        .route("/api/v1/inventory", get(inventory))
        .route("/api/v1/gateways", get(gateways))
        .route("/api/v1/gateways/{name}/mode", post(set_mode))
        .route("/api/v1/policy", get(current_policy).post(apply_policy))
        .route("/api/v1/policy/versions", get(policy_versions))
        .route("/api/v1/alerts", get(alerts))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&shared), require_token));
    Router::new()
        .merge(api)
        .route("/metrics", get(metrics))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_POLICY_BYTES))
        .with_state(shared)
}

/// Digest of a token, the form in which tokens are compared.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

async fn require_token(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let valid = presented.is_some_and(|t| bool::from(token_digest(t).ct_eq(&shared.token_digest)));
    if valid {
        return next.run(request).await;
    }
    shared.metrics.api_unauthorized.inc();
    log::warn!(
        "API: {} {} refused: {} bearer token",
        request.method(),
        request.uri().path(),
        if presented.is_some() { "wrong" } else { "no" }
    );
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    response
}

async fn sessions(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<SessionQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Vec<Value>> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    Ok(Json(shared.with_store(move |s| s.sessions(&query)).await?))
}

/// Query of `GET /api/v1/inventory`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryQuery {
    since: Option<String>,
}

/// One row of `GET /api/v1/inventory`.
#[derive(Debug, Serialize)]
struct InventoryItem {
    #[serde(flatten)]
    row: crate::store::InventoryRow,
    /// The current policy's view of the path; `null` without a policy or for non-mail paths.
    policy: Option<policy::Admission>,
}

async fn inventory(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<InventoryQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Value> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let since = match &query.since {
        Some(ts) => parse_ts_ns(ts).ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, format!("since {ts:?}: expected an RFC 3339 time"))
        })?,
        None => i64::MIN,
    };
    let (rows, current) = shared.with_store(move |s| Ok((s.inventory(since)?, s.current_policy()?))).await?;
    let compiled = current.as_ref().and_then(|p| policy::check(p.toml.as_deref().unwrap_or_default()).ok());
    let items: Vec<InventoryItem> = rows
        .into_iter()
        .map(|row| InventoryItem { policy: compiled.as_ref().and_then(|c| policy::admission(c, &row)), row })
        .collect();
    Ok(Json(json!({
        "policy_version": current.as_ref().map(|p| p.version),
        "policy_hash": current.as_ref().map(|p| p.hash.clone()),
        "paths": items,
    })))
}

async fn gateways(State(shared): State<Arc<Shared>>) -> ApiResult<Vec<Value>> {
    let stored = shared.with_store(|s| s.gateways()).await?;
    let live = shared.live().clone();
    let liveness_ns =
        i64::try_from(shared.config.channel.liveness_secs.saturating_mul(1_000_000_000)).unwrap_or(i64::MAX);
    let now = now_ns();
    let out = stored
        .into_iter()
        .map(|row| {
            let row = match live.get(&row.name) {
                Some(l) => GatewayRow { first_seen: row.first_seen, ..l.clone() },
                None => row,
            };
            let connected = shared.hub.is_connected(&row.name);
            let last = parse_ts_ns(&row.last_report).unwrap_or(0);
            let uptime = parse_ts_ns(&row.started_at).map(|s| (now - s) / 1_000_000_000);
            json!({
                "name": row.name,
                "software_version": row.software_version,
                "policy_hash": row.policy_hash,
                "mode": row.mode,
                "started_at": row.started_at,
                "uptime_secs": if connected { uptime } else { None },
                "first_seen": row.first_seen,
                "last_report": row.last_report,
                "connected": connected,
                "alive": connected && now.saturating_sub(last) <= liveness_ns,
                "counters": row.counters,
            })
        })
        .collect();
    Ok(Json(out))
}

/// Body of `POST /api/v1/gateways/{name}/mode`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeBody {
    mode: Mode,
}

async fn set_mode(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    body: Result<Json<ModeBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    if !shared.hub.is_connected(&name) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("gateway {name:?} is not connected")));
    }
    let timeout = Duration::from_millis(shared.config.api.ack_timeout_ms);
    match shared.hub.set_mode(&name, body.mode, timeout).await {
        Delivery::Answered { answer: Ok(mode) } => Ok(Json(json!({"gateway": name, "mode": mode}))),
        Delivery::Answered { answer: Err(e) } => Err(ApiError::new(StatusCode::CONFLICT, e)),
        Delivery::Timeout => Err(ApiError::new(StatusCode::GATEWAY_TIMEOUT, "the gateway did not answer in time")),
        Delivery::Disconnected => Err(ApiError::new(StatusCode::BAD_GATEWAY, "the gateway disconnected")),
    }
}

async fn current_policy(State(shared): State<Arc<Shared>>) -> ApiResult<crate::store::PolicyVersion> {
    match shared.with_store(|s| s.current_policy()).await? {
        Some(policy) => Ok(Json(policy)),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "no policy has been stored yet")),
    }
}

async fn policy_versions(State(shared): State<Arc<Shared>>) -> ApiResult<Vec<crate::store::PolicyVersion>> {
    Ok(Json(shared.with_store(|s| s.policy_versions()).await?))
}

/// One gateway's answer in `POST /api/v1/policy`.
#[derive(Debug, Serialize)]
struct Ack {
    gateway: String,
    #[serde(flatten)]
    delivery: Delivery<PolicyOutcome>,
    /// Whether the gateway now runs exactly the stored policy.
    in_force: bool,
}

async fn apply_policy(State(shared): State<Arc<Shared>>, body: String) -> Result<Json<Value>, ApiError> {
    let compiled = policy::check(&body).map_err(|errors| ApiError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        message: "the policy is not valid".into(),
        details: errors,
    })?;
    let hash = compiled.hash().to_string();
    let (stored_hash, text) = (hash.clone(), body.clone());
    let version = shared
        .with_store(move |s| match s.current_policy()? {
            Some(current) if current.hash == stored_hash => Ok(current),
            _ => s.add_policy(&stored_hash, &text),
        })
        .await?;
    log::info!("policy version {} ({hash}) stored; pushing to {:?}", version.version, shared.hub.connected());
    let timeout = Duration::from_millis(shared.config.api.ack_timeout_ms);
    let acks: Vec<Ack> = shared
        .hub
        .push_policy(&body, timeout)
        .await
        .into_iter()
        .map(|(gateway, delivery)| {
            let in_force =
                matches!(&delivery, Delivery::Answered { answer: PolicyOutcome::Applied { hash: h } } if *h == hash);
            Ack { gateway, delivery, in_force }
        })
        .collect();
    Ok(Json(json!({"version": version.version, "hash": hash, "created_at": version.created_at, "acks": acks})))
}

async fn alerts(State(shared): State<Arc<Shared>>) -> ApiResult<Vec<crate::store::AlertRow>> {
    Ok(Json(shared.with_store(|s| s.alerts()).await?))
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], shared.metrics.render())
}
