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
    SystemClock, Window,
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
            let running = Simulator::new(SimConfig::default())
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
        assert_eq!(
            o.total.minor,
            world.items_total(sim_order) + sim_order.shipping
        );
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
