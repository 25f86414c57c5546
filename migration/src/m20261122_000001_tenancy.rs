//! Tenancy core: context functions, organizations, users, memberships and branches, under RLS.

use crate::sql::{run, tenant_policy};
use sea_orm_migration::prelude::*;

/// Creates the tenancy tables and their policies.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mercato_app') THEN
    RAISE EXCEPTION 'runtime role mercato_app does not exist: create it before migrating (README, "Database roles")';
  END IF;
END
$$;

-- Tenant context. The application sets these per transaction with set_config(name, value, true);
-- an unset or empty setting reads as NULL, so a query without context matches nothing.
CREATE FUNCTION app_org_id() RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT NULLIF(current_setting('app.org_id', true), '')::uuid $$;
CREATE FUNCTION app_user_id() RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT NULLIF(current_setting('app.user_id', true), '')::uuid $$;
CREATE FUNCTION app_auth_email() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT NULLIF(current_setting('app.auth_email', true), '') $$;
-- 'app.branch_ids' is '*' (every branch of the org: OWNER/ADMIN) or a uuid[] literal.
CREATE FUNCTION app_all_branches() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT COALESCE(current_setting('app.branch_ids', true) = '*', false) $$;
CREATE FUNCTION app_branch_ids() RETURNS uuid[] LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT CASE WHEN s IS NULL OR s IN ('', '*') THEN '{}'::uuid[] ELSE s::uuid[] END
        FROM (SELECT current_setting('app.branch_ids', true) AS s) AS setting $$;

CREATE TABLE organizations (
  id uuid PRIMARY KEY,
  name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id uuid PRIMARY KEY,
  email text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 320),
  password_hash text NOT NULL,
  display_name text NOT NULL CHECK (length(btrim(display_name)) BETWEEN 1 AND 200),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE org_members (
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user_idx ON org_members (user_id);

CREATE TABLE branches (
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  id uuid PRIMARY KEY,
  name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 120),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, id)
);
CREATE UNIQUE INDEX branches_org_name_key ON branches (org_id, lower(name));

CREATE TABLE branch_members (
  org_id uuid NOT NULL,
  branch_id uuid NOT NULL,
  user_id uuid NOT NULL,
  role text NOT NULL CHECK (role IN ('MANAGER', 'OPERATOR', 'VIEWER')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, branch_id, user_id),
  FOREIGN KEY (org_id, branch_id) REFERENCES branches (org_id, id) ON DELETE CASCADE,
  FOREIGN KEY (org_id, user_id) REFERENCES org_members (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX branch_members_user_idx ON branch_members (org_id, user_id);

GRANT SELECT, INSERT, UPDATE ON organizations TO mercato_app;
GRANT SELECT, INSERT, UPDATE ON users TO mercato_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON org_members, branches, branch_members TO mercato_app;

-- organizations: the tenant row itself; a user also sees the organizations they belong to.
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON organizations FOR ALL
  USING (id = (SELECT app_org_id())) WITH CHECK (id = (SELECT app_org_id()));
CREATE POLICY member_read ON organizations FOR SELECT
  USING (id IN (SELECT m.org_id FROM org_members m WHERE m.user_id = (SELECT app_user_id())));

-- users: global identities. Visible to themselves, to the log-in lookup of their own e-mail,
-- and to members of an organization they belong to.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY self ON users FOR ALL
  USING (id = (SELECT app_user_id())) WITH CHECK (id = (SELECT app_user_id()));
CREATE POLICY login_lookup ON users FOR SELECT
  USING (email = (SELECT app_auth_email()));
CREATE POLICY colleague_read ON users FOR SELECT
  USING (EXISTS (SELECT 1 FROM org_members m
                 WHERE m.user_id = users.id AND m.org_id = (SELECT app_org_id())));
"#;

const DOWN: &str = r#"
DROP TABLE IF EXISTS branch_members, branches, org_members, users, organizations CASCADE;
DROP FUNCTION IF EXISTS app_org_id(), app_user_id(), app_auth_email(), app_all_branches(), app_branch_ids();
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await?;
        run(manager, &tenant_policy("org_members", None)).await?;
        // A user reads their own memberships in every org (to pick one); writes stay in-tenant.
        run(
            manager,
            "CREATE POLICY self_read ON org_members FOR SELECT USING (user_id = (SELECT app_user_id()));",
        )
        .await?;
        run(manager, &tenant_policy("branches", Some("id"))).await?;
        run(manager, &tenant_policy("branch_members", Some("branch_id"))).await?;
        // A member reads their own branch roles before the visible branches are known.
        run(
            manager,
            "CREATE POLICY self_read ON branch_members FOR SELECT \
             USING (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()));",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await
    }
}
