//! Lazada as the simulator serves it (`marketplaces.md` §3).

use super::world::{CANCEL_REASON, Stage, decimal};
use super::{Fault, Req, SimState, TokenCheck, gateway, malformed, page, reply, same};
use crate::Platform;
use crate::lazada::{TIMESTAMP_WINDOW_MS, sign};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::sync::Arc;

const P: Platform = Platform::Lazada;
const EXP: u32 = 2;

pub(crate) fn status(s: Stage) -> &'static str {
    match s {
        Stage::Unpaid => "unpaid",
        Stage::Paid => "pending",
        Stage::ReadyToShip => "ready_to_ship",
        Stage::Shipped => "shipped",
        Stage::Delivered | Stage::Completed => "delivered",
        Stage::Cancelled => "canceled",
        Stage::Returned => "returned",
    }
}

fn err(code: &str, message: &str) -> Response {
    let kind = if code == "ApiCallLimit" || code == "E006" {
        "SYSTEM"
    } else {
        "ISV"
    };
    reply(
        200,
        json!({"type": kind, "code": code, "message": message, "request_id": "sim"}),
    )
}

fn ok(data: Value) -> Response {
    reply(200, json!({"code": "0", "request_id": "sim", "data": data}))
}

/// Lazada prints times in the seller's zone (UTC+8 here).
fn iso(t: i64) -> String {
    let utc = DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default();
    match chrono::FixedOffset::east_opt(8 * 3600) {
        Some(zone) => utc
            .with_timezone(&zone)
            .to_rfc3339_opts(SecondsFormat::Secs, false),
        None => utc.to_rfc3339_opts(SecondsFormat::Secs, false),
    }
}

fn parse_iso(t: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(t).ok().map(|d| d.timestamp())
}

fn m(minor: i64) -> String {
    decimal(minor, EXP)
}

pub(crate) async fn handle(
    State(st): State<Arc<SimState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (app_key, secret, seller_id) = st.config.lazada.clone();
    let now = st.wall();
    let full = uri.path().to_owned();
    if full == "/lazada/auth/oauth/authorize" {
        let r = Req::new(&uri, "/lazada/auth", headers, body);
        if r.q("client_id") != Some(app_key.as_str()) || r.q("response_type") != Some("code") {
            return (
                axum::http::StatusCode::BAD_REQUEST,
                "invalid client_id or response_type",
            )
                .into_response();
        }
        let Some(redirect) = r.q("redirect_uri") else {
            return (
                axum::http::StatusCode::BAD_REQUEST,
                "redirect_uri is required",
            )
                .into_response();
        };
        let code = st.tokens(P, |t| t.code("0_", now, 1800));
        let state = url::form_urlencoded::byte_serialize(r.q("state").unwrap_or("").as_bytes())
            .collect::<String>();
        let sep = if redirect.contains('?') { '&' } else { '?' };
        return Redirect::to(&format!("{redirect}{sep}code={code}&state={state}")).into_response();
    }
    let (prefix, auth_host) = if full.starts_with("/lazada/auth/rest/") {
        ("/lazada/auth/rest", true)
    } else {
        ("/lazada/rest", false)
    };
    let r = Req::new(&uri, prefix, headers, body);
    // Every parameter is signed: the query and, for POST forms, the body fields.
    let mut params: Vec<(String, String)> = r.query.clone();
    if r.header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    {
        params.extend(url::form_urlencoded::parse(&r.body).into_owned());
    }
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if get("app_key").as_deref() != Some(app_key.as_str()) {
        st.reject();
        return err("InvalidAppKey", "Specified app key is invalid");
    }
    let ts = get("timestamp").and_then(|t| t.parse::<i64>().ok());
    if ts.is_none_or(|t| (st.wall_ms() - t).abs() > TIMESTAMP_WINDOW_MS) {
        st.reject();
        return err(
            "InvalidTimestamp",
            "Specified timestamp is invalid or out of the allowed range",
        );
    }
    if get("sign_method").as_deref() != Some("sha256") {
        st.reject();
        return err("InvalidSignMethod", "sign_method must be sha256");
    }
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let expected = sign(&secret, &r.path, &pairs, None);
    if !same(&expected, get("sign").as_deref().unwrap_or("")) {
        st.reject();
        return err(
            "IncompleteSignature",
            "The request signature does not conform to platform standards",
        );
    }
    if auth_host {
        if r.path == "/auth/token/refresh" {
            st.auth_request(P, &r.path).await;
        }
        return auth(&st, &r.path, &get, &seller_id);
    }
    let Some(token) = get("access_token") else {
        st.reject();
        return err("MissingParameter", "access_token is required");
    };
    if !matches!(st.tokens(P, |t| t.check(&token, now)), TokenCheck::Ok) {
        st.reject();
        return err(
            "IllegalAccessToken",
            "The specified access token is invalid or expired",
        );
    }
    match st.next_fault(P, &r).await {
        Some(Fault::RateLimit { retry_after_secs }) => {
            return err(
                "ApiCallLimit",
                &format!(
                    "Api access frequency exceeds the limit. this ban will last {retry_after_secs} seconds"
                ),
            );
        }
        Some(Fault::ServerError { status }) => return gateway(status),
        Some(Fault::ExpireToken) => {
            st.tokens(P, |t| t.expire(&token, now));
            return err(
                "IllegalAccessToken",
                "The specified access token is invalid or expired",
            );
        }
        Some(Fault::Malformed) => return malformed(),
        Some(Fault::Slow { .. }) | None => {}
    }
    data(&st, &r.path, &get)
}

fn auth(
    st: &SimState,
    path: &str,
    get: &dyn Fn(&str) -> Option<String>,
    seller_id: &str,
) -> Response {
    let now = st.wall();
    let life = st.config.access_lifetime[2];
    let info = json!([{"country": "ph", "seller_id": seller_id, "user_id": "100200", "short_code": "PH1SIM"}]);
    match path {
        "/auth/token/create" => {
            if !st.tokens(P, |t| t.use_code(&get("code").unwrap_or_default(), now)) {
                return err("InvalidCode", "Invalid authorization code");
            }
            let (a, rt) = st.tokens(P, |t| t.issue(now, life, 180 * 86_400));
            reply(
                200,
                json!({"code": "0", "request_id": "sim", "access_token": a, "refresh_token": rt, "expires_in": life, "refresh_expires_in": 180 * 86_400,
                              "country": "ph", "account": "seller@sim.example", "account_platform": "seller_center", "country_user_info": info}),
            )
        }
        "/auth/token/refresh" => {
            let old = get("refresh_token").unwrap_or_default();
            let deadline = st.tokens(P, |t| t.refresh_expiry(&old));
            if st.revoked(P) || !st.tokens(P, |t| t.use_refresh(&old, now, false)) {
                return err(
                    "IllegalRefreshToken",
                    "The specified refresh token is invalid or expired",
                );
            }
            // The refresh deadline does not move: the remaining time is returned.
            let remaining = deadline.map_or(0, |d| (d - now).max(0));
            let (a, rt) = st.tokens(P, |t| t.issue(now, life, remaining));
            reply(
                200,
                json!({"code": "0", "request_id": "sim", "access_token": a, "refresh_token": rt, "expires_in": life, "refresh_expires_in": remaining,
                              "country": "ph", "account": "seller@sim.example", "country_user_info_list": info}),
            )
        }
        _ => err("InvalidApiPath", "The specified API path is invalid"),
    }
}

fn order_json(w: &super::world::World, o: &super::world::SimOrder, now: i64) -> Value {
    let (stage, updated) = o.stage_at(now);
    let a = w.amounts(o);
    json!({"order_id": o.id.parse::<u64>().unwrap_or(0), "order_number": o.id.parse::<u64>().unwrap_or(0), "created_at": iso(o.created), "updated_at": iso(updated),
           "price": m(a.items), "shipping_fee": m(o.shipping), "voucher": m(a.seller_discount + a.platform_discount),
           "voucher_seller": m(a.seller_discount), "voucher_platform": m(a.platform_discount),
           "payment_method": if a.cod { "COD" } else { "MIXEDCARD" }, "items_count": o.lines.iter().map(|(_, q)| q).sum::<u32>(), "statuses": [status(stage)],
           "address_shipping": {"first_name": o.buyer, "last_name": "", "phone": "63*******21", "city": "Makati", "country": "Philippines"}})
}

fn data(st: &SimState, path: &str, get: &dyn Fn(&str) -> Option<String>) -> Response {
    let now = st.read_now(P);
    let quirks = st.quirks(P);
    let num = |k: &str| get(k).and_then(|v| v.parse::<i64>().ok());
    match path {
        "/orders/get" => {
            let Some(after) = get("update_after")
                .or_else(|| get("created_after"))
                .and_then(|t| parse_iso(&t))
            else {
                return err(
                    "MissingParameter",
                    "created_after or update_after is required",
                );
            };
            let before = get("update_before")
                .and_then(|t| parse_iso(&t))
                .unwrap_or(i64::MAX);
            let limit = num("limit").unwrap_or(100);
            let offset = num("offset").unwrap_or(0);
            if !(1..=100).contains(&limit) || !(0..=5000).contains(&offset) {
                return err(
                    "InvalidParameter",
                    "limit must be 1..100 and offset 0..5000",
                );
            }
            st.world(P, |w| {
                let list: Vec<Value> = w
                    .updated_between(after, before, now)
                    .into_iter()
                    .map(|(i, _)| order_json(w, &w.orders[i], now))
                    .collect();
                let (items, _) = page(&list, offset as usize, limit as usize, quirks);
                ok(json!({"count": items.len(), "countTotal": list.len(), "orders": items}))
            })
        }
        "/order/get" => {
            let id = get("order_id").unwrap_or_default();
            st.world(P, |w| match w.order(&id).filter(|o| o.exists_at(now)) {
                Some(o) => ok(order_json(w, o, now)),
                None => err("E0001", "Order not found"),
            })
        }
        "/orders/items/get" => {
            let ids: Vec<Value> =
                serde_json::from_str(&get("order_ids").unwrap_or_default()).unwrap_or_default();
            if ids.is_empty() || ids.len() > 50 {
                return err(
                    "InvalidParameter",
                    "order_ids must be a JSON array of 1 to 50 ids",
                );
            }
            st.world(P, |w| {
                let list: Vec<Value> = ids
                    .iter()
                    .filter_map(|v| {
                        let id = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
                        let o = w.order(&id).filter(|o| o.exists_at(now))?;
                        let stage = o.stage_at(now).0;
                        let mut rows = Vec::new();
                        for (s, q) in &o.lines {
                            let k = &w.skus[*s];
                            for _ in 0..*q {
                                rows.push(json!({"order_item_id": format!("{}{:02}", o.id, rows.len()).parse::<u64>().unwrap_or(0), "order_id": o.id.parse::<u64>().unwrap_or(0),
                                                 "sku": k.seller_sku, "shop_sku": format!("{}_PH-{}", k.item_id, k.sku_id), "sku_id": k.sku_id.to_string(), "product_id": k.item_id.to_string(),
                                                 "name": k.name, "variation": "", "item_price": m(k.price), "paid_price": m(k.price), "currency": "PHP",
                                                 "status": status(stage), "buyer_id": 5_000_000 + o.created % 1000,
                                                 "reason": if matches!(stage, Stage::Cancelled) { CANCEL_REASON } else { "" }}));
                            }
                        }
                        Some(json!({"order_id": o.id.parse::<u64>().unwrap_or(0), "order_number": o.id.parse::<u64>().unwrap_or(0), "order_items": rows}))
                    })
                    .collect();
                ok(json!(list))
            })
        }
        "/products/get" => {
            let limit = num("limit").unwrap_or(10);
            let offset = num("offset").unwrap_or(0);
            if !(1..=50).contains(&limit) {
                return err("InvalidParameter", "limit must be 1..50");
            }
            st.world(P, |w| {
                let mut ids: Vec<u64> = w.skus.iter().map(|s| s.item_id).collect();
                ids.dedup();
                let list: Vec<Value> = ids
                    .iter()
                    .map(|id| {
                        let skus: Vec<Value> = w.skus.iter().filter(|s| s.item_id == *id)
                            .map(|s| json!({"SkuId": s.sku_id, "SellerSku": s.seller_sku, "price": m(s.price), "special_price": "0", "quantity": s.stock, "Status": "active"}))
                            .collect();
                        let name = w.skus.iter().find(|s| s.item_id == *id).map(|s| s.name.clone()).unwrap_or_default();
                        json!({"item_id": id, "status": "Active", "attributes": {"name": name}, "skus": skus})
                    })
                    .collect();
                let (items, _) = page(&list, offset as usize, limit as usize, quirks);
                ok(json!({"total_products": list.len(), "products": items}))
            })
        }
        "/product/stock/sellable/update" => {
            let Some(payload) = get("payload") else {
                return err("MissingParameter", "payload is required");
            };
            let skus = match parse_payload(&payload) {
                Ok(s) => s,
                Err(e) => return err("InvalidParameter", &e),
            };
            if skus.is_empty() || skus.len() > 50 {
                return err("E204", "The number of SKUs exceeds the limit of 50");
            }
            st.world(P, |w| {
                let mut found = Vec::new();
                for (sku_id, qty) in &skus {
                    match w.skus.iter().position(|s| s.sku_id.to_string() == *sku_id) {
                        Some(i) => found.push((i, *qty)),
                        None => return err("E203", &format!("SKU {sku_id} not found")),
                    }
                }
                for (i, q) in found {
                    w.set_stock(i, q);
                }
                ok(json!({}))
            })
        }
        "/reverse/getreverseordersforseller" => {
            let page_no = num("page_no").unwrap_or(1).max(1) as usize;
            let size = num("page_size").unwrap_or(10).clamp(1, 100) as usize;
            st.world(P, |w| {
                let list: Vec<Value> = w
                    .orders
                    .iter()
                    .filter_map(|o| {
                        let (at, _) = o.returned_at(now)?;
                        let lines: Vec<Value> = o.lines.iter().flat_map(|(s, q)| {
                            let k = &w.skus[*s];
                            (0..*q).map(move |n| json!({"reverse_order_line_id": format!("RL{}{}{n}", o.id, k.sku_id), "trade_order_line_id": format!("{}{n}", o.id),
                                                         "reverse_status": "REQUEST_INITIATE", "refund_amount": k.price, "item_unit_price": k.price,
                                                         "seller_sku_id": k.seller_sku, "reason_code": "1001", "reason_text": "Damaged item"}))
                        }).collect();
                        Some(json!({"reverse_order_id": format!("RO{}", o.id), "trade_order_id": o.id, "request_type": "RETURN", "is_rtm": false,
                                    "create_time": at * 1000, "update_time": at * 1000, "reverse_order_lines": lines}))
                    })
                    .collect();
                let (items, _) = page(&list, (page_no - 1) * size, size, quirks);
                reply(200, json!({"code": "0", "request_id": "sim", "result": {"total": list.len(), "items": items}}))
            })
        }
        "/finance/transaction/details/get" => {
            let day = |k: &str| {
                get(k)
                    .and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|d| d.and_utc().timestamp())
            };
            let (Some(start), Some(end)) = (day("start_time"), day("end_time")) else {
                return err(
                    "MissingParameter",
                    "start_time and end_time are required (YYYY-MM-DD)",
                );
            };
            if end - start >= 180 * 86_400 {
                return err("1000012", "The time range must be less than 180 days");
            }
            let limit = num("limit").unwrap_or(500).clamp(1, 500) as usize;
            let offset = num("offset").unwrap_or(0).max(0) as usize;
            st.world(P, |w| {
                let mut rows = Vec::new();
                for o in &w.orders {
                    let Some(at) = o.settled_at(now) else { continue };
                    // Dates are whole days: end_time's day is included.
                    if at < start || at >= end + 86_400 {
                        continue;
                    }
                    let f = w.fees(o);
                    for (id, name, amount) in [
                        ("13", "Item Price Credit", f.items),
                        ("117", "Promotional Charges Vouchers", -f.voucher_seller),
                        ("8", "Shipping Fee (Paid By Customer)", f.buyer_shipping),
                        ("7", "Shipping Fee Paid by Seller", -f.actual_shipping),
                        ("120", "Shipping Fee Subsidy", f.shipping_rebate),
                        ("16", "Commission", -f.commission),
                        ("140", "Service Fee", -f.service),
                        ("3", "Payment Fee", -f.transaction),
                    ] {
                        if amount != 0 {
                            rows.push(json!({"fee_type": id, "fee_name": name, "transaction_type": name, "amount": m(amount), "VAT_in_amount": "0.00", "WHT_amount": "0.00",
                                             "statement": format!("PH-{}", at - at.rem_euclid(7 * 86_400)), "paid_status": "paid", "order_no": o.id,
                                             "transaction_date": iso(at), "transaction_number": format!("T{}{id}", o.id)}));
                        }
                    }
                }
                let (items, _) = page(&rows, offset, limit, quirks);
                ok(json!(items))
            })
        }
        "/finance/payout/status/get" => {
            let Some(after) = get("created_after").and_then(|t| parse_iso(&t)) else {
                return err("MissingParameter", "created_after is required");
            };
            st.world(P, |w| {
                let list: Vec<Value> = w
                    .payouts(now)
                    .into_iter()
                    .filter(|(_, at, _)| *at >= after)
                    .map(|(id, at, amount)| json!({"statement_number": id, "opening_balance": "0.00", "item_revenue": m(amount), "fees_total": "0.00", "payout": m(amount),
                                                   "closing_balance": "0.00", "paid": "1", "created_at": iso(at), "updated_at": iso(at)}))
                    .collect();
                ok(json!(list))
            })
        }
        _ => err("InvalidApiPath", "The specified API path is invalid"),
    }
}

/// Reads `<Sku><SkuId>…</SkuId>…<SellableQuantity>n</SellableQuantity></Sku>` pairs.
fn parse_payload(xml: &str) -> Result<Vec<(String, i64)>, String> {
    use quick_xml::Reader;
    use quick_xml::events::Event;
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    let mut current: Option<(String, i64)> = None;
    let mut tag = String::new();
    loop {
        match reader
            .read_event()
            .map_err(|e| format!("payload is not XML: {e}"))?
        {
            Event::Start(e) => {
                tag = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if tag == "Sku" {
                    current = Some((String::new(), -1));
                }
            }
            Event::Text(t) => {
                let text = t.decode().map_err(|e| e.to_string())?.into_owned();
                if let Some(c) = current.as_mut() {
                    match tag.as_str() {
                        "SkuId" => c.0 = text,
                        "SellableQuantity" => {
                            c.1 = text
                                .trim()
                                .parse()
                                .map_err(|_| format!("bad SellableQuantity {text}"))?
                        }
                        _ => {}
                    }
                }
            }
            Event::End(e) => {
                if e.name().as_ref() == b"Sku"
                    && let Some(c) = current.take()
                {
                    if c.0.is_empty() || c.1 < 0 {
                        return Err(
                            "each Sku needs SkuId and a non-negative SellableQuantity".into()
                        );
                    }
                    out.push(c);
                }
                tag.clear();
            }
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}
