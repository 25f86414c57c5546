//! Idempotency keys of stock changes: a retried request returns the first result.

use crate::domain::{Ctx, stmt};
use crate::error::{AppError, AppResult};
use sea_orm::{ConnectionTrait, FromQueryResult};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A checked idempotency key (trimmed, 1-200 characters) and the hash of the request it names
/// (operation and payload), as [`idempotent`] stores them.
pub(super) fn keyed<P: Serialize>(
    key: &str,
    operation: &str,
    payload: &P,
) -> AppResult<(String, Vec<u8>)> {
    let key = key.trim();
    if key.is_empty() || key.len() > 200 {
        return Err(AppError::invalid(
            "input.idempotencyKey",
            "must be 1-200 characters",
        ));
    }
    let mut h = Sha256::new();
    h.update(operation.as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(payload).map_err(AppError::from_error)?);
    Ok((key.to_owned(), h.finalize().to_vec()))
}

/// Runs `f` once per idempotency key: a retry with the same key and payload returns the first
/// result; the same key with another payload is a CONFLICT. Concurrent duplicates wait on the
/// key's unique index until the first commits, then read its result.
pub(super) async fn idempotent<T, P>(
    c: &Ctx<'_>,
    key: Option<&str>,
    operation: &str,
    payload: &P,
    f: impl AsyncFnOnce() -> AppResult<T>,
) -> AppResult<T>
where
    T: Serialize + serde::de::DeserializeOwned,
    P: Serialize,
{
    let Some(key) = key else {
        return f().await;
    };
    let (key, hash) = keyed(key, operation, payload)?;
    let key = key.as_str();
    let claimed = c
        .tx
        .execute_raw(stmt(
            "INSERT INTO stock_requests (org_id, idempotency_key, operation, request_hash, response) \
             VALUES ((SELECT app_org_id()), $1, $2, $3, 'null') ON CONFLICT DO NOTHING",
            vec![key.into(), operation.into(), hash.clone().into()],
        ))
        .await?
        .rows_affected();
    if claimed == 0 {
        #[derive(FromQueryResult)]
        struct Prior {
            operation: String,
            request_hash: Vec<u8>,
            response: serde_json::Value,
        }
        // Locked: retries of a key whose first request recorded no result wait for each other.
        let prior = Prior::find_by_statement(stmt(
            "SELECT operation, request_hash, response FROM stock_requests WHERE idempotency_key = $1 FOR UPDATE",
            vec![key.into()],
        ))
        .one(c.tx)
        .await?
        .ok_or_else(|| AppError::internal("idempotency row vanished"))?;
        if prior.operation != operation || prior.request_hash != hash {
            return Err(AppError::Conflict(
                "this idempotency key was used with a different request".into(),
            ));
        }
        // No result: the first request under this key was refused in a reservation group (whose
        // claim stays); this one runs it.
        if !prior.response.is_null() {
            return serde_json::from_value(prior.response).map_err(AppError::from_error);
        }
    }
    let out = f().await?;
    c.tx.execute_raw(stmt(
        "UPDATE stock_requests SET response = $2 WHERE idempotency_key = $1",
        vec![
            key.into(),
            serde_json::to_value(&out)
                .map_err(AppError::from_error)?
                .into(),
        ],
    ))
    .await?;
    Ok(out)
}
