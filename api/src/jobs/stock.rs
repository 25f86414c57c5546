//! Stock out: PRODUCTS (a store's marketplace SKUs into listings, linked by SKU), STOCK_PUSH
//! (the store's pending pushes, coalesced and batched at the platform's limits) and STOCK_DRIFT
//! (the marketplace's stock compared with what was pushed, differences corrected).
//!
//! A push job takes the store's push lock, reads every pending listing (however many changes
//! queued it: last value wins), computes each quantity now, leaves out quantities the platform
//! already accepted, and sends the rest one platform call at a time through the quota governor's
//! high-priority class. Each listing records the quantity accepted and when, or the platform's
//! refusal; its queue rows go only once it was answered. A throttle or an outage stops the job
//! where it is: what was answered commits, the rest stays queued and a follow-up push job is
//! queued after the platform's delay. A worker that dies mid-push leaves the rows queued and its
//! job's lease lapses: another worker takes the job over and sends them.

use super::kinds::{n, record_items, store_for};
use crate::connect::{self, Calling};
use crate::domain::jobs::StockPushPayload;
use crate::domain::stock_push::{self, Pushed};
use crate::domain::{connections, listing_links, stmt};
use crate::ids::{BranchId, StoreId};
use crate::jobs::runner::{Counts, JobCtx, JobError, Outcome};
use connectors::{Priority, StockUpdate};
use sea_orm::ConnectionTrait;
use std::time::Duration;
use uuid::Uuid;

/// How long a push waits after an outage the platform named no delay for.
const OUTAGE_RETRY: Duration = Duration::from_secs(2);

fn store_of(jc: &JobCtx<'_>) -> Result<StoreId, JobError> {
    jc.job
        .store_id
        .map(StoreId)
        .ok_or_else(|| JobError::Permanent(format!("{} needs a store", jc.job.kind)))
}

/// Every product of the store, with the call's outcome recorded on the store's health.
async fn read_products(jc: &JobCtx<'_>, c: &Calling) -> Result<Vec<connectors::Product>, JobError> {
    match c.connector.list_products(&c.ctx).await {
        Ok(p) => {
            connect::record(jc.state, c, Ok(())).await;
            jc.checkpoint()?;
            Ok(p)
        }
        Err(e) => {
            connect::record(jc.state, c, Err(&e)).await;
            Err(super::kinds::job_error(c, &e))
        }
    }
}

/// PRODUCTS: reads every product of the store into listings and links them by SKU.
pub async fn products(jc: &JobCtx<'_>) -> Result<Outcome, JobError> {
    let c = match store_for(jc, Priority::Bulk).await? {
        Ok(c) => c,
        Err(skipped) => return Ok(skipped),
    };
    let s = connections::store(jc.c.tx, c.store).await?;
    jc.progress(10, "reading the store's products", Counts::default());
    let products = read_products(jc, &c).await?;
    let counts =
        listing_links::apply_products(&jc.c, c.store, BranchId(s.branch_id), &products).await?;
    let unresolved = counts.unresolved.len();
    record_items(
        jc,
        "LISTING",
        counts
            .unresolved
            .iter()
            .map(|(k, why)| (k.clone(), "SKIPPED", why.clone()))
            .collect(),
    )
    .await?;
    Ok(Outcome {
        status: "SUCCEEDED",
        counts: Counts {
            fetched: n(counts.read),
            created: n(counts.created),
            updated: n(counts.updated),
            skipped: n(unresolved),
            failed: 0,
        },
        message: Some(format!(
            "{} platform SKUs in {} products: {} new listings, {} seen before; {} linked now; {} unlinked or ambiguous",
            counts.read,
            products.len(),
            counts.created,
            counts.updated,
            counts.linked,
            unresolved
        )),
    })
}

/// Serializes the pushes of one store (several workers may hold push jobs for it).
async fn lock_store(jc: &JobCtx<'_>, store: StoreId) -> Result<(), JobError> {
    jc.c.tx
        .execute_raw(stmt(
            "SELECT pg_advisory_xact_lock(hashtextextended('mercato.stock_push:' || $1::text, 0))",
            vec![store.uuid().into()],
        ))
        .await?;
    Ok(())
}

/// What a push run found to send.
struct Plan {
    /// One update per listing to send, with the listing.
    send: Vec<(Uuid, StockUpdate)>,
    /// Listings answered without a call (unchanged, unlinked, no platform ids).
    settled: Vec<Uuid>,
    /// Listings that cannot be pushed, with why.
    unpushable: Vec<Pushed>,
    /// Listings whose quantity the platform already shows.
    unchanged: usize,
    /// Listings selling their own part of a pool's tail (not sent).
    held: usize,
    /// Tail pushes: the sales origin of each (see `stock_push::quantities`).
    counted_from: std::collections::HashMap<Uuid, chrono::DateTime<chrono::Utc>>,
    /// Tail pushes of 0 (drains): the store's orders must be read past them before the pool's
    /// last units are shared out.
    drained: usize,
}

async fn plan(
    jc: &JobCtx<'_>,
    ids: &[Uuid],
    force: bool,
    forced: &[Uuid],
) -> Result<Plan, JobError> {
    let quantities = stock_push::quantities(jc.c.tx, ids).await?;
    let targets = stock_push::targets(jc.c.tx, ids).await?;
    let mut p = Plan {
        send: Vec::new(),
        settled: Vec::new(),
        unpushable: Vec::new(),
        unchanged: 0,
        held: 0,
        counted_from: std::collections::HashMap::new(),
        drained: 0,
    };
    // Rows of listings deleted since they were queued are settled too.
    let known: std::collections::HashSet<Uuid> = targets.iter().map(|t| t.id).collect();
    p.settled
        .extend(ids.iter().filter(|id| !known.contains(id)));
    for t in targets {
        let Some(q) = quantities.iter().find(|q| q.listing_id == t.id) else {
            // Unlinked since it was queued: its stock is no longer Mercato's to push.
            p.settled.push(t.id);
            continue;
        };
        let Some(item) = t.external_item_id.clone() else {
            p.settled.push(t.id);
            p.unpushable.push(Pushed {
                id: t.id,
                quantity: q.quantity,
                ack: None,
                error: Some(
                    "the listing has no platform item id: run a product sync or set it".into(),
                ),
                counted_from: None,
            });
            continue;
        };
        if q.held {
            // Selling its own part of the pool's last units: a set now would hand back what it
            // sold that Mercato has not read yet, forced or not.
            p.settled.push(t.id);
            p.held += 1;
            continue;
        }
        let shown = match q.counted_from {
            Some(_) => q.shows == Some(q.quantity),
            None => t.pushed_quantity == Some(q.quantity),
        };
        if !force && !forced.contains(&t.id) && t.push_error.is_none() && shown {
            p.settled.push(t.id);
            p.unchanged += 1;
            continue;
        }
        if let Some(at) = q.counted_from {
            p.counted_from.insert(t.id, at);
            if q.quantity == 0 {
                p.drained += 1;
            }
        }
        p.send.push((
            t.id,
            StockUpdate {
                external_item_id: item,
                external_sku_id: t.external_model_id.clone().unwrap_or_else(|| "0".into()),
                seller_sku: t.external_sku.clone(),
                location: t.external_location.clone(),
                quantity: q.quantity,
            },
        ));
    }
    Ok(p)
}

/// A push made in a pool's tail (a drain to 0, or a share) leaves the pool waiting until the
/// store's orders are read past it (units are shared out only when no sale before it is unread):
/// an incremental ORDERS pull is queued for just after the clock margin, rather than waiting for
/// the schedule.
async fn tail_pull(jc: &JobCtx<'_>, store: StoreId) -> Result<(), JobError> {
    use crate::domain::jobs::{JobInput, NewJob, OrdersPayload};
    let margin = std::time::Duration::from_millis(stock_push::TAIL_PULL_AFTER_MS);
    crate::domain::jobs::enqueue(
        &jc.c,
        NewJob {
            branch: jc.job.branch_id.map(crate::ids::BranchId),
            store: Some(store),
            idempotency_key: Some(format!("tail-pull:{}", jc.job.id)),
            run_at: Some(chrono::Utc::now() + margin),
            ..NewJob::of(&JobInput::Orders(OrdersPayload::default()))
        },
    )
    .await?;
    Ok(())
}

/// STOCK_PUSH: sends the store's pending pushes.
pub async fn push(jc: &JobCtx<'_>, input: StockPushPayload) -> Result<Outcome, JobError> {
    let store = store_of(jc)?;
    lock_store(jc, store).await?;
    let mut pending = stock_push::pending(jc.c.tx, store).await?;
    for id in &input.listings {
        if !pending.listings.contains(id) {
            pending.listings.push(*id);
        }
    }
    if pending.listings.is_empty() {
        return Ok(Outcome {
            status: "SKIPPED",
            counts: Counts::default(),
            message: Some("nothing to push: an earlier push sent it".into()),
        });
    }
    let c = match store_for(jc, Priority::High).await? {
        Ok(c) => c,
        Err(skipped) => {
            // A store that cannot be called (file-only, own storefront, disconnected) has nothing
            // to push to; a connection pushes every linked listing again.
            stock_push::finish(jc.c.tx, store, pending.upto, &pending.listings).await?;
            return Ok(skipped);
        }
    };
    let mut p = plan(jc, &pending.listings, input.force, &input.listings).await?;
    stock_push::record(jc.c.tx, &p.unpushable).await?;
    let updates: Vec<StockUpdate> = p.send.iter().map(|(_, u)| u.clone()).collect();
    let batches = c.connector.stock_batches(&updates);
    let total_calls = batches.len();
    let mut pushed: Vec<Pushed> = Vec::new();
    let mut stopped: Option<connectors::Error> = None;
    let mut calls = 0;
    for batch in batches {
        jc.checkpoint()?;
        let result = c.connector.update_stock(&c.ctx, &batch).await;
        calls += 1;
        let answered = match result {
            Ok(outcomes) => {
                let ack = format!("{:?} accepted the update", c.connector.platform());
                batch
                    .iter()
                    .map(|u| {
                        let error = outcomes
                            .iter()
                            .find(|o| o.external_sku_id == u.external_sku_id)
                            .and_then(|o| o.error.clone());
                        (u, error.is_none().then(|| ack.clone()), error)
                    })
                    .collect::<Vec<_>>()
            }
            Err(e)
                if e.is_retryable()
                    || c.ctx.breaker.state() == connectors::resilience::Circuit::Open =>
            {
                connect::record(jc.state, &c, Err(&e)).await;
                stopped = Some(e);
                break;
            }
            Err(e) => {
                // Refused for good (bad ids, authorization): recorded on each listing, not retried
                // until its stock changes again or the seller pushes it.
                connect::record(jc.state, &c, Err(&e)).await;
                let (code, message) = crate::marketplaces::classify(&e);
                let why = format!("{code}: {message}");
                batch.iter().map(|u| (u, None, Some(why.clone()))).collect()
            }
        };
        for (u, ack, error) in answered {
            for (id, sent) in &p.send {
                if sent.external_item_id == u.external_item_id
                    && sent.external_sku_id == u.external_sku_id
                {
                    pushed.push(Pushed {
                        id: *id,
                        quantity: u.quantity,
                        ack: ack.clone(),
                        error: error.clone(),
                        counted_from: p.counted_from.get(id).copied(),
                    });
                    p.settled.push(*id);
                }
            }
        }
    }
    if stopped.is_none() {
        connect::record(jc.state, &c, Ok(())).await;
    }
    stock_push::record(jc.c.tx, &pushed).await?;
    stock_push::finish(jc.c.tx, store, pending.upto, &p.settled).await?;
    let drained = pushed
        .iter()
        .filter(|x| x.error.is_none() && x.quantity == 0 && x.counted_from.is_some())
        .count();
    if pushed
        .iter()
        .any(|x| x.error.is_none() && x.counted_from.is_some())
    {
        tail_pull(jc, store).await?;
    }
    let refused = pushed.iter().filter(|x| x.error.is_some()).count() + p.unpushable.len();
    let accepted = pushed.len() + p.unpushable.len() - refused;
    let mut rows: Vec<(String, &'static str, String)> = Vec::new();
    for x in pushed.iter().chain(p.unpushable.iter()) {
        let key = p
            .send
            .iter()
            .find(|(id, _)| *id == x.id)
            .map(|(_, u)| {
                u.seller_sku
                    .clone()
                    .unwrap_or_else(|| format!("{}/{}", u.external_item_id, u.external_sku_id))
            })
            .unwrap_or_else(|| x.id.to_string());
        match &x.error {
            None => rows.push((key, "UPDATED", format!("stock set to {}", x.quantity))),
            Some(e) => rows.push((key, "FAILED", format!("stock {} not set: {e}", x.quantity))),
        }
    }
    record_items(jc, "LISTING_STOCK", rows).await?;
    let waiting = p.send.len().saturating_sub(pushed.len());
    let mut message = format!(
        "{} listings pending: {accepted} accepted in {calls} of {total_calls} calls, {refused} refused, {} unchanged",
        pending.listings.len(),
        p.unchanged
    );
    if p.held > 0 || p.drained > 0 {
        message.push_str(&format!(
            "; last units: {} held by listings selling their part, {drained} set to 0 until every sale is read in",
            p.held
        ));
    }
    if let Some(e) = stopped {
        let delay = match &e {
            connectors::Error::RateLimited { retry_after, .. } => {
                retry_after.unwrap_or(crate::limits::quota::DEFAULT_THROTTLE)
            }
            _ if c.ctx.breaker.state() == connectors::resilience::Circuit::Open => {
                crate::limits::quota::STORE_BREAKER_COOL_DOWN
            }
            _ => OUTAGE_RETRY,
        };
        let (code, _) = crate::marketplaces::classify(&e);
        let forced: Vec<Uuid> = input
            .listings
            .iter()
            .filter(|id| !p.settled.contains(id))
            .copied()
            .collect();
        // What the throttle or outage held back goes out with a job after the platform's delay.
        let payload = StockPushPayload {
            force: input.force,
            listings: forced,
        };
        stock_push::queue_job(jc.c.tx, store, &payload, delay).await?;
        message.push_str(&format!(
            "; {waiting} waiting: the platform answered {code}, sent again in {} ms",
            delay.as_millis()
        ));
    }
    Ok(Outcome {
        status: "SUCCEEDED",
        counts: Counts {
            fetched: n(pending.listings.len()),
            created: 0,
            updated: n(accepted),
            skipped: n(p.unchanged + waiting),
            failed: n(refused),
        },
        message: Some(message),
    })
}

/// STOCK_DRIFT: compares the stock each linked listing shows on the marketplace with the
/// quantity Mercato pushes, and queues a correcting push for each difference (logged as items).
pub async fn drift(jc: &JobCtx<'_>) -> Result<Outcome, JobError> {
    let c: Calling = match store_for(jc, Priority::Bulk).await? {
        Ok(c) => c,
        Err(skipped) => return Ok(skipped),
    };
    let products = read_products(jc, &c).await?;
    let found = stock_push::drift(jc.c.tx, c.store, &products).await?;
    let drifted: Vec<Uuid> = found.iter().map(|d| d.id).collect();
    stock_push::mark_drifted(jc.c.tx, &drifted).await?;
    record_items(
        jc,
        "LISTING_STOCK",
        found
            .iter()
            .map(|d| {
                (
                    d.key.clone(),
                    "UPDATED",
                    format!(
                        "the platform showed {}, Mercato pushes {}: corrected",
                        d.platform, d.expected
                    ),
                )
            })
            .collect(),
    )
    .await?;
    Ok(Outcome {
        status: "SUCCEEDED",
        counts: Counts {
            fetched: n(products.iter().map(|p| p.skus.len()).sum()),
            updated: n(found.len()),
            ..Counts::default()
        },
        message: Some(format!(
            "{} listings differed from what Mercato pushes; a correcting push is queued",
            found.len()
        )),
    })
}
