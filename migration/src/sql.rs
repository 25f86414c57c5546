//! Helpers shared by migrations: running SQL batches and the standard tenant RLS policy text.

use sea_orm_migration::prelude::*;

/// Runs a batch of SQL statements (no bind parameters) on the migration connection.
pub async fn run(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared(sql)
        .await
        .map(|_| ())
}

/// Enables and forces RLS on `table` and adds its `tenant` policy, covering every command with
/// both `USING` and `WITH CHECK`. The tenant is read once per statement through the sub-selects.
/// `branch_column`, when given, also limits rows to the branches visible in this transaction.
pub fn tenant_policy(table: &str, branch_column: Option<&str>) -> String {
    let branch = branch_column
        .map(|c| format!(" AND ((SELECT app_all_branches()) OR {c} = ANY ((SELECT app_branch_ids())::uuid[]))"))
        .unwrap_or_default();
    let predicate = format!("org_id = (SELECT app_org_id()){branch}");
    format!(
        "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n\
         ALTER TABLE {table} FORCE ROW LEVEL SECURITY;\n\
         CREATE POLICY tenant ON {table} FOR ALL USING ({predicate}) WITH CHECK ({predicate});\n"
    )
}
