//! Marketplace pushes as sellers see them: `webhookEvents`, `replayWebhookEvent`, and the
//! `WebhookEvent` node.

use crate::domain::page::PageArgs;
use crate::domain::webhooks::{self as inbox, EventFilter, EventRow};
use crate::graphql::orders::TimeRange;
use crate::graphql::relay::{Conn, connection, decode_typed, encode_id, store_gid};
use crate::graphql::stores::PlatformGql;
use crate::graphql::sync::Job;
use crate::graphql::user_errors::UserError;
use crate::graphql::{mutate, read, some};
use crate::ids::JobId;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

/// The type name in a `WebhookEvent` global id.
pub const TYPE_NAME: &str = "WebhookEvent";

/// Global id of an inbox event.
pub fn webhook_event_gid(id: uuid::Uuid) -> ID {
    encode_id(TYPE_NAME, id)
}

/// What a push is about.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "connectors::push::PushKind")]
pub enum WebhookEventKind {
    /// An order was created or changed status.
    OrderStatus,
    /// An order's cancellation changed.
    OrderCancellation,
    /// The seller's authorization expires soon.
    AuthorizationExpiring,
    /// The seller withdrew Mercato's authorization.
    Deauthorized,
    /// An item's stock changed on the platform.
    StockChange,
    /// A product changed on the platform.
    ProductChange,
    /// Anything else: kept, not acted on.
    Other,
}

/// Where a push stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum WebhookEventStatus {
    /// Stored; its job is to be queued, queued, or running its first attempt.
    Pending,
    /// An attempt failed (`lastError`); another is due (after 60 s, 5 min, 15 min, 1 h, 3 h).
    Retrying,
    /// Acted on (`outcome` says how).
    Processed,
    /// Older than what Mercato already has: recorded, not applied.
    Stale,
    /// Nothing to do for this kind of push (kept for the record).
    Ignored,
    /// Out of attempts (`lastError` says why); `replayWebhookEvent` runs it again.
    Dead,
}

impl WebhookEventStatus {
    fn name(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Retrying => "RETRYING",
            Self::Processed => "PROCESSED",
            Self::Stale => "STALE",
            Self::Ignored => "IGNORED",
            Self::Dead => "DEAD",
        }
    }

    fn of(name: &str) -> Self {
        [
            Self::Retrying,
            Self::Processed,
            Self::Stale,
            Self::Ignored,
            Self::Dead,
        ]
        .into_iter()
        .find(|k| k.name() == name)
        .unwrap_or(Self::Pending)
    }
}

/// A marketplace push, as received and processed.
pub struct WebhookEvent(pub EventRow);

/// A marketplace push, as received and processed.
#[Object]
impl WebhookEvent {
    /// Global id.
    pub async fn id(&self) -> ID {
        webhook_event_gid(self.0.id)
    }
    /// The store it is for (global id).
    async fn store_id(&self) -> ID {
        store_gid(crate::ids::StoreId(self.0.store_id))
    }
    /// Marketplace.
    async fn platform(&self) -> PlatformGql {
        self.0.platform.into()
    }
    /// What it is about.
    async fn kind(&self) -> WebhookEventKind {
        inbox::kind_of(&self.0.kind).into()
    }
    /// The platform's own code or type (Shopee `code`, TikTok `type`, Lazada `message_type`).
    async fn topic(&self) -> &str {
        &self.0.topic
    }
    /// The platform's id of the order or item it is about.
    async fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }
    /// The status it announced, as the platform spells it.
    async fn announced_status(&self) -> Option<&str> {
        self.0.announced_status.as_deref()
    }
    /// When the subject was last updated on the platform, as announced.
    async fn subject_updated_at(&self) -> Option<DateTime<Utc>> {
        self.0.subject_updated_at
    }
    /// When the platform sent it.
    async fn sent_at(&self) -> DateTime<Utc> {
        self.0.sent_at
    }
    /// When it first arrived.
    async fn received_at(&self) -> DateTime<Utc> {
        self.0.received_at
    }
    /// Where it stands.
    async fn status(&self) -> WebhookEventStatus {
        WebhookEventStatus::of(&self.0.state)
    }
    /// What processing did.
    async fn outcome(&self) -> Option<&str> {
        self.0.outcome.as_deref()
    }
    /// Processing attempts so far.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// The last failed attempt's error.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// How many more times the platform delivered it (each answered 200, none processed).
    async fn duplicates(&self) -> i32 {
        self.0.duplicates
    }
    /// When it was processed.
    async fn processed_at(&self) -> Option<DateTime<Utc>> {
        self.0.processed_at
    }
    /// The job processing it (the latest one when replayed); null for the moment between its
    /// arrival and a worker queuing its job.
    async fn job(&self, ctx: &Context<'_>) -> Result<Option<Job>> {
        let Some(id) = self.0.job_id.map(JobId) else {
            return Ok(None);
        };
        let r = read(ctx, async |c| crate::domain::sync::job(&c, id).await).await;
        Ok(r.ok().map(Job))
    }
    /// The body exactly as the platform sent it (JSON); null unless the caller is an OWNER or
    /// ADMIN (it may carry buyer details).
    async fn payload(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<async_graphql::Json<serde_json::Value>>> {
        let admin = read(ctx, async |c| Ok(c.access.org()?.is_admin())).await?;
        Ok(admin
            .then(|| serde_json::from_str(&self.0.body).ok())
            .flatten()
            .map(async_graphql::Json))
    }
}

/// Which pushes `webhookEvents` lists.
#[derive(InputObject, Clone, Default)]
pub struct WebhookEventFilter {
    /// Only in this state.
    pub status: Option<WebhookEventStatus>,
    /// Only of this kind.
    #[graphql(name = "type")]
    pub kind: Option<WebhookEventKind>,
    /// Only those first received in this range.
    pub received_between: Option<TimeRange>,
}

/// Input of `replayWebhookEvent`.
#[derive(InputObject)]
pub struct ReplayWebhookEventInput {
    /// The event (global id).
    pub id: ID,
}

/// Result of `replayWebhookEvent`.
#[derive(SimpleObject)]
pub struct ReplayWebhookEventPayload {
    /// The event, PENDING again with a new job.
    pub event: Option<WebhookEvent>,
    /// Problems with the input (nothing was replayed).
    pub user_errors: Vec<UserError>,
}

/// A store's pushes over the last 7 days.
#[derive(SimpleObject, Clone, Debug)]
pub struct WebhookHealth {
    /// Start of the period counted.
    pub since: DateTime<Utc>,
    /// Distinct pushes received.
    pub arrived: i64,
    /// Extra deliveries of them (answered, not processed again).
    pub duplicates: i64,
    /// Recorded as older than what Mercato had.
    pub stale: i64,
    /// Failing now (being retried).
    pub failed: i64,
    /// Out of attempts.
    pub dead: i64,
    /// The last delivery (first or duplicate), whenever it was.
    pub last_arrival_at: Option<DateTime<Utc>>,
}

/// How far back `Store.health.webhooks` counts.
pub const HEALTH_DAYS: i64 = 7;

/// `Store.health.webhooks`.
pub async fn health(ctx: &Context<'_>, store: crate::ids::StoreId) -> Result<WebhookHealth> {
    let since = Utc::now() - chrono::Duration::days(HEALTH_DAYS);
    let c = read(ctx, async |c| inbox::counts(c.tx, store, since).await).await?;
    Ok(WebhookHealth {
        since,
        arrived: c.arrived,
        duplicates: c.duplicates,
        stale: c.stale,
        failed: c.failed,
        dead: c.dead,
        last_arrival_at: c.last_arrival_at,
    })
}

/// Queries.
#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// A store's marketplace pushes, newest first.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn webhook_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The store (global id).")] store_id: ID,
        #[graphql(desc = "Which pushes.")] filter: Option<WebhookEventFilter>,
        #[graphql(
            desc = "At most this many items from the start of the list (0 to 100, default 20)."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Only items after this cursor (an edge's `cursor`, or `pageInfo.endCursor`)."
        )]
        after: Option<String>,
        #[graphql(
            desc = "At most this many items from the end of the list (0 to 100); not with `first`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Only items before this cursor (an edge's `cursor`, or `pageInfo.startCursor`)."
        )]
        before: Option<String>,
    ) -> Result<Conn<WebhookEvent>> {
        let args: PageArgs = crate::graphql::relay::page_args(after, before, first, last)?;
        let store = crate::graphql::relay::store_id(&store_id)?;
        let f = filter.unwrap_or_default();
        let range = f.received_between;
        let filter = EventFilter {
            state: f.status.map(|s| s.name().to_owned()),
            kind: f.kind.map(|k| inbox::kind_name(k.into()).to_owned()),
            received_from: range.and_then(|r| r.from),
            received_to: range.and_then(|r| r.to),
        };
        let page = read(ctx, async |c| inbox::events(&c, store, filter, args).await).await?;
        Ok(connection(page, |r| r.id, WebhookEvent))
    }
}

/// Mutations.
#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Processes a push again with a new job (after its cause was fixed, or to re-read the order
    /// from the platform). Refused while its job is queued or running.
    async fn replay_webhook_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: ReplayWebhookEventInput,
    ) -> Result<Option<ReplayWebhookEventPayload>> {
        some(async {
            let (row, user_errors) = mutate(ctx, async |c| {
                let id = decode_typed(&input.id, TYPE_NAME)?;
                inbox::replay(&c, id).await
            })
            .await?;
            Ok(ReplayWebhookEventPayload {
                event: row.map(WebhookEvent),
                user_errors,
            })
        })
        .await
    }
}
