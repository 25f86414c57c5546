//! Durable jobs, sync records and per-store schedules (DESIGN §7).
//!
//! `jobs` is the record of every background job, tenant-scoped under RLS like any other table.
//! Workers find work through Redis, but Redis may lose it (flush, restart), so something must be
//! able to find due jobs of *every* organization. That is `job_dispatch`: the one table outside
//! row-level security, holding only opaque ids and times (job id, organization id, when due, when
//! last handed to Redis). The runtime role has no privilege on it at all; a trigger on `jobs`
//! (SECURITY DEFINER, owned by the owner role) keeps it in step, and the runtime role reaches it
//! only through `claim_due_jobs`, which returns (org, job) pairs that are due and not recently
//! dispatched. No tenant data can be read through it; a worker then opens the organization's
//! tenant transaction and sees the job only through RLS.

use crate::sql::{run, tenant_policy};
use sea_orm_migration::prelude::*;

/// Creates jobs, job_dispatch, sync_runs, sync_items, sync_logs and sync_schedules.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE jobs (
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  id uuid PRIMARY KEY,
  -- Visibility: members see the jobs of their branches; NULL = organization-wide (OWNER/ADMIN).
  branch_id uuid,
  store_id uuid,
  kind text NOT NULL CHECK (kind ~ '^[A-Z][A-Z0-9_]{1,39}$'),
  payload jsonb NOT NULL DEFAULT '{}'::jsonb,
  idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
  status text NOT NULL DEFAULT 'QUEUED'
    CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'DEAD', 'CANCELLED')),
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts integer NOT NULL CHECK (max_attempts >= 1),
  run_at timestamptz NOT NULL DEFAULT now(),
  -- Lease: who runs it and until when; lease_token grows with every claim and fences completion.
  lease_owner text,
  lease_until timestamptz,
  lease_token bigint NOT NULL DEFAULT 0,
  cancel_requested boolean NOT NULL DEFAULT false,
  last_error text,
  schedule_id uuid,
  slot_at timestamptz,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, id),
  FOREIGN KEY (org_id, branch_id) REFERENCES branches (org_id, id) ON DELETE CASCADE,
  FOREIGN KEY (org_id, store_id) REFERENCES stores (org_id, id) ON DELETE CASCADE,
  CHECK ((status = 'RUNNING') = (lease_until IS NOT NULL AND lease_owner IS NOT NULL)),
  CHECK ((status IN ('SUCCEEDED', 'DEAD', 'CANCELLED')) = (finished_at IS NOT NULL))
);
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (org_id, kind, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_org_created_idx ON jobs (org_id, created_at DESC, id DESC);
CREATE INDEX jobs_store_running_idx ON jobs (org_id, store_id) WHERE status = 'RUNNING';
CREATE INDEX jobs_schedule_queued_idx ON jobs (org_id, schedule_id) WHERE status = 'QUEUED';

CREATE TABLE job_dispatch (
  job_id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  due_at timestamptz NOT NULL,
  dispatched_at timestamptz
);
CREATE INDEX job_dispatch_due_idx ON job_dispatch (due_at);
-- Outside RLS by design (see the module comment); the runtime role gets nothing on it.
ALTER TABLE job_dispatch ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_dispatch FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON job_dispatch FOR ALL
  USING (current_user <> 'mercato_app') WITH CHECK (current_user <> 'mercato_app');
REVOKE ALL ON job_dispatch FROM PUBLIC;

-- QUEUED: due at run_at; a job due now was handed to Redis by the transaction that queued it
-- (dispatched now), a later one is for the reconciler. RUNNING: due when its lease expires (a
-- crashed worker's job is re-dispatched then). Finished: nothing to dispatch.
CREATE FUNCTION job_dispatch_track() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM job_dispatch WHERE job_id = OLD.id;
  ELSIF NEW.status = 'QUEUED' THEN
    INSERT INTO job_dispatch (job_id, org_id, due_at, dispatched_at)
    VALUES (NEW.id, NEW.org_id, NEW.run_at, CASE WHEN NEW.run_at <= now() THEN now() END)
    ON CONFLICT (job_id) DO UPDATE
      SET due_at = EXCLUDED.due_at, dispatched_at = EXCLUDED.dispatched_at;
  ELSIF NEW.status = 'RUNNING' THEN
    INSERT INTO job_dispatch (job_id, org_id, due_at, dispatched_at)
    VALUES (NEW.id, NEW.org_id, NEW.lease_until, NULL)
    ON CONFLICT (job_id) DO UPDATE SET due_at = EXCLUDED.due_at, dispatched_at = NULL;
  ELSE
    DELETE FROM job_dispatch WHERE job_id = NEW.id;
  END IF;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION job_dispatch_track() FROM PUBLIC;
CREATE TRIGGER jobs_dispatch AFTER INSERT OR DELETE OR UPDATE OF status, run_at, lease_until
  ON jobs FOR EACH ROW EXECUTE FUNCTION job_dispatch_track();

-- Due jobs not handed to Redis within `redispatch_after`, marked as handed now. Several
-- reconcilers may call it at once: each due job goes to one of them.
CREATE FUNCTION claim_due_jobs(max_jobs integer, redispatch_after interval)
  RETURNS TABLE (org_id uuid, job_id uuid)
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  UPDATE job_dispatch d SET dispatched_at = now()
  FROM (SELECT job_id FROM job_dispatch
        WHERE due_at <= now() AND (dispatched_at IS NULL OR dispatched_at < now() - redispatch_after)
        ORDER BY due_at LIMIT least(greatest(max_jobs, 1), 10000)
        FOR UPDATE SKIP LOCKED) due
  WHERE d.job_id = due.job_id
  RETURNING d.org_id, d.job_id
$$;
REVOKE ALL ON FUNCTION claim_due_jobs(integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION claim_due_jobs(integer, interval) TO mercato_app;

CREATE TABLE sync_runs (
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  id uuid PRIMARY KEY,
  job_id uuid NOT NULL,
  branch_id uuid,
  store_id uuid,
  kind text NOT NULL CHECK (kind ~ '^[A-Z][A-Z0-9_]{1,39}$'),
  status text NOT NULL DEFAULT 'QUEUED'
    CHECK (status IN ('QUEUED', 'RUNNING', 'RETRYING', 'SUCCEEDED', 'SKIPPED', 'DEAD', 'CANCELLED')),
  attempt integer NOT NULL DEFAULT 0,
  progress smallint NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
  fetched integer NOT NULL DEFAULT 0,
  created integer NOT NULL DEFAULT 0,
  updated integer NOT NULL DEFAULT 0,
  skipped integer NOT NULL DEFAULT 0,
  failed integer NOT NULL DEFAULT 0,
  message text,
  last_error text,
  -- Grows with every change; subscribers order events by it.
  version bigint NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, id),
  UNIQUE (job_id),
  FOREIGN KEY (org_id, job_id) REFERENCES jobs (org_id, id) ON DELETE CASCADE,
  FOREIGN KEY (org_id, branch_id) REFERENCES branches (org_id, id) ON DELETE CASCADE,
  FOREIGN KEY (org_id, store_id) REFERENCES stores (org_id, id) ON DELETE CASCADE
);
CREATE INDEX sync_runs_store_idx ON sync_runs (org_id, store_id, created_at DESC, id DESC);
CREATE INDEX sync_runs_org_idx ON sync_runs (org_id, created_at DESC, id DESC);

CREATE TABLE sync_items (
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  id uuid PRIMARY KEY,
  run_id uuid NOT NULL,
  branch_id uuid,
  entity text NOT NULL CHECK (length(entity) BETWEEN 1 AND 40),
  external_key text NOT NULL CHECK (length(external_key) BETWEEN 1 AND 200),
  action text NOT NULL CHECK (action IN ('FETCHED', 'CREATED', 'UPDATED', 'SKIPPED', 'FAILED')),
  message text,
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (org_id, run_id) REFERENCES sync_runs (org_id, id) ON DELETE CASCADE
);
CREATE INDEX sync_items_run_idx ON sync_items (org_id, run_id, id);

CREATE TABLE sync_logs (
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  id uuid PRIMARY KEY,
  run_id uuid NOT NULL,
  branch_id uuid,
  attempt integer NOT NULL,
  level text NOT NULL CHECK (level IN ('INFO', 'WARN', 'ERROR')),
  message text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (org_id, run_id) REFERENCES sync_runs (org_id, id) ON DELETE CASCADE
);
CREATE INDEX sync_logs_run_idx ON sync_logs (org_id, run_id, id);

CREATE TABLE sync_schedules (
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  id uuid PRIMARY KEY,
  branch_id uuid NOT NULL,
  store_id uuid NOT NULL,
  kind text NOT NULL CHECK (kind IN ('ORDERS', 'PAYOUTS', 'TOKEN_REFRESH', 'RETURN_SLA')),
  every_seconds integer CHECK (every_seconds BETWEEN 1 AND 2678400),
  cron text CHECK (length(cron) BETWEEN 1 AND 120),
  enabled boolean NOT NULL DEFAULT true,
  next_run_at timestamptz,
  last_run_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, id),
  UNIQUE (org_id, store_id, kind),
  CHECK ((every_seconds IS NULL) <> (cron IS NULL)),
  FOREIGN KEY (org_id, branch_id) REFERENCES branches (org_id, id) ON DELETE CASCADE,
  FOREIGN KEY (org_id, store_id) REFERENCES stores (org_id, id) ON DELETE CASCADE
);

GRANT SELECT, INSERT, UPDATE ON jobs, sync_runs, sync_schedules TO mercato_app;
GRANT SELECT, INSERT ON sync_items, sync_logs TO mercato_app;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await?;
        for table in [
            "jobs",
            "sync_runs",
            "sync_items",
            "sync_logs",
            "sync_schedules",
        ] {
            run(manager, &tenant_policy(table, Some("branch_id"))).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(
            manager,
            "DROP TABLE IF EXISTS sync_schedules, sync_logs, sync_items, sync_runs, job_dispatch, jobs CASCADE;\n\
             DROP FUNCTION IF EXISTS claim_due_jobs(integer, interval);\n\
             DROP FUNCTION IF EXISTS job_dispatch_track();\n",
        )
        .await
    }
}
