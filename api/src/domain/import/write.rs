//! Writing an import with a handful of set-based statements: products, variants, prices and
//! opening stock counts.

use super::*;
use crate::domain::inventory::{Level, actor, alerts_after};
use crate::domain::{Ctx, stmt};
use crate::error::{AppError, AppResult};
use sea_orm::{ConnectionTrait, FromQueryResult, Value};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Rows for `jsonb_to_recordset` (array parameters of sea-query cannot hold NULLs).
fn records(rows: Vec<serde_json::Value>) -> Value {
    serde_json::Value::Array(rows).into()
}

#[derive(FromQueryResult)]
pub(super) struct Existing {
    id: Uuid,
    sku: String,
    product_id: Uuid,
    is_bundle: bool,
}

fn uuid_list(ids: impl IntoIterator<Item = Uuid>) -> Value {
    ids.into_iter().collect::<Vec<Uuid>>().into()
}

/// Sets `enable_nestloop` for the rest of the transaction; returns the value it had.
pub(super) async fn planner(c: &Ctx<'_>, nested_loops: &str) -> AppResult<String> {
    let row = c
        .tx
        .query_one_raw(stmt(
            "SELECT current_setting('enable_nestloop') AS previous, set_config('enable_nestloop', $1, true)",
            vec![nested_loops.into()],
        ))
        .await?
        .ok_or_else(|| AppError::internal("set_config returned no row"))?;
    Ok(row.try_get("", "previous")?)
}

/// The variants whose SKUs the import names, locked until commit.
pub(super) async fn existing(c: &Ctx<'_>, good: &[Good]) -> AppResult<HashMap<String, Existing>> {
    Ok(if good.is_empty() {
        HashMap::new()
    } else {
        Existing::find_by_statement(stmt(
            "SELECT id, sku, product_id, is_bundle FROM variants WHERE sku = ANY($1) FOR UPDATE",
            vec![
                good.iter()
                    .map(|g| g.sku.clone())
                    .collect::<Vec<String>>()
                    .into(),
            ],
        ))
        .all(c.tx)
        .await?
        .into_iter()
        .map(|e| (e.sku.clone(), e))
        .collect()
    })
}

/// Refuses the opening stock of rows whose SKU is a bundle or is counted below what is reserved
/// at `location`.
pub(super) async fn screen_existing(
    c: &Ctx<'_>,
    location: Option<LocationId>,
    existing: &HashMap<String, Existing>,
    good: &mut Vec<Good>,
    errors: &mut Vec<RowError>,
) -> AppResult<()> {
    #[derive(FromQueryResult)]
    struct Reserved {
        variant_id: Uuid,
        reserved: i64,
    }
    let reserved: HashMap<Uuid, i64> = match location {
        Some(l) if !existing.is_empty() => Reserved::find_by_statement(stmt(
            "SELECT variant_id, reserved FROM inventory_levels WHERE location_id = $1 AND variant_id = ANY($2)",
            vec![l.uuid().into(), uuid_list(existing.values().map(|e| e.id))],
        ))
        .all(c.tx)
        .await?
        .into_iter()
        .map(|r| (r.variant_id, r.reserved))
        .collect(),
        _ => HashMap::new(),
    };
    good.retain(|g| {
        let Some(e) = existing.get(&g.sku) else {
            return true;
        };
        let problem = match g.stock {
            Some(_) if e.is_bundle => {
                Some("the SKU is a bundle: its stock is derived from its components".to_owned())
            }
            Some(q) if q < reserved.get(&e.id).copied().unwrap_or(0) => Some(format!(
                "{q} is below the {} units reserved at this location",
                reserved.get(&e.id).copied().unwrap_or(0)
            )),
            _ => None,
        };
        match problem {
            Some(message) => {
                errors.push(RowError {
                    row: g.row,
                    field: Some("openingStock".into()),
                    message,
                });
                false
            }
            None => true,
        }
    });
    Ok(())
}

/// Creates or updates one product per group; returns each group's product.
pub(super) async fn products(
    c: &Ctx<'_>,
    good: &[Good],
    existing: &HashMap<String, Existing>,
    report: &mut ImportReport,
) -> AppResult<HashMap<String, Uuid>> {
    // One product per group: that of an existing SKU of the group, or a new one. The group's first
    // row describes the product.
    let mut group_product: HashMap<&str, (Uuid, bool)> = HashMap::new();
    for g in good {
        if let Some(e) = existing.get(&g.sku) {
            group_product
                .entry(g.group.as_str())
                .or_insert((e.product_id, false));
        }
    }
    let mut products: Vec<(&Good, Uuid, bool)> = Vec::new();
    let mut described = HashSet::new();
    for g in good {
        let (id, new) = *group_product
            .entry(g.group.as_str())
            .or_insert_with(|| (Uuid::now_v7(), true));
        if described.insert(g.group.as_str()) {
            products.push((g, id, new));
        }
    }
    let (new_products, old_products): (Vec<_>, Vec<_>) =
        products.into_iter().partition(|(_, _, new)| *new);
    report.products_created = new_products.len();
    report.products_updated = old_products.len();
    let product_rows = |list: &[(&Good, Uuid, bool)]| {
        records(
            list.iter()
                .map(|(g, id, _)| {
                    json!({"id": id, "name": g.product_name, "status": g.status,
                           "description": g.description, "images": g.image_urls})
                })
                .collect(),
        )
    };
    const PRODUCT_ROWS: &str = "jsonb_to_recordset($1) AS u(id uuid, name text, status text, description text, images jsonb)";
    if !new_products.is_empty() {
        c.tx.execute_raw(stmt(
            &format!(
                "INSERT INTO products (org_id, id, name, status, description, image_urls) \
                 SELECT (SELECT app_org_id()), u.id, u.name, COALESCE(u.status, 'DRAFT'), COALESCE(u.description, ''), \
                        CASE WHEN u.images IS NULL OR u.images = 'null' THEN '{{}}'::text[] \
                             ELSE ARRAY(SELECT jsonb_array_elements_text(u.images)) END \
                 FROM {PRODUCT_ROWS}"
            ),
            vec![product_rows(&new_products)],
        ))
        .await?;
    }
    if !old_products.is_empty() {
        c.tx.execute_raw(stmt(
            &format!(
                "UPDATE products p SET name = u.name, status = COALESCE(u.status, p.status), \
                        description = COALESCE(u.description, p.description), \
                        image_urls = CASE WHEN u.images IS NULL OR u.images = 'null' THEN p.image_urls \
                                          ELSE ARRAY(SELECT jsonb_array_elements_text(u.images)) END, \
                        updated_at = now() \
                 FROM {PRODUCT_ROWS} WHERE p.id = u.id"
            ),
            vec![product_rows(&old_products)],
        ))
        .await?;
    }
    Ok(group_product
        .into_iter()
        .map(|(g, (id, _))| (g.to_owned(), id))
        .collect())
}

/// Upserts the variants by SKU; returns each SKU's variant.
pub(super) async fn variants(
    c: &Ctx<'_>,
    good: &[Good],
    product_of: &HashMap<String, Uuid>,
    report: &mut ImportReport,
) -> AppResult<HashMap<String, Uuid>> {
    let product_of = |g: &Good| product_of[g.group.as_str()];
    // Variants, upserted by SKU (an existing variant keeps its product; an absent name or empty
    // attributes keep the existing ones).
    #[derive(FromQueryResult)]
    struct Upserted {
        id: Uuid,
        sku: String,
        inserted: bool,
    }
    let upserted = Upserted::find_by_statement(stmt(
        "INSERT INTO variants (org_id, id, product_id, sku, name, attributes) \
         SELECT (SELECT app_org_id()), u.id, u.product_id, u.sku, COALESCE(u.name, ''), u.attributes \
         FROM jsonb_to_recordset($1) AS u(id uuid, product_id uuid, sku text, name text, attributes jsonb) \
         ON CONFLICT (org_id, sku) DO UPDATE SET \
           name = CASE WHEN EXCLUDED.name = '' THEN variants.name ELSE EXCLUDED.name END, \
           attributes = CASE WHEN EXCLUDED.attributes = '{}' THEN variants.attributes ELSE EXCLUDED.attributes END, \
           updated_at = now() \
         RETURNING id, sku, (xmax = 0) AS inserted",
        vec![records(
            good.iter()
                .map(|g| {
                    json!({"id": Uuid::now_v7(), "product_id": product_of(g), "sku": g.sku,
                           "name": g.variant_name, "attributes": g.attributes})
                })
                .collect(),
        )],
    ))
    .all(c.tx)
    .await?;
    if upserted.len() != good.len() {
        return Err(AppError::internal("import: variant upsert count mismatch"));
    }
    report.variants_created = upserted.iter().filter(|u| u.inserted).count();
    report.variants_updated = upserted.len() - report.variants_created;
    Ok(upserted.into_iter().map(|u| (u.sku, u.id)).collect())
}

/// Sets the prices of the imported variants.
pub(super) async fn prices(
    c: &Ctx<'_>,
    good: &[Good],
    variant_of: &HashMap<String, Uuid>,
) -> AppResult<()> {
    let priced: Vec<(Uuid, &str, i64)> = good
        .iter()
        .flat_map(|g| {
            let id = variant_of[g.sku.as_str()];
            g.prices
                .iter()
                .map(move |(cur, minor)| (id, cur.as_str(), *minor))
        })
        .collect();
    if !priced.is_empty() {
        c.tx.execute_raw(stmt(
            "INSERT INTO variant_prices (org_id, variant_id, currency, amount_minor) \
             SELECT (SELECT app_org_id()), u.variant_id, u.currency, u.amount \
             FROM jsonb_to_recordset($1) AS u(variant_id uuid, currency text, amount bigint) \
             ON CONFLICT (org_id, variant_id, currency) DO UPDATE \
               SET amount_minor = EXCLUDED.amount_minor, updated_at = now() \
               WHERE variant_prices.amount_minor <> EXCLUDED.amount_minor",
            vec![records(
                priced
                    .iter()
                    .map(|(id, currency, amount)| json!({"variant_id": id, "currency": currency, "amount": amount}))
                    .collect(),
            )],
        ))
        .await?;
    }
    Ok(())
}

/// Sets on-hand to the counted quantities at `location` (creating levels as needed), writing one
/// COUNT movement per level that changed; returns how many changed.
pub(super) async fn count_stock(
    c: &Ctx<'_>,
    report: &ImportReport,
    location: LocationId,
    branch: crate::ids::BranchId,
    counted: &[(Uuid, &Good)],
) -> AppResult<usize> {
    let ids = || uuid_list(counted.iter().map(|(id, _)| *id));
    c.tx.execute_raw(stmt(
        "INSERT INTO inventory_levels (org_id, variant_id, location_id, branch_id) \
         SELECT (SELECT app_org_id()), v, $2, $3 FROM unnest($1::uuid[]) AS v \
         ON CONFLICT DO NOTHING",
        vec![ids(), location.uuid().into(), branch.uuid().into()],
    ))
    .await?;
    // Lock the levels and read what they hold now; then set exactly the ones that change, each
    // guarded by the on-hand just read (so a concurrent change cannot be overwritten unseen).
    #[derive(FromQueryResult)]
    struct Now {
        variant_id: Uuid,
        on_hand: i64,
    }
    let now: HashMap<Uuid, i64> = Now::find_by_statement(stmt(
        "SELECT variant_id, on_hand FROM inventory_levels \
         WHERE location_id = $2 AND variant_id = ANY($1) FOR UPDATE",
        vec![ids(), location.uuid().into()],
    ))
    .all(c.tx)
    .await?
    .into_iter()
    .map(|n| (n.variant_id, n.on_hand))
    .collect();
    let changes: Vec<serde_json::Value> = counted
        .iter()
        .filter_map(|(id, g)| {
            let old = *now.get(id)?;
            let q = g.stock?;
            (q != old).then(|| {
                json!({"variant_id": id, "counted": q, "old": old,
                       "doc": format!("{}:{}", report.id, g.row)})
            })
        })
        .collect();
    if now.len() != counted.len() {
        return Err(AppError::internal("import: a counted level is missing"));
    }
    if changes.is_empty() {
        return Ok(0);
    }
    let expected = changes.len();
    #[derive(FromQueryResult)]
    struct Counted {
        variant_id: Uuid,
        location_id: Uuid,
        branch_id: Uuid,
        on_hand: i64,
        reserved: i64,
        safety_stock: i64,
        reorder_point: Option<i64>,
    }
    let (user, token) = actor(c);
    let rows = Counted::find_by_statement(stmt(
        concat!(
            "WITH upd AS ( \
           UPDATE inventory_levels l SET on_hand = u.counted, updated_at = now() \
           FROM jsonb_to_recordset($1) AS u(variant_id uuid, counted bigint, old bigint, doc text) \
           WHERE l.location_id = $2 AND l.variant_id = u.variant_id AND l.on_hand = u.old \
             AND u.counted >= l.reserved \
           RETURNING l.org_id, l.variant_id, l.location_id, l.branch_id, l.on_hand, l.reserved, \
                     l.safety_stock, l.reorder_point, u.counted - u.old AS delta, u.doc), \
         mv AS ( \
           INSERT INTO stock_movements (org_id, id, variant_id, location_id, branch_id, kind, on_hand_delta, \
             reserved_delta, on_hand_after, reserved_after, actor_user_id, actor_api_token_id, reason, \
             document_type, document_id) \
           SELECT org_id, gen_random_uuid(), variant_id, location_id, branch_id, 'COUNT', delta, 0, on_hand, \
                  reserved, $3, $4, 'catalog import', 'IMPORT_ROW', doc \
           FROM upd RETURNING 1) \
         SELECT ",
            crate::domain::inventory::level_columns!(),
            " FROM upd"
        ),
        vec![
            records(changes),
            location.uuid().into(),
            Value::Uuid(user),
            Value::Uuid(token),
        ],
    ))
    .all(c.tx)
    .await?;
    if rows.len() != expected {
        // Stock was reserved at this location while the import ran: apply nothing rather than
        // leave some counts out silently; a retry sees the reservation and reports the row.
        return Err(AppError::Conflict(
            "stock at the location changed during the import; retry it".into(),
        ));
    }
    for r in rows {
        if r.reorder_point.is_some() {
            let level = Level {
                variant_id: r.variant_id,
                location_id: r.location_id,
                branch_id: r.branch_id,
                on_hand: r.on_hand,
                reserved: r.reserved,
                safety_stock: r.safety_stock,
                reorder_point: r.reorder_point,
            };
            alerts_after(c, &level).await?;
        }
    }
    Ok(expected)
}
