//! Liveness and readiness.

use super::HttpState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Alive: the process answers.
pub async fn healthz() -> &'static str {
    "ok"
}

/// The process's metrics in the Prometheus text format (see the README's "Metrics"). Pool gauges
/// are read now; everything else is counted as it happens.
pub async fn metrics(State(s): State<HttpState>) -> impl axum::response::IntoResponse {
    let m = crate::metrics::get();
    let pool = s.app.db.get_postgres_connection_pool();
    let size = i64::from(pool.size());
    let idle = i64::try_from(pool.num_idle()).unwrap_or(0);
    m.db_pool_connections.set(size);
    m.db_pool_in_use.set((size - idle).max(0));
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
}

/// Ready: Postgres and Redis both answer within 2 s (checked at once). The body also shows the
/// request path's circuit breakers (`open` while a dependency is being spared).
pub async fn readyz(State(s): State<HttpState>) -> (StatusCode, Json<Value>) {
    let pg = async {
        matches!(
            tokio::time::timeout(CHECK_TIMEOUT, s.app.db.ping()).await,
            Ok(Ok(()))
        )
    };
    let redis = async {
        tokio::time::timeout(CHECK_TIMEOUT, async {
            let mut conn = s.app.redis.get().await.ok()?;
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .ok()
        })
        .await
        .ok()
        .flatten()
        .is_some()
    };
    let (pg, redis) = tokio::join!(pg, redis);
    let status = if pg && redis {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let circuit = |open: bool| if open { "open" } else { "closed" };
    (
        status,
        Json(json!({
            "postgres": word(pg),
            "redis": word(redis),
            "circuits": {
                "postgres": circuit(s.app.pg_breaker.is_open()),
                "redis": circuit(s.app.redis_guard.breaker.is_open()),
            }
        })),
    )
}
