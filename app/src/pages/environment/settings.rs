//! The environment page's summary of its settings, in words.

use leptos::prelude::*;

use crate::model::EnvForm;

/// The settings as a definition list (the form edits them).
#[component]
pub fn SettingsCard(backend: String, settings: EnvForm) -> impl IntoView {
    let backend_is_docker = backend == "docker";
    let health = match settings.health.health_kind.as_str() {
        _ if backend_is_docker && settings.health.health_kind != "command" => format!(
            "GET {} ({}s)",
            settings.docker.health_path, settings.health.health_timeout_secs
        ),
        "command" => format!(
            "command: {} ({}s)",
            settings.health.health_command, settings.health.health_timeout_secs
        ),
        "http" => format!(
            "GET {} ({}s)",
            settings.health.health_url, settings.health.health_timeout_secs
        ),
        _ => "none".to_owned(),
    };
    let ssh_sudo = settings.backend == "ssh" && settings.ssh.ssh_sudo;
    view! {
        <section class="card">
            <h2>"Settings"</h2>
            <dl class="settings">
                <dt>"Backend"</dt><dd>{backend}</dd>
                <dt>"Who may deploy"</dt><dd class="deployers">{who_may_deploy(&settings)}</dd>
                <dt>"Deploys by itself"</dt>
                <dd class="auto-deploy">
                    {if settings.access.auto_deploy.is_empty() {
                        "no: only when someone presses Deploy".to_owned()
                    } else {
                        format!("builds of {} as they are registered", settings.access.auto_deploy)
                    }}
                </dd>
                {(!settings.access.promotes_from.is_empty()).then(|| view! {
                    <dt>"Takes builds from"</dt>
                    <dd class="promotes-from">{format!("{} only: builds that went live there, with no failed job there since", settings.access.promotes_from)}</dd>
                })}
                <dt>"Approvals"</dt>
                <dd class="approvals">
                    {if settings.access.approvals.is_empty() {
                        "none".to_owned()
                    } else {
                        format!(
                            "{}{}{}",
                            settings.access.approvals.replace('\n', "; "),
                            if settings.access.prevent_self_review { "; not by whoever registered the build" } else { "" },
                            match settings.access.approval_wait_minutes.as_str() {
                                "" | "0" => String::new(),
                                minutes => format!("; starts {minutes} min after the last approval"),
                            },
                        )
                    }}
                </dd>
                <dt>"Deploy meets a running job"</dt>
                <dd class="queue-deploys">
                    {if settings.access.queue_deploys {
                        "waits for it (one waits; a newer one takes its place)"
                    } else {
                        "refused: press Deploy again when it is done"
                    }}
                </dd>
                {(!settings.access.previews.is_empty()).then(|| view! {
                    <dt>"Branch previews"</dt>
                    <dd class="previews">{format!("builds of {} get a QA environment of their own", settings.access.previews)}</dd>
                })}
                {host_source(&settings).map(|hosts| view! {
                    <dt>"Hosts"</dt><dd><code>{hosts}</code>" as "<code>{settings.hosts.user.clone()}</code>{ssh_sudo.then_some(", release steps with sudo")}</dd>
                })}
                {if settings.backend == "dnf" {
                    let hosts = host_source(&settings).unwrap_or_else(|| "this machine".to_owned());
                    view! {
                        <dt>"Package"</dt><dd><code>{settings.dnf.package}</code></dd>
                        <dt>"Repository"</dt><dd><code>{settings.dnf.repo_id}</code>" at "<code>{settings.dnf.repo_url}</code></dd>
                        <dt>"Installs on"</dt><dd>{hosts}</dd>
                        <dt>"Package manager"</dt><dd><code>{settings.dnf.package_manager}</code>{settings.dnf.sudo.then_some(" (with sudo)")}</dd>
                        <dt>"Extra options"</dt><dd><code>{settings.dnf.extra_options.replace('\n', " ")}</code></dd>
                        <dt>"Install root"</dt><dd><code>{settings.dnf.install_root}</code></dd>
                    }.into_any()
                } else if backend_is_docker {
                    view! {
                        <dt>"Docker"</dt>
                        <dd>
                            "container port "<code>{settings.docker.container_port}</code>
                            " · published on "<code>{format!("{}:{}", settings.docker.publish_address, settings.docker.publish_port)}</code>
                            " · engine "<code>{settings.docker.endpoint.clone()}</code>
                        </dd>
                        <dt>"Images"</dt>
                        <dd>{if settings.docker.image_repository.is_empty() {
                            "already on the engine".to_owned()
                        } else {
                            format!("pulled from {}", settings.docker.image_repository)
                        }}</dd>
                        <dt>"Keep stopped containers"</dt><dd>{settings.release.keep_releases}</dd>
                        <dt>"Health check"</dt><dd>{health}</dd>
                    }.into_any()
                } else {
                    view! {
                        <dt>"Target directory"</dt><dd><code>{settings.release.target_dir}</code></dd>
                        {(settings.backend == "ssh").then(|| {
                            let transfer = if settings.ssh.fetch_from.is_empty() {
                                "uploaded by Slipway over SSH".to_owned()
                            } else {
                                format!("fetched by each host from {} (sha256 checked)", settings.ssh.fetch_from)
                            };
                            view! { <dt>"Release archive"</dt><dd>{transfer}</dd> }
                        })}
                        <dt>"Keep releases"</dt><dd>{settings.release.keep_releases}</dd>
                        <dt>"Before switch"</dt><dd><code>{settings.release.before_switch}</code></dd>
                        <dt>"After switch"</dt><dd><code>{settings.release.after_switch}</code></dd>
                        <dt>"Health check"</dt><dd>{health}</dd>
                    }.into_any()
                }}
            </dl>
        </section>
    }
}

/// Where an ssh or dnf environment's hosts come from, if it has any: the
/// list, or the command or file they are discovered from at job start.
fn host_source(settings: &EnvForm) -> Option<String> {
    let listed = settings.hosts.listed();
    if !listed.is_empty() {
        Some(listed.join(", "))
    } else if !settings.hosts.hosts_command.is_empty() {
        Some(format!(
            "discovered at each job from the command {}",
            settings.hosts.hosts_command
        ))
    } else if !settings.hosts.hosts_file.is_empty() {
        Some(format!(
            "discovered at each job from the file {}",
            settings.hosts.hosts_file
        ))
    } else {
        None
    }
}

/// Who may deploy, roll back, lock or cancel here, in words.
fn who_may_deploy(settings: &EnvForm) -> String {
    let named = settings.access.deployers.trim();
    match (settings.access.protected, named.is_empty()) {
        (false, _) => "deployers and admins".to_owned(),
        (true, true) => "admins only (protected)".to_owned(),
        (true, false) => format!("admins and {named} (protected)"),
    }
}
