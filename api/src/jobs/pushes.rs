//! The stock push dispatcher: every worker, every `MERCATO_PUSH_DISPATCH_MS`, claims the stores
//! with pushes queued since the last look (`claim_stock_pushes`, across organizations: ids only)
//! and makes sure each has one queued STOCK_PUSH job, which it hands to Redis after commit. The
//! claim and the jobs commit together, so a dispatcher that dies between them hands nothing out
//! and the rows are claimed again. Everything queued while a store's job waits or runs is sent
//! by that job or the next one: a burst of changes becomes one push per period.
//!
//! A job is queued only when the store has no queued one. The check runs after the rows it
//! dispatches were committed (they are visible to it), so a queued job it finds has not read the
//! queue yet and will send them.

use crate::db::rls::apply_settings;
use crate::domain::jobs::{StockPushPayload, system_access};
use crate::domain::{stmt, stock_push};
use crate::effects::{Effect, Effects};
use crate::error::AppResult;
use crate::ids::{OrgId, StoreId};
use crate::state::AppState;
use sea_orm::{ConnectionTrait, FromQueryResult, TransactionTrait};
use std::time::Duration;
use uuid::Uuid;

/// Hands out the stores with newly queued pushes; returns how many push jobs were queued.
pub async fn dispatch_once(state: &AppState) -> AppResult<usize> {
    #[derive(FromQueryResult)]
    struct Due {
        org_id: Uuid,
        store_id: Uuid,
    }
    let tx = state.db.begin().await?;
    let due = Due::find_by_statement(stmt(
        "SELECT org_id, store_id FROM claim_stock_pushes($1, $2 * interval '1 millisecond') \
         ORDER BY org_id, store_id",
        vec![
            10_000_i32.into(),
            i64::try_from(state.config.jobs.push_redispatch_after.as_millis())
                .unwrap_or(i64::MAX)
                .into(),
        ],
    ))
    .all(&tx)
    .await?;
    if due.is_empty() {
        tx.rollback().await?;
        return Ok(0);
    }
    let effects = Effects::default();
    let mut org: Option<Uuid> = None;
    for d in &due {
        if org != Some(d.org_id) {
            apply_settings(
                &tx,
                &crate::tenant::settings_for(&system_access(OrgId(d.org_id))),
            )
            .await?;
            org = Some(d.org_id);
        }
        // Two dispatchers handing out the same store queue one job between them.
        tx.execute_raw(stmt(
            "SELECT pg_advisory_xact_lock(hashtextextended('mercato.stock_push.queue:' || $1::text, 0))",
            vec![d.store_id.into()],
        ))
        .await?;
        let queued = stock_push::queue_job(
            &tx,
            StoreId(d.store_id),
            &StockPushPayload::default(),
            Duration::ZERO,
        )
        .await?;
        if let Some(job) = queued {
            effects.push(Effect::JobQueued {
                org: OrgId(d.org_id),
                job,
            });
        }
    }
    tx.commit().await?;
    let handed = effects.take();
    let n = handed.len();
    crate::after_commit::run(state, handed).await;
    Ok(n)
}
