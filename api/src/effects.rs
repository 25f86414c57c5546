//! Effects that may only happen once the transaction that caused them has committed: publishing
//! events, invalidating cached reads, handing jobs to the workers. Domain code records them, as
//! plain data, on its `Ctx`; a mutation whose savepoint rolls back drops its own; the caller runs
//! the rest after COMMIT ([`crate::after_commit`]). Nothing is published for work that did not
//! happen, and no reader re-caches a value between a write and its commit.

use crate::ids::OrgId;
use crate::keys::Topic;
use serde::Serialize;
use std::sync::Mutex;

/// Something to do after commit.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Catalog rows of the organization changed: its cached catalog reads are stale.
    CatalogChanged(OrgId),
    /// A message for an organization channel's subscribers.
    Publish {
        /// Channel.
        topic: Topic,
        /// JSON body.
        body: String,
    },
    /// A job is due now: hand it to the workers.
    JobQueued {
        /// Organization.
        org: OrgId,
        /// Job.
        job: uuid::Uuid,
    },
    /// A reservation of the organization lapses at `at`: the sweep must visit it then.
    ReservationDue {
        /// Organization.
        org: OrgId,
        /// Expiry.
        at: chrono::DateTime<chrono::Utc>,
    },
}

/// Effects recorded by one transaction or savepoint.
#[derive(Debug, Default)]
pub struct Effects(Mutex<Vec<Effect>>);

impl Effects {
    /// Records `e` (once: a repeated catalog change of the same organization is kept once).
    pub fn push(&self, e: Effect) {
        let mut v = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if matches!(e, Effect::CatalogChanged(_)) && v.contains(&e) {
            return;
        }
        v.push(e);
    }

    /// Records a message for `topic`'s subscribers (serialized now: the record is plain data).
    pub fn publish(&self, topic: Topic, body: &impl Serialize) {
        match serde_json::to_string(body) {
            Ok(body) => self.push(Effect::Publish { topic, body }),
            Err(e) => tracing::error!(error = %e, ?topic, "event not serializable"),
        }
    }

    /// Takes everything recorded so far.
    pub fn take(&self) -> Vec<Effect> {
        std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Moves `inner`'s effects into these (a savepoint that was kept).
    pub fn absorb(&self, inner: &Effects) {
        for e in inner.take() {
            self.push(e);
        }
    }
}
