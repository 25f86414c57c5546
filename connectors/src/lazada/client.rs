//! The Lazada Open Platform client (`marketplaces.md` §3). Every parameter (system, business and
//! POST form fields) is signed; the API path is appended to the country host's `/rest`; envelope
//! `{code: "0", data}` or `{type, code, message}`.

use super::normalize::fee_type;
use super::sign;
use crate::client::{Raw, batches, dedupe_refs, json, money_from_str, paged_windows, send};
use crate::error::{Error, classify_lazada};
use crate::model::*;
use crate::tokens::TokenSet;
use crate::{Connector, Endpoints, Money, Platform, StoreContext};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// `/orders/get` page size (max 100).
pub const PAGE_SIZE: u32 = 100;
/// `/orders/get` refuses offsets beyond 5000: move the window start instead.
pub const MAX_OFFSET: u32 = 5000;
/// `/products/get` page size (max 50).
pub const PRODUCT_PAGE_SIZE: u32 = 50;
/// `/orders/items/get` ids per call.
pub const DETAIL_BATCH: usize = 50;
/// SKUs per stock update (max 50, 20 recommended).
pub const STOCK_BATCH: usize = 20;
/// Transaction rows per page (≤ 500).
pub const FINANCE_PAGE_SIZE: u32 = 500;

/// A Lazada app.
#[derive(Clone)]
pub struct LazadaApp {
    /// `app_key`.
    pub app_key: String,
    /// `app_secret`.
    pub app_secret: String,
    /// `api` = `https://api.lazada.com.my/rest` (the seller's country host), `auth` =
    /// `https://auth.lazada.com/rest`; the authorize page is `auth` without `/rest`.
    pub endpoints: Endpoints,
}

impl std::fmt::Debug for LazadaApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazadaApp")
            .field("app_key", &self.app_key)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// The currency of a Lazada country.
pub fn country_currency(country: &str) -> Option<&'static str> {
    Some(match country.to_ascii_lowercase().as_str() {
        "sg" => "SGD",
        "my" => "MYR",
        "th" => "THB",
        "vn" => "VND",
        "ph" => "PHP",
        "id" => "IDR",
        _ => return None,
    })
}

crate::client::connector_type!(
    /// The Lazada connector.
    Lazada,
    LazadaApp
);

pub(super) fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn country_of(shop: &ShopIdentity) -> Result<&str, Error> {
    match shop {
        ShopIdentity::Lazada { country, .. } => Ok(country),
        other => Err(Error::InvalidInput(format!("not a Lazada shop: {other:?}"))),
    }
}

fn currency_of(shop: &ShopIdentity) -> Result<&'static str, Error> {
    let c = country_of(shop)?;
    country_currency(c)
        .ok_or_else(|| Error::InvalidInput(format!("no currency known for Lazada country {c}")))
}

fn iso(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

pub(super) fn parse_time(t: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(t)
        .or_else(|_| DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S %z"))
        .ok()
        .map(|d| d.timestamp())
}

fn xml_escape(v: &str) -> String {
    quick_xml::escape::escape(v).into_owned()
}

impl Lazada {
    fn envelope(raw: &Raw) -> Result<Value, Error> {
        let parsed: Result<Value, Error> = json(raw);
        let v = match parsed {
            Ok(v) => v,
            Err(_) if raw.status >= 500 => {
                return Err(classify_lazada(
                    raw.status,
                    "",
                    &format!("HTTP {}", raw.status),
                ));
            }
            Err(e) => return Err(e),
        };
        let code = s(&v, "code");
        if code != "0" {
            let message = s(&v, "message");
            return Err(classify_lazada(raw.status, &code, &message));
        }
        Ok(v)
    }

    /// One signed request: system parameters and `params` in the query (GET) or `form` in the
    /// body (POST), all of them signed.
    async fn signed(
        &self,
        base: &str,
        path: &str,
        access_token: Option<&str>,
        params: &[(&str, String)],
        form: Option<&[(&str, String)]>,
    ) -> Result<Value, Error> {
        let ts = self.clock.now_ms().to_string();
        let mut all: Vec<(&str, &str)> = vec![
            ("app_key", &self.app.app_key),
            ("timestamp", &ts),
            ("sign_method", "sha256"),
        ];
        if let Some(t) = access_token {
            all.push(("access_token", t));
        }
        all.extend(params.iter().map(|(k, v)| (*k, v.as_str())));
        let mut signed_params = all.clone();
        if let Some(f) = form {
            signed_params.extend(f.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let signature = sign(&self.app.app_secret, path, &signed_params, None);
        let mut url = url::Url::parse(&format!("{base}{path}"))
            .map_err(|e| Error::InvalidInput(format!("bad Lazada base URL: {e}")))?;
        url.query_pairs_mut()
            .extend_pairs(all.iter().copied())
            .append_pair("sign", &signature);
        let req = match form {
            None => self.http.get(url),
            Some(f) => {
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(f.iter().map(|(k, v)| (*k, v.as_str())))
                    .finish();
                self.http
                    .post(url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
            }
        };
        Self::envelope(&send(req).await?)
    }

    async fn call(
        &self,
        store: &StoreContext,
        path: &str,
        params: Vec<(&'static str, String)>,
        form: Option<Vec<(&'static str, String)>>,
    ) -> Result<Value, Error> {
        let (params, form) = (&params, form.as_deref());
        store
            .call(
                Platform::Lazada,
                path,
                self.clock.as_ref(),
                |t: TokenSet| async move { self.refresh(&store.shop, &t).await },
                |t: TokenSet| async move {
                    self.signed(
                        &self.app.endpoints.api,
                        path,
                        Some(&t.access_token),
                        params,
                        form,
                    )
                    .await
                },
            )
            .await
    }

    fn grant_from(
        &self,
        v: &Value,
        previous: Option<&TokenSet>,
    ) -> Result<(TokenSet, ShopIdentity), Error> {
        let now = self.clock.now();
        let num = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_i64().or_else(|| x.as_str()?.parse().ok()))
        };
        let (Some(expires_in), Some(refresh_in)) = (num("expires_in"), num("refresh_expires_in"))
        else {
            return Err(Error::Decode(
                "Lazada token response without lifetimes".into(),
            ));
        };
        let access = s(v, "access_token");
        let refresh = s(v, "refresh_token");
        if access.is_empty() {
            return Err(Error::Decode(
                "Lazada token response without access_token".into(),
            ));
        }
        let tokens = match previous {
            Some(p) => p.lazada_refreshed(access, expires_in, refresh, refresh_in, now),
            None => TokenSet::lazada_created(access, expires_in, refresh, refresh_in, now),
        };
        // `country_user_info` on create, `country_user_info_list` on refresh.
        let info = v
            .get("country_user_info")
            .or_else(|| v.get("country_user_info_list"))
            .and_then(Value::as_array)
            .and_then(|l| l.first())
            .cloned()
            .unwrap_or(Value::Null);
        let shop = ShopIdentity::Lazada {
            seller_id: s(&info, "seller_id"),
            country: Some(s(&info, "country"))
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| s(v, "country")),
        };
        Ok((tokens, shop))
    }
}

#[async_trait::async_trait]
impl Connector for Lazada {
    fn platform(&self) -> Platform {
        Platform::Lazada
    }

    /// `https://auth.lazada.com/oauth/authorize?response_type=code&force_auth=true&redirect_uri=…&client_id=…&state=…`.
    fn authorize_url(&self, state: &str, redirect_uri: &str) -> Result<String, Error> {
        let root = self.app.endpoints.auth.trim_end_matches("/rest");
        let mut url = url::Url::parse(&format!("{root}/oauth/authorize"))
            .map_err(|e| Error::InvalidInput(format!("bad Lazada auth URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("force_auth", "true")
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("client_id", &self.app.app_key)
            .append_pair("state", state);
        Ok(url.to_string())
    }

    /// `/auth/token/create` (signed, on the auth host).
    async fn exchange_code(
        &self,
        callback: &AuthCallback,
        _redirect_uri: &str,
    ) -> Result<Grant, Error> {
        let v = self
            .signed(
                &self.app.endpoints.auth,
                "/auth/token/create",
                None,
                &[("code", callback.code.clone())],
                None,
            )
            .await?;
        let (tokens, shop) = self.grant_from(&v, None)?;
        Ok(Grant {
            tokens,
            shop,
            shop_name: Some(s(&v, "account")).filter(|x| !x.is_empty()),
        })
    }

    /// `/auth/token/refresh`: the access lifetime restarts, the refresh deadline does not.
    async fn refresh(&self, _shop: &ShopIdentity, tokens: &TokenSet) -> Result<TokenSet, Error> {
        let v = self
            .signed(
                &self.app.endpoints.auth,
                "/auth/token/refresh",
                None,
                &[("refresh_token", tokens.refresh_token.clone())],
                None,
            )
            .await?;
        Ok(self.grant_from(&v, Some(tokens))?.0)
    }

    /// `/orders/get` by update time, offset paging of 100; past offset 5000 the window start moves
    /// to the last update seen and the offset restarts.
    async fn list_orders(
        &self,
        store: &StoreContext,
        window: Window,
    ) -> Result<Vec<OrderRef>, Error> {
        let mut refs = Vec::new();
        let mut after = window.from;
        let mut offset = 0u32;
        loop {
            let data = self
                .call(
                    store,
                    "/orders/get",
                    vec![
                        ("update_after", iso(after)),
                        ("update_before", iso(window.to)),
                        ("sort_by", "updated_at".into()),
                        ("sort_direction", "ASC".into()),
                        ("limit", PAGE_SIZE.to_string()),
                        ("offset", offset.to_string()),
                    ],
                    None,
                )
                .await?;
            let data = data.get("data").cloned().unwrap_or(Value::Null);
            let orders = data
                .get("orders")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut last = after;
            for o in &orders {
                let updated = parse_time(&s(o, "updated_at"));
                if let Some(u) = updated {
                    last = last.max(u);
                }
                refs.push(OrderRef {
                    external_id: s(o, "order_id"),
                    update_time: updated,
                });
            }
            if orders.len() < PAGE_SIZE as usize {
                break;
            }
            offset += PAGE_SIZE;
            if offset >= MAX_OFFSET {
                if last <= after {
                    return Err(Error::Permanent {
                        code: "offset_limit".into(),
                        message: "more than 5000 orders share one update second".into(),
                    });
                }
                after = last;
                offset = 0;
            }
        }
        Ok(dedupe_refs(refs))
    }

    /// `/order/get` per order and `/orders/items/get` for 50 orders at a time; item rows are
    /// units and are grouped by SKU and paid price.
    async fn order_details(
        &self,
        store: &StoreContext,
        ids: &[String],
    ) -> Result<Vec<Order>, Error> {
        let currency = currency_of(&store.shop)?;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in batches(ids, DETAIL_BATCH) {
            let list = serde_json::to_string(chunk).unwrap_or_default();
            let items = self
                .call(store, "/orders/items/get", vec![("order_ids", list)], None)
                .await?;
            let items = items
                .get("data")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for id in chunk {
                let header = self
                    .call(store, "/order/get", vec![("order_id", id.clone())], None)
                    .await?;
                let header = header.get("data").cloned().unwrap_or(Value::Null);
                let lines: Vec<Value> = items
                    .iter()
                    .find(|e| s(e, "order_id") == *id)
                    .and_then(|e| e.get("order_items").and_then(Value::as_array).cloned())
                    .unwrap_or_default();
                out.push(self.order(&header, &lines, currency)?);
            }
        }
        Ok(out)
    }

    /// `/products/get` (filter all, offset paging of 50).
    async fn list_products(&self, store: &StoreContext) -> Result<Vec<Product>, Error> {
        let currency = currency_of(&store.shop)?;
        let mut out: Vec<Product> = Vec::new();
        let mut offset = 0u32;
        loop {
            let data = self
                .call(
                    store,
                    "/products/get",
                    vec![
                        ("filter", "all".into()),
                        ("limit", PRODUCT_PAGE_SIZE.to_string()),
                        ("offset", offset.to_string()),
                    ],
                    None,
                )
                .await?;
            let products = data
                .pointer("/data/products")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for p in &products {
                let id = s(p, "item_id");
                if out.iter().any(|x| x.external_id == id) {
                    continue;
                }
                let mut skus = Vec::new();
                for k in p
                    .get("skus")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let price = s(k, "special_price");
                    let price = if price.is_empty() || price == "0" {
                        s(k, "price")
                    } else {
                        price
                    };
                    skus.push(Sku {
                        external_id: s(k, "SkuId"),
                        seller_sku: Some(s(k, "SellerSku")).filter(|x| !x.is_empty()),
                        price: if price.is_empty() {
                            None
                        } else {
                            Some(money_from_str(&price, currency)?)
                        },
                        stock: k.get("quantity").and_then(Value::as_i64),
                        location: None,
                    });
                }
                out.push(Product {
                    external_id: id,
                    name: p
                        .pointer("/attributes/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    raw_status: s(p, "status"),
                    skus,
                });
            }
            if products.len() < PRODUCT_PAGE_SIZE as usize {
                break;
            }
            offset += PRODUCT_PAGE_SIZE;
        }
        Ok(out)
    }

    /// `POST /product/stock/sellable/update` with the XML `payload`, 20 SKUs per call.
    fn stock_batches(&self, updates: &[StockUpdate]) -> Vec<Vec<StockUpdate>> {
        crate::model::stock_groups(updates, false, STOCK_BATCH)
    }

    async fn update_stock(
        &self,
        store: &StoreContext,
        updates: &[StockUpdate],
    ) -> Result<Vec<StockOutcome>, Error> {
        let mut out = Vec::with_capacity(updates.len());
        for chunk in batches(updates, STOCK_BATCH) {
            let mut xml = String::from("<Request><Product><Skus>");
            for u in chunk {
                if u.quantity < 0 {
                    return Err(Error::InvalidInput(format!(
                        "negative stock for SKU {}",
                        u.external_sku_id
                    )));
                }
                xml.push_str("<Sku>");
                xml.push_str(&format!(
                    "<ItemId>{}</ItemId>",
                    xml_escape(&u.external_item_id)
                ));
                xml.push_str(&format!(
                    "<SkuId>{}</SkuId>",
                    xml_escape(&u.external_sku_id)
                ));
                if let Some(ss) = &u.seller_sku {
                    xml.push_str(&format!("<SellerSku>{}</SellerSku>", xml_escape(ss)));
                }
                match &u.location {
                    Some(w) => xml.push_str(&format!(
                        "<MultiWarehouseInventories><MultiWarehouseInventory><WarehouseCode>{}</WarehouseCode><SellableQuantity>{}</SellableQuantity></MultiWarehouseInventory></MultiWarehouseInventories>",
                        xml_escape(w),
                        u.quantity
                    )),
                    None => xml.push_str(&format!("<SellableQuantity>{}</SellableQuantity>", u.quantity)),
                }
                xml.push_str("</Sku>");
            }
            xml.push_str("</Skus></Product></Request>");
            let result = self
                .call(
                    store,
                    "/product/stock/sellable/update",
                    vec![],
                    Some(vec![("payload", xml)]),
                )
                .await;
            match result {
                Ok(_) => out.extend(chunk.iter().map(|u| StockOutcome {
                    external_sku_id: u.external_sku_id.clone(),
                    error: None,
                })),
                Err(Error::Permanent { code, message }) => {
                    out.extend(chunk.iter().map(|u| StockOutcome {
                        external_sku_id: u.external_sku_id.clone(),
                        error: Some(format!("{code}: {message}")),
                    }))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// `/reverse/getreverseordersforseller`, page_no paging. Refund amounts are in cents except
    /// in Vietnam (§3.8). The update-time filter names are UNCONFIRMED: results are filtered here
    /// by `update_time` as well.
    async fn list_returns(
        &self,
        store: &StoreContext,
        window: Window,
    ) -> Result<Vec<Return>, Error> {
        let currency = currency_of(&store.shop)?;
        let vietnam = currency == "VND";
        let mut out: Vec<Return> = Vec::new();
        let mut page = 1u32;
        loop {
            let data = self
                .call(
                    store,
                    "/reverse/getreverseordersforseller",
                    vec![
                        ("page_no", page.to_string()),
                        ("page_size", "50".into()),
                        ("update_time_start", (window.from * 1000).to_string()),
                        ("update_time_end", (window.to * 1000).to_string()),
                    ],
                    None,
                )
                .await?;
            let result = data.get("result").cloned().unwrap_or(Value::Null);
            let items = result
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for r in &items {
                let id = s(r, "reverse_order_id");
                if out.iter().any(|x| x.external_id == id) {
                    continue;
                }
                let mut refund = 0i64;
                let mut lines: Vec<(String, u32)> = Vec::new();
                let mut status = String::new();
                for l in r
                    .get("reverse_order_lines")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let cents = l.get("refund_amount").and_then(Value::as_i64).unwrap_or(0);
                    refund += cents;
                    status = s(l, "reverse_status");
                    let sku = s(l, "seller_sku_id");
                    match lines.iter_mut().find(|(k, _)| *k == sku) {
                        Some((_, q)) => *q += 1,
                        None => lines.push((sku, 1)),
                    }
                }
                let exp =
                    crate::money::exponent(currency).map_err(|e| Error::Decode(e.to_string()))?;
                let zero = Money::parse("0", currency).map_err(|e| Error::Decode(e.to_string()))?;
                let minor = if vietnam {
                    refund
                } else {
                    refund * 10i64.pow(exp) / 100
                };
                let ms = |k: &str| {
                    r.get(k)
                        .and_then(Value::as_i64)
                        .map(|v| v / 1000)
                        .unwrap_or(0)
                };
                out.push(Return {
                    external_id: id,
                    external_order_id: s(r, "trade_order_id"),
                    raw_status: status,
                    reason: r
                        .pointer("/reverse_order_lines/0/reason_text")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    refund: Some(Money { minor, ..zero }),
                    lines,
                    create_time: ms("create_time"),
                    update_time: ms("update_time"),
                    due_at: None,
                });
            }
            let total = result.get("total").and_then(Value::as_u64).unwrap_or(0);
            if items.is_empty() || u64::from(page) * 50 >= total {
                break;
            }
            page += 1;
        }
        out.retain(|r| r.update_time == 0 || (window.from..window.to).contains(&r.update_time));
        Ok(out)
    }

    /// `/finance/transaction/details/get` (≤ 180-day windows, 500 rows a page), grouped per order.
    async fn settlements(
        &self,
        store: &StoreContext,
        window: Window,
    ) -> Result<Vec<Settlement>, Error> {
        let currency = currency_of(&store.shop)?;
        let day = |t: i64| {
            DateTime::<Utc>::from_timestamp(t, 0)
                .unwrap_or_default()
                .format("%Y-%m-%d")
                .to_string()
        };
        let windows = crate::tokens::split_windows(window.from, window.to, 179 * 86_400);
        let rows = paged_windows(windows, 0u32, |from, to, offset: u32| async move {
            let data = self
                .call(
                    store,
                    "/finance/transaction/details/get",
                    vec![
                        ("start_time", day(from)),
                        ("end_time", day(to)),
                        ("limit", FINANCE_PAGE_SIZE.to_string()),
                        ("offset", offset.to_string()),
                    ],
                    None,
                )
                .await?;
            let rows = data
                .get("data")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let next =
                (rows.len() >= FINANCE_PAGE_SIZE as usize).then_some(offset + FINANCE_PAGE_SIZE);
            Ok((rows, next))
        })
        .await?;
        let mut out: Vec<Settlement> = Vec::new();
        for row in &rows {
            let order = s(row, "order_no");
            let amount = money_from_str(&s(row, "amount"), currency)?;
            let line = FeeLine {
                fee_type: fee_type(&s(row, "fee_type"), &s(row, "fee_name")),
                raw_type: s(row, "fee_name"),
                amount,
            };
            match out
                .iter_mut()
                .find(|x| x.external_order_id.as_deref() == Some(order.as_str()))
            {
                Some(st) => {
                    st.settlement_amount.minor += amount.minor;
                    st.lines.push(line);
                }
                None => out.push(Settlement {
                    external_order_id: Some(order.clone()).filter(|o| !o.is_empty()),
                    reference: s(row, "statement"),
                    settlement_amount: amount,
                    lines: vec![line],
                    settled_at: None,
                }),
            }
        }
        Ok(out)
    }

    /// `/finance/payout/status/get?created_after=` filtered to the window.
    async fn payouts(&self, store: &StoreContext, window: Window) -> Result<Vec<Payout>, Error> {
        let currency = currency_of(&store.shop)?;
        let data = self
            .call(
                store,
                "/finance/payout/status/get",
                vec![("created_after", iso(window.from))],
                None,
            )
            .await?;
        let mut out = Vec::new();
        for p in data
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let created = parse_time(&s(p, "created_at")).unwrap_or(0);
            if created >= window.to {
                continue;
            }
            let paid = s(p, "paid") == "1";
            out.push(Payout {
                external_id: s(p, "statement_number"),
                amount: money_from_str(&s(p, "payout"), currency)?,
                paid_at: paid.then(|| parse_time(&s(p, "updated_at")).unwrap_or(created)),
                raw_status: if paid { "paid".into() } else { "unpaid".into() },
            });
        }
        Ok(out)
    }
}
