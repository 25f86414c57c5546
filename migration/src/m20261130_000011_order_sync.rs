//! Orders sync and the stock that follows orders.
//!
//! - `stores.orders_synced_to`: the incremental ORDERS sync's watermark (marketplace update time):
//!   every order updated up to it is in.
//! - `order_items.stock`: where the line's stock stands, so every transition happens once per line:
//!   NONE (nothing held: unpaid, unlinked, or fulfilled by the marketplace), ALLOCATED (an
//!   ORDER_LINE reservation holds it), SHORT (paid but not enough stock was available to hold),
//!   SHIPPED (the reservation was committed), RELEASED (cancelled before shipping), RETURNED
//!   (a received return put it back). `reservation_id` and `location_id` say where.

use crate::sql::run;
use sea_orm_migration::prelude::*;

/// The sync watermark and the order lines' stock state.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE stores ADD COLUMN orders_synced_to timestamptz;

ALTER TABLE order_items
  ADD COLUMN stock text NOT NULL DEFAULT 'NONE'
    CHECK (stock IN ('NONE', 'ALLOCATED', 'SHORT', 'SHIPPED', 'RELEASED', 'RETURNED')),
  ADD COLUMN reservation_id uuid,
  ADD COLUMN location_id uuid,
  ADD FOREIGN KEY (org_id, reservation_id) REFERENCES reservations (org_id, id) ON DELETE RESTRICT;
CREATE INDEX order_items_short_idx ON order_items (org_id, variant_id) WHERE stock = 'SHORT';

-- Order pages sort by (time DESC, id DESC): the indexes match, so a page is an index range.
DROP INDEX orders_org_placed_idx;
CREATE INDEX orders_org_placed_idx ON orders (org_id, placed_at DESC, id DESC);
DROP INDEX orders_org_updated_idx;
CREATE INDEX orders_org_updated_idx ON orders (org_id, marketplace_updated_at DESC, id DESC);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(
            manager,
            "ALTER TABLE order_items DROP COLUMN IF EXISTS stock, DROP COLUMN IF EXISTS reservation_id, \
               DROP COLUMN IF EXISTS location_id; \
             ALTER TABLE stores DROP COLUMN IF EXISTS orders_synced_to; \
             DROP INDEX IF EXISTS orders_org_placed_idx; \
             CREATE INDEX orders_org_placed_idx ON orders (org_id, placed_at DESC, id); \
             DROP INDEX IF EXISTS orders_org_updated_idx; \
             CREATE INDEX orders_org_updated_idx ON orders (org_id, marketplace_updated_at DESC, id);",
        )
        .await
    }
}
