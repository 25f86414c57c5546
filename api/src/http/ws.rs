//! GraphQL over WebSocket (`graphql-transport-ws`, and legacy `graphql-ws`), authenticated by
//! the token in `connection_init`: `{"authorization": "Bearer <token>"}` (or `{"token": "<token>"}`).

use super::HttpState;
use crate::auth::Principal;
use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;

fn token_from_init(payload: &serde_json::Value) -> Option<&str> {
    let obj = payload.as_object()?;
    if let Some(t) = obj.get("token").and_then(|v| v.as_str()) {
        return Some(t);
    }
    let header = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| v.as_str())?;
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
}

/// Upgrades to a GraphQL WebSocket; an init without a valid token closes the connection.
pub async fn graphql_ws(
    State(s): State<HttpState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let schema = s.schema.clone();
    let jwt = s.app.jwt.clone();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let principal: Principal = token_from_init(&payload)
                        .and_then(|t| jwt.verify(t).ok())
                        .ok_or_else(|| {
                            async_graphql::Error::new(
                                "Forbidden: a valid access token is required in connection_init",
                            )
                        })?;
                    let mut data = Data::default();
                    data.insert(principal);
                    Ok(data)
                })
                .serve()
        })
}
