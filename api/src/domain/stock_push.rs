//! Stock out: the quantity each linked listing should show on its marketplace, the queue of
//! listings whose quantity may have changed (written by triggers, see migration 000013), and the
//! record of what each push sent and what the platform answered.

use crate::auth::permissions::Perm;
use crate::domain::jobs::{JobInput, NewJob, StockPushPayload};
use crate::domain::listings::{ListingStatus, push_quantity};
use crate::domain::{Ctx, stmt};
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, StoreId};
use sea_orm::{ConnectionTrait, FromQueryResult};
use uuid::Uuid;

/// A linked listing's quantity now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushQuantity {
    /// Listing.
    pub listing_id: Uuid,
    /// What its store should show: the allocation rule applied to the variant's available stock
    /// in the store's branch (own and 3PL locations; bundles through their components), 0 unless
    /// the listing is ACTIVE.
    pub quantity: i64,
}

/// Push quantities of the linked listings among `ids` (one statement, whatever their number).
pub async fn quantities(tx: &impl ConnectionTrait, ids: &[Uuid]) -> AppResult<Vec<PushQuantity>> {
    #[derive(FromQueryResult)]
    struct Q {
        id: Uuid,
        available: i64,
        status: ListingStatus,
        alloc_percent: i32,
        alloc_max: Option<i64>,
        alloc_buffer: i64,
    }
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = Q::find_by_statement(stmt(
        "WITH l AS ( \
           SELECT id, variant_id, branch_id, status, alloc_percent, alloc_max, alloc_buffer \
           FROM listings WHERE id = ANY($1) AND variant_id IS NOT NULL), \
         parts AS ( \
           SELECT l.id, COALESCE(bc.component_id, l.variant_id) AS part, \
                  COALESCE(bc.quantity, 1)::bigint AS per, l.branch_id \
           FROM l LEFT JOIN bundle_components bc ON bc.bundle_id = l.variant_id), \
         per_part AS ( \
           SELECT p.id, p.per, COALESCE(sum(GREATEST(il.on_hand - il.reserved - il.safety_stock, 0)), 0) AS avail \
           FROM parts p LEFT JOIN inventory_levels il ON il.variant_id = p.part AND il.branch_id = p.branch_id \
             AND il.location_id IN (SELECT id FROM locations WHERE kind IN ('WAREHOUSE', 'THIRD_PARTY')) \
           GROUP BY p.id, p.part, p.per), \
         av AS (SELECT id, min(avail / per)::bigint AS available FROM per_part GROUP BY id) \
         SELECT l.id, av.available, l.status, l.alloc_percent, l.alloc_max, l.alloc_buffer \
         FROM l JOIN av ON av.id = l.id",
        vec![ids.to_vec().into()],
    ))
    .all(tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| PushQuantity {
            listing_id: r.id,
            quantity: if r.status == ListingStatus::Active {
                push_quantity(r.available, r.alloc_percent, r.alloc_max, r.alloc_buffer)
            } else {
                0
            },
        })
        .collect())
}

/// A store's pending pushes: the listings and the last queue position read.
#[derive(Debug, Clone, Default)]
pub struct Pending {
    /// Highest queue id read (finishing removes only rows up to it: later ones stay queued).
    pub upto: i64,
    /// Distinct listings, in queue order.
    pub listings: Vec<Uuid>,
}

/// The current organization's pending pushes of `store`.
pub async fn pending(tx: &impl ConnectionTrait, store: StoreId) -> AppResult<Pending> {
    #[derive(FromQueryResult)]
    struct P {
        id: i64,
        listing_id: Uuid,
    }
    let rows = P::find_by_statement(stmt(
        "SELECT id, listing_id FROM pending_stock_pushes($1)",
        vec![store.uuid().into()],
    ))
    .all(tx)
    .await?;
    let mut out = Pending::default();
    let mut seen = std::collections::HashSet::new();
    for r in rows {
        out.upto = out.upto.max(r.id);
        if seen.insert(r.listing_id) {
            out.listings.push(r.listing_id);
        }
    }
    Ok(out)
}

/// Removes the queued pushes of `done` up to `upto` (sent, or needing none).
pub async fn finish(
    tx: &impl ConnectionTrait,
    store: StoreId,
    upto: i64,
    done: &[Uuid],
) -> AppResult<()> {
    if done.is_empty() {
        return Ok(());
    }
    tx.execute_raw(stmt(
        "SELECT finish_stock_pushes($1, $2, $3)",
        vec![store.uuid().into(), upto.into(), done.to_vec().into()],
    ))
    .await?;
    Ok(())
}

/// Queues a push of the linked listings among `ids` the caller sees; how many were queued.
pub async fn request(tx: &impl ConnectionTrait, ids: &[Uuid]) -> AppResult<i64> {
    let row = tx
        .query_one_raw(stmt(
            "SELECT request_stock_pushes($1) AS n",
            vec![ids.to_vec().into()],
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0))
}

/// A listing as a push needs it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Target {
    /// Listing.
    pub id: Uuid,
    /// Linked variant (none: nothing to push).
    pub variant_id: Option<Uuid>,
    /// Platform item id.
    pub external_item_id: Option<String>,
    /// Platform model/SKU id.
    pub external_model_id: Option<String>,
    /// Seller SKU.
    pub external_sku: Option<String>,
    /// Platform warehouse.
    pub external_location: Option<String>,
    /// Last accepted quantity.
    pub pushed_quantity: Option<i64>,
    /// Last error.
    pub push_error: Option<String>,
}

/// The listings among `ids` (those that still exist).
pub async fn targets(tx: &impl ConnectionTrait, ids: &[Uuid]) -> AppResult<Vec<Target>> {
    Ok(Target::find_by_statement(stmt(
        "SELECT id, variant_id, external_item_id, external_model_id, external_sku, external_location, \
                pushed_quantity, push_error \
         FROM listings WHERE id = ANY($1)",
        vec![ids.to_vec().into()],
    ))
    .all(tx)
    .await?)
}

/// What one listing's push came to.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pushed {
    /// Listing.
    pub id: Uuid,
    /// Quantity sent.
    pub quantity: i64,
    /// The platform's acknowledgement (accepted).
    pub ack: Option<String>,
    /// The platform's refusal, or why it was not sent.
    pub error: Option<String>,
}

/// Records pushes on their listings: an accepted one sets the pushed quantity, time and
/// acknowledgement and clears the error; a refused one keeps the last accepted quantity and
/// records the error.
pub async fn record(tx: &impl ConnectionTrait, pushed: &[Pushed]) -> AppResult<()> {
    if pushed.is_empty() {
        return Ok(());
    }
    let rows = serde_json::to_value(pushed).map_err(crate::error::AppError::internal)?;
    tx.execute_raw(stmt(
        "UPDATE listings l SET \
           pushed_quantity = CASE WHEN u.error IS NULL THEN u.quantity ELSE l.pushed_quantity END, \
           pushed_at = CASE WHEN u.error IS NULL THEN clock_timestamp() ELSE l.pushed_at END, \
           push_ack = CASE WHEN u.error IS NULL THEN left(u.ack, 500) ELSE l.push_ack END, \
           push_error = left(u.error, 500), \
           push_failed_at = CASE WHEN u.error IS NULL THEN NULL ELSE clock_timestamp() END \
         FROM jsonb_to_recordset($1) AS u(id uuid, quantity bigint, ack text, error text) \
         WHERE l.id = u.id",
        vec![rows.into()],
    ))
    .await?;
    Ok(())
}

/// Forgets what the platform was last told for `ids` (its stock was found to differ), so their
/// next push is sent even if the quantity did not change, and queues that push.
pub async fn mark_drifted(tx: &impl ConnectionTrait, ids: &[Uuid]) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    tx.execute_raw(stmt(
        "UPDATE listings SET pushed_quantity = NULL WHERE id = ANY($1)",
        vec![ids.to_vec().into()],
    ))
    .await?;
    request(tx, ids).await?;
    Ok(())
}

/// Queues a STOCK_PUSH job for `store` due after `delay`, unless the store already has a queued
/// one (which will send whatever is pending when it runs); the new job's id, if one was queued.
/// The dispatcher and a throttled push's follow-up both come through here.
pub async fn queue_job(
    tx: &impl ConnectionTrait,
    store: StoreId,
    payload: &StockPushPayload,
    delay: std::time::Duration,
) -> AppResult<Option<Uuid>> {
    let row = tx
        .query_one_raw(stmt(
            "INSERT INTO jobs (org_id, id, branch_id, store_id, kind, payload, max_attempts, run_at) \
             SELECT s.org_id, $2, s.branch_id, s.id, 'STOCK_PUSH', $3, $4, now() + $5 * interval '1 millisecond' \
             FROM stores s WHERE s.id = $1 AND NOT EXISTS ( \
               SELECT 1 FROM jobs j WHERE j.store_id = $1 AND j.kind = 'STOCK_PUSH' AND j.status = 'QUEUED') \
             RETURNING id",
            vec![
                store.uuid().into(),
                Uuid::now_v7().into(),
                serde_json::to_value(payload)
                    .map_err(AppError::internal)?
                    .into(),
                crate::domain::jobs::DEFAULT_MAX_ATTEMPTS.into(),
                i64::try_from(delay.as_millis()).unwrap_or(i64::MAX).into(),
            ],
        ))
        .await?;
    Ok(row.map(|r| r.try_get::<Uuid>("", "id")).transpose()?)
}

/// Most listings one `pushStock` names.
pub const MAX_PUSH_LISTINGS: usize = 1000;

/// `pushStock`: one push job per store for every linked listing of `store`, or for the listings
/// `ids`, sent even where the platform already shows the quantity. Returns how many linked
/// listings the jobs will send and the jobs.
pub async fn push_now(
    c: &Ctx<'_>,
    store: Option<StoreId>,
    ids: Option<Vec<Uuid>>,
) -> AppResult<(i64, Vec<Uuid>)> {
    #[derive(FromQueryResult)]
    struct L {
        id: Uuid,
        store_id: Uuid,
        branch_id: Uuid,
        linked: bool,
    }
    let found = match (store, ids) {
        (Some(s), None) => {
            crate::domain::require_visible(c.tx, "stores", s.uuid(), "Store").await?;
            L::find_by_statement(stmt(
                "SELECT id, store_id, branch_id, true AS linked FROM listings WHERE store_id = $1 AND variant_id IS NOT NULL",
                vec![s.uuid().into()],
            ))
            .all(c.tx)
            .await?
        }
        (None, Some(ids)) => {
            if ids.is_empty() || ids.len() > MAX_PUSH_LISTINGS {
                return Err(AppError::invalid(
                    "input.listingIds",
                    "name 1 to 1000 listings",
                ));
            }
            let found = L::find_by_statement(stmt(
                "SELECT id, store_id, branch_id, variant_id IS NOT NULL AS linked FROM listings WHERE id = ANY($1)",
                vec![ids.clone().into()],
            ))
            .all(c.tx)
            .await?;
            if found.len() < ids.iter().collect::<std::collections::HashSet<_>>().len() {
                return Err(AppError::NotFound("Listing"));
            }
            found
        }
        _ => {
            return Err(AppError::invalid(
                "input",
                "give either storeId or listingIds",
            ));
        }
    };
    let org = c.access.org()?;
    let mut stores: Vec<(Uuid, Uuid)> = Vec::new();
    for l in &found {
        org.require(Perm::StoresWrite(BranchId(l.branch_id)))?;
        if !stores.iter().any(|(s, _)| *s == l.store_id) {
            stores.push((l.store_id, l.branch_id));
        }
    }
    let queued = found.iter().filter(|l| l.linked).count();
    let mut jobs = Vec::with_capacity(stores.len());
    for (store, branch) in stores {
        let listings = found
            .iter()
            .filter(|l| l.store_id == store && l.linked)
            .map(|l| l.id)
            .collect();
        let mut job = NewJob::of(&JobInput::StockPush(StockPushPayload {
            force: false,
            listings,
        }));
        job.store = Some(StoreId(store));
        job.branch = Some(BranchId(branch));
        jobs.push(crate::domain::jobs::enqueue(c, job).await?.job.id);
    }
    Ok((i64::try_from(queued).unwrap_or(i64::MAX), jobs))
}

/// A linked listing whose marketplace stock differs from what Mercato pushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// Listing.
    pub id: Uuid,
    /// Seller SKU, or item/model ids.
    pub key: String,
    /// What the platform shows.
    pub platform: i64,
    /// What Mercato pushes.
    pub expected: i64,
}

/// Records the stock each of `store`'s listings shows on the platform and returns the linked
/// ones whose stock differs from their push quantity — leaving out those with a push already
/// pending (it is on its way).
pub async fn drift(
    tx: &impl ConnectionTrait,
    store: StoreId,
    products: &[connectors::Product],
) -> AppResult<Vec<Drift>> {
    #[derive(FromQueryResult)]
    struct Seen {
        id: Uuid,
        linked: bool,
        stock: Option<i64>,
        key: String,
    }
    let rows: Vec<serde_json::Value> = products
        .iter()
        .flat_map(|p| {
            p.skus.iter().map(|k| {
                serde_json::json!({"item": p.external_id, "model": k.external_id, "stock": k.stock})
            })
        })
        .collect();
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let seen = Seen::find_by_statement(stmt(
        "UPDATE listings l SET platform_stock = r.stock, checked_at = clock_timestamp() \
         FROM jsonb_to_recordset($2) AS r(item text, model text, stock bigint) \
         WHERE l.store_id = $1 AND l.external_item_id = r.item \
           AND COALESCE(l.external_model_id, '') = COALESCE(r.model, '') \
         RETURNING l.id, l.variant_id IS NOT NULL AS linked, r.stock, \
           left(COALESCE(l.external_sku, l.external_item_id || '/' || COALESCE(l.external_model_id, '')), 200) AS key",
        vec![store.uuid().into(), serde_json::Value::Array(rows).into()],
    ))
    .all(tx)
    .await?;
    let linked: Vec<Uuid> = seen.iter().filter(|s| s.linked).map(|s| s.id).collect();
    let expected = quantities(tx, &linked).await?;
    let waiting: std::collections::HashSet<Uuid> =
        pending(tx, store).await?.listings.into_iter().collect();
    Ok(seen
        .into_iter()
        .filter(|s| !waiting.contains(&s.id))
        .filter_map(|s| {
            let e = expected.iter().find(|q| q.listing_id == s.id)?;
            let platform = s.stock?;
            (platform != e.quantity).then_some(Drift {
                id: s.id,
                key: s.key,
                platform,
                expected: e.quantity,
            })
        })
        .collect())
}
