//! Prometheus metrics, served as text at `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;

/// Labels of the session counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SessionLabels {
    /// `smtp`, `imap`, `pop3`, or `none`.
    pub mail_proto: String,
    /// The verdict's action.
    pub action: String,
}

/// Labels naming a gateway.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GatewayLabels {
    /// The gateway's name.
    pub gateway: String,
}

/// Labels of the gateway-reported drop gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    /// The gateway's name.
    pub gateway: String,
    /// `ring_dropped` or `spool_discarded`.
    pub reason: String,
}

/// Labels naming a kind of event.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// What happened.
    pub kind: String,
}

/// Labels naming where endpoint telemetry came from.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// `sysmon`, `osquery_socket_events`, `osquery_process_open_sockets`, `json`.
    pub source: String,
}

/// Labels naming how endpoint telemetry arrived.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ViaLabels {
    /// `api` or `file`.
    pub via: String,
}

/// Every metric the control plane exports.
pub struct Metrics {
    registry: Registry,
    /// Sessions stored, by protocol and action.
    pub sessions: Family<SessionLabels, Counter>,
    /// Session batches received, by gateway (duplicates included).
    pub reports_received: Family<GatewayLabels, Counter>,
    /// Batches received again after a reconnect and not stored twice.
    pub duplicate_reports: Family<GatewayLabels, Counter>,
    /// Records a gateway says it had to drop, by reason (cumulative per dataplane process).
    pub reports_dropped: Family<DropLabels, Gauge>,
    /// 1 while a gateway is connected.
    pub gateway_up: Family<GatewayLabels, Gauge>,
    /// Unix time of a gateway's last frame.
    pub gateway_last_report: Family<GatewayLabels, Gauge>,
    /// Report-channel connections closed for a fault, by kind.
    pub channel_errors: Family<KindLabels, Counter>,
    /// Alerts raised by the control plane, by kind.
    pub alerts_raised: Family<KindLabels, Counter>,
    /// API requests refused for a missing or wrong token.
    pub api_unauthorized: Counter,
    /// Endpoint connection events stored, by telemetry source.
    pub endpoint_events: Family<SourceLabels, Counter>,
    /// Endpoint telemetry lines (or records) rejected, by how they arrived.
    pub endpoint_rejected: Family<ViaLabels, Counter>,
    /// Sessions joined to endpoint events.
    pub endpoint_joins: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let (sessions, reports_received, duplicate_reports) = (Family::default(), Family::default(), Family::default());
        let (reports_dropped, gateway_up, gateway_last_report) =
            (Family::default(), Family::default(), Family::default());
        let (channel_errors, alerts_raised, api_unauthorized) =
            (Family::default(), Family::default(), Counter::default());
        let (endpoint_events, endpoint_rejected, endpoint_joins) =
            (Family::default(), Family::default(), Counter::default());
        let mut registry = Registry::with_prefix("mailgate");
        registry.register("sessions", "Sessions stored, by mail protocol and action", sessions.clone());
        registry.register("reports_received", "Session batches received from gateways", reports_received.clone());
        registry.register(
            "duplicate_reports",
            "Batches resent after a reconnect and recognised as already stored",
            duplicate_reports.clone(),
        );
        registry.register(
            "reports_dropped",
            "Records a gateway reports it dropped (ring full) or discarded (spool full), since its start",
            reports_dropped.clone(),
        );
        registry.register("gateway_up", "1 while the gateway is connected", gateway_up.clone());
        registry.register(
            "gateway_last_report_timestamp_seconds",
            "Unix time of the gateway's last frame",
            gateway_last_report.clone(),
        );
        registry.register("channel_errors", "Report connections closed for a fault", channel_errors.clone());
        registry.register("alerts_raised", "Alerts raised by the control plane", alerts_raised.clone());
        registry.register("api_unauthorized", "API requests with a missing or wrong token", api_unauthorized.clone());
        registry.register("endpoint_events", "Endpoint connection events stored", endpoint_events.clone());
        registry.register(
            "endpoint_rejected",
            "Endpoint telemetry lines or records rejected as malformed or of an unknown format",
            endpoint_rejected.clone(),
        );
        registry.register("endpoint_joins", "Sessions joined to endpoint connection events", endpoint_joins.clone());
        Metrics {
            registry,
            sessions,
            reports_received,
            duplicate_reports,
            reports_dropped,
            gateway_up,
            gateway_last_report,
            channel_errors,
            alerts_raised,
            api_unauthorized,
            endpoint_events,
            endpoint_rejected,
            endpoint_joins,
        }
    }

    /// Counts a fault on a report connection.
    pub fn channel_error(&self, kind: &str) {
        self.channel_errors.get_or_create(&KindLabels { kind: kind.into() }).inc();
    }

    /// Publishes the drop counters a gateway reported.
    pub fn gateway_counters(&self, gateway: &str, counters: &BTreeMap<String, u64>) {
        use mailgate_protocol::channel::counter;
        for reason in [counter::RING_DROPPED, counter::SPOOL_DISCARDED] {
            let value = counters.get(reason).copied().unwrap_or(0);
            self.reports_dropped
                .get_or_create(&DropLabels { gateway: gateway.into(), reason: reason.into() })
                .set(i64::try_from(value).unwrap_or(i64::MAX));
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            log::error!("cannot encode metrics");
        }
        out
    }
}
