//! The Shopee v2 client (`marketplaces.md` §1). GET calls carry every parameter in the query; POST
//! calls carry the common parameters in the query and the request in a JSON body. Errors come
//! back in the envelope's `error` (usually with HTTP 200).

use super::{Identity, sign};
use crate::client::{Raw, batches, dedupe_refs, json, money_from_f64, send};
use crate::error::{Error, classify_shopee, shopee_daily_reset_in};
use crate::model::*;
use crate::status;
use crate::tokens::{SHOPEE_MAX_WINDOW_SECS, TokenSet, split_windows};
use crate::{Connector, Endpoints, Money, Platform, StoreContext};
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

fn field<T: serde::de::DeserializeOwned>(v: &Value, what: &str) -> Result<T, Error> {
    serde_json::from_value(v.clone()).map_err(|e| Error::Decode(format!("Shopee {what}: {e}")))
}

fn shop_of(shop: &ShopIdentity) -> Result<(u64, &str), Error> {
    match shop {
        ShopIdentity::Shopee { shop_id, region } => Ok((*shop_id, region)),
        other => Err(Error::InvalidInput(format!("not a Shopee shop: {other:?}"))),
    }
}

fn currency_of(shop: &ShopIdentity) -> Result<&'static str, Error> {
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

    fn order(&self, o: &Value) -> Result<Order, Error> {
        #[derive(Deserialize)]
        struct Item {
            item_id: u64,
            #[serde(default)]
            item_name: String,
            #[serde(default)]
            item_sku: String,
            #[serde(default)]
            model_id: u64,
            #[serde(default)]
            model_sku: String,
            model_quantity_purchased: u32,
            model_discounted_price: f64,
        }
        #[derive(Deserialize, Default)]
        struct Address {
            #[serde(default)]
            name: Option<String>,
            #[serde(default)]
            phone: Option<String>,
            #[serde(default)]
            city: Option<String>,
        }
        #[derive(Deserialize)]
        struct O {
            order_sn: String,
            order_status: String,
            currency: String,
            create_time: i64,
            update_time: i64,
            #[serde(default)]
            ship_by_date: Option<i64>,
            #[serde(default)]
            buyer_user_id: Option<u64>,
            #[serde(default)]
            buyer_username: Option<String>,
            #[serde(default)]
            recipient_address: Option<Address>,
            #[serde(default)]
            total_amount: f64,
            #[serde(default)]
            estimated_shipping_fee: Option<f64>,
            #[serde(default)]
            item_list: Vec<Item>,
        }
        let o: O = field(o, "order")?;
        let cur = o.currency.as_str();
        let mut lines = Vec::with_capacity(o.item_list.len());
        for i in &o.item_list {
            let sku = if i.model_sku.is_empty() {
                &i.item_sku
            } else {
                &i.model_sku
            };
            lines.push(OrderLine {
                external_item_id: i.item_id.to_string(),
                external_sku_id: i.model_id.to_string(),
                seller_sku: (!sku.is_empty()).then(|| sku.clone()),
                name: i.item_name.clone(),
                quantity: i.model_quantity_purchased,
                unit_price: money_from_f64(i.model_discounted_price, cur)?,
                external_line_ids: Vec::new(),
            });
        }
        let address = o.recipient_address.unwrap_or_default();
        Ok(Order {
            status: status::shopee(&o.order_status),
            raw_status: o.order_status,
            buyer: Buyer {
                name: o.buyer_username.or(address.name),
                external_id: o.buyer_user_id.map(|i| i.to_string()),
                phone: address.phone,
                city: address.city,
            },
            total: money_from_f64(o.total_amount, cur)?,
            shipping_fee: o
                .estimated_shipping_fee
                .map(|f| money_from_f64(f, cur))
                .transpose()?,
            lines,
            create_time: o.create_time,
            update_time: o.update_time,
            ship_by: o.ship_by_date.filter(|t| *t > 0),
            external_id: o.order_sn,
        })
    }

    /// An escrow detail as fee lines (the terms of the documented local-shop formula this version
    /// itemises; anything else lands in one labelled `Adjustment` residual so lines always sum to
    /// `escrow_amount`).
    fn settlement(
        &self,
        v: &Value,
        currency: &str,
        released: Option<i64>,
    ) -> Result<Settlement, Error> {
        let order_sn = v
            .get("order_sn")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Decode("escrow detail without order_sn".into()))?
            .to_owned();
        let income = v
            .get("order_income")
            .ok_or_else(|| Error::Decode("escrow detail without order_income".into()))?;
        let num = |k: &str| income.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        let escrow = money_from_f64(num("escrow_amount"), currency)?;
        // (field, sign in the escrow formula, normalized type)
        const TERMS: [(&str, i64, FeeType); 15] = [
            ("original_cost_of_goods_sold", 1, FeeType::ItemRevenue),
            ("original_shopee_discount", -1, FeeType::VoucherPlatform),
            ("shopee_discount", 1, FeeType::VoucherPlatform),
            ("seller_return_refund", 1, FeeType::Adjustment),
            ("voucher_from_seller", -1, FeeType::VoucherSeller),
            ("seller_coin_cash_back", -1, FeeType::VoucherSeller),
            ("buyer_paid_shipping_fee", 1, FeeType::Shipping),
            ("actual_shipping_fee", -1, FeeType::Shipping),
            ("shopee_shipping_rebate", 1, FeeType::ShippingSubsidy),
            (
                "shipping_fee_discount_from_3pl",
                1,
                FeeType::ShippingSubsidy,
            ),
            ("reverse_shipping_fee", -1, FeeType::Shipping),
            ("seller_transaction_fee", -1, FeeType::TransactionFee),
            ("service_fee", -1, FeeType::ServiceFee),
            ("commission_fee", -1, FeeType::Commission),
            ("escrow_tax", -1, FeeType::Tax),
        ];
        let mut lines = Vec::new();
        for (name, sign_, fee_type) in TERMS {
            let m = money_from_f64(num(name), currency)?;
            if m.minor != 0 {
                lines.push(FeeLine {
                    fee_type,
                    raw_type: name.to_owned(),
                    amount: Money {
                        minor: m.minor * sign_,
                        ..m
                    },
                });
            }
        }
        let mut s = Settlement {
            external_order_id: Some(order_sn.clone()),
            reference: order_sn,
            settlement_amount: escrow,
            lines,
            settled_at: released,
        };
        let residual = escrow.minor - s.lines_total();
        if residual != 0 {
            s.lines.push(FeeLine {
                fee_type: FeeType::Adjustment,
                raw_type: "unitemised_escrow_terms".into(),
                amount: Money {
                    minor: residual,
                    ..escrow
                },
            });
        }
        Ok(s)
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
        let mut refs = Vec::new();
        for (from, to) in split_windows(window.from, window.to, SHOPEE_MAX_WINDOW_SECS) {
            let mut cursor = String::new();
            loop {
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
                for o in r
                    .get("order_list")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(sn) = o.get("order_sn").and_then(Value::as_str) {
                        refs.push(OrderRef {
                            external_id: sn.to_owned(),
                            update_time: None,
                        });
                    }
                }
                let more = r.get("more").and_then(Value::as_bool).unwrap_or(false);
                let next = r.get("next_cursor").and_then(Value::as_str).unwrap_or("");
                if !more || next.is_empty() || next == cursor {
                    break;
                }
                cursor = next.to_owned();
            }
        }
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
                            "buyer_user_id,buyer_username,recipient_address,item_list,total_amount,estimated_shipping_fee,pay_time".into(),
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
        let mut out: Vec<Return> = Vec::new();
        for (from, to) in split_windows(window.from, window.to, SHOPEE_MAX_WINDOW_SECS) {
            let mut page = 1u32;
            loop {
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
                for x in r
                    .get("return")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let currency = x.get("currency").and_then(Value::as_str).unwrap_or("");
                    let sn = x
                        .get("return_sn")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    if out.iter().any(|o| o.external_id == sn) {
                        continue;
                    }
                    let lines = x
                        .get("item")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|i| {
                            (
                                i.get("model_id")
                                    .and_then(Value::as_u64)
                                    .unwrap_or(0)
                                    .to_string(),
                                i.get("amount")
                                    .and_then(Value::as_u64)
                                    .map_or(1, |a| u32::try_from(a).unwrap_or(u32::MAX)),
                            )
                        })
                        .collect();
                    out.push(Return {
                        external_id: sn,
                        external_order_id: x
                            .get("order_sn")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        raw_status: x
                            .get("status")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        reason: x
                            .get("text_reason")
                            .or_else(|| x.get("reason"))
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        refund: x
                            .get("refund_amount")
                            .and_then(Value::as_f64)
                            .map(|a| money_from_f64(a, currency))
                            .transpose()?,
                        lines,
                        create_time: x.get("create_time").and_then(Value::as_i64).unwrap_or(0),
                        update_time: x.get("update_time").and_then(Value::as_i64).unwrap_or(0),
                        due_at: x.get("due_date").and_then(Value::as_i64).filter(|d| *d > 0),
                    });
                }
                if !r.get("more").and_then(Value::as_bool).unwrap_or(false) {
                    break;
                }
                page += 1;
            }
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
        let mut released: Vec<(String, Option<i64>)> = Vec::new();
        for (from, to) in split_windows(window.from, window.to, SHOPEE_MAX_WINDOW_SECS) {
            let mut page = 1u32;
            loop {
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
                for e in r
                    .get("escrow_list")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(sn) = e.get("order_sn").and_then(Value::as_str)
                        && !released.iter().any(|(s, _)| s == sn)
                    {
                        released.push((
                            sn.to_owned(),
                            e.get("escrow_release_time").and_then(Value::as_i64),
                        ));
                    }
                }
                if !r.get("more").and_then(Value::as_bool).unwrap_or(false) {
                    break;
                }
                page += 1;
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
        let mut out = Vec::new();
        for (from, to) in split_windows(window.from, window.to, SHOPEE_MAX_WINDOW_SECS) {
            let mut page = 1u32;
            loop {
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
                for t in r
                    .get("transaction_list")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let kind = t
                        .get("transaction_type")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    if !kind.contains("WITHDRAWAL") {
                        continue;
                    }
                    let amount = money_from_f64(
                        t.get("amount").and_then(Value::as_f64).unwrap_or(0.0).abs(),
                        currency,
                    )?;
                    let status = t
                        .get("status")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    out.push(Payout {
                        external_id: t
                            .get("transaction_id")
                            .map(|v| v.to_string().trim_matches('"').to_owned())
                            .unwrap_or_default(),
                        amount,
                        paid_at: (status == "COMPLETED")
                            .then(|| t.get("create_time").and_then(Value::as_i64))
                            .flatten(),
                        raw_status: status,
                    });
                }
                if !r.get("more").and_then(Value::as_bool).unwrap_or(false) {
                    break;
                }
                page += 1;
            }
        }
        Ok(out)
    }
}
