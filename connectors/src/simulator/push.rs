//! The simulator's pushes, signed as each platform signs them (`marketplaces.md` §1.9, §2.9,
//! §3.9): order status changes (optionally as they stood at another time, to deliver them late),
//! authorization expiry notices, deauthorizations and stock changes. A platform with a webhook
//! subscription ([`Simulator::subscribe`]) pushes every order a buyer places; pushes can be lost
//! on purpose ([`Simulator::suppress_pushes`]), and the next order reads can lag behind what was
//! pushed ([`Simulator::lag_reads`]), as a platform's read replicas do.

use super::{SimState, Simulator, lazada, lock, shopee, tiktok};
use crate::Platform;
use serde_json::json;
use std::collections::HashMap;

/// What a push announces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PushTopic {
    /// An order's status (Shopee 3, TikTok 1, Lazada 0).
    #[default]
    OrderStatus,
    /// The authorization expires soon (Shopee 12, TikTok 7, Lazada 8).
    AuthorizationExpiring,
    /// The seller withdrew the authorization (Shopee 2, TikTok 6).
    Deauthorized,
    /// A SKU's stock changed on the platform (Shopee 8, TikTok 15).
    StockChange,
}

/// One push to send.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PushRequest {
    /// Platform.
    pub platform: Platform,
    /// Where to POST (Shopee signs this URL).
    pub url: String,
    /// What it announces.
    #[serde(default)]
    pub topic: PushTopic,
    /// The order (order topics).
    #[serde(default)]
    pub order_id: String,
    /// The SKU (stock topic).
    #[serde(default)]
    pub sku_id: Option<u64>,
    /// Announce the order as it stood at this data time (default: now); an earlier time makes a
    /// late delivery, a later one a push the read API does not show yet.
    #[serde(default)]
    pub at: Option<i64>,
    /// The envelope's send time (default: the wall clock), to make a stale delivery.
    #[serde(default)]
    pub sent_at: Option<i64>,
}

impl PushRequest {
    /// The current status of `order_id` on `platform`, to `url`.
    pub fn order(platform: Platform, url: impl Into<String>, order_id: impl Into<String>) -> Self {
        Self {
            platform,
            url: url.into(),
            topic: PushTopic::OrderStatus,
            order_id: order_id.into(),
            sku_id: None,
            at: None,
            sent_at: None,
        }
    }
}

/// A push ready to deliver: the exact bytes and their signature.
#[derive(Debug, Clone)]
pub struct SignedPush {
    /// Where it goes.
    pub url: String,
    /// The body, byte for byte as signed.
    pub body: String,
    /// The `Authorization` header.
    pub authorization: String,
}

/// Subscriptions and injected push behaviour.
#[derive(Debug, Default)]
pub(crate) struct PushState {
    webhooks: HashMap<Platform, String>,
    suppress: HashMap<Platform, u32>,
    lag: HashMap<Platform, (u32, i64)>,
    sent: HashMap<Platform, u64>,
    suppressed: HashMap<Platform, u64>,
}

impl SimState {
    /// The data clock an order read of `p` sees: `now`, or `now − lag` while lagged reads remain.
    pub(crate) fn read_now(&self, p: Platform) -> i64 {
        let now = self.now();
        let mut s = lock(&self.pushes);
        match s.lag.get_mut(&p) {
            Some((n, secs)) if *n > 0 => {
                *n -= 1;
                now - *secs
            }
            _ => now,
        }
    }
}

impl Simulator {
    /// Pushes of `platform` go to `url` from now on: every order a buyer places is announced.
    pub fn subscribe(&self, platform: Platform, url: impl Into<String>) {
        lock(&self.state.pushes)
            .webhooks
            .insert(platform, url.into());
    }

    /// The next `n` pushes of `platform` are lost (never sent), as when a platform drops them.
    pub fn suppress_pushes(&self, platform: Platform, n: u32) {
        *lock(&self.state.pushes)
            .suppress
            .entry(platform)
            .or_default() += n;
    }

    /// The next `reads` data requests of `platform` see the data as it was `secs` ago.
    pub fn lag_reads(&self, platform: Platform, reads: u32, secs: i64) {
        lock(&self.state.pushes).lag.insert(platform, (reads, secs));
    }

    /// Pushes of `platform` sent, and lost on purpose.
    pub fn pushes_sent(&self, platform: Platform) -> (u64, u64) {
        let s = lock(&self.state.pushes);
        (
            s.sent.get(&platform).copied().unwrap_or(0),
            s.suppressed.get(&platform).copied().unwrap_or(0),
        )
    }

    /// Builds and signs `req` as its platform does, without sending it.
    pub fn signed_push(&self, req: &PushRequest) -> Result<SignedPush, String> {
        let st = &self.state;
        let now = st.now();
        let sent = req.sent_at.unwrap_or_else(|| st.wall());
        let order = || {
            let at = req.at.unwrap_or(now);
            st.world(req.platform, |w| {
                w.order(&req.order_id).map(|o| o.stage_at(at))
            })
            .ok_or_else(|| format!("no order {}", req.order_id))
        };
        let sku = || {
            let id = req.sku_id.ok_or("a stock push needs sku_id")?;
            st.world(req.platform, |w| {
                w.sku_index(id).map(|i| (w.skus[i].item_id, id))
            })
            .ok_or_else(|| format!("no SKU {id}"))
        };
        let (body, authorization) = match req.platform {
            Platform::Shopee => {
                let (partner, key, shop) = &st.config.shopee;
                let body = match req.topic {
                    PushTopic::OrderStatus => {
                        let (stage, updated) = order()?;
                        json!({"data": {"items": [], "ordersn": req.order_id, "status": shopee::status(stage), "completed_scenario": "", "update_time": updated}, "shop_id": shop, "code": 3, "timestamp": sent})
                    }
                    PushTopic::Deauthorized => {
                        json!({"data": {"shop_id": shop, "partner_id": partner}, "code": 2, "timestamp": sent})
                    }
                    PushTopic::AuthorizationExpiring => {
                        json!({"data": {"shop_expire_soon": [shop], "merchant_expire_soon": [], "expire_before": now + 7 * 86_400}, "code": 12, "timestamp": sent})
                    }
                    PushTopic::StockChange => {
                        let (item, model) = sku()?;
                        json!({"data": {"shop_id": shop, "item_id": item, "model_id": model, "action": "reserved_stock_change", "update_time": now}, "shop_id": shop, "code": 8, "timestamp": sent})
                    }
                }
                .to_string();
                let sig = crate::shopee::push_signature(key, &req.url, body.as_bytes());
                (body, sig)
            }
            Platform::TiktokShop => {
                let (key, secret, shop, _) = &st.config.tiktok;
                let (ty, data) = match req.topic {
                    PushTopic::OrderStatus => {
                        let (stage, updated) = order()?;
                        (
                            1,
                            json!({"order_id": req.order_id, "order_status": tiktok::status(stage), "is_on_hold_order": false, "update_time": updated}),
                        )
                    }
                    PushTopic::Deauthorized => (
                        6,
                        json!({"message": "The seller deauthorized the app", "update_time": now}),
                    ),
                    PushTopic::AuthorizationExpiring => (
                        7,
                        json!({"message": "Authorization expires soon", "expiration_time": now + 7 * 86_400}),
                    ),
                    PushTopic::StockChange => {
                        let (item, _) = sku()?;
                        (
                            15,
                            json!({"product_id": item.to_string(), "update_time": now}),
                        )
                    }
                };
                // One id per notification: the same announcement sent again keeps it.
                let id = notification_id(&format!("{ty}{data}"));
                let body = json!({"type": ty, "tts_notification_id": id, "shop_id": shop, "timestamp": sent, "data": data}).to_string();
                let sig = crate::tiktok::webhook_signature(key, secret, body.as_bytes());
                (body, sig)
            }
            Platform::Lazada => {
                let (key, secret, seller) = &st.config.lazada;
                let body = match req.topic {
                    PushTopic::OrderStatus => {
                        let (stage, updated) = order()?;
                        json!({"seller_id": seller, "message_type": 0, "data": {"order_status": lazada::status(stage), "trade_order_id": req.order_id, "trade_order_line_id": format!("{}01", req.order_id), "status_update_time": updated}, "timestamp": sent * 1000, "site": "lazada_ph"})
                    }
                    PushTopic::AuthorizationExpiring => {
                        json!({"seller_id": seller, "message_type": 8, "data": {"expire_time": now + 2 * 86_400}, "timestamp": sent * 1000, "site": "lazada_ph"})
                    }
                    PushTopic::Deauthorized | PushTopic::StockChange => {
                        return Err("Lazada sends no such push".into());
                    }
                }
                .to_string();
                let sig = crate::lazada::push_signature(key, secret, body.as_bytes());
                (body, sig)
            }
            Platform::Jumia | Platform::Kilimall => {
                return Err("this platform has no push mechanism".into());
            }
        };
        Ok(SignedPush {
            url: req.url.clone(),
            body,
            authorization,
        })
    }

    /// Delivers a signed push; returns the HTTP status.
    pub async fn deliver(&self, push: &SignedPush) -> Result<u16, String> {
        let resp = self
            .state
            .http
            .post(&push.url)
            .header("content-type", "application/json")
            .header("authorization", &push.authorization)
            .body(push.body.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        Ok(resp.status().as_u16())
    }

    /// Builds, signs and sends `req` (unless pushes of its platform are being suppressed, then
    /// `Ok(None)`); returns the HTTP status.
    pub async fn push(&self, req: &PushRequest) -> Result<Option<u16>, String> {
        let signed = self.signed_push(req)?;
        {
            let mut s = lock(&self.state.pushes);
            if let Some(n) = s.suppress.get_mut(&req.platform)
                && *n > 0
            {
                *n -= 1;
                *s.suppressed.entry(req.platform).or_default() += 1;
                return Ok(None);
            }
            *s.sent.entry(req.platform).or_default() += 1;
        }
        self.deliver(&signed).await.map(Some)
    }

    /// Announces a newly placed order to the platform's subscription, if any (in the background:
    /// the buyer's checkout does not wait for the seller's server).
    pub(crate) fn announce(&self, platform: Platform, order_id: &str) {
        let Some(url) = lock(&self.state.pushes).webhooks.get(&platform).cloned() else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let sim = self.clone();
        let req = PushRequest::order(platform, url, order_id);
        rt.spawn(async move {
            let _ = sim.push(&req).await;
        });
    }
}

/// A TikTok-shaped notification id (19 digits) derived from the announcement's content.
fn notification_id(content: &str) -> String {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(content.as_bytes());
    let n = u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
    format!("7{:018}", n % 10u64.pow(18))
}
