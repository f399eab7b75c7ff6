//! The environment form's parts that belong to one backend or concern.

use leptos::prelude::*;

use crate::model::{AccessForm, DnfForm, DockerForm};

/// A dnf environment's package and how the package manager runs.
#[component]
pub fn DnfFields(dnf: DnfForm, backend: RwSignal<String>) -> impl IntoView {
    let is_dnf = move || backend.get() == "dnf";
    view! {
        <fieldset class="dnf-settings" class:hidden=move || !is_dnf()>
            <legend>"Package"</legend>
            <label>"Package name (builds are its versions, name-version-release)" <input name="package" value=dnf.package.clone() placeholder="shop" /></label>
            <label>"Repository id" <input name="repo_id" value=dnf.repo_id.clone() /></label>
            <label>"Repository URL (e.g. this Slipway's /repo/<app>/)" <input name="repo_url" value=dnf.repo_url.clone() placeholder="https://slipway.example.com/repo/shop/" /></label>
            <label>
                "Package manager"
                <select name="package_manager">
                    <option value="dnf" selected=dnf.package_manager != "yum">"dnf"</option>
                    <option value="yum" selected=dnf.package_manager == "yum">"yum"</option>
                </select>
            </label>
            <label><input type="checkbox" name="sudo" value="on" checked=dnf.sudo />" run dnf and rpm with sudo"</label>
            <label>"Extra options (one per line, e.g. --nogpgcheck or --setopt=name=value)" <textarea name="extra_options" rows="3">{dnf.extra_options.clone()}</textarea></label>
            <label>"Install root (empty: /)" <input name="install_root" value=dnf.install_root.clone() /></label>
        </fieldset>
    }
}

/// A docker environment's engine, ports, network and limits.
#[component]
pub fn DockerFields(docker: DockerForm, backend: RwSignal<String>) -> impl IntoView {
    let is_docker = move || backend.get() == "docker";
    view! {
        <fieldset class="docker-settings" class:hidden=move || !is_docker()>
            <legend>"Docker"</legend>
            <p class="muted">"Builds are image references (name:tag or @sha256:digest). Slipway runs an nginx per environment on the published address and switches it to each new container once it is healthy."</p>
            <label>"Docker engine" <input name="docker_endpoint" value=docker.endpoint.clone() placeholder="unix:///var/run/docker.sock" /></label>
            <label>"Image repository (builds must come from it and are pulled from its registry; empty: images already on the engine)" <input name="image_repository" value=docker.image_repository.clone() placeholder="registry.example.com/team/shop" /></label>
            <label>"Container port (the app listens on it inside the container)" <input name="container_port" value=docker.container_port.clone() inputmode="numeric" /></label>
            <label>"Published address" <input name="publish_address" value=docker.publish_address.clone() /></label>
            <label>"Published port" <input name="publish_port" value=docker.publish_port.clone() inputmode="numeric" /></label>
            <label>"Network (empty: slipway-<app>-<env>, created)" <input name="network" value=docker.network.clone() /></label>
            <label>"Health check path (HTTP GET, 2xx = healthy)" <input name="health_path" value=docker.health_path.clone() placeholder="/health" /></label>
            <label>"Drain time for the old container (s)" <input name="drain_timeout_secs" value=docker.drain_timeout_secs.clone() inputmode="numeric" /></label>
            <label>"Memory limit (MB, optional)" <input name="memory_mb" value=docker.memory_mb.clone() inputmode="numeric" /></label>
            <label>"CPU limit (optional, e.g. 0.5)" <input name="cpus" value=docker.cpus.clone() /></label>
        </fieldset>
    }
}

/// Who may deploy, and what deploys by itself.
#[component]
pub fn AccessFields(access: AccessForm, backend: RwSignal<String>) -> impl IntoView {
    let is_docker = move || backend.get() == "docker";
    view! {
        <label><input type="checkbox" name="protected" value="on" checked=access.protected />" protected environment"</label>
        <label>
            "Who may deploy when protected (besides admins)"
            <input name="deployers" value=access.deployers.clone() placeholder="user:alice, group:oidc:release-managers" />
            <small>"Comma-separated user:<login> and group:<provider>:<name> (a group of the identity provider with that id, as the Users page shows it)."</small>
        </label>
        <label>
            "Deploy builds of these branches as they are registered"
            <input name="auto_deploy" value=access.auto_deploy.clone() placeholder="one pattern, e.g. main or release/*" />
            <small>"Empty: deploys happen only when someone presses Deploy. A build is deployed as the one who registered it: a CI token needs the deploy scope (and, on a protected environment, to be a named deployer); what cannot deploy is noted in the audit log."</small>
        </label>
        <label>
            <input type="checkbox" name="queue_deploys" value="on" checked=access.queue_deploys />
            " a deploy that meets a running job waits for it"
            <small>"Instead of being refused. One deploy waits; a newer one takes its place (the older ends superseded, saying by what). Auto-deploys always wait."</small>
        </label>
        <label>
            "Take builds only from environment (promotion)"
            <input name="promotes_from" value=access.promotes_from.clone() placeholder="e.g. staging (empty: any build)" />
            <small>"Then only builds that went live there, with which no job failed there since, may be deployed here; that environment's page offers Promote."</small>
        </label>
        <label>
            "Approvals a deploy or rollback needs (one rule per line)"
            <textarea name="approvals" rows="2" placeholder="1 of group:oidc:release-managers user:alice">{access.approvals.clone()}</textarea>
            <small>"Each line: <number> of user:<login> and group:<provider>:<name> entries; every line must be met. A deploy or rollback then waits as a request until approved; nobody approves their own. Empty: no approvals."</small>
        </label>
        <label><input type="checkbox" name="prevent_self_review" value="on" checked=access.prevent_self_review />" whoever registered the build may not approve its deploy either"</label>
        <label>"Start this many minutes after the last approval" <input name="approval_wait_minutes" value=access.approval_wait_minutes.clone() inputmode="numeric" placeholder="0" /></label>
        <label>"A request not approved within (hours) expires" <input name="approval_expire_hours" value=access.approval_expire_hours.clone() inputmode="numeric" placeholder="24" /></label>
        <label class="previews-setting" class:hidden=move || !is_docker()>
            "Give builds of these branches a QA environment of their own"
            <input name="previews" value=access.previews.clone() placeholder="one pattern, e.g. feature/*" />
            <small>"Docker only. A branch's first build creates qa-<branch>, a copy of this environment on its own port; each later build is deployed there. It is destroyed 72 hours after its latest build, or when a webhook says the branch was deleted."</small>
        </label>
    }
}
