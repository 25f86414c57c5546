//! Demo data for the quick start: one organization, two branches, four stores and two users.
//! Written through the domain functions as the runtime role, so RLS and auditing apply.

use crate::db::rls::apply_settings;
use crate::domain::stores::{ConnectStore, Credentials};
use crate::domain::{Ctx, accounts, branches, members, organizations, stores};
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, OrgId, UserId};
use crate::state::AppState;
use crate::tenant::{Access, OrgAccess};
use entity::enums::{BranchRole, OrgRole, Platform};
use sea_orm::TransactionTrait;
use serde_json::json;
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
    let kl = BranchId(branches::create(&c, "Kuala Lumpur").await?.id);
    let demo_creds = |partner: &str| {
        Credentials::parse(
            "credentials",
            json!({ "partner_id": partner, "partner_key": "demo-simulator-key" }),
        )
    };
    let demo_stores = [
        (
            nairobi,
            Platform::Jumia,
            "JUMIA-KE-1001",
            "Jumia Kenya",
            "KE",
            "KES",
            Some(demo_creds("jumia-demo")?),
        ),
        (
            nairobi,
            Platform::Kilimall,
            "KILI-KE-2001",
            "Kilimall Kenya (file import)",
            "KE",
            "KES",
            None,
        ),
        (
            kl,
            Platform::Shopee,
            "880011",
            "Shopee Malaysia",
            "MY",
            "MYR",
            Some(demo_creds("2001887")?),
        ),
        (
            kl,
            Platform::TiktokShop,
            "7494000000000001",
            "TikTok Shop Malaysia",
            "MY",
            "MYR",
            Some(demo_creds("tts-demo")?),
        ),
    ];
    for (branch, platform, shop, name, region, currency, credentials) in demo_stores {
        let input = ConnectStore {
            branch_id: branch,
            platform,
            external_shop_id: shop.into(),
            name: name.into(),
            region: region.into(),
            currency: currency.into(),
            credentials,
        };
        stores::connect(&c, &state.cipher, input).await?;
    }
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
