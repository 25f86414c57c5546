//! `tenant_open(…)`: the opening of a signed-in member's tenant transaction in one round trip
//! (after BEGIN): the organization and user settings, the statement timeout and read-only mode,
//! the member's role and branch roles read under RLS (their own rows, through the membership
//! tables' self-read policies), and the branch visibility those roles give:
//! - OWNER and ADMIN see every branch (`app.branch_ids = '*'`);
//! - a MEMBER sees the branches they hold a role in;
//! - a non-member keeps no organization in the context (`app.org_id = ''`) and sees nothing of it.
//!
//! Rust resolves the same rule from the returned rows (`tenant::access`); a test checks that both
//! agree for every kind of caller. SECURITY INVOKER: it runs as the runtime role under RLS.

use crate::sql::run;
use sea_orm_migration::prelude::*;

/// The one-round-trip tenant opening.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE FUNCTION tenant_open(p_org uuid, p_user uuid, p_timeout text, p_read_only boolean)
  RETURNS TABLE (role text, branches text[])
  LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, public AS $$
DECLARE
  v_role text;
  v_branches text[];
BEGIN
  PERFORM set_config('app.org_id', p_org::text, true), set_config('app.user_id', p_user::text, true),
          set_config('app.branch_ids', '{}', true), set_config('app.auth_email', '', true),
          set_config('app.token_hash', '', true);
  IF p_timeout <> '' THEN
    PERFORM set_config('statement_timeout', p_timeout, true);
  END IF;
  IF p_read_only THEN
    PERFORM set_config('transaction_read_only', 'on', true);
  END IF;
  SELECT m.role,
         COALESCE((SELECT array_agg(b.branch_id::text || ':' || b.role ORDER BY b.branch_id)
                   FROM branch_members b WHERE b.org_id = m.org_id AND b.user_id = m.user_id), '{}')
    INTO v_role, v_branches
    FROM org_members m WHERE m.org_id = p_org AND m.user_id = p_user;
  IF v_role IS NULL THEN
    PERFORM set_config('app.org_id', '', true);
    RETURN;
  ELSIF v_role IN ('OWNER', 'ADMIN') THEN
    PERFORM set_config('app.branch_ids', '*', true);
  ELSE
    PERFORM set_config('app.branch_ids',
      '{' || array_to_string(ARRAY(SELECT split_part(e, ':', 1) FROM unnest(v_branches) e), ',') || '}',
      true);
  END IF;
  RETURN QUERY SELECT v_role, v_branches;
END
$$;
REVOKE ALL ON FUNCTION tenant_open(uuid, uuid, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenant_open(uuid, uuid, text, boolean) TO mercato_app;
"#;

const DOWN: &str = r#"
DROP FUNCTION IF EXISTS tenant_open(uuid, uuid, text, boolean);
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
