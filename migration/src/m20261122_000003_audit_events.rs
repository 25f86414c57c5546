//! Audit events: an append-only record of every mutation, written in the mutation's transaction.

use crate::sql::{run, tenant_policy};
use sea_orm_migration::prelude::*;

/// Creates the `audit_events` table; the runtime role may only read and append.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE audit_events (
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  id uuid PRIMARY KEY,
  actor_user_id uuid,
  action text NOT NULL CHECK (length(action) BETWEEN 1 AND 100),
  target_type text NOT NULL,
  target_id uuid,
  summary jsonb NOT NULL DEFAULT '{}'::jsonb,
  request_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, id)
);
CREATE INDEX audit_events_org_target_idx ON audit_events (org_id, target_id);

GRANT SELECT, INSERT ON audit_events TO mercato_app;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await?;
        run(manager, &tenant_policy("audit_events", None)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, "DROP TABLE IF EXISTS audit_events CASCADE;").await
    }
}
