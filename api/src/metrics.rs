//! Process metrics in the Prometheus text format (`GET /metrics`), through the Prometheus
//! project's Rust client. One registry per process; labels carry kinds and outcomes only, never
//! tenant data. The series are listed in the README ("Metrics").

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::LazyLock;
use std::time::Duration;

/// A GraphQL operation: its kind and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    /// `query`, `mutation`, `subscription`, or `refused` (stopped before its kind was known).
    pub kind: &'static str,
    /// `ok`, or the error code of the first error (`THROTTLED`, `INTERNAL`, …).
    pub outcome: &'static str,
}

/// An HTTP request: its route and status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The matched route (`/graphql`, `/graphql/ws`, `/healthz`, …; `other` when none).
    pub route: &'static str,
    /// The status code.
    pub status: u16,
}

/// A tenant transaction.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TxLabels {
    /// `read` or `write`.
    pub mode: &'static str,
    /// `commit` or `rollback`.
    pub outcome: &'static str,
}

/// One request-path use of Redis.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RedisLabels {
    /// `rate`, `cost`, `cache`, `effects`.
    pub user: &'static str,
}

/// A refusal by a limit.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    /// `rate`, `login`, `cost`, `depth`, `aliases`, `selections`, …
    pub limit: &'static str,
}

/// A job attempt.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    /// The job kind, e.g. `CATALOG_IMPORT`.
    pub kind: &'static str,
    /// `succeeded`, `skipped`, `retrying`, `dead`, `cancelled`, `lost_lease`.
    pub outcome: &'static str,
}

/// A job kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// The job kind.
    pub kind: &'static str,
}

/// A subscription topic.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabels {
    /// `sync_runs`, `inventory_alerts`, `heartbeat`.
    pub topic: &'static str,
}

/// A subscriber that fell behind its event buffer, and what was done.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LagLabels {
    /// The subscription (`syncRuns`, `inventoryAlerts`, `storeAlerts`, `orderEvents`).
    pub subscription: &'static str,
    /// `collapsed` (progress skipped to its newest states) or `ended` (SUBSCRIBER_LAGGED).
    pub action: &'static str,
}

/// How a live subscription result (or its serialized payload) was produced.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RenderLabels {
    /// `rendered` (this subscription evaluated its selection) or `serialized` (this socket wrote
    /// the payload's JSON), or `shared` (another subscription's result for the same event and
    /// selection was reused).
    pub how: &'static str,
}

/// How a read page was rendered.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PageRenderLabels {
    /// `products` or `orders`.
    pub page: &'static str,
    /// `direct` (written from its rows) or `executor` (field by field by async-graphql).
    pub how: &'static str,
}

/// A marketplace push delivery.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    /// `STORED`, `DUPLICATE`, or the refusal code (`BAD_SIGNATURE`, `STALE`, `UNKNOWN_SHOP`,
    /// `MALFORMED`, `NOT_FOUND`, `RATE_LIMITED`).
    pub outcome: &'static str,
}

/// Counts one push delivery by `outcome` ([`WebhookLabels`]).
pub fn webhook(outcome: &'static str) {
    get()
        .webhooks
        .get_or_create(&WebhookLabels { outcome })
        .inc();
}

impl Metrics {
    /// Counts a subscriber of `subscription` falling behind: `collapsed` or ended.
    pub fn subscriber_lagged(&self, subscription: &'static str, collapsed: bool) {
        let action = if collapsed { "collapsed" } else { "ended" };
        self.subscriber_lags
            .get_or_create(&LagLabels {
                subscription,
                action,
            })
            .inc();
    }

    /// Records the size of one reservation group commit.
    pub fn reservation_group(&self, size: usize) {
        #[allow(clippy::cast_precision_loss)]
        self.reservation_groups.observe(size as f64);
    }
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency() -> Histogram {
    // 1 ms … ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

fn queue_latency() -> Histogram {
    // 5 ms … ~23 min.
    Histogram::new(exponential_buckets(0.005, 2.0, 19))
}

/// Every series of the process.
pub struct Metrics {
    registry: Registry,
    /// GraphQL operations over HTTP by kind and outcome.
    pub operations: Family<OperationLabels, Counter>,
    /// Their latency.
    pub operation_seconds: Histograms<OperationLabels>,
    /// HTTP requests by route and status.
    pub http_requests: Family<HttpLabels, Counter>,
    /// Their latency.
    pub http_seconds: Histograms<HttpLabels>,
    /// Tenant transactions ended, by mode and outcome.
    pub tenant_transactions: Family<TxLabels, Counter>,
    /// Database pool: connections open.
    pub db_pool_connections: Gauge,
    /// Database pool: connections in use.
    pub db_pool_in_use: Gauge,
    /// Database pool: operations waiting to open their transaction.
    pub db_pool_waiting: Gauge,
    /// Request-path Redis calls that failed (timeout, error, breaker open).
    pub redis_errors: Family<RedisLabels, Counter>,
    /// Requests served by a fallback because Redis failed (local limiter, Postgres read).
    pub redis_fallbacks: Family<RedisLabels, Counter>,
    /// Requests refused by a limit.
    pub limit_refusals: Family<LimitLabels, Counter>,
    /// Job attempts by kind and outcome.
    pub jobs: Family<JobLabels, Counter>,
    /// Time from a job being due to its attempt starting.
    pub job_queue_seconds: Histograms<KindLabels>,
    /// Time an attempt ran.
    pub job_run_seconds: Histograms<KindLabels>,
    /// Open WebSocket subscriptions (operations, not sockets).
    pub ws_subscriptions: Gauge,
    /// Open WebSockets.
    pub ws_sockets: Gauge,
    /// Subscription events delivered to clients, by topic.
    pub events_delivered: Family<TopicLabels, Counter>,
    /// Marketplace push deliveries by outcome.
    pub webhooks: Family<WebhookLabels, Counter>,
    /// Reservations written per group commit.
    pub reservation_groups: Histogram,
    /// Subscribers that fell behind their event buffer.
    pub subscriber_lags: Family<LagLabels, Counter>,
    /// Live subscription results rendered, or shared from another subscription's rendering.
    pub subscription_renders: Family<RenderLabels, Counter>,
    /// Live subscription messages whose payload was serialized, or shared from another socket's
    /// serialization of the same rendering.
    pub subscription_payloads: Family<RenderLabels, Counter>,
    /// Read pages rendered straight from their rows, or by the executor.
    pub page_renders: Family<PageRenderLabels, Counter>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("mercato");
        let operations = Family::default();
        let operation_seconds: Histograms<OperationLabels> = Family::new_with_constructor(latency);
        let http_requests = Family::default();
        let http_seconds: Histograms<HttpLabels> = Family::new_with_constructor(latency);
        let tenant_transactions = Family::default();
        let db_pool_connections = Gauge::default();
        let db_pool_in_use = Gauge::default();
        let db_pool_waiting = Gauge::default();
        let redis_errors = Family::default();
        let redis_fallbacks = Family::default();
        let limit_refusals = Family::default();
        let jobs = Family::default();
        let job_queue_seconds: Histograms<KindLabels> = Family::new_with_constructor(queue_latency);
        let job_run_seconds: Histograms<KindLabels> = Family::new_with_constructor(latency);
        let ws_subscriptions = Gauge::default();
        let ws_sockets = Gauge::default();
        let events_delivered = Family::default();
        let webhooks = Family::default();
        let reservation_groups = Histogram::new(exponential_buckets(1.0, 2.0, 9));
        let subscriber_lags = Family::default();
        let subscription_renders = Family::default();
        let subscription_payloads = Family::default();
        let page_renders = Family::default();
        let r = &mut registry;
        r.register(
            "graphql_operations",
            "GraphQL operations over HTTP by kind and outcome",
            operations.clone(),
        );
        r.register(
            "graphql_operation_duration_seconds",
            "Latency of GraphQL operations over HTTP",
            operation_seconds.clone(),
        );
        r.register(
            "http_requests",
            "HTTP requests by route and status",
            http_requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Latency of HTTP requests",
            http_seconds.clone(),
        );
        r.register(
            "tenant_transactions",
            "Tenant transactions ended, by mode and outcome",
            tenant_transactions.clone(),
        );
        r.register(
            "db_pool_connections",
            "Connections open in the runtime pool",
            db_pool_connections.clone(),
        );
        r.register(
            "db_pool_in_use",
            "Connections of the runtime pool in use",
            db_pool_in_use.clone(),
        );
        r.register(
            "db_pool_waiting",
            "Operations waiting to open their tenant transaction",
            db_pool_waiting.clone(),
        );
        r.register(
            "redis_errors",
            "Request-path Redis calls that failed (error, deadline, breaker open)",
            redis_errors.clone(),
        );
        r.register(
            "redis_fallbacks",
            "Requests served by a fallback because Redis failed",
            redis_fallbacks.clone(),
        );
        r.register(
            "limit_refusals",
            "Requests refused by a rate, cost or shape limit",
            limit_refusals.clone(),
        );
        r.register("jobs", "Job attempts by kind and outcome", jobs.clone());
        r.register(
            "job_queue_latency_seconds",
            "Time from a job being due to its attempt starting",
            job_queue_seconds.clone(),
        );
        r.register(
            "job_run_duration_seconds",
            "Time a job attempt ran",
            job_run_seconds.clone(),
        );
        r.register(
            "ws_subscriptions",
            "Open GraphQL subscriptions over WebSocket",
            ws_subscriptions.clone(),
        );
        r.register("ws_sockets", "Open WebSockets", ws_sockets.clone());
        r.register(
            "events_delivered",
            "Subscription events delivered to clients, by topic",
            events_delivered.clone(),
        );
        r.register(
            "webhooks",
            "Marketplace push deliveries by outcome",
            webhooks.clone(),
        );
        r.register(
            "subscription_renders",
            "Live subscription results rendered, or shared from another subscription's rendering",
            subscription_renders.clone(),
        );
        r.register(
            "subscription_payloads",
            "Live subscription payloads serialized, or shared from another socket's serialization",
            subscription_payloads.clone(),
        );
        r.register(
            "page_renders",
            "Read pages (products, orders) rendered straight from their rows, or by the per-field executor",
            page_renders.clone(),
        );
        r.register(
            "subscriber_lags",
            "Subscribers that fell behind their event buffer: progress collapsed, or the subscription ended",
            subscriber_lags.clone(),
        );
        r.register(
            "reservation_group_size",
            "Reservations written per group commit",
            reservation_groups.clone(),
        );
        for outcome in [
            "STORED",
            "DUPLICATE",
            "BAD_SIGNATURE",
            "STALE",
            "UNKNOWN_SHOP",
        ] {
            let _ = webhooks.get_or_create(&WebhookLabels { outcome });
        }
        // Known label sets start at 0, so every series is visible before its first event.
        for user in ["rate", "cost", "cache", "effects"] {
            let _ = redis_errors.get_or_create(&RedisLabels { user });
            if user != "effects" {
                let _ = redis_fallbacks.get_or_create(&RedisLabels { user });
            }
        }
        for limit in [
            "rate", "login", "cost", "depth", "aliases", "shape", "timeout",
        ] {
            let _ = limit_refusals.get_or_create(&LimitLabels { limit });
        }
        for topic in ["sync_runs", "inventory_alerts", "heartbeat"] {
            let _ = events_delivered.get_or_create(&TopicLabels { topic });
        }
        Self {
            registry,
            operations,
            operation_seconds,
            http_requests,
            http_seconds,
            tenant_transactions,
            db_pool_connections,
            db_pool_in_use,
            db_pool_waiting,
            redis_errors,
            redis_fallbacks,
            limit_refusals,
            jobs,
            job_queue_seconds,
            job_run_seconds,
            ws_subscriptions,
            ws_sockets,
            events_delivered,
            webhooks,
            reservation_groups,
            subscriber_lags,
            subscription_renders,
            subscription_payloads,
            page_renders,
        }
    }

    /// The text exposition of every series.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Records one GraphQL operation.
    pub fn operation(&self, kind: &'static str, outcome: &'static str, took: Duration) {
        let l = OperationLabels { kind, outcome };
        self.operations.get_or_create(&l).inc();
        self.operation_seconds
            .get_or_create(&l)
            .observe(took.as_secs_f64());
    }

    /// Records one failed request-path Redis call by `user`.
    pub fn redis_error(&self, user: &'static str) {
        self.redis_errors.get_or_create(&RedisLabels { user }).inc();
    }

    /// Records one request served by a fallback because Redis failed.
    pub fn redis_fallback(&self, user: &'static str) {
        self.redis_fallbacks
            .get_or_create(&RedisLabels { user })
            .inc();
    }

    /// Records one refusal by `limit`.
    pub fn refused(&self, limit: &'static str) {
        self.limit_refusals
            .get_or_create(&LimitLabels { limit })
            .inc();
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

/// Keeps a gauge raised while alive (an open socket, a subscription, a waiting operation).
pub struct Raised(&'static Gauge);

impl Raised {
    /// Raises `gauge` until dropped.
    pub fn new(gauge: &'static Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for Raised {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_encoded_with_their_prefix_and_labels() {
        let m = get();
        m.operation("query", "ok", Duration::from_millis(3));
        m.refused("cost");
        {
            let _open = Raised::new(&m.ws_subscriptions);
            assert!(m.encode().contains("mercato_ws_subscriptions 1"));
        }
        let text = m.encode();
        assert!(text.contains("mercato_graphql_operations_total{kind=\"query\",outcome=\"ok\"}"));
        assert!(text.contains("mercato_graphql_operation_duration_seconds_bucket{"));
        assert!(text.contains("mercato_limit_refusals_total{limit=\"cost\"}"));
        assert!(text.contains("mercato_ws_subscriptions 0"));
        assert!(text.ends_with("# EOF\n"));
    }
}
