// The environment form posts one field per argument; the server-function
// macro generates the client side, where the attribute on the fn does not reach.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;

use crate::model::{EnvDetail, EnvSettings};

#[server(prefix = "/fn", endpoint = "get_environment")]
pub async fn get_environment(app: String, env: String) -> Result<EnvDetail, ServerFnError> {
    use super::context::{actor, engine, to_server_error};
    use super::convert;
    let (engine, actor) = (engine()?, actor().await?);
    let environment = engine
        .environment(&actor, &app, &env)
        .await
        .map_err(to_server_error)?;
    let engine::EnvironmentActivity {
        activity,
        live,
        recent_jobs,
    } = engine
        .environment_activity(&actor, &environment, 10)
        .await
        .map_err(to_server_error)?;
    let releases = engine
        .releases(&actor, &environment, None, 50)
        .await
        .map_err(to_server_error)?;
    let builds = engine
        .deployable_builds(&actor, &environment, 100)
        .await
        .map_err(to_server_error)?;
    let vars = engine
        .env_vars_masked(&actor, &environment)
        .await
        .map_err(to_server_error)?;
    let policy = engine
        .deploy_policy(&actor, &environment)
        .await
        .map_err(to_server_error)?;
    let mut settings = convert::settings(&environment);
    settings.deployers = policy.deployer_names().join(", ");
    settings.auto_deploy = policy
        .auto_deploy
        .map(|pattern| pattern.to_string())
        .unwrap_or_default();
    settings.previews = policy
        .previews
        .map(|pattern| pattern.to_string())
        .unwrap_or_default();
    Ok(EnvDetail {
        summary: convert::env_summary(&environment, live.as_ref(), recent_jobs.first()),
        settings,
        vars: vars.iter().map(convert::var).collect(),
        releases: releases.iter().map(convert::release).collect(),
        builds: builds.iter().map(convert::build).collect(),
        recent_jobs: recent_jobs.iter().map(convert::job).collect(),
        unsettled: engine::domain::unsettled(recent_jobs.first()),
        activity,
        may: crate::model::MayHere {
            deploy_refused: actor
                .require_on(
                    engine::auth::Permission::Deploy,
                    &environment,
                    &policy.deployers,
                )
                .err()
                .map(|e| e.public_message()),
            manage: actor
                .require(engine::auth::Permission::ManageEnvironments)
                .is_ok(),
        },
    })
}

/// Settings for the "new environment" form.
#[server(prefix = "/fn", endpoint = "default_settings")]
pub async fn default_settings(app: String) -> Result<EnvSettings, ServerFnError> {
    use super::context::{actor, engine, to_server_error};
    let (engine, actor) = (engine()?, actor().await?);
    // No form for an application that is not there.
    engine
        .application(&actor, &app)
        .await
        .map_err(to_server_error)?;
    Ok(EnvSettings {
        backend: "local".into(),
        // No default: one directory per environment, which the form cannot
        // know before it is named (`/srv/<app>/` would hold them all).
        target_dir: String::new(),
        keep_releases: 5,
        user: "deploy".into(),
        port: 22,
        parallelism: 10,
        health_kind: "none".into(),
        health_timeout_secs: 30,
        repo_id: format!("slipway-{app}"),
        package_manager: "dnf".into(),
        docker: crate::model::DockerSettings {
            endpoint: engine::backends::docker::DEFAULT_ENDPOINT.into(),
            container_port: 80,
            publish_address: "127.0.0.1".into(),
            health_path: "/".into(),
            drain_timeout_secs: 10,
            ..Default::default()
        },
        ..Default::default()
    })
}

/// Creates (when `original` is empty) or updates an environment.
#[server(prefix = "/fn", endpoint = "save_environment")]
pub async fn save_environment(
    app: String,
    original: String,
    name: String,
    target_dir: String,
    keep_releases: String,
    before_switch: String,
    after_switch: String,
    health_kind: String,
    health_command: String,
    health_url: String,
    health_timeout_secs: String,
    protected: Option<String>,
    deployers: String,
    // A branch pattern whose builds deploy here as they are registered (absent or empty: none).
    auto_deploy: Option<String>,
    // A branch pattern whose builds each get a QA environment copying this one (docker; absent or empty: none).
    previews: Option<String>,
    backend: String,
    hosts: String,
    hosts_command: String,
    hosts_file: String,
    user: String,
    port: String,
    identity_file: String,
    known_hosts: String,
    parallelism: String,
    package: String,
    repo_id: String,
    repo_url: String,
    package_manager: String,
    sudo: Option<String>,
    // ssh: run the release's own steps with `sudo -n`.
    ssh_sudo: Option<String>,
    // ssh: the Slipway URL hosts fetch the release from (absent or empty: upload).
    fetch_from: Option<String>,
    extra_options: String,
    install_root: String,
    docker_endpoint: String,
    // docker: where images come from (absent or empty: already on the engine).
    image_repository: Option<String>,
    container_port: String,
    publish_address: String,
    publish_port: String,
    network: String,
    health_path: String,
    drain_timeout_secs: String,
    memory_mb: String,
    cpus: String,
) -> Result<String, ServerFnError> {
    use super::context::{actor, engine, invalid, to_server_error};
    use engine::backends::dnf::{DnfConfig, DnfTarget, PackageManager, SshHosts};
    use engine::backends::{local::HealthCheck, local::LocalConfig, ssh::SshConfig, BackendConfig};
    let (engine, actor) = (engine()?, actor().await?);
    let keep_releases: u32 = field(
        &keep_releases,
        "keep_releases: enter a whole number of releases to keep",
    )?;
    let timeout_secs: u64 = field(
        &health_timeout_secs,
        "health_check: the timeout must be a whole number of seconds",
    )?;
    let optional = |s: String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    // A form field parsed as a number, or the message saying what to enter.
    fn field<T: std::str::FromStr>(raw: &str, message: &str) -> Result<T, ServerFnError> {
        raw.trim()
            .parse()
            .map_err(|_| super::context::invalid(message))
    }
    // A textarea: its non-empty lines, trimmed.
    fn lines(raw: &str) -> Vec<String> {
        raw.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }
    let config = match backend.as_str() {
        "local" | "" => {
            let health_check = match health_kind.as_str() {
                "none" | "" => None,
                "command" => Some(HealthCheck::Command {
                    command: health_command.trim().to_owned(),
                    timeout_secs,
                }),
                "http" => Some(HealthCheck::Http {
                    url: health_url.trim().to_owned(),
                    timeout_secs,
                }),
                other => return Err(invalid(format!("health_check: unknown kind {other:?}"))),
            };
            BackendConfig::Local(LocalConfig {
                target_dir: target_dir.trim().into(),
                keep_releases,
                before_switch: optional(before_switch),
                after_switch: optional(after_switch),
                health_check,
            })
        }
        "ssh" => {
            let health_check =
                match health_kind.as_str() {
                    "none" | "" => None,
                    "command" => Some(optional(health_command).ok_or_else(|| {
                        invalid("health_command: enter the command, or choose no health check")
                    })?),
                    _ => return Err(invalid(
                        "health_check: on ssh hosts the health check is a command run on each host",
                    )),
                };
            let port: u16 = field(&port, "port: enter a port number 1-65535")?;
            let parallelism: u32 = field(
                &parallelism,
                "parallelism: enter how many hosts stage at once",
            )?;
            BackendConfig::Ssh(SshConfig {
                hosts: lines(&hosts),
                hosts_command: optional(hosts_command),
                hosts_file: optional(hosts_file).map(Into::into),
                user: user.trim().to_owned(),
                port,
                identity_file: optional(identity_file).map(Into::into),
                known_hosts: known_hosts.trim().to_owned(),
                deploy_path: target_dir.trim().into(),
                parallelism,
                keep_releases,
                before_switch: optional(before_switch),
                after_switch: optional(after_switch),
                health_check,
                health_timeout_secs: timeout_secs,
                connect_timeout_secs: 10,
                sudo: ssh_sudo.is_some(),
                fetch_from: fetch_from.and_then(optional),
            })
        }
        "dnf" => {
            let port: u16 = field(&port, "port: enter a port number 1-65535")?;
            let parallelism: u32 = field(
                &parallelism,
                "parallelism: enter how many hosts install at once",
            )?;
            let hosts: Vec<String> = lines(&hosts);
            let (hosts_command, hosts_file) = (optional(hosts_command), optional(hosts_file));
            let target = if hosts.is_empty() && hosts_command.is_none() && hosts_file.is_none() {
                DnfTarget::Local
            } else {
                DnfTarget::Ssh(SshHosts {
                    hosts,
                    hosts_command,
                    hosts_file: hosts_file.map(Into::into),
                    user: user.trim().to_owned(),
                    port,
                    identity_file: optional(identity_file).map(Into::into),
                    known_hosts: known_hosts.trim().to_owned(),
                    connect_timeout_secs: 10,
                })
            };
            BackendConfig::Dnf(DnfConfig {
                package: package.trim().to_owned(),
                repo_id: repo_id.trim().to_owned(),
                repo_url: repo_url.trim().to_owned(),
                target,
                sudo: sudo.is_some(),
                package_manager: PackageManager::parse(&package_manager)
                    .map_err(|e| invalid(e.to_string()))?,
                extra_options: lines(&extra_options),
                install_root: optional(install_root).map(Into::into),
                parallelism,
            })
        }
        "docker" => {
            let mut config = engine::backends::docker::DockerConfig::new(
                field::<u16>(
                    &container_port,
                    "container_port: enter a port number 1-65535",
                )?,
                field::<u16>(&publish_port, "publish_port: enter a port number 1-65535")?,
            );
            if let Some(endpoint) = optional(docker_endpoint) {
                config.endpoint = endpoint;
            }
            config.image_repository = image_repository.and_then(optional);
            if let Some(address) = optional(publish_address) {
                config.publish_address = address;
            }
            config.network = optional(network);
            (config.health_path, config.health_command) = match health_kind.as_str() {
                "command" => (None, optional(health_command)),
                _ => (optional(health_path), None),
            };
            config.health_timeout_secs = timeout_secs;
            config.keep_containers = keep_releases;
            config.drain_timeout_secs = field::<u64>(
                &drain_timeout_secs,
                "drain_timeout_secs: enter a whole number",
            )?;
            config.memory_mb = optional(memory_mb)
                .map(|m| field::<u64>(&m, "memory_mb: enter a whole number"))
                .transpose()?;
            config.cpus = optional(cpus)
                .map(|c| {
                    c.parse::<f64>()
                        .map_err(|_| invalid("cpus: enter a number of CPUs, e.g. 0.5"))
                })
                .transpose()?;
            BackendConfig::Docker(config)
        }
        other => return Err(invalid(format!("backend: unknown backend {other:?}"))),
    };
    let policy = engine::auth::DeployPolicy::parse(
        protected.is_some(),
        &deployers,
        auto_deploy.as_deref().unwrap_or_default(),
        previews.as_deref().unwrap_or_default(),
    )
    .map_err(|e| to_server_error(e.into()))?;
    let env = if original.is_empty() {
        engine
            .create_environment(&actor, &app, &name, config, policy)
            .await
    } else {
        engine
            .update_environment(&actor, &app, &original, config, policy)
            .await
    }
    .map_err(to_server_error)?;
    Ok(env.name)
}

#[server(prefix = "/fn", endpoint = "delete_environment")]
pub async fn delete_environment(app: String, env: String) -> Result<(), ServerFnError> {
    use super::context::{actor, engine, to_server_error};
    let (engine, actor) = (engine()?, actor().await?);
    engine
        .delete_environment(&actor, &app, &env)
        .await
        .map_err(to_server_error)
}

#[server(prefix = "/fn", endpoint = "lock_environment")]
pub async fn lock_environment(
    app: String,
    env: String,
    reason: String,
) -> Result<(), ServerFnError> {
    use super::context::{actor, engine, to_server_error};
    let (engine, actor) = (engine()?, actor().await?);
    engine
        .lock(&actor, &app, &env, &reason)
        .await
        .map_err(to_server_error)
}

#[server(prefix = "/fn", endpoint = "unlock_environment")]
pub async fn unlock_environment(app: String, env: String) -> Result<(), ServerFnError> {
    use super::context::{actor, engine, to_server_error};
    let (engine, actor) = (engine()?, actor().await?);
    engine
        .unlock(&actor, &app, &env)
        .await
        .map_err(to_server_error)
}

#[server(prefix = "/fn", endpoint = "set_env_var")]
pub async fn set_env_var(
    app: String,
    env: String,
    name: String,
    value: String,
    secret: Option<String>,
) -> Result<(), ServerFnError> {
    use super::context::{actor, engine, to_server_error};
    let (engine, actor) = (engine()?, actor().await?);
    let request = engine::EnvVarRequest {
        name,
        value,
        secret: secret.is_some(),
    };
    engine
        .set_env_var(&actor, &app, &env, request)
        .await
        .map_err(to_server_error)
}

#[server(prefix = "/fn", endpoint = "delete_env_var")]
pub async fn delete_env_var(app: String, env: String, name: String) -> Result<(), ServerFnError> {
    use super::context::{actor, engine, to_server_error};
    let (engine, actor) = (engine()?, actor().await?);
    engine
        .delete_env_var(&actor, &app, &env, &name)
        .await
        .map_err(to_server_error)
}

/// Queues a deploy; returns the job id.
#[server(prefix = "/fn", endpoint = "deploy")]
pub async fn deploy(app: String, env: String, build_id: String) -> Result<i64, ServerFnError> {
    use super::context::{actor, engine, invalid, to_server_error};
    let (engine, actor) = (engine()?, actor().await?);
    let build_id: i64 = build_id
        .trim()
        .parse()
        .map_err(|_| invalid("choose a build to deploy"))?;
    let job = engine
        .deploy(&actor, &app, &env, build_id)
        .await
        .map_err(to_server_error)?;
    Ok(job.id)
}

/// Queues a rollback to an earlier release; returns the job id.
#[server(prefix = "/fn", endpoint = "rollback")]
pub async fn rollback(app: String, env: String, release_id: i64) -> Result<i64, ServerFnError> {
    use super::context::{actor, engine, to_server_error};
    let (engine, actor) = (engine()?, actor().await?);
    let job = engine
        .rollback(&actor, &app, &env, release_id)
        .await
        .map_err(to_server_error)?;
    Ok(job.id)
}

/// Removes stale deploy locks on an SSH environment's hosts; one line per host.
#[server(prefix = "/fn", endpoint = "break_remote_locks")]
pub async fn break_remote_locks(app: String, env: String) -> Result<Vec<String>, ServerFnError> {
    use super::context::{actor, engine, to_server_error};
    let (engine, actor) = (engine()?, actor().await?);
    let reports = engine
        .break_remote_locks(&actor, &app, &env)
        .await
        .map_err(to_server_error)?;
    Ok(reports
        .into_iter()
        .map(|r| match (r.held_by, r.error) {
            (_, Some(error)) => format!("{}: could not check: {error}", r.host),
            (Some(holder), None) => format!("{}: removed the lock held by {holder}", r.host),
            (None, None) => format!("{}: no lock", r.host),
        })
        .collect())
}

/// Reads the listed hosts' public keys (`ssh-keyscan`), for the form's
/// pinned keys. Pins nothing: the admin compares and saves.
#[server(prefix = "/fn", endpoint = "scan_host_keys")]
pub async fn scan_host_keys(
    hosts: String,
    port: String,
) -> Result<Vec<crate::model::ScannedKeys>, ServerFnError> {
    use super::context::{actor, engine, invalid, to_server_error};
    let (engine, actor) = (engine()?, actor().await?);
    let port: u16 = port
        .trim()
        .parse()
        .map_err(|_| invalid("port: enter a port number 1-65535"))?;
    let scanned = engine
        .scan_host_keys(&actor, &hosts, port)
        .await
        .map_err(to_server_error)?;
    Ok(scanned
        .into_iter()
        .map(|s| crate::model::ScannedKeys {
            host: s.host,
            known_hosts: s.known_hosts,
            fingerprints: s.fingerprints,
            error: s.error,
        })
        .collect())
}
