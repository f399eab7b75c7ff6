//! A local environment: releases in a directory of this machine. It has no
//! form part of its own: the release and health parts hold its settings.

#[cfg(feature = "ssr")]
pub use server::*;

#[cfg(feature = "ssr")]
mod server {
    use engine::backends::local::{HealthCheck, LocalConfig};
    use engine::InvalidInput;

    use super::super::shared::optional;
    use super::super::EnvForm;
    use super::super::ReleaseForm;

    pub fn config(form: &EnvForm) -> Result<LocalConfig, InvalidInput> {
        let health = &form.health;
        let timeout_secs = health.timeout_secs()?;
        let health_check = match health.health_kind.trim() {
            "none" | "" => None,
            "command" => Some(HealthCheck::Command {
                command: health.health_command.trim().to_owned(),
                timeout_secs,
            }),
            "http" => Some(HealthCheck::Http {
                url: health.health_url.trim().to_owned(),
                timeout_secs,
            }),
            other => {
                return Err(InvalidInput::new(
                    "health_kind",
                    format!("unknown kind {other:?} (none, command or http)"),
                ))
            }
        };
        Ok(LocalConfig {
            target_dir: form.release.target_dir.trim().into(),
            keep_releases: form.release.keep()?,
            before_switch: optional(&form.release.before_switch),
            after_switch: optional(&form.release.after_switch),
            health_check,
        })
    }

    pub fn fill(form: &mut EnvForm, config: &LocalConfig) {
        form.release = ReleaseForm::of(
            &config.target_dir,
            config.keep_releases,
            config.before_switch.as_ref(),
            config.after_switch.as_ref(),
        );
        let health = &mut form.health;
        match &config.health_check {
            None => health.health_kind = "none".into(),
            Some(HealthCheck::Command {
                command,
                timeout_secs,
            }) => {
                health.health_kind = "command".into();
                health.health_command = command.clone();
                health.health_timeout_secs = timeout_secs.to_string();
            }
            Some(HealthCheck::Http { url, timeout_secs }) => {
                health.health_kind = "http".into();
                health.health_url = url.clone();
                health.health_timeout_secs = timeout_secs.to_string();
            }
        }
    }
}
