//! Listings read from a marketplace and tied to the catalog: a product sync upserts every
//! platform SKU of a store as a listing and links it to the one variant whose SKU matches
//! (trimmed, case-insensitively). No match leaves it UNLINKED, several make it AMBIGUOUS — never
//! a guess. A seller's own link or unlink is kept by later syncs.

use crate::domain::listings::{self, LinkStatus};
use crate::domain::{Ctx, stmt};
use crate::error::AppResult;
use crate::ids::{BranchId, StoreId, VariantId};
use sea_orm::{ConnectionTrait, FromQueryResult};
use uuid::Uuid;

/// What a product sync did to a store's listings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductCounts {
    /// Platform SKUs read.
    pub read: usize,
    /// New listings.
    pub created: usize,
    /// Listings seen before.
    pub updated: usize,
    /// Listings linked by this sync.
    pub linked: usize,
    /// Listings left unlinked or ambiguous, with why (key, message).
    pub unresolved: Vec<(String, String)>,
}

/// Whether a platform status means the product is on sale.
pub fn platform_active(raw: &str) -> bool {
    ["NORMAL", "ACTIVATE", "ACTIVE", "LIVE"]
        .iter()
        .any(|s| raw.eq_ignore_ascii_case(s))
}

/// Upserts the store's platform products as listings, then links what can be linked.
pub async fn apply_products(
    c: &Ctx<'_>,
    store: StoreId,
    branch: BranchId,
    products: &[connectors::Product],
) -> AppResult<ProductCounts> {
    let mut rows = Vec::new();
    for p in products {
        let active = platform_active(&p.raw_status);
        for k in &p.skus {
            let cut = |s: &str, n: usize| s.chars().take(n).collect::<String>();
            rows.push(serde_json::json!({
                "id": Uuid::now_v7(),
                "item": cut(&p.external_id, 128),
                "model": cut(&k.external_id, 128),
                "sku": k.seller_sku.as_deref().map(|s| cut(s, 128)),
                "price": k.price.map(|m| m.minor),
                "currency": k.price.map(|m| m.currency_code().to_owned()),
                "status": if active { "ACTIVE" } else { "PAUSED" },
                "location": k.location.as_deref().map(|s| cut(s, 128)),
                "name": cut(&p.name, 500),
                "raw": cut(&p.raw_status, 64),
                "stock": k.stock,
            }));
        }
    }
    let mut counts = ProductCounts {
        read: rows.len(),
        ..ProductCounts::default()
    };
    if !rows.is_empty() {
        #[derive(FromQueryResult)]
        struct Up {
            created: i64,
            updated: i64,
        }
        let up = Up::find_by_statement(stmt(
            "WITH u AS ( \
               INSERT INTO listings (org_id, id, store_id, branch_id, variant_id, link_status, external_item_id, \
                 external_model_id, external_sku, price_minor, currency, status, external_location, name, \
                 platform_status, platform_stock, seen_at) \
               SELECT (SELECT app_org_id()), r.id, $2, $3, NULL, 'UNLINKED', r.item, r.model, r.sku, \
                 r.price, r.currency, r.status, r.location, r.name, r.raw, r.stock, now() \
               FROM jsonb_to_recordset($1) AS r(id uuid, item text, model text, sku text, price bigint, \
                 currency text, status text, location text, name text, raw text, stock bigint) \
               ON CONFLICT (org_id, store_id, external_item_id, (COALESCE(external_model_id, ''))) \
                 WHERE external_item_id IS NOT NULL \
               DO UPDATE SET external_sku = EXCLUDED.external_sku, \
                 price_minor = COALESCE(EXCLUDED.price_minor, listings.price_minor), \
                 currency = COALESCE(EXCLUDED.currency, listings.currency), \
                 external_location = EXCLUDED.external_location, name = EXCLUDED.name, \
                 platform_status = EXCLUDED.platform_status, platform_stock = EXCLUDED.platform_stock, \
                 seen_at = now(), updated_at = now() \
               RETURNING (xmax = 0) AS inserted) \
             SELECT count(*) FILTER (WHERE inserted) AS created, count(*) FILTER (WHERE NOT inserted) AS updated FROM u",
            vec![
                serde_json::Value::Array(rows).into(),
                store.uuid().into(),
                branch.uuid().into(),
            ],
        ))
        .one(c.tx)
        .await?;
        if let Some(up) = up {
            counts.created = usize::try_from(up.created).unwrap_or(0);
            counts.updated = usize::try_from(up.updated).unwrap_or(0);
        }
    }
    counts.linked = relink(c.tx, Some(store), None, false).await?;
    counts.unresolved = unresolved(c.tx, store).await?;
    Ok(counts)
}

/// Links, unlinks or marks ambiguous the automatically linked listings whose SKU now matches one,
/// none or several variants — of `store` (or every store), those whose SKU is among `skus` (or
/// all), only the unlinked and ambiguous ones when `unresolved_only`. Seller-made links are left
/// alone. Returns how many became LINKED.
pub(crate) async fn relink(
    tx: &impl ConnectionTrait,
    store: Option<StoreId>,
    skus: Option<&[String]>,
    unresolved_only: bool,
) -> AppResult<usize> {
    let norm: Option<Vec<String>> =
        skus.map(|s| s.iter().map(|k| k.trim().to_lowercase()).collect());
    let row = tx
        .query_one_raw(stmt(
            "WITH l AS ( \
               SELECT id, org_id, external_sku FROM listings \
               WHERE NOT link_manual AND external_item_id IS NOT NULL \
                 AND ($1::uuid IS NULL OR store_id = $1) \
                 AND ($2::text[] IS NULL OR lower(btrim(external_sku)) = ANY($2)) \
                 AND (NOT $3 OR link_status <> 'LINKED')), \
             cand AS ( \
               SELECT l.id, count(v.id) AS n, (array_agg(v.id))[1] AS sole \
               FROM l LEFT JOIN variants v ON v.org_id = l.org_id \
                 AND lower(btrim(v.sku)) = lower(btrim(l.external_sku)) AND btrim(l.external_sku) <> '' \
               GROUP BY l.id), \
             want AS ( \
               SELECT id, CASE WHEN n = 1 THEN 'LINKED' WHEN n = 0 THEN 'UNLINKED' ELSE 'AMBIGUOUS' END AS st, \
                      CASE WHEN n = 1 THEN sole END AS v FROM cand), \
             done AS ( \
               UPDATE listings x SET link_status = want.st, variant_id = want.v, updated_at = now() \
               FROM want WHERE x.id = want.id \
                 AND (x.link_status IS DISTINCT FROM want.st OR x.variant_id IS DISTINCT FROM want.v) \
               RETURNING x.link_status) \
             SELECT count(*) FILTER (WHERE link_status = 'LINKED') AS linked FROM done",
            vec![
                store.map(StoreId::uuid).into(),
                norm.into(),
                unresolved_only.into(),
            ],
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<i64>("", "linked"))
        .transpose()?
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0))
}

/// The store's unlinked and ambiguous listings, as (key, why) for the sync's record.
async fn unresolved(tx: &impl ConnectionTrait, store: StoreId) -> AppResult<Vec<(String, String)>> {
    #[derive(FromQueryResult)]
    struct U {
        key: String,
        link_status: LinkStatus,
        sku: Option<String>,
        claimed_by: Option<String>,
    }
    let rows = U::find_by_statement(stmt(
        "SELECT left(external_item_id || '/' || COALESCE(external_model_id, ''), 200) AS key, link_status, \
                external_sku AS sku, \
                (SELECT string_agg(v.sku, ', ' ORDER BY v.sku) FROM variants v \
                 WHERE lower(btrim(v.sku)) = lower(btrim(l.external_sku))) AS claimed_by \
         FROM listings l WHERE store_id = $1 AND link_status <> 'LINKED' ORDER BY id LIMIT 1000",
        vec![store.uuid().into()],
    ))
    .all(tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|u| {
            let why = match (u.link_status, &u.sku) {
                (LinkStatus::Ambiguous, Some(s)) => format!(
                    "seller SKU `{s}` matches several variants ({}): link it by hand",
                    u.claimed_by.unwrap_or_default()
                ),
                (_, Some(s)) if !s.trim().is_empty() => {
                    format!("no variant has seller SKU `{s}`")
                }
                _ => "the platform gives no seller SKU: link it by hand".to_owned(),
            };
            (u.key, why)
        })
        .collect())
}

/// Variants whose SKU matches the listing's seller SKU (what an AMBIGUOUS listing could link to).
pub async fn candidates(c: &Ctx<'_>, listing: Uuid) -> AppResult<Vec<Uuid>> {
    listings::readable(c)?;
    #[derive(FromQueryResult)]
    struct V {
        id: Uuid,
    }
    Ok(V::find_by_statement(stmt(
        "SELECT v.id FROM listings l JOIN variants v ON v.org_id = l.org_id \
           AND lower(btrim(v.sku)) = lower(btrim(l.external_sku)) AND btrim(l.external_sku) <> '' \
         WHERE l.id = $1 ORDER BY v.sku, v.id LIMIT 50",
        vec![listing.into()],
    ))
    .all(c.tx)
    .await?
    .into_iter()
    .map(|v| v.id)
    .collect())
}

/// The seller links a listing to a variant (kept by later product syncs); its stock is pushed.
pub async fn link_listing(c: &Ctx<'_>, id: Uuid, variant: VariantId) -> AppResult<()> {
    listings::lock_writable(c, id).await?;
    crate::domain::inventory::variant(c, variant).await?;
    c.tx.execute_raw(stmt(
        "UPDATE listings SET variant_id = $2, link_status = 'LINKED', link_manual = true, updated_at = now() \
         WHERE id = $1",
        vec![id.into(), variant.uuid().into()],
    ))
    .await?;
    Ok(())
}

/// The seller unlinks a listing (kept unlinked by later product syncs): its stock is no longer
/// pushed.
pub async fn unlink_listing(c: &Ctx<'_>, id: Uuid) -> AppResult<()> {
    listings::lock_writable(c, id).await?;
    c.tx.execute_raw(stmt(
        "UPDATE listings SET variant_id = NULL, link_status = 'UNLINKED', link_manual = true, updated_at = now() \
         WHERE id = $1",
        vec![id.into()],
    ))
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::platform_active;

    #[test]
    fn platform_statuses_on_sale_are_recognised_whatever_their_case() {
        for s in ["NORMAL", "ACTIVATE", "active", "live", "Live"] {
            assert!(platform_active(s), "{s}");
        }
        for s in ["UNLIST", "SELLER_DEACTIVATED", "inactive", "DELETED", ""] {
            assert!(!platform_active(s), "{s}");
        }
    }
}
