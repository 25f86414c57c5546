//! Jumia Vendor API as the simulator serves it (`marketplaces.md` §4.1): Bearer tokens, rotating
//! refresh tokens, token paging, asynchronous stock feeds.

use super::world::{Stage, decimal};
use super::{
    Fault, Req, SimState, TokenCheck, cursor, gateway, malformed, page, reply, uncursor,
    with_retry_after,
};
use crate::Platform;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::sync::Arc;

const P: Platform = Platform::Jumia;
const EXP: u32 = 2;

fn status(s: Stage) -> &'static str {
    match s {
        Stage::Unpaid | Stage::Paid => "PENDING",
        Stage::ReadyToShip => "READY_TO_SHIP",
        Stage::Shipped => "SHIPPED",
        Stage::Delivered | Stage::Completed => "DELIVERED",
        Stage::Cancelled => "CANCELED",
        Stage::Returned => "RETURNED",
    }
}

fn money(minor: i64) -> Value {
    json!({"currency": "KES", "value": decimal(minor, EXP)})
}

fn iso(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_iso(t: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(t).ok().map(|d| d.timestamp())
}

/// Order ids as UUIDs (the Vendor API uses uuids): the last 12 digits form the node group.
pub(crate) fn uuid_of(id: &str) -> String {
    let cut = id.len().saturating_sub(12);
    format!("00000000-0000-4000-{:0>4}-{:0>12}", &id[..cut], &id[cut..])
}

pub(crate) async fn handle(
    State(st): State<Arc<SimState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let r = Req::new(&uri, "/jumia", headers, body);
    let (client_id, shop_id, _) = st.config.jumia.clone();
    let now = st.wall();
    if r.path == "/token" && method == Method::POST {
        let form: Vec<(String, String)> =
            url::form_urlencoded::parse(&r.body).into_owned().collect();
        let f = |k: &str| {
            form.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        if f("client_id") != client_id {
            return reply(
                401,
                json!({"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"}),
            );
        }
        if f("grant_type") != "refresh_token" {
            return reply(
                400,
                json!({"error": "unsupported_grant_type", "error_description": "Unsupported grant type"}),
            );
        }
        st.auth_request(P, &r.path).await;
        // Rotation: the refresh token dies when used.
        if st.revoked(P) || !st.tokens(P, |t| t.use_refresh(f("refresh_token"), now, true)) {
            return reply(
                400,
                json!({"error": "invalid_grant", "error_description": "Token is not active"}),
            );
        }
        let life = st.config.access_lifetime[3];
        let (a, rt) = st.tokens(P, |t| t.issue(now, life, 30 * 86_400));
        return reply(
            200,
            json!({"access_token": a, "expires_in": life, "refresh_expires_in": 30 * 86_400, "refresh_token": rt, "token_type": "Bearer"}),
        );
    }
    let token = r
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    match st.tokens(P, |t| t.check(&token, now)) {
        TokenCheck::Ok => {}
        TokenCheck::Expired | TokenCheck::Invalid => {
            st.reject();
            return reply(401, json!({"message": "Unauthorized", "status": 401}));
        }
    }
    if let Some(s) = r.q("shopId")
        && s != shop_id
    {
        st.reject();
        return reply(
            403,
            json!({"message": "Access to this shop is not allowed", "status": 403}),
        );
    }
    match st.next_fault(P, &r).await {
        Some(Fault::RateLimit { retry_after_secs }) => {
            return with_retry_after(
                reply(429, json!({"message": "Too Many Requests", "status": 429})),
                retry_after_secs,
            );
        }
        Some(Fault::ServerError { status }) => return gateway(status),
        Some(Fault::ExpireToken) => {
            st.tokens(P, |t| t.expire(&token, now));
            return reply(401, json!({"message": "Unauthorized", "status": 401}));
        }
        Some(Fault::Malformed) => return malformed(),
        Some(Fault::Slow { .. }) | None => {}
    }
    data(&st, &method, &r, &shop_id)
}

fn token_page(st: &SimState, r: &Req, list: &[Value], key: &str) -> Response {
    let size = r
        .q("size")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(20);
    if !(1..=100).contains(&size) {
        return reply(
            400,
            json!({"message": "size must be within 1..100", "status": 400}),
        );
    }
    let Some(offset) = uncursor(r.q("token").unwrap_or("")) else {
        return reply(400, json!({"message": "invalid token", "status": 400}));
    };
    let (items, more) = page(list, offset, size, st.quirks(P));
    reply(
        200,
        json!({key: items, "nextToken": if more { cursor(offset + size) } else { String::new() }, "isLastPage": !more}),
    )
}

fn header(w: &super::world::World, o: &super::world::SimOrder, now: i64) -> Value {
    let (stage, updated) = o.stage_at(now);
    json!({"id": o.id, "number": o.id.rsplit('-').next().unwrap_or_default(), "status": status(stage), "createdAt": iso(o.created), "updatedAt": iso(updated),
           "totalAmount": money(w.amounts(o).total()), "shippingAddress": {"firstName": o.buyer, "city": "Nairobi", "country": "KE"}})
}

fn data(st: &SimState, method: &Method, r: &Req, shop_id: &str) -> Response {
    let now = st.now();
    match (method.as_str(), r.path.as_str()) {
        ("GET", "/shops") => reply(
            200,
            json!({"shops": [{"id": shop_id, "name": "Sim Jumia Shop", "country": {"code": "KE", "name": "Kenya"}}]}),
        ),
        ("GET", "/orders") => {
            let after = r.q("updatedAfter").and_then(parse_iso).unwrap_or(i64::MIN);
            let before = r.q("updatedBefore").and_then(parse_iso).unwrap_or(i64::MAX);
            let list: Vec<Value> = st.world(P, |w| {
                w.updated_between(after, before, now)
                    .into_iter()
                    .map(|(i, _)| header(w, &w.orders[i], now))
                    .collect()
            });
            token_page(st, r, &list, "orders")
        }
        ("GET", "/orders/items") => {
            let id = r.q("orderId").unwrap_or("").to_owned();
            st.world(P, |w| match w.orders.iter().find(|o| o.id == id && o.exists_at(now)) {
                Some(o) => {
                    let stage = o.stage_at(now).0;
                    let mut items = Vec::new();
                    for (s, q) in &o.lines {
                        let k = &w.skus[*s];
                        for _ in 0..*q {
                            items.push(json!({"id": format!("{}-{}", o.id, items.len()), "shopId": shop_id, "status": status(stage),
                                              "product": {"name": k.name, "sellerSku": k.seller_sku}, "paidPrice": money(k.price)}));
                        }
                    }
                    reply(200, json!({"items": items}))
                }
                None => reply(404, json!({"message": "Order not found", "status": 404})),
            })
        }
        ("GET", path) if path.starts_with("/orders/") => {
            let id = path.trim_start_matches("/orders/").to_owned();
            st.world(P, |w| {
                match w.orders.iter().find(|o| o.id == id && o.exists_at(now)) {
                    Some(o) => reply(200, header(w, o, now)),
                    None => reply(404, json!({"message": "Order not found", "status": 404})),
                }
            })
        }
        ("GET", "/catalog/products") => {
            let list: Vec<Value> = st.world(P, |w| {
                w.skus.iter().map(|s| json!({"id": s.sku_id.to_string(), "sellerSku": s.seller_sku, "name": s.name, "status": "ACTIVE", "price": money(s.price)})).collect()
            });
            token_page(st, r, &list, "products")
        }
        ("GET", "/catalog/stock") => {
            let list: Vec<Value> = st.world(P, |w| {
                w.skus.iter().map(|s| json!({"id": s.sku_id.to_string(), "sellerSku": s.seller_sku, "globalStock": s.stock, "lastStockUpdatedAt": iso(st.config.epoch)})).collect()
            });
            token_page(st, r, &list, "products")
        }
        ("POST", "/feeds/products/stock") => {
            let b = r.json();
            let products = b
                .get("products")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if products.is_empty() || products.len() > 1000 {
                return reply(
                    400,
                    json!({"code": "INVALID_FEED", "message": "a feed holds 1 to 1000 products"}),
                );
            }
            // The feed is applied now but reported IN_PROGRESS on the first poll.
            let feed = st.world(P, |w| {
                let mut bad = 0;
                for p in &products {
                    let sku = p.get("sellerSku").and_then(Value::as_str).unwrap_or("");
                    let stock = p.get("stock").and_then(Value::as_i64).unwrap_or(-1);
                    match w.skus.iter().position(|s| s.seller_sku == sku) {
                        Some(i) if stock >= 0 => w.set_stock(i, stock),
                        _ => bad += 1,
                    }
                }
                format!(
                    "feed-{}-{}",
                    if bad == 0 { "ok" } else { "failed" },
                    rand::random::<u32>()
                )
            });
            reply(202, json!({"feedId": feed}))
        }
        ("GET", path) if path.starts_with("/feeds/") => {
            let id = path.trim_start_matches("/feeds/");
            let polls = st.tokens(P, |t| {
                let n = t.codes.entry(format!("poll:{id}")).or_insert((0, false));
                n.0 += 1;
                n.0
            });
            let status = if polls < 2 {
                "IN_PROGRESS"
            } else if id.starts_with("feed-ok") {
                "COMPLETED"
            } else {
                "FAILED"
            };
            reply(200, json!({"id": id, "status": status}))
        }
        ("GET", "/payout-statement") => {
            let after = r.q("createdAfter").and_then(parse_iso).unwrap_or(i64::MIN);
            let size = r
                .q("size")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(20)
                .clamp(1, 100);
            let page_no = r
                .q("page")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(1)
                .max(1);
            let list: Vec<Value> = st.world(P, |w| {
                w.payouts(now)
                    .into_iter()
                    .filter(|(_, at, _)| *at >= after)
                    .map(|(id, at, amount)| json!({"statementNumber": id, "createdAt": iso(at), "totalPayout": money(amount), "paid": true}))
                    .collect()
            });
            let total = list.len().div_ceil(size).max(1);
            let (items, _) = page(&list, (page_no - 1) * size, size, st.quirks(P));
            reply(
                200,
                json!({"statements": items, "page": {"current": page_no, "totalOfPages": total}}),
            )
        }
        _ => reply(
            404,
            json!({"timestamp": iso(now), "status": 404, "error": "Not Found", "path": r.path}),
        ),
    }
}
