//! Stock out: the quantity each linked listing should show on its marketplace, the queue of
//! listings whose quantity may have changed (written by triggers, see migration 000013), and the
//! record of what each push sent and what the platform answered.

use crate::auth::permissions::Perm;
use crate::domain::jobs::{JobInput, NewJob, StockPushPayload};
use crate::domain::listings::{ListingStatus, push_quantity};
use crate::domain::{Ctx, stmt};
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, StoreId};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, FromQueryResult};
use uuid::Uuid;

/// A linked listing's quantity now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushQuantity {
    /// Listing.
    pub listing_id: Uuid,
    /// What its store should show: the allocation rule applied to the variant's available stock
    /// in the store's branch (own and 3PL locations; bundles through their components), 0 unless
    /// the listing is ACTIVE; in a pool's tail, the listing's part (see [`quantities`]).
    pub quantity: i64,
    /// In a pool's tail, a listing selling its own part: nothing is sent to it (a quantity set
    /// now would hand back the units it sold that Mercato has not read yet); `quantity` is what
    /// it has left as far as Mercato knows.
    pub held: bool,
    /// In a pool's tail, what the platform shows as far as Mercato knows (sales read in
    /// deducted); `None` outside the tail, where the last accepted quantity is the reference.
    pub shows: Option<i64>,
    /// For a push made in the tail: orders placed from this instant on count against it.
    pub counted_from: Option<DateTime<Utc>>,
}

/// The margin, in seconds, for the platform's clock and its whole-second order times: a push
/// is known to have every earlier sale read in once the store's order watermark is this far
/// past the push's acknowledgement.
const TAIL_CLOCK_MARGIN_SECS: i32 = 2;

/// A listing that takes part in its pool's tail (`x`, its store `s`): active, with platform ids,
/// on a store with a stock API (the tail's two statements share it).
const TAIL_MEMBER: &str = "x.status = 'ACTIVE' AND x.external_item_id IS NOT NULL \
     AND s.platform IN ('SHOPEE', 'TIKTOK_SHOP', 'LAZADA', 'JUMIA')";

/// How long after a drain its store's orders are pulled: past the clock margin, plus the
/// second the platform's order times are truncated to.
pub const TAIL_PULL_AFTER_MS: u64 = 3_100;

/// Push quantities of the linked listings among `ids` (one statement, whatever their number).
///
/// **The tail.** Every marketplace listing of a variant shows the whole pool (the variant's
/// available stock at the branch) while there is plenty; each platform's stock call sets an
/// absolute quantity, so when few units are left, showing them on every listing lets each
/// platform sell them within one loop (order read in, push sent), and a push to a listing that
/// sold units Mercato has not read yet hands them back. A pool listed on two or more
/// marketplace listings (one per store, on stores with a stock API, the variant not a bundle)
/// enters its tail when its available stock is at most `stock_tail_per_listing` (organization
/// setting) units per listing. There:
///
/// - each listing's remaining part is known when its last accepted push was made in the tail:
///   `est` = that quantity minus its store's orders for the variant placed since the push was
///   computed (`counted_from`); unknown after a push made outside the tail;
/// - a listing whose part is unknown, or every listing with units when the parts add up to more
///   than the pool, is **drained**: set to 0 (a 0 can never oversell);
/// - otherwise, once every listing's store has read its orders up to
///   [`TAIL_CLOCK_MARGIN_SECS`] past that listing's last push (no sale made before it is
///   unknown), the pool's slack — available minus the parts still on the listings — is **split
///   between the sold-out listings** (part 0, so nothing they sold is unknown and the set hands
///   nothing back): equal shares, the remainder to the first by id, capped by the listing's rule;
/// - a listing with units left is **held**: never sent, it sells its part down on its own —
///   except to **rebalance**: when a listing has sold its part, nothing is unallocated, every
///   sale is read in and the pool still has a unit for every listing, the listings holding units
///   are drained too, and the whole pool is split again once that is read back.
///
/// So the listings never show more, together, than the pool has: zero oversell at any order
/// rate, at the cost of showing 0 for about one order pull when the tail starts. A store with
/// two listings of the variant keeps the pool out of the tail (its orders cannot be told apart
/// by listing); bundle listings show their rule's quantity as before.
pub async fn quantities(tx: &impl ConnectionTrait, ids: &[Uuid]) -> AppResult<Vec<PushQuantity>> {
    #[derive(FromQueryResult)]
    struct Q {
        id: Uuid,
        available: i64,
        status: ListingStatus,
        alloc_percent: i32,
        alloc_max: Option<i64>,
        alloc_buffer: i64,
        tail: bool,
        est: Option<i64>,
        rank: Option<i64>,
        targets: Option<i64>,
        unknown: Option<i64>,
        parts: Option<i64>,
        certain: Option<bool>,
        n: Option<i64>,
        at: DateTime<Utc>,
    }
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = Q::find_by_statement(stmt(
        &format!(
        "WITH l AS ( \
           SELECT id, variant_id, branch_id, status, alloc_percent, alloc_max, alloc_buffer, \
                  external_item_id IS NOT NULL AS external \
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
         av AS (SELECT id, min(avail / per)::bigint AS available FROM per_part GROUP BY id), \
         pool AS ( \
           SELECT DISTINCT l.variant_id, l.branch_id FROM l \
           WHERE l.external AND NOT EXISTS (SELECT 1 FROM bundle_components bc WHERE bc.bundle_id = l.variant_id)), \
         m AS ( \
           SELECT x.id, x.variant_id, x.branch_id, x.store_id, x.pushed_quantity, x.pushed_at, x.counted_from, \
                  s.orders_synced_to \
           FROM pool p JOIN listings x ON x.variant_id = p.variant_id AND x.branch_id = p.branch_id \
           JOIN stores s ON s.id = x.store_id \
           WHERE {TAIL_MEMBER}), \
         me AS ( \
           SELECT m.id, m.variant_id, m.branch_id, m.store_id, \
             CASE WHEN m.counted_from IS NULL OR m.pushed_quantity IS NULL THEN NULL \
               ELSE GREATEST(m.pushed_quantity - COALESCE(( \
                 SELECT sum(oi.quantity) FROM orders o JOIN order_items oi ON oi.order_id = o.id \
                 WHERE o.store_id = m.store_id AND oi.variant_id = m.variant_id AND o.status <> 'CANCELLED' \
                   AND o.placed_at >= date_trunc('second', m.counted_from)), 0), 0) END AS est, \
             COALESCE(m.orders_synced_to >= m.pushed_at + make_interval(secs => $2), false) AS certain \
           FROM m), \
         ps AS ( \
           SELECT variant_id, branch_id, count(*) AS n, count(DISTINCT store_id) AS stores, \
                  count(*) FILTER (WHERE est IS NULL) AS unknown, COALESCE(sum(est), 0)::bigint AS parts, \
                  count(*) FILTER (WHERE est = 0) AS targets, bool_and(certain) AS certain \
           FROM me GROUP BY variant_id, branch_id), \
         mr AS ( \
           SELECT id, variant_id, branch_id, est, \
                  row_number() OVER (PARTITION BY variant_id, branch_id ORDER BY (est = 0) DESC NULLS LAST, id) - 1 AS rank \
           FROM me) \
         SELECT l.id, av.available, l.status, l.alloc_percent, l.alloc_max, l.alloc_buffer, \
           COALESCE(ps.n >= 2 AND ps.n = ps.stores AND o.stock_tail_per_listing > 0 \
             AND av.available <= ps.n * o.stock_tail_per_listing, false) AS tail, \
           mr.est, mr.rank, ps.targets, ps.unknown, ps.parts, ps.certain, ps.n, clock_timestamp() AS at \
         FROM l JOIN av ON av.id = l.id \
         LEFT JOIN mr ON mr.id = l.id \
         LEFT JOIN ps ON ps.variant_id = mr.variant_id AND ps.branch_id = mr.branch_id \
         LEFT JOIN organizations o ON o.id = app_org_id()"
        ),
        vec![ids.to_vec().into(), f64::from(TAIL_CLOCK_MARGIN_SECS).into()],
    ))
    .all(tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let rule = if r.status == ListingStatus::Active {
                push_quantity(r.available, r.alloc_percent, r.alloc_max, r.alloc_buffer)
            } else {
                0
            };
            let plain = PushQuantity {
                listing_id: r.id,
                quantity: rule,
                held: false,
                shows: None,
                counted_from: None,
            };
            if !r.tail {
                return plain;
            }
            let tail = Tail {
                available: r.available,
                est: r.est,
                rank: r.rank.unwrap_or(0),
                targets: r.targets.unwrap_or(0),
                unknown: r.unknown.unwrap_or(0),
                parts: r.parts.unwrap_or(0),
                certain: r.certain.unwrap_or(false),
                listings: r.n.unwrap_or(0),
            };
            match tail.part(rule) {
                TailPart::Send(q) => PushQuantity {
                    quantity: q,
                    shows: r.est,
                    counted_from: Some(r.at),
                    ..plain
                },
                TailPart::Hold => PushQuantity {
                    quantity: r.est.unwrap_or(0),
                    held: true,
                    shows: r.est,
                    ..plain
                },
            }
        })
        .collect())
}

/// One listing of a pool in its tail, as [`quantities`] found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tail {
    /// The pool's available stock.
    available: i64,
    /// The listing's remaining part, if known.
    est: Option<i64>,
    /// Its position among the sold-out listings (0-based; meaningful when `est == Some(0)`).
    rank: i64,
    /// Sold-out listings in the pool.
    targets: i64,
    /// Listings whose part is unknown.
    unknown: i64,
    /// Sum of the known parts.
    parts: i64,
    /// Every listing's store has read its orders past that listing's last push.
    certain: bool,
    /// Listings in the pool.
    listings: i64,
}

/// What a listing in the tail gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TailPart {
    /// Set it to this.
    Send(i64),
    /// Leave it: it sells its part, or waits for one.
    Hold,
}

impl Tail {
    /// The listing's part; `rule` caps a share.
    fn part(&self, rule: i64) -> TailPart {
        let over = self.parts > self.available;
        match self.est {
            None => TailPart::Send(0),
            Some(e) if e > 0 && over => TailPart::Send(0),
            _ if over || self.unknown > 0 || !self.certain => TailPart::Hold,
            Some(0) => {
                let slack = (self.available - self.parts).max(0);
                let k = self.targets.max(1);
                let share = slack / k + i64::from(self.rank < slack % k);
                TailPart::Send(share.min(rule))
            }
            // A listing has sold its part while this one holds units, and nothing is left to
            // give it: drained, so that the whole pool is split again (not while the pool cannot
            // give every listing a unit, where some listing must show 0 anyway).
            Some(_)
                if self.targets > 0
                    && self.parts == self.available
                    && self.available >= self.listings =>
            {
                TailPart::Send(0)
            }
            Some(_) => TailPart::Hold,
        }
    }
}

/// The marketplace listings of `branch` in pools whose tail has units to share: after a store's
/// orders were read in, their parts may be known at last (see [`quantities`]), so they are
/// queued for a push (a held listing is not sent).
pub async fn tail_listings(tx: &impl ConnectionTrait, branch: BranchId) -> AppResult<Vec<Uuid>> {
    #[derive(FromQueryResult)]
    struct L {
        id: Uuid,
    }
    Ok(L::find_by_statement(stmt(
        &format!("WITH m AS ( \
           SELECT x.id, x.variant_id, x.store_id FROM listings x JOIN stores s ON s.id = x.store_id \
           WHERE x.branch_id = $1 AND x.variant_id IS NOT NULL AND {TAIL_MEMBER} \
             AND NOT EXISTS (SELECT 1 FROM bundle_components bc WHERE bc.bundle_id = x.variant_id)), \
         p AS ( \
           SELECT variant_id, count(*) AS n FROM m GROUP BY variant_id \
           HAVING count(*) >= 2 AND count(*) = count(DISTINCT store_id)), \
         a AS ( \
           SELECT p.variant_id, p.n, \
                  COALESCE(sum(GREATEST(il.on_hand - il.reserved - il.safety_stock, 0)), 0) AS avail \
           FROM p LEFT JOIN inventory_levels il ON il.variant_id = p.variant_id AND il.branch_id = $1 \
             AND il.location_id IN (SELECT id FROM locations WHERE kind IN ('WAREHOUSE', 'THIRD_PARTY')) \
           GROUP BY p.variant_id, p.n) \
         SELECT m.id FROM m JOIN a ON a.variant_id = m.variant_id \
         JOIN organizations o ON o.id = app_org_id() \
         WHERE o.stock_tail_per_listing > 0 AND a.avail > 0 AND a.avail <= a.n * o.stock_tail_per_listing"),
        vec![branch.uuid().into()],
    ))
    .all(tx)
    .await?
    .into_iter()
    .map(|l| l.id)
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
    /// A push made in a pool's tail: orders placed from then on count against it.
    pub counted_from: Option<DateTime<Utc>>,
}

/// Records pushes on their listings: an accepted one sets the pushed quantity, time,
/// acknowledgement and sales origin and clears the error; a refused one keeps the last accepted
/// quantity and records the error.
pub async fn record(tx: &impl ConnectionTrait, pushed: &[Pushed]) -> AppResult<()> {
    if pushed.is_empty() {
        return Ok(());
    }
    let rows = serde_json::to_value(pushed).map_err(crate::error::AppError::internal)?;
    tx.execute_raw(stmt(
        "UPDATE listings l SET \
           pushed_quantity = CASE WHEN u.error IS NULL THEN u.quantity ELSE l.pushed_quantity END, \
           pushed_at = CASE WHEN u.error IS NULL THEN clock_timestamp() ELSE l.pushed_at END, \
           counted_from = CASE WHEN u.error IS NULL THEN u.counted_from ELSE l.counted_from END, \
           push_ack = CASE WHEN u.error IS NULL THEN left(u.ack, 500) ELSE l.push_ack END, \
           push_error = left(u.error, 500), \
           push_failed_at = CASE WHEN u.error IS NULL THEN NULL ELSE clock_timestamp() END \
         FROM jsonb_to_recordset($1) AS u(id uuid, quantity bigint, ack text, error text, counted_from timestamptz) \
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
            // A pool's last units are the tail's to manage: a listing there shows its own part,
            // which its unread sales lower (see `quantities`).
            if e.held || e.counted_from.is_some() {
                return None;
            }
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

#[cfg(test)]
mod tests {
    use super::{Tail, TailPart};

    fn tail(
        available: i64,
        est: Option<i64>,
        rank: i64,
        all: &[Option<i64>],
        certain: bool,
    ) -> Tail {
        Tail {
            available,
            est,
            rank,
            targets: i64::try_from(all.iter().filter(|e| **e == Some(0)).count()).unwrap(),
            unknown: i64::try_from(all.iter().filter(|e| e.is_none()).count()).unwrap(),
            parts: all.iter().flatten().sum(),
            certain,
            listings: i64::try_from(all.len()).unwrap(),
        }
    }

    #[test]
    fn entering_the_tail_drains_every_listing_with_units_or_unknown_parts() {
        // Three listings that showed the whole pool (parts unknown): all set to 0.
        let all = [None, None, None];
        for rank in 0..3 {
            assert_eq!(tail(30, None, rank, &all, true).part(30), TailPart::Send(0));
        }
        // Known parts adding up to more than the pool: the ones with units are drained.
        let all = [Some(20), Some(15), Some(0)];
        assert_eq!(
            tail(30, Some(20), 1, &all, true).part(30),
            TailPart::Send(0)
        );
        assert_eq!(tail(30, Some(0), 0, &all, true).part(30), TailPart::Hold);
        // One unknown among known parts that fit: only it is drained, the others wait.
        let all = [None, Some(5), Some(0)];
        assert_eq!(tail(30, None, 2, &all, true).part(30), TailPart::Send(0));
        assert_eq!(tail(30, Some(5), 1, &all, true).part(30), TailPart::Hold);
        assert_eq!(tail(30, Some(0), 0, &all, true).part(30), TailPart::Hold);
    }

    #[test]
    fn the_slack_is_shared_only_once_every_sale_is_read_and_only_to_sold_out_listings() {
        let all = [Some(0), Some(0), Some(0)];
        // Not every store has read its orders past its listing's last push: wait.
        assert_eq!(tail(10, Some(0), 0, &all, false).part(10), TailPart::Hold);
        // 10 over three: 4, 3, 3.
        let shares: Vec<TailPart> = (0..3)
            .map(|r| tail(10, Some(0), r, &all, true).part(10))
            .collect();
        assert_eq!(
            shares,
            [TailPart::Send(4), TailPart::Send(3), TailPart::Send(3)]
        );
        // A listing still selling its part is never sent; the sold-out one gets the slack.
        let all = [Some(0), Some(3), Some(2)];
        assert_eq!(tail(8, Some(3), 1, &all, true).part(8), TailPart::Hold);
        assert_eq!(tail(8, Some(0), 0, &all, true).part(8), TailPart::Send(3));
        // The allocation rule still caps a share.
        assert_eq!(tail(8, Some(0), 0, &all, true).part(2), TailPart::Send(2));
        // Nothing left to share: a sold-out listing stays at 0.
        let all = [Some(0), Some(1)];
        assert_eq!(tail(1, Some(0), 0, &all, true).part(1), TailPart::Send(0));
    }

    #[test]
    fn a_sold_out_listing_rebalances_the_pool_when_it_can_give_every_listing_a_unit() {
        // Every unit is on a listing and one listing sold its part: the others are drained, so
        // that the pool is split again.
        let all = [Some(0), Some(7), Some(3)];
        assert_eq!(tail(10, Some(7), 1, &all, true).part(10), TailPart::Send(0));
        assert_eq!(tail(10, Some(3), 2, &all, true).part(10), TailPart::Send(0));
        assert_eq!(tail(10, Some(0), 0, &all, true).part(10), TailPart::Send(0));
        // Not before every sale is read in.
        assert_eq!(tail(10, Some(7), 1, &all, false).part(10), TailPart::Hold);
        // Units not on any listing: given to the sold-out one instead.
        let all = [Some(0), Some(4), Some(3)];
        assert_eq!(tail(10, Some(4), 1, &all, true).part(10), TailPart::Hold);
        assert_eq!(tail(10, Some(0), 0, &all, true).part(10), TailPart::Send(3));
        // Two units for three listings: one shows 0 anyway, nothing moves.
        let all = [Some(0), Some(1), Some(1)];
        assert_eq!(tail(2, Some(1), 1, &all, true).part(2), TailPart::Hold);
    }

    #[test]
    fn the_parts_never_add_up_to_more_than_the_pool() {
        // Every combination of small pools and parts: what stays on the listings plus what is
        // sent never exceeds what is available.
        for available in 0..12 {
            for a in 0..6 {
                for b in 0..6 {
                    let all = [Some(0), Some(a), Some(b)];
                    if a + b > available {
                        continue;
                    }
                    let mut total = a + b;
                    let mut next = 0;
                    for est in &all {
                        let rank = if *est == Some(0) {
                            next += 1;
                            next - 1
                        } else {
                            0
                        };
                        if let TailPart::Send(q) = tail(available, *est, rank, &all, true).part(99)
                            && *est == Some(0)
                        {
                            total += q;
                        }
                    }
                    assert!(total <= available, "{available} {a} {b}: {total}");
                }
            }
        }
    }
}
