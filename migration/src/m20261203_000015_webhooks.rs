//! Marketplace pushes in (DESIGN §9).
//!
//! - `webhook_inbox`: every verified push, stored before it is acknowledged, one row per
//!   (organization, platform, delivery key) however often the platform delivers it (`duplicates`
//!   counts the extra deliveries). Processing is a WEBHOOK job (`job_id`, the latest when
//!   replayed); `status` holds the outcome its handler recorded (PROCESSED, STALE, IGNORED) and
//!   stays RECEIVED while the job is queued, retrying or dead, which the job tells. A tenant table
//!   scoped to the store's branch.
//! - `webhook_shop_org(platform, shop)`: the one cross-tenant read a push needs, through
//!   `shop_claims` (SECURITY DEFINER, owned by the owner role): which organization holds the
//!   connected shop a verified push names. It returns an id and nothing else; the push is then
//!   stored in that organization's tenant transaction, under RLS.
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
  job_id uuid NOT NULL,
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
"#;

const DOWN: &str = r#"
DROP FUNCTION IF EXISTS webhook_shop_org(text, text);
ALTER TABLE stores DROP COLUMN IF EXISTS authorization_expires_at;
DROP TABLE IF EXISTS webhook_inbox;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await?;
        run(manager, &tenant_policy("webhook_inbox", Some("branch_id"))).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await
    }
}
