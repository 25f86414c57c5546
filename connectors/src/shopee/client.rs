//! The Shopee v2 client (`marketplaces.md` §1). GET calls carry every parameter in the query; POST
//! calls carry the common parameters in the query and the request in a JSON body. Errors come
//! back in the envelope's `error` (usually with HTTP 200).

use super::wire;
use super::{Identity, sign};
use crate::client::{Raw, batches, dedupe_refs, json, money_from_f64, paged_windows, send};
use crate::error::{Error, classify_shopee, shopee_daily_reset_in};
use crate::model::*;
use crate::tokens::{SHOPEE_MAX_WINDOW_SECS, TokenSet, split_windows};
use crate::{Connector, Endpoints, Platform, StoreContext};
use serde::Deserialize;
use serde_json::{Value, json};

/// Order list and return list page size (max 100).
pub const PAGE_SIZE: u32 = 100;
/// `get_order_detail` and `get_item_base_info` take at most 50 ids.
pub const DETAIL_BATCH: usize = 50;
/// `update_stock` takes at most 50 models per call (one item per call).
pub const STOCK_BATCH: usize = 50;

/// A Shopee partner app.
#[derive(Clone)]
pub struct ShopeeApp {
    /// `partner_id`.
    pub partner_id: u64,
    /// `partner_key` (used as text, never hex-decoded).
    pub partner_key: String,
    /// Hosts.
    pub endpoints: Endpoints,
}

impl std::fmt::Debug for ShopeeApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopeeApp")
            .field("partner_id", &self.partner_id)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// The currency of a Shopee region.
pub fn region_currency(region: &str) -> Option<&'static str> {
    Some(match region.to_ascii_uppercase().as_str() {
        "ID" => "IDR",
        "MY" => "MYR",
        "SG" => "SGD",
        "PH" => "PHP",
        "TH" => "THB",
        "VN" => "VND",
        "BR" => "BRL",
        "MX" => "MXN",
        _ => return None,
    })
}

crate::client::connector_type!(
    /// The Shopee connector.
    Shopee,
    ShopeeApp
);

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    error: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    response: Value,
}

pub(super) fn field<T: serde::de::DeserializeOwned>(v: &Value, what: &str) -> Result<T, Error> {
    serde_json::from_value(v.clone()).map_err(|e| Error::Decode(format!("Shopee {what}: {e}")))
}

fn shop_of(shop: &ShopIdentity) -> Result<(u64, &str), Error> {
    match shop {
        ShopIdentity::Shopee { shop_id, region } => Ok((*shop_id, region)),
        other => Err(Error::InvalidInput(format!("not a Shopee shop: {other:?}"))),
    }
}

pub(super) fn currency_of(shop: &ShopIdentity) -> Result<&'static str, Error> {
    let (_, region) = shop_of(shop)?;
    region_currency(region)
        .ok_or_else(|| Error::InvalidInput(format!("no currency known for Shopee region {region}")))
}

impl Shopee {
    fn url(
        &self,
        base: &str,
        path: &str,
        identity: Identity<'_>,
        params: &[(&str, String)],
    ) -> Result<url::Url, Error> {
        let ts = self.clock.now();
        let signature = sign(
            &self.app.partner_key,
            self.app.partner_id,
            path,
            ts,
            identity,
        );
        let mut url = url::Url::parse(&format!("{base}{path}"))
            .map_err(|e| Error::InvalidInput(format!("bad Shopee base URL: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("partner_id", &self.app.partner_id.to_string());
            q.append_pair("timestamp", &ts.to_string());
            match identity {
                Identity::Public => {}
                Identity::Shop {
                    access_token,
                    shop_id,
                } => {
                    q.append_pair("access_token", access_token);
                    q.append_pair("shop_id", &shop_id.to_string());
                }
                Identity::Merchant {
                    access_token,
                    merchant_id,
                } => {
                    q.append_pair("access_token", access_token);
                    q.append_pair("merchant_id", &merchant_id.to_string());
                }
            }
            q.append_pair("sign", &signature);
            for (k, v) in params {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    fn envelope(&self, raw: &Raw) -> Result<Value, Error> {
        if raw.status == 429 {
            return Err(Error::RateLimited {
                retry_after: raw.retry_after,
                message: "HTTP 429".into(),
            });
        }
        if raw.status >= 500 {
            return Err(Error::Transient(format!(
                "HTTP {}: {}",
                raw.status,
                String::from_utf8_lossy(&raw.body[..raw.body.len().min(200)])
            )));
        }
        let env: Envelope = json(raw)?;
        if !env.error.is_empty() {
            let reset = shopee_daily_reset_in(self.clock.now());
            return Err(classify_shopee(&env.error, &env.message, Some(reset)));
        }
        Ok(env.response)
    }

    /// Top-level auth responses (`access_token` etc. are not inside `response`).
    fn auth_body(&self, raw: &Raw) -> Result<Value, Error> {
        if raw.status >= 500 {
            return Err(Error::Transient(format!("HTTP {}", raw.status)));
        }
        let v: Value = json(raw)?;
        let error = v.get("error").and_then(Value::as_str).unwrap_or("");
        if !error.is_empty() {
            let message = v.get("message").and_then(Value::as_str).unwrap_or("");
            return Err(classify_shopee(error, message, None));
        }
        Ok(v)
    }

    fn tokens_from(&self, v: &Value) -> Result<TokenSet, Error> {
        #[derive(Deserialize)]
        struct T {
            access_token: String,
            refresh_token: String,
            expire_in: i64,
        }
        let t: T = field(v, "token response")?;
        Ok(TokenSet::shopee(
            t.access_token,
            t.refresh_token,
            t.expire_in,
            self.clock.now(),
        ))
    }

    async fn get(
        &self,
        store: &StoreContext,
        path: &'static str,
        params: Vec<(&'static str, String)>,
    ) -> Result<Value, Error> {
        let (shop_id, _) = shop_of(&store.shop)?;
        let params = &params;
        store
            .call(
                Platform::Shopee,
                path,
                self.clock.as_ref(),
                |t: TokenSet| async move { self.refresh(&store.shop, &t).await },
                |t: TokenSet| async move {
                    let url = self.url(
                        &self.app.endpoints.api,
                        path,
                        Identity::Shop {
                            access_token: &t.access_token,
                            shop_id,
                        },
                        params,
                    )?;
                    let raw = send(self.http.get(url)).await?;
                    self.envelope(&raw)
                },
            )
            .await
    }

    async fn post(
        &self,
        store: &StoreContext,
        path: &'static str,
        body: &Value,
    ) -> Result<Value, Error> {
        let (shop_id, _) = shop_of(&store.shop)?;
        store
            .call(
                Platform::Shopee,
                path,
                self.clock.as_ref(),
                |t: TokenSet| async move { self.refresh(&store.shop, &t).await },
                |t: TokenSet| async move {
                    let url = self.url(
                        &self.app.endpoints.api,
                        path,
                        Identity::Shop {
                            access_token: &t.access_token,
                            shop_id,
                        },
                        &[],
                    )?;
                    let raw = send(self.http.post(url).json(body)).await?;
                    self.envelope(&raw)
                },
            )
            .await
    }

    async fn public_post(&self, path: &str, body: &Value) -> Result<Value, Error> {
        let url = self.url(&self.app.endpoints.auth, path, Identity::Public, &[])?;
        let raw = send(self.http.post(url).json(body)).await?;
        self.auth_body(&raw)
    }
}

#[async_trait::async_trait]
impl Connector for Shopee {
    fn platform(&self) -> Platform {
        Platform::Shopee
    }

    /// `GET /api/v2/shop/auth_partner` (public sign; the link dies with the 5-minute timestamp).
    /// Shopee has no `state` parameter, so the state rides in the redirect URL's query.
    fn authorize_url(&self, state: &str, redirect_uri: &str) -> Result<String, Error> {
        let mut redirect = url::Url::parse(redirect_uri)
            .map_err(|e| Error::InvalidInput(format!("redirect URI: {e}")))?;
        redirect.query_pairs_mut().append_pair("state", state);
        let url = self.url(
            &self.app.endpoints.auth,
            "/api/v2/shop/auth_partner",
            Identity::Public,
            &[("redirect", redirect.to_string())],
        )?;
        Ok(url.to_string())
    }

    async fn exchange_code(
        &self,
        callback: &AuthCallback,
        _redirect_uri: &str,
    ) -> Result<Grant, Error> {
        let shop_id: u64 = callback
            .shop_id
            .as_deref()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                Error::InvalidInput("Shopee redirect without a numeric shop_id".into())
            })?;
        let v = self
            .public_post(
                "/api/v2/auth/token/get",
                &json!({"code": callback.code, "partner_id": self.app.partner_id, "shop_id": shop_id}),
            )
            .await?;
        let tokens = self.tokens_from(&v)?;
        // Who the shop is: region (currency) and name.
        let url = self.url(
            &self.app.endpoints.api,
            "/api/v2/shop/get_shop_info",
            Identity::Shop {
                access_token: &tokens.access_token,
                shop_id,
            },
            &[],
        )?;
        let info = send(self.http.get(url)).await?;
        let info: Value = json(&info)?;
        let error = info.get("error").and_then(Value::as_str).unwrap_or("");
        if !error.is_empty() {
            let message = info.get("message").and_then(Value::as_str).unwrap_or("");
            return Err(classify_shopee(error, message, None));
        }
        let region = info
            .get("region")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(Grant {
            tokens,
            shop: ShopIdentity::Shopee { shop_id, region },
            shop_name: info
                .get("shop_name")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }

    /// `POST /api/v2/auth/access_token/get`. The refresh token is single use: the new one
    /// replaces it and must be saved before anything else.
    async fn refresh(&self, shop: &ShopIdentity, tokens: &TokenSet) -> Result<TokenSet, Error> {
        let (shop_id, _) = shop_of(shop)?;
        let v = self
            .public_post(
                "/api/v2/auth/access_token/get",
                &json!({"refresh_token": tokens.refresh_token, "partner_id": self.app.partner_id, "shop_id": shop_id}),
            )
            .await?;
        self.tokens_from(&v)
    }

    /// `get_order_list` by `update_time`, windows of ≤ 15 days, cursor paging of 100.
    async fn list_orders(
        &self,
        store: &StoreContext,
        window: Window,
    ) -> Result<Vec<OrderRef>, Error> {
        let windows = split_windows(window.from, window.to, SHOPEE_MAX_WINDOW_SECS);
        let refs = paged_windows(
            windows,
            String::new(),
            |from, to, cursor: String| async move {
                let r = self
                    .get(
                        store,
                        "/api/v2/order/get_order_list",
                        vec![
                            ("time_range_field", "update_time".into()),
                            ("time_from", from.to_string()),
                            ("time_to", to.to_string()),
                            ("page_size", PAGE_SIZE.to_string()),
                            ("cursor", cursor.clone()),
                            ("response_optional_fields", "order_status".into()),
                        ],
                    )
                    .await?;
                let page: wire::OrderListPage = field(&r, "order list")?;
                let next =
                    (page.more && !page.next_cursor.is_empty() && page.next_cursor != cursor)
                        .then_some(page.next_cursor);
                let refs = page
                    .order_list
                    .into_iter()
                    .map(|o| OrderRef {
                        external_id: o.order_sn,
                        update_time: None,
                    })
                    .collect();
                Ok((refs, next))
            },
        )
        .await?;
        Ok(dedupe_refs(refs))
    }

    /// `get_order_detail`, 50 order numbers per call.
    async fn order_details(
        &self,
        store: &StoreContext,
        ids: &[String],
    ) -> Result<Vec<Order>, Error> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in batches(ids, DETAIL_BATCH) {
            let r = self
                .get(
                    store,
                    "/api/v2/order/get_order_detail",
                    vec![
                        ("order_sn_list", chunk.join(",")),
                        (
                            "response_optional_fields",
                            "buyer_user_id,buyer_username,recipient_address,item_list,total_amount,estimated_shipping_fee,pay_time,payment_method,cancel_reason,fulfillment_flag".into(),
                        ),
                    ],
                )
                .await?;
            for o in r
                .get("order_list")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(self.order(o)?);
            }
        }
        Ok(out)
    }

    /// `get_item_list` (offset paging), `get_item_base_info` (50 per call), `get_model_list`.
    async fn list_products(&self, store: &StoreContext) -> Result<Vec<Product>, Error> {
        let currency = currency_of(&store.shop)?;
        let mut ids: Vec<String> = Vec::new();
        let mut offset = 0u64;
        loop {
            let r = self
                .get(
                    store,
                    "/api/v2/product/get_item_list",
                    vec![
                        ("offset", offset.to_string()),
                        ("page_size", PAGE_SIZE.to_string()),
                        ("item_status", "NORMAL".into()),
                        ("item_status", "UNLIST".into()),
                    ],
                )
                .await?;
            for i in r
                .get("item")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(id) = i.get("item_id").and_then(Value::as_u64) {
                    let id = id.to_string();
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
            }
            let next = r.get("next_offset").and_then(Value::as_u64).unwrap_or(0);
            if !r
                .get("has_next_page")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                || next <= offset
            {
                break;
            }
            offset = next;
        }
        let mut products = Vec::with_capacity(ids.len());
        for chunk in batches(&ids, DETAIL_BATCH) {
            let r = self
                .get(
                    store,
                    "/api/v2/product/get_item_base_info",
                    vec![("item_id_list", chunk.join(","))],
                )
                .await?;
            for item in r
                .get("item_list")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let id = item.get("item_id").and_then(Value::as_u64).unwrap_or(0);
                let has_model = item
                    .get("has_model")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let mut skus = Vec::new();
                if has_model {
                    let m = self
                        .get(
                            store,
                            "/api/v2/product/get_model_list",
                            vec![("item_id", id.to_string())],
                        )
                        .await?;
                    for model in m
                        .get("model")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let price = model
                            .pointer("/price_info/0/current_price")
                            .and_then(Value::as_f64)
                            .map(|p| money_from_f64(p, currency))
                            .transpose()?;
                        skus.push(Sku {
                            external_id: model
                                .get("model_id")
                                .and_then(Value::as_u64)
                                .unwrap_or(0)
                                .to_string(),
                            seller_sku: model
                                .get("model_sku")
                                .and_then(Value::as_str)
                                .filter(|s| !s.is_empty())
                                .map(str::to_owned),
                            price,
                            stock: model
                                .pointer("/stock_info_v2/summary_info/total_available_stock")
                                .and_then(Value::as_i64),
                            location: model
                                .pointer("/stock_info_v2/seller_stock/0/location_id")
                                .and_then(Value::as_str)
                                .filter(|s| !s.is_empty())
                                .map(str::to_owned),
                        });
                    }
                } else {
                    skus.push(Sku {
                        external_id: "0".into(),
                        seller_sku: item
                            .get("item_sku")
                            .and_then(Value::as_str)
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned),
                        price: item
                            .pointer("/price_info/0/current_price")
                            .and_then(Value::as_f64)
                            .map(|p| money_from_f64(p, currency))
                            .transpose()?,
                        stock: item
                            .pointer("/stock_info_v2/summary_info/total_available_stock")
                            .and_then(Value::as_i64),
                        location: item
                            .pointer("/stock_info_v2/seller_stock/0/location_id")
                            .and_then(Value::as_str)
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned),
                    });
                }
                products.push(Product {
                    external_id: id.to_string(),
                    name: item
                        .get("item_name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    raw_status: item
                        .get("item_status")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    skus,
                });
            }
        }
        Ok(products)
    }

    /// `update_stock`: one item per call, ≤ 50 models each; seller stock only.
    fn stock_batches(&self, updates: &[StockUpdate]) -> Vec<Vec<StockUpdate>> {
        crate::model::stock_groups(updates, true, STOCK_BATCH)
    }

    async fn update_stock(
        &self,
        store: &StoreContext,
        updates: &[StockUpdate],
    ) -> Result<Vec<StockOutcome>, Error> {
        let mut by_item: Vec<(&str, Vec<&StockUpdate>)> = Vec::new();
        for u in updates {
            if u.quantity < 0 {
                return Err(Error::InvalidInput(format!(
                    "negative stock {} for model {}",
                    u.quantity, u.external_sku_id
                )));
            }
            match by_item.iter_mut().find(|(i, _)| *i == u.external_item_id) {
                Some((_, v)) => v.push(u),
                None => by_item.push((&u.external_item_id, vec![u])),
            }
        }
        let mut out = Vec::with_capacity(updates.len());
        for (item, list) in by_item {
            let item_id: u64 = item.parse().map_err(|_| {
                Error::InvalidInput(format!("Shopee item id `{item}` is not a number"))
            })?;
            for chunk in batches(&list, STOCK_BATCH) {
                let mut stock_list = Vec::with_capacity(chunk.len());
                for u in chunk {
                    let model_id: u64 = u.external_sku_id.parse().map_err(|_| {
                        Error::InvalidInput(format!(
                            "Shopee model id `{}` is not a number",
                            u.external_sku_id
                        ))
                    })?;
                    let mut entry = json!({"stock": u.quantity});
                    if let Some(loc) = &u.location {
                        entry["location_id"] = json!(loc);
                    }
                    stock_list.push(json!({"model_id": model_id, "seller_stock": [entry]}));
                }
                let r = self
                    .post(
                        store,
                        "/api/v2/product/update_stock",
                        &json!({"item_id": item_id, "stock_list": stock_list}),
                    )
                    .await?;
                for s in r
                    .get("success_list")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    out.push(StockOutcome {
                        external_sku_id: s
                            .get("model_id")
                            .and_then(Value::as_u64)
                            .unwrap_or(0)
                            .to_string(),
                        error: None,
                    });
                }
                for f in r
                    .get("failure_list")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    out.push(StockOutcome {
                        external_sku_id: f
                            .get("model_id")
                            .and_then(Value::as_u64)
                            .unwrap_or(0)
                            .to_string(),
                        error: Some(
                            f.get("failed_reason")
                                .and_then(Value::as_str)
                                .unwrap_or("failed")
                                .to_owned(),
                        ),
                    });
                }
            }
        }
        Ok(out)
    }

    /// `get_return_list` by update time (≤ 15-day windows), page_no paging.
    async fn list_returns(
        &self,
        store: &StoreContext,
        window: Window,
    ) -> Result<Vec<Return>, Error> {
        let windows = split_windows(window.from, window.to, SHOPEE_MAX_WINDOW_SECS);
        let pages = paged_windows(windows, 1u32, |from, to, page: u32| async move {
            let r = self
                .get(
                    store,
                    "/api/v2/returns/get_return_list",
                    vec![
                        ("page_no", page.to_string()),
                        ("page_size", PAGE_SIZE.to_string()),
                        ("update_time_from", from.to_string()),
                        ("update_time_to", to.to_string()),
                    ],
                )
                .await?;
            let list: wire::ReturnListPage = field(&r, "return list")?;
            let next = list.more.then_some(page + 1);
            Ok((list.returns, next))
        })
        .await?;
        let mut out: Vec<Return> = Vec::with_capacity(pages.len());
        for x in pages {
            if out.iter().any(|o| o.external_id == x.return_sn) {
                continue;
            }
            out.push(x.into_return()?);
        }
        Ok(out)
    }

    /// `get_escrow_list` (release time, page_no) then `get_escrow_detail` per order.
    async fn settlements(
        &self,
        store: &StoreContext,
        window: Window,
    ) -> Result<Vec<Settlement>, Error> {
        let currency = currency_of(&store.shop)?;
        let windows = split_windows(window.from, window.to, SHOPEE_MAX_WINDOW_SECS);
        let listed = paged_windows(windows, 1u32, |from, to, page: u32| async move {
            let r = self
                .get(
                    store,
                    "/api/v2/payment/get_escrow_list",
                    vec![
                        ("release_time_from", from.to_string()),
                        ("release_time_to", to.to_string()),
                        ("page_size", PAGE_SIZE.to_string()),
                        ("page_no", page.to_string()),
                    ],
                )
                .await?;
            let list: wire::EscrowListPage = field(&r, "escrow list")?;
            let next = list.more.then_some(page + 1);
            Ok((list.escrow_list, next))
        })
        .await?;
        let mut released: Vec<(String, Option<i64>)> = Vec::new();
        for e in listed {
            if let Some(sn) = e.order_sn
                && !released.iter().any(|(s, _)| *s == sn)
            {
                released.push((sn, e.escrow_release_time));
            }
        }
        let mut out = Vec::with_capacity(released.len());
        for (sn, at) in released {
            let r = self
                .get(
                    store,
                    "/api/v2/payment/get_escrow_detail",
                    vec![("order_sn", sn)],
                )
                .await?;
            out.push(self.settlement(&r, currency, at)?);
        }
        Ok(out)
    }

    /// Wallet transactions that are withdrawals to the bank (`get_wallet_transaction_list`,
    /// ≤ 15-day windows, money_flow MONEY_OUT).
    async fn payouts(&self, store: &StoreContext, window: Window) -> Result<Vec<Payout>, Error> {
        let currency = currency_of(&store.shop)?;
        let windows = split_windows(window.from, window.to, SHOPEE_MAX_WINDOW_SECS);
        let listed = paged_windows(windows, 1u32, |from, to, page: u32| async move {
            let r = self
                .get(
                    store,
                    "/api/v2/payment/get_wallet_transaction_list",
                    vec![
                        ("page_no", page.to_string()),
                        ("page_size", PAGE_SIZE.to_string()),
                        ("create_time_from", from.to_string()),
                        ("create_time_to", to.to_string()),
                        ("money_flow", "MONEY_OUT".into()),
                    ],
                )
                .await?;
            let list: wire::WalletPage = field(&r, "wallet transactions")?;
            let next = list.more.then_some(page + 1);
            Ok((list.transaction_list, next))
        })
        .await?;
        let mut out = Vec::new();
        for t in listed {
            if !t.transaction_type.contains("WITHDRAWAL") {
                continue;
            }
            let amount = money_from_f64(t.amount.abs(), currency)?;
            out.push(Payout {
                external_id: t.transaction_id.to_string().trim_matches('"').to_owned(),
                amount,
                paid_at: (t.status == "COMPLETED").then_some(t.create_time).flatten(),
                raw_status: t.status,
            });
        }
        Ok(out)
    }
}
