//! The reservation expiry sweep. A reservation with an expiry schedules its organization in a Redis
//! sorted set (`{prefix}:reservations:due`, score = earliest expiry in ms, kept with `ZADD LT`)
//! after its transaction commits. The worker takes due organizations (`ZREM` decides which of
//! several workers gets one), releases their lapsed reservations in the organization's tenant
//! transaction as the runtime role (RLS applies, as to any request), and schedules the
//! organization again for its next expiry.
//!
//! If Redis loses the set, an organization is scheduled again by its next expiring reservation,
//! and its older lapsed reservations are released at that visit. Until then they only hold stock
//! back (nothing is ever oversold by a late release).

use crate::domain::Ctx;
use crate::domain::inventory::{next_expiry, sweep_expired};
use crate::effects::Effects;
use crate::error::{AppError, AppResult};
use crate::ids::OrgId;
use crate::state::AppState;
use chrono::{DateTime, Utc};

/// Sweeps every organization that is due now; returns how many reservations expired.
pub async fn sweep_due(state: &AppState) -> AppResult<u64> {
    let key = state.keys.reservations_due();
    let mut conn = state.redis.get().await.map_err(AppError::from_error)?;
    let due: Vec<String> = redis::cmd("ZRANGEBYSCORE")
        .arg(&key)
        .arg("-inf")
        .arg(Utc::now().timestamp_millis())
        .arg("LIMIT")
        .arg(0)
        .arg(100)
        .query_async(&mut conn)
        .await
        .map_err(AppError::from_error)?;
    let mut total = 0;
    for member in due {
        let claimed: i64 = redis::cmd("ZREM")
            .arg(&key)
            .arg(&member)
            .query_async(&mut conn)
            .await
            .map_err(AppError::from_error)?;
        if claimed == 0 {
            continue; // another worker took it
        }
        let Ok(org) = member.parse::<uuid::Uuid>().map(OrgId) else {
            tracing::warn!(
                member,
                "dropping a malformed entry of the reservation due set"
            );
            continue;
        };
        let next = match sweep_org(state, org).await {
            Ok((n, next)) => {
                total += n;
                next
            }
            Err(e) => {
                tracing::warn!(error = ?e, %org, "reservation sweep failed; retrying in 30 s");
                Some(Utc::now() + chrono::Duration::seconds(30))
            }
        };
        if let Some(at) = next {
            let due = [crate::effects::Effect::ReservationDue { org, at }];
            crate::after_commit::pipeline(&state.keys, &due)
                .query_async::<()>(&mut conn)
                .await
                .map_err(AppError::from_error)?;
        }
    }
    Ok(total)
}

/// Releases `org`'s lapsed reservations; returns how many and its next expiry.
async fn sweep_org(state: &AppState, org: OrgId) -> AppResult<(u64, Option<DateTime<Utc>>)> {
    // The sweep acts for the organization as a whole (every branch), with no user: the ledger
    // rows it writes have no actor.
    let access = crate::domain::jobs::system_access(org);
    let tx = crate::domain::jobs::org_tx(&state.db, org).await?;
    let effects = Effects::default();
    let c = Ctx {
        tx: &tx,
        access: &access,
        request_id: Some("reservation-sweep"),
        effects: &effects,
    };
    let mut n = 0;
    loop {
        let batch = sweep_expired(&c, 500).await?;
        n += batch;
        if batch < 500 {
            break;
        }
    }
    let next = next_expiry(&c).await?;
    tx.commit().await?;
    crate::after_commit::run(state, effects.take()).await;
    Ok((n, next))
}
