//! Who is named where access is decided: a user, or a group at an
//! identity provider.

use crate::error::InvalidInput;

/// How a user's group is recorded at sign-in, and matched: with the id of
/// the identity provider that vouched for it, since groups of different
/// providers are different groups (anyone can make a GitHub organisation
/// named like another provider's group).
pub fn qualified_group(provider: &str, name: &str) -> String {
    format!("{provider}:{name}")
}

/// Someone named as a deployer of a protected environment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    User(String),
    /// A group at the identity provider `provider` (its configured id).
    Group {
        provider: String,
        name: String,
    },
}

impl Principal {
    /// `user:<login>` or `group:<provider>:<name>`.
    pub fn parse(raw: &str) -> std::result::Result<Principal, InvalidInput> {
        let raw = raw.trim();
        let bad = |why: &str| InvalidInput::new("deployers", format!("{raw:?}: {why}"));
        let usage = "write user:<login> or group:<provider>:<name>";
        let (kind, rest) = raw.split_once(':').ok_or_else(|| bad(usage))?;
        let valid = |name: &str, extra: &[char]| {
            !name.is_empty()
                && name.len() <= 100
                && name.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') || extra.contains(&c)
                })
        };
        match kind {
            "user" if valid(rest, &['@']) => Ok(Principal::User(rest.to_owned())),
            "group" => {
                let Some((provider, name)) = rest.split_once(':') else {
                    return Err(bad(
                        "name the identity provider too, group:<provider>:<name> (e.g. group:oidc:ops): \
                         groups of different providers are different groups",
                    ));
                };
                if valid(provider, &[]) && valid(name, &['@', '/']) {
                    Ok(Principal::Group {
                        provider: provider.to_owned(),
                        name: name.to_owned(),
                    })
                } else {
                    Err(bad(usage))
                }
            }
            _ => Err(bad(usage)),
        }
    }
}

impl Principal {
    /// Whether it names the person `login` with (qualified) `groups`.
    pub fn matches(&self, login: &str, groups: &[String]) -> bool {
        match self {
            Principal::User(named) => named == login,
            Principal::Group { provider, name } => {
                groups.iter().any(|g| *g == qualified_group(provider, name))
            }
        }
    }
}

/// Stored and sent as its text, `user:<login>` or `group:<provider>:<name>`.
impl serde::Serialize for Principal {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Principal {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Principal::parse(&raw).map_err(|e| serde::de::Error::custom(e.message))
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::User(login) => write!(f, "user:{login}"),
            Principal::Group { provider, name } => write!(f, "group:{provider}:{name}"),
        }
    }
}
