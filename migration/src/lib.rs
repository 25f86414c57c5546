//! Mercato database migrations: tables, indexes, grants to the runtime role and row-level security.
//!
//! Migrations run as the owner role. The runtime role (`mercato_app`, see [`RUNTIME_ROLE`]) must
//! already exist (the stack script or your operator creates it); every migration grants it exactly
//! the privileges the server needs and nothing that could defeat row-level security.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_tenancy;
mod m20261122_000002_stores;
mod m20261122_000003_audit_events;
mod m20261122_000004_access;
mod m20261122_000005_catalog;
mod m20261122_000006_level_index;
mod m20261123_000007_jobs;
mod m20261129_000008_hardening;
mod m20261130_000009_connections;
mod m20261130_000010_orders;
mod m20261130_000011_order_sync;
mod m20261130_000012_unlinked_alerts;
mod m20261201_000013_stock_out;
mod m20261202_000014_stock_tail;
mod m20261203_000015_webhooks;
mod m20261204_000016_tenant_open;
mod sql;

/// Name of the login role that `serve` and `worker` connect as.
pub const RUNTIME_ROLE: &str = "mercato_app";

/// All migrations, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_tenancy::Migration),
            Box::new(m20261122_000002_stores::Migration),
            Box::new(m20261122_000003_audit_events::Migration),
            Box::new(m20261122_000004_access::Migration),
            Box::new(m20261122_000005_catalog::Migration),
            Box::new(m20261122_000006_level_index::Migration),
            Box::new(m20261123_000007_jobs::Migration),
            Box::new(m20261129_000008_hardening::Migration),
            Box::new(m20261130_000009_connections::Migration),
            Box::new(m20261130_000010_orders::Migration),
            Box::new(m20261130_000011_order_sync::Migration),
            Box::new(m20261130_000012_unlinked_alerts::Migration),
            Box::new(m20261201_000013_stock_out::Migration),
            Box::new(m20261202_000014_stock_tail::Migration),
            Box::new(m20261203_000015_webhooks::Migration),
            Box::new(m20261204_000016_tenant_open::Migration),
        ]
    }
}
