//! Identity providers from configuration: a TOML file (`--auth-config`) and
//! environment variables. Client secrets are read once and never printed.

use std::fmt;
use std::path::Path;

use engine::domain::Role;
use serde::Deserialize;

/// A secret that never shows in logs or `Debug` output.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Any OpenID Connect provider, found through its issuer's discovery document.
    Oidc,
    /// GitLab (gitlab.com or self-hosted): OpenID Connect with GitLab's defaults.
    Gitlab,
    /// GitHub: OAuth2 plus its user API (GitHub is not an OIDC provider for logins).
    Github,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// In URLs (`/auth/<id>/start`) and audit rows: lowercase letters, digits, '-'.
    pub id: String,
    pub kind: ProviderKind,
    /// On the login button. Defaults from the kind.
    #[serde(default)]
    pub name: Option<String>,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// Read the client secret from this environment variable instead.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// OIDC/GitLab issuer URL (GitLab defaults to https://gitlab.com).
    #[serde(default)]
    pub issuer: Option<String>,
    /// OIDC without discovery: the provider's endpoints, given by hand
    /// (all three, with `issuer`). Discovery is used when they are absent.
    #[serde(default)]
    pub authorization_url: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Extra scopes to ask for (OIDC always asks for `openid email profile`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The ID-token claim listing the user's groups (OIDC: `groups`, GitLab: `groups_direct`).
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// Only people in one of these groups (or GitHub organisations) may sign in. Empty: anyone.
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    /// GitHub API base (for GitHub Enterprise). Default https://api.github.com.
    #[serde(default)]
    pub api_url: Option<String>,
    /// GitHub web base (for GitHub Enterprise). Default https://github.com.
    #[serde(default)]
    pub web_url: Option<String>,
    /// The role of people signing in for the first time. Default viewer.
    #[serde(default = "default_role")]
    pub default_role: Role,
}

fn default_role() -> Role {
    Role::Viewer
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    #[serde(default)]
    providers: Vec<ProviderConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// Only the line and the parser's message: the offending text itself
    /// may be a secret (a `client_secret` line with a typo).
    #[error("{path}, line {line}: {message}")]
    Parse {
        path: String,
        line: usize,
        message: String,
    },
    #[error("identity provider {id:?}: {message}")]
    Invalid { id: String, message: String },
}

/// A provider ready to use: validated, with its secret resolved.
#[derive(Clone, Debug)]
pub struct Provider {
    pub config: ProviderConfig,
    pub client_secret: Option<Secret>,
    /// OIDC metadata kept between sign-in starts (see `oidc`).
    pub oidc_metadata: std::sync::Arc<super::oidc::MetadataCache>,
}

impl Provider {
    pub fn display_name(&self) -> String {
        self.config
            .name
            .clone()
            .unwrap_or_else(|| match self.config.kind {
                ProviderKind::Github => "GitHub".to_owned(),
                ProviderKind::Gitlab => "GitLab".to_owned(),
                ProviderKind::Oidc => "single sign-on".to_owned(),
            })
    }

    pub fn issuer(&self) -> Option<String> {
        match self.config.kind {
            ProviderKind::Gitlab => Some(
                self.config
                    .issuer
                    .clone()
                    .unwrap_or_else(|| "https://gitlab.com".to_owned()),
            ),
            _ => self.config.issuer.clone(),
        }
    }

    pub fn groups_claim(&self) -> String {
        self.config.groups_claim.clone().unwrap_or_else(|| {
            match self.config.kind {
                ProviderKind::Gitlab => "groups_direct",
                _ => "groups",
            }
            .to_owned()
        })
    }
}

/// Loads providers from `file` (if given) and from `SLIPWAY_OIDC_*`,
/// `SLIPWAY_GITLAB_*` and `SLIPWAY_GITHUB_*` variables (see the README).
pub fn load(
    file: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Provider>, ConfigError> {
    let mut configs = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.display().to_string(),
                source,
            })?;
            toml::from_str::<AuthFile>(&text)
                .map_err(|e| ConfigError::Parse {
                    path: path.display().to_string(),
                    line: e.span().map_or(1, |span| {
                        text.get(..span.start)
                            .map_or(0, |before| before.matches('\n').count())
                            + 1
                    }),
                    message: e.message().to_owned(),
                })?
                .providers
        }
        None => Vec::new(),
    };
    configs.extend(from_env(&env));
    let mut providers: Vec<Provider> = Vec::new();
    for config in configs {
        let provider = validate(config, &env)?;
        if providers.iter().any(|p| p.config.id == provider.config.id) {
            return Err(invalid(&provider.config.id, "two providers have this id"));
        }
        providers.push(provider);
    }
    Ok(providers)
}

fn from_env(env: &impl Fn(&str) -> Option<String>) -> Vec<ProviderConfig> {
    let mut out = Vec::new();
    for (prefix, id, kind) in [
        ("SLIPWAY_OIDC", "oidc", ProviderKind::Oidc),
        ("SLIPWAY_GITLAB", "gitlab", ProviderKind::Gitlab),
        ("SLIPWAY_GITHUB", "github", ProviderKind::Github),
    ] {
        let Some(client_id) = env(&format!("{prefix}_CLIENT_ID")) else {
            continue;
        };
        let list = |name: &str| -> Vec<String> {
            env(&format!("{prefix}_{name}"))
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        out.push(ProviderConfig {
            id: id.to_owned(),
            kind,
            name: env(&format!("{prefix}_NAME")),
            client_id,
            client_secret: None,
            client_secret_env: Some(format!("{prefix}_CLIENT_SECRET")),
            issuer: env(&format!("{prefix}_ISSUER")),
            authorization_url: env(&format!("{prefix}_AUTHORIZATION_URL")),
            token_url: env(&format!("{prefix}_TOKEN_URL")),
            jwks_url: env(&format!("{prefix}_JWKS_URL")),
            scopes: list("SCOPES"),
            groups_claim: env(&format!("{prefix}_GROUPS_CLAIM")),
            allowed_groups: list("ALLOWED_GROUPS"),
            api_url: env(&format!("{prefix}_API_URL")),
            web_url: env(&format!("{prefix}_WEB_URL")),
            default_role: env(&format!("{prefix}_DEFAULT_ROLE"))
                .and_then(|r| Role::parse(&r))
                .unwrap_or(Role::Viewer),
        });
    }
    out
}

fn invalid(id: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        id: id.to_owned(),
        message: message.into(),
    }
}

fn validate(
    config: ProviderConfig,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Provider, ConfigError> {
    let id = config.id.clone();
    let id_ok = !id.is_empty()
        && id.len() <= 40
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !id_ok {
        return Err(invalid(
            &id,
            "an id is 1-40 lowercase letters, digits or '-'",
        ));
    }
    if config.client_id.trim().is_empty() {
        return Err(invalid(&id, "client_id is empty"));
    }
    let client_secret = match (&config.client_secret, &config.client_secret_env) {
        (Some(secret), _) => Some(secret.clone()),
        (None, Some(var)) => env(var).map(Secret::new),
        (None, None) => None,
    };
    if config.kind == ProviderKind::Github && client_secret.is_none() {
        return Err(invalid(&id, "GitHub needs a client secret"));
    }
    let provider = Provider {
        config,
        client_secret,
        oidc_metadata: Default::default(),
    };
    for url in [
        provider.issuer(),
        provider.config.api_url.clone(),
        provider.config.web_url.clone(),
    ]
    .into_iter()
    .flatten()
    {
        let parsed = url::Url::parse(&url).map_err(|e| invalid(&id, format!("{url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(invalid(&id, format!("{url:?}: use an http(s) URL")));
        }
    }
    if provider.config.kind == ProviderKind::Oidc && provider.issuer().is_none() {
        return Err(invalid(&id, "an OIDC provider needs its issuer URL"));
    }
    Ok(provider)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn providers_from_environment_variables() {
        let env = |name: &str| -> Option<String> {
            match name {
                "SLIPWAY_OIDC_CLIENT_ID" => Some("slipway".into()),
                "SLIPWAY_OIDC_CLIENT_SECRET" => Some("s3cret".into()),
                "SLIPWAY_OIDC_ISSUER" => Some("http://127.0.0.1:9000".into()),
                "SLIPWAY_OIDC_ALLOWED_GROUPS" => Some("eng, ops".into()),
                _ => None,
            }
        };
        let providers = load(None, env).unwrap();
        assert_eq!(providers.len(), 1);
        let oidc = &providers[0];
        assert_eq!(oidc.config.id, "oidc");
        assert_eq!(oidc.config.allowed_groups, ["eng", "ops"]);
        assert_eq!(oidc.client_secret.as_ref().unwrap().expose(), "s3cret");
        assert!(
            !format!("{oidc:?}").contains("s3cret"),
            "secrets never in Debug output"
        );
    }

    #[test]
    fn a_file_that_does_not_parse_is_reported_by_line_without_its_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.toml");
        std::fs::write(
            &path,
            "[[providers]]\nid = \"corp\"\nclient_secret = \"hunter2-very-secret\n",
        )
        .unwrap();
        let message = load(Some(&path), no_env).unwrap_err().to_string();
        assert!(message.contains("line 3"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn a_file_with_bad_values_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.toml");
        let write = |text: &str| std::fs::write(&path, text).unwrap();
        write("[[providers]]\nid = \"Corp SSO\"\nkind = \"oidc\"\nclient_id = \"x\"\nissuer = \"https://sso\"\n");
        assert!(load(Some(&path), no_env)
            .unwrap_err()
            .to_string()
            .contains("lowercase"));
        write("[[providers]]\nid = \"corp\"\nkind = \"oidc\"\nclient_id = \"x\"\n");
        assert!(load(Some(&path), no_env)
            .unwrap_err()
            .to_string()
            .contains("issuer"));
        write("[[providers]]\nid = \"gh\"\nkind = \"github\"\nclient_id = \"x\"\n");
        assert!(load(Some(&path), no_env)
            .unwrap_err()
            .to_string()
            .contains("secret"));
        write("[[providers]]\nid = \"corp\"\nkind = \"saml\"\nclient_id = \"x\"\n");
        assert!(load(Some(&path), no_env).is_err());
        write("[[providers]]\nid = \"lab\"\nkind = \"gitlab\"\nclient_id = \"x\"\nclient_secret = \"y\"\n");
        let providers = load(Some(&path), no_env).unwrap();
        assert_eq!(providers[0].issuer().as_deref(), Some("https://gitlab.com"));
        assert_eq!(providers[0].groups_claim(), "groups_direct");
    }
}
