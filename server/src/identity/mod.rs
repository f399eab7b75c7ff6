//! Signing in with an identity provider: GitHub, GitLab or any OpenID
//! Connect provider, configured by the operator.

pub mod config;
mod github;
mod oidc;

use std::sync::Arc;

use engine::ExternalIdentity;

pub use config::{Provider, ProviderKind};

/// Where to send the browser, and what to remember until it returns.
pub struct Authorization {
    pub url: String,
    pub state: String,
    pub pkce_verifier: String,
    pub nonce: String,
}

/// The account a provider vouched for.
#[derive(Clone, Debug)]
pub struct Account {
    pub subject: String,
    pub preferred_login: String,
    pub display_name: String,
    pub email: Option<String>,
    pub groups: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The provider could not be reached or is misconfigured.
    #[error("identity provider unavailable: {0}")]
    Provider(String),
    /// The provider (or Slipway) refused this sign-in.
    #[error("sign-in refused: {0}")]
    Refused(String),
}

/// The configured providers, shared by every request.
#[derive(Clone, Default)]
pub struct Providers {
    providers: Arc<Vec<Provider>>,
    public_url: Arc<str>,
}

impl Providers {
    pub fn new(providers: Vec<Provider>, public_url: &str) -> Self {
        Self {
            providers: Arc::new(providers),
            public_url: public_url.trim_end_matches('/').into(),
        }
    }

    pub fn list(&self) -> &[Provider] {
        &self.providers
    }

    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.config.id == id)
    }

    /// Where the provider sends the browser back to.
    pub fn redirect_url(&self, provider: &Provider) -> String {
        format!("{}/auth/{}/callback", self.public_url, provider.config.id)
    }

    pub async fn authorize(&self, provider: &Provider) -> Result<Authorization, IdentityError> {
        let redirect = self.redirect_url(provider);
        match provider.config.kind {
            ProviderKind::Github => github::authorize(provider, &redirect),
            ProviderKind::Oidc | ProviderKind::Gitlab => oidc::authorize(provider, &redirect).await,
        }
    }

    /// Exchanges the code (with the PKCE verifier) and checks the account may
    /// sign in here.
    pub async fn finish(
        &self,
        provider: &Provider,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<ExternalIdentity, IdentityError> {
        let redirect = self.redirect_url(provider);
        let account = match provider.config.kind {
            ProviderKind::Github => {
                github::finish(provider, &redirect, code, pkce_verifier).await?
            }
            ProviderKind::Oidc | ProviderKind::Gitlab => {
                oidc::finish(provider, &redirect, code, pkce_verifier, nonce).await?
            }
        };
        let allowed = &provider.config.allowed_groups;
        if !allowed.is_empty() && !account.groups.iter().any(|g| allowed.contains(g)) {
            return Err(IdentityError::Refused(format!(
                "{} is not in a group allowed to sign in",
                account.preferred_login
            )));
        }
        Ok(ExternalIdentity {
            provider: provider.config.id.clone(),
            subject: account.subject,
            preferred_login: login_from(&account.preferred_login),
            display_name: account.display_name.chars().take(100).collect(),
            email: account.email,
            groups: account.groups,
            role: provider.config.default_role,
        })
    }
}

/// A valid Slipway login made from what a provider calls the person.
fn login_from(preferred: &str) -> String {
    let cleaned: String = preferred
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let login: String = trimmed.chars().take(40).collect();
    match engine::domain::Login::parse(&login) {
        Ok(valid) => valid.as_str().to_owned(),
        Err(_) => "user".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::login_from;

    #[test]
    fn logins_are_made_safe() {
        assert_eq!(login_from("Alice"), "alice");
        assert_eq!(login_from("alice@example.com"), "alice-example.com");
        assert_eq!(login_from("-$(rm -rf)-"), "rm--rf");
        assert_eq!(login_from("!!!"), "user");
    }
}
