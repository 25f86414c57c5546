//! W1, orders read: `orders(first: 50) { … items { … } store { name } }` over 100 organizations ×
//! 10,000 orders × 3 items, at c=16 and c=64, next to (a) pgbench running the best single SQL
//! for the same page under the same RLS as the runtime role and (b) PostGraphile v5 serving the
//! same database as the runtime role (`bench/peer`, or `MERCATO_PEER_DIR`), in one run.

use super::{RUN, count, drive, owner_tx_exec, pgbench};
use mercato_tests::stock::Shop;
use mercato_tests::*;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Orders per organization.
pub const ORDERS: usize = 10_000;

const PAGE: &str = "{ orders(first: 50) { edges { node { id externalId status placedAt \
     totals { total { amount currencyCode } } items { sellerSku name quantity unitPrice { amount } } \
     store { name } } } } }";

const PEER_PAGE: &str = "{ allOrders(first: 50, orderBy: [PLACED_AT_DESC, PRIMARY_KEY_DESC]) { nodes { id externalId status placedAt \
     totalMinor currency orderItemsByOrgIdAndOrderIdAndBranchId(orderBy: [LINE_NO_ASC]) { nodes { sellerSku name quantity unitPriceMinor } } \
     storeByOrgIdAndStoreIdAndBranchId { name } } } }";

/// One store per organization and its orders (3 lines each), placed a minute apart.
pub async fn seed(app: &TestApp, owner: &sea_orm::DatabaseConnection, shops: &[Shop]) {
    let started = Instant::now();
    let mut stores = Vec::with_capacity(shops.len());
    for (i, sh) in shops.iter().enumerate() {
        let store = app
            .connect_store(&sh.s, &sh.branch, &format!("bench-store-{i}"), None)
            .await;
        stores.push(gid_uuid(&store));
    }
    let owner = Arc::new(owner.clone());
    let mut tasks = tokio::task::JoinSet::new();
    let work: Vec<(String, String, String)> = shops
        .iter()
        .zip(stores)
        .map(|(sh, st)| (sh.org.clone(), gid_uuid(&sh.branch), st))
        .collect();
    for chunk in work.chunks(work.len().div_ceil(4)) {
        let (owner, chunk) = (owner.clone(), chunk.to_vec());
        tasks.spawn(async move {
            for (org, branch, store) in chunk {
                let sqls = vec![
                    format!(
                        "INSERT INTO orders (org_id, id, branch_id, store_id, external_id, status, raw_status, \
                           marketplace_updated_at, buyer_name, ship_city, currency, shipping_fee_minor, total_minor, \
                           placed_at, ship_by) \
                         SELECT '{org}', gen_random_uuid(), '{branch}', '{store}', 'KM-' || g, \
                           (ARRAY['AWAITING_FULFILLMENT', 'SHIPPED', 'COMPLETED', 'CANCELLED'])[1 + g % 4], 'Paid', \
                           now() - g * interval '1 minute', 'Buyer ' || g, 'Nairobi', 'KES', 10000, 310000, \
                           now() - g * interval '1 minute' - interval '1 hour', now() + interval '2 days' \
                         FROM generate_series(1, {ORDERS}) g"
                    ),
                    format!(
                        "INSERT INTO order_items (org_id, id, order_id, branch_id, line_no, external_item_id, \
                           external_sku_id, seller_sku, name, quantity, unit_price_minor) \
                         SELECT o.org_id, gen_random_uuid(), o.id, o.branch_id, l, 'item-' || l, 'sku-' || l, \
                           'SKU-' || l, 'Item ' || l, l, 50000 \
                         FROM orders o, generate_series(1, 3) l WHERE o.org_id = '{org}'"
                    ),
                ];
                owner_tx_exec(&owner, &org, &sqls).await;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    owner
        .execute_raw(Statement::from_string(
            DbBackend::Postgres,
            "ANALYZE".to_owned(),
        ))
        .await
        .unwrap();
    println!(
        "seeded {} orgs × {ORDERS} orders × 3 items in {:.0}s",
        shops.len(),
        started.elapsed().as_secs_f64()
    );
}

/// The best single statement for the page: the 50 newest orders with their lines and store name
/// as JSON, under RLS as the runtime role (tenant settings applied like the servers do).
fn pgbench_script(dir: &std::path::Path) -> std::path::PathBuf {
    let script = r"\set n random(1, 100)
BEGIN READ ONLY;
SELECT org_id::text AS org, user_id::text AS uid FROM bench_orgs WHERE n = :n \gset
SELECT set_config('app.org_id', :org, true), set_config('app.user_id', :uid, true), set_config('app.branch_ids', '*', true);
SELECT coalesce(json_agg(p), '[]') FROM (
  SELECT o.id, o.external_id, o.status, o.placed_at, o.total_minor, o.currency,
    (SELECT s.name FROM stores s WHERE s.org_id = o.org_id AND s.id = o.store_id) AS store,
    (SELECT json_agg(json_build_object('sku', i.seller_sku, 'name', i.name, 'quantity', i.quantity,
            'price', i.unit_price_minor) ORDER BY i.line_no)
       FROM order_items i WHERE i.org_id = o.org_id AND i.order_id = o.id) AS items
  FROM orders o ORDER BY o.placed_at DESC, o.id DESC LIMIT 50) p;
COMMIT;
";
    let path = dir.join("orders_page.sql");
    std::fs::write(&path, script).unwrap();
    path
}

/// W1.
pub async fn orders(app: &TestApp, db: &str, shops: &[Shop], owner: &sea_orm::DatabaseConnection) {
    println!("\n## W1 orders read: orders(first: 50) with items and store name");
    println!(
        "{} orgs × {ORDERS} orders × 3 items; {}s per run",
        shops.len(),
        RUN.as_secs()
    );
    let mut sqls = vec![
        // PostGraphile hides a backward relation whose foreign key no index leads with (its
        // index-behaviour rule); Mercato's lines index is (org_id, order_id, line_no). This index
        // exists only in the benchmark's database, so the peer can serve `order → items` at all.
        "CREATE INDEX IF NOT EXISTS bench_order_items_fk_idx ON order_items (org_id, order_id, branch_id)".to_owned(),
        "CREATE TABLE IF NOT EXISTS bench_orgs (n int PRIMARY KEY, org_id uuid NOT NULL, user_id uuid NOT NULL)".to_owned(),
        "GRANT SELECT ON bench_orgs TO mercato_app".to_owned(),
    ];
    for (i, sh) in shops.iter().enumerate() {
        sqls.push(format!(
            "INSERT INTO bench_orgs VALUES ({}, '{}', '{}') ON CONFLICT DO NOTHING",
            i + 1,
            sh.org,
            gid_uuid(&sh.s.user_id)
        ));
    }
    for sql in sqls {
        owner
            .execute_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .unwrap();
    }
    let dir = std::env::temp_dir().join(format!("mercato-bench-orders-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = pgbench_script(&dir);
    let tokens = Arc::new(shops.iter().map(|s| s.s.token.clone()).collect::<Vec<_>>());
    // A separate release `mercato serve`, as PostGraphile is a process of its own.
    let server = procs::server(app, crate::UNLIMITED).await;
    let url = format!("http://{}/graphql", server.addr.as_deref().unwrap());
    let peer = crate::peer::Peer::start(app, db, &tokens[0], PEER_PAGE).await;
    let ours: fn(&[u8]) -> bool = |b| {
        b.starts_with(br#"{"data":{"orders":{"edges":["#)
            && count(b, br#""errors""#) == 0
            && count(b, br#""externalId":"#) == 50
            && count(b, br#""sellerSku":"#) == 150
            && count(b, br#""store":{"name":"#) == 50
    };
    let theirs: fn(&[u8]) -> bool = |b| {
        count(b, br#""errors""#) == 0
            && count(b, br#""externalId":"#) == 50
            && count(b, br#""sellerSku":"#) == 150
    };
    println!(
        "\n| concurrency | Mercato req/s | p50 ms | p99 ms | failed | PostGraphile req/s | p50 ms | p99 ms | failed | pgbench single SQL tps | p50 ms | p99 ms | Mercato / PostGraphile | Mercato / pgbench |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for conc in [16, 64] {
        let (tps, pg50, pg99) = pgbench(db, &script, conc);
        drive(
            &url,
            conc,
            tokens.clone(),
            Arc::new(|_| json!({"query": PAGE})),
            ours,
            Duration::from_secs(2),
        )
        .await;
        let m = drive(
            &url,
            conc,
            tokens.clone(),
            Arc::new(|_| json!({"query": PAGE})),
            ours,
            *RUN,
        )
        .await;
        let p = if let Some(peer) = &peer {
            drive(
                &peer.url,
                conc,
                tokens.clone(),
                Arc::new(|_| json!({"query": PEER_PAGE})),
                theirs,
                Duration::from_secs(2),
            )
            .await;
            Some(
                drive(
                    &peer.url,
                    conc,
                    tokens.clone(),
                    Arc::new(|_| json!({"query": PEER_PAGE})),
                    theirs,
                    *RUN,
                )
                .await,
            )
        } else {
            None
        };
        let (pr, p50, p99, pf) = p.as_ref().map_or((0.0, 0.0, 0.0, 0), |p| {
            (p.rate(), p.pct(0.5), p.pct(0.99), p.failed)
        });
        println!(
            "| {conc} | {:.0} | {:.1} | {:.1} | {} | {:.0} | {:.1} | {:.1} | {} | {:.0} | {:.1} | {:.1} | {} | {:.0}% |",
            m.rate(),
            m.pct(0.5),
            m.pct(0.99),
            m.failed,
            pr,
            p50,
            p99,
            pf,
            tps,
            pg50,
            pg99,
            if pr > 0.0 {
                format!("{:.2}×", m.rate() / pr)
            } else {
                "-".into()
            },
            100.0 * m.rate() / tps
        );
    }
    drop(peer);
    drop(server);
}
