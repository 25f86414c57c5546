//! Catalog and inventory: products, variants (bundles too), prices per currency, cost history,
//! locations, inventory levels, the append-only stock ledger, reservations, idempotency records,
//! low-stock alerts and store listings.
//!
//! The guarantees that must hold whatever the application does live here as constraints:
//! `0 <= reserved <= on_hand` on every level (so nothing is ever reserved that is not there), SKU
//! unique per organization, one open alert per level, and the ledger is insert-only for the
//! runtime role (no UPDATE or DELETE grant).

use crate::sql::{run, tenant_policy};
use sea_orm_migration::prelude::*;

/// Creates the catalog and inventory tables.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE products (
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  id uuid PRIMARY KEY,
  name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 300),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 20000),
  status text NOT NULL DEFAULT 'DRAFT' CHECK (status IN ('DRAFT', 'ACTIVE', 'ARCHIVED')),
  attributes jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
  image_urls text[] NOT NULL DEFAULT '{}' CHECK (cardinality(image_urls) <= 20),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, id)
);
CREATE INDEX products_org_updated_idx ON products (org_id, updated_at, id);
CREATE INDEX products_org_name_idx ON products (org_id, lower(name) text_pattern_ops);

CREATE TABLE variants (
  org_id uuid NOT NULL,
  id uuid PRIMARY KEY,
  product_id uuid NOT NULL,
  sku text NOT NULL CHECK (length(sku) BETWEEN 1 AND 100 AND sku = btrim(sku)),
  name text NOT NULL DEFAULT '' CHECK (length(name) <= 300),
  attributes jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
  is_bundle boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, id),
  FOREIGN KEY (org_id, product_id) REFERENCES products (org_id, id) ON DELETE CASCADE
);
-- SKU unique per organization; two organizations may share one.
CREATE UNIQUE INDEX variants_org_sku_key ON variants (org_id, sku);
CREATE INDEX variants_org_product_idx ON variants (org_id, product_id);

CREATE TABLE variant_prices (
  org_id uuid NOT NULL,
  variant_id uuid NOT NULL,
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, variant_id, currency),
  FOREIGN KEY (org_id, variant_id) REFERENCES variants (org_id, id) ON DELETE CASCADE
);

-- Cost history: the current cost is the newest row per variant and currency.
CREATE TABLE variant_costs (
  org_id uuid NOT NULL,
  id uuid PRIMARY KEY,
  variant_id uuid NOT NULL,
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
  source text NOT NULL CHECK (source IN ('MANUAL', 'LEARNED')),
  note text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (org_id, variant_id) REFERENCES variants (org_id, id) ON DELETE CASCADE
);
CREATE INDEX variant_costs_current_idx ON variant_costs (org_id, variant_id, currency, created_at DESC);

CREATE TABLE bundle_components (
  org_id uuid NOT NULL,
  bundle_id uuid NOT NULL,
  component_id uuid NOT NULL,
  quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
  PRIMARY KEY (org_id, bundle_id, component_id),
  CHECK (bundle_id <> component_id),
  FOREIGN KEY (org_id, bundle_id) REFERENCES variants (org_id, id) ON DELETE CASCADE,
  FOREIGN KEY (org_id, component_id) REFERENCES variants (org_id, id) ON DELETE RESTRICT
);
CREATE INDEX bundle_components_component_idx ON bundle_components (org_id, component_id);

CREATE TABLE locations (
  org_id uuid NOT NULL,
  id uuid PRIMARY KEY,
  branch_id uuid NOT NULL,
  name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
  kind text NOT NULL CHECK (kind IN ('WAREHOUSE', 'THIRD_PARTY', 'MARKETPLACE')),
  -- Stock held by a marketplace (fulfilled by the platform) is read from it, never adjusted here.
  store_id uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, id),
  UNIQUE (org_id, id, branch_id),
  FOREIGN KEY (org_id, branch_id) REFERENCES branches (org_id, id) ON DELETE RESTRICT,
  FOREIGN KEY (org_id, store_id) REFERENCES stores (org_id, id) ON DELETE RESTRICT,
  CHECK ((kind = 'MARKETPLACE') = (store_id IS NOT NULL))
);
CREATE UNIQUE INDEX locations_org_branch_name_key ON locations (org_id, branch_id, lower(name));

CREATE TABLE inventory_levels (
  org_id uuid NOT NULL,
  variant_id uuid NOT NULL,
  location_id uuid NOT NULL,
  branch_id uuid NOT NULL,
  on_hand bigint NOT NULL DEFAULT 0,
  reserved bigint NOT NULL DEFAULT 0,
  safety_stock bigint NOT NULL DEFAULT 0 CHECK (safety_stock >= 0),
  reorder_point bigint CHECK (reorder_point >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, variant_id, location_id),
  FOREIGN KEY (org_id, variant_id) REFERENCES variants (org_id, id) ON DELETE RESTRICT,
  FOREIGN KEY (org_id, location_id, branch_id) REFERENCES locations (org_id, id, branch_id) ON DELETE RESTRICT,
  -- Never reserve what is not on hand, never go negative.
  CHECK (on_hand >= 0 AND reserved >= 0 AND reserved <= on_hand)
);
CREATE INDEX inventory_levels_location_idx ON inventory_levels (org_id, location_id);

-- The append-only ledger: every change of on_hand or reserved is one row. Levels always equal
-- the sums of their movements.
CREATE TABLE stock_movements (
  org_id uuid NOT NULL,
  id uuid PRIMARY KEY,
  variant_id uuid NOT NULL,
  location_id uuid NOT NULL,
  branch_id uuid NOT NULL,
  kind text NOT NULL CHECK (kind IN ('RECEIVE', 'ADJUST', 'COUNT', 'TRANSFER_OUT', 'TRANSFER_IN',
                                     'RESERVE', 'RELEASE', 'SHIP', 'RETURN')),
  on_hand_delta bigint NOT NULL,
  reserved_delta bigint NOT NULL,
  on_hand_after bigint NOT NULL,
  reserved_after bigint NOT NULL,
  actor_user_id uuid,
  actor_api_token_id uuid,
  reason text NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
  document_type text CHECK (document_type IN ('IMPORT_ROW', 'ORDER_LINE', 'COUNT_SESSION',
                                              'TRANSFER', 'RESERVATION', 'MANUAL')),
  document_id text CHECK (length(document_id) <= 200),
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (org_id, variant_id, location_id)
    REFERENCES inventory_levels (org_id, variant_id, location_id) ON DELETE RESTRICT,
  FOREIGN KEY (org_id, location_id, branch_id) REFERENCES locations (org_id, id, branch_id),
  CHECK (on_hand_delta <> 0 OR reserved_delta <> 0 OR kind = 'COUNT')
);
CREATE INDEX stock_movements_history_idx ON stock_movements (org_id, variant_id, location_id, created_at, id);

-- Idempotency of stock mutations: the first request's result is kept per key.
CREATE TABLE stock_requests (
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
  operation text NOT NULL,
  request_hash bytea NOT NULL CHECK (length(request_hash) = 32),
  response jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, idempotency_key)
);

CREATE TABLE reservations (
  org_id uuid NOT NULL,
  id uuid PRIMARY KEY,
  variant_id uuid NOT NULL,
  location_id uuid NOT NULL,
  branch_id uuid NOT NULL,
  quantity bigint NOT NULL CHECK (quantity > 0),
  status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'RELEASED', 'COMMITTED', 'EXPIRED')),
  reference_type text NOT NULL CHECK (reference_type IN ('ORDER_LINE', 'CART', 'PROMOTION')),
  reference_id text NOT NULL CHECK (length(reference_id) BETWEEN 1 AND 200),
  -- A bundle reservation is a parent row with one child per component (the children hold stock).
  parent_id uuid REFERENCES reservations (id) ON DELETE CASCADE,
  expires_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, id),
  FOREIGN KEY (org_id, variant_id) REFERENCES variants (org_id, id) ON DELETE RESTRICT,
  FOREIGN KEY (org_id, location_id, branch_id) REFERENCES locations (org_id, id, branch_id) ON DELETE RESTRICT
);
CREATE INDEX reservations_expiry_idx ON reservations (expires_at) WHERE status = 'ACTIVE' AND expires_at IS NOT NULL;
CREATE INDEX reservations_reference_idx ON reservations (org_id, reference_type, reference_id);

CREATE TABLE stock_alerts (
  org_id uuid NOT NULL,
  id uuid PRIMARY KEY,
  variant_id uuid NOT NULL,
  location_id uuid NOT NULL,
  branch_id uuid NOT NULL,
  available bigint NOT NULL,
  reorder_point bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  resolved_at timestamptz,
  FOREIGN KEY (org_id, variant_id, location_id)
    REFERENCES inventory_levels (org_id, variant_id, location_id) ON DELETE CASCADE,
  FOREIGN KEY (org_id, location_id, branch_id) REFERENCES locations (org_id, id, branch_id)
);
-- One open alert per level: created once when available falls to the reorder point.
CREATE UNIQUE INDEX stock_alerts_open_key ON stock_alerts (org_id, variant_id, location_id) WHERE resolved_at IS NULL;

-- A listing lives in its store's branch, and follows the store when it moves.
ALTER TABLE stores ADD CONSTRAINT stores_org_id_branch_key UNIQUE (org_id, id, branch_id);

CREATE TABLE listings (
  org_id uuid NOT NULL,
  id uuid PRIMARY KEY,
  store_id uuid NOT NULL,
  branch_id uuid NOT NULL,
  variant_id uuid NOT NULL,
  external_item_id text CHECK (length(external_item_id) <= 128),
  external_model_id text CHECK (length(external_model_id) <= 128),
  external_sku text CHECK (length(external_sku) <= 128),
  price_minor bigint CHECK (price_minor >= 0),
  currency text CHECK (currency ~ '^[A-Z]{3}$'),
  status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'PAUSED', 'ARCHIVED')),
  alloc_percent integer NOT NULL DEFAULT 100 CHECK (alloc_percent BETWEEN 0 AND 100),
  alloc_max bigint CHECK (alloc_max >= 0),
  alloc_buffer bigint NOT NULL DEFAULT 0 CHECK (alloc_buffer >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, id),
  FOREIGN KEY (org_id, store_id, branch_id) REFERENCES stores (org_id, id, branch_id)
    ON UPDATE CASCADE ON DELETE CASCADE,
  FOREIGN KEY (org_id, variant_id) REFERENCES variants (org_id, id) ON DELETE CASCADE,
  CHECK ((price_minor IS NULL) = (currency IS NULL))
);
CREATE UNIQUE INDEX listings_store_variant_key ON listings (org_id, store_id, variant_id);

GRANT SELECT, INSERT, UPDATE, DELETE ON products, variants, variant_prices, bundle_components, listings TO mercato_app;
GRANT SELECT, INSERT, UPDATE ON locations, inventory_levels, reservations, stock_alerts TO mercato_app;
-- History tables are insert-only for the runtime role.
GRANT SELECT, INSERT ON variant_costs, stock_movements, stock_requests TO mercato_app;
-- The first request of a key records its result once it is known.
GRANT UPDATE (response) ON stock_requests TO mercato_app;
"#;

const DOWN: &str = r#"
DROP TABLE IF EXISTS listings, stock_alerts, reservations, stock_requests, stock_movements,
  inventory_levels, locations, bundle_components, variant_costs, variant_prices, variants,
  products CASCADE;
ALTER TABLE stores DROP CONSTRAINT IF EXISTS stores_org_id_branch_key;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await?;
        for table in [
            "products",
            "variants",
            "variant_prices",
            "variant_costs",
            "bundle_components",
            "stock_requests",
        ] {
            run(manager, &tenant_policy(table, None)).await?;
        }
        for table in [
            "locations",
            "inventory_levels",
            "stock_movements",
            "reservations",
            "stock_alerts",
            "listings",
        ] {
            run(manager, &tenant_policy(table, Some("branch_id"))).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await
    }
}
