//! Jumia Vendor Center API (`marketplaces.md` §4.1). No request signing: `Authorization: Bearer`
//! with a Keycloak access token; `POST /token` with a refresh token that **rotates on every use**.
//! Token paging (`token` → `nextToken`, `isLastPage`); money as `{currency, value}`; stock updates
//! are asynchronous feeds. Throttled at 4 requests/s and 200/min per master shop (HTTP 429 +
//! `Retry-After`).
//!
//! Not offered because Jumia documents no API for them (see the README): the authorization-code
//! redirect (Jumia's "Self Authorization" app hands the seller a refresh token, which
//! [`Connector::exchange_code`] takes as the code), returns, and per-order fee lines.

use crate::client::{Raw, batches, dedupe_refs, json, money_from_str, send};
use crate::error::{Error, classify_jumia};
use crate::model::*;
use crate::status::{self, UnitLine, group_units};
use crate::tokens::TokenSet;
use crate::{Connector, Endpoints, Money, Platform, StoreContext};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::time::Duration;

/// Page size for orders and products (1..100).
pub const PAGE_SIZE: u32 = 100;
/// Products per stock feed (about 1000).
pub const FEED_BATCH: usize = 1000;

/// A Jumia Vendor API application.
#[derive(Clone, Debug)]
pub struct JumiaApp {
    /// The application's client id.
    pub client_id: String,
    /// `api` = `https://vendor-api.jumia.com` (token endpoint on the same host).
    pub endpoints: Endpoints,
    /// How often to poll a stock feed, and how many times.
    pub feed_poll: (Duration, u32),
}

crate::client::connector_type!(
    /// The Jumia connector.
    Jumia,
    JumiaApp
);

fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn iso(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_time(t: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(t).ok().map(|d| d.timestamp())
}

fn amount(v: &Value) -> Result<Option<Money>, Error> {
    let cur = s(v, "currency");
    if cur.is_empty() {
        return Ok(None);
    }
    money_from_str(&s(v, "value"), &cur).map(Some)
}

fn shop_of(shop: &ShopIdentity) -> Result<&str, Error> {
    match shop {
        ShopIdentity::Jumia { shop_id } => Ok(shop_id),
        other => Err(Error::InvalidInput(format!("not a Jumia shop: {other:?}"))),
    }
}

impl Jumia {
    fn check(raw: &Raw) -> Result<Value, Error> {
        if raw.status >= 400 {
            let v: Value = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
            let oauth = v.get("error").and_then(Value::as_str);
            let message = ["error_description", "message", "error"]
                .iter()
                .map(|k| s(&v, k))
                .find(|m| !m.is_empty())
                .unwrap_or_else(|| format!("HTTP {}", raw.status));
            return Err(classify_jumia(raw.status, oauth, &message, raw.retry_after));
        }
        json(raw)
    }

    async fn token(&self, refresh_token: &str) -> Result<TokenSet, Error> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("client_id", &self.app.client_id)
            .append_pair("refresh_token", refresh_token)
            .finish();
        let raw = send(
            self.http
                .post(format!("{}/token", self.app.endpoints.auth))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await?;
        let v = Self::check(&raw)?;
        let expires = v.get("expires_in").and_then(Value::as_i64);
        let access = s(&v, "access_token");
        let (Some(expires), false) = (expires, access.is_empty()) else {
            return Err(Error::Decode(
                "Jumia token response without access_token/expires_in".into(),
            ));
        };
        Ok(TokenSet::jumia(
            access,
            expires,
            s(&v, "refresh_token"),
            v.get("refresh_expires_in").and_then(Value::as_i64),
            self.clock.now(),
        ))
    }

    async fn bearer(
        &self,
        method: reqwest::Method,
        path: &str,
        access_token: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let mut url = url::Url::parse(&format!("{}{path}", self.app.endpoints.api))
            .map_err(|e| Error::InvalidInput(format!("bad Jumia base URL: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut req = self.http.request(method, url).bearer_auth(access_token);
        if let Some(b) = body {
            req = req.json(b);
        }
        Self::check(&send(req).await?)
    }

    async fn call(
        &self,
        store: &StoreContext,
        method: reqwest::Method,
        path: &str,
        query: Vec<(&'static str, String)>,
        body: Option<Value>,
    ) -> Result<Value, Error> {
        let (query, body, method) = (&query, body.as_ref(), &method);
        store
            .call(
                Platform::Jumia,
                path,
                self.clock.as_ref(),
                |t: TokenSet| async move { self.refresh(&store.shop, &t).await },
                |t: TokenSet| async move {
                    self.bearer(method.clone(), path, &t.access_token, query, body)
                        .await
                },
            )
            .await
    }

    /// Follows `nextToken` until `isLastPage`.
    async fn all_pages(
        &self,
        store: &StoreContext,
        path: &str,
        mut query: Vec<(&'static str, String)>,
        key: &str,
    ) -> Result<Vec<Value>, Error> {
        let mut out = Vec::new();
        let base = query.len();
        let mut token = String::new();
        loop {
            query.truncate(base);
            if !token.is_empty() {
                query.push(("token", token.clone()));
            }
            let v = self
                .call(store, reqwest::Method::GET, path, query.clone(), None)
                .await?;
            out.extend(
                v.get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
            let next = s(&v, "nextToken");
            if v.get("isLastPage").and_then(Value::as_bool).unwrap_or(true)
                || next.is_empty()
                || next == token
            {
                return Ok(out);
            }
            token = next;
        }
    }

    fn order(&self, header: &Value, items: &[Value]) -> Result<Order, Error> {
        let total = amount(header.get("totalAmount").unwrap_or(&Value::Null))?
            .ok_or_else(|| Error::Decode("Jumia order without totalAmount".into()))?;
        let currency = total.currency_code().to_owned();
        let mut units = Vec::new();
        let mut names: Vec<(String, String)> = Vec::new();
        let mut statuses: Vec<String> = Vec::new();
        for i in items {
            let product = i.get("product").cloned().unwrap_or(Value::Null);
            let sku = s(&product, "sellerSku");
            let price = amount(i.get("paidPrice").unwrap_or(&Value::Null))?.map_or(0, |m| m.minor);
            if !names.iter().any(|(k, _)| *k == sku) {
                names.push((sku.clone(), s(&product, "name")));
            }
            let st = s(i, "status");
            if !statuses.contains(&st) {
                statuses.push(st);
            }
            units.push(UnitLine {
                line_id: s(i, "id"),
                sku_id: sku.clone(),
                seller_sku: Some(sku).filter(|x| !x.is_empty()),
                unit_price_minor: price,
            });
        }
        let zero = Money::parse("0", &currency).map_err(|e| Error::Decode(e.to_string()))?;
        let raw_status = s(header, "status");
        Ok(Order {
            external_id: s(header, "id"),
            status: status::jumia(&raw_status),
            raw_status,
            buyer: Buyer {
                name: header
                    .pointer("/shippingAddress/firstName")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                external_id: None,
                phone: None,
                city: header
                    .pointer("/shippingAddress/city")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            },
            total,
            shipping_fee: None,
            lines: group_units(&units)
                .into_iter()
                .map(|g| OrderLine {
                    external_item_id: g.sku_id.clone(),
                    name: names
                        .iter()
                        .find(|(k, _)| *k == g.sku_id)
                        .map(|(_, n)| n.clone())
                        .unwrap_or_default(),
                    external_sku_id: g.sku_id,
                    seller_sku: g.seller_sku,
                    quantity: g.quantity,
                    unit_price: Money {
                        minor: g.unit_price_minor,
                        ..zero
                    },
                    external_line_ids: g.line_ids,
                })
                .collect(),
            create_time: parse_time(&s(header, "createdAt")).unwrap_or(0),
            update_time: parse_time(&s(header, "updatedAt")).unwrap_or(0),
            ship_by: None,
            // Jumia states the total only.
            terms: OrderTerms::default(),
        })
    }
}

#[async_trait::async_trait]
impl Connector for Jumia {
    fn platform(&self) -> Platform {
        Platform::Jumia
    }

    /// Jumia documents no authorization-code redirect for Vendor API apps (UNCONFIRMED); sellers
    /// create a "Self Authorization" app and paste its refresh token.
    fn authorize_url(&self, _state: &str, _redirect_uri: &str) -> Result<String, Error> {
        Err(Error::Unsupported(
            "Jumia has no documented authorization link; connect with the refresh token of a Self Authorization app".into(),
        ))
    }

    /// The `code` is the seller's Self Authorization refresh token: it is exchanged (and rotated)
    /// at `POST /token`, then `GET /shops` names the master shop.
    async fn exchange_code(
        &self,
        callback: &AuthCallback,
        _redirect_uri: &str,
    ) -> Result<Grant, Error> {
        let tokens = self.token(&callback.code).await?;
        let shops = self
            .bearer(
                reqwest::Method::GET,
                "/shops",
                &tokens.access_token,
                &[],
                None,
            )
            .await?;
        let shop = shops
            .get("shops")
            .and_then(Value::as_array)
            .and_then(|l| l.first())
            .cloned()
            .ok_or_else(|| Error::Decode("Jumia lists no shop for this account".into()))?;
        Ok(Grant {
            tokens,
            shop: ShopIdentity::Jumia {
                shop_id: s(&shop, "id"),
            },
            shop_name: Some(s(&shop, "name")).filter(|x| !x.is_empty()),
        })
    }

    /// `POST /token` (form): the refresh token rotates, the old one dies.
    async fn refresh(&self, _shop: &ShopIdentity, tokens: &TokenSet) -> Result<TokenSet, Error> {
        self.token(&tokens.refresh_token).await
    }

    /// `GET /orders` by update time, token paging.
    async fn list_orders(
        &self,
        store: &StoreContext,
        window: Window,
    ) -> Result<Vec<OrderRef>, Error> {
        let shop = shop_of(&store.shop)?.to_owned();
        let orders = self
            .all_pages(
                store,
                "/orders",
                vec![
                    ("shopId", shop),
                    ("updatedAfter", iso(window.from)),
                    ("updatedBefore", iso(window.to)),
                    ("size", PAGE_SIZE.to_string()),
                ],
                "orders",
            )
            .await?;
        Ok(dedupe_refs(
            orders
                .iter()
                .map(|o| OrderRef {
                    external_id: s(o, "id"),
                    update_time: parse_time(&s(o, "updatedAt")),
                })
                .collect(),
        ))
    }

    /// `GET /orders/{id}` (path UNCONFIRMED) and `GET /orders/items?orderId=`; item rows are
    /// grouped by seller SKU.
    async fn order_details(
        &self,
        store: &StoreContext,
        ids: &[String],
    ) -> Result<Vec<Order>, Error> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let header = self
                .call(
                    store,
                    reqwest::Method::GET,
                    &format!("/orders/{id}"),
                    vec![],
                    None,
                )
                .await?;
            let items = self
                .call(
                    store,
                    reqwest::Method::GET,
                    "/orders/items",
                    vec![("orderId", id.clone())],
                    None,
                )
                .await?;
            let items = items
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            out.push(self.order(&header, &items)?);
        }
        Ok(out)
    }

    /// `GET /catalog/products` and `GET /catalog/stock` (token paging), joined on seller SKU.
    async fn list_products(&self, store: &StoreContext) -> Result<Vec<Product>, Error> {
        let products = self
            .all_pages(
                store,
                "/catalog/products",
                vec![("size", PAGE_SIZE.to_string())],
                "products",
            )
            .await?;
        let stock = self
            .all_pages(
                store,
                "/catalog/stock",
                vec![("size", PAGE_SIZE.to_string())],
                "products",
            )
            .await?;
        let mut out = Vec::with_capacity(products.len());
        for p in &products {
            let sku = s(p, "sellerSku");
            out.push(Product {
                external_id: s(p, "id"),
                name: s(p, "name"),
                raw_status: s(p, "status"),
                skus: vec![Sku {
                    external_id: s(p, "id"),
                    price: amount(p.get("price").unwrap_or(&Value::Null))?,
                    stock: stock
                        .iter()
                        .find(|x| s(x, "sellerSku") == sku)
                        .and_then(|x| x.get("globalStock").and_then(Value::as_i64)),
                    seller_sku: Some(sku).filter(|x| !x.is_empty()),
                    location: None,
                }],
            });
        }
        Ok(out)
    }

    /// `POST /feeds/products/stock` (≤ 1000 per feed), then polls `GET /feeds/{id}` until it is
    /// COMPLETED or FAILED.
    fn stock_batches(&self, updates: &[StockUpdate]) -> Vec<Vec<StockUpdate>> {
        crate::model::stock_groups(updates, false, FEED_BATCH)
    }

    async fn update_stock(
        &self,
        store: &StoreContext,
        updates: &[StockUpdate],
    ) -> Result<Vec<StockOutcome>, Error> {
        let mut out = Vec::with_capacity(updates.len());
        for chunk in batches(updates, FEED_BATCH) {
            let mut products = Vec::with_capacity(chunk.len());
            for u in chunk {
                if u.quantity < 0 {
                    return Err(Error::InvalidInput(format!(
                        "negative stock for {}",
                        u.external_sku_id
                    )));
                }
                let Some(sku) = &u.seller_sku else {
                    return Err(Error::InvalidInput(format!(
                        "Jumia stock feeds need the seller SKU of product {}",
                        u.external_sku_id
                    )));
                };
                products
                    .push(json!({"sellerSku": sku, "id": u.external_sku_id, "stock": u.quantity}));
            }
            let feed = self
                .call(
                    store,
                    reqwest::Method::POST,
                    "/feeds/products/stock",
                    vec![],
                    Some(json!({"products": products})),
                )
                .await?;
            let feed_id = s(&feed, "feedId");
            if feed_id.is_empty() {
                return Err(Error::Decode("Jumia feed response without feedId".into()));
            }
            let (every, times) = self.app.feed_poll;
            let mut status = String::new();
            for _ in 0..times {
                let f = self
                    .call(
                        store,
                        reqwest::Method::GET,
                        &format!("/feeds/{feed_id}"),
                        vec![],
                        None,
                    )
                    .await?;
                status = s(&f, "status");
                if status == "COMPLETED" || status == "FAILED" {
                    break;
                }
                tokio::time::sleep(every).await;
            }
            let error = match status.as_str() {
                "COMPLETED" => None,
                "FAILED" => Some(format!("feed {feed_id} failed")),
                other => {
                    return Err(Error::Transient(format!(
                        "feed {feed_id} still {other} after polling; check it later"
                    )));
                }
            };
            out.extend(chunk.iter().map(|u| StockOutcome {
                external_sku_id: u.external_sku_id.clone(),
                error: error.clone(),
            }));
        }
        Ok(out)
    }

    /// No returns API is documented for the Vendor API.
    async fn list_returns(
        &self,
        _store: &StoreContext,
        _window: Window,
    ) -> Result<Vec<Return>, Error> {
        Err(Error::Unsupported(
            "Jumia documents no returns API; returns come from Vendor Center exports".into(),
        ))
    }

    /// The payout statement's fee fields are not documented (UNCONFIRMED), so there are no fee lines.
    async fn settlements(
        &self,
        _store: &StoreContext,
        _window: Window,
    ) -> Result<Vec<Settlement>, Error> {
        Err(Error::Unsupported(
            "Jumia's payout statement fields are undocumented; no fee lines".into(),
        ))
    }

    /// `GET /payout-statement` (page paging); field names UNCONFIRMED.
    async fn payouts(&self, store: &StoreContext, window: Window) -> Result<Vec<Payout>, Error> {
        let mut out = Vec::new();
        let mut page = 1u32;
        loop {
            let v = self
                .call(
                    store,
                    reqwest::Method::GET,
                    "/payout-statement",
                    vec![
                        ("createdAfter", iso(window.from)),
                        ("page", page.to_string()),
                        ("size", PAGE_SIZE.to_string()),
                    ],
                    None,
                )
                .await?;
            for st in v
                .get("statements")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let created = parse_time(&s(st, "createdAt")).unwrap_or(0);
                if created >= window.to {
                    continue;
                }
                let Some(amount) = amount(st.get("totalPayout").unwrap_or(&Value::Null))? else {
                    continue;
                };
                let paid = st.get("paid").and_then(Value::as_bool).unwrap_or(false);
                out.push(Payout {
                    external_id: s(st, "statementNumber"),
                    amount,
                    paid_at: paid.then_some(created),
                    raw_status: if paid { "PAID".into() } else { "UNPAID".into() },
                });
            }
            let total = v
                .pointer("/page/totalOfPages")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            if u64::from(page) >= total {
                return Ok(out);
            }
            page += 1;
        }
    }
}
