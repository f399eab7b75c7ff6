//! "What will run": the steps of a deploy, shown before anyone presses
//! Deploy. Built from the same plan code the executors run (the local
//! backend's steps, the SSH backend's remote scripts), with secret
//! values masked.

use serde::Serialize;

use super::{local, ssh, BackendConfig};

/// One step of a deploy as people read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlanLine {
    /// `stage`, `switch`, `verify`, `cleanup`.
    pub phase: String,
    /// Where it runs: `this server`, `each host`, `all hosts together`.
    pub target: String,
    /// What runs: a description, or the exact remote script.
    pub action: String,
}

/// Stands for the release id a job gets when it is queued.
pub const NEXT_RELEASE: &str = "<release-id>";

fn line(phase: &str, target: &str, action: impl Into<String>) -> PlanLine {
    PlanLine {
        phase: phase.to_owned(),
        target: target.to_owned(),
        action: action.into(),
    }
}

/// The plan of a deploy of `artifact`; `vars` are the environment's
/// variables with secret values already masked.
pub fn deploy_plan(
    environment: &str,
    config: &BackendConfig,
    artifact: &str,
    vars: &[(String, String)],
) -> Vec<PlanLine> {
    let artifact = &crate::domain::artifact::shown(artifact);
    match config {
        BackendConfig::Local(config) => local_plan(config, artifact),
        BackendConfig::Ssh(config) => ssh_plan(environment, config, artifact, vars),
        other => vec![line(
            "deploy",
            "each host",
            format!(
                "a {} deploy of {artifact} (this backend does not preview its steps yet)",
                other.backend_name()
            ),
        )],
    }
}

fn local_plan(config: &local::LocalConfig, artifact: &str) -> Vec<PlanLine> {
    let plan = local::plan(&local::PlanRequest {
        config,
        release_key: NEXT_RELEASE,
        artifact,
        reuses_release: false,
        protect: Vec::new(),
    });
    plan.steps
        .iter()
        .map(|step| line(step.phase().as_str(), "this server", step.describe()))
        .collect()
}

/// How the archive reaches each host, and the staging script.
fn stage_line(
    config: &ssh::SshConfig,
    artifact: &str,
    layout: &ssh::plan::ReleaseLayout,
    env_file: &str,
) -> String {
    use ssh::plan::{self, Fetch, Incoming};
    let url = config
        .fetch_from
        .as_deref()
        .map(|base| crate::runtime::shares::share_url(base, "<job token>"));
    let incoming = Incoming {
        gzip: true,
        fetch: url.as_deref().map(|url| Fetch {
            url,
            sha256: "<sha256 of the archive>",
        }),
    };
    let how = match &url {
        Some(url) => format!(
            "each host fetches {artifact} from {url} (lent for this job only), checks its sha256 and unpacks it:"
        ),
        None => format!("stream {artifact} over the connection into:"),
    };
    let lock = super::DeployLock {
        holder: "<job, user, time>".into(),
        takes_over: None,
    };
    let script = plan::lock_and_stage(layout, &lock, incoming, env_file.len());
    let stdin = if url.is_some() {
        "its stdin: the .env file"
    } else {
        "its stdin: the .env file, then the archive"
    };
    format!(
        "{how}\n{}\n{stdin}:\n{env_file}",
        plan::release_step(config.sudo, script)
    )
}

/// A hook or health-check script and the exports it reads on stdin.
fn with_exports(script: String, vars: &[(String, String)]) -> String {
    format!(
        "{script}\nits stdin (values never on a command line):\n{}",
        ssh::plan::exports(vars)
    )
}

fn ssh_plan(
    environment: &str,
    config: &ssh::SshConfig,
    artifact: &str,
    vars: &[(String, String)],
) -> Vec<PlanLine> {
    use ssh::plan;
    let layout = plan::ReleaseLayout {
        deploy_path: config.deploy_path.clone(),
        environment: environment.to_owned(),
        release_key: NEXT_RELEASE.to_owned(),
        job_id: 0,
    };
    let env_file: String = vars
        .iter()
        .map(|(k, v)| format!("{k}={}\n", crate::shell::quote(v)))
        .collect();
    let each = format!("each host ({} at once)", config.parallelism);
    let hosts = if config.hosts.is_empty() {
        format!("hosts from {}", ssh::hosts::describe(config))
    } else {
        config.hosts.join(", ")
    };
    let mut lines = vec![
        line(
            "stage",
            &each,
            format!(
                "connect as {} to {hosts} (pinned host keys only)",
                config.user
            ),
        ),
        line(
            "stage",
            &each,
            stage_line(config, artifact, &layout, &env_file),
        ),
    ];
    if let Some(command) = &config.before_switch {
        lines.push(line(
            "stage",
            &each,
            with_exports(plan::hook(&layout, command), vars),
        ));
    }
    lines.push(line(
        "switch",
        "all hosts together, once every host staged",
        plan::release_step(config.sudo, plan::switch_and_list(&layout)),
    ));
    if let Some(command) = &config.after_switch {
        lines.push(line(
            "verify",
            "each host",
            with_exports(plan::hook(&layout, command), vars),
        ));
    }
    if let Some(command) = &config.health_check {
        lines.push(line(
            "verify",
            "each host",
            with_exports(plan::health_check(&layout, command), vars),
        ));
    }
    lines.push(line(
        "cleanup",
        "each host",
        format!(
            "keep the last {} releases (never the live one or the rollback target):\n{}",
            config.keep_releases,
            plan::release_step(
                config.sudo,
                plan::prune_and_unlock(&layout, "<this job>", &["<older release>".to_owned()])
            )
        ),
    ));
    lines.push(line(
        "on failure",
        "every host",
        format!(
            "before the switch: remove what this job staged ({}); after it: switch back to the previous release{}",
            plan::discard(&layout),
            if config.after_switch.is_some() {
                " and run after_switch again there (SLIPWAY_SWITCHED_BACK=1)"
            } else {
                ""
            }
        ),
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ssh_preview_shows_quoted_scripts_and_never_a_secret() {
        let mut config = ssh_config();
        config.before_switch = Some("bin/migrate".into());
        let vars = vec![("DB_PASSWORD".to_owned(), "••••••".to_owned())];
        let plan = deploy_plan(
            "shop/production",
            &BackendConfig::Ssh(config),
            "/art/app.tar.gz",
            &vars,
        );
        let text: String = plan
            .iter()
            .map(|l| format!("{} {} {}\n", l.phase, l.target, l.action))
            .collect();
        assert!(text.contains("'/srv/app/releases/<release-id>'"), "{text}");
        assert!(text.contains("bin/migrate"));
        assert!(text.contains("all hosts together"));
        assert!(
            text.contains("DB_PASSWORD='••••••'"),
            "masked values only: {text}"
        );
        let phases: Vec<&str> = plan.iter().map(|l| l.phase.as_str()).collect();
        let switch = phases.iter().position(|p| *p == "switch").unwrap();
        assert!(phases[..switch].iter().all(|p| *p == "stage"), "{phases:?}");
    }

    #[test]
    fn a_fetching_fleet_previews_the_lent_url_without_a_real_token() {
        let mut config = ssh_config();
        config.fetch_from = Some("http://10.0.0.5:3000/".into());
        let plan = deploy_plan(
            "shop/production",
            &BackendConfig::Ssh(config),
            "/art/app.tar.gz",
            &[],
        );
        let stage = &plan[1].action;
        assert!(
            stage.contains(
                "fetches /art/app.tar.gz from http://10.0.0.5:3000/artifacts/<job token>"
            ),
            "{stage}"
        );
        assert!(
            stage.contains("curl -fsS") && stage.contains("sha256sum"),
            "{stage}"
        );
        assert!(!stage.contains("tar -xzf - "), "{stage}");
    }

    fn ssh_config() -> ssh::SshConfig {
        serde_json::from_value(serde_json::json!({
            "hosts": ["web-1", "web-2"],
            "user": "deploy",
            "known_hosts": "web-1 ssh-ed25519 AAAA",
            "deploy_path": "/srv/app",
        }))
        .unwrap()
    }
}
