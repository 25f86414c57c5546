//! Inventory levels by location carry the variant too, so every index on the table that a lookup
//! by (org, variant, location) can pick is exact. With the old (org_id, location_id) index the
//! planner could choose it for the ledger's foreign-key check while the table's statistics were
//! still empty, scanning every level of the location per inserted movement (a 10,000-row catalog
//! import spent 26 s in that check).

use crate::sql::run;
use sea_orm_migration::prelude::*;

/// Replaces `inventory_levels_location_idx`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(
            manager,
            "DROP INDEX IF EXISTS inventory_levels_location_idx;\n\
             CREATE INDEX inventory_levels_location_idx ON inventory_levels (org_id, location_id, variant_id);\n",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(
            manager,
            "DROP INDEX IF EXISTS inventory_levels_location_idx;\n\
             CREATE INDEX inventory_levels_location_idx ON inventory_levels (org_id, location_id);\n",
        )
        .await
    }
}
