//! ORDER_IMPORT: a file-only store's order export, read with the store's mapping and applied
//! order by order (each in a savepoint: an order the model refuses is reported and left out
//! whole) through the same upsert, state machine and stock rules as synced orders. Refused rows
//! and orders become FAILED items of the run with their line (or order number) and reason.

use super::kinds::n;
use crate::domain::jobs::OrderImportPayload;
use crate::domain::order_import;
use crate::domain::orders::{self as order_domain, Applied, OrderStore};
use crate::domain::{Ctx, stmt};
use crate::error::AppError;
use crate::ids::StoreId;
use crate::jobs::runner::{Counts, JobCtx, JobError, Outcome};
use entity::enums::OrderEventSource;
use sea_orm::{ConnectionTrait, TransactionTrait};
use uuid::Uuid;

/// Runs an ORDER_IMPORT job.
pub async fn run(jc: &JobCtx<'_>, input: OrderImportPayload) -> Result<Outcome, JobError> {
    let store = StoreId(
        jc.job
            .store_id
            .ok_or_else(|| JobError::Permanent("ORDER_IMPORT needs a store".into()))?,
    );
    let (branch, currency) = order_import::file_store(&jc.c, store).await?;
    let read = order_import::read(&input.csv, &order_import::mapping(&currency))?;
    let run = jc
        .run
        .ok_or_else(|| JobError::Permanent("an ORDER_IMPORT job records a sync run".into()))?;
    let target = OrderStore { id: store, branch };
    let mut counts = Counts {
        fetched: n(read.records.len()),
        failed: n(read.errors.len()),
        ..Counts::default()
    };
    let mut failed: Vec<serde_json::Value> = read
        .errors
        .iter()
        .map(|e| {
            serde_json::json!({
                "id": Uuid::now_v7(),
                "key": format!("line {}", e.line),
                "message": e.message,
            })
        })
        .collect();
    let total = read.records.len().max(1);
    for (i, order) in read.records.iter().enumerate() {
        if i % 200 == 0 {
            jc.checkpoint()?;
            jc.progress(
                u8::try_from(i * 99 / total).unwrap_or(99),
                format!("{i} of {} orders", read.records.len()),
                counts,
            );
        }
        let sp = jc.c.tx.begin().await.map_err(AppError::from)?;
        let inner = Ctx { tx: &sp, ..jc.c };
        match order_domain::apply(&inner, target, order, OrderEventSource::Import).await {
            Ok(applied) => {
                sp.commit().await.map_err(AppError::from)?;
                match applied {
                    Applied::Created { .. } => counts.created += 1,
                    Applied::Updated { .. } => counts.updated += 1,
                    Applied::Unchanged { .. } | Applied::Stale { .. } => counts.skipped += 1,
                }
            }
            Err(e @ (AppError::Upstream(_) | AppError::Validation { .. })) => {
                sp.rollback().await.map_err(AppError::from)?;
                counts.failed += 1;
                failed.push(serde_json::json!({
                    "id": Uuid::now_v7(),
                    "key": format!("order {}", order.external_id.chars().take(150).collect::<String>()),
                    "message": e.public_message(),
                }));
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !failed.is_empty() {
        jc.c.tx
            .execute_raw(stmt(
                "INSERT INTO sync_items (org_id, id, run_id, branch_id, entity, external_key, action, message) \
                 SELECT (SELECT app_org_id()), u.id, $1, $2, 'ORDER_ROW', u.key, 'FAILED', u.message \
                 FROM jsonb_to_recordset($3) AS u(id uuid, key text, message text)",
                vec![
                    run.id.into(),
                    jc.job.branch_id.into(),
                    serde_json::Value::Array(failed).into(),
                ],
            ))
            .await
            .map_err(AppError::from)?;
    }
    Ok(Outcome {
        status: "SUCCEEDED",
        counts,
        message: Some(format!(
            "{} orders read: {} new, {} updated, {} unchanged; {} rows or orders refused",
            counts.fetched, counts.created, counts.updated, counts.skipped, counts.failed
        )),
    })
}
