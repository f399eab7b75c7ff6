use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::components::changes::ChangedNotice;
use crate::components::confirm::ConfirmSubmit;
use crate::components::errors::{ActionError, ErrorBox};
use crate::components::state::StateBadge;
use crate::functions::environments::{
    get_environment, BreakRemoteLocks, DeleteEnvVar, Deploy, LockEnvironment, Rollback, SetEnvVar,
    UnlockEnvironment,
};
use crate::functions::jobs::deploy_plan;
use crate::model::{short_sha, BuildInfo, EnvDetail, EnvSettings, LockInfo, ReleaseInfo, VarInfo};
use crate::pages::installed_versions::InstalledVersionsCard;
use crate::pages::qa::{EnvAddress, QaCreateCard, QaDestroyCard};

#[component]
pub fn EnvironmentPage() -> impl IntoView {
    let params = use_params_map();
    let app = move || params.read().get("app").unwrap_or_default();
    let env = move || params.read().get("env").unwrap_or_default();

    let deploy = ServerAction::<Deploy>::new();
    let rollback = ServerAction::<Rollback>::new();
    let lock = ServerAction::<LockEnvironment>::new();
    let unlock = ServerAction::<UnlockEnvironment>::new();
    let set_var = ServerAction::<SetEnvVar>::new();
    let delete_var = ServerAction::<DeleteEnvVar>::new();

    let navigate = use_navigate();
    Effect::new(move |_| {
        let job = deploy
            .value()
            .get()
            .and_then(Result::ok)
            .or_else(|| rollback.value().get().and_then(Result::ok));
        if let Some(job_id) = job {
            navigate(&format!("/jobs/{job_id}"), Default::default());
        }
    });

    let refresh = RwSignal::new(0_usize);
    let detail = Resource::new(
        move || {
            (
                app(),
                env(),
                lock.version().get()
                    + unlock.version().get()
                    + set_var.version().get()
                    + delete_var.version().get()
                    + refresh.get(),
            )
        },
        |(app, env, _)| get_environment(app, env),
    );
    // Which audit row the shown data was read after. Copied by an effect:
    // the notice sits outside the <Suspense>, where reading the resource
    // while hydrating would not wait for it.
    let shown = RwSignal::new(None::<i64>);
    Effect::new(move |_| {
        if let Some(Ok(d)) = detail.get() {
            shown.set(Some(d.activity));
        }
    });

    let actions = EnvActions {
        deploy,
        rollback,
        lock,
        unlock,
        set_var,
        delete_var,
    };
    view! {
        <Title text=move || format!("{}/{}", app(), env()) />
        {move || view! { <ChangedNotice environment=Some(format!("{}/{}", app(), env())) shown refresh /> }}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(detail) => view! { <EnvironmentView detail actions /> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[derive(Clone, Copy)]
struct EnvActions {
    deploy: ServerAction<Deploy>,
    rollback: ServerAction<Rollback>,
    lock: ServerAction<LockEnvironment>,
    unlock: ServerAction<UnlockEnvironment>,
    set_var: ServerAction<SetEnvVar>,
    delete_var: ServerAction<DeleteEnvVar>,
}

#[component]
fn EnvironmentView(detail: EnvDetail, actions: EnvActions) -> impl IntoView {
    let EnvDetail {
        summary,
        settings,
        vars,
        releases,
        builds,
        recent_jobs,
        unsettled,
        activity: _,
        may,
    } = detail;
    let may_deploy = may.deploy_refused.is_none();
    let (app, env) = (summary.app.clone(), summary.name.clone());
    let edit = format!("/apps/{app}/envs/{env}/edit");
    let active_job = recent_jobs
        .iter()
        .find(|j| j.state == "queued" || j.state == "running")
        .cloned();
    view! {
        <h1 class="env-title">
            <span class="muted">{app.clone()}" / "</span>{env.clone()}
            " "
            {summary.protected.then(|| view! { <span class="badge protected">"protected"</span> })}
            {may.manage.then(|| view! { <small><A href=edit>"edit settings"</A></small> })}
        </h1>
        {active_job.map(|job| {
            let href = format!("/jobs/{}", job.id);
            view! {
                <p class="notice">
                    "Job "<A href=href>"#"{job.id}</A>" ("{job.kind}" by "{job.requested_by}") is "{job.state}"."
                </p>
            }
        })}
        <EnvAddress summary=summary.clone() />
        <div class="grid">
            {(may_deploy && summary.backend == "docker" && summary.kind == "permanent").then(|| view! {
                <QaCreateCard app=app.clone() based_on=env.clone() builds=builds.clone() />
            })}
            {match may.deploy_refused.clone() {
                None => view! {
                    <DeployCard app=app.clone() env=env.clone() builds locked=summary.lock.is_some() deploy=actions.deploy />
                    <LockCard app=app.clone() env=env.clone() lock=summary.lock.clone() actions />
                }.into_any(),
                Some(why) => view! {
                    <section class="card">
                        <h2>"Deploy"</h2>
                        <p class="muted not-allowed">{why}</p>
                        {summary.lock.clone().map(|lock| view! {
                            <p class="locked">"🔒 Locked by "{lock.locked_by}" since "{lock.since}": "{lock.reason}</p>
                        })}
                    </section>
                }.into_any(),
            }}
        </div>
        {unsettled.then(|| recent_jobs.first().cloned()).flatten().map(|job| {
            let href = format!("/jobs/{}", job.id);
            view! {
                <p class="notice warning" data-unsettled=job.id>
                    "The last job "<A href=href>"#"{job.id}</A>" ("{job.kind}") ended "{job.state}
                    ". If it got as far as switching (its page shows each host's last step), some hosts may not run the live release: "
                    <strong>"Restore"</strong>" it in the history below to apply it everywhere again."
                </p>
            }
        })}
        <ReleasesCard app=app.clone() env=env.clone() releases unsettled may_deploy locked=summary.lock.is_some() rollback=actions.rollback />
        <VarsCard app=app.clone() env=env.clone() vars manage=may.manage actions />
        {match summary.backend.as_str() {
            "ssh" if may.manage => view! { <RemoteLocksCard app=app.clone() env=env.clone() /> }.into_any(),
            "dnf" => view! { <InstalledVersionsCard app=app.clone() env=env.clone() /> }.into_any(),
            _ => ().into_any(),
        }}
        <SettingsCard backend=summary.backend.clone() settings />
        {(may_deploy && summary.kind == "qa").then(|| view! { <QaDestroyCard app=app.clone() env=env.clone() /> })}
    }
}

#[component]
fn DeployCard(
    app: String,
    env: String,
    builds: Vec<BuildInfo>,
    /// Locked: deploys wait until it is unlocked (the lock card says why).
    locked: bool,
    deploy: ServerAction<Deploy>,
) -> impl IntoView {
    let no_builds = builds.is_empty();
    // The plan follows the build picked in the list.
    let selected = RwSignal::new(builds.first().map(|b| b.id));
    let plan = Resource::new(move || selected.get(), {
        let (app, env) = (app.clone(), env.clone());
        move |build| {
            let (app, env) = (app.clone(), env.clone());
            async move {
                match build {
                    Some(build_id) => deploy_plan(app, env, build_id).await.map(Some),
                    None => Ok(None),
                }
            }
        }
    });
    view! {
        <section class="card">
            <h2>"Deploy"</h2>
            <ActionForm action=deploy attr:class="deploy-form">
                <input type="hidden" name="app" value=app />
                <input type="hidden" name="env" value=env />
                <select name="build_id" id="build-select" required
                    on:change=move |ev| selected.set(event_target_value(&ev).parse().ok())>
                    {builds.into_iter().map(|b| {
                        let label = format!("#{} · {} · {} · {}", b.id, short_sha(&b.commit_sha), b.branch, b.message);
                        view! { <option value=b.id.to_string()>{label}</option> }
                    }).collect_view()}
                </select>
                <button type="submit" class="primary" id="deploy-button" disabled=locked
                    title=locked.then_some("Locked: unlock it to deploy")>"Deploy"</button>
            </ActionForm>
            {locked.then(|| view! { <p class="muted locked-note">"Locked: deploys wait until it is unlocked."</p> })}
            <ActionError value=deploy.value() />
            {no_builds.then(|| view! { <p class="muted">"No builds registered for this application yet."</p> })}
            <details class="plan" id="deploy-plan">
                <summary>"What will run"</summary>
                <Suspense fallback=|| view! { <p class="muted">"Planning…"</p> }>
                    {move || Suspend::new(async move {
                        match plan.await {
                            Ok(Some(steps)) => view! {
                                <ol class="plan-steps">
                                    {steps.into_iter().map(|s| {
                                        let phase = s.phase.clone();
                                        view! {
                                            <li data-phase=phase>
                                                <span class="badge">{s.phase}</span>" "<span class="muted">{s.target}</span>
                                                <pre>{s.action}</pre>
                                            </li>
                                        }
                                    }).collect_view()}
                                </ol>
                            }.into_any(),
                            Ok(None) => ().into_any(),
                            Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                        }
                    })}
                </Suspense>
            </details>
        </section>
    }
}

#[component]
fn LockCard(
    app: String,
    env: String,
    lock: Option<LockInfo>,
    actions: EnvActions,
) -> impl IntoView {
    let form = match lock {
        Some(lock) => view! {
            <p class="locked">"🔒 Locked by "{lock.locked_by}" since "{lock.since}": "{lock.reason}</p>
            <ActionForm action=actions.unlock>
                <input type="hidden" name="app" value=app />
                <input type="hidden" name="env" value=env />
                <button type="submit">"Unlock"</button>
            </ActionForm>
        }
        .into_any(),
        None => view! {
            <ActionForm action=actions.lock attr:class="inline-form">
                <input type="hidden" name="app" value=app />
                <input type="hidden" name="env" value=env />
                <input name="reason" placeholder="why deploys must wait" required />
                <button type="submit">"Lock"</button>
            </ActionForm>
        }
        .into_any(),
    };
    view! {
        <section class="card">
            <h2>"Lock"</h2>
            {form}
            <ActionError value=actions.lock.value() />
            <ActionError value=actions.unlock.value() />
        </section>
    }
}

#[component]
fn ReleasesCard(
    app: String,
    env: String,
    releases: Vec<ReleaseInfo>,
    unsettled: bool,
    /// Whether to offer Rollback / Restore at all.
    may_deploy: bool,
    /// Locked: deploys and rollbacks wait, so none is offered.
    locked: bool,
    rollback: ServerAction<Rollback>,
) -> impl IntoView {
    // A rollback makes a new row for the release it returns to: the older
    // row of that same release is not one to roll back to.
    let live_key = releases
        .iter()
        .find(|r| r.state == "live")
        .map(|r| r.release_key.clone());
    view! {
        <section class="card">
            <h2>"Release history"</h2>
            {locked.then(|| view! { <p class="muted">"Locked: rollbacks wait until it is unlocked."</p> })}
            <ActionError value=rollback.value() />
            <table class="releases">
                <thead>
                    <tr>
                        <th>"Release"</th>
                        <th>"Build"</th>
                        <th>"Kind"</th>
                        <th>"State"</th>
                        <th>"By"</th>
                        <th>"Released"</th>
                        <th>"Job"</th>
                        <th></th>
                    </tr>
                </thead>
                <tbody>
                    {releases
                        .iter()
                        .cloned()
                        .map(|r| {
                            let live_key = live_key.clone();
                            view! { <ReleaseRow r live_key app=app.clone() env=env.clone() unsettled may_deploy=may_deploy && !locked rollback /> }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn VarsCard(
    app: String,
    env: String,
    vars: Vec<VarInfo>,
    /// Whether to offer setting and removing variables.
    manage: bool,
    actions: EnvActions,
) -> impl IntoView {
    let rows = vars
        .into_iter()
        .map(|v| {
            let (app, env) = (app.clone(), env.clone());
            let value = if v.secret {
                view! { <span class="muted">"•••••• (secret)"</span> }.into_any()
            } else {
                view! { <code>{v.value.clone()}</code> }.into_any()
            };
            view! {
                <tr>
                    <td><code>{v.name.clone()}</code></td>
                    <td>{value}</td>
                    <td>
                        {manage.then(|| view! {
                            <ActionForm action=actions.delete_var>
                                <input type="hidden" name="app" value=app />
                                <input type="hidden" name="env" value=env />
                                <input type="hidden" name="name" value=v.name.clone() />
                                <ConfirmSubmit label="remove" confirm="Yes, remove it" kind="link">
                                    {remove_question(&v)}
                                </ConfirmSubmit>
                            </ActionForm>
                        })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    // Once saved, the form is emptied: a secret's value must not stay on
    // screen (the page updates in place, so the inputs would keep it).
    let form = NodeRef::<leptos::html::Form>::new();
    let set_var = actions.set_var;
    Effect::new(move |_| {
        if let (Some(Ok(())), Some(form)) = (set_var.value().get(), form.get()) {
            form.reset();
        }
    });
    view! {
        <section class="card">
            <h2>"Environment variables"</h2>
            <table class="vars">
                <thead><tr><th>"Name"</th><th>"Value"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            {manage.then(|| view! {
                <ActionForm action=actions.set_var node_ref=form attr:class="inline-form">
                    <input type="hidden" name="app" value=app />
                    <input type="hidden" name="env" value=env />
                    <input name="name" placeholder="NAME" required />
                    // A textarea: a value may span lines (a key, a certificate).
                    <textarea name="value" rows="1" placeholder="value"></textarea>
                    <label><input type="checkbox" name="secret" value="on" />" secret"</label>
                    <button type="submit">"Set"</button>
                </ActionForm>
            })}
            <ActionError value=actions.set_var.value() />
            <ActionError value=actions.delete_var.value() />
        </section>
    }
}

/// SSH hosts keep a deploy lock while a job runs; a job that died leaves it.
#[component]
fn RemoteLocksCard(app: String, env: String) -> impl IntoView {
    let break_locks = ServerAction::<BreakRemoteLocks>::new();
    view! {
        <section class="card">
            <h2>"Remote deploy locks"</h2>
            <p class="muted">
                "Each host holds a lock while a job runs on it. If a deploy died (or someone deployed by hand) "
                "and left one behind, an admin can remove it here; who held it is recorded in the audit log."
            </p>
            <ActionForm action=break_locks>
                <input type="hidden" name="app" value=app />
                <input type="hidden" name="env" value=env />
                <ConfirmSubmit label="Break stale locks" confirm="Yes, break them" kind="danger">
                    "Remove the deploy lock on every host of this environment? Only do this when no deploy is running there, by Slipway or by hand."
                </ConfirmSubmit>
            </ActionForm>
            <ActionError value=break_locks.value() />
            {move || break_locks.value().get().and_then(Result::ok).map(|lines| view! {
                <ul class="lock-report">{lines.into_iter().map(|l| view! { <li>{l}</li> }).collect_view()}</ul>
            })}
        </section>
    }
}

#[component]
fn SettingsCard(backend: String, settings: EnvSettings) -> impl IntoView {
    let backend_is_docker = backend == "docker";
    let health = match settings.health_kind.as_str() {
        _ if backend_is_docker && settings.health_kind != "command" => format!(
            "GET {} ({}s)",
            settings.docker.health_path, settings.health_timeout_secs
        ),
        "command" => format!(
            "command: {} ({}s)",
            settings.health_command, settings.health_timeout_secs
        ),
        "http" => format!(
            "GET {} ({}s)",
            settings.health_url, settings.health_timeout_secs
        ),
        _ => "none".to_owned(),
    };
    let ssh_sudo = settings.backend == "ssh" && settings.sudo;
    view! {
        <section class="card">
            <h2>"Settings"</h2>
            <dl class="settings">
                <dt>"Backend"</dt><dd>{backend}</dd>
                <dt>"Who may deploy"</dt><dd class="deployers">{who_may_deploy(&settings)}</dd>
                <dt>"Deploys by itself"</dt>
                <dd class="auto-deploy">
                    {if settings.auto_deploy.is_empty() {
                        "no: only when someone presses Deploy".to_owned()
                    } else {
                        format!("builds of {} as they are registered", settings.auto_deploy)
                    }}
                </dd>
                {(!settings.previews.is_empty()).then(|| view! {
                    <dt>"Branch previews"</dt>
                    <dd class="previews">{format!("builds of {} get a QA environment of their own", settings.previews)}</dd>
                })}
                {host_source(&settings).map(|hosts| view! {
                    <dt>"Hosts"</dt><dd><code>{hosts}</code>" as "<code>{settings.user.clone()}</code>{ssh_sudo.then_some(", release steps with sudo")}</dd>
                })}
                {if settings.backend == "dnf" {
                    let hosts = host_source(&settings).unwrap_or_else(|| "this machine".to_owned());
                    view! {
                        <dt>"Package"</dt><dd><code>{settings.package}</code></dd>
                        <dt>"Repository"</dt><dd><code>{settings.repo_id}</code>" at "<code>{settings.repo_url}</code></dd>
                        <dt>"Installs on"</dt><dd>{hosts}</dd>
                        <dt>"Package manager"</dt><dd><code>{settings.package_manager}</code>{settings.sudo.then_some(" (with sudo)")}</dd>
                        <dt>"Extra options"</dt><dd><code>{settings.extra_options.replace('\n', " ")}</code></dd>
                        <dt>"Install root"</dt><dd><code>{settings.install_root}</code></dd>
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
                        <dt>"Keep stopped containers"</dt><dd>{settings.keep_releases}</dd>
                        <dt>"Health check"</dt><dd>{health}</dd>
                    }.into_any()
                } else {
                    view! {
                        <dt>"Target directory"</dt><dd><code>{settings.target_dir}</code></dd>
                        {(settings.backend == "ssh").then(|| {
                            let transfer = if settings.fetch_from.is_empty() {
                                "uploaded by Slipway over SSH".to_owned()
                            } else {
                                format!("fetched by each host from {} (sha256 checked)", settings.fetch_from)
                            };
                            view! { <dt>"Release archive"</dt><dd>{transfer}</dd> }
                        })}
                        <dt>"Keep releases"</dt><dd>{settings.keep_releases}</dd>
                        <dt>"Before switch"</dt><dd><code>{settings.before_switch}</code></dd>
                        <dt>"After switch"</dt><dd><code>{settings.after_switch}</code></dd>
                        <dt>"Health check"</dt><dd>{health}</dd>
                    }.into_any()
                }}
            </dl>
        </section>
    }
}

#[component]
fn ReleaseRow(
    r: ReleaseInfo,
    /// The release key live now.
    live_key: Option<String>,
    app: String,
    env: String,
    unsettled: bool,
    may_deploy: bool,
    rollback: ServerAction<Rollback>,
) -> impl IntoView {
    let job_href = format!("/jobs/{}", r.job_id);
    let commit = short_sha(&r.commit_sha).to_owned();
    let offer = match r.state.as_str() {
        _ if !may_deploy => None,
        "superseded" if live_key.as_deref() != Some(r.release_key.as_str()) => Some((
            "Rollback to this",
            "Yes, roll back",
            format!(
                "Roll {app}/{env} back to release {} ({commit} on {})? It goes live on every host in place of {}.",
                r.release_key,
                r.branch,
                live_key.as_deref().unwrap_or("what is live now"),
            ),
        )),
        "live" if unsettled => Some((
            "Restore this release",
            "Yes, restore it",
            format!(
                "Restore release {} ({commit}) on {app}/{env}? Every host switches back to it.",
                r.release_key
            ),
        )),
        _ => None,
    };
    view! {
        <tr data-release=r.id data-state=r.state.clone()>
            <td><code class="release-key">{r.release_key.clone()}</code></td>
            <td>
                <code>{short_sha(&r.commit_sha).to_owned()}</code>
                " "<span class="branch">{r.branch.clone()}</span>
                " "<span class="muted">{r.message.clone()}</span>
            </td>
            <td>{r.kind.clone()}</td>
            <td><StateBadge state=r.state.clone() /></td>
            <td>{r.released_by.clone()}</td>
            // Only what went live was released; the rest never was.
            <td>{r.released_at.clone().unwrap_or_else(|| "—".to_owned())}</td>
            <td><A href=job_href>"#"{r.job_id}</A>" "<StateBadge state=r.job_state.clone() /></td>
            <td>
                {offer.map(|(label, confirm, question)| view! {
                    <ActionForm action=rollback>
                        <input type="hidden" name="app" value=app.clone() />
                        <input type="hidden" name="env" value=env.clone() />
                        <input type="hidden" name="release_id" value=r.id.to_string() />
                        <ConfirmSubmit label confirm kind="rollback">{question}</ConfirmSubmit>
                    </ActionForm>
                })}
            </td>
        </tr>
    }
}

/// What removing variable `v` asks first: a secret cannot be read back.
fn remove_question(v: &VarInfo) -> String {
    if v.secret {
        format!("Remove the secret {}? Its value cannot be recovered, and deploys from now on go without it.", v.name)
    } else {
        format!("Remove {}? Deploys from now on go without it.", v.name)
    }
}

/// Where an ssh or dnf environment's hosts come from, if it has any: the
/// list, or the command or file they are discovered from at job start.
fn host_source(settings: &EnvSettings) -> Option<String> {
    if !settings.hosts.is_empty() {
        Some(settings.hosts.join(", "))
    } else if !settings.hosts_command.is_empty() {
        Some(format!(
            "discovered at each job from the command {}",
            settings.hosts_command
        ))
    } else if !settings.hosts_file.is_empty() {
        Some(format!(
            "discovered at each job from the file {}",
            settings.hosts_file
        ))
    } else {
        None
    }
}

/// Who may deploy, roll back, lock or cancel here, in words.
fn who_may_deploy(settings: &EnvSettings) -> String {
    let named = settings.deployers.trim();
    match (settings.protected, named.is_empty()) {
        (false, _) => "deployers and admins".to_owned(),
        (true, true) => "admins only (protected)".to_owned(),
        (true, false) => format!("admins and {named} (protected)"),
    }
}
