//! Stores: connected marketplace accounts, branch-scoped, credentials encrypted by the application.

use crate::sql::{run, tenant_policy};
use sea_orm_migration::prelude::*;

/// Creates the `stores` table and its policy.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE stores (
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  id uuid PRIMARY KEY,
  branch_id uuid NOT NULL,
  platform text NOT NULL
    CHECK (platform IN ('SHOPEE', 'TIKTOK_SHOP', 'LAZADA', 'JUMIA', 'KILIMALL', 'OWN')),
  external_shop_id text NOT NULL CHECK (length(external_shop_id) BETWEEN 1 AND 128),
  name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
  region text NOT NULL CHECK (region ~ '^[A-Z]{2}$'),
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'ARCHIVED')),
  -- AES-256-GCM envelope written by the application: never plaintext.
  credentials bytea,
  credentials_updated_at timestamptz,
  archived_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, id),
  FOREIGN KEY (org_id, branch_id) REFERENCES branches (org_id, id) ON DELETE RESTRICT,
  CHECK ((credentials IS NULL) = (credentials_updated_at IS NULL))
);
CREATE UNIQUE INDEX stores_org_platform_shop_key ON stores (org_id, platform, external_shop_id);
CREATE INDEX stores_org_branch_idx ON stores (org_id, branch_id);

GRANT SELECT, INSERT, UPDATE ON stores TO mercato_app;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await?;
        run(manager, &tenant_policy("stores", Some("branch_id"))).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, "DROP TABLE IF EXISTS stores CASCADE;").await
    }
}
