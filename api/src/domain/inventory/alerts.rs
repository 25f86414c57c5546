//! Inventory alerts, published after commit: low stock (opened when available falls to the
//! reorder point, resolved when stock recovers) and unlinked SKUs (opened when an order line sells
//! a seller SKU no variant has, so its stock is not held; resolved when a variant with that SKU
//! appears).

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
            kind: AlertKind::LowStock,
            variant_id: Some(l.variant_id),
            location_id: Some(l.location_id),
            seller_sku: None,
            available: Some(l.available()),
            reorder_point: Some(point),
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

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlertKind {
    /// Available fell to a level's reorder point.
    #[default]
    LowStock,
    /// Order lines sell a seller SKU no variant has: their stock is not held.
    UnlinkedSku,
}

/// An UNLINKED_SKU alert just opened (order lines of a branch sell a seller SKU no variant has;
/// the orders domain opens them with the lines, in one statement).
#[derive(Debug, FromQueryResult)]
pub struct UnlinkedAlert {
    /// Alert.
    pub id: Uuid,
    /// The SKU.
    pub seller_sku: String,
}

/// Publishes the UNLINKED_SKU alerts `opened` in `branch`, after commit.
pub(crate) fn unlinked_opened(
    c: &Ctx<'_>,
    branch: BranchId,
    opened: Vec<UnlinkedAlert>,
) -> AppResult<()> {
    if opened.is_empty() {
        return Ok(());
    }
    let org = c.access.org()?.org_id;
    for a in opened {
        c.effects.publish(
            crate::keys::Topic::InventoryAlerts(org),
            &StockAlertEvent::unlinked(org, branch, a.id, a.seller_sku, AlertState::Open),
        );
    }
    Ok(())
}

/// Resolves the open UNLINKED_SKU alerts whose SKU a variant now has; published after commit.
pub(crate) async fn linked_skus(c: &Ctx<'_>) -> AppResult<()> {
    #[derive(FromQueryResult)]
    struct Resolved {
        id: Uuid,
        branch_id: Uuid,
        seller_sku: String,
    }
    let resolved = Resolved::find_by_statement(stmt(
        "UPDATE stock_alerts a SET resolved_at = now() \
         WHERE a.kind = 'UNLINKED_SKU' AND a.resolved_at IS NULL \
           AND EXISTS (SELECT 1 FROM variants v WHERE lower(v.sku) = lower(a.seller_sku)) \
         RETURNING a.id, a.branch_id, a.seller_sku",
        vec![],
    ))
    .all(c.tx)
    .await?;
    let org = c.access.org()?.org_id;
    for a in resolved {
        c.effects.publish(
            crate::keys::Topic::InventoryAlerts(org),
            &StockAlertEvent::unlinked(
                org,
                BranchId(a.branch_id),
                a.id,
                a.seller_sku,
                AlertState::Resolved,
            ),
        );
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

/// An inventory alert as published on the organization's `inventory-alerts` channel.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StockAlertEvent {
    /// Organization.
    pub org_id: OrgId,
    /// Branch of the location or order lines (subscribers only receive their visible branches').
    pub branch_id: BranchId,
    /// The alert row.
    pub alert_id: uuid::Uuid,
    /// What it is about.
    #[serde(default)]
    pub kind: AlertKind,
    /// Variant (low stock).
    pub variant_id: Option<uuid::Uuid>,
    /// Location (low stock).
    pub location_id: Option<uuid::Uuid>,
    /// The seller SKU no variant has (unlinked SKU).
    #[serde(default)]
    pub seller_sku: Option<String>,
    /// Available quantity when it changed state (low stock).
    pub available: Option<i64>,
    /// The reorder point (low stock).
    pub reorder_point: Option<i64>,
    /// Opened or resolved.
    pub state: AlertState,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
}

impl StockAlertEvent {
    fn unlinked(
        org_id: OrgId,
        branch_id: BranchId,
        alert_id: Uuid,
        seller_sku: String,
        state: AlertState,
    ) -> Self {
        Self {
            org_id,
            branch_id,
            alert_id,
            kind: AlertKind::UnlinkedSku,
            variant_id: None,
            location_id: None,
            seller_sku: Some(seller_sku),
            available: None,
            reorder_point: None,
            state,
            at: chrono::Utc::now(),
        }
    }
}

/// An alert that is open.
#[derive(Debug, Clone, FromQueryResult)]
pub struct OpenAlert {
    /// Alert.
    pub id: Uuid,
    /// LOW_STOCK or UNLINKED_SKU.
    pub kind: String,
    /// Variant (low stock).
    pub variant_id: Option<Uuid>,
    /// Location (low stock).
    pub location_id: Option<Uuid>,
    /// Seller SKU (unlinked SKU).
    pub seller_sku: Option<String>,
    /// Branch of the location or order lines.
    pub branch_id: Uuid,
    /// Available when it opened (low stock).
    pub available: Option<i64>,
    /// Reorder point when it opened (low stock).
    pub reorder_point: Option<i64>,
    /// Opened at.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// One alert, open or resolved (NOT_FOUND unless visible), with when it resolved; for
/// `node(id:)`.
pub async fn alert(
    c: &Ctx<'_>,
    id: Uuid,
) -> AppResult<(OpenAlert, Option<chrono::DateTime<chrono::Utc>>)> {
    c.access
        .org()?
        .require(crate::auth::permissions::Perm::InventoryRead)?;
    #[derive(FromQueryResult)]
    struct Row {
        id: Uuid,
        kind: String,
        variant_id: Option<Uuid>,
        location_id: Option<Uuid>,
        seller_sku: Option<String>,
        branch_id: Uuid,
        available: Option<i64>,
        reorder_point: Option<i64>,
        created_at: chrono::DateTime<chrono::Utc>,
        resolved_at: Option<chrono::DateTime<chrono::Utc>>,
    }
    let r = Row::find_by_statement(stmt(
        "SELECT id, kind, variant_id, location_id, seller_sku, branch_id, available, reorder_point, created_at, resolved_at \
         FROM stock_alerts WHERE id = $1",
        vec![id.into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("InventoryAlert"))?;
    let alert = OpenAlert {
        id: r.id,
        kind: r.kind,
        variant_id: r.variant_id,
        location_id: r.location_id,
        seller_sku: r.seller_sku,
        branch_id: r.branch_id,
        available: r.available,
        reorder_point: r.reorder_point,
        created_at: r.created_at,
    };
    Ok((alert, r.resolved_at))
}

/// Alerts open now (the first 1,000) in the branches the caller sees, or in `only` (NOT_FOUND
/// unless visible: row-level security decides, as in queries).
pub async fn open_alerts(c: &Ctx<'_>, only: Option<BranchId>) -> AppResult<Vec<OpenAlert>> {
    if let Some(b) = only {
        crate::domain::require_visible(c.tx, "branches", b.uuid(), "Branch").await?;
    }
    Ok(OpenAlert::find_by_statement(stmt(
        "SELECT id, kind, variant_id, location_id, seller_sku, branch_id, available, reorder_point, created_at \
         FROM stock_alerts WHERE resolved_at IS NULL AND ($1::uuid IS NULL OR branch_id = $1) \
         ORDER BY created_at, id LIMIT 1000",
        vec![only.map(BranchId::uuid).into()],
    ))
    .all(c.tx)
    .await?)
}
