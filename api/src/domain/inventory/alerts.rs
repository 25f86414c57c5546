//! Low-stock alerts: opened when available falls to the reorder point, resolved when stock
//! recovers, published after commit.

use super::*;
use crate::domain::{Ctx, stmt};
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, OrgId};
use sea_orm::FromQueryResult;
use uuid::Uuid;

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
            state: if open {
                AlertState::Open
            } else {
                AlertState::Resolved
            },
            at: chrono::Utc::now(),
        };
        c.effects
            .publish(crate::keys::Topic::InventoryAlerts(org), &event);
    }
    Ok(())
}

/// Whether an alert opened or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlertState {
    /// Available fell to the reorder point.
    Open,
    /// Stock recovered.
    Resolved,
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
    /// Opened or resolved.
    pub state: AlertState,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// An alert that is open.
#[derive(Debug, Clone, FromQueryResult)]
pub struct OpenAlert {
    /// Alert.
    pub id: Uuid,
    /// Variant.
    pub variant_id: Uuid,
    /// Location.
    pub location_id: Uuid,
    /// Branch of the location.
    pub branch_id: Uuid,
    /// Available when it opened.
    pub available: i64,
    /// Reorder point when it opened.
    pub reorder_point: i64,
    /// Opened at.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Alerts open now (the first 1,000) in the branches the caller sees, or in `only` (NOT_FOUND
/// unless visible: row-level security decides, as in queries).
pub async fn open_alerts(c: &Ctx<'_>, only: Option<BranchId>) -> AppResult<Vec<OpenAlert>> {
    if let Some(b) = only {
        crate::domain::require_visible(c.tx, "branches", b.uuid(), "Branch").await?;
    }
    Ok(OpenAlert::find_by_statement(stmt(
        "SELECT id, variant_id, location_id, branch_id, available, reorder_point, created_at \
         FROM stock_alerts WHERE resolved_at IS NULL AND ($1::uuid IS NULL OR branch_id = $1) \
         ORDER BY created_at, id LIMIT 1000",
        vec![only.map(BranchId::uuid).into()],
    ))
    .all(c.tx)
    .await?)
}
