//! Subscriptions over `/graphql/ws`. The connection is authenticated in `connection_init`; the
//! `Principal` it proved is in the subscription's data. Sync progress streams arrive with the jobs
//! issue; `heartbeat` proves the authenticated path end to end.

use crate::auth::Principal;
use crate::error::AppError;
use crate::graphql::relay::{org_gid, user_gid};
use async_graphql::{Context, ID, Result, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures::Stream;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Caps the subscriptions open at once on one WebSocket; each subscription holds a permit for as
/// long as its stream lives.
#[derive(Clone)]
pub struct SocketSlots(pub Arc<Semaphore>);

/// Takes a subscription slot of this socket, or fails with TOO_MANY_SUBSCRIPTIONS.
fn acquire_slot(ctx: &Context<'_>) -> Result<Option<OwnedSemaphorePermit>> {
    let Ok(slots) = ctx.data::<SocketSlots>() else {
        return Ok(None);
    };
    match slots.0.clone().try_acquire_owned() {
        Ok(p) => Ok(Some(p)),
        Err(_) => Err(AppError::TooManySubscriptions.into()),
    }
}

/// A periodic tick for the authenticated subscriber.
#[derive(SimpleObject, Clone)]
pub struct Heartbeat {
    /// Sequence number, from 1.
    pub seq: i32,
    /// Server time.
    pub at: DateTime<Utc>,
    /// The subscribing user (null for an API token).
    pub user_id: Option<ID>,
    /// The organization the subscriber's token is scoped to.
    pub organization_id: Option<ID>,
}

/// Root subscription.
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Ticks every `intervalSeconds` (1-60). Requires an authenticated connection.
    async fn heartbeat(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 5, validator(minimum = 1, maximum = 60))] interval_seconds: i32,
    ) -> Result<impl Stream<Item = Heartbeat> + use<>> {
        let principal = ctx
            .data::<Principal>()
            .map_err(|_| AppError::Unauthenticated)?;
        let permit = acquire_slot(ctx)?;
        let (user_id, organization_id) = match principal {
            Principal::User { user_id, org_id } => (Some(user_gid(*user_id)), org_id.map(org_gid)),
            Principal::ApiToken(g) => (None, Some(org_gid(g.org_id))),
        };
        let secs = u64::try_from(interval_seconds).unwrap_or(5);
        Ok(async_stream::stream! {
            let _permit = permit;
            let mut tick = tokio::time::interval(Duration::from_secs(secs));
            tick.tick().await;
            let mut seq = 0;
            loop {
                seq += 1;
                yield Heartbeat {
                    seq,
                    at: Utc::now(),
                    user_id: user_id.clone(),
                    organization_id: organization_id.clone(),
                };
                tick.tick().await;
            }
        })
    }
}
