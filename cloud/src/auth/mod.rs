//! Who is calling the API: a tenant's token, its role and the sites it may see. Roles are
//! checked in one place (`api::route`), tenants by every query's tenant and row-level
//! security, sites by [`Principal::sites`].

pub mod tokens;

use serde::{Deserialize, Serialize};

use crate::audit::Actor;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything of its tenant (within its sites).
    Read,
    /// Read, and act: send commands, acknowledge alerts, open maintenance windows.
    Operator,
}

impl Role {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Operator => "operator",
        }
    }

    /// The role stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "read" => Some(Role::Read),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }

    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The tenant it belongs to; everything it reads or does is this tenant's.
    pub tenant: String,
    /// The token's public id.
    pub token_id: String,
    /// The token's name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The sites it may see (None: every site of the tenant).
    pub sites: Option<Vec<String>>,
}

impl Principal {
    /// Who it is in the audit log.
    pub fn actor(&self) -> Actor {
        Actor::token(&self.token_id, &self.name)
    }

    /// Whether it may see `site`.
    pub fn sees(&self, site: &str) -> bool {
        self.sites
            .as_ref()
            .is_none_or(|sites| sites.iter().any(|s| s == site))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_may_read_and_readers_may_not_act() {
        assert!(Role::Operator.allows(Role::Read));
        assert!(Role::Operator.allows(Role::Operator));
        assert!(Role::Read.allows(Role::Read));
        assert!(!Role::Read.allows(Role::Operator));
        assert_eq!(Role::parse("operator"), Some(Role::Operator));
        assert_eq!(Role::parse("admin"), None);
    }
}
