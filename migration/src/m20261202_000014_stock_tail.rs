//! The last units of a shared pool: partitioned between its listings, never shown on two at once.
//!
//! - `organizations.stock_tail_per_listing`: a pool (one variant at one branch) listed on two or
//!   more marketplace listings enters its tail when its available stock falls to this many units
//!   per listing or fewer (0 turns the tail off). See `api/src/domain/stock_push.rs`.
//! - `listings.counted_from`: set when a push made in the tail (a drain to 0, or a share given to
//!   a sold-out listing) was accepted: the listing's orders placed from then on are sales against
//!   that quantity. NULL after any other push: what such a listing still shows is not known.

use crate::sql::run;
use sea_orm_migration::prelude::*;

/// The tail setting and the listings' sales origin.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE organizations
  ADD COLUMN stock_tail_per_listing integer NOT NULL DEFAULT 10
    CHECK (stock_tail_per_listing BETWEEN 0 AND 100000);
ALTER TABLE listings ADD COLUMN counted_from timestamptz;
"#;

const DOWN: &str = r#"
ALTER TABLE listings DROP COLUMN IF EXISTS counted_from;
ALTER TABLE organizations DROP COLUMN IF EXISTS stock_tail_per_listing;
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
