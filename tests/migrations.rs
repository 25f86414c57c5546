//! Migrations go all the way down and up again on an empty database.

#![allow(clippy::unwrap_used, missing_docs)]

use mercato_tests::*;
use migration::MigratorTrait;

async fn tables(conn: &sea_orm::DatabaseConnection) -> Vec<String> {
    rows_as(conn, &[], "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'seaql_migrations' ORDER BY 1")
        .await
        .unwrap()
}

#[tokio::test]
async fn migrations_go_down_to_zero_and_up_again() {
    let name = format!("mercato_mig_{}", uuid::Uuid::new_v4().simple());
    let admin = connect(&owner_url("mercato"), 1).await;
    exec(&admin, &format!("CREATE DATABASE {name}")).await;
    let db = connect(&owner_url(&name), 2).await;

    migration::Migrator::up(&db, None).await.expect("up");
    let all = tables(&db).await;
    assert_eq!(
        all,
        [
            "api_tokens",
            "audit_events",
            "branch_members",
            "branches",
            "bundle_components",
            "connect_states",
            "inventory_levels",
            "job_dispatch",
            "jobs",
            "listings",
            "locations",
            "order_events",
            "order_items",
            "orders",
            "org_members",
            "organizations",
            "products",
            "refresh_tokens",
            "reservations",
            "shop_claims",
            "stock_alerts",
            "stock_movements",
            "stock_push_queue",
            "stock_requests",
            "store_tokens",
            "stores",
            "sync_items",
            "sync_logs",
            "sync_runs",
            "sync_schedules",
            "users",
            "variant_costs",
            "variant_prices",
            "variants",
            "webhook_dispatch",
            "webhook_inbox"
        ]
    );

    migration::Migrator::down(&db, None)
        .await
        .expect("down to zero");
    assert!(tables(&db).await.is_empty());
    let funcs = rows_as(
        &db,
        &[],
        "SELECT proname::text FROM pg_proc WHERE proname LIKE 'app\\_%'",
    )
    .await
    .unwrap();
    assert!(funcs.is_empty(), "{funcs:?}");

    migration::Migrator::up(&db, None).await.expect("up again");
    assert_eq!(tables(&db).await, all);
    db.close().await.ok();
    exec(&admin, &format!("DROP DATABASE {name}")).await;
}

/// Stores that existed before connections (000009) land in the right state: a Kilimall store is
/// FILE_ONLY with its schedules running; a marketplace store whose credentials nobody read is
/// DISCONNECTED, its schedules paused and their queued slots cancelled. Forced RLS hides every
/// row from the owner, so this checks the migration really reached them.
#[tokio::test]
async fn existing_stores_are_migrated_to_their_connection_state() {
    let name = format!("mercato_mig_{}", uuid::Uuid::new_v4().simple());
    let admin = connect(&owner_url("mercato"), 1).await;
    exec(&admin, &format!("CREATE DATABASE {name}")).await;
    let db = connect(&owner_url(&name), 2).await;
    migration::Migrator::up(&db, Some(8))
        .await
        .expect("up to 000008");
    let org = uuid::Uuid::new_v4();
    let branch = uuid::Uuid::new_v4();
    let (kili, shopee) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let tx = {
        use sea_orm::TransactionTrait as _;
        db.begin().await.unwrap()
    };
    use sea_orm::ConnectionTrait as _;
    tx.execute_unprepared(&format!(
        "SELECT set_config('app.org_id', '{org}', true), set_config('app.branch_ids', '*', true);
         INSERT INTO organizations (id, name) VALUES ('{org}', 'Old Co');
         INSERT INTO branches (org_id, id, name) VALUES ('{org}', '{branch}', 'Main');
         INSERT INTO stores (org_id, id, branch_id, platform, external_shop_id, name, region, currency)
           VALUES ('{org}', '{kili}', '{branch}', 'KILIMALL', 'k-1', 'Kili', 'KE', 'KES'),
                  ('{org}', '{shopee}', '{branch}', 'SHOPEE', 's-1', 'Shop', 'MY', 'MYR');
         INSERT INTO sync_schedules (org_id, id, branch_id, store_id, kind, every_seconds, next_run_at)
           VALUES ('{org}', gen_random_uuid(), '{branch}', '{kili}', 'ORDERS', 600, now() + interval '5 minutes'),
                  ('{org}', gen_random_uuid(), '{branch}', '{shopee}', 'ORDERS', 600, now() + interval '5 minutes');
         INSERT INTO jobs (org_id, id, branch_id, store_id, kind, max_attempts, run_at, schedule_id, slot_at)
           SELECT org_id, gen_random_uuid(), branch_id, store_id, 'ORDERS', 6, next_run_at, id, next_run_at FROM sync_schedules;"
    ))
    .await
    .unwrap();
    tx.commit().await.unwrap();
    migration::Migrator::up(&db, None)
        .await
        .expect("up to the end");
    let read = async |sql: &str| {
        rows_as(
            &db,
            &[("app.org_id", &org.to_string()), ("app.branch_ids", "*")],
            sql,
        )
        .await
        .unwrap()
    };
    assert_eq!(
        read("SELECT platform || ' ' || connection FROM stores ORDER BY platform").await,
        vec!["KILIMALL FILE_ONLY", "SHOPEE DISCONNECTED"]
    );
    assert_eq!(
        read(&format!(
            "SELECT coalesce(s.paused, '-') || ' ' || j.status FROM sync_schedules s JOIN jobs j ON j.schedule_id = s.id ORDER BY s.store_id = '{kili}' DESC"
        ))
        .await,
        vec!["- QUEUED", "DISCONNECTED CANCELLED"]
    );
    let forced = rows_as(
        &db,
        &[],
        "SELECT count(*)::text FROM pg_class WHERE relname IN ('stores', 'sync_schedules', 'jobs') AND relforcerowsecurity",
    )
    .await
    .unwrap();
    assert_eq!(forced, vec!["3"], "RLS is forced again");
    db.close().await.ok();
    exec(&admin, &format!("DROP DATABASE {name}")).await;
}
