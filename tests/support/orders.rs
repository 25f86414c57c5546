//! Applying marketplace orders through the domain as the runtime role, in a tenant transaction
//! like the sync's (committed with its after-commit effects, or rolled back like a failed attempt).

use crate::TestApp;
use entity::enums::OrderEventSource;
use mercato::domain::orders::{self, Applied, OrderStore};
use mercato::ids::OrgId;

/// Applies `o` for organization `org` (uuid) in one transaction; commits (then runs its effects)
/// or rolls back.
pub async fn apply_as(
    app: &TestApp,
    org: &str,
    store: OrderStore,
    o: &connectors::Order,
    commit: bool,
) -> Applied {
    let org = OrgId(org.parse().unwrap());
    let tx = mercato::domain::jobs::org_tx(&app.state.db, org)
        .await
        .unwrap();
    let access = mercato::domain::jobs::system_access(org);
    let effects = mercato::effects::Effects::default();
    let c = mercato::domain::Ctx {
        tx: &tx,
        access: &access,
        request_id: Some("test"),
        effects: &effects,
    };
    let r = orders::apply(&c, store, o, OrderEventSource::Pull)
        .await
        .unwrap();
    if commit {
        tx.commit().await.unwrap();
        mercato::after_commit::run(&app.state, effects.take()).await;
    } else {
        tx.rollback().await.unwrap();
    }
    r
}
