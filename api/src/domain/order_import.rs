//! Orders of file-only stores (Kilimall, the seller's own storefront): a seller-center export is
//! checked as a whole when it is handed in (size, UTF-8, the mapped columns), then read again by
//! an ORDER_IMPORT job with the store's column mapping and applied order by order through the
//! same upsert, state machine and stock rules as synced orders. A row that cannot be read is
//! reported with its line and reason, and its whole order is left out (never half an order).

use crate::auth::permissions::Perm;
use crate::domain::jobs::{self as queue, JobInput, NewJob, OrderImportPayload, Queued};
use crate::domain::{Ctx, stmt};
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, StoreId};
use connectors::file::{Imported, OrderMapping, import_orders};
use entity::enums::{ConnectionStatus, Platform};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

/// The largest export taken (bytes).
pub const MAX_FILE_BYTES: usize = 20 * 1024 * 1024;

/// The column mapping of a store's exports (Kilimall's seller-center headers, in the store's
/// currency and Nairobi time).
pub fn mapping(currency: &str) -> OrderMapping {
    let mut m = OrderMapping::kilimall_default();
    currency.clone_into(&mut m.currency);
    m
}

/// Reads `csv` with `mapping`: the orders and the refused rows, or VALIDATION_FAILED on
/// `input.file` when the file cannot be read at all.
pub fn read(csv: &str, mapping: &OrderMapping) -> AppResult<Imported<connectors::Order>> {
    import_orders(csv.as_bytes(), mapping)
        .map_err(|e| AppError::invalid("input.file", e.to_string()))
}

/// A file-only store's branch and currency (NOT_FOUND unless visible; VALIDATION_FAILED for a
/// store whose platform has an API: its orders come by sync).
pub async fn file_store(c: &Ctx<'_>, store: StoreId) -> AppResult<(BranchId, String)> {
    let row =
        c.tx.query_one_raw(stmt(
            "SELECT branch_id, currency, platform, connection, status FROM stores WHERE id = $1",
            vec![store.uuid().into()],
        ))
        .await?
        .ok_or(AppError::NotFound("Store"))?;
    let branch: Uuid = row.try_get("", "branch_id")?;
    let currency: String = row.try_get("", "currency")?;
    let platform: Platform = row.try_get("", "platform")?;
    let connection: ConnectionStatus = row.try_get("", "connection")?;
    let status: String = row.try_get("", "status")?;
    if connection != ConnectionStatus::FileOnly
        || !matches!(platform, Platform::Kilimall | Platform::Own)
    {
        return Err(AppError::invalid(
            "input.storeId",
            "only file-only stores (Kilimall, own storefront) import orders from a file; this store's orders come by sync",
        ));
    }
    if status != "ACTIVE" {
        return Err(AppError::Conflict("the store is archived".into()));
    }
    Ok((BranchId(branch), currency))
}

/// Queues an ORDER_IMPORT of `csv` for a file-only store, after checking the file as a whole.
pub async fn start(
    c: &Ctx<'_>,
    store: StoreId,
    csv: Vec<u8>,
    idempotency_key: Option<String>,
) -> AppResult<Queued> {
    let (branch, currency) = file_store(c, store).await?;
    c.access.org()?.require(Perm::OrdersWrite(branch))?;
    if csv.len() > MAX_FILE_BYTES {
        return Err(AppError::invalid("input.file", "larger than 20 MB"));
    }
    let csv =
        String::from_utf8(csv).map_err(|_| AppError::invalid("input.file", "not UTF-8 text"))?;
    let read = read(&csv, &mapping(&currency))?;
    if read.records.is_empty() && read.errors.is_empty() {
        return Err(AppError::invalid("input.file", "no order rows"));
    }
    let mut job = NewJob::of(&JobInput::OrderImport(OrderImportPayload { csv }));
    job.branch = Some(branch);
    job.store = Some(store);
    job.idempotency_key = match idempotency_key {
        Some(k) if k.trim().is_empty() || k.len() > 200 => {
            return Err(AppError::invalid(
                "input.idempotencyKey",
                "must be 1-200 characters",
            ));
        }
        other => other,
    };
    queue::enqueue(c, job).await
}
