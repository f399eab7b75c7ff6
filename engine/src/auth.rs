//! Who is acting, and what they may do. One place decides access.

use sha2::{Digest, Sha256};

pub use crate::domain::{
    qualified_group, ApprovalPolicy, ApprovalRule, Approver, Principal, DEFAULT_EXPIRE_HOURS,
};
use crate::domain::{ApiToken, BranchPattern, EnvName, Environment, Role, TokenReach, User};
use crate::error::{Error, InvalidInput, Result};

/// The person (or token) behind a request, as the engine sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: i64,
    pub login: String,
    pub role: Role,
    /// Groups from the identity provider (for protected environments).
    pub groups: Vec<String>,
    pub credential: Credential,
}

/// How the actor proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A browser session (or a command run on the server): the user's role decides.
    Session,
    /// An API token: its scopes narrow what the user's role allows, and
    /// its reach where.
    Token {
        id: i64,
        scopes: Scopes,
        reach: TokenReach,
    },
}

impl Actor {
    /// The actor of a signed-in browser session.
    pub fn session(user: &User) -> Self {
        Self {
            user_id: user.id,
            login: user.login.clone(),
            role: user.role,
            groups: user.groups.0.clone(),
            credential: Credential::Session,
        }
    }

    /// The actor of a request carrying one of `user`'s API tokens.
    pub fn token(user: &User, token: &ApiToken) -> Self {
        Self {
            credential: Credential::Token {
                id: token.id,
                scopes: Scopes::parse_lenient(&token.scopes),
                reach: TokenReach::stored(token.reach.as_deref()),
            },
            ..Self::session(user)
        }
    }

    pub fn token_id(&self) -> Option<i64> {
        match self.credential {
            Credential::Token { id, .. } => Some(id),
            Credential::Session => None,
        }
    }
}

impl From<&User> for Actor {
    fn from(user: &User) -> Self {
        Actor::session(user)
    }
}

/// What an API token may be used for. A token never does more than its
/// user's role allows; admin work needs a browser session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read environments, builds, jobs, releases, audit.
    Read,
    /// Register builds.
    BuildsWrite,
    /// Deploy, roll back, lock, cancel jobs.
    Deploy,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::BuildsWrite, Scope::Deploy];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::BuildsWrite => "builds:write",
            Scope::Deploy => "deploy",
        }
    }

    pub fn parse(raw: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// A set of scopes, written space-separated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// Parses what a person asked for: unknown or no scopes are an error.
    pub fn parse(raw: &[String]) -> std::result::Result<Scopes, InvalidInput> {
        let mut scopes = Vec::new();
        for name in raw.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            let scope = Scope::parse(name).ok_or_else(|| {
                InvalidInput::new(
                    "scopes",
                    format!("unknown scope {name:?} (read, builds:write, deploy)"),
                )
            })?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err(InvalidInput::new("scopes", "choose at least one scope"));
        }
        scopes.sort();
        Ok(Scopes(scopes))
    }

    /// Parses what the database holds, ignoring names it does not know.
    fn parse_lenient(raw: &str) -> Scopes {
        let mut scopes: Vec<Scope> = raw.split_whitespace().filter_map(Scope::parse).collect();
        scopes.sort();
        scopes.dedup();
        Scopes(scopes)
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn to_db(&self) -> String {
        self.0
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
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
    /// Create, edit and delete QA environments and other short-lived work.
    ManageEnvironments,
    ManageApplications,
    /// Make and remove freeze windows.
    ManageFreezes,
    /// Make and remove notification targets (outgoing webhooks).
    ManageNotifications,
    /// Deploy through a freeze window, with a reason (a break-glass).
    OverrideFreeze,
    /// Approve or reject a deploy request (where an approval rule names one).
    Approve,
    ManageUsers,
    /// One's own account: API tokens, signing out everywhere.
    ManageOwnAccount,
}

impl Permission {
    pub fn least_role(self) -> Role {
        match self {
            Permission::Read | Permission::ManageOwnAccount => Role::Viewer,
            Permission::RegisterBuild
            | Permission::Deploy
            | Permission::Lock
            | Permission::CancelJob
            | Permission::Approve => Role::Deployer,
            Permission::ManageEnvironments
            | Permission::ManageApplications
            | Permission::ManageFreezes
            | Permission::ManageNotifications
            | Permission::OverrideFreeze
            | Permission::ManageUsers => Role::Admin,
        }
    }

    /// The token scope that grants it; `None`: never with a token.
    pub fn scope(self) -> Option<Scope> {
        match self {
            Permission::Read => Some(Scope::Read),
            Permission::RegisterBuild => Some(Scope::BuildsWrite),
            Permission::Deploy
            | Permission::Lock
            | Permission::CancelJob
            | Permission::ManageFreezes
            | Permission::ManageNotifications
            | Permission::OverrideFreeze
            | Permission::Approve => Some(Scope::Deploy),
            Permission::ManageEnvironments
            | Permission::ManageApplications
            | Permission::ManageUsers
            | Permission::ManageOwnAccount => None,
        }
    }
}

impl Actor {
    /// Refuses an API token limited to other applications or environments
    /// (a session reaches wherever its role does).
    pub fn require_reach(&self, env: &Environment) -> Result<()> {
        match &self.credential {
            Credential::Token { reach, .. }
                if !reach.covers_environment(&env.application, &env.name) =>
            {
                Err(Error::Forbidden(format!(
                    "this API token is limited to {reach}, not {}",
                    env.path()
                )))
            }
            _ => Ok(()),
        }
    }

    /// The actor as an approval records them: login and provider groups.
    pub fn approver(&self) -> Approver {
        Approver {
            login: self.login.clone(),
            groups: self.groups.clone(),
        }
    }

    /// [`Actor::require_reach`] for what concerns an application as a whole
    /// (its builds): the token names it, or one of its environments.
    pub fn require_reach_application(&self, app: &str) -> Result<()> {
        match &self.credential {
            Credential::Token { reach, .. } if !reach.covers_application(app) => Err(
                Error::Forbidden(format!("this API token is limited to {reach}, not {app}")),
            ),
            _ => Ok(()),
        }
    }

    /// The one check every operation makes: the role must reach the
    /// permission's least role and, for tokens, a scope must grant it.
    pub fn require(&self, permission: Permission) -> Result<()> {
        if self.role < permission.least_role() {
            return Err(Error::Forbidden(format!(
                "{} is a {} and this needs {}",
                self.login,
                self.role.as_str(),
                permission.least_role().as_str()
            )));
        }
        if let Credential::Token { scopes, .. } = &self.credential {
            match permission.scope() {
                Some(scope) if scopes.contains(scope) => {}
                Some(scope) => {
                    return Err(Error::Forbidden(format!(
                        "this token lacks the {:?} scope",
                        scope.as_str()
                    )))
                }
                None => {
                    return Err(Error::Forbidden(
                        "API tokens cannot do this; sign in to the dashboard".into(),
                    ))
                }
            }
        }
        Ok(())
    }

    /// May this actor do `permission` (deploy, roll back, lock, cancel) on
    /// an environment? Protected environments accept only admins and the
    /// principals named on them, for all of these: a deployer who may not
    /// deploy to production may not freeze, unfreeze or cancel it either.
    pub fn require_on(
        &self,
        permission: Permission,
        environment: &Environment,
        deployers: &[Principal],
    ) -> Result<()> {
        self.require(permission)?;
        if !environment.protected || self.role == Role::Admin {
            return Ok(());
        }
        let named = deployers
            .iter()
            .any(|p| p.matches(&self.login, &self.groups));
        if named {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "{} is protected: only admins and its named deployers may deploy, roll back, lock or cancel jobs there",
                environment.path()
            )))
        }
    }
}

/// Who may deploy to an environment (anyone with the deploy permission, or,
/// when protected, only admins and the named principals), and which builds
/// deploy there by themselves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeployPolicy {
    pub protected: bool,
    pub deployers: Vec<Principal>,
    /// Builds of matching branches are deployed as soon as they are
    /// registered, as the one who registered them.
    pub auto_deploy: Option<BranchPattern>,
    /// Builds of matching branches each get a QA environment of their own
    /// (a branch preview), a copy of this one.
    pub previews: Option<BranchPattern>,
    /// A deploy that meets a running job waits for it instead of being
    /// refused (auto-deploys always wait).
    pub queue_deploys: bool,
    /// What a deploy or rollback needs before it starts.
    pub approvals: ApprovalPolicy,
    /// Take builds only from this environment (those that went live there).
    pub promotes_from: Option<EnvName>,
}

impl DeployPolicy {
    /// From a form or API: a flag, `user:<login>` / `group:<provider>:<name>`
    /// entries separated by commas, spaces or newlines, and two branch
    /// patterns (empty: none).
    pub fn parse(
        protected: bool,
        deployers: &str,
        auto_deploy: &str,
        previews: &str,
    ) -> std::result::Result<DeployPolicy, InvalidInput> {
        let pattern = |field: &'static str, raw: &str| match raw.trim() {
            "" => Ok(None),
            pattern => BranchPattern::parse(pattern)
                .map(Some)
                .map_err(|e| InvalidInput::new(field, e.message)),
        };
        let auto_deploy = pattern("auto_deploy", auto_deploy)?;
        let previews = pattern("previews", previews)?;
        let mut parsed: Vec<Principal> = Vec::new();
        for raw in deployers
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            let principal = Principal::parse(raw)?;
            if !parsed.contains(&principal) {
                parsed.push(principal);
            }
        }
        if parsed.len() > 200 {
            return Err(InvalidInput::new("deployers", "name at most 200 deployers"));
        }
        Ok(DeployPolicy {
            protected,
            deployers: parsed,
            auto_deploy,
            previews,
            queue_deploys: false,
            approvals: ApprovalPolicy::default(),
            promotes_from: None,
        })
    }

    pub fn deployer_names(&self) -> Vec<String> {
        self.deployers.iter().map(|p| p.to_string()).collect()
    }
}

impl From<bool> for DeployPolicy {
    fn from(protected: bool) -> Self {
        DeployPolicy {
            protected,
            ..DeployPolicy::default()
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
mod tests;
