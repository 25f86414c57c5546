//! Catalog and stock helpers shared by the inventory, import and cache tests.

use crate::{Session, TestApp, gid_uuid, owner_rows};
use serde_json::{Value, json};

/// An organization with one branch and one warehouse.
pub struct Shop {
    /// Its owner.
    pub s: Session,
    /// Organization uuid.
    pub org: String,
    /// Branch id.
    pub branch: String,
    /// Warehouse id.
    pub location: String,
}

/// Signs up an owner with an organization, a branch and a warehouse.
pub async fn shop(app: &TestApp, tag: &str) -> Shop {
    let s = app.sign_up(tag, Some(&format!("{tag} Co"))).await;
    let org = gid_uuid(s.org_id.as_ref().unwrap());
    let branch = app.create_branch(&s, "Main").await;
    let body = app
        .gql(
            Some(&s.token),
            "mutation($i: CreateLocationInput!) { createLocation(input: $i) { location { id } userErrors { code message } } }",
            json!({"i": {"branchId": branch, "name": "Warehouse", "kind": "WAREHOUSE"}}),
        )
        .await;
    let location = body["data"]["createLocation"]["location"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    Shop {
        s,
        org,
        branch,
        location,
    }
}

/// Creates an ACTIVE product with one variant per SKU (USD 12.50); returns the variant ids.
pub async fn product(app: &TestApp, sh: &Shop, skus: &[&str]) -> Vec<String> {
    let variants: Vec<Value> = skus
        .iter()
        .map(|s| json!({"sku": s, "prices": [{"amount": "12.50", "currencyCode": "USD"}]}))
        .collect();
    let body = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: CreateProductInput!) { createProduct(input: $i) { product { id variants { id sku } } userErrors { code message } } }",
            json!({"i": {"name": "Thing", "status": "ACTIVE", "variants": variants}}),
        )
        .await;
    let vs = body["data"]["createProduct"]["product"]["variants"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    skus.iter()
        .map(|sku| {
            vs.iter().find(|v| v["sku"] == *sku).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The adjustStock mutation.
pub const ADJUST: &str = "mutation($i: AdjustStockInput!) { adjustStock(input: $i) { stockLevel { onHand reserved available } userErrors { field code message } } }";
/// The reserveStock mutation.
pub const RESERVE: &str = "mutation($i: ReserveStockInput!) { reserveStock(input: $i) { reservation { id status } userErrors { code message } } }";

/// Receives `qty` units at the shop's warehouse.
pub async fn receive(app: &TestApp, sh: &Shop, variant: &str, qty: i64) {
    let body = app
        .gql(
            Some(&sh.s.token),
            ADJUST,
            json!({"i": {"variantId": variant, "locationId": sh.location, "kind": "RECEIVE", "quantity": qty, "reason": "opening stock"}}),
        )
        .await;
    assert!(
        body["data"]["adjustStock"]["userErrors"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{body}"
    );
}

/// The variant's stock level at the shop's warehouse.
pub async fn level(app: &TestApp, sh: &Shop, variant: &str) -> Value {
    let body = app
        .gql(
            Some(&sh.s.token),
            "query($v: ID!, $l: ID!) { stockLevel(variantId: $v, locationId: $l) { onHand reserved safetyStock available } }",
            json!({"v": variant, "l": sh.location}),
        )
        .await;
    body["data"]["stockLevel"].clone()
}

/// Every level equals the sums of its ledger rows, and no level breaks 0 ≤ reserved ≤ on hand.
pub async fn assert_ledger_equals_levels(app: &TestApp, org: &str) {
    let rows = owner_rows(
        app,
        org,
        "SELECT count(*)::text FROM inventory_levels l LEFT JOIN ( \
           SELECT variant_id, location_id, sum(on_hand_delta) AS oh, sum(reserved_delta) AS rs \
           FROM stock_movements GROUP BY 1, 2) m USING (variant_id, location_id) \
         WHERE l.on_hand <> COALESCE(m.oh, 0) OR l.reserved <> COALESCE(m.rs, 0) \
            OR l.reserved < 0 OR l.reserved > l.on_hand",
    )
    .await;
    assert_eq!(rows, ["0"], "ledger and levels disagree");
    let reserved_rows = owner_rows(
        app,
        org,
        "SELECT count(*)::text FROM inventory_levels l LEFT JOIN ( \
           SELECT variant_id, location_id, sum(quantity) AS q FROM reservations \
           WHERE status = 'ACTIVE' AND NOT EXISTS (SELECT 1 FROM reservations c WHERE c.parent_id = reservations.id) \
           GROUP BY 1, 2) r USING (variant_id, location_id) WHERE l.reserved <> COALESCE(r.q, 0)",
    )
    .await;
    assert_eq!(
        reserved_rows,
        ["0"],
        "reserved differs from the active reservations that hold stock"
    );
}

/// Reserves `qty` of `variant` at the shop's warehouse for `reference` (a cart), optionally
/// expiring; returns the reservation id (panics on any error).
pub async fn reserve(
    app: &TestApp,
    sh: &Shop,
    variant: &str,
    qty: i64,
    reference: &str,
    expires_at: Option<&str>,
) -> String {
    let body = app
        .gql(
            Some(&sh.s.token),
            RESERVE,
            json!({"i": {"variantId": variant, "locationId": sh.location, "quantity": qty,
                         "referenceType": "CART", "referenceId": reference, "expiresAt": expires_at}}),
        )
        .await;
    body["data"]["reserveStock"]["reservation"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned()
}
