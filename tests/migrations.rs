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
            "org_members",
            "organizations",
            "products",
            "refresh_tokens",
            "reservations",
            "shop_claims",
            "stock_alerts",
            "stock_movements",
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
            "variants"
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
