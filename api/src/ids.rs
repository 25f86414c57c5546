//! Typed identifiers: an `OrgId` can never be passed where a `StoreId` is expected.

use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta] $name:ident => $type_name:literal),* $(,)?) => {$(
        #[$doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// The GraphQL type name this id belongs to.
            pub const TYPE_NAME: &'static str = $type_name;

            /// A new time-ordered (v7) id.
            pub fn new_v7() -> Self {
                Self(Uuid::now_v7())
            }

            /// The raw UUID.
            pub fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

typed_id! {
    /// Organization (tenant) id.
    OrgId => "Organization",
    /// User id.
    UserId => "User",
    /// Branch id.
    BranchId => "Branch",
    /// Store id.
    StoreId => "Store",
    /// Background job id.
    JobId => "Job",
    /// Sync run id.
    SyncRunId => "SyncRun",
    /// Sync schedule id.
    SyncScheduleId => "SyncSchedule",
    /// Audit event id.
    AuditEventId => "AuditEvent",
    /// Partner API token id.
    ApiTokenId => "ApiToken",
    /// Refresh token row id.
    RefreshTokenId => "RefreshToken",
    /// Product id.
    ProductId => "Product",
    /// Variant (SKU) id.
    VariantId => "Variant",
    /// Stock location id.
    LocationId => "Location",
    /// Reservation id.
    ReservationId => "Reservation",
    /// Stock movement id.
    MovementId => "StockMovement",
    /// Listing id.
    ListingId => "Listing",
    /// Order id.
    OrderId => "Order",
}
