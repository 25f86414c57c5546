//! Marketplace pushes in (DESIGN §9).
//!
//! - `webhook_inbox`: every verified push, stored before it is acknowledged, one row per
//!   (organization, platform, delivery key) however often the platform delivers it (`duplicates`
//!   counts the extra deliveries). Processing is a WEBHOOK job (`job_id`, queued by a worker's
//!   dispatcher, the latest when replayed); `status` holds the outcome its handler recorded
//!   (PROCESSED, STALE, IGNORED) and stays RECEIVED while the job is to come, queued, retrying or
//!   dead, which the job tells. A tenant table scoped to the store's branch.
//! - `webhook_shop_org(platform, shop)`: the one cross-tenant read a push needs, through
//!   `shop_claims` (SECURITY DEFINER, owned by the owner role): which organization holds the
//!   connected shop a verified push names. It returns an id and nothing else; the push is then
//!   stored in that organization's tenant transaction, under RLS.
//! - `webhook_accept(…)`: stores one delivery in one round trip (SECURITY INVOKER, so under RLS):
//!   the organization from `webhook_shop_org`, its tenant settings, the inbox row. Nothing else
//!   happens before the platform is answered.
//! - `webhook_dispatch` + `claim_webhook_events`: the events still without a job, across
//!   organizations (ids only, outside RLS like `job_dispatch`), kept by triggers on the inbox; a
//!   worker's dispatcher claims them and queues their WEBHOOK jobs in their tenant transactions.
//! - `stores.authorization_expires_at`: when the platform said the seller's authorization ends
//!   (an expiry notice), shown in `Store.health`.

use crate::sql::{run, tenant_policy};
use sea_orm_migration::prelude::*;

/// The webhook inbox.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE webhook_inbox (
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  id uuid PRIMARY KEY,
  store_id uuid NOT NULL,
  branch_id uuid NOT NULL,
  platform text NOT NULL CHECK (platform IN ('SHOPEE', 'TIKTOK_SHOP', 'LAZADA')),
  delivery_key text NOT NULL CHECK (length(delivery_key) BETWEEN 1 AND 200),
  kind text NOT NULL CHECK (kind IN ('ORDER_STATUS', 'ORDER_CANCELLATION', 'AUTHORIZATION_EXPIRING',
                                     'DEAUTHORIZED', 'STOCK_CHANGE', 'PRODUCT_CHANGE', 'OTHER')),
  -- The platform's own code or type.
  topic text NOT NULL CHECK (length(topic) BETWEEN 1 AND 40),
  -- The order or item it is about, the status it announces, and the subject's update time on
  -- the platform (how a late delivery is told from a newer one).
  subject text CHECK (length(subject) BETWEEN 1 AND 64),
  announced_status text CHECK (length(announced_status) BETWEEN 1 AND 64),
  subject_updated_at timestamptz,
  sent_at timestamptz NOT NULL,
  -- The body exactly as verified (JSON text; the signature was over these bytes).
  body text NOT NULL CHECK (length(body) <= 1048576),
  status text NOT NULL DEFAULT 'RECEIVED'
    CHECK (status IN ('RECEIVED', 'PROCESSED', 'STALE', 'IGNORED')),
  outcome text CHECK (length(outcome) <= 500),
  duplicates integer NOT NULL DEFAULT 0 CHECK (duplicates >= 0),
  -- Its processing job (the latest when replayed); NULL until a worker's dispatcher queues it.
  job_id uuid,
  received_at timestamptz NOT NULL DEFAULT now(),
  last_duplicate_at timestamptz,
  processed_at timestamptz,
  UNIQUE (org_id, platform, delivery_key),
  FOREIGN KEY (org_id, store_id) REFERENCES stores (org_id, id) ON DELETE CASCADE,
  FOREIGN KEY (org_id, branch_id) REFERENCES branches (org_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_inbox_store_idx ON webhook_inbox (org_id, store_id, received_at DESC, id DESC);
CREATE INDEX webhook_inbox_subject_idx ON webhook_inbox (org_id, store_id, subject)
  WHERE subject IS NOT NULL;
GRANT SELECT, INSERT, UPDATE ON webhook_inbox TO mercato_app;

ALTER TABLE stores ADD COLUMN authorization_expires_at timestamptz;

CREATE FUNCTION webhook_shop_org(p_platform text, p_shop text) RETURNS uuid
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT org_id FROM shop_claims WHERE platform = p_platform AND external_shop_id = p_shop
$$;
REVOKE ALL ON FUNCTION webhook_shop_org(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_shop_org(text, text) TO mercato_app;

-- One delivery stored in one round trip: the organization holding the shop, its tenant context
-- (transaction-local, as the application sets it for a system caller), then the inbox row.
-- SECURITY INVOKER: it runs as the runtime role, so row-level security applies as in any tenant
-- transaction. Called outside a transaction, it is one (the settings end with it). No row: no
-- connected store of that shop. A duplicate delivery only counts.
CREATE FUNCTION webhook_accept(
  p_platform text, p_shop text, p_id uuid, p_key text, p_kind text, p_topic text,
  p_subject text, p_status text, p_updated timestamptz, p_sent timestamptz, p_body text)
  RETURNS TABLE (org_id uuid, event_id uuid, store_id uuid, fresh boolean)
  LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, public AS $$
DECLARE
  v_org uuid := webhook_shop_org(p_platform, p_shop);
BEGIN
  IF v_org IS NULL THEN
    RETURN;
  END IF;
  PERFORM set_config('app.org_id', v_org::text, true), set_config('app.user_id', '', true),
          set_config('app.branch_ids', '*', true), set_config('app.auth_email', '', true),
          set_config('app.token_hash', '', true);
  RETURN QUERY
  INSERT INTO webhook_inbox AS w (org_id, id, store_id, branch_id, platform, delivery_key, kind,
                                  topic, subject, announced_status, subject_updated_at, sent_at, body)
  SELECT v_org, p_id, st.id, st.branch_id, p_platform, p_key, p_kind, p_topic, p_subject, p_status,
         p_updated, p_sent, p_body
  FROM stores st
  WHERE st.platform = p_platform AND st.external_shop_id = p_shop AND st.status = 'ACTIVE'
  ON CONFLICT ON CONSTRAINT webhook_inbox_org_id_platform_delivery_key_key DO UPDATE
    SET duplicates = w.duplicates + 1, last_duplicate_at = now()
  RETURNING w.org_id, w.id, w.store_id, (w.xmax::text = '0');
END
$$;
REVOKE ALL ON FUNCTION webhook_accept(text, text, uuid, text, text, text, text, text,
  timestamptz, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_accept(text, text, uuid, text, text, text, text, text,
  timestamptz, timestamptz, text) TO mercato_app;

-- Events without a job yet, across organizations: ids and times only, outside RLS like
-- job_dispatch; the runtime role has no privilege on it. Kept in step by triggers on the inbox
-- (SECURITY DEFINER, owned by the owner role): a new event enters, an event given a job leaves.
CREATE TABLE webhook_dispatch (
  event_id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_dispatch_received_idx ON webhook_dispatch (received_at);
ALTER TABLE webhook_dispatch ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_dispatch FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON webhook_dispatch FOR ALL
  USING (current_user <> 'mercato_app') WITH CHECK (current_user <> 'mercato_app');
REVOKE ALL ON webhook_dispatch FROM PUBLIC;

CREATE FUNCTION webhook_dispatch_track() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.job_id IS NULL THEN
      INSERT INTO webhook_dispatch (event_id, org_id) VALUES (NEW.id, NEW.org_id);
    END IF;
  ELSIF NEW.job_id IS NOT NULL THEN
    DELETE FROM webhook_dispatch WHERE event_id = NEW.id;
  END IF;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION webhook_dispatch_track() FROM PUBLIC;
CREATE TRIGGER webhook_dispatch_insert AFTER INSERT ON webhook_inbox
  FOR EACH ROW EXECUTE FUNCTION webhook_dispatch_track();
CREATE TRIGGER webhook_dispatch_queued AFTER UPDATE OF job_id ON webhook_inbox
  FOR EACH ROW WHEN (OLD.job_id IS NULL AND NEW.job_id IS NOT NULL)
  EXECUTE FUNCTION webhook_dispatch_track();

-- Up to `max_events` events still without a job, oldest first, locked for the caller's
-- transaction (which queues their jobs): several dispatchers never take the same event.
CREATE FUNCTION claim_webhook_events(max_events integer)
  RETURNS TABLE (org_id uuid, event_id uuid)
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT d.org_id, d.event_id FROM webhook_dispatch d
  ORDER BY d.received_at LIMIT least(greatest(max_events, 1), 10000)
  FOR UPDATE SKIP LOCKED
$$;
REVOKE ALL ON FUNCTION claim_webhook_events(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION claim_webhook_events(integer) TO mercato_app;
"#;

/// The restrictive guard every tenant table has (hardening migration).
const GUARD: &str = "CREATE POLICY tenant_guard ON webhook_inbox AS RESTRICTIVE FOR ALL \
  USING (org_id = (SELECT app_org_id())) WITH CHECK (org_id = (SELECT app_org_id()));";

const DOWN: &str = r#"
DROP FUNCTION IF EXISTS claim_webhook_events(integer);
DROP TABLE IF EXISTS webhook_dispatch;
DROP FUNCTION IF EXISTS webhook_dispatch_track() CASCADE;
DROP FUNCTION IF EXISTS webhook_accept(text, text, uuid, text, text, text, text, text,
  timestamptz, timestamptz, text);
DROP FUNCTION IF EXISTS webhook_shop_org(text, text);
ALTER TABLE stores DROP COLUMN IF EXISTS authorization_expires_at;
DROP TABLE IF EXISTS webhook_inbox;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await?;
        run(manager, &tenant_policy("webhook_inbox", Some("branch_id"))).await?;
        run(manager, GUARD).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await
    }
}
