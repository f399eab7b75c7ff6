//! An environment's page: what is live, deploy, roll back, lock, its
//! releases, variables and settings.

mod freezes;
mod notifications;
mod requests;
mod settings;
mod vars;

use leptos::prelude::*;

use crate::components::when::When;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::components::changes::ChangedNotice;
use crate::components::confirm::ConfirmSubmit;
use crate::components::errors::{ActionError, ErrorBox};
use crate::components::freeze::FreezeNotice;
use crate::components::requests::WaitingNotice;
use crate::components::state::StateBadge;
use crate::components::what_changed::WhatChanged;
use crate::functions::changes::deploy_changes;
use crate::functions::environments::{
    get_environment, BreakRemoteLocks, DeleteEnvVar, Deploy, LockEnvironment, Promote, Rollback,
    SetEnvVar, UnlockEnvironment,
};
use crate::functions::freezes::{CreateFreezeWindow, DeleteFreezeWindow};
use crate::functions::jobs::deploy_plan;
use crate::functions::requests::{AnswerRequest, CancelRequest};
use crate::model::{short_sha, BuildInfo, Deployed, EnvDetail, FreezeInfo, LockInfo, ReleaseInfo};
use crate::pages::installed_versions::InstalledVersionsCard;
use crate::pages::qa::{EnvAddress, QaCreateCard, QaDestroyCard};
use freezes::FreezeCard;
use notifications::NotificationsCard;
use requests::RequestsCard;
use settings::SettingsCard;
use vars::VarsCard;

#[component]
pub fn EnvironmentPage() -> impl IntoView {
    let params = use_params_map();
    let app = move || params.read().get("app").unwrap_or_default();
    let env = move || params.read().get("env").unwrap_or_default();

    let deploy = ServerAction::<Deploy>::new();
    let rollback = ServerAction::<Rollback>::new();
    let promote = ServerAction::<Promote>::new();
    let lock = ServerAction::<LockEnvironment>::new();
    let unlock = ServerAction::<UnlockEnvironment>::new();
    let set_var = ServerAction::<SetEnvVar>::new();
    let delete_var = ServerAction::<DeleteEnvVar>::new();
    let create_freeze = ServerAction::<CreateFreezeWindow>::new();
    let delete_freeze = ServerAction::<DeleteFreezeWindow>::new();

    let cancel_request = ServerAction::<CancelRequest>::new();
    let answer_request = ServerAction::<AnswerRequest>::new();
    let navigate = use_navigate();
    // A job that starts now is followed on its page; a request that waits
    // shows here (the page reloads its data).
    Effect::new(move |_| {
        let made = deploy
            .value()
            .get()
            .and_then(Result::ok)
            .or_else(|| rollback.value().get().and_then(Result::ok))
            .or_else(|| promote.value().get().and_then(Result::ok));
        if let Some(Deployed::Job(job_id)) = made {
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
                    + create_freeze.version().get()
                    + delete_freeze.version().get()
                    + deploy.version().get()
                    + rollback.version().get()
                    + promote.version().get()
                    + cancel_request.version().get()
                    + answer_request.version().get()
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
        create_freeze,
        delete_freeze,
        cancel_request,
        answer_request,
        promote,
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
    create_freeze: ServerAction<CreateFreezeWindow>,
    delete_freeze: ServerAction<DeleteFreezeWindow>,
    cancel_request: ServerAction<CancelRequest>,
    answer_request: ServerAction<AnswerRequest>,
    promote: ServerAction<Promote>,
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
        freeze_windows,
        requests,
        promotes_to,
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
            " "<small><A href=format!("/apps/{app}/envs/{env}/insight") attr:class="insight-link">"DORA metrics"</A></small>
        </h1>
        {active_job.map(|job| {
            let href = format!("/jobs/{}", job.id);
            view! {
                <p class="notice">
                    "Job "<A href=href>"#"{job.id}</A>" ("{job.kind}" by "{job.requested_by}") is "{job.state}"."
                </p>
            }
        })}
        <FreezeNotice freeze=summary.freeze.clone() />
        <EnvAddress summary=summary.clone() />
        <div class="grid">
            {(may_deploy && summary.backend == "docker" && summary.kind == "permanent").then(|| view! {
                <QaCreateCard app=app.clone() based_on=env.clone() builds=builds.clone() />
            })}
            {match may.deploy_refused.clone() {
                None => view! {
                    <DeployCard app=app.clone() env=env.clone() builds locked=summary.lock.is_some()
                        promotes_from=settings.access.promotes_from.clone()
                        frozen=summary.freeze.active.clone() may_override=may.manage_freezes deploy=actions.deploy />
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
        {(may_deploy && !promotes_to.is_empty()).then(|| view! {
            <PromoteCard app=app.clone() env=env.clone() to=promotes_to live=summary.live.clone() promote=actions.promote />
        })}
        <RequestsCard requests may_cancel=may_deploy cancel=actions.cancel_request answer=actions.answer_request />
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
        <ReleasesCard app=app.clone() env=env.clone() releases unsettled may_deploy locked=summary.lock.is_some()
            rollback_freeze=summary.freeze.active.clone().filter(|f| f.blocks_rollbacks)
            may_override=may.manage_freezes rollback=actions.rollback />
        <FreezeCard app=app.clone() env=env.clone() windows=freeze_windows manage=may.manage_freezes
            create=actions.create_freeze delete=actions.delete_freeze />
        <VarsCard app=app.clone() env=env.clone() vars manage=may.manage actions />
        <NotificationsCard app=app.clone() env=env.clone() />
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
    /// The freeze window in force: deploys are refused unless an admin
    /// gives a reason to go through it.
    frozen: Option<FreezeInfo>,
    /// Whether to offer that reason (admins).
    may_override: bool,
    /// The environment it takes builds from (empty: any build).
    promotes_from: String,
    deploy: ServerAction<Deploy>,
) -> impl IntoView {
    let no_builds = builds.is_empty();
    let offer_override = frozen.is_some() && may_override;
    // The plan follows the build picked in the list.
    let selected = RwSignal::new(builds.first().map(|b| b.id));
    let plan = Resource::new(move || selected.get(), {
        let (app, env) = (app.clone(), env.clone());
        move |build: Option<i64>| {
            let (app, env) = (app.clone(), env.clone());
            async move {
                match build {
                    Some(build_id) => deploy_plan(app, env, build_id.to_string()).await.map(Some),
                    None => Ok(None),
                }
            }
        }
    });
    let changes = Resource::new(move || selected.get(), {
        let (app, env) = (app.clone(), env.clone());
        move |build: Option<i64>| {
            let (app, env) = (app.clone(), env.clone());
            async move {
                match build {
                    Some(build_id) => deploy_changes(app, env, build_id.to_string())
                        .await
                        .map(Some),
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
                {offer_override.then(|| view! {
                    <input name="freeze_override" id="freeze-override" class="break-glass"
                        placeholder="break-glass: why this deploy must go through the freeze" />
                })}
                <button type="submit" class="primary" id="deploy-button" disabled=locked
                    title=locked.then_some("Locked: unlock it to deploy")>"Deploy"</button>
                <ScheduleField />
            </ActionForm>
            {frozen.map(|f| view! {
                <p class="muted frozen-note">
                    "Frozen by \u{201c}"{f.name}"\u{201d} until "{f.ends}": deploys are refused"
                    {if may_override { " unless you give a reason (audited)." } else { "." }}
                </p>
            })}
            {locked.then(|| view! { <p class="muted locked-note">"Locked: deploys wait until it is unlocked."</p> })}
            {(!promotes_from.is_empty()).then(|| view! {
                <p class="muted promotion-note">
                    "Takes builds only from "{promotes_from.clone()}": those that went live there, with no failed job there since."
                </p>
            })}
            <WaitingNotice value=deploy.value() />
            <ActionError value=deploy.value() />
            {no_builds.then(|| view! { <p class="muted">"No builds registered for this application yet."</p> })}
            <details class="changes" id="deploy-changes" open>
                <summary>"What changes"</summary>
                <Suspense fallback=|| view! { <p class="muted">"Comparing with the live release…"</p> }>
                    {move || Suspend::new(async move {
                        match changes.await {
                            Ok(Some(changes)) => view! { <WhatChanged changes /> }.into_any(),
                            Ok(None) => ().into_any(),
                            Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                        }
                    })}
                </Suspense>
            </details>
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
    /// A freeze window in force that refuses rollbacks.
    rollback_freeze: Option<FreezeInfo>,
    /// Whether the reader may go through it with a reason (break-glass).
    may_override: bool,
    rollback: ServerAction<Rollback>,
) -> impl IntoView {
    let override_freeze = rollback_freeze.is_some() && may_override;
    // A rollback makes a new row for the release it returns to: the older
    // row of that same release is not one to roll back to.
    let live_key = releases
        .iter()
        .find(|r| r.state == "live")
        .map(|r| r.release_key.clone());
    view! {
        <section class="card" id="release-history">
            <h2>"Release history"</h2>
            {locked.then(|| view! { <p class="muted">"Locked: rollbacks wait until it is unlocked."</p> })}
            {rollback_freeze.map(|f| view! {
                <p class="muted frozen-note" id="rollback-frozen">
                    "Frozen by \u{201c}"{f.name}"\u{201d} until "{f.ends}": rollbacks are refused"
                    {if may_override { " unless you give a reason (audited)." } else { "." }}
                </p>
            })}
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
                            view! { <ReleaseRow r live_key app=app.clone() env=env.clone() unsettled may_deploy=may_deploy && !locked override_freeze rollback /> }
                        })
                        .collect_view()}
                </tbody>
            </table>
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
fn ReleaseRow(
    r: ReleaseInfo,
    /// The release key live now.
    live_key: Option<String>,
    app: String,
    env: String,
    unsettled: bool,
    may_deploy: bool,
    /// Offer a break-glass reason to roll back through a freeze.
    override_freeze: bool,
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
            <td class="released-by">
                {r.released_by.clone()}
                {r.approved_by.clone().map(|who| view! { <br /><span class="muted approved-by">"approved by "{who}</span> })}
            </td>
            // Only what went live was released; the rest never was.
            <td>{r.released_at.clone().map(|at| view! { <When at /> })}{r.released_at.is_none().then_some("—")}</td>
            <td><A href=job_href>"#"{r.job_id}</A>" "<StateBadge state=r.job_state.clone() /></td>
            <td>
                {offer.map(|(label, confirm, question)| view! {
                    <ActionForm action=rollback>
                        <input type="hidden" name="app" value=app.clone() />
                        <input type="hidden" name="env" value=env.clone() />
                        <input type="hidden" name="release_id" value=r.id.to_string() />
                        {override_freeze.then(|| view! {
                            <input name="freeze_override" class="break-glass rollback-override"
                                placeholder="break-glass: why this rollback must go through the freeze" />
                        })}
                        <ConfirmSubmit label confirm kind="rollback">{question}</ConfirmSubmit>
                    </ActionForm>
                })}
            </td>
        </tr>
    }
}

/// Promote: what is live here goes to each environment that takes builds
/// from this one (subject to its approvals, queue and freezes).
#[component]
fn PromoteCard(
    app: String,
    env: String,
    to: Vec<String>,
    live: Option<ReleaseInfo>,
    promote: ServerAction<Promote>,
) -> impl IntoView {
    view! {
        <section class="card promote">
            <h2>"Promote"</h2>
            {match live {
                None => view! { <p class="muted">"Nothing is live here yet to promote."</p> }.into_any(),
                Some(live) => to.into_iter().map(|target| {
                    let label = format!("Promote to {target}");
                    let id = format!("promote-{target}");
                    let (app, env) = (app.clone(), env.clone());
                    let sha = short_sha(&live.commit_sha).to_owned();
                    view! {
                        <ActionForm action=promote attr:class="inline-form">
                            <input type="hidden" name="app" value=app />
                            <input type="hidden" name="env" value=env />
                            <input type="hidden" name="to" value=target />
                            <button type="submit" class="primary" id=id>{label}</button>
                            " "<span class="muted">"build #"{live.build_id}" "<code>{sha}</code></span>
                        </ActionForm>
                    }
                }).collect_view().into_any(),
            }}
            <ActionError value=promote.value() />
            <WaitingNotice value=promote.value() />
        </section>
    }
}

/// "Deploy later": an optional time in the browser's own zone, sent with
/// the browser's offset from UTC (set once hydrated; without it, UTC).
#[component]
fn ScheduleField() -> impl IntoView {
    let offset = RwSignal::new(String::new());
    Effect::new(move |_| offset.set(browser_utc_offset_minutes()));
    view! {
        <details class="schedule">
            <summary>"Deploy later"</summary>
            <label>"at (your time) "<input type="datetime-local" name="at" id="deploy-at" /></label>
            <input type="hidden" name="utc_offset_minutes" prop:value=offset />
            <small class="muted">"It waits until then, and starts if the environment is free, unlocked and not frozen; until then a newer deploy replaces it."</small>
        </details>
    }
}

/// Minutes east of UTC, as the browser's clock says (UTC on the server).
fn browser_utc_offset_minutes() -> String {
    #[cfg(feature = "hydrate")]
    {
        // JavaScript counts minutes west of UTC.
        let west = web_sys::js_sys::Date::new_0().get_timezone_offset();
        (-(west as i64)).to_string()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        "0".to_owned()
    }
}
