mod fields;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::components::confirm::ConfirmSubmit;
use crate::components::errors::{ActionError, ErrorBox};
use crate::functions::environments::{
    default_settings, get_environment, DeleteEnvironment, SaveEnvironment, ScanHostKeys,
};
use crate::model::{EnvForm, ScannedKeys};
use fields::{AccessFields, DnfFields, DockerFields};

/// Creates an environment (`/apps/:app/new-env`) or edits one (`/apps/:app/envs/:env/edit`).
#[component]
pub fn EnvironmentFormPage() -> impl IntoView {
    let params = use_params_map();
    let app = move || params.read().get("app").unwrap_or_default();
    let original = move || params.read().get("env").unwrap_or_default();
    let save = ServerAction::<SaveEnvironment>::new();
    let delete = ServerAction::<DeleteEnvironment>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(name)) = save.value().get() {
            navigate(&format!("/apps/{}/envs/{name}", app()), Default::default());
        } else if let Some(Ok(())) = delete.value().get() {
            navigate("/", Default::default());
        }
    });
    let settings = Resource::new(
        move || (app(), original()),
        |(app, original)| async move {
            if original.is_empty() {
                default_settings(app).await.map(|s| (s, false))
            } else {
                get_environment(app, original)
                    .await
                    .map(|d| (d.settings, !d.recent_jobs.is_empty()))
            }
        },
    );
    view! {
        <Title text=move || if original().is_empty() { format!("New environment · {}", app()) } else { format!("Settings · {}/{}", app(), original()) } />
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match settings.await {
                    Ok((s, has_history)) => view! { <SettingsForm app=app() original=original() s has_history save delete /> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn SettingsForm(
    app: String,
    original: String,
    s: EnvForm,
    /// It has run jobs, so it is kept (and cannot be deleted).
    has_history: bool,
    save: ServerAction<SaveEnvironment>,
    delete: ServerAction<DeleteEnvironment>,
) -> impl IntoView {
    let is_new = original.is_empty();
    let title = if is_new {
        format!("New environment for {app}")
    } else {
        format!("Edit {app}/{original}")
    };
    let health_kind = s.health.health_kind.clone();
    let selected = move |kind: &str| health_kind == kind;
    let (delete_app, delete_env) = (app.clone(), original.clone());
    let backend = RwSignal::new(s.backend.clone());
    let is_ssh = move || backend.get() == "ssh";
    let is_dnf = move || backend.get() == "dnf";
    let is_docker = move || backend.get() == "docker";
    let initial_backend = s.backend.clone();
    let (hosts_ref, port_ref, known_hosts_ref) = (NodeRef::new(), NodeRef::new(), NodeRef::new());
    view! {
        <h1>{title}</h1>
        <section class="card">
            <ActionForm action=save attr:class="env-form">
                <input type="hidden" name="app" value=app.clone() />
                <input type="hidden" name="original" value=original.clone() />
                <label>
                    "Name"
                    <input name="name" value=original.clone() required readonly=!is_new placeholder="staging" />
                </label>
                <label>
                    "Backend"
                    <select name="backend" id="backend-select" on:change=move |ev| backend.set(event_target_value(&ev))>
                        <option value="local" selected=initial_backend == "local">"local (this machine)"</option>
                        <option value="ssh" selected=initial_backend == "ssh">"ssh (a fleet of hosts)"</option>
                        <option value="dnf" selected=initial_backend == "dnf">"dnf (rpm packages, yum/dnf)"</option>
                        <option value="docker" selected=initial_backend == "docker">"docker (blue-green containers)"</option>
                    </select>
                </label>
                <DnfFields dnf=s.dnf.clone() backend />
                <DockerFields docker=s.docker.clone() backend />
                <fieldset class="ssh-settings" class:hidden=move || !is_ssh() && !is_dnf()>
                    <legend>{move || if is_dnf() { "Hosts (none listed or discovered: this machine)" } else { "SSH hosts" }}</legend>
                    <label>"Hosts (one per line, host or host:port)" <textarea name="hosts" rows="4" node_ref=hosts_ref>{s.hosts.hosts.clone()}</textarea></label>
                    <div>
                        <p class="muted">"Or, for fleets that scale, discover the hosts when each job starts (one host per line; leave the list above empty):"</p>
                        <label>"Hosts command (runs on the Slipway server)" <input name="hosts_command" value=s.hosts.hosts_command.clone() placeholder="aws ec2 describe-instances … | jq -r …" /></label>
                        <label>"Hosts file (absolute path on the Slipway server)" <input name="hosts_file" value=s.hosts.hosts_file.clone() placeholder="/etc/slipway/web-fleet.txt" /></label>
                    </div>
                    <label>"User" <input name="user" value=s.hosts.user.clone() /></label>
                    <label>"Port" <input name="port" value=s.hosts.port.clone() inputmode="numeric" node_ref=port_ref /></label>
                    <label>"Private key file on the Slipway server (empty: the ssh agent)" <input name="identity_file" value=s.hosts.identity_file.clone() /></label>
                    <label>
                        "Pinned host keys (known_hosts lines, e.g. from ssh-keyscan; unknown or changed keys are refused)"
                        <textarea name="known_hosts" rows="4" node_ref=known_hosts_ref>{s.hosts.known_hosts.clone()}</textarea>
                    </label>
                    <ScanKeys hosts_ref port_ref known_hosts_ref />
                    <label>"Hosts staged at once" <input name="parallelism" value=s.hosts.parallelism.clone() inputmode="numeric" /></label>
                    <label class:hidden=move || !is_ssh()><input type="checkbox" name="ssh_sudo" value="on" checked=s.ssh.ssh_sudo /> " unpack, switch and prune with sudo (hooks run as the user)"</label>
                    <label class:hidden=move || !is_ssh()>
                        "Hosts fetch the release from (this Slipway's URL as the hosts reach it; they check its sha256. Empty: Slipway uploads it over SSH)"
                        <input name="fetch_from" value=s.ssh.fetch_from.clone() placeholder="http://10.0.0.5:3000" />
                    </label>
                </fieldset>
                <div class="release-dir-settings" class:hidden=is_dnf>
                <label class:hidden=is_docker>
                    {move || if is_ssh() { "Deploy path on every host (absolute; holds releases/ and current)" } else { "Target directory (absolute; holds releases/ and current)" }}
                    <input name="target_dir" value=s.release.target_dir.clone() placeholder=format!("/srv/{app}/<environment>") required=move || !is_dnf() && !is_docker() />
                </label>
                <label>{move || if is_docker() { "Keep stopped containers (for rollback)" } else { "Keep releases" }} <input name="keep_releases" value=s.release.keep_releases.clone() inputmode="numeric" /></label>
                <label class:hidden=is_docker>"Before-switch hook (shell, runs in the new release)" <textarea name="before_switch" rows="2">{s.release.before_switch.clone()}</textarea></label>
                <label class:hidden=is_docker>"After-switch hook" <textarea name="after_switch" rows="2">{s.release.after_switch.clone()}</textarea></label>
                <fieldset>
                    <legend>"Health check"</legend>
                    <select name="health_kind">
                        <option value="none" selected=selected("none")>"none"</option>
                        <option value="command" selected=selected("command")>"command"</option>
                        <option value="http" selected=selected("http")>"HTTP GET"</option>
                    </select>
                    <input name="health_command" value=s.health.health_command.clone() placeholder="command, e.g. ./bin/check" />
                    <input name="health_url" value=s.health.health_url.clone() placeholder="http://127.0.0.1:8080/health" />
                    <label>"Timeout (s)" <input name="health_timeout_secs" value=s.health.health_timeout_secs.clone() inputmode="numeric" /></label>
                </fieldset>
                </div>
                <AccessFields access=s.access.clone() backend />
                <button type="submit" class="primary">{if is_new { "Create environment" } else { "Save settings" }}</button>
            </ActionForm>
            <ActionError value=save.value() />
        </section>
        {(!is_new && !has_history).then(|| view! {
            <section class="card danger">
                <h2>"Delete"</h2>
                <p class="muted">"Only an environment that has never run a job can be deleted."</p>
                <ActionForm action=delete>
                    <input type="hidden" name="app" value=delete_app />
                    <input type="hidden" name="env" value=delete_env />
                    <ConfirmSubmit label="Delete environment" confirm="Yes, delete it" kind="danger">
                        "Delete this environment, its settings and its variables? This cannot be undone."
                    </ConfirmSubmit>
                </ActionForm>
                <ActionError value=delete.value() />
            </section>
        })}
    }
}

/// "Read the hosts' keys": fills the pinned keys from `ssh-keyscan` (the
/// scanned hosts' lines replace theirs, other hosts' pinned keys stay) and
/// lists each host's fingerprints, for the admin to compare before saving.
#[component]
fn ScanKeys(
    hosts_ref: NodeRef<leptos::html::Textarea>,
    port_ref: NodeRef<leptos::html::Input>,
    known_hosts_ref: NodeRef<leptos::html::Textarea>,
) -> impl IntoView {
    let scan = ServerAction::<ScanHostKeys>::new();
    Effect::new(move |_| {
        if let Some(Ok(scanned)) = scan.value().get() {
            let lines: Vec<String> = scanned.iter().flat_map(|s| s.known_hosts.clone()).collect();
            if let (Some(field), false) = (known_hosts_ref.get(), lines.is_empty()) {
                field.set_value(&crate::model::merge_known_hosts(&field.value(), &lines));
            }
        }
    });
    let start_scan = move |_| {
        let hosts = hosts_ref.get().map(|f| f.value()).unwrap_or_default();
        let port = port_ref.get().map(|f| f.value()).unwrap_or_default();
        scan.dispatch(ScanHostKeys { hosts, port });
    };
    view! {
        <div class="scan-keys">
            <button type="button" id="scan-keys" disabled=move || scan.pending().get() on:click=start_scan>
                {move || if scan.pending().get() { "Reading keys…" } else { "Read the hosts' keys" }}
            </button>
            {move || scan.value().get().map(|result| match result {
                Ok(scanned) => view! { <ScannedList scanned /> }.into_any(),
                Err(e) => view! { <ErrorBox error=e /> }.into_any(),
            })}
        </div>
    }
}

#[component]
fn ScannedList(scanned: Vec<ScannedKeys>) -> impl IntoView {
    view! {
        <p class="muted">"Compare each fingerprint with the host's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on it) before saving: only the keys above are trusted."</p>
        <ul class="scanned-keys">
            {scanned.into_iter().map(|s| {
                let ok = s.error.is_none();
                let detail = s.error.unwrap_or_else(|| s.fingerprints.join(" · "));
                let (host, label) = (s.host.clone(), s.host);
                view! { <li data-host=host class:error=!ok><code>{label}</code>" "{detail}</li> }
            }).collect_view()}
        </ul>
    }
}
