//! `GET /connect/{platform}/callback`: where the platform sends the seller's browser after they
//! approve (or refuse) Mercato.
//!
//! 1. The `state` names its organization; in that organization's tenant transaction its hash must
//!    match an unused, unexpired link of this platform, which is then marked used (committed
//!    before anything else, so a replay, even a concurrent one, finds it used). A state that
//!    fails any of this is answered with an error and changes nothing.
//! 2. The code is exchanged through the platform's connector.
//! 3. The store is created, or the same shop re-authorized, with its tokens sealed; a shop held by
//!    another organization writes nothing.
//! 4. The browser goes back to the link's `returnUrl` (on the allow-list when the link was made)
//!    with only `result` and, on success, `storeId`.

use crate::domain::Ctx;
use crate::domain::connections::{self, Authorized, Naming, StateRefused};
use crate::domain::jobs::{org_tx, system_access};
use crate::effects::Effects;
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, StoreId, UserId};
use crate::state::AppState;
use entity::enums::Platform;
use std::collections::HashMap;

/// What the callback answers.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Send the browser back to the seller's app (`result` and `storeId` in the query).
    Back {
        /// The return URL with the result.
        location: String,
        /// The result code.
        result: &'static str,
    },
    /// No trustworthy return URL (the state was refused): an error page.
    Refused {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: &'static str,
    },
}

fn back(return_url: &str, result: &'static str, store: Option<&str>) -> Answer {
    let location = match url::Url::parse(return_url) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                q.append_pair("result", result);
                if let Some(s) = store {
                    q.append_pair("storeId", s);
                }
            }
            u.to_string()
        }
        Err(_) => return refused(StateRefused::Invalid),
    };
    Answer::Back { location, result }
}

fn refused(r: StateRefused) -> Answer {
    Answer::Refused {
        code: r.code(),
        message: match r {
            StateRefused::Invalid => {
                "this authorization link is not valid here; start the connection again from Mercato"
            }
            StateRefused::Used => {
                "this authorization link was already used; start the connection again from Mercato"
            }
            StateRefused::Expired => {
                "this authorization link expired (links last 10 minutes); start the connection again from Mercato"
            }
        },
    }
}

/// Handles the callback of `platform` with the redirect's query; `gid` formats a store's global id.
pub async fn handle(
    state: &AppState,
    platform: Platform,
    query: &HashMap<String, String>,
    gid: impl Fn(StoreId) -> String,
) -> AppResult<Answer> {
    let Some(presented) = query.get("state").map(String::as_str) else {
        return Ok(refused(StateRefused::Invalid));
    };
    let Some(org) = connections::org_of_state(presented) else {
        return Ok(refused(StateRefused::Invalid));
    };
    let tx = org_tx(&state.db, org).await?;
    let taken = match connections::take_state(&tx, presented, platform).await? {
        Ok(t) => t,
        Err(r) => {
            tx.rollback().await?;
            tracing::info!(org = %org, code = r.code(), "connect callback refused its state");
            return Ok(refused(r));
        }
    };
    tx.commit().await?;
    let finish = async |result: &'static str, store: Option<StoreId>| -> AppResult<Answer> {
        let tx = org_tx(&state.db, org).await?;
        connections::finish_state(&tx, taken.id, result, store).await?;
        tx.commit().await?;
        Ok(back(&taken.return_url, result, store.map(&gid).as_deref()))
    };
    if query.contains_key("error") || query.contains_key("error_description") {
        return finish("ACCESS_DENIED", None).await;
    }
    let Some(code) = query.get("code").filter(|c| !c.is_empty()) else {
        return finish("PLATFORM_ERROR", None).await;
    };
    let Some(connector) = state.marketplaces.get(platform) else {
        return finish("PLATFORM_NOT_CONFIGURED", None).await;
    };
    let redirect_uri = state
        .config
        .marketplaces
        .callback_url(crate::marketplaces::path_name(platform));
    let callback = connectors::AuthCallback {
        code: code.clone(),
        state: Some(presented.to_owned()),
        shop_id: query.get("shop_id").cloned(),
    };
    let grant = match connector.exchange_code(&callback, &redirect_uri).await {
        Ok(g) => g,
        Err(e) => {
            let (code, message) = crate::marketplaces::classify(&e);
            tracing::warn!(org = %org, code, message, "the platform refused the authorization code");
            let result = if matches!(e, connectors::Error::Auth { .. }) {
                "AUTH_FAILED"
            } else {
                "PLATFORM_ERROR"
            };
            return finish(result, None).await;
        }
    };
    let tx = org_tx(&state.db, org).await?;
    let existing = connections::existing_branch(&tx, platform, &grant.shop).await?;
    let mut allowed = connections::may_still_connect(&tx, &taken, taken.branch_id).await?;
    if let Some(b) = existing.filter(|b| *b != taken.branch_id) {
        allowed = allowed && connections::may_still_connect(&tx, &taken, b).await?;
    }
    if !allowed {
        tx.rollback().await?;
        return finish("FORBIDDEN", None).await;
    }
    let mut access = system_access(org);
    access.user_id = taken.user_id.map(UserId);
    let effects = Effects::default();
    let c = Ctx {
        tx: &tx,
        access: &access,
        request_id: Some("connect-callback"),
        effects: &effects,
    };
    let naming = Naming {
        region: taken.region.clone(),
        name: None,
        currency: None,
    };
    let done = connections::authorize_store(
        &c,
        &state.cipher,
        platform,
        BranchId(taken.branch_id),
        &naming,
        &grant,
    )
    .await;
    match done {
        Ok(done) => {
            let result = match done {
                Authorized::Created(_) => "CONNECTED",
                Authorized::Reconnected(_) => "RECONNECTED",
            };
            connections::finish_state(&tx, taken.id, result, Some(done.store())).await?;
            tx.commit().await?;
            crate::after_commit::run(state, effects.take()).await;
            Ok(back(&taken.return_url, result, Some(&gid(done.store()))))
        }
        Err(AppError::ShopTaken) => {
            tx.rollback().await?;
            finish("SHOP_CONNECTED_ELSEWHERE", None).await
        }
        Err(AppError::Upstream(m)) => {
            tx.rollback().await?;
            tracing::warn!(org = %org, message = m, "the platform's grant could not be used");
            finish("PLATFORM_ERROR", None).await
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e)
        }
    }
}
