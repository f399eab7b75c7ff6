//! Settings of a `local` environment, validated before they are saved.

use std::path::{Component, PathBuf};

use serde::{Deserialize, Serialize};

use super::DEFAULT_KEEP_RELEASES;
use crate::error::InvalidInput;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalConfig {
    /// Absolute directory holding `releases/` and `current`.
    pub target_dir: PathBuf,
    /// How many release directories to keep (the live one and the rollback
    /// target are always kept).
    #[serde(default = "crate::domain::settings::default_keep")]
    pub keep_releases: u32,
    /// Shell command run in the new release before the switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_switch: Option<String>,
    /// Shell command run in the new release after the switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_switch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum HealthCheck {
    /// Passes when the command exits 0.
    Command {
        command: String,
        #[serde(default = "crate::domain::settings::default_health_timeout")]
        timeout_secs: u64,
    },
    /// Passes when a GET answers 2xx; retried until the timeout.
    Http {
        url: String,
        #[serde(default = "crate::domain::settings::default_health_timeout")]
        timeout_secs: u64,
    },
}

impl HealthCheck {
    pub fn timeout_secs(&self) -> u64 {
        match self {
            HealthCheck::Command { timeout_secs, .. } | HealthCheck::Http { timeout_secs, .. } => {
                *timeout_secs
            }
        }
    }
}

impl LocalConfig {
    pub fn new(target_dir: impl Into<PathBuf>) -> Self {
        Self {
            target_dir: target_dir.into(),
            keep_releases: DEFAULT_KEEP_RELEASES,
            before_switch: None,
            after_switch: None,
            health_check: None,
        }
    }

    pub fn validate(&self) -> Result<(), InvalidInput> {
        let dir = &self.target_dir;
        if !dir.is_absolute() {
            return Err(InvalidInput::new(
                "target_dir",
                "the target directory must be an absolute path",
            ));
        }
        if dir.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(InvalidInput::new(
                "target_dir",
                "the target directory must not contain '..'",
            ));
        }
        if dir.parent().is_none() {
            return Err(InvalidInput::new(
                "target_dir",
                "the target directory cannot be '/'",
            ));
        }
        if dir.to_str().is_none_or(|s| s.chars().any(char::is_control)) {
            return Err(InvalidInput::new(
                "target_dir",
                "the target directory must be plain text",
            ));
        }
        super::validate_release_settings(
            self.keep_releases,
            &[
                ("before_switch", &self.before_switch),
                ("after_switch", &self.after_switch),
            ],
        )?;
        match &self.health_check {
            None => {}
            Some(check) => {
                if !(1..=600).contains(&check.timeout_secs()) {
                    return Err(InvalidInput::new(
                        "health_check",
                        "the timeout must be 1-600 seconds",
                    ));
                }
                match check {
                    HealthCheck::Command { command, .. } if command.trim().is_empty() => {
                        return Err(InvalidInput::new(
                            "health_check",
                            "the health-check command is empty",
                        ))
                    }
                    HealthCheck::Http { url, .. } => {
                        let parsed = url::Url::parse(url).map_err(|e| {
                            InvalidInput::new(
                                "health_check",
                                format!("the health-check URL is not valid: {e}"),
                            )
                        })?;
                        if !matches!(parsed.scheme(), "http" | "https") {
                            return Err(InvalidInput::new(
                                "health_check",
                                "the health-check URL must be http(s)",
                            ));
                        }
                    }
                    HealthCheck::Command { .. } => {}
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_or_escaping_targets_are_refused() {
        assert!(LocalConfig::new("/srv/app").validate().is_ok());
        assert!(LocalConfig::new("srv/app").validate().is_err());
        assert!(LocalConfig::new("/srv/../etc").validate().is_err());
        assert!(LocalConfig::new("/").validate().is_err());
    }

    #[test]
    fn health_check_urls_must_be_http() {
        let mut config = LocalConfig::new("/srv/app");
        config.health_check = Some(HealthCheck::Http {
            url: "file:///etc/passwd".into(),
            timeout_secs: 5,
        });
        assert!(config.validate().is_err());
        config.health_check = Some(HealthCheck::Http {
            url: "http://127.0.0.1:8080/up".into(),
            timeout_secs: 5,
        });
        assert!(config.validate().is_ok());
    }

    #[test]
    fn keep_defaults_to_five_when_absent() {
        let config: LocalConfig = serde_json::from_str(r#"{"target_dir":"/srv/app"}"#).unwrap();
        assert_eq!(config.keep_releases, 5);
    }
}
