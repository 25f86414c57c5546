//! Defence in depth.
//!
//! - Every tenant table gets a RESTRICTIVE policy `tenant_guard`: whatever permissive policies a
//!   table has now or gains later, no row of another organization passes it. Two tables keep a
//!   narrow, deliberate exception in their guard (and the schema-invariant test names them):
//!   `org_members` lets a user read their own memberships in every organization (to list and pick
//!   one), and `api_tokens` lets authentication read exactly the row whose hash it presents.
//!   `organizations` is keyed by `id` rather than `org_id`.
//! - The runtime role gets role-level timeouts, so a connection left idle inside a transaction or
//!   a statement waiting on a lock is ended by Postgres even if the server forgot to set its own
//!   per-transaction values (which stay, and are tighter).
//! - Stock figures have a database-level ceiling matching the API's documented range.

use crate::sql::run;
use sea_orm_migration::prelude::*;

/// Restrictive tenant guards, role timeouts, stock ceiling.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
DO $$
DECLARE t text;
BEGIN
  FOR t IN
    SELECT c.relname FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped
    WHERE c.relkind = 'r' AND c.relrowsecurity
      AND c.relname NOT IN ('job_dispatch', 'org_members', 'api_tokens')
  LOOP
    EXECUTE format(
      'CREATE POLICY tenant_guard ON %I AS RESTRICTIVE FOR ALL '
      'USING (org_id = (SELECT app_org_id())) WITH CHECK (org_id = (SELECT app_org_id()))', t);
  END LOOP;
END
$$;

CREATE POLICY tenant_guard ON org_members AS RESTRICTIVE FOR ALL
  USING (org_id = (SELECT app_org_id()) OR user_id = (SELECT app_user_id()))
  WITH CHECK (org_id = (SELECT app_org_id()));
CREATE POLICY tenant_guard ON api_tokens AS RESTRICTIVE FOR ALL
  USING (org_id = (SELECT app_org_id()) OR token_hash = (SELECT app_token_hash()))
  WITH CHECK (org_id = (SELECT app_org_id()));
CREATE POLICY tenant_guard ON organizations AS RESTRICTIVE FOR ALL
  USING (id = (SELECT app_org_id())
         OR id IN (SELECT m.org_id FROM org_members m WHERE m.user_id = (SELECT app_user_id())))
  WITH CHECK (id = (SELECT app_org_id()));

ALTER TABLE inventory_levels ADD CONSTRAINT inventory_levels_quantity_max
  CHECK (on_hand <= 1000000000 AND safety_stock <= 1000000000
         AND (reorder_point IS NULL OR reorder_point <= 1000000000));

-- Role settings are cluster-wide; migrations of several databases may run at once (tests), so
-- take a lock and write only what differs.
DO $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('mercato: runtime role settings'));
  IF NOT EXISTS (
    SELECT 1 FROM pg_db_role_setting s
    WHERE s.setrole = 'mercato_app'::regrole AND s.setdatabase = 0
      AND 'idle_in_transaction_session_timeout=60s' = ANY (s.setconfig)
      AND 'lock_timeout=10s' = ANY (s.setconfig)) THEN
    ALTER ROLE mercato_app SET idle_in_transaction_session_timeout = '60s';
    ALTER ROLE mercato_app SET lock_timeout = '10s';
  END IF;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE EXCEPTION 'the migration role % cannot set the runtime role''s timeouts: grant it CREATEROLE (ALTER ROLE % CREATEROLE) or run, as a superuser: ALTER ROLE mercato_app SET idle_in_transaction_session_timeout = ''60s''; ALTER ROLE mercato_app SET lock_timeout = ''10s''', current_user, current_user;
END
$$;
"#;

const DOWN: &str = r#"
DO $$
DECLARE t text;
BEGIN
  FOR t IN SELECT tablename FROM pg_policies
           WHERE schemaname = current_schema() AND policyname = 'tenant_guard'
  LOOP
    EXECUTE format('DROP POLICY tenant_guard ON %I', t);
  END LOOP;
END
$$;
ALTER TABLE inventory_levels DROP CONSTRAINT IF EXISTS inventory_levels_quantity_max;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The role's timeouts stay: they are safe defaults whatever the schema version, and other
        // databases of the cluster may rely on them.
        run(manager, DOWN).await
    }
}
