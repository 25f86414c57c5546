//! Text-backed enumerations stored in `CHECK`-constrained columns.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A member's role in an organization.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum OrgRole {
    /// Full control, including billing and ownership transfer.
    #[sea_orm(string_value = "OWNER")]
    Owner,
    /// Manages the organization, every branch and store.
    #[sea_orm(string_value = "ADMIN")]
    Admin,
    /// Works in the branches they are a member of.
    #[sea_orm(string_value = "MEMBER")]
    Member,
}

/// A member's role in one branch.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum BranchRole {
    /// Manages the branch's stores and staff.
    #[sea_orm(string_value = "MANAGER")]
    Manager,
    /// Day-to-day operations in the branch.
    #[sea_orm(string_value = "OPERATOR")]
    Operator,
    /// Read-only access to the branch.
    #[sea_orm(string_value = "VIEWER")]
    Viewer,
}

/// The marketplace (or own storefront) a store is connected to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Platform {
    /// Shopee Open Platform.
    #[sea_orm(string_value = "SHOPEE")]
    Shopee,
    /// TikTok Shop Open API.
    #[sea_orm(string_value = "TIKTOK_SHOP")]
    TiktokShop,
    /// Lazada Open Platform.
    #[sea_orm(string_value = "LAZADA")]
    Lazada,
    /// Jumia Vendor Center.
    #[sea_orm(string_value = "JUMIA")]
    Jumia,
    /// Kilimall (file import/export; no public seller API).
    #[sea_orm(string_value = "KILIMALL")]
    Kilimall,
    /// The seller's own storefront.
    #[sea_orm(string_value = "OWN")]
    Own,
}

/// Lifecycle of a store connection.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum StoreStatus {
    /// Connected and synchronised.
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    /// Disconnected; kept for history.
    #[sea_orm(string_value = "ARCHIVED")]
    Archived,
}

/// Whether Mercato can call the platform for a store (`stores.connection`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionStatus {
    /// Authorized, and the last calls succeeded.
    #[sea_orm(string_value = "CONNECTED")]
    Connected,
    /// Authorized, but recent calls fail (the platform is down or throttling; the breaker may be open).
    #[sea_orm(string_value = "DEGRADED")]
    Degraded,
    /// The platform refused the tokens: the seller must reconnect. Schedules are paused.
    #[sea_orm(string_value = "AUTH_EXPIRED")]
    AuthExpired,
    /// Not authorized (never connected, or disconnected): nothing calls the platform.
    #[sea_orm(string_value = "DISCONNECTED")]
    Disconnected,
    /// No platform API (Kilimall, own storefront): data comes by files or through Mercato's API.
    #[sea_orm(string_value = "FILE_ONLY")]
    FileOnly,
}

/// A store's circuit breaker (`stores.circuit`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CircuitState {
    /// Calls flow.
    #[sea_orm(string_value = "CLOSED")]
    Closed,
    /// Calls are held back until `circuit_open_until`; jobs are deferred, not failed.
    #[sea_orm(string_value = "OPEN")]
    Open,
    /// One trial call is allowed.
    #[sea_orm(string_value = "HALF_OPEN")]
    HalfOpen,
}

/// What a background job does (`jobs.kind`, `sync_runs.kind`, `sync_schedules.kind`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobKind {
    /// A catalog import (CSV rows as the payload).
    #[sea_orm(string_value = "CATALOG_IMPORT")]
    CatalogImport,
    /// Orders of a store (scheduled).
    #[sea_orm(string_value = "ORDERS")]
    Orders,
    /// Payouts of a store (scheduled).
    #[sea_orm(string_value = "PAYOUTS")]
    Payouts,
    /// Refresh a store's marketplace tokens (scheduled).
    #[sea_orm(string_value = "TOKEN_REFRESH")]
    TokenRefresh,
    /// Return SLA clocks of a store (scheduled).
    #[sea_orm(string_value = "RETURN_SLA")]
    ReturnSla,
    /// Test kind (enabled by `MERCATO_JOB_TEST_KINDS`): writes a marker, sleeps, fails on request.
    #[sea_orm(string_value = "TEST_PROBE")]
    TestProbe,
    /// Test kind: does nothing (benchmarks of the queue itself).
    #[sea_orm(string_value = "NOOP")]
    Noop,
    /// Test kind: makes a number of cheap platform calls for a store (quota tests).
    #[sea_orm(string_value = "TEST_CALLS")]
    TestCalls,
    /// Orders of a file-only store from a seller-center export (the file as the payload).
    #[sea_orm(string_value = "ORDER_IMPORT")]
    OrderImport,
    /// A store's marketplace products, read into listings and linked by SKU (scheduled).
    #[sea_orm(string_value = "PRODUCTS")]
    Products,
    /// Sends a store's pending stock pushes (queued by stock changes).
    #[sea_orm(string_value = "STOCK_PUSH")]
    StockPush,
    /// Compares a store's marketplace stock with what was pushed and corrects it (scheduled).
    #[sea_orm(string_value = "STOCK_DRIFT")]
    StockDrift,
    /// Processes one marketplace push from the webhook inbox (queued when it arrives).
    #[sea_orm(string_value = "WEBHOOK")]
    Webhook,
}

impl JobKind {
    /// The kinds a store schedule queues.
    pub const SCHEDULED: [Self; 6] = [
        Self::Orders,
        Self::Payouts,
        Self::TokenRefresh,
        Self::ReturnSla,
        Self::Products,
        Self::StockDrift,
    ];

    /// The stored name, e.g. `CATALOG_IMPORT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CatalogImport => "CATALOG_IMPORT",
            Self::Orders => "ORDERS",
            Self::Payouts => "PAYOUTS",
            Self::TokenRefresh => "TOKEN_REFRESH",
            Self::ReturnSla => "RETURN_SLA",
            Self::TestProbe => "TEST_PROBE",
            Self::Noop => "NOOP",
            Self::TestCalls => "TEST_CALLS",
            Self::OrderImport => "ORDER_IMPORT",
            Self::Products => "PRODUCTS",
            Self::StockPush => "STOCK_PUSH",
            Self::StockDrift => "STOCK_DRIFT",
            Self::Webhook => "WEBHOOK",
        }
    }

    /// Is it one of [`Self::SCHEDULED`]?
    pub fn is_scheduled(self) -> bool {
        Self::SCHEDULED.contains(&self)
    }

    /// Does a job of this kind keep a sync run sellers can watch? (A push's job does not: its
    /// inbox event is what sellers watch.)
    pub fn records_run(self) -> bool {
        !matches!(self, Self::Noop | Self::Webhook)
    }
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Catalog lifecycle of a product.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProductStatus {
    /// Being prepared.
    #[sea_orm(string_value = "DRAFT")]
    Draft,
    /// On sale.
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    /// Kept for history.
    #[sea_orm(string_value = "ARCHIVED")]
    Archived,
}

/// Lifecycle of a listing.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ListingStatus {
    /// Offered: its push quantity is sent to the store.
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    /// Not offered for now (pushes 0).
    #[sea_orm(string_value = "PAUSED")]
    Paused,
    /// Kept for history (pushes 0).
    #[sea_orm(string_value = "ARCHIVED")]
    Archived,
}

/// Whether a listing is tied to a variant of the catalog.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LinkStatus {
    /// Linked to one variant: its stock is pushed.
    #[sea_orm(string_value = "LINKED")]
    Linked,
    /// No variant has its seller SKU.
    #[sea_orm(string_value = "UNLINKED")]
    Unlinked,
    /// Several variants have its seller SKU (compared case-insensitively): the seller chooses.
    #[sea_orm(string_value = "AMBIGUOUS")]
    Ambiguous,
}

/// Lifecycle of a stock reservation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatus {
    /// Holding stock.
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    /// Given back before use.
    #[sea_orm(string_value = "RELEASED")]
    Released,
    /// Used: the stock left.
    #[sea_orm(string_value = "COMMITTED")]
    Committed,
    /// Lapsed at its expiry and given back.
    #[sea_orm(string_value = "EXPIRED")]
    Expired,
}

/// Lifecycle of a job (`jobs.status`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Waiting (or waiting to retry).
    #[sea_orm(string_value = "QUEUED")]
    Queued,
    /// A worker holds its lease.
    #[sea_orm(string_value = "RUNNING")]
    Running,
    /// Done.
    #[sea_orm(string_value = "SUCCEEDED")]
    Succeeded,
    /// No attempts left, or a permanent error.
    #[sea_orm(string_value = "DEAD")]
    Dead,
    /// Cancelled.
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

/// Lifecycle of a sync run as sellers see it (`sync_runs.status`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SyncRunStatus {
    /// Waiting to start.
    #[sea_orm(string_value = "QUEUED")]
    Queued,
    /// Running.
    #[sea_orm(string_value = "RUNNING")]
    Running,
    /// An attempt failed; another is due.
    #[sea_orm(string_value = "RETRYING")]
    Retrying,
    /// Done.
    #[sea_orm(string_value = "SUCCEEDED")]
    Succeeded,
    /// Nothing to do (said why in its message).
    #[sea_orm(string_value = "SKIPPED")]
    Skipped,
    /// No attempts left, or a permanent error.
    #[sea_orm(string_value = "DEAD")]
    Dead,
    /// Cancelled.
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

/// Where stock is kept (`locations.kind`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LocationKind {
    /// The seller's own warehouse.
    #[sea_orm(string_value = "WAREHOUSE")]
    Warehouse,
    /// A third-party logistics warehouse.
    #[sea_orm(string_value = "THIRD_PARTY")]
    ThirdParty,
    /// Stock held by a marketplace (read from it, never changed here).
    #[sea_orm(string_value = "MARKETPLACE")]
    Marketplace,
}

/// What a reservation is for (`reservations.reference_type`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationReference {
    /// An order line.
    #[sea_orm(string_value = "ORDER_LINE")]
    OrderLine,
    /// A cart.
    #[sea_orm(string_value = "CART")]
    Cart,
    /// A promotion.
    #[sea_orm(string_value = "PROMOTION")]
    Promotion,
}

/// Kinds of ledger movement (`stock_movements.kind`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MovementKind {
    /// Goods received.
    #[sea_orm(string_value = "RECEIVE")]
    Receive,
    /// Manual correction.
    #[sea_orm(string_value = "ADJUST")]
    Adjust,
    /// Physical count (sets on hand).
    #[sea_orm(string_value = "COUNT")]
    Count,
    /// Leaves this location in a transfer.
    #[sea_orm(string_value = "TRANSFER_OUT")]
    TransferOut,
    /// Arrives in a transfer.
    #[sea_orm(string_value = "TRANSFER_IN")]
    TransferIn,
    /// Reserved.
    #[sea_orm(string_value = "RESERVE")]
    Reserve,
    /// Reservation released.
    #[sea_orm(string_value = "RELEASE")]
    Release,
    /// Shipped (commits a reservation).
    #[sea_orm(string_value = "SHIP")]
    Ship,
    /// Returned by a buyer.
    #[sea_orm(string_value = "RETURN")]
    Return,
}

/// What caused a ledger movement (`stock_movements.document_type`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DocumentType {
    /// A catalog import row.
    #[sea_orm(string_value = "IMPORT_ROW")]
    ImportRow,
    /// An order line.
    #[sea_orm(string_value = "ORDER_LINE")]
    OrderLine,
    /// A stock count.
    #[sea_orm(string_value = "COUNT_SESSION")]
    CountSession,
    /// A transfer.
    #[sea_orm(string_value = "TRANSFER")]
    Transfer,
    /// A reservation.
    #[sea_orm(string_value = "RESERVATION")]
    Reservation,
    /// A person's or partner's manual change.
    #[sea_orm(string_value = "MANUAL")]
    Manual,
}

/// What a sync did to one entity (`sync_items.action`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SyncItemAction {
    /// Read from the marketplace.
    #[sea_orm(string_value = "FETCHED")]
    Fetched,
    /// Created here.
    #[sea_orm(string_value = "CREATED")]
    Created,
    /// Updated here.
    #[sea_orm(string_value = "UPDATED")]
    Updated,
    /// Nothing to change.
    #[sea_orm(string_value = "SKIPPED")]
    Skipped,
    /// Refused (its message says why).
    #[sea_orm(string_value = "FAILED")]
    Failed,
}

/// Severity of a sync log line (`sync_logs.level`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LogLevel {
    /// Information.
    #[sea_orm(string_value = "INFO")]
    Info,
    /// Something went wrong and was handled (a retry, a cancellation).
    #[sea_orm(string_value = "WARN")]
    Warn,
    /// An attempt failed.
    #[sea_orm(string_value = "ERROR")]
    Error,
}

/// Where a unit cost came from (`variant_costs.source`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CostSource {
    /// Entered by a person or partner.
    #[sea_orm(string_value = "MANUAL")]
    Manual,
    /// Learned from purchase and payout data.
    #[sea_orm(string_value = "LEARNED")]
    Learned,
}

/// Normalized order status (`orders.status`, `order_events.from_status/to_status`): the
/// connectors' mapping of every platform's statuses (README "Status mapping").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Not paid yet.
    #[sea_orm(string_value = "PENDING_PAYMENT")]
    PendingPayment,
    /// Held by the platform.
    #[sea_orm(string_value = "ON_HOLD")]
    OnHold,
    /// Paid; to be packed and shipped.
    #[sea_orm(string_value = "AWAITING_FULFILLMENT")]
    AwaitingFulfillment,
    /// Some packages shipped.
    #[sea_orm(string_value = "PARTIALLY_SHIPPED")]
    PartiallyShipped,
    /// Packed, waiting for pickup.
    #[sea_orm(string_value = "READY_TO_SHIP")]
    ReadyToShip,
    /// With the carrier.
    #[sea_orm(string_value = "SHIPPED")]
    Shipped,
    /// Delivered.
    #[sea_orm(string_value = "DELIVERED")]
    Delivered,
    /// Closed successfully.
    #[sea_orm(string_value = "COMPLETED")]
    Completed,
    /// The buyer asked to cancel.
    #[sea_orm(string_value = "CANCEL_REQUESTED")]
    CancelRequested,
    /// Cancelled.
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
    /// On its way back.
    #[sea_orm(string_value = "RETURNING")]
    Returning,
    /// Returned.
    #[sea_orm(string_value = "RETURNED")]
    Returned,
    /// Delivery failed, lost or damaged.
    #[sea_orm(string_value = "DELIVERY_FAILED")]
    DeliveryFailed,
    /// A status this version does not know (the raw one is kept).
    #[sea_orm(string_value = "UNKNOWN")]
    Unknown,
}

/// Where an order update came from (`order_events.source`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderEventSource {
    /// A sync pulled it.
    #[sea_orm(string_value = "PULL")]
    Pull,
    /// The marketplace pushed it.
    #[sea_orm(string_value = "PUSH")]
    Push,
    /// A user changed it.
    #[sea_orm(string_value = "USER")]
    User,
    /// A file import.
    #[sea_orm(string_value = "IMPORT")]
    Import,
}

/// Where an order line's stock stands (`order_items.stock`); each transition happens once.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LineStock {
    /// Nothing held (unpaid, unlinked, or fulfilled by the marketplace).
    #[sea_orm(string_value = "NONE")]
    None,
    /// An ORDER_LINE reservation holds it.
    #[sea_orm(string_value = "ALLOCATED")]
    Allocated,
    /// Paid, but not enough stock was available to hold it.
    #[sea_orm(string_value = "SHORT")]
    Short,
    /// Shipped: the reservation was committed.
    #[sea_orm(string_value = "SHIPPED")]
    Shipped,
    /// Cancelled before shipping: the reservation was released.
    #[sea_orm(string_value = "RELEASED")]
    Released,
    /// A received return put it back on hand.
    #[sea_orm(string_value = "RETURNED")]
    Returned,
}
