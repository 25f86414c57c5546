//! Access: refresh-token sessions (per user) and partner API tokens (per organization), plus the
//! API token as an audit actor.

use crate::sql::run;
use sea_orm_migration::prelude::*;

/// Creates `refresh_tokens` and `api_tokens`.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
-- The SHA-256 of a presented secret (hex), set only while authenticating that secret.
CREATE FUNCTION app_token_hash() RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT decode(NULLIF(current_setting('app.token_hash', true), ''), 'hex') $$;

-- Refresh tokens belong to a user, not to a tenant: a session may switch organizations.
-- Rotation: each use marks the row used and inserts its successor in the same family; a used
-- row presented again revokes the whole family.
CREATE TABLE refresh_tokens (
  id uuid PRIMARY KEY,
  family_id uuid NOT NULL,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  session_org_id uuid REFERENCES organizations (id) ON DELETE SET NULL,
  token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
GRANT SELECT, INSERT, UPDATE ON refresh_tokens TO mercato_app;

ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_rows ON refresh_tokens FOR ALL
  USING (user_id = (SELECT app_user_id())) WITH CHECK (user_id = (SELECT app_user_id()));
CREATE POLICY lookup ON refresh_tokens FOR SELECT
  USING (token_hash = (SELECT app_token_hash()));

-- Partner API tokens. Only the SHA-256 of the secret is stored. branch_ids NULL = every branch.
CREATE TABLE api_tokens (
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  id uuid PRIMARY KEY,
  name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
  token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  display_prefix text NOT NULL,
  scopes text[] NOT NULL CHECK (cardinality(scopes) > 0),
  branch_ids uuid[],
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz,
  UNIQUE (org_id, id)
);
CREATE UNIQUE INDEX api_tokens_org_name_key ON api_tokens (org_id, lower(name)) WHERE revoked_at IS NULL;
GRANT SELECT, INSERT, UPDATE ON api_tokens TO mercato_app;

-- Only an organization-wide context (OWNER/ADMIN) reads or changes tokens; authentication sees
-- exactly the row whose hash it presents.
ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON api_tokens FOR ALL
  USING (org_id = (SELECT app_org_id()) AND (SELECT app_all_branches()))
  WITH CHECK (org_id = (SELECT app_org_id()) AND (SELECT app_all_branches()));
CREATE POLICY lookup ON api_tokens FOR SELECT
  USING (token_hash = (SELECT app_token_hash()));

ALTER TABLE audit_events ADD COLUMN actor_api_token_id uuid;
"#;

const DOWN: &str = r#"
ALTER TABLE audit_events DROP COLUMN IF EXISTS actor_api_token_id;
DROP TABLE IF EXISTS api_tokens, refresh_tokens CASCADE;
DROP FUNCTION IF EXISTS app_token_hash();
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await
    }
}
