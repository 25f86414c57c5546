//! Reservations that never oversell: reserve, release, commit, and the expiry sweep.

use super::*;
use crate::auth::permissions::Perm;
use crate::domain::{Ctx, stmt};
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, LocationId, ReservationId, VariantId};
use chrono::{DateTime, Utc};
pub use entity::enums::ReservationStatus;
use sea_orm::ActiveEnum as _;
use sea_orm::{ConnectionTrait, FromQueryResult, TransactionTrait};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
    pub status: ReservationStatus,
    /// When it lapses.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Input of [`reserve`].
#[derive(Debug, Clone, Serialize)]
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
    /// A retry with the same key reserves once and returns the first reservation (not part of
    /// the request it names).
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

/// The operation name reservations are recorded under in `stock_requests`.
pub(super) const RESERVE_OPERATION: &str = "RESERVE";

/// The checks of a reservation's input that need no database; its cleaned reference.
pub(super) fn checked_reference(input: &Reserve) -> AppResult<String> {
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
    Ok(reference)
}

/// Reserves stock, or fails with INSUFFICIENT_STOCK having changed nothing. A bundle reserves
/// `quantity × component quantity` of every component in one transaction (components in id
/// order, so two bundles sharing components cannot deadlock).
pub async fn reserve(c: &Ctx<'_>, input: Reserve) -> AppResult<Reservation> {
    let key = input.idempotency_key.clone();
    idempotent(c, key.as_deref(), RESERVE_OPERATION, &input, async || {
        reserve_once(c, input.clone()).await
    })
    .await
}

/// [`reserve`] without the idempotency key.
async fn reserve_once(c: &Ctx<'_>, input: Reserve) -> AppResult<Reservation> {
    let reference = checked_reference(&input)?;
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
        status: ReservationStatus::Active,
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
    status: ReservationStatus,
    parent_id: Option<Uuid>,
    expires_at: Option<DateTime<Utc>>,
}

/// Ends an ACTIVE reservation: RELEASED/EXPIRED give the units back, COMMITTED ships them
/// (on hand and reserved both go down). Children of a bundle reservation end with it.
async fn finish(
    c: &Ctx<'_>,
    id: ReservationId,
    to: ReservationStatus,
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
    if head.status != ReservationStatus::Active {
        return Err(AppError::Conflict(format!(
            "the reservation is already {}",
            head.status.to_value()
        )));
    }
    let holders: Vec<&ResRow> = if rows.len() > 1 {
        rows[1..].iter().collect()
    } else {
        vec![head]
    };
    let (kind, on_hand_sign) = match to {
        ReservationStatus::Committed => (MovementKind::Ship, -1),
        _ => (MovementKind::Release, 0),
    };
    let cause = Cause {
        reason: format!("reservation {}", to.to_value().to_lowercase()),
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
        vec![id.uuid().into(), to.to_value().into()],
    ))
    .await?;
    Ok(Reservation {
        id,
        variant_id: VariantId(head.variant_id),
        location_id: LocationId(head.location_id),
        quantity: head.quantity,
        status: to,
        expires_at: head.expires_at,
    })
}

/// Gives a reservation's units back.
pub async fn release(c: &Ctx<'_>, id: ReservationId) -> AppResult<Reservation> {
    finish(c, id, ReservationStatus::Released, true).await
}

/// Ships a reservation's units (on hand and reserved both decrease).
pub async fn commit(c: &Ctx<'_>, id: ReservationId) -> AppResult<Reservation> {
    finish(c, id, ReservationStatus::Committed, true).await
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
        match finish(
            &inner,
            ReservationId(d.id),
            ReservationStatus::Expired,
            false,
        )
        .await
        {
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

/// A reservation (NOT_FOUND unless visible; needs inventory read).
pub async fn get(c: &Ctx<'_>, id: ReservationId) -> AppResult<Reservation> {
    c.access.org()?.require(Perm::InventoryRead)?;
    let r = ResRow::find_by_statement(stmt(
        "SELECT id, variant_id, location_id, branch_id, quantity, status, parent_id, expires_at \
         FROM reservations WHERE id = $1 AND parent_id IS NULL",
        vec![id.uuid().into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("Reservation"))?;
    Ok(Reservation {
        id,
        variant_id: VariantId(r.variant_id),
        location_id: LocationId(r.location_id),
        quantity: r.quantity,
        status: r.status,
        expires_at: r.expires_at,
    })
}
