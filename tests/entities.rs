//! Every table has its sea-orm entity, and the entities match the migrated schema: each one
//! reads real rows (written through the API) as the runtime role under the tenant's context, so a
//! renamed column, a changed type or a status value outside its enum fails here.

#![allow(clippy::unwrap_used, missing_docs)]

use mercato::domain::jobs::org_tx;
use mercato::ids::OrgId;
use mercato_tests::stock::{product, receive, reserve, shop};
use mercato_tests::*;
use sea_orm::{EntityTrait, TransactionTrait as _};
use serde_json::json;

macro_rules! read_all {
    ($tx:expr, $counts:expr, $($m:ident),* $(,)?) => {$(
        let rows = entity::$m::Entity::find().all($tx).await.unwrap_or_else(|e| {
            panic!("entity {} does not match its table: {e}", stringify!($m))
        });
        $counts.push((stringify!($m), rows.len()));
    )*};
}

#[tokio::test]
async fn every_table_has_an_entity_that_reads_its_rows() {
    let app = TestApp::spawn().await;
    let a = shop(&app, "entities").await;
    let t = Some(a.s.token.as_str());
    let variant = product(&app, &a, &["ENT-1", "ENT-2"]).await.remove(0);
    receive(&app, &a, &variant, 5).await;
    reserve(&app, &a, &variant, 1, "cart-1", None).await;
    let store = app
        .connect_store(&a.s, &a.branch, "entity-shop", None)
        .await;
    app.gql(
        t,
        "mutation($i: CreateListingInput!) { createListing(input: $i) { userErrors { code } } }",
        json!({"i": {"storeId": store, "variantId": variant, "externalItemId": "1"}}),
    )
    .await;
    app.gql(
        t,
        "mutation($i: SetVariantCostInput!) { setVariantCost(input: $i) { userErrors { code } } }",
        json!({"i": {"variantId": variant, "cost": {"amount": "3.10", "currencyCode": "USD"}}}),
    )
    .await;
    app.gql(
        t,
        "mutation($i: StartSyncInput!) { startSync(input: $i) { userErrors { code } } }",
        json!({"i": {"storeId": store, "kind": "ORDERS"}}),
    )
    .await;
    app.create_api_token(&a.s, "entities", &["CATALOG_READ"], None)
        .await;

    let org = OrgId(a.org.parse().unwrap());
    let tx = org_tx(&app.state.db, org).await.unwrap();
    let mut counts = Vec::new();
    read_all!(
        &tx,
        counts,
        api_tokens,
        audit_events,
        branches,
        bundle_components,
        inventory_levels,
        jobs,
        listings,
        locations,
        order_events,
        order_items,
        orders,
        org_members,
        organizations,
        products,
        reservations,
        stock_alerts,
        stock_movements,
        stock_requests,
        stores,
        sync_items,
        sync_logs,
        sync_runs,
        sync_schedules,
        variant_costs,
        variant_prices,
        variants,
    );
    tx.rollback().await.unwrap();
    for table in [
        "api_tokens",
        "audit_events",
        "branches",
        "inventory_levels",
        "jobs",
        "listings",
        "locations",
        "org_members",
        "organizations",
        "products",
        "reservations",
        "stock_movements",
        "stores",
        "sync_runs",
        "sync_schedules",
        "variant_costs",
        "variant_prices",
        "variants",
    ] {
        let n = counts.iter().find(|(m, _)| *m == table).unwrap().1;
        assert!(n > 0, "{table}: no rows read ({counts:?})");
    }
    // Tables outside the tenant context (accounts, sessions) read through their own settings.
    let runtime = app.runtime().await;
    let tx = runtime.begin().await.unwrap();
    mercato::db::rls::apply_settings(
        &tx,
        &mercato::db::rls::Settings {
            user_id: Some(mercato::ids::UserId(
                gid_uuid(&a.s.user_id).parse().unwrap(),
            )),
            branches: Some(Vec::new()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let users = entity::users::Entity::find().all(&tx).await.unwrap();
    assert_eq!(users.len(), 1);
    entity::branch_members::Entity::find()
        .all(&tx)
        .await
        .unwrap();
    entity::refresh_tokens::Entity::find()
        .all(&tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    // The dispatch index is the reconciler's (through a SECURITY DEFINER function): the owner
    // reads it, the runtime role cannot.
    let owner = app.owner().await;
    entity::job_dispatch::Entity::find()
        .all(&owner)
        .await
        .unwrap();
}
