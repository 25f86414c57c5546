//! Stock: locations, levels, the append-only ledger, idempotent adjustments and reservations that
//! never oversell.
//!
//! Every change of a level is one SQL statement that updates the level **only if the result is
//! allowed** (on hand ≥ 0, 0 ≤ reserved ≤ on hand, and for reservations available ≥ 0) and writes
//! its ledger row from the updated values, so concurrent writers serialize on the level's row
//! lock and re-check the condition after waiting (READ COMMITTED re-evaluates the `WHERE` on the
//! new row version). There is no read-then-write window to lose an update in, and the table's
//! `CHECK (reserved <= on_hand)` backs it up.

use crate::auth::permissions::Perm;
use crate::domain::{Ctx, stmt};
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, LocationId, MovementId, VariantId};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, FromQueryResult};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

mod alerts;
mod group;
mod idempotency;
mod movements;
mod order_lines;
mod reservations;

pub(crate) use alerts::alerts_after;
pub use alerts::{
    AlertKind, AlertState, OpenAlert, StockAlertEvent, UnlinkedAlert, alert, open_alerts,
};
pub(crate) use alerts::{linked_skus, unlinked_opened};
pub use group::{Grouped, ReservationGroups, reserve_group};
use idempotency::idempotent;
pub use movements::{AdjustStock, TransferStock, adjust, transfer};
pub use order_lines::{locations_for, restock_return};
pub use reservations::{
    Reservation, ReservationStatus, Reserve, commit, get as reservation, next_expiry, release,
    reserve, sweep_expired,
};

pub use entity::enums::{DocumentType, LocationKind, MovementKind};

/// Columns of `inventory_levels` as [`Level`] reads them. A macro so that constant SQL can
/// `concat!` it; defined here once.
macro_rules! level_columns {
    () => {
        "variant_id, location_id, branch_id, on_hand, reserved, safety_stock, reorder_point"
    };
}
pub(crate) use level_columns;

crate::domain::rows::by_position! {
/// A level after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    /// Variant.
    pub variant_id: Uuid,
    /// Location.
    pub location_id: Uuid,
    /// Branch of the location.
    pub branch_id: Uuid,
    /// Physically on hand.
    pub on_hand: i64,
    /// Reserved.
    pub reserved: i64,
    /// Kept back from sale.
    pub safety_stock: i64,
    /// Alert at or below this available quantity.
    pub reorder_point: Option<i64>,
}
}

impl Level {
    /// on hand − reserved − safety stock (may be negative when safety stock is raised).
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved - self.safety_stock
    }
}

/// What the ledger row says caused a movement.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cause {
    /// Free text.
    pub reason: String,
    /// `IMPORT_ROW`, `ORDER_LINE`, `COUNT_SESSION`, `TRANSFER`, `RESERVATION`, `MANUAL`.
    pub document_type: Option<String>,
    /// The document's id.
    pub document_id: Option<String>,
}

impl Cause {
    /// The ledger's limits on a caller's cause: reason ≤ 500 and document id ≤ 200 characters.
    pub fn check(&self) -> AppResult<()> {
        crate::domain::free_text("input.reason", &self.reason, 500)?;
        if let Some(id) = &self.document_id {
            crate::domain::free_text("input.documentId", id, 200)?;
        }
        Ok(())
    }
}

struct Change<'a> {
    kind: MovementKind,
    on_hand_delta: i64,
    reserved_delta: i64,
    /// Refuse when available would drop below 0 (reservations, decreases of free stock).
    keep_available: bool,
    cause: &'a Cause,
}

pub(crate) fn actor(c: &Ctx<'_>) -> (Option<Uuid>, Option<Uuid>) {
    match c.access.org.as_ref().and_then(|o| o.token.as_ref()) {
        Some(t) => (None, Some(t.id.uuid())),
        None => (c.access.user_id.map(|u| u.uuid()), None),
    }
}

/// A location's branch and kind; NOT_FOUND when it is not visible.
pub async fn location(c: &Ctx<'_>, id: LocationId) -> AppResult<(BranchId, LocationKind)> {
    #[derive(FromQueryResult)]
    struct L {
        branch_id: Uuid,
        kind: LocationKind,
    }
    let l = L::find_by_statement(stmt(
        "SELECT branch_id, kind FROM locations WHERE id = $1",
        vec![id.uuid().into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("Location"))?;
    Ok((BranchId(l.branch_id), l.kind))
}

/// A stock location.
#[derive(Debug, Clone, FromQueryResult)]
pub struct LocationRow {
    /// Id.
    pub id: Uuid,
    /// Branch.
    pub branch_id: Uuid,
    /// Name.
    pub name: String,
    /// Own, third-party or marketplace-held.
    pub kind: LocationKind,
}

/// A location (NOT_FOUND unless visible; needs inventory read).
pub async fn location_row(c: &Ctx<'_>, id: LocationId) -> AppResult<LocationRow> {
    c.access.org()?.require(Perm::InventoryRead)?;
    LocationRow::find_by_statement(stmt(
        "SELECT id, branch_id, name, kind FROM locations WHERE id = $1",
        vec![id.uuid().into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("Location"))
}

/// Whether a variant is visible (and a bundle).
pub async fn variant(c: &Ctx<'_>, id: VariantId) -> AppResult<bool> {
    #[derive(FromQueryResult)]
    struct V {
        is_bundle: bool,
    }
    Ok(V::find_by_statement(stmt(
        "SELECT is_bundle FROM variants WHERE id = $1",
        vec![id.uuid().into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("Variant"))?
    .is_bundle)
}

/// Checks the caller may change stock at `location` (and that it is not marketplace-held).
pub(crate) async fn writable_location(c: &Ctx<'_>, location_id: LocationId) -> AppResult<BranchId> {
    let (branch, kind) = location(c, location_id).await?;
    c.access.org()?.require(Perm::InventoryWrite(branch))?;
    if kind == LocationKind::Marketplace {
        return Err(AppError::invalid(
            "input.locationId",
            "stock held by a marketplace is read from the marketplace and cannot be changed here",
        ));
    }
    Ok(branch)
}

/// Creates the level row if missing.
async fn ensure_level(
    c: &Ctx<'_>,
    variant_id: VariantId,
    location_id: LocationId,
    branch: BranchId,
) -> AppResult<()> {
    c.tx.execute_raw(stmt(
        "INSERT INTO inventory_levels (org_id, variant_id, location_id, branch_id) \
         VALUES ((SELECT app_org_id()), $1, $2, $3) ON CONFLICT DO NOTHING",
        vec![
            variant_id.uuid().into(),
            location_id.uuid().into(),
            branch.uuid().into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Applies one change atomically and writes its ledger row; `None` when the change is not allowed.
async fn apply(
    c: &Ctx<'_>,
    variant_id: VariantId,
    location_id: LocationId,
    change: Change<'_>,
) -> AppResult<Option<Level>> {
    let (user, token) = actor(c);
    let sql = concat!(
        "WITH upd AS ( \
         UPDATE inventory_levels SET on_hand = on_hand + $3, reserved = reserved + $4, updated_at = now() \
         WHERE variant_id = $1 AND location_id = $2 \
           AND on_hand + $3 >= 0 AND reserved + $4 >= 0 AND reserved + $4 <= on_hand + $3 \
           AND (NOT $5 OR on_hand + $3 - (reserved + $4) - safety_stock >= 0) \
         RETURNING org_id, ",
        level_columns!(),
        "), \
       mv AS ( \
         INSERT INTO stock_movements (org_id, id, variant_id, location_id, branch_id, kind, on_hand_delta, \
           reserved_delta, on_hand_after, reserved_after, actor_user_id, actor_api_token_id, reason, \
           document_type, document_id) \
         SELECT org_id, $6, variant_id, location_id, branch_id, $7, $3, $4, on_hand, reserved, $8, $9, $10, $11, $12 \
         FROM upd RETURNING id) \
       SELECT ",
        level_columns!(),
        " FROM upd"
    );
    let level = Level::find_by_statement(stmt(
        sql,
        vec![
            variant_id.uuid().into(),
            location_id.uuid().into(),
            change.on_hand_delta.into(),
            change.reserved_delta.into(),
            change.keep_available.into(),
            MovementId::new_v7().uuid().into(),
            change.kind.into(),
            user.into(),
            token.into(),
            change.cause.reason.clone().into(),
            change.cause.document_type.clone().into(),
            change.cause.document_id.clone().into(),
        ],
    ))
    .one(c.tx)
    .await?;
    if let Some(l) = &level {
        alerts_after(c, l).await?;
    }
    Ok(level)
}

/// The level now (NOT_FOUND when there is none).
pub async fn level(
    c: &Ctx<'_>,
    variant_id: VariantId,
    location_id: LocationId,
) -> AppResult<Level> {
    Level::find_by_statement(stmt(
        concat!(
            "SELECT ",
            level_columns!(),
            " FROM inventory_levels WHERE variant_id = $1 AND location_id = $2"
        ),
        vec![variant_id.uuid().into(), location_id.uuid().into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("InventoryLevel"))
}

/// Stock of a variant at a location as the caller sees it: the level (zero when none was ever
/// recorded), or for a bundle its derived availability — the least over its components of their
/// available ÷ quantity per bundle. NOT_FOUND unless both are visible.
pub async fn stock_at(c: &Ctx<'_>, v: VariantId, l: LocationId) -> AppResult<Level> {
    c.access.org()?.require(Perm::InventoryRead)?;
    let zero = |branch: BranchId, on_hand: i64| Level {
        variant_id: v.uuid(),
        location_id: l.uuid(),
        branch_id: branch.uuid(),
        on_hand,
        reserved: 0,
        safety_stock: 0,
        reorder_point: None,
    };
    if variant(c, v).await? {
        #[derive(FromQueryResult)]
        struct A {
            available: Option<i64>,
        }
        let a = A::find_by_statement(stmt(
            "SELECT min(COALESCE(GREATEST(il.on_hand - il.reserved - il.safety_stock, 0), 0) / bc.quantity)::bigint AS available \
             FROM bundle_components bc LEFT JOIN inventory_levels il \
               ON il.org_id = bc.org_id AND il.variant_id = bc.component_id AND il.location_id = $2 \
             WHERE bc.bundle_id = $1",
            vec![v.uuid().into(), l.uuid().into()],
        ))
        .one(c.tx)
        .await?;
        let (branch, _) = location(c, l).await?;
        return Ok(zero(branch, a.and_then(|a| a.available).unwrap_or(0)));
    }
    match level(c, v, l).await {
        Err(AppError::NotFound(_)) => Ok(zero(location(c, l).await?.0, 0)),
        other => other,
    }
}

/// One ledger row.
#[derive(Debug, Clone, FromQueryResult)]
pub struct MovementRow {
    /// Id (UUID v7: ledger order).
    pub id: Uuid,
    /// Kind.
    pub kind: MovementKind,
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
    pub document_type: Option<DocumentType>,
    /// Document id.
    pub document_id: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// How a level came to be: a page of its ledger rows, oldest first (NOT_FOUND when there is no
/// visible level).
pub async fn history(
    c: &Ctx<'_>,
    v: VariantId,
    l: LocationId,
    args: crate::domain::page::PageArgs,
) -> AppResult<crate::domain::page::Page<MovementRow>> {
    c.access.org()?.require(Perm::InventoryRead)?;
    level(c, v, l).await?;
    crate::domain::page::fetch_sql(
        c.tx,
        "SELECT id, kind, on_hand_delta, reserved_delta, on_hand_after, reserved_after, reason, \
         document_type, document_id, created_at FROM stock_movements \
         WHERE variant_id = $1 AND location_id = $2",
        vec![v.uuid().into(), l.uuid().into()],
        args,
        false,
    )
    .await
}
