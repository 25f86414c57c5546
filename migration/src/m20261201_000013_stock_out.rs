//! Stock out: listings read from the marketplaces and linked to the catalog, and a queue of
//! listings whose stock must be pushed.
//!
//! - `listings` may now be unlinked (`variant_id` NULL): a marketplace SKU no variant claims
//!   (`UNLINKED`) or that two variants claim (`AMBIGUOUS`, never guessed). `link_manual` marks a
//!   seller's own link or unlink, which product syncs leave alone. Each listing keeps what the
//!   platform last showed (name, status, stock, warehouse) and what was last pushed to it
//!   (quantity, when, the acknowledgement or the error).
//! - `stock_push_queue`: one row per listing whose push quantity may have changed, written by
//!   triggers in the transaction that changed it (a level's available stock, a listing's rule,
//!   status or link, a bundle's composition), so no code path can forget it and nothing is queued
//!   for work that rolls back. Rows are only ever appended by those transactions, so stock writers
//!   never wait on each other here. Like `job_dispatch`, it holds ids and times only and lives
//!   outside row-level security: a worker must find pending pushes of every organization. The
//!   runtime role has no privilege on it; it reaches it through `claim_stock_pushes` (which
//!   stores have pending pushes, for the dispatcher) and, inside a tenant transaction,
//!   `pending_stock_pushes` / `finish_stock_pushes` / `request_stock_pushes`, which only see the
//!   current organization's rows.

use crate::sql::run;
use sea_orm_migration::prelude::*;

/// Listing link and push state, the push queue and its triggers.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE listings
  ALTER COLUMN variant_id DROP NOT NULL,
  ADD COLUMN link_status text NOT NULL DEFAULT 'LINKED'
    CHECK (link_status IN ('LINKED', 'UNLINKED', 'AMBIGUOUS')),
  ADD COLUMN link_manual boolean NOT NULL DEFAULT false,
  ADD COLUMN external_location text CHECK (length(external_location) <= 128),
  ADD COLUMN name text CHECK (length(name) <= 500),
  ADD COLUMN platform_status text CHECK (length(platform_status) <= 64),
  ADD COLUMN platform_stock bigint,
  ADD COLUMN seen_at timestamptz,
  ADD COLUMN pushed_quantity bigint CHECK (pushed_quantity >= 0),
  ADD COLUMN pushed_at timestamptz,
  ADD COLUMN push_ack text CHECK (length(push_ack) <= 500),
  ADD COLUMN push_error text CHECK (length(push_error) <= 500),
  ADD COLUMN push_failed_at timestamptz,
  ADD COLUMN checked_at timestamptz,
  ADD CONSTRAINT listings_link_shape CHECK ((variant_id IS NOT NULL) = (link_status = 'LINKED'));
DROP INDEX listings_store_variant_key;
-- A listing made by hand without platform ids: one per store and variant, as before.
CREATE UNIQUE INDEX listings_store_variant_key ON listings (org_id, store_id, variant_id)
  WHERE external_item_id IS NULL;
-- A platform listing: one per store, item and model (a marketplace may list one SKU twice).
CREATE UNIQUE INDEX listings_store_external_key
  ON listings (org_id, store_id, external_item_id, (COALESCE(external_model_id, '')))
  WHERE external_item_id IS NOT NULL;
CREATE INDEX listings_variant_idx ON listings (org_id, variant_id, branch_id) WHERE variant_id IS NOT NULL;
CREATE INDEX listings_link_idx ON listings (org_id, store_id, link_status, id);
CREATE INDEX variants_sku_norm_idx ON variants (org_id, lower(btrim(sku)));

CREATE TABLE stock_push_queue (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id uuid NOT NULL,
  store_id uuid NOT NULL,
  listing_id uuid NOT NULL,
  requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  dispatched_at timestamptz
);
CREATE INDEX stock_push_queue_store_idx ON stock_push_queue (org_id, store_id, id);
CREATE INDEX stock_push_queue_undispatched_idx ON stock_push_queue (id) WHERE dispatched_at IS NULL;
ALTER TABLE stock_push_queue ENABLE ROW LEVEL SECURITY;
ALTER TABLE stock_push_queue FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON stock_push_queue FOR ALL
  USING (current_user <> 'mercato_app') WITH CHECK (current_user <> 'mercato_app');
REVOKE ALL ON stock_push_queue FROM PUBLIC;

-- Levels: a change of available stock at an own or 3PL location queues every listing of the
-- variant, and of each bundle made from it, in the level's branch.
CREATE FUNCTION stock_push_levels() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  WITH ch AS (
    SELECT DISTINCT n.org_id, n.variant_id, n.branch_id
    FROM new_levels n
    JOIN old_levels o ON o.org_id = n.org_id AND o.variant_id = n.variant_id AND o.location_id = n.location_id
    WHERE (n.on_hand - n.reserved - n.safety_stock IS DISTINCT FROM o.on_hand - o.reserved - o.safety_stock
           OR n.branch_id IS DISTINCT FROM o.branch_id)
      AND EXISTS (SELECT 1 FROM locations loc WHERE loc.org_id = n.org_id AND loc.id = n.location_id
                    AND loc.kind <> 'MARKETPLACE')),
  v AS (
    SELECT org_id, variant_id, branch_id FROM ch
    UNION
    SELECT ch.org_id, bc.bundle_id, ch.branch_id FROM ch
    JOIN bundle_components bc ON bc.org_id = ch.org_id AND bc.component_id = ch.variant_id)
  INSERT INTO stock_push_queue (org_id, store_id, listing_id)
  SELECT l.org_id, l.store_id, l.id
  FROM v JOIN listings l ON l.org_id = v.org_id AND l.variant_id = v.variant_id AND l.branch_id = v.branch_id;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION stock_push_levels() FROM PUBLIC;
CREATE TRIGGER inventory_levels_push AFTER UPDATE ON inventory_levels
  REFERENCING OLD TABLE AS old_levels NEW TABLE AS new_levels
  FOR EACH STATEMENT EXECUTE FUNCTION stock_push_levels();

-- Listings: created linked, or a change of what decides the quantity or where it goes.
CREATE FUNCTION stock_push_listing() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF NEW.variant_id IS NOT NULL THEN
    INSERT INTO stock_push_queue (org_id, store_id, listing_id) VALUES (NEW.org_id, NEW.store_id, NEW.id);
  END IF;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION stock_push_listing() FROM PUBLIC;
CREATE TRIGGER listings_push_insert AFTER INSERT ON listings
  FOR EACH ROW EXECUTE FUNCTION stock_push_listing();
CREATE TRIGGER listings_push_update AFTER UPDATE ON listings
  FOR EACH ROW WHEN (OLD.variant_id IS DISTINCT FROM NEW.variant_id
    OR OLD.status IS DISTINCT FROM NEW.status
    OR OLD.alloc_percent IS DISTINCT FROM NEW.alloc_percent
    OR OLD.alloc_max IS DISTINCT FROM NEW.alloc_max
    OR OLD.alloc_buffer IS DISTINCT FROM NEW.alloc_buffer
    OR OLD.branch_id IS DISTINCT FROM NEW.branch_id
    OR OLD.external_item_id IS DISTINCT FROM NEW.external_item_id
    OR OLD.external_model_id IS DISTINCT FROM NEW.external_model_id
    OR OLD.external_location IS DISTINCT FROM NEW.external_location)
  EXECUTE FUNCTION stock_push_listing();

-- Bundles: a change of composition queues the bundle's listings.
CREATE FUNCTION stock_push_bundle() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  o uuid;
  b uuid;
BEGIN
  IF TG_OP = 'DELETE' THEN
    o := OLD.org_id; b := OLD.bundle_id;
  ELSE
    o := NEW.org_id; b := NEW.bundle_id;
  END IF;
  INSERT INTO stock_push_queue (org_id, store_id, listing_id)
  SELECT l.org_id, l.store_id, l.id FROM listings l WHERE l.org_id = o AND l.variant_id = b;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION stock_push_bundle() FROM PUBLIC;
CREATE TRIGGER bundle_components_push AFTER INSERT OR UPDATE OR DELETE ON bundle_components
  FOR EACH ROW EXECUTE FUNCTION stock_push_bundle();

-- The dispatcher: stores with pushes not handed out yet (or handed out more than
-- `redispatch_after` ago and still pending), marked as handed out now. Several dispatchers may
-- call it at once: each row goes to one of them.
CREATE FUNCTION claim_stock_pushes(max_rows integer, redispatch_after interval)
  RETURNS TABLE (org_id uuid, store_id uuid)
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH due AS (
    SELECT q.id FROM stock_push_queue q
    WHERE q.dispatched_at IS NULL OR q.dispatched_at < now() - redispatch_after
    ORDER BY q.id LIMIT least(greatest(max_rows, 1), 100000)
    FOR UPDATE SKIP LOCKED),
  handed AS (
    UPDATE stock_push_queue q SET dispatched_at = now() FROM due WHERE q.id = due.id
    RETURNING q.org_id, q.store_id)
  SELECT DISTINCT handed.org_id, handed.store_id FROM handed
$$;

-- Inside a tenant transaction: the organization's pending pushes of one store.
CREATE FUNCTION pending_stock_pushes(store uuid)
  RETURNS TABLE (id bigint, listing_id uuid)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT q.id, q.listing_id FROM stock_push_queue q
  WHERE q.org_id = (SELECT app_org_id()) AND q.store_id = store
  ORDER BY q.id LIMIT 100000
$$;

-- Inside a tenant transaction: the pushes of `done` up to `upto` were sent (or need none).
CREATE FUNCTION finish_stock_pushes(store uuid, upto bigint, done uuid[])
  RETURNS bigint
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH d AS (
    DELETE FROM stock_push_queue q
    WHERE q.org_id = (SELECT app_org_id()) AND q.store_id = store AND q.id <= upto
      AND q.listing_id = ANY (done)
    RETURNING 1)
  SELECT count(*) FROM d
$$;

-- Inside a tenant transaction: queue a push of these linked listings (those the caller sees).
CREATE FUNCTION request_stock_pushes(wanted uuid[])
  RETURNS bigint
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH i AS (
    INSERT INTO stock_push_queue (org_id, store_id, listing_id)
    SELECT l.org_id, l.store_id, l.id FROM listings l
    WHERE l.id = ANY (wanted) AND l.variant_id IS NOT NULL AND l.org_id = (SELECT app_org_id())
    RETURNING 1)
  SELECT count(*) FROM i
$$;

REVOKE ALL ON FUNCTION claim_stock_pushes(integer, interval), pending_stock_pushes(uuid),
  finish_stock_pushes(uuid, bigint, uuid[]), request_stock_pushes(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION claim_stock_pushes(integer, interval), pending_stock_pushes(uuid),
  finish_stock_pushes(uuid, bigint, uuid[]), request_stock_pushes(uuid[]) TO mercato_app;

-- At most one queued push job per store is what the dispatcher keeps; finding it is indexed.
CREATE INDEX jobs_stock_push_queued_idx ON jobs (org_id, store_id)
  WHERE kind = 'STOCK_PUSH' AND status = 'QUEUED';

ALTER TABLE sync_schedules DROP CONSTRAINT sync_schedules_kind_check;
ALTER TABLE sync_schedules ADD CONSTRAINT sync_schedules_kind_check
  CHECK (kind IN ('ORDERS', 'PAYOUTS', 'TOKEN_REFRESH', 'RETURN_SLA', 'PRODUCTS', 'STOCK_DRIFT'));
"#;

const DOWN: &str = r#"
DELETE FROM sync_schedules WHERE kind IN ('PRODUCTS', 'STOCK_DRIFT');
ALTER TABLE sync_schedules DROP CONSTRAINT sync_schedules_kind_check;
ALTER TABLE sync_schedules ADD CONSTRAINT sync_schedules_kind_check
  CHECK (kind IN ('ORDERS', 'PAYOUTS', 'TOKEN_REFRESH', 'RETURN_SLA'));
DROP INDEX IF EXISTS jobs_stock_push_queued_idx;
DROP TRIGGER IF EXISTS bundle_components_push ON bundle_components;
DROP TRIGGER IF EXISTS listings_push_update ON listings;
DROP TRIGGER IF EXISTS listings_push_insert ON listings;
DROP TRIGGER IF EXISTS inventory_levels_push ON inventory_levels;
DROP FUNCTION IF EXISTS claim_stock_pushes(integer, interval), pending_stock_pushes(uuid),
  finish_stock_pushes(uuid, bigint, uuid[]), request_stock_pushes(uuid[]), stock_push_bundle(),
  stock_push_listing(), stock_push_levels();
DROP TABLE IF EXISTS stock_push_queue;
DROP INDEX IF EXISTS variants_sku_norm_idx;
DROP INDEX IF EXISTS listings_link_idx;
DROP INDEX IF EXISTS listings_variant_idx;
DROP INDEX IF EXISTS listings_store_external_key;
DROP INDEX IF EXISTS listings_store_variant_key;
DELETE FROM listings WHERE variant_id IS NULL;
DELETE FROM listings a USING listings b
  WHERE a.org_id = b.org_id AND a.store_id = b.store_id AND a.variant_id = b.variant_id AND a.id > b.id;
CREATE UNIQUE INDEX listings_store_variant_key ON listings (org_id, store_id, variant_id);
ALTER TABLE listings DROP CONSTRAINT IF EXISTS listings_link_shape,
  DROP COLUMN IF EXISTS link_status, DROP COLUMN IF EXISTS link_manual,
  DROP COLUMN IF EXISTS external_location, DROP COLUMN IF EXISTS name,
  DROP COLUMN IF EXISTS platform_status, DROP COLUMN IF EXISTS platform_stock,
  DROP COLUMN IF EXISTS seen_at, DROP COLUMN IF EXISTS pushed_quantity,
  DROP COLUMN IF EXISTS pushed_at, DROP COLUMN IF EXISTS push_ack, DROP COLUMN IF EXISTS push_error,
  DROP COLUMN IF EXISTS push_failed_at, DROP COLUMN IF EXISTS checked_at,
  ALTER COLUMN variant_id SET NOT NULL;
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
