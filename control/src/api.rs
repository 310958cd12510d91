//! The HTTP API (JSON), `/metrics` and the dashboard.
//!
//! Every route under `/api/v1` needs `Authorization: Bearer <token>`; the
//! token is compared in constant time (as SHA-256 digests, so its length
//! leaks nothing either). A missing or wrong token is answered 401, logged
//! and counted. `/metrics` is open, for Prometheus scrapers, and so are
//! the dashboard's static files (they hold no data; the page asks for the
//! token and calls the API with it).

use crate::audit::{self, BLOCKING};
use crate::coverage;
use crate::dashboard;
use crate::endpoint;
use crate::gateways;
use crate::hub::Delivery;
use crate::policy::{self, PolicyInForce};
use crate::state::Shared;
use crate::store::{now_ns, parse_ts_ns, Period, SessionQuery, StoreError, MAX_LIMIT};
use crate::{correlate, triage};
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

/// Largest endpoint-telemetry body accepted.
const MAX_ENDPOINT_BYTES: usize = 64 << 20;

/// The period coverage figures cover when no `since` is given.
const DEFAULT_COVERAGE_NS: i64 = 86_400 * 1_000_000_000;

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
        .route("/api/v1/hosts/{ip}", get(host))
        .route("/api/v1/coverage", get(coverage_figures))
        .route("/api/v1/report", get(report))
        .route("/api/v1/overview", get(overview))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_POLICY_BYTES))
        .merge(
            Router::new()
                .route("/api/v1/endpoint-events", post(endpoint_events))
                .layer(axum::extract::DefaultBodyLimit::max(MAX_ENDPOINT_BYTES)),
        )
        .route_layer(middleware::from_fn_with_state(Arc::clone(&shared), require_token));
    Router::new().merge(api).merge(dashboard::router()).route("/metrics", get(metrics)).with_state(shared)
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

async fn gateways(State(shared): State<Arc<Shared>>) -> ApiResult<Vec<gateways::GatewayStatus>> {
    Ok(Json(gateways::statuses(&shared).await?))
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

/// `since` and `until` of the analysis routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodQuery {
    since: Option<String>,
    until: Option<String>,
}

fn bound(name: &str, ts: Option<&str>, default: i64) -> Result<i64, ApiError> {
    match ts {
        None => Ok(default),
        Some(ts) => parse_ts_ns(ts)
            .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, format!("{name} {ts:?}: expected an RFC 3339 time"))),
    }
}

fn period(
    since: Option<&str>,
    until: Option<&str>,
    default_since: i64,
    default_until: i64,
) -> Result<Period, ApiError> {
    let until = bound("until", until, default_until)?;
    let since = bound("since", since, default_since)?;
    if since >= until {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "since must be before until"));
    }
    Ok(Period { since, until })
}

fn query<T>(query: Result<Query<T>, axum::extract::rejection::QueryRejection>) -> Result<T, ApiError> {
    query.map(|Query(q)| q).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))
}

async fn endpoint_events(
    State(shared): State<Arc<Shared>>,
    body: axum::body::Bytes,
) -> ApiResult<correlate::EventsSummary> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "empty body: expected JSON lines of endpoint telemetry"));
    }
    let parsed = tokio::task::spawn_blocking(move || endpoint::parse_lines(&String::from_utf8_lossy(&body), 1))
        .await
        .map_err(|e| ApiError::from(StoreError::Task(e.to_string())))?;
    Ok(Json(correlate::ingest_events(&shared, parsed, "api").await?))
}

/// Query of `GET /api/v1/hosts/{ip}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostQuery {
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
}

async fn host(
    State(shared): State<Arc<Shared>>,
    Path(ip): Path<String>,
    q: Result<Query<HostQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<triage::HostReport> {
    let q = query(q)?;
    let ip: std::net::IpAddr =
        ip.parse().map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, format!("{ip:?} is not an IP address")))?;
    let period = period(q.since.as_deref(), q.until.as_deref(), i64::MIN, i64::MAX)?;
    let limit = q.limit.unwrap_or(1000);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, format!("limit {limit}: expected 1 to {MAX_LIMIT}")));
    }
    let host = ip.to_string();
    Ok(Json(shared.with_store(move |s| triage::host_report(s, &host, period, limit)).await?))
}

async fn compute_coverage(shared: &Arc<Shared>, period: Period) -> Result<coverage::Coverage, ApiError> {
    let statuses = gateways::statuses(shared).await?;
    let policy = shared.policy_in_force().await?;
    let relays = policy::relays(policy.as_ref().map(|p| &p.document), &shared.config.coverage);
    let (internal, skew) = (shared.config.coverage.internal_networks.clone(), shared.config.endpoint.skew_ns());
    Ok(shared
        .with_store(move |s| {
            let inputs = coverage::Inputs { period, skew_ns: skew, relays, internal: &internal, gateways: &statuses };
            coverage::compute(s, inputs)
        })
        .await?)
}

async fn coverage_figures(
    State(shared): State<Arc<Shared>>,
    q: Result<Query<PeriodQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<coverage::Coverage> {
    let q = query(q)?;
    let now = now_ns();
    let period = period(q.since.as_deref(), q.until.as_deref(), now - DEFAULT_COVERAGE_NS, now)?;
    Ok(Json(compute_coverage(&shared, period).await?))
}

async fn report(
    State(shared): State<Arc<Shared>>,
    q: Result<Query<PeriodQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<audit::AuditReport> {
    let q = query(q)?;
    let since = q.since.as_deref().ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "since is required"))?;
    let period = period(Some(since), q.until.as_deref(), 0, now_ns())?;
    let coverage = compute_coverage(&shared, period).await?;
    let statuses = gateways::statuses(&shared).await?;
    let policy: Option<Arc<PolicyInForce>> = shared.policy_in_force().await?;
    Ok(Json(
        shared
            .with_store(move |s| {
                let inputs = audit::Inputs {
                    period,
                    policy: policy.as_deref(),
                    coverage,
                    gateways: &statuses,
                    now: time::OffsetDateTime::now_utc(),
                };
                audit::build(s, inputs)
            })
            .await?,
    ))
}

/// Recent sessions the dashboard lists.
const OVERVIEW_RECENT: usize = 25;

async fn overview(State(shared): State<Arc<Shared>>) -> ApiResult<Value> {
    let statuses = gateways::statuses(&shared).await?;
    let policy = shared.policy_in_force().await?;
    let now = now_ns();
    let hour = Period { since: now - 3_600_000_000_000, until: i64::MAX };
    let day = Period { since: now - 86_400_000_000_000, until: i64::MAX };
    let (total, last_hour, last_day, alerts, events, blocked, alerted) = shared
        .with_store(move |s| {
            let by_action = |p: Period| -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
                let mut out = std::collections::BTreeMap::new();
                for (action, _, n) in s.rule_counts(p)? {
                    *out.entry(action).or_insert(0) += n;
                }
                Ok(out)
            };
            Ok((
                s.session_count()?,
                by_action(hour)?,
                by_action(day)?,
                s.alerts()?,
                s.endpoint_event_count()?,
                s.recent_with_actions(&BLOCKING, OVERVIEW_RECENT)?,
                s.recent_with_actions(&["alert"], OVERVIEW_RECENT)?,
            ))
        })
        .await?;
    let mut alert_kinds: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for a in &alerts {
        *alert_kinds.entry(a.kind.clone()).or_insert(0) += 1;
    }
    Ok(Json(json!({
        "sessions": {"total": total, "last_hour": last_hour, "last_24h": last_day},
        "gateways": {"total": statuses.len(), "alive": statuses.iter().filter(|g| g.alive).count()},
        "alerts": {"total": alerts.len(), "by_kind": alert_kinds, "recent": alerts.iter().take(OVERVIEW_RECENT).collect::<Vec<_>>()},
        "endpoint_events": events,
        "policy": policy.as_ref().map(|p| json!({
            "version": p.version, "hash": p.hash, "mode": p.document.policy.mode.as_str(),
            "allow_rules": p.document.policy.allow.len(), "exceptions": p.document.policy.exceptions.len(),
        })),
        "blocked": blocked,
        "alerted": alerted,
    })))
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], shared.metrics.render())
}
