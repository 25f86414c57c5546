//! The HTTP surface: `/graphql` (POST; GET for queries, or GraphiQL without one), `/graphql/ws`,
//! GraphiQL's assets and the SDL, `/healthz`, `/readyz`, `/metrics`,
//! `/connect/{platform}/callback` (marketplace authorization redirects), `/connect/done`,
//! `/webhooks/{platform}` (marketplace pushes),
//! with a request id on every request, in logs and in error responses; CORS for the configured
//! origins; responses over 1 KiB compressed (gzip or brotli) when the client accepts it.

pub mod apq;
mod connect;
mod graphiql;
mod graphql;
mod health;
mod webhooks;
mod ws;

use crate::graphql::{MercatoSchema, build_schema};
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Header carrying the request id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// State of the HTTP handlers.
#[derive(Clone)]
pub struct HttpState {
    app: AppState,
    schema: MercatoSchema,
    apq: std::sync::Arc<apq::Apq>,
}

/// Responses smaller than this go out uncompressed (compressing them saves little).
pub const COMPRESS_ABOVE_BYTES: u16 = 1024;

/// Builds the router the binary serves (tests and benchmarks use the same).
pub fn build_router(app: AppState) -> Router {
    let schema = build_schema(Some(app.clone()));
    let max_body = app.config.max_body_bytes;
    let webhook_body = app.config.limits.webhook_max_body;
    let request_timeout = app.config.limits.request_timeout;
    let apq = std::sync::Arc::new(apq::Apq::new(app.redis_guard.clone(), app.keys.clone()));
    let cors = cors(&app.config.limits.allowed_origins);
    let state = HttpState { app, schema, apq };
    Router::new()
        .route(
            "/graphql",
            get(graphql::graphql_get).post(graphql::graphql_post),
        )
        .route("/graphql/ws", get(ws::graphql_ws))
        .route("/graphql/assets/{name}", get(graphiql::asset))
        .route("/graphql/schema.graphql", get(graphiql::schema_sdl))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/connect/{platform}/callback", get(connect::callback_route))
        .route("/connect/done", get(connect::done))
        .route(
            "/webhooks/{platform}",
            axum::routing::post(webhooks::receive).layer(DefaultBodyLimit::max(webhook_body)),
        )
        .route_layer(axum::middleware::from_fn(count_requests))
        .with_state(state)
        // The GraphQL handler reads its body itself with its own limits (JSON or upload); this
        // caps every other route.
        .layer(DefaultBodyLimit::max(max_body))
        // A backstop: GraphQL operations enforce the same deadline themselves (and roll back),
        // so this fires only for a handler stuck elsewhere.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            request_timeout + std::time::Duration::from_secs(2),
        ))
        .layer(
            tower_http::compression::CompressionLayer::new().compress_when(
                tower_http::compression::Predicate::and(tower_http::compression::DefaultPredicate::new(),
                    tower_http::compression::predicate::SizeAbove::new(COMPRESS_ABOVE_BYTES),
                ),
            ),
        )
        .layer(cors)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request<_>| {
                            let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                        })
                        // One line per request at info: status and latency (the span adds
                        // method, path and request id).
                        .on_response(
                            tower_http::trace::DefaultOnResponse::new()
                                .level(tracing::Level::INFO)
                                .latency_unit(tower_http::LatencyUnit::Micros),
                        ),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
        )
}

/// CORS for the configured browser origins (`MERCATO_ALLOWED_ORIGINS`; the WebSocket endpoint
/// checks the same list). No credentials: Mercato authenticates with the Authorization header,
/// never with cookies, so a wildcard is never needed and never sent. Preflights are cached for
/// ten minutes.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{Method, header};
    let origins: Vec<axum::http::HeaderValue> = origins
        .iter()
        .filter_map(|o| axum::http::HeaderValue::from_str(o).ok())
        .collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            REQUEST_ID,
            HeaderName::from_static("apollo-require-preflight"),
            HeaderName::from_static("x-apollo-operation-name"),
            HeaderName::from_static("graphql-require-preflight"),
        ])
        .expose_headers([REQUEST_ID, header::RETRY_AFTER])
        .max_age(std::time::Duration::from_secs(600))
}

/// Counts every routed request by route and status, with its latency.
async fn count_requests(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = match req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(axum::extract::MatchedPath::as_str)
    {
        Some("/graphql") => "/graphql",
        Some("/graphql/ws") => "/graphql/ws",
        Some("/graphql/assets/{name}") => "/graphql/assets",
        Some("/graphql/schema.graphql") => "/graphql/schema.graphql",
        Some("/healthz") => "/healthz",
        Some("/readyz") => "/readyz",
        Some("/metrics") => "/metrics",
        Some("/connect/{platform}/callback") => "/connect/{platform}/callback",
        Some("/connect/done") => "/connect/done",
        Some("/webhooks/{platform}") => "/webhooks/{platform}",
        _ => "other",
    };
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let labels = crate::metrics::HttpLabels {
        route,
        status: resp.status().as_u16(),
    };
    let m = crate::metrics::get();
    m.http_requests.get_or_create(&labels).inc();
    m.http_seconds
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    resp
}

/// The client's address: the peer, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(
    trusted: &[ipnet::IpNet],
    peer: std::net::IpAddr,
    headers: &axum::http::HeaderMap,
) -> std::net::IpAddr {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<std::net::IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|h| h.trim().parse().ok())
        .collect();
    hops.into_iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .unwrap_or(peer)
}

/// Waits for SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; draining");
}
