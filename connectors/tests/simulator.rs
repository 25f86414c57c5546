//! Every connector against the simulator, with strict signature checking: OAuth connect, a full
//! multi-page window, details, stock update, refresh when the token expires mid-run, faults, and
//! the normalized shapes.
#![allow(clippy::unwrap_used, missing_docs)]

use connectors::jumia::{Jumia, JumiaApp};
use connectors::lazada::{Lazada, LazadaApp};
use connectors::resilience::{Circuit, CircuitBreaker, RetryPolicy};
use connectors::shopee::{Shopee, ShopeeApp};
use connectors::simulator::{Fault, Quirks, Running, SimConfig, Simulator};
use connectors::tiktok::{Tiktok, TiktokApp};
use connectors::{
    AuthCallback, Connector, Error, MemoryTokenStore, Platform, Quota, QuotaHook, StoreContext,
    SystemClock, TokenStore, Window,
};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The simulator on its own thread and runtime (real time), so tests may pause their own clock.
fn simulator() -> Running {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            // The data clock is frozen so no order changes status while a test compares.
            let mut config = SimConfig::default();
            config.frozen_now = Some(config.epoch + 3 * 3600);
            let running = Simulator::new(config)
                .start("127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            let base = running.base_url.clone();
            let sim = running.sim.clone();
            tx.send((base, sim)).unwrap();
            let _keep = running;
            std::future::pending::<()>().await;
        });
    });
    let (base, sim) = rx.recv().unwrap();
    Running::detached(base, sim)
}

/// An HTTP client without timers: with a paused clock, time only moves when a connector sleeps.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(None)
        .build()
        .unwrap()
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}

/// Follows the authorize link like a seller's browser and reads the redirect.
async fn authorize(url: &str) -> (String, Vec<(String, String)>) {
    let resp = http().get(url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 303, "authorize link refused: {url}");
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let parsed = url::Url::parse(&location).unwrap();
    let pairs = parsed.query_pairs().into_owned().collect();
    (location, pairs)
}

fn get<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

struct Connected<C> {
    connector: C,
    store: StoreContext,
    tokens: Arc<MemoryTokenStore>,
}

fn window(sim: &Simulator) -> Window {
    let now = sim.now();
    Window {
        from: now - 31 * 86_400,
        to: now + 1,
    }
}

fn expected_ids(sim: &Simulator, p: Platform, w: Window) -> BTreeSet<String> {
    let world = sim.world(p);
    world
        .updated_between(w.from, w.to, sim.now())
        .into_iter()
        .map(|(i, _)| world.orders[i].id.clone())
        .collect()
}

async fn shopee(run: &Running) -> Connected<Shopee> {
    let (pid, key, _) = run.sim.config().shopee.clone();
    let c = Shopee::with_http(
        ShopeeApp {
            partner_id: pid,
            partner_key: key,
            endpoints: run.shopee(),
        },
        Arc::new(SystemClock),
        http(),
    );
    let url = c.authorize_url("st-1", "https://app.example/cb").unwrap();
    let (_, pairs) = authorize(&url).await;
    assert_eq!(get(&pairs, "state"), Some("st-1"));
    let grant = c
        .exchange_code(
            &AuthCallback {
                code: get(&pairs, "code").unwrap().into(),
                state: get(&pairs, "state").map(Into::into),
                shop_id: get(&pairs, "shop_id").map(Into::into),
            },
            "https://app.example/cb",
        )
        .await
        .unwrap();
    assert!(grant.tokens.refresh_single_use);
    let tokens = Arc::new(MemoryTokenStore::new(grant.tokens));
    let store = StoreContext::new("shopee-1", grant.shop, tokens.clone()).with_retry(fast_retry());
    Connected {
        connector: c,
        store,
        tokens,
    }
}

async fn tiktok(run: &Running) -> Connected<Tiktok> {
    let (key, secret, _, _) = run.sim.config().tiktok.clone();
    let c = Tiktok::with_http(
        TiktokApp {
            app_key: key,
            app_secret: secret,
            endpoints: run.tiktok(),
        },
        Arc::new(SystemClock),
        http(),
    );
    let (_, pairs) = authorize(&c.authorize_url("st 2/ü", "").unwrap()).await;
    assert_eq!(get(&pairs, "state"), Some("st 2/ü"));
    let grant = c
        .exchange_code(
            &AuthCallback {
                code: get(&pairs, "code").unwrap().into(),
                ..AuthCallback::default()
            },
            "",
        )
        .await
        .unwrap();
    // Absolute expiry timestamps, not durations.
    assert!(grant.tokens.access_expires_at > 1_700_000_000);
    let tokens = Arc::new(MemoryTokenStore::new(grant.tokens));
    let store = StoreContext::new("tiktok-1", grant.shop, tokens.clone()).with_retry(fast_retry());
    Connected {
        connector: c,
        store,
        tokens,
    }
}

async fn lazada(run: &Running) -> Connected<Lazada> {
    let (key, secret, seller) = run.sim.config().lazada.clone();
    let c = Lazada::with_http(
        LazadaApp {
            app_key: key,
            app_secret: secret,
            endpoints: run.lazada(),
        },
        Arc::new(SystemClock),
        http(),
    );
    let (_, pairs) = authorize(
        &c.authorize_url("st-3", "https://app.example/cb?x=1")
            .unwrap(),
    )
    .await;
    assert_eq!(get(&pairs, "state"), Some("st-3"));
    assert_eq!(get(&pairs, "x"), Some("1"));
    let grant = c
        .exchange_code(
            &AuthCallback {
                code: get(&pairs, "code").unwrap().into(),
                ..AuthCallback::default()
            },
            "",
        )
        .await
        .unwrap();
    assert_eq!(
        grant.shop,
        connectors::ShopIdentity::Lazada {
            seller_id: seller,
            country: "ph".into()
        }
    );
    let tokens = Arc::new(MemoryTokenStore::new(grant.tokens));
    let store = StoreContext::new("lazada-1", grant.shop, tokens.clone()).with_retry(fast_retry());
    Connected {
        connector: c,
        store,
        tokens,
    }
}

async fn jumia(run: &Running) -> Connected<Jumia> {
    let (client, _, refresh) = run.sim.config().jumia.clone();
    let c = Jumia::with_http(
        JumiaApp {
            client_id: client,
            endpoints: run.jumia(),
            feed_poll: (Duration::from_millis(5), 10),
        },
        Arc::new(SystemClock),
        http(),
    );
    assert!(matches!(
        c.authorize_url("s", "r"),
        Err(Error::Unsupported(_))
    ));
    let grant = c
        .exchange_code(
            &AuthCallback {
                code: refresh.clone(),
                ..AuthCallback::default()
            },
            "",
        )
        .await
        .unwrap();
    // The self-authorization refresh token rotated: using it again fails.
    assert_ne!(grant.tokens.refresh_token, refresh);
    let again = c
        .exchange_code(
            &AuthCallback {
                code: refresh,
                ..AuthCallback::default()
            },
            "",
        )
        .await;
    assert!(matches!(again, Err(Error::Auth { .. })), "{again:?}");
    let tokens = Arc::new(MemoryTokenStore::new(grant.tokens));
    let store = StoreContext::new("jumia-1", grant.shop, tokens.clone()).with_retry(fast_retry());
    Connected {
        connector: c,
        store,
        tokens,
    }
}

/// The whole path for one platform: full window with a token expiring on page 2, details, stock.
async fn full_run<C: Connector>(
    run: &Running,
    p: Platform,
    c: Connected<C>,
    expired_error_path: &str,
) {
    let w = window(&run.sim);
    let expected = expected_ids(&run.sim, p, w);
    assert!(expected.len() > 200, "the window should span several pages");
    let before = c.tokens.current().unwrap();
    run.sim.inject_at(p, 2, Fault::ExpireToken);
    let refs = c.connector.list_orders(&c.store, w).await.unwrap();
    let got: BTreeSet<String> = refs.iter().map(|r| r.external_id.clone()).collect();
    assert!(
        got == expected,
        "{p:?}: every order of the window exactly once ({} of {})",
        got.len(),
        expected.len()
    );
    assert_eq!(refs.len(), expected.len());
    let after = c.tokens.current().unwrap();
    assert_ne!(
        after.access_token, before.access_token,
        "{p:?}: refreshed mid-run"
    );
    assert!(run.sim.requests(p, expired_error_path) >= 3);

    // Details in batches.
    let ids: Vec<String> = got.iter().cloned().collect();
    let orders = c.connector.order_details(&c.store, &ids).await.unwrap();
    assert_eq!(orders.len(), ids.len());
    let world = run.sim.world(p);
    for o in &orders {
        let sim_order = world.order(&o.external_id).unwrap();
        let units: u32 = sim_order.lines.iter().map(|(_, q)| q).sum();
        assert_eq!(
            o.lines.iter().map(|l| l.quantity).sum::<u32>(),
            units,
            "{p:?} {}",
            o.external_id
        );
        assert_eq!(
            o.lines.len(),
            sim_order.lines.len(),
            "{p:?}: one line per SKU"
        );
        assert_eq!(o.total.minor, world.amounts(sim_order).total());
        assert_eq!(o.total.currency_code(), world.currency);
        assert_ne!(
            o.status,
            connectors::status::OrderStatus::Unknown,
            "{}",
            o.raw_status
        );
        for l in &o.lines {
            let (idx, _) = sim_order
                .lines
                .iter()
                .find(|(s, _)| {
                    world.skus[*s].seller_sku == l.seller_sku.clone().unwrap_or_default()
                })
                .unwrap();
            assert_eq!(l.unit_price.minor, world.skus[*idx].price);
        }
    }

    // Products and a stock update.
    let products = c.connector.list_products(&c.store).await.unwrap();
    let skus: usize = products.iter().map(|p| p.skus.len()).sum();
    assert_eq!(skus, world.skus.len(), "{p:?}: every SKU listed");
    let target = &products[0].skus[0];
    let update = connectors::StockUpdate {
        external_item_id: products[0].external_id.clone(),
        external_sku_id: target.external_id.clone(),
        seller_sku: target.seller_sku.clone(),
        location: Some("WH-1".into()),
        quantity: 7,
    };
    let outcomes = c.connector.update_stock(&c.store, &[update]).await.unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].error, None);
    let sku = target.seller_sku.clone().unwrap();
    assert_eq!(
        run.sim
            .world(p)
            .skus
            .iter()
            .find(|s| s.seller_sku == sku)
            .unwrap()
            .stock,
        7
    );
    assert_eq!(
        run.sim.rejected(),
        0,
        "{p:?}: no request was refused for its signature, timestamp, token or shop"
    );
}

#[tokio::test]
async fn shopee_full_run_with_strict_signatures() {
    let run = simulator();
    let c = shopee(&run).await;
    full_run(&run, Platform::Shopee, c, "/api/v2/order/get_order_list").await;
}

#[tokio::test]
async fn tiktok_full_run_with_strict_signatures() {
    let run = simulator();
    let c = tiktok(&run).await;
    full_run(&run, Platform::TiktokShop, c, "/order/202309/orders/search").await;
}

#[tokio::test]
async fn lazada_full_run_with_strict_signatures() {
    let run = simulator();
    let c = lazada(&run).await;
    full_run(&run, Platform::Lazada, c, "/orders/get").await;
}

#[tokio::test]
async fn jumia_full_run() {
    let run = simulator();
    let c = jumia(&run).await;
    full_run(&run, Platform::Jumia, c, "/orders").await;
}

// ---------------------------------------------------------------------------------------------
// Strictness: a one-byte change or a stale timestamp is refused as the platform refuses it.

fn unix() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn shopee_rejects_a_changed_byte_and_a_stale_timestamp() {
    let run = simulator();
    let c = shopee(&run).await;
    let (pid, key, shop) = run.sim.config().shopee.clone();
    let token = c.tokens.current().unwrap().access_token;
    let path = "/api/v2/shop/get_shop_info";
    let call = |ts: i64, sign_path: &'static str, sign_shop: u64| {
        let sign = connectors::shopee::sign(
            &key,
            pid,
            sign_path,
            ts,
            connectors::shopee::Identity::Shop {
                access_token: &token,
                shop_id: sign_shop,
            },
        );
        format!(
            "{}{path}?partner_id={pid}&timestamp={ts}&access_token={token}&shop_id={shop}&sign={sign}",
            run.shopee().api
        )
    };
    let body = |url: String| async move {
        http()
            .get(url)
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    let good = body(call(unix(), path, shop)).await;
    assert_eq!(good["error"], "", "{good}");
    // One byte of the signed path, of the shop id, and of the sign itself.
    let bad = body(call(unix(), "/api/v2/shop/get_shop_infp", shop)).await;
    assert_eq!(
        (bad["error"].as_str(), bad["message"].as_str()),
        (Some("error_sign"), Some("Wrong sign."))
    );
    let bad = body(call(unix(), path, shop + 1)).await;
    assert_eq!(bad["error"], "error_sign");
    let mut url = call(unix(), path, shop);
    let last = url.pop().unwrap();
    url.push(if last == '0' { '1' } else { '0' });
    assert_eq!(body(url).await["error"], "error_sign");
    // Uppercase hex is not Shopee's format.
    let url = call(unix(), path, shop);
    let (head, sign) = url.split_once("&sign=").unwrap();
    assert_eq!(
        body(format!("{head}&sign={}", sign.to_uppercase())).await["error"],
        "error_sign"
    );
    let stale = body(call(unix() - 305, path, shop)).await;
    assert_eq!(stale["message"], "Timestamp is expired.");
    assert_eq!(run.sim.rejected(), 5);
}

#[tokio::test]
async fn tiktok_rejects_a_changed_body_byte_and_a_timestamp_outside_its_window() {
    let run = simulator();
    let c = tiktok(&run).await;
    let (key, secret, _, cipher) = run.sim.config().tiktok.clone();
    let token = c.tokens.current().unwrap().access_token;
    let path = "/order/202309/orders/search";
    let body = br#"{"update_time_ge":0,"update_time_lt":2000000000}"#;
    let send = |ts: i64, sent: &'static [u8], query_value: &'static str| {
        let ts_s = ts.to_string();
        let q = [
            ("app_key", key.as_str()),
            ("page_size", "10"),
            ("shop_cipher", cipher.as_str()),
            ("sort_field", "update_time"),
            ("timestamp", ts_s.as_str()),
        ];
        let sign = connectors::tiktok::sign(&secret, path, &q, Some(&body[..]));
        let url = format!(
            "{}{path}?app_key={key}&page_size={query_value}&shop_cipher={cipher}&sort_field=update_time&timestamp={ts}&sign={sign}",
            run.tiktok().api
        );
        let req = http()
            .post(url)
            .header("x-tts-access-token", token.clone())
            .header("content-type", "application/json")
            .body(sent);
        async move {
            let resp = req.send().await.unwrap();
            (
                resp.status().as_u16(),
                resp.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (status, ok) = send(unix(), body, "10").await;
    assert_eq!((status, ok["code"].as_i64()), (200, Some(0)), "{ok}");
    let (status, bad) = send(
        unix(),
        br#"{"update_time_ge":1,"update_time_lt":2000000000}"#,
        "10",
    )
    .await;
    assert_eq!((status, bad["code"].as_i64()), (401, Some(106_001)));
    let (_, bad) = send(unix(), body, "11").await;
    assert_eq!(bad["code"], 106_001, "query values are signed");
    // The window is asymmetric: 25 s ahead and 290 s old are accepted.
    let (_, ahead) = send(unix() + 25, body, "10").await;
    assert_eq!(ahead["code"], 0, "{ahead}");
    let (_, older) = send(unix() - 290, body, "10").await;
    assert_eq!(older["code"], 0, "{older}");
    let (_, late) = send(unix() + 33, body, "10").await;
    assert_eq!(late["code"], 36_009_004, "more than 30 s ahead");
    let (_, old) = send(unix() - 305, body, "10").await;
    assert_eq!(old["code"], 36_009_004, "more than 5 min old");
    assert_eq!(run.sim.rejected(), 4);
}

#[tokio::test]
async fn lazada_rejects_a_changed_parameter_byte_lowercase_hex_and_a_stale_timestamp() {
    let run = simulator();
    let c = lazada(&run).await;
    let (key, secret, _) = run.sim.config().lazada.clone();
    let token = c.tokens.current().unwrap().access_token;
    let path = "/order/get";
    let order = run.sim.world(Platform::Lazada).orders[0].id.clone();
    let send = |ts_ms: i64, sent_order: String, lower: bool| {
        let ts = ts_ms.to_string();
        let q = [
            ("app_key", key.as_str()),
            ("timestamp", ts.as_str()),
            ("sign_method", "sha256"),
            ("access_token", token.as_str()),
            ("order_id", order.as_str()),
        ];
        let mut sign = connectors::lazada::sign(&secret, path, &q, None);
        if lower {
            sign = sign.to_lowercase();
        }
        let url = format!(
            "{}{path}?app_key={key}&timestamp={ts}&sign_method=sha256&access_token={token}&order_id={sent_order}&sign={sign}",
            run.lazada().api
        );
        async move {
            http()
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    let ok = send(now_ms, order.clone(), false).await;
    assert_eq!(ok["code"], "0", "{ok}");
    let mut changed = order.clone();
    changed.pop();
    changed.push('9');
    assert_eq!(
        send(now_ms, changed, false).await["code"],
        "IncompleteSignature"
    );
    assert_eq!(
        send(now_ms, order.clone(), true).await["code"],
        "IncompleteSignature"
    );
    assert_eq!(
        send(now_ms - 7_205_000, order.clone(), false).await["code"],
        "InvalidTimestamp"
    );
    assert_eq!(run.sim.rejected(), 3);
}

#[tokio::test]
async fn wrong_tokens_and_shops_are_refused_with_each_platforms_codes() {
    let run = simulator();
    let mut s = shopee(&run).await;
    s.tokens
        .save(&connectors::TokenSet {
            access_token: "0123456789abcdef0123456789abcdef".into(),
            access_expires_at: i64::MAX,
            ..s.tokens.current().unwrap()
        })
        .await
        .ok();
    // An unknown token is `invalid_acceess_token`: treated as expired, refreshed once, then the
    // call succeeds with the new token.
    s.store = StoreContext::new("shopee-1", s.store.shop.clone(), s.tokens.clone())
        .with_retry(fast_retry());
    let w = Window {
        from: run.sim.now() - 86_400,
        to: run.sim.now(),
    };
    s.connector.list_orders(&s.store, w).await.unwrap();
    assert_eq!(run.sim.rejected(), 1);
    // Another shop's id with this shop's token.
    let other = StoreContext::new(
        "shopee-2",
        connectors::ShopIdentity::Shopee {
            shop_id: 1,
            region: "MY".into(),
        },
        s.tokens.clone(),
    )
    .with_retry(fast_retry());
    let e = s.connector.list_orders(&other, w).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Auth {
                kind: connectors::AuthFailure::Invalid,
                ..
            }
        ),
        "{e:?}"
    );

    let t = tiktok(&run).await;
    let wrong = StoreContext::new(
        "tiktok-2",
        connectors::ShopIdentity::Tiktok {
            shop_id: "1".into(),
            cipher: "ROW_other".into(),
            region: "ID".into(),
        },
        t.tokens.clone(),
    );
    let e = t.connector.list_orders(&wrong, w).await.unwrap_err();
    assert!(matches!(e, Error::Auth { .. }), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// Faults and resilience.

/// Records when each call was allowed through (on the tokio clock).
#[derive(Default)]
struct Recorder {
    at: Mutex<Vec<tokio::time::Instant>>,
    deny_first: AtomicU32,
}

#[async_trait::async_trait]
impl QuotaHook for Recorder {
    async fn acquire(&self, _: Platform, _: &str, _: &str, _: connectors::Priority) -> Quota {
        if self.deny_first.load(Ordering::SeqCst) > 0 {
            self.deny_first.fetch_sub(1, Ordering::SeqCst);
            return Quota::Wait(Duration::from_secs(2));
        }
        self.at.lock().unwrap().push(tokio::time::Instant::now());
        Quota::Granted
    }
}

fn connect_with<C: Connector + 'static>(
    c: C,
    shop: connectors::ShopIdentity,
    tokens: Arc<MemoryTokenStore>,
    rec: &Arc<Recorder>,
    stores: &mut Vec<StoreContext>,
) -> Box<dyn Connector> {
    stores.push(
        StoreContext::new("s", shop, tokens)
            .with_quota(rec.clone())
            .with_retry(fast_retry()),
    );
    Box::new(c)
}

#[tokio::test(start_paused = true)]
async fn a_429_retry_after_is_honoured_on_a_paused_clock() {
    let run = simulator();
    let mut stores = Vec::new();
    for (p, secs) in [
        (Platform::TiktokShop, 30u64),
        (Platform::Jumia, 45),
        (Platform::Lazada, 7),
        (Platform::Shopee, 20),
    ] {
        let rec = Arc::new(Recorder::default());
        let w = Window {
            from: run.sim.now() - 3600,
            to: run.sim.now(),
        };
        let boxed: Box<dyn Connector> = match p {
            Platform::TiktokShop => {
                let c = tiktok(&run).await;
                connect_with(c.connector, c.store.shop, c.tokens, &rec, &mut stores)
            }
            Platform::Jumia => {
                let c = jumia(&run).await;
                connect_with(c.connector, c.store.shop, c.tokens, &rec, &mut stores)
            }
            Platform::Lazada => {
                let c = lazada(&run).await;
                connect_with(c.connector, c.store.shop, c.tokens, &rec, &mut stores)
            }
            _ => {
                let c = shopee(&run).await;
                connect_with(c.connector, c.store.shop, c.tokens, &rec, &mut stores)
            }
        };
        let store = stores.pop().unwrap();
        run.sim.inject(
            p,
            Fault::RateLimit {
                retry_after_secs: secs,
            },
            1,
        );
        let start = tokio::time::Instant::now();
        let result = boxed.list_orders(&store, w).await;
        result.unwrap();
        let at = rec.at.lock().unwrap().clone();
        assert!(at.len() >= 2, "{p:?}: the throttled call was repeated");
        let waited = at[1] - at[0];
        assert!(
            waited >= Duration::from_secs(secs),
            "{p:?}: waited {waited:?}, retry-after {secs}s"
        );
        assert!(
            waited < Duration::from_secs(secs + 1),
            "{p:?}: waited the retry-after, not more: {waited:?}"
        );
        assert!(start.elapsed() >= Duration::from_secs(secs));
    }
}

#[tokio::test(start_paused = true)]
async fn the_quota_hook_is_consulted_before_every_call_and_its_wait_is_kept() {
    let run = simulator();
    let c = tiktok(&run).await;
    let rec = Arc::new(Recorder::default());
    rec.deny_first.store(3, Ordering::SeqCst);
    let store =
        StoreContext::new("t", c.store.shop.clone(), c.tokens.clone()).with_quota(rec.clone());
    let before = run
        .sim
        .requests(Platform::TiktokShop, "/order/202309/orders/search");
    let start = tokio::time::Instant::now();
    c.connector
        .list_orders(&store, window(&run.sim))
        .await
        .unwrap();
    let calls = run
        .sim
        .requests(Platform::TiktokShop, "/order/202309/orders/search")
        - before;
    assert_eq!(
        rec.at.lock().unwrap().len() as u64,
        calls,
        "one grant per request"
    );
    assert!(calls >= 3);
    assert!(
        start.elapsed() >= Duration::from_secs(6),
        "three denials of 2 s were waited out"
    );
}

#[tokio::test]
async fn a_5xx_burst_is_retried_then_surfaced_as_transient_and_malformed_json_is_a_decode_error() {
    let run = simulator();
    let c = lazada(&run).await;
    let w = Window {
        from: run.sim.now() - 3600,
        to: run.sim.now(),
    };
    let path = "/orders/get";
    // Two 503s then success: three requests, one result.
    run.sim
        .inject(Platform::Lazada, Fault::ServerError { status: 503 }, 2);
    let before = run.sim.requests(Platform::Lazada, path);
    c.connector.list_orders(&c.store, w).await.unwrap();
    assert_eq!(run.sim.requests(Platform::Lazada, path) - before, 3);
    // A burst longer than the policy: surfaced as transient after max_attempts requests.
    run.sim
        .inject(Platform::Lazada, Fault::ServerError { status: 502 }, 10);
    let before = run.sim.requests(Platform::Lazada, path);
    let e = c.connector.list_orders(&c.store, w).await.unwrap_err();
    assert!(matches!(e, Error::Transient(_)), "{e:?}");
    assert_eq!(
        run.sim.requests(Platform::Lazada, path) - before,
        u64::from(fast_retry().max_attempts)
    );
    // Drain the rest of the burst, then a malformed body: decode error, not retried.
    let c = tiktok(&run).await;
    run.sim.inject(Platform::TiktokShop, Fault::Malformed, 1);
    let before = run
        .sim
        .requests(Platform::TiktokShop, "/order/202309/orders/search");
    let e = c.connector.list_orders(&c.store, w).await.unwrap_err();
    assert!(matches!(e, Error::Decode(_)), "{e:?}");
    assert_eq!(
        run.sim
            .requests(Platform::TiktokShop, "/order/202309/orders/search")
            - before,
        1
    );
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_and_half_opens() {
    let run = simulator();
    let c = jumia(&run).await;
    let breaker = Arc::new(CircuitBreaker::new(3, Duration::from_millis(300)));
    let store = StoreContext::new("j", c.store.shop.clone(), c.tokens.clone())
        .with_retry(RetryPolicy {
            max_attempts: 1,
            ..fast_retry()
        })
        .with_breaker(breaker.clone());
    let w = Window {
        from: run.sim.now() - 3600,
        to: run.sim.now(),
    };
    run.sim
        .inject(Platform::Jumia, Fault::ServerError { status: 500 }, 3);
    for _ in 0..3 {
        assert!(matches!(
            c.connector.list_orders(&store, w).await,
            Err(Error::Transient(_))
        ));
    }
    assert_eq!(breaker.state(), Circuit::Open);
    let before = run.sim.requests(Platform::Jumia, "/orders");
    let e = c.connector.list_orders(&store, w).await.unwrap_err();
    assert!(e.to_string().contains("circuit open"), "{e}");
    assert_eq!(
        run.sim.requests(Platform::Jumia, "/orders"),
        before,
        "no request while open"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(breaker.state(), Circuit::HalfOpen);
    c.connector.list_orders(&store, w).await.unwrap();
    assert_eq!(breaker.state(), Circuit::Closed);
}

#[tokio::test]
async fn duplicated_and_out_of_order_items_across_pages_are_returned_once() {
    let run = simulator();
    for p in [
        Platform::Shopee,
        Platform::TiktokShop,
        Platform::Lazada,
        Platform::Jumia,
    ] {
        run.sim.set_quirks(
            p,
            Quirks {
                duplicate_across_pages: true,
                out_of_order: true,
            },
        );
    }
    let w = window(&run.sim);
    let check = |p: Platform, refs: Vec<connectors::OrderRef>| {
        let expected = expected_ids(&run.sim, p, w);
        let got: BTreeSet<String> = refs.iter().map(|r| r.external_id.clone()).collect();
        assert_eq!(refs.len(), expected.len(), "{p:?}: no duplicates");
        assert!(got == expected, "{p:?}: nothing lost");
    };
    let s = shopee(&run).await;
    check(
        Platform::Shopee,
        s.connector.list_orders(&s.store, w).await.unwrap(),
    );
    let t = tiktok(&run).await;
    check(
        Platform::TiktokShop,
        t.connector.list_orders(&t.store, w).await.unwrap(),
    );
    let l = lazada(&run).await;
    check(
        Platform::Lazada,
        l.connector.list_orders(&l.store, w).await.unwrap(),
    );
    let j = jumia(&run).await;
    check(
        Platform::Jumia,
        j.connector.list_orders(&j.store, w).await.unwrap(),
    );
}

#[tokio::test]
async fn shopee_refresh_tokens_are_single_use() {
    let run = simulator();
    let c = shopee(&run).await;
    let first = c.tokens.current().unwrap();
    let next = c.connector.refresh(&c.store.shop, &first).await.unwrap();
    assert_ne!(next.refresh_token, first.refresh_token);
    let again = c
        .connector
        .refresh(&c.store.shop, &first)
        .await
        .unwrap_err();
    assert!(
        matches!(
            again,
            Error::Auth {
                kind: connectors::AuthFailure::Invalid,
                ..
            }
        ),
        "{again:?}"
    );
    // Lazada: the refresh deadline does not move.
    let l = lazada(&run).await;
    let t0 = l.tokens.current().unwrap();
    let t1 = l.connector.refresh(&l.store.shop, &t0).await.unwrap();
    assert_eq!(t1.refresh_expires_at, t0.refresh_expires_at);
}

// ---------------------------------------------------------------------------------------------
// Normalization against the simulator's data.

#[tokio::test]
async fn tiktok_per_unit_lines_are_grouped_and_idr_is_exact() {
    let run = simulator();
    let c = tiktok(&run).await;
    let world = run.sim.world(Platform::TiktokShop);
    let now = run.sim.now();
    let multi = world
        .orders
        .iter()
        .find(|o| o.exists_at(now) && o.lines.iter().any(|(_, q)| *q == 3))
        .unwrap();
    let order = c
        .connector
        .order_details(&c.store, std::slice::from_ref(&multi.id))
        .await
        .unwrap()
        .remove(0);
    let (idx, _) = multi.lines.iter().find(|(_, q)| *q == 3).unwrap();
    let line = order
        .lines
        .iter()
        .find(|l| l.external_sku_id == world.skus[*idx].sku_id.to_string())
        .unwrap();
    assert_eq!(line.quantity, 3);
    assert_eq!(
        line.external_line_ids.len(),
        3,
        "the three unit lines are kept"
    );
    assert_eq!(line.unit_price.currency_code(), "IDR");
    assert_eq!(
        line.unit_price.minor, world.skus[*idx].price,
        "IDR has no minor unit: 150000 is 150000"
    );
    assert!(line.unit_price.minor >= 1000);
}

async fn check_settlements<C: Connector>(run: &Running, p: Platform, c: &Connected<C>) {
    let w = window(&run.sim);
    let settlements = c.connector.settlements(&c.store, w).await.unwrap();
    assert!(!settlements.is_empty(), "{p:?}");
    let world = run.sim.world(p);
    for s in &settlements {
        assert_eq!(
            s.lines_total(),
            s.settlement_amount.minor,
            "{p:?}: lines sum to the settlement"
        );
        assert!(
            s.lines
                .iter()
                .all(|l| l.raw_type != "unitemised_escrow_terms"),
            "{p:?}: fully itemised"
        );
        let order = world
            .order(s.external_order_id.as_deref().unwrap())
            .unwrap();
        assert_eq!(
            s.settlement_amount.minor,
            world.fees(order).settlement(),
            "{p:?}"
        );
        assert_eq!(s.settlement_amount.currency_code(), world.currency);
        let types: BTreeSet<_> = s
            .lines
            .iter()
            .map(|l| format!("{:?}", l.fee_type))
            .collect();
        for t in ["ItemRevenue", "Commission", "TransactionFee", "Shipping"] {
            assert!(types.contains(t), "{p:?}: {t} in {types:?}");
        }
    }
    let payouts = c
        .connector
        .payouts(
            &c.store,
            Window {
                from: w.from - 7 * 86_400,
                to: w.to,
            },
        )
        .await
        .unwrap();
    let expected: i64 = world
        .payouts(run.sim.now())
        .iter()
        .filter(|(_, at, _)| *at >= w.from - 7 * 86_400)
        .map(|(_, _, a)| a)
        .sum();
    assert_eq!(
        payouts.iter().map(|p| p.amount.minor).sum::<i64>(),
        expected,
        "{p:?}: payouts"
    );
}

#[tokio::test]
async fn fee_lines_sum_to_each_platforms_settlement_amount() {
    let run = simulator();
    check_settlements(&run, Platform::Shopee, &shopee(&run).await).await;
    check_settlements(&run, Platform::TiktokShop, &tiktok(&run).await).await;
    check_settlements(&run, Platform::Lazada, &lazada(&run).await).await;
    // Jumia: no fee lines are documented.
    let j = jumia(&run).await;
    assert!(matches!(
        j.connector.settlements(&j.store, window(&run.sim)).await,
        Err(Error::Unsupported(_))
    ));
}

#[tokio::test]
async fn returns_carry_the_platforms_due_dates_and_amounts() {
    let run = simulator();
    let w = window(&run.sim);
    let now = run.sim.now();
    let s = shopee(&run).await;
    let returns = s.connector.list_returns(&s.store, w).await.unwrap();
    let world = run.sim.world(Platform::Shopee);
    let expected: Vec<_> = world
        .orders
        .iter()
        .filter(|o| {
            o.returned_at(now)
                .is_some_and(|(at, _)| (w.from..w.to).contains(&at))
        })
        .collect();
    assert_eq!(returns.len(), expected.len());
    assert!(!returns.is_empty());
    for r in &returns {
        let o = world.order(&r.external_order_id).unwrap();
        assert_eq!(
            r.due_at,
            o.returned_at(now).map(|(_, due)| due),
            "Shopee due_date kept"
        );
        assert_eq!(r.refund.unwrap().minor, world.items_total(o));
    }
    let l = lazada(&run).await;
    let returns = l.connector.list_returns(&l.store, w).await.unwrap();
    let world = run.sim.world(Platform::Lazada);
    assert!(!returns.is_empty());
    for r in &returns {
        let o = world.order(&r.external_order_id).unwrap();
        assert_eq!(
            r.refund.unwrap().minor,
            world.items_total(o),
            "cents read as PHP minor units"
        );
    }
    let t = tiktok(&run).await;
    assert!(
        !t.connector
            .list_returns(&t.store, w)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// Signed pushes.

#[tokio::test]
async fn the_simulator_sends_pushes_signed_as_each_platform_does() {
    use axum::routing::post;
    let run = simulator();
    type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let sink = sink.clone();
                async move {
                    let auth = headers["authorization"].to_str().unwrap().to_owned();
                    sink.lock().unwrap().push((auth, body.to_vec()));
                    ""
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook?shop=1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let cfg = run.sim.config().clone();
    for p in [Platform::Shopee, Platform::TiktokShop, Platform::Lazada] {
        let order = run.sim.world(p).orders[0].id.clone();
        let status = run
            .sim
            .push(&connectors::simulator::PushRequest::order(
                p,
                url.clone(),
                order,
            ))
            .await
            .unwrap();
        assert_eq!(status, Some(200));
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert!(connectors::shopee::verify_push(
        &cfg.shopee.1,
        &url,
        &seen[0].1,
        &seen[0].0
    ));
    assert!(!connectors::shopee::verify_push(
        &cfg.shopee.1,
        &url.replace("shop=1", "shop=2"),
        &seen[0].1,
        &seen[0].0
    ));
    assert!(connectors::tiktok::verify_webhook(
        &cfg.tiktok.0,
        &cfg.tiktok.1,
        &seen[1].1,
        &seen[1].0
    ));
    assert!(connectors::lazada::verify_push(
        &cfg.lazada.0,
        &cfg.lazada.1,
        &seen[2].1,
        &seen[2].0
    ));
    let mut tampered = seen[2].1.clone();
    tampered[3] ^= 1;
    assert!(!connectors::lazada::verify_push(
        &cfg.lazada.0,
        &cfg.lazada.1,
        &tampered,
        &seen[2].0
    ));
}

#[tokio::test]
async fn orders_move_through_their_statuses_as_time_passes() {
    use connectors::status::OrderStatus;
    let run = simulator();
    let c = tiktok(&run).await;
    let world = run.sim.world(Platform::TiktokShop);
    let now = run.sim.now();
    let young = world
        .orders
        .iter()
        .find(|o| {
            o.exists_at(now)
                && now - o.created < 3 * 3600
                && o.fate == connectors::simulator::world::Fate::Completes
        })
        .unwrap();
    let id = std::slice::from_ref(&young.id);
    let first = c
        .connector
        .order_details(&c.store, id)
        .await
        .unwrap()
        .remove(0);
    run.sim.advance(2 * 86_400);
    let later = c
        .connector
        .order_details(&c.store, id)
        .await
        .unwrap()
        .remove(0);
    run.sim.advance(6 * 86_400);
    let last = c
        .connector
        .order_details(&c.store, id)
        .await
        .unwrap()
        .remove(0);
    assert!(
        first.status < later.status && later.status < last.status,
        "{:?} {:?} {:?}",
        first.status,
        later.status,
        last.status
    );
    assert_eq!(last.status, OrderStatus::Completed);
    assert!(first.update_time < later.update_time && later.update_time < last.update_time);
    // The order shows up again in a window over its latest update.
    let refs = c
        .connector
        .list_orders(
            &c.store,
            Window {
                from: last.update_time,
                to: last.update_time + 1,
            },
        )
        .await
        .unwrap();
    assert!(
        refs.iter()
            .any(|r| r.external_id == young.id && r.update_time == Some(last.update_time))
    );
}

#[tokio::test]
async fn a_slow_response_times_out_and_is_retried() {
    let run = simulator();
    let c = shopee(&run).await;
    let (pid, key, _) = run.sim.config().shopee.clone();
    let impatient = Shopee::with_http(
        ShopeeApp {
            partner_id: pid,
            partner_key: key,
            endpoints: run.shopee(),
        },
        Arc::new(SystemClock),
        reqwest::Client::builder()
            .timeout(Duration::from_millis(150))
            .build()
            .unwrap(),
    );
    let w = Window {
        from: run.sim.now() - 3600,
        to: run.sim.now(),
    };
    let path = "/api/v2/order/get_order_list";
    run.sim
        .inject(Platform::Shopee, Fault::Slow { millis: 600 }, 1);
    let before = run.sim.requests(Platform::Shopee, path);
    impatient.list_orders(&c.store, w).await.unwrap();
    assert_eq!(
        run.sim.requests(Platform::Shopee, path) - before,
        2,
        "timed out once, then retried"
    );
    // Slower than the policy allows every time: a transient error, not a hang.
    run.sim
        .inject(Platform::Shopee, Fault::Slow { millis: 600 }, 10);
    let e = impatient.list_orders(&c.store, w).await.unwrap_err();
    assert!(matches!(e, Error::Transient(_)), "{e:?}");
}
