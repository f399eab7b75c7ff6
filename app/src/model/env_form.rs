//! The environment form: what the settings page shows and posts, one part
//! per concern, every field as the person typed it.
//!
//! On the server, `TryFrom<EnvForm> for BackendConfig` reads a posted form
//! into settings (saying which field is wrong), and `From<&Environment>`
//! fills the form from stored settings. A new setting touches its
//! backend's settings type, its form part here and its field on the page.

pub(crate) mod checkbox;
mod dnf;
mod docker;
mod local;
mod shared;
mod ssh;

pub use dnf::DnfForm;
pub use docker::DockerForm;
pub use shared::{AccessForm, HealthForm, HostsForm, ReleaseForm};
pub use ssh::SshForm;

use serde::{Deserialize, Serialize};

/// Every field of the form. The parts are flattened: each field posts
/// under its own name (`target_dir`, `docker_endpoint`, …).
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct EnvForm {
    pub name: String,
    /// "local", "ssh", "dnf" or "docker".
    pub backend: String,
    #[serde(flatten)]
    pub access: AccessForm,
    #[serde(flatten)]
    pub release: ReleaseForm,
    #[serde(flatten)]
    pub health: HealthForm,
    #[serde(flatten)]
    pub hosts: HostsForm,
    #[serde(flatten)]
    pub ssh: SshForm,
    #[serde(flatten)]
    pub dnf: DnfForm,
    #[serde(flatten)]
    pub docker: DockerForm,
}

#[cfg(feature = "ssr")]
mod convert {
    use engine::auth::DeployPolicy;
    use engine::backends::BackendConfig;
    use engine::domain::Environment;
    use engine::InvalidInput;

    use super::*;

    impl EnvForm {
        /// What every backend's part shows before anything is stored.
        fn defaults() -> Self {
            Self {
                backend: "local".into(),
                release: ReleaseForm::defaults(),
                health: HealthForm::defaults(),
                hosts: HostsForm::defaults(),
                dnf: DnfForm::defaults(),
                docker: DockerForm::defaults(),
                ..Default::default()
            }
        }

        /// The form for a new environment of `app`.
        pub fn new_environment(app: &str) -> Self {
            let mut form = Self::defaults();
            form.dnf.repo_id = format!("slipway-{app}");
            form
        }

        /// The stored environment and its deploy policy, as the form shows them.
        pub fn of(environment: &Environment, policy: &DeployPolicy) -> Self {
            let mut form = Self::from(environment);
            form.access = AccessForm::from_policy(policy);
            form
        }
    }

    impl From<&Environment> for EnvForm {
        fn from(environment: &Environment) -> Self {
            let mut form = Self::defaults();
            form.name = environment.name.clone();
            form.backend = environment.config.backend_name().to_owned();
            form.access.protected = environment.protected;
            match &environment.config {
                BackendConfig::Local(config) => local::fill(&mut form, config),
                BackendConfig::Ssh(config) => ssh::fill(&mut form, config),
                BackendConfig::Dnf(config) => dnf::fill(&mut form, config),
                BackendConfig::Docker(config) => docker::fill(&mut form, config),
            }
            form
        }
    }

    impl TryFrom<&EnvForm> for BackendConfig {
        type Error = InvalidInput;

        fn try_from(form: &EnvForm) -> Result<Self, InvalidInput> {
            Ok(match form.backend.trim() {
                "local" | "" => BackendConfig::Local(local::config(form)?),
                "ssh" => BackendConfig::Ssh(ssh::config(form)?),
                "dnf" => BackendConfig::Dnf(dnf::config(form)?),
                "docker" => BackendConfig::Docker(docker::config(form)?),
                other => {
                    return Err(InvalidInput::new(
                        "backend",
                        format!("unknown backend {other:?} (local, ssh, dnf or docker)"),
                    ))
                }
            })
        }
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use engine::backends::dnf::{DnfConfig, DnfTarget, PackageManager, SshHosts};
    use engine::backends::docker::DockerConfig;
    use engine::backends::local::{HealthCheck, LocalConfig};
    use engine::backends::ssh::SshConfig;
    use engine::backends::BackendConfig;
    use engine::domain::{Environment, EnvironmentKind};

    use super::EnvForm;

    fn environment(config: BackendConfig) -> Environment {
        Environment {
            id: 1,
            application_id: 1,
            application: "shop".into(),
            name: "staging".into(),
            kind: EnvironmentKind::Permanent,
            config,
            protected: true,
            auto_deploy: None,
            previews: None,
            queue_deploys: false,
            approvals: Default::default(),
            promotes_from: None,
            lock: None,
            expires_at: None,
            destroyed_at: None,
            created_at: engine::time::now(),
            updated_at: engine::time::now(),
        }
    }

    fn hosts() -> SshHosts {
        SshHosts {
            hosts: vec!["127.0.0.2".into(), "127.0.0.3:2222".into()],
            hosts_command: None,
            hosts_file: None,
            user: "deploy".into(),
            port: 2200,
            identity_file: Some("/etc/slipway/id_ed25519".into()),
            known_hosts: "[127.0.0.2]:2200 ssh-ed25519 AAAA".into(),
            connect_timeout_secs: 10,
        }
    }

    fn configs() -> Vec<BackendConfig> {
        let mut docker = DockerConfig::new(8080, 18080);
        docker.image_repository = Some("registry.example.com/shop".into());
        docker.memory_mb = Some(256);
        docker.cpus = Some(0.5);
        docker.health_path = Some("/health".into());
        vec![
            BackendConfig::Local(LocalConfig {
                target_dir: "/srv/shop/staging".into(),
                keep_releases: 3,
                before_switch: Some("make migrate".into()),
                after_switch: None,
                health_check: Some(HealthCheck::Http {
                    url: "http://127.0.0.1:8080/health".into(),
                    timeout_secs: 12,
                }),
            }),
            BackendConfig::Ssh(SshConfig {
                hosts: hosts().hosts,
                hosts_command: None,
                hosts_file: None,
                user: "deploy".into(),
                port: 2200,
                identity_file: hosts().identity_file,
                known_hosts: hosts().known_hosts,
                deploy_path: "/srv/shop".into(),
                parallelism: 4,
                keep_releases: 7,
                before_switch: None,
                after_switch: Some("sudo systemctl reload shop".into()),
                health_check: Some("./bin/check".into()),
                health_timeout_secs: 20,
                connect_timeout_secs: 10,
                sudo: true,
                fetch_from: Some("http://127.0.0.1:3000".into()),
            }),
            BackendConfig::Dnf(DnfConfig {
                package: "shop".into(),
                repo_id: "slipway-shop".into(),
                repo_url: "http://127.0.0.1:3000/repo/shop/".into(),
                target: DnfTarget::Ssh(hosts()),
                sudo: true,
                package_manager: PackageManager::Yum,
                extra_options: vec!["--nogpgcheck".into(), "--setopt=x=y".into()],
                install_root: Some("/tmp/root".into()),
                parallelism: 2,
            }),
            BackendConfig::Docker(docker),
        ]
    }

    #[test]
    fn every_backends_settings_survive_the_form_unchanged() {
        for config in configs() {
            let form = EnvForm::from(&environment(config.clone()));
            assert_eq!(BackendConfig::try_from(&form).unwrap(), config, "{form:?}");
            assert!(form.access.protected);
        }
    }

    #[test]
    fn the_new_environment_form_names_what_is_missing() {
        let form = EnvForm::new_environment("shop");
        assert_eq!(form.dnf.repo_id, "slipway-shop");
        let mut docker = form.clone();
        docker.backend = "docker".into();
        // No published port: the form says which field to fill.
        let error = BackendConfig::try_from(&docker).unwrap_err();
        assert_eq!(error.field, "publish_port");
        let mut unknown = form;
        unknown.backend = "ftp".into();
        assert_eq!(
            BackendConfig::try_from(&unknown).unwrap_err().field,
            "backend"
        );
    }
}
