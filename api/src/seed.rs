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

/// Connects the demo organization's marketplace stores to the simulator through their real
/// authorization flows, over HTTP as a seller's app and browser would: log in as the demo owner,
/// `beginStoreConnection` for Shopee, TikTok Shop and Lazada (Kuala Lumpur branch), follow the
/// simulator's approval redirect to `/connect/{platform}/callback`, and `connectStore` for Jumia
/// with the simulator's Self Authorization refresh token (Nairobi branch). Running it again
/// re-authorizes the same shops. Returns each platform's result code.
pub async fn connect_demo_stores(
    server: &str,
    jumia_refresh_token: &str,
) -> Result<Vec<(&'static str, String)>, String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let gql = async |token: Option<&str>, query: &str, variables: serde_json::Value| {
        let mut req = http
            .post(format!("{server}/graphql"))
            .json(&serde_json::json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        resp.json::<serde_json::Value>()
            .await
            .map_err(|e| e.to_string())
    };
    let login = gql(
        None,
        "mutation($i: LogInInput!) { logIn(input: $i) { accessToken } }",
        serde_json::json!({ "i": { "email": OWNER_EMAIL, "password": OWNER_PASSWORD } }),
    )
    .await?;
    let token = login["data"]["logIn"]["accessToken"]
        .as_str()
        .ok_or_else(|| format!("demo log-in failed: {login}"))?
        .to_owned();
    let branches = gql(
        Some(&token),
        "{ organization { branches(first: 50) { edges { node { id name } } } } }",
        serde_json::json!({}),
    )
    .await?;
    let branch = |name: &str| {
        branches["data"]["organization"]["branches"]["edges"]
            .as_array()
            .and_then(|e| {
                e.iter()
                    .find(|b| b["node"]["name"] == name)
                    .and_then(|b| b["node"]["id"].as_str())
            })
            .map(str::to_owned)
            .ok_or_else(|| format!("demo branch {name} not found"))
    };
    let kl = branch("Kuala Lumpur")?;
    let nairobi = branch("Nairobi")?;
    let mut results = Vec::new();
    for platform in ["SHOPEE", "TIKTOK_SHOP", "LAZADA"] {
        let began = gql(
            Some(&token),
            "mutation($i: BeginStoreConnectionInput!) { beginStoreConnection(input: $i) { authorizationUrl userErrors { message } } }",
            serde_json::json!({ "i": { "branchId": kl, "platform": platform, "region": "MY", "returnUrl": format!("{server}/connect/done") } }),
        )
        .await?;
        let Some(url) = began["data"]["beginStoreConnection"]["authorizationUrl"].as_str() else {
            results.push((platform, format!("not started: {began}")));
            continue;
        };
        // The seller approves on the platform's page, which sends the browser to our callback,
        // which sends it back to the return URL with the result.
        let mut next = url.to_owned();
        let mut result = String::from("no answer");
        for _ in 0..3 {
            let resp = http.get(&next).send().await.map_err(|e| e.to_string())?;
            let Some(location) = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
            else {
                result = format!("HTTP {}", resp.status());
                break;
            };
            if let Ok(u) = url::Url::parse(&location)
                && let Some((_, r)) = u.query_pairs().find(|(k, _)| k == "result")
            {
                result = r.into_owned();
                break;
            }
            next = location;
        }
        results.push((platform, result));
    }
    let jumia = gql(
        Some(&token),
        "mutation($i: ConnectStoreInput!) { connectStore(input: $i) { store { connection } userErrors { code message } } }",
        serde_json::json!({ "i": { "branchId": nairobi, "platform": "JUMIA", "externalShopId": "jumia", "name": "Jumia Kenya",
                                   "region": "KE", "currency": "KES", "credentials": { "refreshToken": jumia_refresh_token } } }),
    )
    .await?;
    results.push((
        "JUMIA",
        jumia["data"]["connectStore"]["store"]["connection"]
            .as_str()
            .map_or_else(
                || format!("{}", jumia["data"]["connectStore"]["userErrors"]),
                str::to_owned,
            ),
    ));
    Ok(results)
}
