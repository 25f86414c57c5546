//! SeaORM entities for Mercato, one module per table. No GraphQL or API concerns live here.

pub mod api_tokens;
pub mod audit_events;
pub mod branch_members;
pub mod branches;
pub mod enums;
pub mod org_members;
pub mod organizations;
pub mod stores;
pub mod users;
