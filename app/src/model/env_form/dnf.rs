//! A dnf environment: a package version installed on this machine or on a
//! fleet (the hosts part; none listed or discovered means this machine).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DnfForm {
    pub package: String,
    pub repo_id: String,
    pub repo_url: String,
    /// "dnf" or "yum".
    pub package_manager: String,
    /// Run dnf and rpm with sudo.
    #[serde(with = "super::checkbox")]
    pub sudo: bool,
    /// One option per line.
    pub extra_options: String,
    pub install_root: String,
}

#[cfg(feature = "ssr")]
pub use server::*;

#[cfg(feature = "ssr")]
mod server {
    use engine::backends::dnf::{DnfConfig, DnfTarget, PackageManager};
    use engine::InvalidInput;

    use super::super::shared::{lines, optional, shown};
    use super::super::EnvForm;
    use super::DnfForm;

    impl DnfForm {
        pub fn defaults() -> Self {
            Self {
                package_manager: PackageManager::Dnf.command().into(),
                ..Default::default()
            }
        }
    }

    pub fn config(form: &EnvForm) -> Result<DnfConfig, InvalidInput> {
        let hosts = form.hosts.ssh_hosts()?;
        let target = if hosts.hosts.is_empty()
            && hosts.hosts_command.is_none()
            && hosts.hosts_file.is_none()
        {
            DnfTarget::Local
        } else {
            DnfTarget::Ssh(hosts)
        };
        let dnf = &form.dnf;
        Ok(DnfConfig {
            package: dnf.package.trim().to_owned(),
            repo_id: dnf.repo_id.trim().to_owned(),
            repo_url: dnf.repo_url.trim().to_owned(),
            target,
            sudo: dnf.sudo,
            package_manager: PackageManager::parse(&dnf.package_manager)?,
            extra_options: lines(&dnf.extra_options),
            install_root: optional(&dnf.install_root).map(Into::into),
            parallelism: form.hosts.parallel("install")?,
        })
    }

    pub fn fill(form: &mut EnvForm, config: &DnfConfig) {
        form.dnf = DnfForm {
            package: config.package.clone(),
            repo_id: config.repo_id.clone(),
            repo_url: config.repo_url.clone(),
            package_manager: config.package_manager.command().to_owned(),
            sudo: config.sudo,
            extra_options: config.extra_options.join("\n"),
            install_root: shown(config.install_root.as_ref()),
        };
        if let DnfTarget::Ssh(hosts) = &config.target {
            form.hosts.fill(hosts);
        }
        form.hosts.parallelism = config.parallelism.to_string();
    }
}
