//! Adjustments, counts and transfers: ledger movements a person or partner makes directly.

use super::*;
use crate::domain::{Ctx, stmt};
use crate::error::{AppError, AppResult};
use crate::ids::{LocationId, VariantId};
use sea_orm::FromQueryResult;
use serde::Serialize;
use uuid::Uuid;

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
    let op = sea_orm::ActiveEnum::to_value(&input.kind);
    idempotent(c, key, &op, &input, async || {
        ensure_level(c, input.variant_id, input.location_id, branch).await?;
        // Lock the row so the count delta and the compare-and-set see the value being changed.
        let current = Level::find_by_statement(stmt(
            concat!(
                "SELECT ",
                level_columns!(),
                " FROM inventory_levels WHERE variant_id = $1 AND location_id = $2 FOR UPDATE"
            ),
            vec![
                input.variant_id.uuid().into(),
                input.location_id.uuid().into(),
            ],
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
