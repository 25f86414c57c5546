//! Marketplace pushes after they were acknowledged: the dispatcher that queues each new event's
//! WEBHOOK job ([`dispatch_once`]), and the job itself.
//!
//! The dispatcher (every worker, every `MERCATO_WEBHOOK_DISPATCH_MS`) claims events without a job
//! across organizations (`claim_webhook_events`, locked for its transaction, so two workers never
//! take the same one), queues their jobs organization by organization in that one transaction,
//! commits, and hands the jobs to Redis. An event whose API process died right after its commit is
//! found the same way.
//!
//! WEBHOOK processes one marketplace push from the inbox, in the job's fenced transaction (what
//! it writes, the outcome included, commits only if the attempt still holds the lease, so a
//! worker killed mid-way leaves nothing and the next one processes the event once).
//!
//! - Order status and cancellation: a push older than the stored order is recorded STALE without
//!   calling the platform; one at the stored version changes nothing; a newer one fetches the
//!   order through the connector and applies it through the orders domain (its anti-regression on
//!   the marketplace update time holds there too). If the platform still shows an older version
//!   than the push announced (its reads lag its pushes), the attempt fails and retries later.
//! - Deauthorization: the store becomes AUTH_EXPIRED (schedules paused, an alert published).
//! - Authorization expiry notice: the date goes to `Store.health.authorizationExpiresAt`.
//! - Stock or product change: the item's listings are marked drifted and a push of Mercato's
//!   quantity is queued (Mercato's stock is the truth; the platform is told it again).
//! - Anything else is kept and IGNORED.

use super::kinds::{job_error, store_for};
use crate::connect;
use crate::domain::jobs::WebhookPayload;
use crate::domain::orders::{self as order_domain, Applied, OrderStore};
use crate::domain::webhooks::{self as inbox, EventRow, Handled};
use crate::domain::{connections, stock_push};
use crate::ids::{BranchId, StoreId};
use crate::jobs::runner::{Counts, JobCtx, JobError, Outcome};
use chrono::{DateTime, Utc};
use entity::enums::OrderEventSource;

/// Most events one dispatch queues.
const DISPATCH_BATCH: i32 = 1000;

/// Queues the jobs of events that have none yet; how many.
pub async fn dispatch_once(state: &crate::state::AppState) -> crate::error::AppResult<usize> {
    use sea_orm::TransactionTrait;
    let tx = state.db.begin().await?;
    let claimed = inbox::claim(&tx, DISPATCH_BATCH).await?;
    if claimed.is_empty() {
        tx.rollback().await?;
        return Ok(0);
    }
    let mut by_org: std::collections::BTreeMap<uuid::Uuid, Vec<uuid::Uuid>> =
        std::collections::BTreeMap::new();
    for (org, event) in claimed {
        by_org.entry(org).or_default().push(event);
    }
    let mut effects = Vec::new();
    for (org, events) in by_org {
        let org = crate::ids::OrgId(org);
        crate::db::rls::apply_settings(
            &tx,
            &crate::tenant::settings_for(&crate::domain::jobs::system_access(org)),
        )
        .await?;
        for job in inbox::queue_jobs(&tx, &events).await? {
            effects.push(crate::effects::Effect::JobQueued { org, job });
        }
    }
    tx.commit().await?;
    let n = effects.len();
    crate::after_commit::run(state, effects).await;
    Ok(n)
}

/// Runs a WEBHOOK job.
pub async fn run(jc: &JobCtx<'_>, p: WebhookPayload) -> Result<Outcome, JobError> {
    let Some(ev) = inbox::load(jc.c.tx, p.event).await? else {
        return Err(JobError::Permanent("the event is gone".into()));
    };
    if ev.job_id != Some(jc.job.id) || ev.state == "PROCESSED" || ev.state == "STALE" {
        // Replayed since (another job owns it now), or already handled by an attempt that
        // committed: processing it again here would apply it twice.
        return Ok(done("SKIPPED", "already handled by another job".into()));
    }
    let store = StoreId(ev.store_id);
    let (handled, outcome) = match ev.kind.as_str() {
        "ORDER_STATUS" | "ORDER_CANCELLATION" => order(jc, &ev, store).await?,
        "DEAUTHORIZED" => {
            let changed = connections::mark_auth_expired(
                &jc.c,
                store,
                "AUTH_EXPIRED",
                "the seller withdrew Mercato's authorization on the platform",
            )
            .await?;
            let what = if changed {
                "the store is AUTH_EXPIRED: the seller must connect it again"
            } else {
                "the store was not connected: nothing changed"
            };
            (Handled::Processed, what.to_owned())
        }
        "AUTHORIZATION_EXPIRING" => {
            let at = expiry(&ev);
            inbox::note_authorization_expiry(jc.c.tx, store, at).await?;
            (
                Handled::Processed,
                format!("the authorization expires at {}", at.to_rfc3339()),
            )
        }
        "STOCK_CHANGE" | "PRODUCT_CHANGE" => match ev.subject.as_deref() {
            Some(item) => {
                let ids = inbox::item_listings(jc.c.tx, store, item).await?;
                stock_push::mark_drifted(jc.c.tx, &ids).await?;
                (
                    Handled::Processed,
                    format!(
                        "{} listing(s) of item {item} get Mercato's quantity again",
                        ids.len()
                    ),
                )
            }
            None => (Handled::Ignored, "no item named".into()),
        },
        _ => (
            Handled::Ignored,
            format!("topic {} is kept, not acted on", ev.topic),
        ),
    };
    inbox::finish(jc.c.tx, ev.id, handled, &outcome).await?;
    let status = if handled == Handled::Ignored {
        "SKIPPED"
    } else {
        "SUCCEEDED"
    };
    Ok(done(status, outcome))
}

fn done(status: &'static str, message: String) -> Outcome {
    Outcome {
        status,
        counts: Counts::default(),
        message: Some(message),
    }
}

async fn order(
    jc: &JobCtx<'_>,
    ev: &EventRow,
    store: StoreId,
) -> Result<(Handled, String), JobError> {
    let Some(id) = ev.subject.as_deref() else {
        return Err(JobError::Permanent("an order push without an order".into()));
    };
    let stored = inbox::stored_order_version(jc.c.tx, store, id).await?;
    if let (Some(announced), Some(stored)) = (ev.subject_updated_at, stored) {
        if announced < stored {
            return Ok((
                Handled::Stale,
                format!(
                    "order {id}: announced version {} is older than the stored {}; not applied",
                    announced.to_rfc3339(),
                    stored.to_rfc3339()
                ),
            ));
        }
        if announced == stored {
            return Ok((
                Handled::Processed,
                format!("order {id}: already at this version"),
            ));
        }
    }
    let c = match store_for(jc, connectors::Priority::High).await? {
        Ok(c) => c,
        Err(skipped) => {
            return Ok((
                Handled::Ignored,
                skipped
                    .message
                    .unwrap_or_else(|| "the store cannot be called".into()),
            ));
        }
    };
    let fetched = c.connector.order_details(&c.ctx, &[id.to_owned()]).await;
    let orders = match fetched {
        Ok(o) => o,
        Err(e) => {
            connect::record(jc.state, &c, Err(&e)).await;
            return Err(job_error(&c, &e));
        }
    };
    connect::record(jc.state, &c, Ok(())).await;
    let Some(order) = orders.into_iter().find(|o| o.external_id == id) else {
        return Err(JobError::Transient(format!(
            "the platform does not show order {id} yet"
        )));
    };
    if let Some(announced) = ev.subject_updated_at
        && order.update_time < announced.timestamp()
    {
        return Err(JobError::Transient(format!(
            "the platform still shows order {id} as of {}, older than the push announced ({})",
            order.update_time,
            announced.timestamp()
        )));
    }
    let s = OrderStore {
        id: store,
        branch: BranchId(ev.branch_id),
    };
    let applied = order_domain::apply(&jc.c, s, &order, OrderEventSource::Push).await?;
    Ok(match applied {
        Applied::Created { status, .. } => (
            Handled::Processed,
            format!("order {id} created as {}", status_name(status)),
        ),
        Applied::Updated { from, to, .. } => (
            Handled::Processed,
            format!(
                "order {id} updated from {} to {}",
                status_name(from),
                status_name(to)
            ),
        ),
        Applied::Unchanged { .. } => (
            Handled::Processed,
            format!("order {id}: already at this version"),
        ),
        Applied::Stale { kept, refused, .. } => (
            Handled::Stale,
            format!(
                "order {id}: {} is older than the stored {}; not applied",
                status_name(refused),
                status_name(kept)
            ),
        ),
    })
}

fn status_name(s: entity::enums::OrderStatus) -> String {
    use sea_orm::ActiveEnum as _;
    s.to_value()
}

/// When the announced authorization ends: the date in the push where the platform gives one,
/// else the platform's notice period after it was sent (Shopee and TikTok 7 days, Lazada 48 h).
fn expiry(ev: &EventRow) -> DateTime<Utc> {
    let body: serde_json::Value = serde_json::from_str(&ev.body).unwrap_or_default();
    let data = &body["data"];
    ["expire_before", "expiration_time", "expire_time"]
        .iter()
        .find_map(|k| data[*k].as_i64())
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .unwrap_or_else(|| {
            let lead = if ev.platform == entity::enums::Platform::Lazada {
                chrono::Duration::hours(48)
            } else {
                chrono::Duration::days(7)
            };
            ev.sent_at + lead
        })
}
