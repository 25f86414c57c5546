//! Demo data for the quick start: one organization, two branches, a file-only store and two
//! users; [`connect_demo_stores`] then connects Shopee, TikTok Shop, Lazada and Jumia stores to the
//! marketplace simulator through their real authorization flows.
//! Written through the domain functions as the runtime role, so RLS and auditing apply.

use crate::db::rls::apply_settings;
use crate::domain::stores::ConnectStore;
use crate::domain::{Ctx, accounts, branches, members, organizations, stores};
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, OrgId, UserId};
use crate::state::AppState;
use crate::tenant::{Access, OrgAccess};
use entity::enums::{BranchRole, OrgRole, Platform};
use sea_orm::TransactionTrait;
use std::collections::HashMap;

/// Demo owner's e-mail.
pub const OWNER_EMAIL: &str = "owner@demo.mercato.local";
/// Demo owner's password (local demo only).
pub const OWNER_PASSWORD: &str = "mercato-demo-owner";
/// Demo member's e-mail (MANAGER of the Nairobi branch only).
pub const MEMBER_EMAIL: &str = "member@demo.mercato.local";
/// Demo member's password (local demo only).
pub const MEMBER_PASSWORD: &str = "mercato-demo-member";

/// What was seeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seeded {
    /// Created now.
    Created,
    /// Already present; nothing changed.
    AlreadyPresent,
}

/// Seeds the demo organization once; running it again changes nothing.
pub async fn seed_demo(state: &AppState) -> AppResult<Seeded> {
    let tx = state.db.begin().await?;
    let anon = Access::default();
    let owner = match accounts::sign_up(
        &tx,
        &anon,
        OWNER_EMAIL,
        OWNER_PASSWORD.to_owned().into(),
        "Demo Owner",
    )
    .await
    {
        Ok(u) => UserId(u.id),
        Err(AppError::Conflict(_)) => return Ok(Seeded::AlreadyPresent),
        Err(e) => return Err(e),
    };
    let acting = Access {
        user_id: Some(owner),
        org: None,
    };
    // Seeding creates nothing that is cached or published.
    let effects = crate::effects::Effects::default();
    let c = Ctx {
        tx: &tx,
        access: &acting,
        request_id: Some("seed"),
        effects: &effects,
    };
    let org = OrgId(organizations::create(&c, "Demo Traders").await?.id);
    let as_owner = Access {
        user_id: Some(owner),
        org: Some(OrgAccess::member(org, OrgRole::Owner, HashMap::new())),
    };
    apply_settings(&tx, &crate::tenant::settings_for(&as_owner)).await?;
    let c = Ctx {
        access: &as_owner,
        ..c
    };
    let nairobi = BranchId(branches::create(&c, "Nairobi").await?.id);
    branches::create(&c, "Kuala Lumpur").await?;
    // Kilimall has no API: its store is registered here. The marketplace stores with an API
    // (Shopee, TikTok Shop, Lazada, Jumia) are connected through their real authorization flow
    // by `connect_demo_stores` when the simulator runs (`mercato dev`).
    let kilimall = ConnectStore {
        branch_id: nairobi,
        platform: Platform::Kilimall,
        external_shop_id: "KILI-KE-2001".into(),
        name: "Kilimall Kenya (file import)".into(),
        region: "KE".into(),
        currency: "KES".into(),
        credentials: None,
    };
    stores::connect(&c, &state.cipher, kilimall, None).await?;
    let member = UserId(
        accounts::sign_up(
            &tx,
            &as_owner,
            MEMBER_EMAIL,
            MEMBER_PASSWORD.to_owned().into(),
            "Demo Branch Manager",
        )
        .await?
        .id,
    );
    members::add(&c, member, OrgRole::Member).await?;
    members::add_to_branch(&c, nairobi, member, BranchRole::Manager).await?;
    tx.commit().await?;
    Ok(Seeded::Created)
}
