//! Orders from every channel in one model.
//!
//! - `orders`: one row per marketplace order of a store (external id unique per store), its
//!   normalized status next to the marketplace's own, the marketplace's update time (the version:
//!   an older one is never applied), buyer display name and city only (no contact details), exact
//!   money in minor units of the order's currency, and the lifecycle times.
//! - `order_items`: its lines, keyed by the platform's item and SKU ids, with the listing and
//!   variant they resolve to (or none: an unlinked line is kept and flagged).
//! - `order_events`: the append-only history of every status change, including updates refused as
//!   stale; the runtime role may only read and insert it.
//!
//! All three are tenant tables scoped to the store's branch.

use crate::sql::{run, tenant_policy};
use sea_orm_migration::prelude::*;

/// Orders, their lines and their history.
#[derive(DeriveMigrationName)]
pub struct Migration;

const STATUSES: &str = "'PENDING_PAYMENT', 'ON_HOLD', 'AWAITING_FULFILLMENT', 'PARTIALLY_SHIPPED', \
'READY_TO_SHIP', 'SHIPPED', 'DELIVERED', 'COMPLETED', 'CANCEL_REQUESTED', 'CANCELLED', 'RETURNING', \
'RETURNED', 'DELIVERY_FAILED', 'UNKNOWN'";

fn up() -> String {
    format!(
        r#"
CREATE TABLE orders (
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  id uuid PRIMARY KEY,
  branch_id uuid NOT NULL,
  store_id uuid NOT NULL,
  external_id text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 128),
  status text NOT NULL CHECK (status IN ({STATUSES})),
  raw_status text NOT NULL CHECK (length(raw_status) <= 200),
  -- The marketplace's update time of the version stored: an older version is never applied.
  marketplace_updated_at timestamptz NOT NULL,
  version bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
  buyer_name text CHECK (length(buyer_name) <= 200),
  ship_city text CHECK (length(ship_city) <= 200),
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{{3}}$'),
  -- Money in minor units of `currency`.
  subtotal_minor bigint,
  shipping_fee_minor bigint,
  seller_discount_minor bigint,
  platform_discount_minor bigint,
  tax_minor bigint,
  total_minor bigint NOT NULL,
  cod_amount_minor bigint,
  payment_method text CHECK (length(payment_method) <= 100),
  is_cod boolean NOT NULL DEFAULT false,
  fulfilled_by text NOT NULL DEFAULT 'SELLER' CHECK (fulfilled_by IN ('SELLER', 'MARKETPLACE')),
  placed_at timestamptz NOT NULL,
  paid_at timestamptz,
  ship_by timestamptz,
  shipped_at timestamptz,
  delivered_at timestamptz,
  cancelled_at timestamptz,
  cancel_reason text CHECK (length(cancel_reason) <= 500),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, id),
  -- Lines and events follow the order's branch when its store moves.
  UNIQUE (org_id, id, branch_id),
  UNIQUE (org_id, store_id, external_id),
  FOREIGN KEY (org_id, store_id, branch_id) REFERENCES stores (org_id, id, branch_id)
    ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX orders_org_updated_idx ON orders (org_id, marketplace_updated_at DESC, id);
CREATE INDEX orders_org_placed_idx ON orders (org_id, placed_at DESC, id);
CREATE INDEX orders_org_store_status_idx ON orders (org_id, store_id, status);
GRANT SELECT, INSERT, UPDATE ON orders TO mercato_app;

CREATE TABLE order_items (
  org_id uuid NOT NULL,
  id uuid PRIMARY KEY,
  order_id uuid NOT NULL,
  branch_id uuid NOT NULL,
  line_no integer NOT NULL CHECK (line_no >= 1),
  external_item_id text NOT NULL CHECK (length(external_item_id) BETWEEN 1 AND 128),
  external_sku_id text NOT NULL CHECK (length(external_sku_id) BETWEEN 1 AND 128),
  external_line_ids text[] NOT NULL DEFAULT '{{}}',
  seller_sku text CHECK (length(seller_sku) <= 200),
  name text NOT NULL CHECK (length(name) <= 500),
  quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000000),
  unit_price_minor bigint NOT NULL,
  discount_minor bigint NOT NULL DEFAULT 0,
  listing_id uuid,
  variant_id uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, order_id, external_item_id, external_sku_id),
  FOREIGN KEY (org_id, order_id, branch_id) REFERENCES orders (org_id, id, branch_id)
    ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX order_items_org_order_idx ON order_items (org_id, order_id, line_no);
CREATE INDEX order_items_unlinked_idx ON order_items (org_id, seller_sku) WHERE variant_id IS NULL;
GRANT SELECT, INSERT, UPDATE ON order_items TO mercato_app;

CREATE TABLE order_events (
  org_id uuid NOT NULL,
  id uuid PRIMARY KEY,
  order_id uuid NOT NULL,
  branch_id uuid NOT NULL,
  from_status text CHECK (from_status IN ({STATUSES})),
  to_status text NOT NULL CHECK (to_status IN ({STATUSES})),
  raw_status text NOT NULL CHECK (length(raw_status) <= 200),
  source text NOT NULL CHECK (source IN ('PULL', 'PUSH', 'USER', 'IMPORT')),
  marketplace_updated_at timestamptz NOT NULL,
  -- false: a stale update (older than the stored version), recorded and not applied.
  applied boolean NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (org_id, order_id, branch_id) REFERENCES orders (org_id, id, branch_id)
    ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX order_events_org_order_idx ON order_events (org_id, order_id, id);
-- Append-only: read and insert, nothing else.
GRANT SELECT, INSERT ON order_events TO mercato_app;
"#
    )
}

const GUARDS: &str = r#"
CREATE POLICY tenant_guard ON orders AS RESTRICTIVE FOR ALL
  USING (org_id = (SELECT app_org_id())) WITH CHECK (org_id = (SELECT app_org_id()));
CREATE POLICY tenant_guard ON order_items AS RESTRICTIVE FOR ALL
  USING (org_id = (SELECT app_org_id())) WITH CHECK (org_id = (SELECT app_org_id()));
CREATE POLICY tenant_guard ON order_events AS RESTRICTIVE FOR ALL
  USING (org_id = (SELECT app_org_id())) WITH CHECK (org_id = (SELECT app_org_id()));
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, &up()).await?;
        for t in ["orders", "order_items", "order_events"] {
            run(manager, &tenant_policy(t, Some("branch_id"))).await?;
        }
        run(manager, GUARDS).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(
            manager,
            "DROP TABLE IF EXISTS order_events; DROP TABLE IF EXISTS order_items; DROP TABLE IF EXISTS orders;",
        )
        .await
    }
}
