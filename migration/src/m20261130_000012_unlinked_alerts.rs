//! Inventory alerts for order lines whose seller SKU names no variant.
//!
//! `stock_alerts.kind`: LOW_STOCK (available fell to a level's reorder point: variant, location,
//! available and reorder point are set) or UNLINKED_SKU (an order line in the branch sells a
//! seller SKU the catalog does not have, so its stock is not held: `seller_sku` is set). One open
//! alert per branch and SKU (compared case-insensitively, as lines are linked); it resolves when
//! a variant with that SKU appears.

use crate::sql::run;
use sea_orm_migration::prelude::*;

/// Alert kinds and the unlinked-SKU alert.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE stock_alerts
  ADD COLUMN kind text NOT NULL DEFAULT 'LOW_STOCK' CHECK (kind IN ('LOW_STOCK', 'UNLINKED_SKU')),
  ADD COLUMN seller_sku text CHECK (length(seller_sku) <= 200),
  ALTER COLUMN variant_id DROP NOT NULL,
  ALTER COLUMN location_id DROP NOT NULL,
  ALTER COLUMN available DROP NOT NULL,
  ALTER COLUMN reorder_point DROP NOT NULL,
  ADD FOREIGN KEY (org_id, branch_id) REFERENCES branches (org_id, id) ON DELETE CASCADE,
  ADD CONSTRAINT stock_alerts_shape CHECK (
    (kind = 'LOW_STOCK' AND variant_id IS NOT NULL AND location_id IS NOT NULL
       AND available IS NOT NULL AND reorder_point IS NOT NULL AND seller_sku IS NULL)
    OR (kind = 'UNLINKED_SKU' AND seller_sku IS NOT NULL AND seller_sku <> ''
       AND variant_id IS NULL AND location_id IS NULL));
CREATE UNIQUE INDEX stock_alerts_unlinked_key ON stock_alerts (org_id, branch_id, lower(seller_sku))
  WHERE kind = 'UNLINKED_SKU' AND resolved_at IS NULL;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(
            manager,
            "DELETE FROM stock_alerts WHERE kind = 'UNLINKED_SKU'; \
             DROP INDEX IF EXISTS stock_alerts_unlinked_key; \
             ALTER TABLE stock_alerts DROP CONSTRAINT IF EXISTS stock_alerts_shape, \
               DROP CONSTRAINT IF EXISTS stock_alerts_org_id_branch_id_fkey, \
               DROP COLUMN IF EXISTS kind, DROP COLUMN IF EXISTS seller_sku, \
               ALTER COLUMN variant_id SET NOT NULL, ALTER COLUMN location_id SET NOT NULL, \
               ALTER COLUMN available SET NOT NULL, ALTER COLUMN reorder_point SET NOT NULL;",
        )
        .await
    }
}
