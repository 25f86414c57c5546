//! Invariants over the database catalog: every table is under forced RLS with tenant policies, and

#![allow(clippy::unwrap_used, missing_docs)]
//! the runtime role cannot get around them.

use mercato_tests::*;

#[tokio::test]
async fn every_table_has_forced_rls_and_tenant_tables_have_full_policies() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let unprotected = rows_as(
        &owner,
        &[],
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'seaql_migrations'
           AND NOT (c.relrowsecurity AND c.relforcerowsecurity)",
    )
    .await
    .unwrap();
    assert!(
        unprotected.is_empty(),
        "tables without forced RLS: {unprotected:?}"
    );

    let without_policy = rows_as(
        &owner,
        &[],
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'seaql_migrations'
           AND NOT EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname)",
    )
    .await
    .unwrap();
    assert!(
        without_policy.is_empty(),
        "tables without policies: {without_policy:?}"
    );

    // Every table with an org_id column has a FOR ALL policy with USING and WITH CHECK on the tenant.
    let weak = rows_as(
        &owner,
        &[],
        "SELECT t.table_name::text FROM information_schema.columns t
         WHERE t.table_schema = 'public' AND t.column_name = 'org_id'
           -- The job dispatch index holds only ids and times for the reconciler, and the shop
           -- registry only (platform, shop id, organization) so one shop belongs to one
           -- organization, and the stock push queue only (organization, store, listing, times)
           -- for the push dispatcher; all are closed to the runtime role entirely (asserted below).
           AND t.table_name NOT IN ('job_dispatch', 'shop_claims', 'stock_push_queue', 'webhook_dispatch')
           AND NOT EXISTS (SELECT 1 FROM pg_policies p
                           WHERE p.schemaname = 'public' AND p.tablename = t.table_name AND p.cmd = 'ALL'
                             AND p.qual LIKE '%app_org_id()%' AND p.with_check LIKE '%app_org_id()%')",
    )
    .await
    .unwrap();
    assert!(
        weak.is_empty(),
        "org_id tables without a full tenant policy: {weak:?}"
    );

    let tenant_tables = rows_as(&owner, &[], "SELECT count(DISTINCT table_name)::text FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'org_id'")
        .await
        .unwrap();
    assert!(
        tenant_tables[0].parse::<u32>().unwrap() >= 5,
        "expected the tenancy tables to exist"
    );
}

#[tokio::test]
async fn the_job_dispatch_index_is_closed_to_the_runtime_role() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let privileges = rows_as(
        &owner,
        &[],
        "SELECT count(*)::text FROM information_schema.role_table_grants WHERE table_name = 'job_dispatch' AND grantee IN ('mercato_app', 'PUBLIC')",
    )
    .await
    .unwrap();
    assert_eq!(privileges, vec!["0"]);
    let columns = rows_as(
        &owner,
        &[],
        "SELECT string_agg(column_name::text, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'job_dispatch'",
    )
    .await
    .unwrap();
    assert_eq!(
        columns,
        vec!["job_id,org_id,due_at,dispatched_at"],
        "ids and times only"
    );
    let rt = app.runtime().await;
    for sql in [
        "SELECT count(*)::text FROM job_dispatch",
        "DELETE FROM job_dispatch RETURNING job_id::text",
        "SELECT job_dispatch_track()::text",
    ] {
        let e = rows_as(&rt, &[], sql).await.unwrap_err();
        assert!(e.contains("permission denied"), "{sql}: {e}");
    }
    // What the runtime role can do: ask for due (org, job) pairs.
    let due = rows_as(
        &rt,
        &[],
        "SELECT count(*)::text FROM claim_due_jobs(10, interval '1 second')",
    )
    .await
    .unwrap();
    assert_eq!(due, vec!["0"]);
}

#[tokio::test]
async fn the_stock_push_queue_is_closed_to_the_runtime_role() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let privileges = rows_as(
        &owner,
        &[],
        "SELECT count(*)::text FROM information_schema.role_table_grants WHERE table_name = 'stock_push_queue' AND grantee IN ('mercato_app', 'PUBLIC')",
    )
    .await
    .unwrap();
    assert_eq!(privileges, vec!["0"]);
    let columns = rows_as(
        &owner,
        &[],
        "SELECT string_agg(column_name::text, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'stock_push_queue'",
    )
    .await
    .unwrap();
    assert_eq!(
        columns,
        vec!["id,org_id,store_id,listing_id,requested_at,dispatched_at"],
        "ids and times only"
    );
    let rt = app.runtime().await;
    for sql in [
        "SELECT count(*)::text FROM stock_push_queue",
        "DELETE FROM stock_push_queue RETURNING id::text",
        "INSERT INTO stock_push_queue (org_id, store_id, listing_id) VALUES (gen_random_uuid(), gen_random_uuid(), gen_random_uuid()) RETURNING id::text",
        "SELECT stock_push_levels()::text",
    ] {
        let e = rows_as(&rt, &[], sql).await.unwrap_err();
        assert!(e.contains("permission denied"), "{sql}: {e}");
    }
    // Without a tenant context the tenant-side functions see and change nothing.
    for sql in [
        "SELECT count(*)::text FROM pending_stock_pushes(gen_random_uuid())",
        "SELECT finish_stock_pushes(gen_random_uuid(), 9223372036854775807, ARRAY[gen_random_uuid()])::text",
        "SELECT request_stock_pushes(ARRAY[gen_random_uuid()])::text",
        "SELECT count(*)::text FROM claim_stock_pushes(10, interval '1 second')",
    ] {
        assert_eq!(rows_as(&rt, &[], sql).await.unwrap(), vec!["0"], "{sql}");
    }
}

#[tokio::test]
async fn the_shop_registry_is_closed_to_the_runtime_role() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let privileges = rows_as(
        &owner,
        &[],
        "SELECT count(*)::text FROM information_schema.role_table_grants WHERE table_name = 'shop_claims' AND grantee IN ('mercato_app', 'PUBLIC')",
    )
    .await
    .unwrap();
    assert_eq!(privileges, vec!["0"]);
    let columns = rows_as(
        &owner,
        &[],
        "SELECT string_agg(column_name::text, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'shop_claims'",
    )
    .await
    .unwrap();
    assert_eq!(
        columns,
        vec!["platform,external_shop_id,org_id"],
        "platform, shop and organization only"
    );
    let rt = app.runtime().await;
    for sql in [
        "SELECT count(*)::text FROM shop_claims",
        "INSERT INTO shop_claims VALUES ('SHOPEE', '1', gen_random_uuid()) RETURNING org_id::text",
        "DELETE FROM shop_claims RETURNING org_id::text",
        "SELECT stores_claim_shop()::text",
    ] {
        let e = rows_as(&rt, &[], sql).await.unwrap_err();
        assert!(e.contains("permission denied"), "{sql}: {e}");
    }
}

#[tokio::test]
async fn runtime_role_is_not_privileged_and_owns_nothing() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let attrs = rows_as(
        &owner,
        &[],
        "SELECT concat_ws(',', rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolcanlogin) FROM pg_roles WHERE rolname = 'mercato_app'",
    )
    .await
    .unwrap();
    assert_eq!(attrs, vec!["f,f,f,f,t"]);

    let owned = rows_as(&owner, &[], "SELECT c.relname::text FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = 'mercato_app'")
        .await
        .unwrap();
    assert!(owned.is_empty(), "runtime role owns {owned:?}");

    let dangerous = rows_as(
        &owner,
        &[],
        "SELECT c.relname::text || ':' || p.priv FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         CROSS JOIN (VALUES ('TRUNCATE'), ('REFERENCES'), ('TRIGGER')) AS p(priv)
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND has_table_privilege('mercato_app', c.oid, p.priv)",
    )
    .await
    .unwrap();
    assert!(dangerous.is_empty(), "runtime role holds {dangerous:?}");

    // The audit trail is append-only for the runtime role.
    let audit = rows_as(
        &owner,
        &[],
        "SELECT concat_ws(',', has_table_privilege('mercato_app', 'audit_events', 'UPDATE'), has_table_privilege('mercato_app', 'audit_events', 'DELETE'))",
    )
    .await
    .unwrap();
    assert_eq!(audit, vec!["f,f"]);
}

#[tokio::test]
async fn tenant_settings_are_transaction_local_and_read_once_per_statement() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    // The policies call the context functions inside sub-selects, so the planner evaluates them
    // once per statement (an InitPlan), not once per row.
    let quals = rows_as(
        &owner,
        &[],
        "SELECT qual FROM pg_policies WHERE tablename = 'stores' AND policyname = 'tenant'",
    )
    .await
    .unwrap();
    assert!(quals[0].contains("( SELECT app_org_id()"), "{quals:?}");
    let rt = app.runtime().await;
    let plan = rows_as(
        &rt,
        &[("app.org_id", &uuid::Uuid::now_v7().to_string())],
        "EXPLAIN SELECT * FROM stores",
    )
    .await
    .unwrap()
    .join("\n");
    assert!(plan.contains("InitPlan"), "{plan}");
}

#[tokio::test]
async fn the_server_refuses_to_run_as_the_owner_role_and_accepts_the_runtime_role() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let refused = mercato::db::ensure_runtime_role(&owner).await;
    assert!(
        refused.is_err(),
        "serving as the table owner must be refused"
    );
    let runtime = app.runtime().await;
    assert!(mercato::db::ensure_runtime_role(&runtime).await.is_ok());
}

#[tokio::test]
async fn every_tenant_table_has_a_restrictive_tenant_guard() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    // Tables whose guard admits one narrow thing besides the current organization, and why.
    let exceptions = [
        // A user reads their own memberships in every organization (to list and pick one).
        ("org_members", "user_id = ( SELECT app_user_id()"),
        // Authentication reads exactly the token row whose hash it presents.
        ("api_tokens", "token_hash = ( SELECT app_token_hash()"),
    ];
    let tables = rows_as(
        &owner,
        &[],
        "SELECT DISTINCT table_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND column_name = 'org_id' AND table_name NOT IN ('job_dispatch', 'shop_claims', 'stock_push_queue', 'webhook_dispatch') ORDER BY 1",
    )
    .await
    .unwrap();
    assert!(tables.len() >= 20, "{tables:?}");
    for t in &tables {
        let guards = rows_as(
            &owner,
            &[],
            &format!(
                "SELECT qual || ' | ' || with_check FROM pg_policies
                 WHERE schemaname = 'public' AND tablename = '{t}' AND permissive = 'RESTRICTIVE' AND cmd = 'ALL'"
            ),
        )
        .await
        .unwrap();
        assert_eq!(
            guards.len(),
            1,
            "{t}: one RESTRICTIVE FOR ALL guard, got {guards:?}"
        );
        let (using, check) = guards[0].split_once(" | ").unwrap();
        assert!(
            using.contains("org_id = ( SELECT app_org_id()"),
            "{t}: {using}"
        );
        assert_eq!(
            check, "(org_id = ( SELECT app_org_id() AS app_org_id))",
            "{t}"
        );
        match exceptions.iter().find(|(name, _)| name == t) {
            Some((_, extra)) => assert!(
                using.contains(extra) && using.matches(" OR ").count() == 1,
                "{t}: {using}"
            ),
            None => assert_eq!(
                using, check,
                "{t}: the guard admits only the current organization"
            ),
        }
    }
    let orgs = rows_as(
        &owner,
        &[],
        "SELECT count(*)::text FROM pg_policies WHERE tablename = 'organizations' AND permissive = 'RESTRICTIVE'",
    )
    .await
    .unwrap();
    assert_eq!(orgs, vec!["1"]);
}

#[tokio::test]
async fn a_too_wide_permissive_policy_cannot_cross_the_tenant_guard() {
    let app = TestApp::spawn().await;
    let a = app.sign_up("guard-a", Some("Guard A")).await;
    let b = app.sign_up("guard-b", Some("Guard B")).await;
    app.create_branch(&a, "A main").await;
    app.create_branch(&b, "B main").await;
    let owner = app.owner().await;
    // A careless later migration: everyone may read every branch.
    exec(
        &owner,
        "CREATE POLICY oops ON branches FOR SELECT USING (true)",
    )
    .await;
    let runtime = app.runtime().await;
    let seen = rows_as(
        &runtime,
        &[
            ("app.org_id", &gid_uuid(a.org_id.as_ref().unwrap())),
            ("app.branch_ids", "*"),
        ],
        "SELECT DISTINCT org_id::text FROM branches",
    )
    .await
    .unwrap();
    assert_eq!(seen, vec![gid_uuid(a.org_id.as_ref().unwrap())]);
    let none = rows_as(&runtime, &[], "SELECT count(*)::text FROM branches")
        .await
        .unwrap();
    assert_eq!(
        none,
        vec!["0"],
        "no context, no rows, whatever the permissive policies say"
    );
}

#[tokio::test]
async fn the_runtime_role_has_idle_transaction_and_lock_timeouts() {
    let app = TestApp::spawn().await;
    let runtime = app.runtime().await;
    let settings = rows_as(
        &runtime,
        &[],
        "SELECT current_setting('idle_in_transaction_session_timeout') || ',' || current_setting('lock_timeout')",
    )
    .await
    .unwrap();
    assert_eq!(settings, vec!["1min,10s"]);
}
