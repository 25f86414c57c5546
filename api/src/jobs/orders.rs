//! ORDERS: brings a store's marketplace orders in, window by window.
//!
//! Incremental (the schedule, or `startSync` without a range): from the store's watermark minus an
//! overlap (30 days back the first time) to now. Backfill (`startSync` with `since`/`until`): the
//! range given. Either way the range is cut into windows of at most [`WINDOW_SECS`] (Shopee's
//! limit; the other platforms accept it too), and each window is listed, its details fetched in
//! the platform's batches through the quota governor, applied and recorded as an `ORDER_WINDOW`
//! sync item in one fenced step that commits on its own. A retried or taken-over job finds those
//! items and continues after the last committed window without fetching it again. Every order
//! version is applied once (anti-regression on the marketplace's update time), so overlapping
//! windows, duplicated pages and retries change nothing twice.

use super::kinds::{job_error, n, now_secs, store_for};
use crate::connect::{self, Calling};
use crate::domain::orders::{self as order_domain, Applied, OrderStore, WindowCounts};
use crate::domain::{connections, jobs::OrdersPayload};
use crate::ids::{BranchId, StoreId};
use crate::jobs::runner::{Counts, JobCtx, JobError, Outcome};
use entity::enums::OrderEventSource;

/// The longest window listed and committed as one step.
pub const WINDOW_SECS: i64 = 15 * 86_400;

/// How many order ids go to the connector per detail fetch (it batches them further at the
/// platform's limit); bounds what one window holds in memory between calls.
const DETAIL_CHUNK: usize = 500;

/// Runs an ORDERS job.
pub async fn run(jc: &JobCtx<'_>, input: OrdersPayload) -> Result<Outcome, JobError> {
    let c = match store_for(jc, connectors::Priority::Bulk).await? {
        Ok(c) => c,
        Err(skipped) => return Ok(skipped),
    };
    let s = connections::store(jc.c.tx, c.store).await?;
    let store = OrderStore {
        id: c.store,
        branch: BranchId(s.branch_id),
    };
    let now = now_secs(jc);
    let (from, to, incremental) = match (input.since, input.until) {
        (Some(since), until) => (since, until.unwrap_or(now).min(now), false),
        _ => (
            order_domain::sync_from(jc.c.tx, c.store, now).await?,
            now,
            true,
        ),
    };
    let run = jc
        .run
        .ok_or_else(|| JobError::Permanent("an ORDERS job records a sync run".into()))?;
    let windows = connectors::tokens::split_windows(from, to, WINDOW_SECS);
    let done = order_domain::committed_windows(jc.c.tx, run.id).await?;
    let mut total = WindowCounts::default();
    for w in &done {
        total.add(&w.1);
    }
    let resumed = done.len();
    for (i, &(wf, wt)) in windows.iter().enumerate() {
        if done.iter().any(|d| d.0 == (wf, wt)) {
            continue;
        }
        jc.checkpoint()?;
        let counts = window(jc, &c, store, run.id, (wf, wt), incremental).await?;
        total.add(&counts);
        let percent = u8::try_from((i + 1) * 99 / windows.len().max(1)).unwrap_or(99);
        jc.progress(
            percent,
            format!("window {} of {} committed", i + 1, windows.len()),
            as_counts(&total),
        );
    }
    connect::record(jc.state, &c, Ok(())).await;
    if incremental {
        // The watermark moved: pools in their tail may now know every listing's part.
        let tail = crate::domain::stock_push::tail_listings(jc.c.tx, store.branch).await?;
        crate::domain::stock_push::request(jc.c.tx, &tail).await?;
    }
    let resumed = if resumed > 0 {
        format!(" ({resumed} committed by an earlier attempt)")
    } else {
        String::new()
    };
    Ok(Outcome {
        status: "SUCCEEDED",
        counts: as_counts(&total),
        message: Some(format!(
            "{} orders read in {} windows{resumed}: {} new, {} updated, {} unchanged, {} stale",
            total.fetched,
            windows.len(),
            total.created,
            total.updated,
            total.unchanged,
            total.stale
        )),
    })
}

fn as_counts(t: &WindowCounts) -> Counts {
    Counts {
        fetched: n(t.fetched),
        created: n(t.created),
        updated: n(t.updated),
        skipped: n(t.unchanged + t.stale),
        failed: 0,
    }
}

/// Lists, fetches and applies one window, then commits it (and, incremental, the watermark).
async fn window(
    jc: &JobCtx<'_>,
    c: &Calling,
    store: OrderStore,
    run: uuid::Uuid,
    (from, to): (i64, i64),
    incremental: bool,
) -> Result<WindowCounts, JobError> {
    let fail = async |e: connectors::Error| {
        connect::record(jc.state, c, Err(&e)).await;
        job_error(c, &e)
    };
    let refs = match c
        .connector
        .list_orders(&c.ctx, connectors::Window { from, to })
        .await
    {
        Ok(r) => r,
        Err(e) => return Err(fail(e).await),
    };
    let ids: Vec<String> = refs.into_iter().map(|r| r.external_id).collect();
    let mut orders = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(DETAIL_CHUNK) {
        jc.checkpoint()?;
        match c.connector.order_details(&c.ctx, chunk).await {
            Ok(mut d) => orders.append(&mut d),
            Err(e) => return Err(fail(e).await),
        }
    }
    let step = jc.step().await?;
    let sc = step.ctx();
    let mut counts = WindowCounts {
        fetched: orders.len(),
        ..WindowCounts::default()
    };
    for order in &orders {
        match order_domain::apply(&sc, store, order, OrderEventSource::Pull).await? {
            Applied::Created { .. } => counts.created += 1,
            Applied::Updated { .. } => counts.updated += 1,
            Applied::Unchanged { .. } => counts.unchanged += 1,
            Applied::Stale { .. } => counts.stale += 1,
        }
    }
    order_domain::commit_window(sc.tx, run, jc.job.branch_id, (from, to), &counts).await?;
    if incremental {
        order_domain::advance_watermark(sc.tx, StoreId(store.id.uuid()), to).await?;
    }
    step.commit(jc.state).await?;
    Ok(counts)
}
