//! Who is acting, and what they may do. One place decides access.

use sha2::{Digest, Sha256};

use crate::domain::{Role, User};
use crate::error::{Error, Result};

/// The person (or token) behind a request, as the engine sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: i64,
    pub login: String,
    pub role: Role,
}

impl From<&User> for Actor {
    fn from(user: &User) -> Self {
        Self {
            user_id: user.id,
            login: user.login.clone(),
            role: user.role,
        }
    }
}

/// Everything an actor can ask for, mapped to the least role that may.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    Read,
    RegisterBuild,
    Deploy,
    Lock,
    CancelJob,
    ManageEnvironments,
    ManageApplications,
    ManageUsers,
}

impl Permission {
    pub fn least_role(self) -> Role {
        match self {
            Permission::Read => Role::Viewer,
            Permission::RegisterBuild
            | Permission::Deploy
            | Permission::Lock
            | Permission::CancelJob => Role::Deployer,
            Permission::ManageEnvironments
            | Permission::ManageApplications
            | Permission::ManageUsers => Role::Admin,
        }
    }
}

impl Actor {
    pub fn require(&self, permission: Permission) -> Result<()> {
        if self.role >= permission.least_role() {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "{} is a {} and this needs {}",
                self.login,
                self.role.as_str(),
                permission.least_role().as_str()
            )))
        }
    }
}

/// A new random secret (login link or API token), 256 bits, hex.
pub fn new_secret_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// What is stored instead of a secret token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role) -> Actor {
        Actor {
            user_id: 1,
            login: "x".into(),
            role,
        }
    }

    #[test]
    fn roles_are_ordered_and_deny_by_default() {
        assert!(actor(Role::Viewer).require(Permission::Read).is_ok());
        assert!(actor(Role::Viewer).require(Permission::Deploy).is_err());
        assert!(actor(Role::Deployer).require(Permission::Deploy).is_ok());
        assert!(actor(Role::Deployer)
            .require(Permission::ManageEnvironments)
            .is_err());
        assert!(actor(Role::Admin).require(Permission::ManageUsers).is_ok());
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (new_secret_token(), new_secret_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_ne!(token_hash(&a), a);
        assert_eq!(token_hash(&a), token_hash(&a));
    }
}
