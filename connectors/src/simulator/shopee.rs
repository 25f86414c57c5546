//! Shopee v2 as the simulator serves it (`marketplaces.md` §1).
// Validation helpers return the finished error response; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use super::world::{CANCEL_REASON, Stage, World, float};
use super::{
    Fault, Req, SimState, TokenCheck, cursor, gateway, malformed, page, reply, same, uncursor,
    with_retry_after,
};
use crate::Platform;
use crate::shopee::{Identity, TIMESTAMP_WINDOW_SECS, sign};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};
use std::sync::Arc;

const P: Platform = Platform::Shopee;
const EXP: u32 = 2;
const MAX_WINDOW: i64 = 15 * 86_400;

pub(crate) fn status(s: Stage) -> &'static str {
    match s {
        Stage::Unpaid => "UNPAID",
        Stage::Paid => "READY_TO_SHIP",
        Stage::ReadyToShip => "PROCESSED",
        Stage::Shipped => "SHIPPED",
        Stage::Delivered => "TO_CONFIRM_RECEIVE",
        Stage::Completed => "COMPLETED",
        Stage::Cancelled => "CANCELLED",
        Stage::Returned => "TO_RETURN",
    }
}

fn err(error: &str, message: &str) -> Response {
    reply(
        200,
        json!({"request_id": "sim", "error": error, "message": message}),
    )
}

fn ok(response: Value) -> Response {
    reply(
        200,
        json!({"request_id": "sim", "error": "", "message": "", "response": response}),
    )
}

fn num(r: &Req, k: &str) -> Option<i64> {
    r.q(k).and_then(|v| v.parse().ok())
}

fn has_models(w: &World, item: u64) -> bool {
    w.skus.iter().filter(|s| s.item_id == item).count() > 1
}

fn model_id(w: &World, idx: usize) -> u64 {
    let s = &w.skus[idx];
    if has_models(w, s.item_id) {
        s.sku_id
    } else {
        0
    }
}

pub(crate) async fn handle(
    State(st): State<Arc<SimState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let r = Req::new(&uri, "/shopee", headers, body);
    let (partner_id, key, shop_id) = st.config.shopee.clone();
    // Common parameters, signature and timestamp window.
    if num(&r, "partner_id") != Some(partner_id as i64) {
        st.reject();
        return err("error_param", "Invalid partner_id.");
    }
    let Some(ts) = num(&r, "timestamp") else {
        st.reject();
        return err("error_param", "no timestamp");
    };
    if (st.wall() - ts).abs() > TIMESTAMP_WINDOW_SECS {
        st.reject();
        return err("error_param", "Timestamp is expired.");
    }
    let presented = r.q("sign").unwrap_or("").to_owned();
    let public = matches!(
        r.path.as_str(),
        "/api/v2/shop/auth_partner" | "/api/v2/auth/token/get" | "/api/v2/auth/access_token/get"
    );
    if public {
        let expected = sign(&key, partner_id, &r.path, ts, Identity::Public);
        if !same(&expected, &presented) {
            st.reject();
            return err("error_sign", "Wrong sign.");
        }
        return auth(&st, &r, shop_id).await;
    }
    let Some(token) = r.q("access_token").map(str::to_owned) else {
        st.reject();
        return err("error_param", "There is no access_token in query.");
    };
    let presented_shop = num(&r, "shop_id").unwrap_or(-1);
    let expected = sign(
        &key,
        partner_id,
        &r.path,
        ts,
        Identity::Shop {
            access_token: &token,
            shop_id: u64::try_from(presented_shop).unwrap_or(0),
        },
    );
    if !same(&expected, &presented) {
        st.reject();
        return err("error_sign", "Wrong sign.");
    }
    match st.tokens(P, |t| t.check(&token, st.wall())) {
        TokenCheck::Invalid => {
            st.reject();
            return err(
                "invalid_acceess_token",
                "Invalid access_token, please have a check.",
            );
        }
        TokenCheck::Expired => {
            st.reject();
            return err("error_auth", "Invalid access_token.");
        }
        TokenCheck::Ok => {}
    }
    if presented_shop != shop_id as i64 {
        st.reject();
        return err("error_auth", "Invalid partner_id or shopid.");
    }
    match st.next_fault(P, &r).await {
        Some(Fault::RateLimit { retry_after_secs }) => {
            let resp = reply(
                429,
                json!({"request_id": "sim", "error": "error_rate_limit", "message": "Too many requests. You have reached the rate limit. Please try again later."}),
            );
            return with_retry_after(resp, retry_after_secs);
        }
        Some(Fault::ServerError { status }) => return gateway(status),
        Some(Fault::ExpireToken) => {
            st.tokens(P, |t| t.expire(&token, st.wall()));
            return err("error_auth", "Invalid access_token.");
        }
        Some(Fault::Malformed) => return malformed(),
        Some(Fault::Slow { .. }) | None => {}
    }
    data(&st, &r).await
}

async fn auth(st: &SimState, r: &Req, shop_id: u64) -> Response {
    let now = st.wall();
    if r.path != "/api/v2/shop/auth_partner" {
        st.auth_request(P, &r.path).await;
    }
    match r.path.as_str() {
        "/api/v2/shop/auth_partner" => {
            let Some(redirect) = r.q("redirect") else {
                return err("error_param", "redirect is required");
            };
            let code = st.tokens(P, |t| t.code("", now, 600));
            let sep = if redirect.contains('?') { '&' } else { '?' };
            Redirect::to(&format!("{redirect}{sep}code={code}&shop_id={shop_id}")).into_response()
        }
        "/api/v2/auth/token/get" => {
            let b = r.json();
            let code = b.get("code").and_then(Value::as_str).unwrap_or("");
            if b.get("shop_id").and_then(Value::as_u64) != Some(shop_id) {
                return err("invalid_shop_id", "Invalid shop_id.");
            }
            if !st.tokens(P, |t| t.use_code(code, now)) {
                return err("invalid_code", "Invalid code.");
            }
            let life = st.config.access_lifetime[0];
            let (a, rt) = st.tokens(P, |t| t.issue(now, life, 30 * 86_400));
            reply(
                200,
                json!({"request_id": "sim", "error": "", "message": "", "access_token": a, "refresh_token": rt, "expire_in": life}),
            )
        }
        _ => {
            let b = r.json();
            let rt = b.get("refresh_token").and_then(Value::as_str).unwrap_or("");
            if b.get("shop_id").and_then(Value::as_u64) != Some(shop_id) {
                return err("invalid_shop_id", "Invalid shop_id.");
            }
            // Single use: a second refresh with the same token fails.
            if st.revoked(P) || !st.tokens(P, |t| t.use_refresh(rt, now, true)) {
                return err("error_auth", "Invalid refresh_token.");
            }
            // The previous access token keeps working for the grace period only.
            let grace = st.config.shopee_refresh_grace_secs;
            st.tokens(P, |t| {
                if let Some(old) = t.paired_access(rt) {
                    t.expire(&old, now + grace);
                }
            });
            let life = st.config.access_lifetime[0];
            let (a, new_rt) = st.tokens(P, |t| t.issue(now, life, 30 * 86_400));
            reply(
                200,
                json!({"request_id": "sim", "error": "", "message": "", "partner_id": st.config.shopee.0, "shop_id": shop_id, "access_token": a, "refresh_token": new_rt, "expire_in": life}),
            )
        }
    }
}

fn window(r: &Req, from: &str, to: &str) -> Result<(i64, i64), Response> {
    let (Some(f), Some(t)) = (num(r, from), num(r, to)) else {
        return Err(err("error_param", &format!("{from} and {to} are required")));
    };
    if f >= t || t - f > MAX_WINDOW {
        return Err(err(
            "order.order_list_invalid_time",
            "Start time must be earlier than end time and diff in 15days.",
        ));
    }
    Ok((f, t))
}

fn page_size(r: &Req) -> Result<usize, Response> {
    match num(r, "page_size") {
        Some(n @ 1..=100) => Ok(n as usize),
        _ => Err(err("error_param", "page_size must be between 1 and 100")),
    }
}

async fn data(st: &SimState, r: &Req) -> Response {
    let now = st.read_now(P);
    let quirks = st.quirks(P);
    match r.path.as_str() {
        "/api/v2/shop/get_shop_info" => reply(
            200,
            json!({"request_id": "sim", "error": "", "message": "", "shop_name": "Sim Shopee Store", "region": "MY", "status": "NORMAL"}),
        ),
        "/api/v2/order/get_order_list" => {
            if r.q("time_range_field") != Some("update_time")
                && r.q("time_range_field") != Some("create_time")
            {
                return err("error_param", "time_range_field is invalid");
            }
            let (f, t) = match window(r, "time_from", "time_to") {
                Ok(w) => w,
                Err(e) => return e,
            };
            let size = match page_size(r) {
                Ok(s) => s,
                Err(e) => return e,
            };
            let Some(offset) = uncursor(r.q("cursor").unwrap_or("")) else {
                return err("error_param", "cursor is invalid");
            };
            st.world(P, |w| {
                let ids: Vec<Value> = w
                    .updated_between(f, t, now)
                    .into_iter()
                    .map(|(i, _)| json!({"order_sn": w.orders[i].id, "order_status": status(w.orders[i].stage_at(now).0)}))
                    .collect();
                let (items, more) = page(&ids, offset, size, quirks);
                ok(json!({"more": more, "next_cursor": if more { cursor(offset + size) } else { String::new() }, "order_list": items}))
            })
        }
        "/api/v2/order/get_order_detail" => {
            let list: Vec<&str> = r
                .q("order_sn_list")
                .unwrap_or("")
                .split(',')
                .filter(|s| !s.is_empty())
                .collect();
            if list.is_empty() || list.len() > 50 {
                return err("error_param", "order_sn_list must hold 1 to 50 order_sn");
            }
            st.world(P, |w| {
                let orders: Vec<Value> = list
                    .iter()
                    .filter_map(|sn| w.order(sn).filter(|o| o.exists_at(now)))
                    .map(|o| {
                        let (stage, updated) = o.stage_at(now);
                        let items: Vec<Value> = o
                            .lines
                            .iter()
                            .map(|(s, q)| {
                                let k = &w.skus[*s];
                                let models = has_models(w, k.item_id);
                                json!({"item_id": k.item_id, "item_name": k.name, "item_sku": if models { "" } else { &k.seller_sku },
                                       "model_id": model_id(w, *s), "model_sku": if models { &k.seller_sku } else { "" },
                                       "model_quantity_purchased": q, "model_original_price": float(k.price, EXP),
                                       "model_discounted_price": float(k.price, EXP)})
                            })
                            .collect();
                        let a = w.amounts(o);
                        let cancelled = matches!(stage, Stage::Cancelled);
                        json!({"order_sn": o.id, "region": "MY", "currency": "MYR", "cod": a.cod, "order_status": status(stage),
                               "create_time": o.created, "update_time": updated, "days_to_ship": 3, "ship_by_date": o.created + 3 * 86_400,
                               "buyer_user_id": 10_000 + o.created % 1000, "buyer_username": o.buyer,
                               "recipient_address": {"name": o.buyer, "phone": "******21", "city": "Kuala Lumpur", "region": "MY", "full_address": "***"},
                               "total_amount": float(a.total(), EXP), "estimated_shipping_fee": float(o.shipping, EXP),
                               "payment_method": if a.cod { "Cash on Delivery" } else { "Online Banking" },
                               "pay_time": w.paid_at(o, now).unwrap_or(0),
                               "cancel_reason": if cancelled { CANCEL_REASON } else { "" },
                               "fulfillment_flag": if a.by_marketplace { "fulfilled_by_shopee" } else { "fulfilled_by_local_seller" },
                               "item_list": items})
                    })
                    .collect();
                ok(json!({"order_list": orders}))
            })
        }
        "/api/v2/product/get_item_list" => {
            if r.q("item_status").is_none() {
                return err("error_param", "item_status is required");
            }
            let size = match page_size(r) {
                Ok(s) => s,
                Err(e) => return e,
            };
            let offset = num(r, "offset").unwrap_or(0).max(0) as usize;
            st.world(P, |w| {
                let mut items: Vec<u64> = w.skus.iter().map(|s| s.item_id).collect();
                items.dedup();
                let list: Vec<Value> = items.iter().map(|i| json!({"item_id": i, "item_status": "NORMAL", "update_time": st.config.epoch})).collect();
                let (page_items, more) = page(&list, offset, size, quirks);
                ok(json!({"item": page_items, "total_count": list.len(), "has_next_page": more, "next_offset": offset + size}))
            })
        }
        "/api/v2/product/get_item_base_info" => {
            let ids: Vec<u64> = r
                .q("item_id_list")
                .unwrap_or("")
                .split(',')
                .filter_map(|s| s.parse().ok())
                .collect();
            if ids.is_empty() || ids.len() > 50 {
                return err("error_param", "item_id_list must hold 1 to 50 ids");
            }
            st.world(P, |w| {
                let list: Vec<Value> = ids
                    .iter()
                    .filter_map(|id| {
                        let first = w.skus.iter().find(|s| s.item_id == *id)?;
                        let models = has_models(w, *id);
                        Some(json!({"item_id": id, "item_name": first.name, "item_status": "NORMAL", "has_model": models,
                                    "item_sku": if models { "" } else { &first.seller_sku },
                                    "price_info": if models { json!([]) } else { json!([{"currency": "MYR", "current_price": float(first.price, EXP), "original_price": float(first.price, EXP)}]) },
                                    "stock_info_v2": {"summary_info": {"total_reserved_stock": 0, "total_available_stock": if models { 0 } else { first.stock }}}}))
                    })
                    .collect();
                ok(json!({"item_list": list}))
            })
        }
        "/api/v2/product/get_model_list" => {
            let id: u64 = num(r, "item_id").unwrap_or(0) as u64;
            st.world(P, |w| {
                let models: Vec<Value> = w
                    .skus
                    .iter()
                    .filter(|s| s.item_id == id)
                    .map(|s| json!({"model_id": s.sku_id, "model_sku": s.seller_sku, "model_status": "MODEL_NORMAL",
                                    "price_info": [{"currency": "MYR", "current_price": float(s.price, EXP), "original_price": float(s.price, EXP)}],
                                    "stock_info_v2": {"summary_info": {"total_reserved_stock": 0, "total_available_stock": s.stock},
                                                      "seller_stock": [{"location_id": s.warehouse, "stock": s.stock, "if_saleable": true}]}}))
                    .collect();
                ok(json!({"tier_variation": [], "model": models}))
            })
        }
        "/api/v2/product/update_stock" => {
            let b = r.json();
            let item = b.get("item_id").and_then(Value::as_u64).unwrap_or(0);
            let list = b
                .get("stock_list")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if list.is_empty() || list.len() > 50 {
                return err("error_param", "stock_list must hold 1 to 50 entries");
            }
            st.world(P, |w| {
                let mut success = Vec::new();
                let mut failure = Vec::new();
                for e in &list {
                    let model = e.get("model_id").and_then(Value::as_u64).unwrap_or(0);
                    let stock = e.pointer("/seller_stock/0/stock").and_then(Value::as_i64).unwrap_or(-1);
                    let idx = (0..w.skus.len()).find(|i| w.skus[*i].item_id == item && model_id(w, *i) == model);
                    match idx {
                        Some(i) if stock >= 0 => {
                            w.set_stock(i, stock);
                            success.push(json!({"model_id": model, "location_id": w.skus[i].warehouse, "stock": stock}));
                        }
                        Some(_) => failure.push(json!({"model_id": model, "failed_reason": "Stock should be larger than reserved stock"})),
                        None => failure.push(json!({"model_id": model, "failed_reason": "model not found"})),
                    }
                }
                ok(json!({"success_list": success, "failure_list": failure}))
            })
        }
        "/api/v2/returns/get_return_list" => {
            let (f, t) = match window(r, "update_time_from", "update_time_to") {
                Ok(w) => w,
                Err(e) => return e,
            };
            let size = match page_size(r) {
                Ok(s) => s,
                Err(e) => return e,
            };
            let page_no = num(r, "page_no").unwrap_or(1).max(1) as usize;
            st.world(P, |w| {
                let list: Vec<Value> = w
                    .orders
                    .iter()
                    .filter_map(|o| {
                        let (at, due) = o.returned_at(now)?;
                        (f..t).contains(&at).then(|| {
                            let items: Vec<Value> = o.lines.iter().map(|(s, q)| json!({"item_id": w.skus[*s].item_id, "model_id": model_id(w, *s), "name": w.skus[*s].name, "amount": q, "item_price": float(w.skus[*s].price, EXP), "variation_sku": w.skus[*s].seller_sku})).collect();
                            json!({"return_sn": format!("R{}", o.id), "order_sn": o.id, "status": "REQUESTED", "reason": "NOT_RECEIPT", "text_reason": "Item not as described",
                                   "refund_amount": float(w.items_total(o), EXP), "currency": "MYR", "create_time": at, "update_time": at, "due_date": due,
                                   "needs_logistics": true, "return_solution": 0, "item": items})
                        })
                    })
                    .collect();
                let (items, more) = page(&list, (page_no - 1) * size, size, quirks);
                ok(json!({"more": more, "return": items}))
            })
        }
        "/api/v2/payment/get_escrow_list" => {
            let (f, t) = match window(r, "release_time_from", "release_time_to") {
                Ok(w) => w,
                Err(e) => return e,
            };
            let size = match page_size(r) {
                Ok(s) => s,
                Err(e) => return e,
            };
            let page_no = num(r, "page_no").unwrap_or(1).max(1) as usize;
            st.world(P, |w| {
                let list: Vec<Value> = w
                    .orders
                    .iter()
                    .filter_map(|o| {
                        let at = o.settled_at(now)?;
                        (f..t).contains(&at).then(|| json!({"order_sn": o.id, "payout_amount": float(w.fees(o).settlement(), EXP), "escrow_release_time": at}))
                    })
                    .collect();
                let (items, more) = page(&list, (page_no - 1) * size, size, quirks);
                ok(json!({"more": more, "escrow_list": items}))
            })
        }
        "/api/v2/payment/get_escrow_detail" => {
            let sn = r.q("order_sn").unwrap_or("").to_owned();
            st.world(P, |w| {
                let Some(o) = w.order(&sn).filter(|o| o.settled_at(now).is_some()) else {
                    return err("error_not_found", "escrow not found");
                };
                let f = w.fees(o);
                let x = |m: i64| float(m, EXP);
                ok(json!({"order_sn": o.id, "buyer_user_name": o.buyer, "return_order_sn_list": [],
                          "order_income": {"escrow_amount": x(f.settlement()), "buyer_total_amount": x(f.items + f.buyer_shipping - f.voucher_seller),
                                           "original_cost_of_goods_sold": x(f.items), "original_shopee_discount": 0.0, "shopee_discount": 0.0,
                                           "voucher_from_seller": x(f.voucher_seller), "seller_coin_cash_back": 0.0, "seller_return_refund": 0.0,
                                           "buyer_paid_shipping_fee": x(f.buyer_shipping), "actual_shipping_fee": x(f.actual_shipping),
                                           "shopee_shipping_rebate": x(f.shipping_rebate), "shipping_fee_discount_from_3pl": 0.0, "reverse_shipping_fee": 0.0,
                                           "commission_fee": x(f.commission), "service_fee": x(f.service), "seller_transaction_fee": x(f.transaction),
                                           "escrow_tax": 0.0, "items": []}}))
            })
        }
        "/api/v2/payment/get_wallet_transaction_list" => {
            let (f, t) = match window(r, "create_time_from", "create_time_to") {
                Ok(w) => w,
                Err(e) => return e,
            };
            let size = match page_size(r) {
                Ok(s) => s,
                Err(e) => return e,
            };
            let page_no = num(r, "page_no").unwrap_or(1).max(1) as usize;
            st.world(P, |w| {
                let list: Vec<Value> = w
                    .payouts(now)
                    .into_iter()
                    .filter(|(_, at, _)| (f..t).contains(at))
                    .map(|(id, at, amount)| json!({"transaction_id": id.trim_start_matches("PO").parse::<i64>().unwrap_or(0), "status": "COMPLETED", "transaction_type": "WITHDRAWAL_COMPLETED", "amount": -float(amount, EXP), "current_balance": 0.0, "create_time": at, "order_sn": "", "transaction_fee": 0.0}))
                    .collect();
                let (items, more) = page(&list, (page_no - 1) * size, size, quirks);
                ok(json!({"more": more, "transaction_list": items}))
            })
        }
        _ => err("error_not_found", "Wrong API path."),
    }
}
