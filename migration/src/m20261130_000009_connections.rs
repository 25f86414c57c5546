//! Store connections: the token vault, the OAuth `state` ledger, store health, and the one
//! cross-tenant registry of marketplace shops.
//!
//! - `stores` gains its connection status (CONNECTED, DEGRADED, AUTH_EXPIRED, DISCONNECTED,
//!   FILE_ONLY), the platform identity the connectors need (region, TikTok cipher, Lazada
//!   country: identifiers, not secrets), and its health (last success, last classified error,
//!   circuit).
//! - `store_tokens` holds each store's access and refresh tokens as one AES-256-GCM envelope
//!   written by the application, with the expiry times in readable columns. A refresh locks the
//!   row, so two workers never spend one single-use refresh token.
//! - `connect_states` records each authorization link handed out: only the SHA-256 of its `state`,
//!   bound to organization, user, branch and platform, single use, 10 minutes.
//! - `shop_claims` is deliberately minimal (platform, shop id, organization) and outside tenant
//!   policies: one marketplace shop belongs to one organization. The runtime role has no privilege
//!   on it; a trigger on `stores` (SECURITY DEFINER, owned by the owner role) claims the shop while
//!   a store of it is active and connected, releases it when that ends, and refuses a store whose
//!   shop another organization holds, without saying which.
//! - `sync_schedules.paused` pauses a store's schedules while it cannot be called (its
//!   authorization expired, or it is disconnected); the seller's own on/off stays in `enabled`.

use crate::sql::{run, tenant_policy};
use sea_orm_migration::prelude::*;

/// Connection status, health, token vault, connect states, shop registry.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE stores
  ADD COLUMN connection text NOT NULL DEFAULT 'DISCONNECTED'
    CHECK (connection IN ('CONNECTED', 'DEGRADED', 'AUTH_EXPIRED', 'DISCONNECTED', 'FILE_ONLY')),
  ADD COLUMN shop_identity jsonb,
  ADD COLUMN connected_at timestamptz,
  ADD COLUMN last_success_at timestamptz,
  ADD COLUMN last_error_code text CHECK (length(last_error_code) BETWEEN 1 AND 64),
  ADD COLUMN last_error_message text CHECK (length(last_error_message) <= 500),
  ADD COLUMN last_error_at timestamptz,
  ADD COLUMN circuit text NOT NULL DEFAULT 'CLOSED' CHECK (circuit IN ('CLOSED', 'OPEN', 'HALF_OPEN')),
  ADD COLUMN circuit_open_until timestamptz;
-- Existing rows of every organization: forced RLS would hide them from the owner, so it is lifted
-- for these statements (inside this migration's transaction) and restored right after.
ALTER TABLE stores NO FORCE ROW LEVEL SECURITY;
ALTER TABLE sync_schedules NO FORCE ROW LEVEL SECURITY;
ALTER TABLE jobs NO FORCE ROW LEVEL SECURITY;
UPDATE stores SET connection = 'FILE_ONLY' WHERE platform IN ('KILIMALL', 'OWN');

CREATE TABLE store_tokens (
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  store_id uuid PRIMARY KEY,
  -- AES-256-GCM envelope of the token set, bound to the organization and the store: never
  -- plaintext.
  sealed bytea NOT NULL,
  access_expires_at timestamptz NOT NULL,
  refresh_expires_at timestamptz,
  refresh_single_use boolean NOT NULL,
  -- Grows with every write; a refresh compares it to know whether another worker won.
  version bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
  refreshed_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (org_id, store_id) REFERENCES stores (org_id, id) ON DELETE CASCADE
);
CREATE INDEX store_tokens_expiry_idx ON store_tokens (org_id, access_expires_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON store_tokens TO mercato_app;

CREATE TABLE connect_states (
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  id uuid PRIMARY KEY,
  state_hash bytea NOT NULL UNIQUE CHECK (length(state_hash) = 32),
  -- Who began it (NULL for a partner API token).
  user_id uuid,
  branch_id uuid NOT NULL,
  platform text NOT NULL CHECK (platform IN ('SHOPEE', 'TIKTOK_SHOP', 'LAZADA')),
  region text NOT NULL CHECK (region ~ '^[A-Z]{2}$'),
  return_url text NOT NULL CHECK (length(return_url) BETWEEN 1 AND 2000),
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  result text CHECK (length(result) BETWEEN 1 AND 64),
  store_id uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (org_id, branch_id) REFERENCES branches (org_id, id) ON DELETE CASCADE
);
CREATE INDEX connect_states_expiry_idx ON connect_states (org_id, expires_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON connect_states TO mercato_app;

ALTER TABLE sync_schedules
  ADD COLUMN paused text CHECK (paused IN ('AUTH_EXPIRED', 'DISCONNECTED'));
UPDATE sync_schedules s SET paused = 'DISCONNECTED', next_run_at = NULL
  FROM stores st WHERE st.id = s.store_id AND st.connection = 'DISCONNECTED';
UPDATE jobs j SET status = 'CANCELLED', finished_at = now(), updated_at = now(),
       last_error = 'paused: the store is not connected'
  FROM sync_schedules s WHERE j.schedule_id = s.id AND j.status = 'QUEUED' AND s.paused IS NOT NULL;
ALTER TABLE stores FORCE ROW LEVEL SECURITY;
ALTER TABLE sync_schedules FORCE ROW LEVEL SECURITY;
ALTER TABLE jobs FORCE ROW LEVEL SECURITY;

CREATE TABLE shop_claims (
  platform text NOT NULL,
  external_shop_id text NOT NULL,
  org_id uuid NOT NULL,
  PRIMARY KEY (platform, external_shop_id)
);
-- Outside tenant policies by design (see the module comment); the runtime role gets nothing.
ALTER TABLE shop_claims ENABLE ROW LEVEL SECURITY;
ALTER TABLE shop_claims FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON shop_claims FOR ALL
  USING (current_user <> 'mercato_app') WITH CHECK (current_user <> 'mercato_app');
REVOKE ALL ON shop_claims FROM PUBLIC;

CREATE FUNCTION stores_claim_shop() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  held boolean;
  owner uuid;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    DELETE FROM shop_claims
     WHERE platform = OLD.platform AND external_shop_id = OLD.external_shop_id AND org_id = OLD.org_id;
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  held := NEW.status = 'ACTIVE' AND NEW.connection NOT IN ('DISCONNECTED', 'FILE_ONLY');
  IF held THEN
    INSERT INTO shop_claims (platform, external_shop_id, org_id)
    VALUES (NEW.platform, NEW.external_shop_id, NEW.org_id)
    ON CONFLICT (platform, external_shop_id) DO NOTHING;
    SELECT c.org_id INTO owner FROM shop_claims c
     WHERE c.platform = NEW.platform AND c.external_shop_id = NEW.external_shop_id;
    IF owner IS DISTINCT FROM NEW.org_id THEN
      RAISE EXCEPTION 'mercato: shop_claimed_elsewhere' USING ERRCODE = 'MC409';
    END IF;
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION stores_claim_shop() FROM PUBLIC;
CREATE TRIGGER stores_claim_shop AFTER INSERT OR DELETE OR UPDATE OF platform, external_shop_id, status, connection
  ON stores FOR EACH ROW EXECUTE FUNCTION stores_claim_shop();
"#;

const GUARDS: &str = r#"
CREATE POLICY tenant_guard ON store_tokens AS RESTRICTIVE FOR ALL
  USING (org_id = (SELECT app_org_id())) WITH CHECK (org_id = (SELECT app_org_id()));
CREATE POLICY tenant_guard ON connect_states AS RESTRICTIVE FOR ALL
  USING (org_id = (SELECT app_org_id())) WITH CHECK (org_id = (SELECT app_org_id()));
"#;

const DOWN: &str = r#"
DROP TRIGGER IF EXISTS stores_claim_shop ON stores;
DROP FUNCTION IF EXISTS stores_claim_shop();
DROP TABLE IF EXISTS shop_claims;
ALTER TABLE sync_schedules DROP COLUMN IF EXISTS paused;
DROP TABLE IF EXISTS connect_states;
DROP TABLE IF EXISTS store_tokens;
ALTER TABLE stores
  DROP COLUMN IF EXISTS connection,
  DROP COLUMN IF EXISTS shop_identity,
  DROP COLUMN IF EXISTS connected_at,
  DROP COLUMN IF EXISTS last_success_at,
  DROP COLUMN IF EXISTS last_error_code,
  DROP COLUMN IF EXISTS last_error_message,
  DROP COLUMN IF EXISTS last_error_at,
  DROP COLUMN IF EXISTS circuit,
  DROP COLUMN IF EXISTS circuit_open_until;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await?;
        run(manager, &tenant_policy("store_tokens", None)).await?;
        run(manager, &tenant_policy("connect_states", Some("branch_id"))).await?;
        run(manager, GUARDS).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await
    }
}
