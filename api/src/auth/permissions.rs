//! The permission matrix: what each organization role, branch role and API token scope may do.
//!
//! Every mutation and every sensitive field asks [`crate::tenant::OrgAccess::require`] for one
//! [`Perm`]; row-level security is the backstop underneath. The same table is written out in
//! `docs/permissions.md`, and `tests/roles.rs` tries every mutation as every role.

use crate::ids::BranchId;
use entity::enums::{BranchRole, OrgRole};
use std::collections::HashMap;
use std::fmt;

/// A partner API token scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Read the master catalog.
    CatalogRead,
    /// Change the master catalog.
    CatalogWrite,
    /// Read stock levels and movements.
    InventoryRead,
    /// Adjust, reserve and move stock.
    InventoryWrite,
    /// Read orders.
    OrdersRead,
    /// Change orders (fulfil, cancel, return).
    OrdersWrite,
    /// Read stores.
    StoresRead,
    /// Connect, update and archive stores.
    StoresWrite,
    /// Read sync jobs and their progress.
    SyncRead,
    /// Start and cancel sync jobs.
    SyncWrite,
}

impl Scope {
    /// Every scope, in display order.
    pub const ALL: [Scope; 10] = [
        Scope::CatalogRead,
        Scope::CatalogWrite,
        Scope::InventoryRead,
        Scope::InventoryWrite,
        Scope::OrdersRead,
        Scope::OrdersWrite,
        Scope::StoresRead,
        Scope::StoresWrite,
        Scope::SyncRead,
        Scope::SyncWrite,
    ];

    /// The wire form, e.g. `catalog:read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CatalogRead => "catalog:read",
            Scope::CatalogWrite => "catalog:write",
            Scope::InventoryRead => "inventory:read",
            Scope::InventoryWrite => "inventory:write",
            Scope::OrdersRead => "orders:read",
            Scope::OrdersWrite => "orders:write",
            Scope::StoresRead => "stores:read",
            Scope::StoresWrite => "stores:write",
            Scope::SyncRead => "sync:read",
            Scope::SyncWrite => "sync:write",
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// A write scope also grants the matching read scope.
    fn grants(self, wanted: Scope) -> bool {
        self == wanted
            || matches!(
                (self, wanted),
                (Scope::CatalogWrite, Scope::CatalogRead)
                    | (Scope::InventoryWrite, Scope::InventoryRead)
                    | (Scope::OrdersWrite, Scope::OrdersRead)
                    | (Scope::StoresWrite, Scope::StoresRead)
                    | (Scope::SyncWrite, Scope::SyncRead)
            )
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing a caller may or may not do. Branch-bound permissions name the branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    /// Rename the organization.
    OrgUpdate,
    /// Add, change and remove members and their branch roles.
    MembersManage,
    /// List members (names, e-mails, roles).
    MembersRead,
    /// Create, rename and delete branches.
    BranchesManage,
    /// Create, list and revoke partner API tokens.
    ApiTokensManage,
    /// Read the audit trail.
    AuditRead,
    /// Read stores (of visible branches).
    StoresRead,
    /// Connect, update or archive a store of this branch.
    StoresWrite(BranchId),
    /// Read the master catalog.
    CatalogRead,
    /// Change the master catalog.
    CatalogWrite,
    /// Read stock of visible branches.
    InventoryRead,
    /// Change stock in this branch.
    InventoryWrite(BranchId),
    /// Read orders of visible branches.
    OrdersRead,
    /// Change orders of this branch.
    OrdersWrite(BranchId),
    /// Read sync jobs of visible branches.
    SyncRead,
    /// Start or cancel syncs of this branch.
    SyncWrite(BranchId),
}

impl Perm {
    /// The API token scope that grants this permission; `None` = never granted to tokens.
    pub fn scope(self) -> Option<Scope> {
        match self {
            Perm::OrgUpdate
            | Perm::MembersManage
            | Perm::MembersRead
            | Perm::BranchesManage
            | Perm::ApiTokensManage
            | Perm::AuditRead => None,
            Perm::StoresRead => Some(Scope::StoresRead),
            Perm::StoresWrite(_) => Some(Scope::StoresWrite),
            Perm::CatalogRead => Some(Scope::CatalogRead),
            Perm::CatalogWrite => Some(Scope::CatalogWrite),
            Perm::InventoryRead => Some(Scope::InventoryRead),
            Perm::InventoryWrite(_) => Some(Scope::InventoryWrite),
            Perm::OrdersRead => Some(Scope::OrdersRead),
            Perm::OrdersWrite(_) => Some(Scope::OrdersWrite),
            Perm::SyncRead => Some(Scope::SyncRead),
            Perm::SyncWrite(_) => Some(Scope::SyncWrite),
        }
    }

    /// The branch this permission is bound to.
    pub fn branch(self) -> Option<BranchId> {
        match self {
            Perm::StoresWrite(b)
            | Perm::InventoryWrite(b)
            | Perm::OrdersWrite(b)
            | Perm::SyncWrite(b) => Some(b),
            _ => None,
        }
    }

    /// Human description used in FORBIDDEN messages.
    pub fn describe(self) -> &'static str {
        match self {
            Perm::OrgUpdate => "requires the OWNER or ADMIN role",
            Perm::MembersManage => "managing members requires the OWNER or ADMIN role",
            Perm::MembersRead => "listing members requires an organization member",
            Perm::BranchesManage => "managing branches requires the OWNER or ADMIN role",
            Perm::ApiTokensManage => "managing API tokens requires the OWNER or ADMIN role",
            Perm::AuditRead => "reading the audit trail requires the OWNER or ADMIN role",
            Perm::StoresRead => "requires the stores:read scope",
            Perm::StoresWrite(_) => {
                "requires OWNER, ADMIN, or MANAGER of the store's branch (tokens: stores:write)"
            }
            Perm::CatalogRead => "requires the catalog:read scope",
            Perm::CatalogWrite => {
                "requires OWNER, ADMIN or a branch MANAGER (tokens: catalog:write)"
            }
            Perm::InventoryRead => "requires the inventory:read scope",
            Perm::InventoryWrite(_) => {
                "requires OWNER, ADMIN, or MANAGER/OPERATOR of the branch (tokens: inventory:write)"
            }
            Perm::OrdersRead => "requires the orders:read scope",
            Perm::OrdersWrite(_) => {
                "requires OWNER, ADMIN, or MANAGER/OPERATOR of the branch (tokens: orders:write)"
            }
            Perm::SyncRead => "requires the sync:read scope",
            Perm::SyncWrite(_) => {
                "requires OWNER, ADMIN, or MANAGER/OPERATOR of the branch (tokens: sync:write)"
            }
        }
    }
}

/// Does a human member with `role` (and these branch roles) hold `perm`?
pub fn member_allows(role: OrgRole, branches: &HashMap<BranchId, BranchRole>, perm: Perm) -> bool {
    if matches!(role, OrgRole::Owner | OrgRole::Admin) {
        return true;
    }
    let in_branch =
        |b: BranchId, ok: &[BranchRole]| branches.get(&b).is_some_and(|r| ok.contains(r));
    match perm {
        Perm::OrgUpdate
        | Perm::MembersManage
        | Perm::BranchesManage
        | Perm::ApiTokensManage
        | Perm::AuditRead => false,
        Perm::MembersRead
        | Perm::StoresRead
        | Perm::CatalogRead
        | Perm::InventoryRead
        | Perm::OrdersRead
        | Perm::SyncRead => true,
        Perm::CatalogWrite => branches.values().any(|r| *r == BranchRole::Manager),
        Perm::StoresWrite(b) => in_branch(b, &[BranchRole::Manager]),
        Perm::InventoryWrite(b) | Perm::OrdersWrite(b) | Perm::SyncWrite(b) => {
            in_branch(b, &[BranchRole::Manager, BranchRole::Operator])
        }
    }
}

/// Does an API token with `scopes`, limited to `branches` (`None` = all), hold `perm`?
pub fn token_allows(scopes: &[Scope], branches: Option<&[BranchId]>, perm: Perm) -> bool {
    let Some(needed) = perm.scope() else {
        return false;
    };
    let scoped = scopes.iter().any(|s| s.grants(needed));
    let branch_ok = match (perm.branch(), branches) {
        (Some(b), Some(allowed)) => allowed.contains(&b),
        _ => true,
    };
    scoped && branch_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn scopes_round_trip_and_write_implies_read() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        assert_eq!(Scope::parse("catalog:admin"), None);
        assert!(Scope::StoresWrite.grants(Scope::StoresRead));
        assert!(!Scope::StoresRead.grants(Scope::StoresWrite));
        assert!(!Scope::OrdersWrite.grants(Scope::StoresRead));
    }

    #[test]
    fn branch_roles_grant_only_in_their_branch() {
        let x = BranchId(Uuid::now_v7());
        let y = BranchId(Uuid::now_v7());
        let viewer = HashMap::from([(x, BranchRole::Viewer)]);
        let operator = HashMap::from([(x, BranchRole::Operator)]);
        let manager = HashMap::from([(x, BranchRole::Manager)]);
        let m = OrgRole::Member;
        assert!(!member_allows(m, &viewer, Perm::InventoryWrite(x)));
        assert!(member_allows(m, &operator, Perm::InventoryWrite(x)));
        assert!(!member_allows(m, &operator, Perm::InventoryWrite(y)));
        assert!(!member_allows(m, &operator, Perm::StoresWrite(x)));
        assert!(member_allows(m, &manager, Perm::StoresWrite(x)));
        assert!(!member_allows(m, &manager, Perm::StoresWrite(y)));
        assert!(!member_allows(m, &manager, Perm::MembersManage));
        assert!(member_allows(
            OrgRole::Admin,
            &HashMap::new(),
            Perm::StoresWrite(y)
        ));
    }

    #[test]
    fn tokens_need_the_scope_and_the_branch() {
        let x = BranchId(Uuid::now_v7());
        let y = BranchId(Uuid::now_v7());
        let scopes = [Scope::StoresWrite];
        assert!(token_allows(&scopes, None, Perm::StoresRead));
        assert!(token_allows(&scopes, Some(&[x]), Perm::StoresWrite(x)));
        assert!(!token_allows(&scopes, Some(&[x]), Perm::StoresWrite(y)));
        assert!(!token_allows(&scopes, None, Perm::OrdersRead));
        assert!(!token_allows(&Scope::ALL, None, Perm::MembersManage));
        assert!(!token_allows(&Scope::ALL, None, Perm::ApiTokensManage));
    }
}
