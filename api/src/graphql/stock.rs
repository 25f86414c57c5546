//! Stock in GraphQL: locations, levels (bundles derived from their components), the ledger,
//! idempotent adjustments, transfers and reservations.

use crate::domain::catalog;
use crate::domain::inventory::{
    self, AdjustStock, Cause, Level, MovementKind, Reserve, TransferStock,
};
use crate::error::AppError;
use crate::graphql::relay::{
    self, branch_id, field_id, location_gid, location_id, reservation_gid, reservation_id,
    variant_gid, variant_id,
};
use crate::graphql::user_errors::UserError;
use crate::graphql::{mutate, read, some};
use crate::ids::{LocationId, ReservationId, VariantId};
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

/// Where stock is kept.
#[derive(SimpleObject, Clone, Debug)]
pub struct Location {
    /// Global id.
    #[graphql(owned)]
    pub id: ID,
    /// Name.
    pub name: String,
    /// Own, third-party or marketplace-held.
    pub kind: LocationKind,
}

impl From<inventory::LocationRow> for Location {
    fn from(l: inventory::LocationRow) -> Self {
        Self {
            id: location_gid(LocationId(l.id)),
            name: l.name,
            kind: l.kind.into(),
        }
    }
}

/// Stock of one variant at one location.
#[derive(SimpleObject, Clone, Debug)]
pub struct StockLevel {
    /// Variant.
    pub variant_id: ID,
    /// Location.
    pub location_id: ID,
    /// Physically there.
    pub on_hand: i64,
    /// Promised to orders, carts, promotions.
    pub reserved: i64,
    /// Kept back from sale.
    pub safety_stock: i64,
    /// Alert at or below this.
    pub reorder_point: Option<i64>,
    /// on hand − reserved − safety stock.
    pub available: i64,
}

impl From<Level> for StockLevel {
    fn from(l: Level) -> Self {
        Self {
            available: l.available(),
            variant_id: variant_gid(VariantId(l.variant_id)),
            location_id: location_gid(LocationId(l.location_id)),
            on_hand: l.on_hand,
            reserved: l.reserved,
            safety_stock: l.safety_stock,
            reorder_point: l.reorder_point,
        }
    }
}

/// A reservation.
#[derive(SimpleObject, Clone, Debug)]
pub struct Reservation {
    /// Global id.
    #[graphql(owned)]
    pub id: ID,
    /// Variant (a bundle's reservation holds its components).
    pub variant_id: ID,
    /// Location.
    pub location_id: ID,
    /// Units.
    pub quantity: i64,
    /// Lifecycle.
    pub status: ReservationStatus,
    /// When it lapses.
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<inventory::Reservation> for Reservation {
    fn from(r: inventory::Reservation) -> Self {
        Self {
            id: reservation_gid(r.id),
            variant_id: variant_gid(r.variant_id),
            location_id: location_gid(r.location_id),
            quantity: r.quantity,
            status: r.status.into(),
            expires_at: r.expires_at,
        }
    }
}

/// Where stock is kept.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::LocationKind")]
pub enum LocationKind {
    /// The seller's own warehouse.
    Warehouse,
    /// A third-party logistics warehouse.
    ThirdParty,
    /// Held by a marketplace (read from it, never changed here).
    Marketplace,
}

/// Kinds of ledger movement.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::MovementKind")]
pub enum StockMovementKind {
    /// Goods received.
    Receive,
    /// Manual correction.
    Adjust,
    /// Physical count (sets on hand).
    Count,
    /// Left this location in a transfer.
    TransferOut,
    /// Arrived in a transfer.
    TransferIn,
    /// Reserved.
    Reserve,
    /// Reservation released.
    Release,
    /// Shipped (a reservation committed).
    Ship,
    /// Returned by a buyer.
    Return,
}

/// What caused a ledger movement.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::DocumentType")]
pub enum StockDocumentType {
    /// A catalog import row.
    ImportRow,
    /// An order line.
    OrderLine,
    /// A stock count.
    CountSession,
    /// A transfer.
    Transfer,
    /// A reservation.
    Reservation,
    /// A person's or partner's manual change.
    Manual,
}

/// One ledger row.
#[derive(SimpleObject, Clone, Debug)]
pub struct StockMovement {
    /// Kind.
    pub kind: StockMovementKind,
    /// Change of on hand.
    pub on_hand_delta: i64,
    /// Change of reserved.
    pub reserved_delta: i64,
    /// On hand after.
    pub on_hand_after: i64,
    /// Reserved after.
    pub reserved_after: i64,
    /// Why.
    pub reason: String,
    /// Document type.
    pub document_type: Option<StockDocumentType>,
    /// Document id.
    pub document_id: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<inventory::MovementRow> for StockMovement {
    fn from(m: inventory::MovementRow) -> Self {
        Self {
            kind: m.kind.into(),
            on_hand_delta: m.on_hand_delta,
            reserved_delta: m.reserved_delta,
            on_hand_after: m.on_hand_after,
            reserved_after: m.reserved_after,
            reason: m.reason,
            document_type: m.document_type.map(Into::into),
            document_id: m.document_id,
            created_at: m.created_at,
        }
    }
}

/// Lifecycle of a reservation.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::ReservationStatus")]
pub enum ReservationStatus {
    /// Holding stock.
    Active,
    /// Given back before use.
    Released,
    /// Used: the stock left.
    Committed,
    /// Lapsed at its expiry and given back.
    Expired,
}

/// Kinds of stock change a person or partner makes directly.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum StockChangeKind {
    /// Goods received (quantity > 0).
    Receive,
    /// Correction (quantity ≠ 0, signed).
    Adjust,
    /// Physical count (quantity = counted on hand).
    Count,
}

/// What a reservation is for.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ReservationReference {
    /// An order line.
    OrderLine,
    /// A cart.
    Cart,
    /// A promotion.
    Promotion,
}

/// Input of `createLocation`.
#[derive(InputObject)]
pub struct CreateLocationInput {
    /// Branch.
    pub branch_id: ID,
    /// Name.
    pub name: String,
    /// WAREHOUSE or THIRD_PARTY (marketplace-held locations come from store sync).
    pub kind: LocationKind,
}

/// Input of `setStockThresholds`.
#[derive(InputObject)]
pub struct SetStockThresholdsInput {
    /// Variant.
    pub variant_id: ID,
    /// Location.
    pub location_id: ID,
    /// Kept back from sale.
    #[graphql(default)]
    pub safety_stock: i64,
    /// Alert at or below this available quantity.
    pub reorder_point: Option<i64>,
}

/// Input of `adjustStock`.
#[derive(InputObject)]
pub struct AdjustStockInput {
    /// Variant.
    pub variant_id: ID,
    /// Location.
    pub location_id: ID,
    /// RECEIVE, ADJUST or COUNT.
    pub kind: StockChangeKind,
    /// Delta (RECEIVE, ADJUST) or counted on hand (COUNT).
    pub quantity: i64,
    /// Refuse unless on hand is exactly this now.
    pub expected_on_hand: Option<i64>,
    /// Why.
    #[graphql(default)]
    pub reason: String,
    /// A retry with the same key has one effect and returns the first result.
    pub idempotency_key: Option<String>,
}

/// Input of `transferStock`.
#[derive(InputObject)]
pub struct TransferStockInput {
    /// Variant.
    pub variant_id: ID,
    /// From.
    pub from_location_id: ID,
    /// To.
    pub to_location_id: ID,
    /// Units.
    pub quantity: i64,
    /// Refuse unless the source's on hand is exactly this now.
    pub expected_on_hand: Option<i64>,
    /// Why.
    #[graphql(default)]
    pub reason: String,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
}

/// Input of `reserveStock`.
#[derive(InputObject)]
pub struct ReserveStockInput {
    /// Variant (a bundle reserves its components).
    pub variant_id: ID,
    /// Location.
    pub location_id: ID,
    /// Units.
    pub quantity: i64,
    /// What it is for.
    pub reference_type: ReservationReference,
    /// The order line, cart or promotion id.
    pub reference_id: String,
    /// Lapses at this time.
    pub expires_at: Option<DateTime<Utc>>,
    /// A retry with the same key reserves once and returns the first reservation; the same key
    /// with a different request is a CONFLICT.
    pub idempotency_key: Option<String>,
}

/// Result of `createLocation`.
#[derive(SimpleObject)]
pub struct LocationPayload {
    /// The location.
    pub location: Option<Location>,
    /// Expected failures.
    pub user_errors: Vec<UserError>,
}

/// Result of stock changes.
#[derive(SimpleObject)]
pub struct StockLevelPayload {
    /// The level after the change.
    pub stock_level: Option<StockLevel>,
    /// Expected failures (INSUFFICIENT_STOCK, CONFLICT, …).
    pub user_errors: Vec<UserError>,
}

/// Result of `transferStock`.
#[derive(SimpleObject)]
pub struct TransferPayload {
    /// The source after the transfer.
    pub from: Option<StockLevel>,
    /// The destination after the transfer.
    pub to: Option<StockLevel>,
    /// Expected failures.
    pub user_errors: Vec<UserError>,
}

/// Result of reservation changes.
#[derive(SimpleObject)]
pub struct ReservationPayload {
    /// The reservation.
    pub reservation: Option<Reservation>,
    /// Expected failures (INSUFFICIENT_STOCK, …).
    pub user_errors: Vec<UserError>,
}

/// Input of `releaseReservation` and `commitReservation`.
#[derive(InputObject)]
pub struct ReservationInput {
    /// The reservation.
    pub id: ID,
}

/// Stock queries.
#[derive(Default)]
pub struct StockQuery;

#[Object]
impl StockQuery {
    /// Stock of a variant at a location (bundles: derived from their components).
    async fn stock_level(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The variant (global id).")] variant_id: ID,
        #[graphql(desc = "The location (global id).")] location_id: ID,
    ) -> Result<StockLevel> {
        read(ctx, async |c| {
            let v = field_id("variantId", relay::variant_id(&variant_id))?;
            let l = field_id("locationId", relay::location_id(&location_id))?;
            Ok(inventory::stock_at(&c, v, l).await?.into())
        })
        .await
    }

    /// How a stock level came to be: its ledger rows, oldest first.
    #[allow(clippy::too_many_arguments)]
    async fn stock_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The variant (global id).")] variant_id: ID,
        #[graphql(desc = "The location (global id).")] location_id: ID,
        #[graphql(desc = "At most this many ledger rows from the oldest (0 to 100, default 20).")]
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
    ) -> Result<relay::Conn<StockMovement>> {
        let args = relay::page_args(after, before, first, last)?;
        let page = read(ctx, async |c| {
            let v = field_id("variantId", relay::variant_id(&variant_id))?;
            let l = field_id("locationId", relay::location_id(&location_id))?;
            inventory::history(&c, v, l, args).await
        })
        .await?;
        Ok(relay::connection(page, |m| m.id, StockMovement::from))
    }
}

/// Stock mutations.
#[derive(Default)]
pub struct StockMutation;

#[Object]
impl StockMutation {
    /// Creates a stock location in a branch.
    async fn create_location(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: CreateLocationInput,
    ) -> Result<Option<LocationPayload>> {
        some(async {
            let (location, user_errors) = mutate(ctx, async |c| {
                let branch =
                    branch_id(&input.branch_id).map_err(|_| AppError::NotFound("Branch"))?;
                let id =
                    catalog::create_location(&c, branch, &input.name, input.kind.into()).await?;
                Ok(Location {
                    id: location_gid(id),
                    name: input.name.trim().to_owned(),
                    kind: input.kind,
                })
            })
            .await?;
            Ok(LocationPayload {
                location,
                user_errors,
            })
        })
        .await
    }

    /// Sets a level's safety stock and reorder point.
    async fn set_stock_thresholds(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: SetStockThresholdsInput,
    ) -> Result<Option<StockLevelPayload>> {
        some(async {
            let (stock_level, user_errors) = mutate(ctx, async |c| {
                let v = variant_id(&input.variant_id)?;
                let l = location_id(&input.location_id)?;
                catalog::set_thresholds(&c, v, l, input.safety_stock, input.reorder_point).await?;
                Ok(inventory::level(&c, v, l).await?.into())
            })
            .await?;
            Ok(StockLevelPayload {
                stock_level,
                user_errors,
            })
        })
        .await
    }

    /// Receives, adjusts or counts stock. With an idempotency key, a retry has one effect and
    /// returns the first result; the key with another payload is a CONFLICT.
    async fn adjust_stock(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: AdjustStockInput,
    ) -> Result<Option<StockLevelPayload>> {
        some(async {
            let (stock_level, user_errors) = mutate(ctx, async |c| {
                let adjust = AdjustStock {
                    variant_id: variant_id(&input.variant_id)?,
                    location_id: location_id(&input.location_id)?,
                    kind: match input.kind {
                        StockChangeKind::Receive => MovementKind::Receive,
                        StockChangeKind::Adjust => MovementKind::Adjust,
                        StockChangeKind::Count => MovementKind::Count,
                    },
                    quantity: input.quantity,
                    expected_on_hand: input.expected_on_hand,
                    cause: Cause {
                        reason: input.reason.trim().to_owned(),
                        document_type: Some(
                            if input.kind == StockChangeKind::Count {
                                "COUNT_SESSION"
                            } else {
                                "MANUAL"
                            }
                            .into(),
                        ),
                        document_id: input.idempotency_key.clone(),
                    },
                };
                Ok(
                    inventory::adjust(&c, adjust, input.idempotency_key.as_deref())
                        .await?
                        .into(),
                )
            })
            .await?;
            Ok(StockLevelPayload {
                stock_level,
                user_errors,
            })
        })
        .await
    }

    /// Moves free stock between two locations (both sides or neither).
    async fn transfer_stock(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: TransferStockInput,
    ) -> Result<Option<TransferPayload>> {
        some(async {
            let (moved, user_errors) = mutate(ctx, async |c| {
                let t = TransferStock {
                    variant_id: variant_id(&input.variant_id)?,
                    from_location_id: location_id(&input.from_location_id)?,
                    to_location_id: location_id(&input.to_location_id)?,
                    quantity: input.quantity,
                    expected_on_hand: input.expected_on_hand,
                    cause: Cause {
                        reason: input.reason.trim().to_owned(),
                        ..Cause::default()
                    },
                };
                inventory::transfer(&c, t, input.idempotency_key.as_deref()).await
            })
            .await?;
            let (from, to) = moved.map_or((None, None), |(a, b)| (Some(a.into()), Some(b.into())));
            Ok(TransferPayload {
                from,
                to,
                user_errors,
            })
        })
        .await
    }

    /// Reserves stock for an order line, a cart or a promotion; fails with INSUFFICIENT_STOCK
    /// having changed nothing when there is not enough.
    async fn reserve_stock(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: ReserveStockInput,
    ) -> Result<Option<ReservationPayload>> {
        some(async {
            let r = Reserve {
                variant_id: variant_id(&input.variant_id)?,
                location_id: location_id(&input.location_id)?,
                quantity: input.quantity,
                reference_type: match input.reference_type {
                    ReservationReference::OrderLine => "ORDER_LINE",
                    ReservationReference::Cart => "CART",
                    ReservationReference::Promotion => "PROMOTION",
                }
                .into(),
                reference_id: input.reference_id,
                expires_at: input.expires_at,
                idempotency_key: input.idempotency_key,
            };
            // Group commit when nothing of this operation is uncommitted (an earlier field of the
            // same mutation may hold the level's lock in the operation's own transaction).
            let rc = super::rc(ctx)?;
            if let Some(principal) = rc.tenant.principal()
                && rc.tenant.is_idle().await
            {
                rc.tenant.note_outside_write();
                match rc.state.reservations.reserve(principal, r.clone()).await {
                    inventory::Grouped::Done(result, effects) => {
                        crate::after_commit::run(&rc.state, effects).await;
                        let (reservation, user_errors) =
                            super::user_errors::split(result.map(Into::into))?;
                        return Ok(ReservationPayload {
                            reservation,
                            user_errors,
                        });
                    }
                    inventory::Grouped::Alone => {}
                }
            }
            let (reservation, user_errors) =
                mutate(ctx, async |c| Ok(inventory::reserve(&c, r).await?.into())).await?;
            Ok(ReservationPayload {
                reservation,
                user_errors,
            })
        })
        .await
    }

    /// Gives a reservation's units back.
    async fn release_reservation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: ReservationInput,
    ) -> Result<Option<ReservationPayload>> {
        some(async {
            let (reservation, user_errors) = mutate(ctx, async |c| {
                let rid: ReservationId = field_id("input.id", reservation_id(&input.id))?;
                Ok(inventory::release(&c, rid).await?.into())
            })
            .await?;
            Ok(ReservationPayload {
                reservation,
                user_errors,
            })
        })
        .await
    }

    /// Ships a reservation: on hand and reserved both go down.
    async fn commit_reservation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: ReservationInput,
    ) -> Result<Option<ReservationPayload>> {
        some(async {
            let (reservation, user_errors) = mutate(ctx, async |c| {
                let rid: ReservationId = field_id("input.id", reservation_id(&input.id))?;
                Ok(inventory::commit(&c, rid).await?.into())
            })
            .await?;
            Ok(ReservationPayload {
                reservation,
                user_errors,
            })
        })
        .await
    }
}
