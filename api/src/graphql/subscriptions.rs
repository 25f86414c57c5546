//! Subscriptions over `/graphql/ws`. The connection is authenticated in `connection_init`; the
//! `Principal` it proved is in the subscription's data. Sync progress streams arrive with the jobs
//! issue; `heartbeat` proves the authenticated path end to end.

use crate::auth::Principal;
use crate::error::AppError;
use crate::graphql::relay::{org_gid, user_gid};
use async_graphql::{Context, ID, Result, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures::Stream;
use std::time::Duration;

/// A periodic tick for the authenticated subscriber.
#[derive(SimpleObject, Clone)]
pub struct Heartbeat {
    /// Sequence number, from 1.
    pub seq: i32,
    /// Server time.
    pub at: DateTime<Utc>,
    /// The subscriber.
    pub user_id: ID,
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
        let principal = *ctx
            .data::<Principal>()
            .map_err(|_| AppError::Unauthenticated)?;
        let secs = u64::try_from(interval_seconds).unwrap_or(5);
        Ok(async_stream::stream! {
            let mut tick = tokio::time::interval(Duration::from_secs(secs));
            tick.tick().await;
            let mut seq = 0;
            loop {
                seq += 1;
                yield Heartbeat {
                    seq,
                    at: Utc::now(),
                    user_id: user_gid(principal.user_id),
                    organization_id: principal.org_id.map(org_gid),
                };
                tick.tick().await;
            }
        })
    }
}
