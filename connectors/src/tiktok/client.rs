//! The TikTok Shop client (`marketplaces.md` §2, API version 202309). Signed query (`app_key`,
//! `timestamp`, `shop_cipher`, `sign`), access token in the `x-tts-access-token` header, JSON
//! bodies signed byte for byte, envelope `{code, message, request_id, data}` with `code` 0.

use super::sign;
use crate::client::{Raw, batches, dedupe_refs, json, money_from_str, send};
use crate::error::{AuthFailure, Error, classify_tiktok};
use crate::model::*;
use crate::status::{self, UnitLine, group_units};
use crate::tokens::TokenSet;
use crate::{Connector, Endpoints, Money, Platform, StoreContext};
use serde_json::{Value, json};

/// Order and product search page size (1..100).
pub const PAGE_SIZE: u32 = 100;
/// Return search page size (the doc gives 10..50).
pub const RETURN_PAGE_SIZE: u32 = 50;
/// `GET /order/202309/orders` takes at most 50 ids.
pub const DETAIL_BATCH: usize = 50;
/// SKUs per inventory update call (the maximum is not documented; UNCONFIRMED).
pub const STOCK_BATCH: usize = 100;
/// Highest inventory quantity TikTok accepts.
pub const MAX_QUANTITY: i64 = 99_999;

/// A TikTok Shop app.
#[derive(Clone)]
pub struct TiktokApp {
    /// `app_key`.
    pub app_key: String,
    /// `app_secret`.
    pub app_secret: String,
    /// `api` = `https://open-api.tiktokglobalshop.com`, `auth` = `https://auth.tiktok-shops.com`.
    pub endpoints: Endpoints,
}

impl std::fmt::Debug for TiktokApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TiktokApp")
            .field("app_key", &self.app_key)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

crate::client::connector_type!(
    /// The TikTok Shop connector.
    Tiktok,
    TiktokApp
);

fn cipher_of(shop: &ShopIdentity) -> Result<&str, Error> {
    match shop {
        ShopIdentity::Tiktok { cipher, .. } => Ok(cipher),
        other => Err(Error::InvalidInput(format!("not a TikTok shop: {other:?}"))),
    }
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn int(v: &Value, k: &str) -> Option<i64> {
    v.get(k)
        .and_then(|x| x.as_i64().or_else(|| x.as_str()?.parse().ok()))
}

impl Tiktok {
    fn envelope(raw: &Raw) -> Result<Value, Error> {
        let parsed: Result<Value, Error> = json(raw);
        let (code, message) = match &parsed {
            Ok(v) => (
                v.get("code").and_then(Value::as_i64).unwrap_or(-1),
                s(v, "message").to_owned(),
            ),
            Err(_) if raw.status >= 500 || raw.status == 429 => {
                (-1, format!("HTTP {}", raw.status))
            }
            Err(e) => return Err(e.clone()),
        };
        if raw.status >= 400 || code != 0 {
            return Err(classify_tiktok(raw.status, code, &message, raw.retry_after));
        }
        Ok(parsed?.get("data").cloned().unwrap_or(Value::Null))
    }

    /// One signed request. `query` excludes the common parameters.
    async fn signed(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        shop_cipher: Option<&str>,
        access_token: &str,
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let ts = self.clock.now().to_string();
        let mut all: Vec<(&str, &str)> = vec![("app_key", &self.app.app_key), ("timestamp", &ts)];
        if let Some(c) = shop_cipher {
            all.push(("shop_cipher", c));
        }
        all.extend(query.iter().map(|(k, v)| (*k, v.as_str())));
        let body_bytes = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let signature = sign(&self.app.app_secret, path, &all, body_bytes.as_deref());
        let mut url = url::Url::parse(&format!("{}{path}", self.app.endpoints.api))
            .map_err(|e| Error::InvalidInput(format!("bad TikTok base URL: {e}")))?;
        url.query_pairs_mut()
            .extend_pairs(all.iter().copied())
            .append_pair("sign", &signature);
        let mut req = self
            .http
            .request(method, url)
            .header("x-tts-access-token", access_token);
        if let Some(b) = body_bytes {
            req = req.header("content-type", "application/json").body(b);
        }
        Self::envelope(&send(req).await?)
    }

    async fn call(
        &self,
        store: &StoreContext,
        method: reqwest::Method,
        path: &str,
        query: Vec<(&'static str, String)>,
        body: Option<Value>,
    ) -> Result<Value, Error> {
        let cipher = cipher_of(&store.shop)?;
        let (query, body, method) = (&query, body.as_ref(), &method);
        store
            .call(
                Platform::TiktokShop,
                path,
                self.clock.as_ref(),
                |t: TokenSet| async move { self.refresh(&store.shop, &t).await },
                |t: TokenSet| async move {
                    self.signed(
                        method.clone(),
                        path,
                        query,
                        Some(cipher),
                        &t.access_token,
                        body,
                    )
                    .await
                },
            )
            .await
    }

    async fn token(
        &self,
        path: &str,
        grant: (&str, &str),
        grant_type: &str,
    ) -> Result<(TokenSet, Value), Error> {
        let mut url = url::Url::parse(&format!("{}{path}", self.app.endpoints.auth))
            .map_err(|e| Error::InvalidInput(format!("bad TikTok auth URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("app_key", &self.app.app_key)
            .append_pair("app_secret", &self.app.app_secret)
            .append_pair(grant.0, grant.1)
            .append_pair("grant_type", grant_type);
        // A grant the token endpoint refuses (other than throttling or an outage) means the code
        // or the authorization is no longer good: the seller must authorize again.
        let data = Self::envelope(&send(self.http.get(url)).await?).map_err(|e| match e {
            Error::InvalidInput(m) | Error::Permanent { message: m, .. } => Error::Auth {
                kind: AuthFailure::Invalid,
                message: m,
            },
            other => other,
        })?;
        let access = s(&data, "access_token");
        let refresh = s(&data, "refresh_token");
        let (Some(access_at), Some(refresh_at)) = (
            int(&data, "access_token_expire_in"),
            int(&data, "refresh_token_expire_in"),
        ) else {
            return Err(Error::Decode(
                "TikTok token response without expiry timestamps".into(),
            ));
        };
        if access.is_empty() || refresh.is_empty() {
            return Err(Error::Decode("TikTok token response without tokens".into()));
        }
        Ok((
            TokenSet::tiktok(access.to_owned(), access_at, refresh.to_owned(), refresh_at),
            data,
        ))
    }

    fn order(&self, o: &Value) -> Result<Order, Error> {
        let payment = o.get("payment").cloned().unwrap_or(Value::Null);
        let currency = s(&payment, "currency");
        let mut units = Vec::new();
        let mut names: Vec<(String, String, String)> = Vec::new();
        for li in o
            .get("line_items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let sku = s(li, "sku_id").to_owned();
            let price = money_from_str(s(li, "sale_price"), currency)?;
            if !names.iter().any(|(k, _, _)| *k == sku) {
                names.push((
                    sku.clone(),
                    s(li, "product_id").to_owned(),
                    s(li, "product_name").to_owned(),
                ));
            }
            units.push(UnitLine {
                line_id: s(li, "id").to_owned(),
                sku_id: sku,
                seller_sku: Some(s(li, "seller_sku").to_owned()).filter(|x| !x.is_empty()),
                unit_price_minor: price.minor,
            });
        }
        let code = Money::parse("0", currency).map_err(|e| Error::Decode(e.to_string()))?;
        let lines = group_units(&units)
            .into_iter()
            .map(|g| {
                let (_, product, name) = names
                    .iter()
                    .find(|(k, _, _)| *k == g.sku_id)
                    .cloned()
                    .unwrap_or_default();
                OrderLine {
                    external_item_id: product,
                    external_sku_id: g.sku_id,
                    seller_sku: g.seller_sku,
                    name,
                    quantity: g.quantity,
                    unit_price: Money {
                        minor: g.unit_price_minor,
                        ..code
                    },
                    external_line_ids: g.line_ids,
                }
            })
            .collect();
        let address = o.get("recipient_address").cloned().unwrap_or(Value::Null);
        let raw_status = s(o, "status").to_owned();
        let opt_money = |k: &str| -> Result<Option<Money>, Error> {
            let v = s(&payment, k);
            if v.is_empty() {
                Ok(None)
            } else {
                money_from_str(v, currency).map(Some)
            }
        };
        let seller_discount = opt_money("seller_discount")?;
        let platform_discount = opt_money("platform_discount")?;
        // The items subtotal before order-level discounts (TikTok's `sub_total` is after them).
        let subtotal = match opt_money("original_total_product_price")? {
            Some(m) => Some(m),
            None => opt_money("sub_total")?.map(|m| Money {
                minor: m.minor
                    + seller_discount.map_or(0, |d| d.minor)
                    + platform_discount.map_or(0, |d| d.minor),
                ..m
            }),
        };
        let text = |k: &str| Some(s(o, k).to_owned()).filter(|x| !x.is_empty());
        let terms = OrderTerms {
            subtotal,
            seller_discount,
            platform_discount,
            tax: opt_money("tax")?,
            payment_method: text("payment_method_name"),
            cod: o.get("is_cod").and_then(Value::as_bool).unwrap_or(false),
            fulfilment: if s(o, "fulfillment_type") == "FULFILLMENT_BY_TIKTOK" {
                Fulfilment::Marketplace
            } else {
                Fulfilment::Seller
            },
            paid_time: int(o, "paid_time").filter(|t| *t > 0),
            cancel_reason: text("cancel_reason"),
        };
        Ok(Order {
            terms,
            external_id: s(o, "id").to_owned(),
            status: status::tiktok(&raw_status),
            raw_status,
            buyer: Buyer {
                name: Some(s(&address, "name").to_owned()).filter(|x| !x.is_empty()),
                external_id: Some(s(o, "user_id").to_owned()).filter(|x| !x.is_empty()),
                phone: Some(s(&address, "phone_number").to_owned()).filter(|x| !x.is_empty()),
                city: address
                    .get("district_info")
                    .and_then(Value::as_array)
                    .and_then(|d| d.iter().find(|x| s(x, "address_level_name") == "City"))
                    .map(|x| s(x, "address_name").to_owned()),
            },
            total: money_from_str(s(&payment, "total_amount"), currency)?,
            shipping_fee: Some(money_from_str(s(&payment, "shipping_fee"), currency)?),
            lines,
            create_time: int(o, "create_time").unwrap_or(0),
            update_time: int(o, "update_time").unwrap_or(0),
            ship_by: int(o, "rts_sla_time").filter(|t| *t > 0),
        })
    }

    /// One statement transaction as fee lines: revenue, the itemised fees, the rest of
    /// `fee_amount` as a service fee, and the adjustment; `settlement_amount = revenue + fee +
    /// adjustment` (§2.7).
    fn settlement(
        &self,
        t: &Value,
        currency: &str,
        statement_time: Option<i64>,
    ) -> Result<Settlement, Error> {
        let m = |k: &str| money_from_str(s(t, k), currency);
        let settlement_amount = m("settlement_amount")?;
        let mut lines = vec![FeeLine {
            fee_type: FeeType::ItemRevenue,
            raw_type: "revenue_amount".into(),
            amount: m("revenue_amount")?,
        }];
        let fee_total = m("fee_amount")?;
        let mut itemised = 0;
        for (k, fee_type) in [
            ("platform_commission_amount", FeeType::Commission),
            ("referral_fee_amount", FeeType::Commission),
            ("affiliate_commission_amount", FeeType::Commission),
            ("transaction_fee_amount", FeeType::TransactionFee),
            ("shipping_fee_amount", FeeType::Shipping),
        ] {
            let a = m(k)?;
            if a.minor != 0 {
                itemised += a.minor;
                lines.push(FeeLine {
                    fee_type,
                    raw_type: k.into(),
                    amount: a,
                });
            }
        }
        if fee_total.minor != itemised {
            lines.push(FeeLine {
                fee_type: FeeType::ServiceFee,
                raw_type: "fee_amount (not itemised)".into(),
                amount: Money {
                    minor: fee_total.minor - itemised,
                    ..fee_total
                },
            });
        }
        let adj = m("adjustment_amount")?;
        if adj.minor != 0 {
            lines.push(FeeLine {
                fee_type: FeeType::Adjustment,
                raw_type: "adjustment_amount".into(),
                amount: adj,
            });
        }
        lines.retain(|l| l.amount.minor != 0);
        let order_id = s(t, "order_id");
        Ok(Settlement {
            external_order_id: Some(order_id.to_owned()).filter(|x| !x.is_empty()),
            reference: s(t, "id").to_owned(),
            settlement_amount,
            lines,
            settled_at: statement_time,
        })
    }

    /// Follows `next_page_token` to the end, collecting `data[key]`.
    async fn all_pages(
        &self,
        store: &StoreContext,
        method: reqwest::Method,
        path: &str,
        mut query: Vec<(&'static str, String)>,
        body: Option<Value>,
        key: &str,
    ) -> Result<Vec<Value>, Error> {
        let mut out = Vec::new();
        let mut token = String::new();
        let base_len = query.len();
        loop {
            query.truncate(base_len);
            if !token.is_empty() {
                query.push(("page_token", token.clone()));
            }
            let data = self
                .call(store, method.clone(), path, query.clone(), body.clone())
                .await?;
            out.extend(
                data.get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
            let next = s(&data, "next_page_token");
            if next.is_empty() || next == token {
                return Ok(out);
            }
            token = next.to_owned();
        }
    }
}

#[async_trait::async_trait]
impl Connector for Tiktok {
    fn platform(&self) -> Platform {
        Platform::TiktokShop
    }

    /// The authorization link `{auth}/oauth/authorize?app_key=…&state=…` (the form EcomPHP uses;
    /// the newer services link needs a service id and behaves the same).
    fn authorize_url(&self, state: &str, _redirect_uri: &str) -> Result<String, Error> {
        let mut url = url::Url::parse(&format!("{}/oauth/authorize", self.app.endpoints.auth))
            .map_err(|e| Error::InvalidInput(format!("bad TikTok auth URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("app_key", &self.app.app_key)
            .append_pair("state", state);
        Ok(url.to_string())
    }

    /// `GET /api/v2/token/get` (unsigned; app_secret in the query), then the shop's cipher from
    /// `GET /authorization/202309/shops` (signed, without `shop_cipher`).
    async fn exchange_code(
        &self,
        callback: &AuthCallback,
        _redirect_uri: &str,
    ) -> Result<Grant, Error> {
        let (tokens, data) = self
            .token(
                "/api/v2/token/get",
                ("auth_code", &callback.code),
                "authorized_code",
            )
            .await?;
        let shops = self
            .signed(
                reqwest::Method::GET,
                "/authorization/202309/shops",
                &[],
                None,
                &tokens.access_token,
                None,
            )
            .await?;
        let shop = shops
            .get("shops")
            .and_then(Value::as_array)
            .and_then(|l| l.first())
            .ok_or_else(|| Error::Decode("the authorization lists no shop".into()))?;
        Ok(Grant {
            shop: ShopIdentity::Tiktok {
                shop_id: s(shop, "id").to_owned(),
                cipher: s(shop, "cipher").to_owned(),
                region: s(shop, "region").to_owned(),
            },
            shop_name: Some(s(shop, "name").to_owned())
                .filter(|x| !x.is_empty())
                .or_else(|| Some(s(&data, "seller_name").to_owned())),
            tokens,
        })
    }

    /// `GET /api/v2/token/refresh`: expiries are absolute timestamps.
    async fn refresh(&self, _shop: &ShopIdentity, tokens: &TokenSet) -> Result<TokenSet, Error> {
        Ok(self
            .token(
                "/api/v2/token/refresh",
                ("refresh_token", &tokens.refresh_token),
                "refresh_token",
            )
            .await?
            .0)
    }

    /// `POST /order/202309/orders/search` by update time, `page_token` paging of 100.
    async fn list_orders(
        &self,
        store: &StoreContext,
        window: Window,
    ) -> Result<Vec<OrderRef>, Error> {
        let orders = self
            .all_pages(
                store,
                reqwest::Method::POST,
                "/order/202309/orders/search",
                vec![
                    ("page_size", PAGE_SIZE.to_string()),
                    ("sort_field", "update_time".into()),
                    ("sort_order", "ASC".into()),
                ],
                Some(json!({"update_time_ge": window.from, "update_time_lt": window.to})),
                "orders",
            )
            .await?;
        Ok(dedupe_refs(
            orders
                .iter()
                .map(|o| OrderRef {
                    external_id: s(o, "id").to_owned(),
                    update_time: int(o, "update_time"),
                })
                .filter(|r| !r.external_id.is_empty())
                .collect(),
        ))
    }

    /// `GET /order/202309/orders?ids=` (≤ 50); one line per unit grouped by SKU and price.
    async fn order_details(
        &self,
        store: &StoreContext,
        ids: &[String],
    ) -> Result<Vec<Order>, Error> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in batches(ids, DETAIL_BATCH) {
            let data = self
                .call(
                    store,
                    reqwest::Method::GET,
                    "/order/202309/orders",
                    vec![("ids", chunk.join(","))],
                    None,
                )
                .await?;
            for o in data
                .get("orders")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(self.order(o)?);
            }
        }
        Ok(out)
    }

    /// `POST /product/202309/products/search` (all statuses).
    async fn list_products(&self, store: &StoreContext) -> Result<Vec<Product>, Error> {
        let products = self
            .all_pages(
                store,
                reqwest::Method::POST,
                "/product/202309/products/search",
                vec![("page_size", PAGE_SIZE.to_string())],
                Some(json!({"status": "ALL"})),
                "products",
            )
            .await?;
        let mut out = Vec::with_capacity(products.len());
        for p in &products {
            let mut skus = Vec::new();
            for k in p
                .get("skus")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let price = k.get("price").cloned().unwrap_or(Value::Null);
                let cur = s(&price, "currency");
                skus.push(Sku {
                    external_id: s(k, "id").to_owned(),
                    seller_sku: Some(s(k, "seller_sku").to_owned()).filter(|x| !x.is_empty()),
                    price: if cur.is_empty() {
                        None
                    } else {
                        Some(money_from_str(s(&price, "sale_price"), cur)?)
                    },
                    stock: k.get("inventory").and_then(Value::as_array).map(|inv| {
                        inv.iter()
                            .filter_map(|w| w.get("quantity").and_then(Value::as_i64))
                            .sum()
                    }),
                    location: k
                        .pointer("/inventory/0/warehouse_id")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                });
            }
            out.push(Product {
                external_id: s(p, "id").to_owned(),
                name: s(p, "title").to_owned(),
                raw_status: s(p, "status").to_owned(),
                skus,
            });
        }
        Ok(out)
    }

    /// `POST /product/202309/products/{id}/inventory/update`, per product; quantity 0..99,999; each
    /// update names its warehouse.
    fn stock_batches(&self, updates: &[StockUpdate]) -> Vec<Vec<StockUpdate>> {
        crate::model::stock_groups(updates, true, STOCK_BATCH)
    }

    async fn update_stock(
        &self,
        store: &StoreContext,
        updates: &[StockUpdate],
    ) -> Result<Vec<StockOutcome>, Error> {
        let mut by_product: Vec<(&str, Vec<&StockUpdate>)> = Vec::new();
        for u in updates {
            if !(0..=MAX_QUANTITY).contains(&u.quantity) {
                return Err(Error::InvalidInput(format!(
                    "TikTok quantity must be within 0..{MAX_QUANTITY}, got {} for SKU {}",
                    u.quantity, u.external_sku_id
                )));
            }
            if u.location.is_none() {
                return Err(Error::InvalidInput(format!(
                    "TikTok inventory updates name the warehouse; SKU {} has none",
                    u.external_sku_id
                )));
            }
            match by_product
                .iter_mut()
                .find(|(p, _)| *p == u.external_item_id)
            {
                Some((_, v)) => v.push(u),
                None => by_product.push((&u.external_item_id, vec![u])),
            }
        }
        let mut out = Vec::with_capacity(updates.len());
        for (product, list) in by_product {
            let path = format!("/product/202309/products/{product}/inventory/update");
            for chunk in batches(&list, STOCK_BATCH) {
                let skus: Vec<Value> = chunk
                    .iter()
                    .map(|u| {
                        json!({"id": u.external_sku_id, "inventory": [{"warehouse_id": u.location, "quantity": u.quantity}]})
                    })
                    .collect();
                let data = self
                    .call(
                        store,
                        reqwest::Method::POST,
                        &path,
                        vec![],
                        Some(json!({"skus": skus})),
                    )
                    .await?;
                let failed: Vec<(String, String)> = data
                    .get("errors")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|e| {
                        (
                            e.pointer("/detail/sku_id")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_owned(),
                            s(e, "message").to_owned(),
                        )
                    })
                    .collect();
                for u in chunk {
                    out.push(StockOutcome {
                        external_sku_id: u.external_sku_id.clone(),
                        error: failed
                            .iter()
                            .find(|(k, _)| *k == u.external_sku_id)
                            .map(|(_, m)| m.clone()),
                    });
                }
            }
        }
        Ok(out)
    }

    /// `POST /return_refund/202309/returns/search` by update time (no due date is documented).
    async fn list_returns(
        &self,
        store: &StoreContext,
        window: Window,
    ) -> Result<Vec<Return>, Error> {
        let list = self
            .all_pages(
                store,
                reqwest::Method::POST,
                "/return_refund/202309/returns/search",
                vec![("page_size", RETURN_PAGE_SIZE.to_string())],
                Some(json!({"update_time_ge": window.from, "update_time_lt": window.to})),
                "return_orders",
            )
            .await?;
        let mut out: Vec<Return> = Vec::with_capacity(list.len());
        for r in &list {
            let id = s(r, "return_id").to_owned();
            if out.iter().any(|x| x.external_id == id) {
                continue;
            }
            let refund = r.get("refund_amount").cloned().unwrap_or(Value::Null);
            let cur = s(&refund, "currency");
            let mut lines: Vec<(String, u32)> = Vec::new();
            for li in r
                .get("return_line_items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let sku = s(li, "sku_id").to_owned();
                match lines.iter_mut().find(|(k, _)| *k == sku) {
                    Some((_, q)) => *q += 1,
                    None => lines.push((sku, 1)),
                }
            }
            out.push(Return {
                external_id: id,
                external_order_id: s(r, "order_id").to_owned(),
                raw_status: s(r, "return_status").to_owned(),
                reason: Some(s(r, "return_reason_text").to_owned()).filter(|x| !x.is_empty()),
                refund: if cur.is_empty() {
                    None
                } else {
                    Some(money_from_str(s(&refund, "refund_total"), cur)?)
                },
                lines,
                create_time: int(r, "create_time").unwrap_or(0),
                update_time: int(r, "update_time").unwrap_or(0),
                due_at: None,
            });
        }
        Ok(out)
    }

    /// Statements in the window, then each statement's transactions (one settlement per order).
    async fn settlements(
        &self,
        store: &StoreContext,
        window: Window,
    ) -> Result<Vec<Settlement>, Error> {
        let statements = self
            .all_pages(
                store,
                reqwest::Method::GET,
                "/finance/202309/statements",
                vec![
                    ("sort_field", "statement_time".into()),
                    ("statement_time_ge", window.from.to_string()),
                    ("statement_time_lt", window.to.to_string()),
                    ("page_size", PAGE_SIZE.to_string()),
                ],
                None,
                "statements",
            )
            .await?;
        let mut out = Vec::new();
        for st in &statements {
            let currency = s(st, "currency");
            let path = format!(
                "/finance/202309/statements/{}/statement_transactions",
                s(st, "id")
            );
            let txs = self
                .all_pages(
                    store,
                    reqwest::Method::GET,
                    &path,
                    vec![
                        ("sort_field", "order_create_time".into()),
                        ("page_size", PAGE_SIZE.to_string()),
                    ],
                    None,
                    "statement_transactions",
                )
                .await?;
            for t in &txs {
                out.push(self.settlement(t, currency, int(st, "statement_time"))?);
            }
        }
        Ok(out)
    }

    /// `GET /finance/202309/payments` by create time.
    async fn payouts(&self, store: &StoreContext, window: Window) -> Result<Vec<Payout>, Error> {
        let payments = self
            .all_pages(
                store,
                reqwest::Method::GET,
                "/finance/202309/payments",
                vec![
                    ("sort_field", "create_time".into()),
                    ("create_time_ge", window.from.to_string()),
                    ("create_time_lt", window.to.to_string()),
                    ("page_size", PAGE_SIZE.to_string()),
                ],
                None,
                "payments",
            )
            .await?;
        payments
            .iter()
            .map(|p| {
                let amount = p.get("amount").cloned().unwrap_or(Value::Null);
                Ok(Payout {
                    external_id: s(p, "id").to_owned(),
                    amount: money_from_str(s(&amount, "value"), s(&amount, "currency"))?,
                    paid_at: int(p, "paid_time").filter(|t| *t > 0),
                    raw_status: s(p, "status").to_owned(),
                })
            })
            .collect()
    }
}
