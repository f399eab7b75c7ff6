//! An ssh environment: a fleet of hosts, each with `releases/` and `current`.

use serde::{Deserialize, Serialize};

/// What only ssh environments have (the hosts part says how they are reached).
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SshForm {
    /// Unpack, switch and prune with `sudo -n` (hooks run as the user).
    #[serde(with = "super::checkbox")]
    pub ssh_sudo: bool,
    /// The Slipway URL hosts fetch the release from (empty: upload over SSH).
    pub fetch_from: String,
}

#[cfg(feature = "ssr")]
pub use server::*;

#[cfg(feature = "ssr")]
mod server {
    use engine::backends::dnf::SshHosts;
    use engine::backends::ssh::SshConfig;
    use engine::InvalidInput;

    use super::super::shared::optional;
    use super::super::EnvForm;
    use super::super::ReleaseForm;

    pub fn config(form: &EnvForm) -> Result<SshConfig, InvalidInput> {
        let health = &form.health;
        let health_check = match health.health_kind.trim() {
            "none" | "" => None,
            "command" => Some(optional(&health.health_command).ok_or_else(|| {
                InvalidInput::new(
                    "health_command",
                    "enter the command, or choose no health check",
                )
            })?),
            _ => {
                return Err(InvalidInput::new(
                    "health_kind",
                    "on ssh hosts the health check is a command run on each host",
                ))
            }
        };
        let SshHosts {
            hosts,
            hosts_command,
            hosts_file,
            user,
            port,
            identity_file,
            known_hosts,
            connect_timeout_secs,
        } = form.hosts.ssh_hosts()?;
        Ok(SshConfig {
            hosts,
            hosts_command,
            hosts_file,
            user,
            port,
            identity_file,
            known_hosts,
            deploy_path: form.release.target_dir.trim().into(),
            parallelism: form.hosts.parallel("stage")?,
            keep_releases: form.release.keep()?,
            before_switch: optional(&form.release.before_switch),
            after_switch: optional(&form.release.after_switch),
            health_check,
            health_timeout_secs: health.timeout_secs()?,
            connect_timeout_secs,
            sudo: form.ssh.ssh_sudo,
            fetch_from: optional(&form.ssh.fetch_from),
        })
    }

    pub fn fill(form: &mut EnvForm, config: &SshConfig) {
        form.hosts.fill(&SshHosts {
            hosts: config.hosts.clone(),
            hosts_command: config.hosts_command.clone(),
            hosts_file: config.hosts_file.clone(),
            user: config.user.clone(),
            port: config.port,
            identity_file: config.identity_file.clone(),
            known_hosts: config.known_hosts.clone(),
            connect_timeout_secs: config.connect_timeout_secs,
        });
        form.hosts.parallelism = config.parallelism.to_string();
        form.release = ReleaseForm::of(
            &config.deploy_path,
            config.keep_releases,
            config.before_switch.as_ref(),
            config.after_switch.as_ref(),
        );
        let health = &mut form.health;
        health.health_kind = if config.health_check.is_some() {
            "command"
        } else {
            "none"
        }
        .into();
        health.health_command = config.health_check.clone().unwrap_or_default();
        health.health_timeout_secs = config.health_timeout_secs.to_string();
        form.ssh.ssh_sudo = config.sudo;
        form.ssh.fetch_from = config.fetch_from.clone().unwrap_or_default();
    }
}
