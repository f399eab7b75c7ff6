//! Where an API token may act: everywhere (its owner's reach), or only on
//! the applications and environments it names.

use std::fmt;

use super::{AppName, EnvName};
use crate::error::InvalidInput;

/// One application (and all its environments), or one environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReachTarget {
    Application(AppName),
    Environment(AppName, EnvName),
}

/// A token's reach. Unlimited: everywhere its owner may act.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenReach {
    /// `None`: unlimited.
    targets: Option<Vec<ReachTarget>>,
}

impl TokenReach {
    /// `shop, billing/staging` (commas or spaces); empty: unlimited.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let mut targets = Vec::new();
        for word in raw
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
        {
            let target = match word.split_once('/') {
                None => ReachTarget::Application(name_of("limited_to", AppName::parse(word))?),
                Some((app, env)) => ReachTarget::Environment(
                    name_of("limited_to", AppName::parse(app))?,
                    name_of("limited_to", EnvName::parse(env))?,
                ),
            };
            if !targets.contains(&target) {
                targets.push(target);
            }
        }
        if targets.len() > 50 {
            return Err(InvalidInput::new(
                "limited_to",
                "name at most 50 applications or environments",
            ));
        }
        Ok(Self {
            targets: (!targets.is_empty()).then_some(targets),
        })
    }

    /// As stored. One that no longer parses reaches nothing (it fails
    /// closed, never open).
    pub fn stored(raw: Option<&str>) -> Self {
        match raw {
            None => Self::default(),
            Some(raw) => Self::parse(raw)
                .ok()
                .filter(|reach| reach.targets.is_some())
                .unwrap_or(Self {
                    targets: Some(Vec::new()),
                }),
        }
    }

    /// What is stored: `None` when unlimited.
    pub fn to_db(&self) -> Option<String> {
        self.targets.as_ref().map(|_| self.to_string())
    }

    pub fn is_unlimited(&self) -> bool {
        self.targets.is_none()
    }

    /// Whether it may act on environment `env` of application `app`.
    pub fn covers_environment(&self, app: &str, env: &str) -> bool {
        self.targets.as_ref().is_none_or(|targets| {
            targets.iter().any(|target| match target {
                ReachTarget::Application(a) => a.as_str() == app,
                ReachTarget::Environment(a, e) => a.as_str() == app && e.as_str() == env,
            })
        })
    }

    /// Whether it may act on application `app` as a whole (register its
    /// builds): it names the application, or one of its environments.
    pub fn covers_application(&self, app: &str) -> bool {
        self.targets.as_ref().is_none_or(|targets| {
            targets.iter().any(|target| match target {
                ReachTarget::Application(a) | ReachTarget::Environment(a, _) => a.as_str() == app,
            })
        })
    }
}

fn name_of<T>(field: &'static str, parsed: Result<T, InvalidInput>) -> Result<T, InvalidInput> {
    parsed.map_err(|e| InvalidInput::new(field, e.message))
}

impl fmt::Display for TokenReach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(targets) = &self.targets else {
            return f.write_str("everywhere");
        };
        let names: Vec<String> = targets
            .iter()
            .map(|target| match target {
                ReachTarget::Application(app) => app.to_string(),
                ReachTarget::Environment(app, env) => format!("{app}/{env}"),
            })
            .collect();
        f.write_str(&names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::TokenReach;

    #[test]
    fn a_reach_covers_what_it_names_and_an_unreadable_one_covers_nothing() {
        let reach = TokenReach::parse("shop, billing/staging").unwrap();
        assert!(reach.covers_environment("shop", "production"));
        assert!(reach.covers_environment("billing", "staging"));
        assert!(!reach.covers_environment("billing", "production"));
        assert!(reach.covers_application("billing"));
        assert!(!reach.covers_application("other"));
        assert_eq!(reach.to_db().as_deref(), Some("shop, billing/staging"));
        assert_eq!(TokenReach::stored(Some("shop, billing/staging")), reach);

        let unlimited = TokenReach::parse("  ").unwrap();
        assert!(unlimited.is_unlimited() && unlimited.covers_environment("any", "thing"));
        assert_eq!(unlimited.to_db(), None);

        let broken = TokenReach::stored(Some("$(reboot)/x"));
        assert!(!broken.covers_application("shop") && !broken.is_unlimited());
        assert_eq!(
            TokenReach::parse("shop/$(x)").unwrap_err().field,
            "limited_to"
        );
    }
}
