//! The audit trail: every mutation appends one event in its own transaction.

use crate::domain::Ctx;
use crate::error::AppResult;
use crate::ids::{AuditEventId, OrgId};
use entity::audit_events;
use sea_orm::{ActiveModelTrait, Set};
use uuid::Uuid;

/// Appends an audit event. `summary` holds before/after values and never secrets.
pub async fn record(
    ctx: &Ctx<'_>,
    org: OrgId,
    action: &str,
    target_type: &str,
    target_id: Option<Uuid>,
    summary: serde_json::Value,
) -> AppResult<()> {
    audit_events::ActiveModel {
        org_id: Set(org.uuid()),
        id: Set(AuditEventId::new_v7().uuid()),
        actor_user_id: Set(ctx.access.user_id.map(|u| u.uuid())),
        actor_api_token_id: Set(ctx.access.api_token().map(|t| t.uuid())),
        action: Set(action.to_owned()),
        target_type: Set(target_type.to_owned()),
        target_id: Set(target_id),
        summary: Set(summary),
        request_id: Set(ctx.request_id.map(str::to_owned)),
        created_at: Set(chrono::Utc::now().into()),
    }
    .insert(ctx.tx)
    .await?;
    Ok(())
}
