//! TikTok Shop (202309) as the simulator serves it (`marketplaces.md` §2).
// Validation helpers return the finished error response; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use super::world::{CANCEL_REASON, Stage, decimal};
use super::{
    Fault, Req, SimState, TokenCheck, cursor, gateway, malformed, page, reply, same, uncursor,
    with_retry_after,
};
use crate::Platform;
use crate::tiktok::{MAX_AGE_SECS, MAX_SKEW_AHEAD_SECS, sign};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};
use std::sync::Arc;

const P: Platform = Platform::TiktokShop;
const EXP: u32 = 0;

pub(crate) fn status(s: Stage) -> &'static str {
    match s {
        Stage::Unpaid => "UNPAID",
        Stage::Paid => "AWAITING_SHIPMENT",
        Stage::ReadyToShip => "AWAITING_COLLECTION",
        Stage::Shipped => "IN_TRANSIT",
        Stage::Delivered => "DELIVERED",
        Stage::Completed | Stage::Returned => "COMPLETED",
        Stage::Cancelled => "CANCELLED",
    }
}

fn err(http: u16, code: i64, message: &str) -> Response {
    reply(
        http,
        json!({"code": code, "message": message, "request_id": "sim", "data": null}),
    )
}

fn ok(data: Value) -> Response {
    reply(
        200,
        json!({"code": 0, "message": "Success", "request_id": "sim", "data": data}),
    )
}

fn m(minor: i64) -> String {
    decimal(minor, EXP)
}

pub(crate) async fn handle(
    State(st): State<Arc<SimState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let r = Req::new(&uri, "/tiktok", headers, body);
    let (app_key, secret, shop_id, cipher) = st.config.tiktok.clone();
    let now = st.wall();
    match r.path.as_str() {
        "/oauth/authorize" => {
            if r.q("app_key") != Some(app_key.as_str()) {
                return err(400, 36_009_004, "Invalid app_key");
            }
            let code = st.tokens(P, |t| t.code("ROW_", now, 1800));
            let mut to = st.tiktok_redirect();
            to.push_str(if to.contains('?') { "&" } else { "?" });
            let state = url::form_urlencoded::byte_serialize(r.q("state").unwrap_or("").as_bytes())
                .collect::<String>();
            to.push_str(&format!("code={code}&state={state}"));
            return Redirect::to(&to).into_response();
        }
        "/api/v2/token/get" | "/api/v2/token/refresh" => {
            if r.q("app_key") != Some(app_key.as_str())
                || r.q("app_secret") != Some(secret.as_str())
            {
                st.reject();
                return err(
                    401,
                    36_009_004,
                    "Invalid credentials: app_key or app_secret",
                );
            }
            st.auth_request(P, &r.path).await;
            let good = if r.path.ends_with("get") {
                r.q("grant_type") == Some("authorized_code")
                    && st.tokens(P, |t| t.use_code(r.q("auth_code").unwrap_or(""), now))
            } else {
                !st.revoked(P)
                    && r.q("grant_type") == Some("refresh_token")
                    && st.tokens(P, |t| {
                        t.use_refresh(r.q("refresh_token").unwrap_or(""), now, false)
                    })
            };
            if !good {
                return err(400, 36_004_003, "Invalid auth_code or refresh_token");
            }
            let life = st.config.access_lifetime[1];
            let (a, rt) = st.tokens(P, |t| t.issue(now, life, 365 * 86_400));
            return ok(
                json!({"access_token": a, "access_token_expire_in": now + life, "refresh_token": rt,
                             "refresh_token_expire_in": now + 365 * 86_400, "open_id": "sim-open-id", "seller_name": "Sim TikTok Seller",
                             "seller_base_region": "ID", "user_type": 0, "granted_scopes": ["seller.order.info", "seller.product.basic"]}),
            );
        }
        _ => {}
    }
    // Signed API: app_key, timestamp window, sign over the exact bytes, token, shop_cipher.
    if r.q("app_key") != Some(app_key.as_str()) {
        st.reject();
        return err(
            401,
            36_009_004,
            "Invalid credentials. The app_key is invalid.",
        );
    }
    let ts = r.q("timestamp").and_then(|t| t.parse::<i64>().ok());
    if !ts.is_some_and(|t| t >= now - MAX_AGE_SECS && t <= now + MAX_SKEW_AHEAD_SECS) {
        st.reject();
        return err(
            401,
            36_009_004,
            "Invalid credentials. The timestamp is invalid or expired.",
        );
    }
    let multipart = r
        .header("content-type")
        .is_some_and(|c| c.starts_with("multipart/form-data"));
    let body_signed = (!r.body.is_empty() && !multipart).then_some(&r.body[..]);
    let expected = sign(&secret, &r.path, &r.pairs(), body_signed);
    if !same(&expected, r.q("sign").unwrap_or("")) {
        st.reject();
        return err(
            401,
            106_001,
            "Invalid credentials. The sign query parameter is invalid.",
        );
    }
    let Some(token) = r.header("x-tts-access-token").map(str::to_owned) else {
        st.reject();
        return err(
            401,
            36_009_004,
            "Invalid credentials. The x-tts-access-token header is invalid.",
        );
    };
    match st.tokens(P, |t| t.check(&token, now)) {
        TokenCheck::Invalid => {
            st.reject();
            return err(
                401,
                36_009_004,
                "Invalid credentials. The x-tts-access-token header is invalid.",
            );
        }
        TokenCheck::Expired => {
            st.reject();
            return err(
                401,
                105_002,
                "Expired credentials. The x-tts-access-token header has expired.",
            );
        }
        TokenCheck::Ok => {}
    }
    let shop_scoped = !r.path.starts_with("/authorization/");
    match (shop_scoped, r.q("shop_cipher")) {
        (false, Some(_)) => {
            st.reject();
            return err(400, 36_009_004, "Unexpected identifier: shop_cipher");
        }
        (true, None) => {
            st.reject();
            return err(400, 106_013, "shop_cipher is required");
        }
        (true, Some(c)) if c != cipher => {
            st.reject();
            return err(400, 101_000, "Invalid shop_cipher");
        }
        _ => {}
    }
    match st.next_fault(P, &r).await {
        Some(Fault::RateLimit { retry_after_secs }) => {
            return with_retry_after(
                err(429, 36_009_002, "Too many requests. Please retry later."),
                retry_after_secs,
            );
        }
        Some(Fault::ServerError { status }) => return gateway(status),
        Some(Fault::ExpireToken) => {
            st.tokens(P, |t| t.expire(&token, now));
            return err(
                401,
                105_002,
                "Expired credentials. The x-tts-access-token header has expired.",
            );
        }
        Some(Fault::Malformed) => return malformed(),
        Some(Fault::Slow { .. }) | None => {}
    }
    data(&st, &method, &r, &shop_id, &cipher)
}

fn page_params(r: &Req, max: usize, min: usize) -> Result<(usize, usize), Response> {
    let size = r
        .q("page_size")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(20);
    if size < min || size > max {
        return Err(err(
            400,
            36_009_003,
            &format!("page_size must be within [{min}, {max}]"),
        ));
    }
    let offset = uncursor(r.q("page_token").unwrap_or(""))
        .ok_or_else(|| err(400, 36_009_003, "Invalid page_token"))?;
    Ok((size, offset))
}

fn paged(list: &[Value], key: &str, size: usize, offset: usize, st: &SimState) -> Response {
    let (items, more) = page(list, offset, size, st.quirks(P));
    ok(
        json!({key: items, "next_page_token": if more { cursor(offset + size) } else { String::new() }, "total_count": list.len()}),
    )
}

fn data(st: &SimState, method: &Method, r: &Req, shop_id: &str, cipher: &str) -> Response {
    let now = st.read_now(P);
    let b = r.json();
    let range = |ge: &str, lt: &str| {
        (
            b.get(ge).and_then(Value::as_i64).unwrap_or(i64::MIN),
            b.get(lt).and_then(Value::as_i64).unwrap_or(i64::MAX),
        )
    };
    match (method.as_str(), r.path.as_str()) {
        ("GET", "/authorization/202309/shops") => ok(
            json!({"shops": [{"id": shop_id, "name": "Sim TikTok Shop", "region": "ID", "seller_type": "LOCAL", "cipher": cipher, "code": "IDSIM1"}]}),
        ),
        ("POST", "/order/202309/orders/search") => {
            let (size, offset) = match page_params(r, 100, 1) {
                Ok(p) => p,
                Err(e) => return e,
            };
            let (f, t) = range("update_time_ge", "update_time_lt");
            st.world(P, |w| {
                let list: Vec<Value> = w
                    .updated_between(f, t, now)
                    .into_iter()
                    .map(|(i, u)| json!({"id": w.orders[i].id, "status": status(w.orders[i].stage_at(now).0), "update_time": u, "create_time": w.orders[i].created}))
                    .collect();
                paged(&list, "orders", size, offset, st)
            })
        }
        ("GET", "/order/202309/orders") => {
            let ids: Vec<&str> = r
                .q("ids")
                .unwrap_or("")
                .split(',')
                .filter(|s| !s.is_empty())
                .collect();
            if ids.is_empty() || ids.len() > 50 {
                return err(400, 36_009_003, "ids must hold 1 to 50 order ids");
            }
            st.world(P, |w| {
                let orders: Vec<Value> = ids
                    .iter()
                    .filter_map(|id| w.order(id).filter(|o| o.exists_at(now)))
                    .map(|o| {
                        let (stage, updated) = o.stage_at(now);
                        let mut lines = Vec::new();
                        for (s, q) in &o.lines {
                            let k = &w.skus[*s];
                            for _ in 0..*q {
                                lines.push(json!({"id": format!("{}{:03}", o.id, lines.len()), "product_id": k.item_id.to_string(), "product_name": k.name,
                                                  "sku_id": k.sku_id.to_string(), "sku_name": "", "seller_sku": k.seller_sku, "original_price": m(k.price),
                                                  "sale_price": m(k.price), "seller_discount": "0", "platform_discount": "0", "currency": "IDR",
                                                  "display_status": status(stage), "is_gift": false}));
                            }
                        }
                        let a = w.amounts(o);
                        let cancelled = matches!(stage, Stage::Cancelled);
                        // Documented: sub_total = original_total_product_price − seller_discount − platform_discount.
                        let sub_total = a.items - a.seller_discount - a.platform_discount;
                        json!({"id": o.id, "status": status(stage), "create_time": o.created, "update_time": updated, "user_id": format!("7{:018}", o.created),
                               "rts_sla_time": o.created + 2 * 86_400, "shipping_type": "TIKTOK", "is_cod": a.cod,
                               "fulfillment_type": if a.by_marketplace { "FULFILLMENT_BY_TIKTOK" } else { "FULFILLMENT_BY_SELLER" },
                               "payment_method_name": if a.cod { "Cash on delivery" } else { "Bank transfer" },
                               "paid_time": w.paid_at(o, now).unwrap_or(0),
                               "cancel_time": if cancelled { updated } else { 0 },
                               "cancel_reason": if cancelled { CANCEL_REASON } else { "" },
                               "recipient_address": {"name": o.buyer, "phone_number": "(+62)812*****21", "district_info": [{"address_level_name": "City", "address_name": "Jakarta"}]},
                               "payment": {"currency": "IDR", "sub_total": m(sub_total), "shipping_fee": m(o.shipping), "seller_discount": m(a.seller_discount),
                                           "platform_discount": m(a.platform_discount), "total_amount": m(a.total()), "original_total_product_price": m(a.items),
                                           "original_shipping_fee": m(o.shipping), "tax": "0"},
                               "line_items": lines})
                    })
                    .collect();
                ok(json!({"orders": orders}))
            })
        }
        ("POST", "/product/202309/products/search") => {
            let (size, offset) = match page_params(r, 100, 1) {
                Ok(p) => p,
                Err(e) => return e,
            };
            st.world(P, |w| {
                let mut items: Vec<u64> = w.skus.iter().map(|s| s.item_id).collect();
                items.dedup();
                let list: Vec<Value> = items
                    .iter()
                    .map(|id| {
                        let skus: Vec<Value> = w.skus.iter().filter(|s| s.item_id == *id)
                            .map(|s| json!({"id": s.sku_id.to_string(), "seller_sku": s.seller_sku, "price": {"currency": "IDR", "sale_price": m(s.price), "tax_exclusive_price": m(s.price)},
                                            "inventory": [{"warehouse_id": s.warehouse, "quantity": s.stock}]}))
                            .collect();
                        let name = w.skus.iter().find(|s| s.item_id == *id).map(|s| s.name.clone()).unwrap_or_default();
                        json!({"id": id.to_string(), "title": name, "status": "ACTIVATE", "skus": skus, "update_time": st.config.epoch})
                    })
                    .collect();
                paged(&list, "products", size, offset, st)
            })
        }
        ("POST", path)
            if path.starts_with("/product/202309/products/")
                && path.ends_with("/inventory/update") =>
        {
            let product: u64 = path
                .trim_start_matches("/product/202309/products/")
                .trim_end_matches("/inventory/update")
                .parse()
                .unwrap_or(0);
            let skus = b
                .get("skus")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if skus.is_empty() {
                return err(400, 12_052_700, "skus is required");
            }
            st.world(P, |w| {
                // Validate all first: the call is all-or-nothing per product.
                let mut updates = Vec::new();
                for k in &skus {
                    let id: u64 = k
                        .get("id")
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    let Some(idx) = w
                        .skus
                        .iter()
                        .position(|s| s.sku_id == id && s.item_id == product)
                    else {
                        return err(
                            400,
                            12_052_023,
                            &format!("SKU {id} does not belong to product {product}"),
                        );
                    };
                    let q = k
                        .pointer("/inventory/0/quantity")
                        .and_then(Value::as_i64)
                        .unwrap_or(-1);
                    let wh = k
                        .pointer("/inventory/0/warehouse_id")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    if !(0..=99_999).contains(&q) {
                        return err(400, 12_052_216, "quantity must be within [0, 99999]");
                    }
                    if wh != w.skus[idx].warehouse {
                        return err(
                            400,
                            12_052_219,
                            &format!("warehouse {wh} is not assigned to SKU {id}"),
                        );
                    }
                    updates.push((idx, q));
                }
                for (idx, q) in updates {
                    w.set_stock(idx, q);
                }
                ok(json!({}))
            })
        }
        ("POST", "/return_refund/202309/returns/search") => {
            let (size, offset) = match page_params(r, 50, 10) {
                Ok(p) => p,
                Err(e) => return e,
            };
            let (f, t) = range("update_time_ge", "update_time_lt");
            st.world(P, |w| {
                let list: Vec<Value> = w
                    .orders
                    .iter()
                    .filter_map(|o| {
                        let (at, _) = o.returned_at(now)?;
                        (f..t).contains(&at).then(|| {
                            let mut lines = Vec::new();
                            for (s, q) in &o.lines {
                                for _ in 0..*q {
                                    lines.push(json!({"return_line_item_id": format!("RL{}{}", o.id, lines.len()), "order_line_item_id": format!("{}{:03}", o.id, lines.len()),
                                                      "sku_id": w.skus[*s].sku_id.to_string(), "seller_sku": w.skus[*s].seller_sku, "refund_amount": {"currency": "IDR", "refund_total": m(w.skus[*s].price)}}));
                                }
                            }
                            json!({"return_id": format!("R{}", o.id), "order_id": o.id, "return_type": "RETURN_AND_REFUND", "return_status": "RETURN_OR_REFUND_REQUEST_PENDING",
                                   "return_reason_text": "Wrong item", "refund_amount": {"currency": "IDR", "refund_total": m(w.items_total(o)), "refund_subtotal": m(w.items_total(o)), "refund_shipping_fee": "0", "refund_tax": "0"},
                                   "return_line_items": lines, "create_time": at, "update_time": at})
                        })
                    })
                    .collect();
                paged(&list, "return_orders", size, offset, st)
            })
        }
        ("GET", "/finance/202309/statements") => {
            let (size, offset) = match page_params(r, 100, 1) {
                Ok(p) => p,
                Err(e) => return e,
            };
            let ge = r
                .q("statement_time_ge")
                .and_then(|v| v.parse().ok())
                .unwrap_or(i64::MIN);
            let lt = r
                .q("statement_time_lt")
                .and_then(|v| v.parse().ok())
                .unwrap_or(i64::MAX);
            st.world(P, |w| {
                let mut days: Vec<(i64, i64, i64)> = Vec::new(); // (statement_time, revenue, fees)
                for o in &w.orders {
                    if let Some(at) = o.settled_at(now) {
                        let day = at - at.rem_euclid(86_400) + 86_400;
                        if day > now || !(ge..lt).contains(&day) {
                            continue;
                        }
                        let f = w.fees(o);
                        let revenue = f.items - f.voucher_seller;
                        let fee = f.settlement() - revenue;
                        match days.iter_mut().find(|d| d.0 == day) {
                            Some(d) => {
                                d.1 += revenue;
                                d.2 += fee;
                            }
                            None => days.push((day, revenue, fee)),
                        }
                    }
                }
                days.sort();
                let list: Vec<Value> = days
                    .iter()
                    .map(|(day, rev, fee)| json!({"id": format!("ST{day}"), "statement_time": day, "currency": "IDR", "revenue_amount": m(*rev), "fee_amount": m(*fee),
                                                  "adjustment_amount": "0", "settlement_amount": m(rev + fee), "payment_status": "PAID", "payment_id": format!("PO{day}")}))
                    .collect();
                paged(&list, "statements", size, offset, st)
            })
        }
        ("GET", path)
            if path.starts_with("/finance/202309/statements/")
                && path.ends_with("/statement_transactions") =>
        {
            let (size, offset) = match page_params(r, 100, 1) {
                Ok(p) => p,
                Err(e) => return e,
            };
            let day: i64 = path
                .trim_start_matches("/finance/202309/statements/ST")
                .trim_end_matches("/statement_transactions")
                .parse()
                .unwrap_or(0);
            st.world(P, |w| {
                let list: Vec<Value> = w
                    .orders
                    .iter()
                    .filter(|o| o.settled_at(now).is_some_and(|at| at - at.rem_euclid(86_400) + 86_400 == day))
                    .map(|o| {
                        let f = w.fees(o);
                        let revenue = f.items - f.voucher_seller;
                        let shipping = f.buyer_shipping - f.actual_shipping + f.shipping_rebate;
                        let fee = shipping - f.commission - f.transaction - f.service;
                        json!({"id": format!("TX{}", o.id), "order_id": o.id, "order_create_time": o.created, "revenue_amount": m(revenue), "fee_amount": m(fee),
                               "adjustment_amount": "0", "settlement_amount": m(revenue + fee), "shipping_fee_amount": m(shipping),
                               "platform_commission_amount": m(-f.commission), "transaction_fee_amount": m(-f.transaction), "referral_fee_amount": "0",
                               "affiliate_commission_amount": "0", "customer_payment_amount": m(f.items + f.buyer_shipping)})
                    })
                    .collect();
                paged(&list, "statement_transactions", size, offset, st)
            })
        }
        ("GET", "/finance/202309/payments") => {
            let (size, offset) = match page_params(r, 100, 1) {
                Ok(p) => p,
                Err(e) => return e,
            };
            let ge = r
                .q("create_time_ge")
                .and_then(|v| v.parse().ok())
                .unwrap_or(i64::MIN);
            let lt = r
                .q("create_time_lt")
                .and_then(|v| v.parse().ok())
                .unwrap_or(i64::MAX);
            st.world(P, |w| {
                let list: Vec<Value> = w
                    .payouts(now)
                    .into_iter()
                    .filter(|(_, at, _)| (ge..lt).contains(at))
                    .map(|(id, at, amount)| json!({"id": id, "create_time": at, "paid_time": at, "status": "PAID", "amount": {"value": m(amount), "currency": "IDR"}}))
                    .collect();
                paged(&list, "payments", size, offset, st)
            })
        }
        _ => err(404, 36_009_005, "Path not found"),
    }
}
