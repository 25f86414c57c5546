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
use crate::ids::{BranchId, LocationId, MovementId, OrgId, ReservationId, VariantId};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, FromQueryResult, TransactionTrait};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Kinds of ledger movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MovementKind {
    /// Goods received.
    Receive,
    /// Manual correction.
    Adjust,
    /// Physical count (sets on hand).
    Count,
    /// Leaves this location in a transfer.
    TransferOut,
    /// Arrives in a transfer.
    TransferIn,
    /// Reserved for an order line, cart or promotion.
    Reserve,
    /// Reservation released.
    Release,
    /// Shipped (commits a reservation).
    Ship,
    /// Returned by a buyer.
    Return,
}

impl MovementKind {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Receive => "RECEIVE",
            Self::Adjust => "ADJUST",
            Self::Count => "COUNT",
            Self::TransferOut => "TRANSFER_OUT",
            Self::TransferIn => "TRANSFER_IN",
            Self::Reserve => "RESERVE",
            Self::Release => "RELEASE",
            Self::Ship => "SHIP",
            Self::Return => "RETURN",
        }
    }
}

/// A level after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, FromQueryResult)]
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
pub async fn location(c: &Ctx<'_>, id: LocationId) -> AppResult<(BranchId, String)> {
    #[derive(FromQueryResult)]
    struct L {
        branch_id: Uuid,
        kind: String,
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
    if kind == "MARKETPLACE" {
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
    let sql = "WITH upd AS ( \
         UPDATE inventory_levels SET on_hand = on_hand + $3, reserved = reserved + $4, updated_at = now() \
         WHERE variant_id = $1 AND location_id = $2 \
           AND on_hand + $3 >= 0 AND reserved + $4 >= 0 AND reserved + $4 <= on_hand + $3 \
           AND (NOT $5 OR on_hand + $3 - (reserved + $4) - safety_stock >= 0) \
         RETURNING org_id, variant_id, location_id, branch_id, on_hand, reserved, safety_stock, reorder_point), \
       mv AS ( \
         INSERT INTO stock_movements (org_id, id, variant_id, location_id, branch_id, kind, on_hand_delta, \
           reserved_delta, on_hand_after, reserved_after, actor_user_id, actor_api_token_id, reason, \
           document_type, document_id) \
         SELECT org_id, $6, variant_id, location_id, branch_id, $7, $3, $4, on_hand, reserved, $8, $9, $10, $11, $12 \
         FROM upd RETURNING id) \
       SELECT variant_id, location_id, branch_id, on_hand, reserved, safety_stock, reorder_point FROM upd";
    let level = Level::find_by_statement(stmt(
        sql,
        vec![
            variant_id.uuid().into(),
            location_id.uuid().into(),
            change.on_hand_delta.into(),
            change.reserved_delta.into(),
            change.keep_available.into(),
            MovementId::new_v7().uuid().into(),
            change.kind.as_str().into(),
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
        "SELECT variant_id, location_id, branch_id, on_hand, reserved, safety_stock, reorder_point \
         FROM inventory_levels WHERE variant_id = $1 AND location_id = $2",
        vec![variant_id.uuid().into(), location_id.uuid().into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("InventoryLevel"))
}

/// Opens one alert when available falls to the reorder point (not again while it stays open) and
/// closes it when stock recovers; both are published after commit.
pub(crate) async fn alerts_after(c: &Ctx<'_>, l: &Level) -> AppResult<()> {
    #[derive(FromQueryResult)]
    struct Changed {
        id: Uuid,
    }
    let Some(point) = l.reorder_point else {
        return Ok(());
    };
    let open = l.available() <= point;
    let changed = if open {
        Changed::find_by_statement(stmt(
            "INSERT INTO stock_alerts (org_id, id, variant_id, location_id, branch_id, available, reorder_point) \
             VALUES ((SELECT app_org_id()), $1, $2, $3, $4, $5, $6) \
             ON CONFLICT (org_id, variant_id, location_id) WHERE resolved_at IS NULL DO NOTHING RETURNING id",
            vec![
                Uuid::now_v7().into(),
                l.variant_id.into(),
                l.location_id.into(),
                l.branch_id.into(),
                l.available().into(),
                point.into(),
            ],
        ))
        .all(c.tx)
        .await?
    } else {
        Changed::find_by_statement(stmt(
            "UPDATE stock_alerts SET resolved_at = now() \
             WHERE variant_id = $1 AND location_id = $2 AND resolved_at IS NULL RETURNING id",
            vec![l.variant_id.into(), l.location_id.into()],
        ))
        .all(c.tx)
        .await?
    };
    // Published only after the transaction commits (see `crate::effects`). The expiry sweep acts
    // for the organization without a user, so read the organization directly.
    let org = c
        .access
        .org
        .as_ref()
        .ok_or_else(|| AppError::internal("stock changed without an organization"))?
        .org_id;
    for row in changed {
        let event = StockAlertEvent {
            org_id: org,
            branch_id: BranchId(l.branch_id),
            alert_id: row.id,
            variant_id: l.variant_id,
            location_id: l.location_id,
            available: l.available(),
            reorder_point: point,
            state: if open { "OPEN" } else { "RESOLVED" }.to_owned(),
            at: chrono::Utc::now(),
        };
        c.effects
            .publish(crate::keys::Topic::InventoryAlerts(org), &event);
    }
    Ok(())
}

/// A low-stock alert as published on the organization's `inventory-alerts` channel.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StockAlertEvent {
    /// Organization.
    pub org_id: OrgId,
    /// Branch of the location (subscribers only receive their visible branches').
    pub branch_id: BranchId,
    /// The alert row.
    pub alert_id: uuid::Uuid,
    /// Variant.
    pub variant_id: uuid::Uuid,
    /// Location.
    pub location_id: uuid::Uuid,
    /// Available quantity when it changed state.
    pub available: i64,
    /// The reorder point.
    pub reorder_point: i64,
    /// OPEN or RESOLVED.
    pub state: String,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Runs `f` once per idempotency key: a retry with the same key and payload returns the first
/// result; the same key with another payload is a CONFLICT. Concurrent duplicates wait on the
/// key's unique index until the first commits, then read its result.
async fn idempotent<T, P>(
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
    h.update(serde_json::to_vec(payload).map_err(AppError::internal)?);
    let hash = h.finalize().to_vec();
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
        let prior = Prior::find_by_statement(stmt(
            "SELECT operation, request_hash, response FROM stock_requests WHERE idempotency_key = $1",
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
        return serde_json::from_value(prior.response).map_err(AppError::internal);
    }
    let out = f().await?;
    c.tx.execute_raw(stmt(
        "UPDATE stock_requests SET response = $2 WHERE idempotency_key = $1",
        vec![
            key.into(),
            serde_json::to_value(&out)
                .map_err(AppError::internal)?
                .into(),
        ],
    ))
    .await?;
    Ok(out)
}

/// Input of [`adjust`].
#[derive(Debug, Clone, Serialize)]
pub struct AdjustStock {
    /// Variant.
    pub variant_id: VariantId,
    /// Location.
    pub location_id: LocationId,
    /// RECEIVE (delta > 0), ADJUST (any non-zero delta) or COUNT (`quantity` is the counted on hand).
    pub kind: MovementKind,
    /// Delta for RECEIVE/ADJUST; the counted quantity for COUNT.
    pub quantity: i64,
    /// Compare-and-set: refuse unless on hand is exactly this before the change.
    pub expected_on_hand: Option<i64>,
    /// Why.
    pub cause: Cause,
}

/// Receives, adjusts or counts stock, once per idempotency key.
pub async fn adjust(c: &Ctx<'_>, input: AdjustStock, key: Option<&str>) -> AppResult<Level> {
    let branch = writable_location(c, input.location_id).await?;
    if variant(c, input.variant_id).await? {
        return Err(AppError::invalid(
            "input.variantId",
            "a bundle has no stock of its own; change its components",
        ));
    }
    crate::domain::quantity(
        "input.quantity",
        input.quantity,
        -crate::domain::MAX_QUANTITY,
    )?;
    input.cause.check()?;
    match input.kind {
        MovementKind::Receive if input.quantity <= 0 => {
            return Err(AppError::invalid(
                "input.quantity",
                "a receipt must be above 0",
            ));
        }
        MovementKind::Adjust if input.quantity == 0 => {
            return Err(AppError::invalid(
                "input.quantity",
                "an adjustment must not be 0",
            ));
        }
        MovementKind::Count if input.quantity < 0 => {
            return Err(AppError::invalid(
                "input.quantity",
                "a count must be 0 or more",
            ));
        }
        MovementKind::Receive | MovementKind::Adjust | MovementKind::Count => {}
        _ => {
            return Err(AppError::invalid(
                "input.kind",
                "must be RECEIVE, ADJUST or COUNT",
            ));
        }
    }
    let op = input.kind.as_str();
    idempotent(c, key, op, &input, async || {
        ensure_level(c, input.variant_id, input.location_id, branch).await?;
        // Lock the row so the count delta and the compare-and-set see the value being changed.
        let current = Level::find_by_statement(stmt(
            "SELECT variant_id, location_id, branch_id, on_hand, reserved, safety_stock, reorder_point \
             FROM inventory_levels WHERE variant_id = $1 AND location_id = $2 FOR UPDATE",
            vec![input.variant_id.uuid().into(), input.location_id.uuid().into()],
        ))
        .one(c.tx)
        .await?
        .ok_or(AppError::NotFound("InventoryLevel"))?;
        if let Some(expected) = input.expected_on_hand
            && expected != current.on_hand
        {
            return Err(AppError::Conflict(format!(
                "on hand is {}, not the expected {expected}",
                current.on_hand
            )));
        }
        let delta = match input.kind {
            MovementKind::Count => input.quantity - current.on_hand,
            _ => input.quantity,
        };
        if current.on_hand + delta > crate::domain::MAX_QUANTITY {
            return Err(AppError::invalid(
                "input.quantity",
                format!(
                    "on hand would be {}, above the maximum of {}",
                    current.on_hand + delta,
                    crate::domain::MAX_QUANTITY
                ),
            ));
        }
        apply(
            c,
            input.variant_id,
            input.location_id,
            Change {
                kind: input.kind,
                on_hand_delta: delta,
                reserved_delta: 0,
                keep_available: false,
                cause: &input.cause,
            },
        )
        .await?
        .ok_or_else(|| {
            AppError::InsufficientStock(format!(
                "on hand {} with {} reserved cannot change by {delta}",
                current.on_hand, current.reserved
            ))
        })
    })
    .await
}

/// Input of [`transfer`].
#[derive(Debug, Clone, Serialize)]
pub struct TransferStock {
    /// Variant.
    pub variant_id: VariantId,
    /// From.
    pub from_location_id: LocationId,
    /// To.
    pub to_location_id: LocationId,
    /// Units (> 0).
    pub quantity: i64,
    /// Compare-and-set on the source's on hand.
    pub expected_on_hand: Option<i64>,
    /// Why.
    pub cause: Cause,
}

/// Moves free stock between locations (both sides or neither).
pub async fn transfer(
    c: &Ctx<'_>,
    input: TransferStock,
    key: Option<&str>,
) -> AppResult<(Level, Level)> {
    crate::domain::quantity("input.quantity", input.quantity, 1)?;
    input.cause.check()?;
    if input.from_location_id == input.to_location_id {
        return Err(AppError::invalid(
            "input.toLocationId",
            "must differ from the source",
        ));
    }
    let from_branch = writable_location(c, input.from_location_id).await?;
    let to_branch = writable_location(c, input.to_location_id).await?;
    if variant(c, input.variant_id).await? {
        return Err(AppError::invalid(
            "input.variantId",
            "a bundle has no stock of its own",
        ));
    }
    idempotent(c, key, "TRANSFER", &input, async || {
        if let Some(expected) = input.expected_on_hand {
            let l = level(c, input.variant_id, input.from_location_id).await?;
            if l.on_hand != expected {
                return Err(AppError::Conflict(format!(
                    "on hand is {}, not the expected {expected}",
                    l.on_hand
                )));
            }
        }
        ensure_level(c, input.variant_id, input.from_location_id, from_branch).await?;
        ensure_level(c, input.variant_id, input.to_location_id, to_branch).await?;
        let doc = Cause {
            document_type: Some("TRANSFER".into()),
            document_id: Some(Uuid::now_v7().to_string()),
            ..input.cause.clone()
        };
        let out = apply(
            c,
            input.variant_id,
            input.from_location_id,
            Change {
                kind: MovementKind::TransferOut,
                on_hand_delta: -input.quantity,
                reserved_delta: 0,
                keep_available: true,
                cause: &doc,
            },
        )
        .await?
        .ok_or_else(|| {
            AppError::InsufficientStock(format!(
                "fewer than {} units are available to transfer",
                input.quantity
            ))
        })?;
        let into = apply(
            c,
            input.variant_id,
            input.to_location_id,
            Change {
                kind: MovementKind::TransferIn,
                on_hand_delta: input.quantity,
                reserved_delta: 0,
                keep_available: false,
                cause: &doc,
            },
        )
        .await?
        .ok_or_else(|| AppError::internal("transfer destination refused an increase"))?;
        Ok((out, into))
    })
    .await
}

/// What a reservation holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// Id.
    pub id: ReservationId,
    /// Variant reserved (a bundle for bundle reservations).
    pub variant_id: VariantId,
    /// Location.
    pub location_id: LocationId,
    /// Units.
    pub quantity: i64,
    /// ACTIVE, RELEASED, COMMITTED, EXPIRED.
    pub status: String,
    /// When it lapses.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Input of [`reserve`].
#[derive(Debug, Clone)]
pub struct Reserve {
    /// Variant (a bundle reserves its components).
    pub variant_id: VariantId,
    /// Location.
    pub location_id: LocationId,
    /// Units (> 0).
    pub quantity: i64,
    /// ORDER_LINE, CART or PROMOTION.
    pub reference_type: String,
    /// The order line, cart or promotion id.
    pub reference_id: String,
    /// Lapses at this time (released by the sweep).
    pub expires_at: Option<DateTime<Utc>>,
}

/// Reserves stock, or fails with INSUFFICIENT_STOCK having changed nothing. A bundle reserves
/// `quantity × component quantity` of every component in one transaction (components in id
/// order, so two bundles sharing components cannot deadlock).
pub async fn reserve(c: &Ctx<'_>, input: Reserve) -> AppResult<Reservation> {
    if input.quantity <= 0 || input.quantity > 1_000_000 {
        return Err(AppError::invalid(
            "input.quantity",
            "must be between 1 and 1000000",
        ));
    }
    if !matches!(
        input.reference_type.as_str(),
        "ORDER_LINE" | "CART" | "PROMOTION"
    ) {
        return Err(AppError::invalid(
            "input.referenceType",
            "must be ORDER_LINE, CART or PROMOTION",
        ));
    }
    let reference = crate::domain::clean_text("input.referenceId", &input.reference_id, 200)?;
    if input.expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(AppError::invalid(
            "input.expiresAt",
            "must be in the future",
        ));
    }
    let branch = writable_location(c, input.location_id).await?;
    let is_bundle = variant(c, input.variant_id).await?;
    let id = ReservationId::new_v7();
    let parts: Vec<(VariantId, i64)> = if is_bundle {
        #[derive(FromQueryResult)]
        struct Part {
            component_id: Uuid,
            quantity: i32,
        }
        let parts = Part::find_by_statement(stmt(
            "SELECT component_id, quantity FROM bundle_components WHERE bundle_id = $1 ORDER BY component_id",
            vec![input.variant_id.uuid().into()],
        ))
        .all(c.tx)
        .await?;
        if parts.is_empty() {
            return Err(AppError::invalid(
                "input.variantId",
                "this bundle has no components",
            ));
        }
        parts
            .into_iter()
            .map(|p| {
                (
                    VariantId(p.component_id),
                    input.quantity * i64::from(p.quantity),
                )
            })
            .collect()
    } else {
        vec![(input.variant_id, input.quantity)]
    };
    let insert = "INSERT INTO reservations (org_id, id, variant_id, location_id, branch_id, quantity, \
                  reference_type, reference_id, parent_id, expires_at) \
                  VALUES ((SELECT app_org_id()), $1, $2, $3, $4, $5, $6, $7, $8, $9)";
    let row = |rid: Uuid, v: VariantId, q: i64, parent: Option<Uuid>| {
        stmt(
            insert,
            vec![
                rid.into(),
                v.uuid().into(),
                input.location_id.uuid().into(),
                branch.uuid().into(),
                q.into(),
                input.reference_type.clone().into(),
                reference.clone().into(),
                parent.into(),
                input.expires_at.into(),
            ],
        )
    };
    c.tx.execute_raw(row(id.uuid(), input.variant_id, input.quantity, None))
        .await?;
    let cause = Cause {
        reason: format!("{} {}", input.reference_type, reference),
        document_type: Some("RESERVATION".into()),
        document_id: Some(id.to_string()),
    };
    for (component, units) in &parts {
        let level = apply(
            c,
            *component,
            input.location_id,
            Change {
                kind: MovementKind::Reserve,
                on_hand_delta: 0,
                reserved_delta: *units,
                keep_available: true,
                cause: &cause,
            },
        )
        .await?;
        if level.is_none() {
            let available = level_or_zero(c, *component, input.location_id).await?;
            return Err(AppError::InsufficientStock(format!(
                "only {available} available of {units} requested{}",
                if is_bundle { " (bundle component)" } else { "" }
            )));
        }
        if is_bundle {
            c.tx.execute_raw(row(Uuid::now_v7(), *component, *units, Some(id.uuid())))
                .await?;
        }
    }
    if let Some(at) = input.expires_at {
        let org = c.access.org()?.org_id;
        c.effects
            .push(crate::effects::Effect::ReservationDue { org, at });
    }
    Ok(Reservation {
        id,
        variant_id: input.variant_id,
        location_id: input.location_id,
        quantity: input.quantity,
        status: "ACTIVE".into(),
        expires_at: input.expires_at,
    })
}

async fn level_or_zero(c: &Ctx<'_>, v: VariantId, l: LocationId) -> AppResult<i64> {
    match level(c, v, l).await {
        Ok(level) => Ok(level.available().max(0)),
        Err(AppError::NotFound(_)) => Ok(0),
        Err(e) => Err(e),
    }
}

#[derive(FromQueryResult)]
struct ResRow {
    variant_id: Uuid,
    location_id: Uuid,
    branch_id: Uuid,
    quantity: i64,
    status: String,
    parent_id: Option<Uuid>,
    expires_at: Option<DateTime<Utc>>,
}

/// Ends an ACTIVE reservation: RELEASED/EXPIRED give the units back, COMMITTED ships them
/// (on hand and reserved both go down). Children of a bundle reservation end with it.
async fn finish(
    c: &Ctx<'_>,
    id: ReservationId,
    to: &str,
    check_perm: bool,
) -> AppResult<Reservation> {
    let rows = ResRow::find_by_statement(stmt(
        "SELECT id, variant_id, location_id, branch_id, quantity, status, parent_id, expires_at \
         FROM reservations WHERE (id = $1 OR parent_id = $1) ORDER BY parent_id NULLS FIRST, variant_id FOR UPDATE",
        vec![id.uuid().into()],
    ))
    .all(c.tx)
    .await?;
    let Some(head) = rows.first().filter(|r| r.parent_id.is_none()) else {
        return Err(AppError::NotFound("Reservation"));
    };
    if check_perm {
        c.access
            .org()?
            .require(Perm::InventoryWrite(BranchId(head.branch_id)))?;
    }
    if head.status != "ACTIVE" {
        return Err(AppError::Conflict(format!(
            "the reservation is already {}",
            head.status
        )));
    }
    let holders: Vec<&ResRow> = if rows.len() > 1 {
        rows[1..].iter().collect()
    } else {
        vec![head]
    };
    let (kind, on_hand_sign) = match to {
        "COMMITTED" => (MovementKind::Ship, -1),
        _ => (MovementKind::Release, 0),
    };
    let cause = Cause {
        reason: format!("reservation {}", to.to_lowercase()),
        document_type: Some("RESERVATION".into()),
        document_id: Some(id.to_string()),
    };
    for h in holders {
        apply(
            c,
            VariantId(h.variant_id),
            LocationId(h.location_id),
            Change {
                kind,
                on_hand_delta: on_hand_sign * h.quantity,
                reserved_delta: -h.quantity,
                keep_available: false,
                cause: &cause,
            },
        )
        .await?
        .ok_or_else(|| AppError::internal("a reservation's units were not reserved"))?;
    }
    c.tx.execute_raw(stmt(
        "UPDATE reservations SET status = $2, updated_at = now() WHERE id = $1 OR parent_id = $1",
        vec![id.uuid().into(), to.into()],
    ))
    .await?;
    Ok(Reservation {
        id,
        variant_id: VariantId(head.variant_id),
        location_id: LocationId(head.location_id),
        quantity: head.quantity,
        status: to.to_owned(),
        expires_at: head.expires_at,
    })
}

/// Gives a reservation's units back.
pub async fn release(c: &Ctx<'_>, id: ReservationId) -> AppResult<Reservation> {
    finish(c, id, "RELEASED", true).await
}

/// Ships a reservation's units (on hand and reserved both decrease).
pub async fn commit(c: &Ctx<'_>, id: ReservationId) -> AppResult<Reservation> {
    finish(c, id, "COMMITTED", true).await
}

/// The earliest expiry among the organization's active reservations, if any.
pub async fn next_expiry(c: &Ctx<'_>) -> AppResult<Option<DateTime<Utc>>> {
    #[derive(FromQueryResult)]
    struct Next {
        at: Option<DateTime<Utc>>,
    }
    Ok(Next::find_by_statement(stmt(
        "SELECT min(expires_at) AS at FROM reservations WHERE status = 'ACTIVE' AND parent_id IS NULL",
        vec![],
    ))
    .one(c.tx)
    .await?
    .and_then(|n| n.at))
}

/// Releases every lapsed reservation of the organization in `c` (the periodic sweep); returns
/// how many ended.
pub async fn sweep_expired(c: &Ctx<'_>, limit: u64) -> AppResult<u64> {
    #[derive(FromQueryResult)]
    struct Due {
        id: Uuid,
    }
    let due = Due::find_by_statement(stmt(
        "SELECT id FROM reservations WHERE status = 'ACTIVE' AND parent_id IS NULL \
         AND expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        vec![i64::try_from(limit).unwrap_or(i64::MAX).into()],
    ))
    .all(c.tx)
    .await?;
    let mut n = 0;
    for d in due {
        let sp = c.tx.begin().await?;
        let inner = Ctx { tx: &sp, ..*c };
        match finish(&inner, ReservationId(d.id), "EXPIRED", false).await {
            Ok(_) => {
                sp.commit().await?;
                n += 1;
            }
            Err(AppError::Conflict(_)) => sp.rollback().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
