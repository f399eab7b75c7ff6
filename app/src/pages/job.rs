use leptos::prelude::*;

use crate::components::when::When;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::components::confirm::ConfirmSubmit;
use crate::components::errors::{ActionError, ErrorBox};
use crate::components::progress::HostProgress;
use crate::components::state::StateBadge;
use crate::components::what_changed::WhatChanged;
use crate::error::AppError;
use crate::functions::changes::job_changes;
use crate::functions::environments::Rollback;
use crate::functions::jobs::{get_job, AbandonJob, CancelJob, ResumeJob};
use crate::model::{
    short_sha, Abandoned, Deployed, EventLine, HostInfo, JobDetail, ProgressPayload, RestoreTarget,
};

#[component]
pub fn JobPage() -> impl IntoView {
    let params = use_params_map();
    // A job id that is not a number names no job: asked for as such, it
    // is answered "not found" by the server, which names what was asked.
    let id = move || params.read().get("id").unwrap_or_default();
    let cancel = ServerAction::<CancelJob>::new();
    let abandon = ServerAction::<AbandonJob>::new();
    let resume = ServerAction::<ResumeJob>::new();
    let rollback = ServerAction::<Rollback>::new();
    let job = Resource::new(id, |raw| async move {
        match raw.parse::<i64>() {
            Ok(id) if id > 0 => get_job(raw).await,
            _ => Err(AppError::new(format!(
                "no job {raw:?}: job ids are numbers, e.g. /jobs/1"
            ))),
        }
    });
    // Resumed: follow the job that finishes it.
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(resumed)) = resume.value().get() {
            navigate(&format!("/jobs/{resumed}"), Default::default());
        }
        // Rolled back: follow the rollback, or see its request wait.
        match rollback.value().get() {
            Some(Ok(Deployed::Job(job_id))) => {
                navigate(&format!("/jobs/{job_id}"), Default::default())
            }
            Some(Ok(Deployed::Waiting(request))) => navigate(
                &format!("/apps/{}/envs/{}", request.app, request.env),
                Default::default(),
            ),
            _ => {}
        }
    });
    // Abandoned: reload the job, which now says by whom and why.
    Effect::new(move |_| {
        if matches!(abandon.value().get(), Some(Ok(()))) {
            job.refetch();
        }
    });
    view! {
        <Title text=move || format!("Job #{}", id()) />
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match job.await {
                    Ok(detail) => {
                        // When the stream says the job ended, reload its facts (finish time, duration).
                        let on_end = Callback::new(move |_: ()| job.refetch());
                        view! { <JobLive detail cancel resume abandon rollback on_end /> }.into_any()
                    }
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// What an interrupted job offers, and what became of it.
#[derive(Clone)]
struct InterruptedJob {
    job_id: i64,
    app: String,
    env: String,
    env_href: String,
    may_resume: bool,
    /// The release Roll back restores (the one live before this job).
    restore: Option<RestoreTarget>,
    /// A job that ran on the environment after this one.
    later_job: Option<i64>,
    may_abandon: bool,
    abandoned: Option<Abandoned>,
    resumed_by: Option<i64>,
}

/// An interrupted job needs attention until someone resumes it (a new job
/// finishes its release), rolls back, or lets it go saying why; then the
/// page says what became of it.
#[component]
fn Interrupted(
    job: InterruptedJob,
    resume: ServerAction<ResumeJob>,
    abandon: ServerAction<AbandonJob>,
    rollback: ServerAction<Rollback>,
) -> impl IntoView {
    let InterruptedJob {
        job_id,
        app,
        env,
        env_href,
        may_resume,
        restore,
        later_job,
        may_abandon,
        abandoned,
        resumed_by,
    } = job;
    if let Some(by) = resumed_by {
        return view! {
            <p class="notice" id="resumed">
                "Resumed by "<A href=format!("/jobs/{by}")>{format!("job #{by}")}</A>", which finishes its release."
            </p>
        }
        .into_any();
    }
    if let Some(later) = later_job.filter(|_| abandoned.is_none()) {
        return view! {
            <p class="notice" id="taken-over">
                <A href=format!("/jobs/{later}")>{format!("Job #{later}")}</A>
                " ran on the environment after this one; it decided what the hosts run."
            </p>
        }
        .into_any();
    }
    if let Some(Abandoned { by, at, reason }) = abandoned {
        return view! {
            <p class="notice" id="abandoned">
                "Abandoned by "<strong>{by}</strong>" "<When at />": "<span class="reason">{reason}</span>
            </p>
        }
        .into_any();
    }
    view! {
        <div class="notice warning" id="needs-attention">
            <p>
                "Needs attention: Slipway stopped while this job ran, so its hosts may be part-way through it. "
                "On SSH hosts its deploy lock may remain (an admin breaks it with Break stale locks on the environment page). "
                "Resume it, roll back (here, or to any earlier release from the environment's "
                <A href=format!("{env_href}#release-history")>"release history"</A>
                "), or abandon it saying why."
            </p>
            {may_resume.then(|| view! {
                <ActionForm action=resume>
                    <input type="hidden" name="id" value=job_id.to_string() />
                    <ConfirmSubmit label="Resume" confirm="Yes, resume it" kind="primary">
                        "Finish this job's release as a new job? It goes on from where this one stopped: hosts where the release is staged keep it, the others are staged, then all switch; it takes over the deploy locks this one left. "
                        "Refused if another job ran here since, or the environment's settings changed."
                    </ConfirmSubmit>
                </ActionForm>
                <ActionError value=resume.value() />
            })}
            {restore.map(|target| {
                let question = format!(
                    "Put every host of {app}/{env} back on release {} ({} on {}), live before this job? A rollback job runs now.",
                    target.release_key,
                    short_sha(&target.commit_sha),
                    target.branch,
                );
                view! {
                    <div id="restore">
                    <ActionForm action=rollback>
                        <input type="hidden" name="app" value=app.clone() />
                        <input type="hidden" name="env" value=env.clone() />
                        <input type="hidden" name="release_id" value=target.release_id.to_string() />
                        <ConfirmSubmit label=format!("Roll back to {}", target.release_key) confirm="Yes, roll back" kind="rollback">
                            {question}
                        </ConfirmSubmit>
                    </ActionForm>
                    <ActionError value=rollback.value() />
                    </div>
                }
            })}
            {may_abandon.then(|| view! {
                <ActionForm action=abandon>
                    <input type="hidden" name="id" value=job_id.to_string() />
                    <label>
                        "Reason "
                        <textarea name="reason" required maxlength="500"
                            placeholder="Checked every host: current still points at the previous release"></textarea>
                    </label>
                    <button type="submit" class="button danger" id="abandon">"Abandon job"</button>
                </ActionForm>
                <ActionError value=abandon.value() />
            })}
        </div>
    }
    .into_any()
}

fn is_finished(state: &str) -> bool {
    !matches!(state, "queued" | "running")
}

/// Applies one streamed event to the page's state. Events at or below the
/// last seen sequence number are ignored, so a replay never repeats a line.
fn apply_event(
    line: EventLine,
    events: RwSignal<Vec<EventLine>>,
    hosts: RwSignal<Vec<HostInfo>>,
    state: RwSignal<String>,
) {
    let last = events.with_untracked(|ev| ev.last().map(|e| e.seq).unwrap_or(0));
    if line.seq <= last {
        return;
    }
    match line.level.as_str() {
        "progress" => {
            if let (Some(host), Ok(p)) = (
                line.host.clone(),
                serde_json::from_str::<ProgressPayload>(&line.text),
            ) {
                hosts.update(|hosts| {
                    let info = HostInfo {
                        host: host.clone(),
                        phase: p.phase,
                        step: p.step,
                        done: p.done,
                        total: p.total,
                        state: p.state,
                        error: p.error,
                    };
                    match hosts.iter_mut().find(|h| h.host == host) {
                        Some(existing) => *existing = info,
                        None => hosts.push(info),
                    }
                });
            }
        }
        "end" => state.set(line.text.clone()),
        _ => {
            if state.get_untracked() == "queued" {
                state.set("running".to_owned());
            }
        }
    }
    events.update(|ev| ev.push(line));
}

#[component]
fn JobLive(
    detail: JobDetail,
    cancel: ServerAction<CancelJob>,
    resume: ServerAction<ResumeJob>,
    abandon: ServerAction<AbandonJob>,
    rollback: ServerAction<Rollback>,
    on_end: Callback<()>,
) -> impl IntoView {
    let JobDetail {
        summary,
        app,
        env,
        build,
        release_key,
        started_at,
        finished_at,
        duration,
        hosts,
        events,
        more_events,
        may_cancel,
        cancel_requested_by,
        request_id,
        approved_by,
        abandoned,
        may_deploy,
        resumes,
        resumed_by,
        restore,
        later_job,
    } = detail;
    let asked_before_load = cancel_requested_by.is_some();
    let job_id = summary.id;
    let last_seq = events.last().map(|e| e.seq).unwrap_or(0);
    let events = RwSignal::new(events);
    let hosts = RwSignal::new(hosts);
    let state = RwSignal::new(summary.state.clone());
    // A running job streams on; a finished one whose log did not fit the
    // page streams the rest (then its end event closes the stream).
    let live_at_load = !is_finished(&summary.state);
    let follow_stream = live_at_load || more_events;

    Effect::new(move |_| {
        if follow_stream {
            let on_event = Callback::new(move |line: EventLine| {
                let ended = line.level == "end";
                apply_event(line, events, hosts, state);
                // Only a job that ended while watched has new facts to load.
                if ended && live_at_load {
                    on_end.run(());
                }
            });
            follow(job_id, last_seq, on_event);
        }
    });

    let env_href = format!("/apps/{app}/envs/{env}");
    view! {
        <h1>
            "Job #"{job_id}" · "{summary.kind.clone()}" to "
            <A href=env_href.clone()>{format!("{app}/{env}")}</A>
            " "
            <span id="job-state">{move || view! { <StateBadge state=state.get() /> }}</span>
        </h1>
        <section class="card job-facts">
            <dl>
                <dt>"Build"</dt>
                <dd>
                    "#"{build.id}" "<code>{short_sha(&build.commit_sha).to_owned()}</code>" "
                    <span class="branch">{build.branch.clone()}</span>" "{build.message.clone()}
                </dd>
                <dt>"Release"</dt><dd><code id="release-key">{release_key.unwrap_or_default()}</code></dd>
                <dt>"Requested"</dt>
                <dd class="requested-by">
                    {summary.requested_by.clone()}" "<When at=summary.created_at.clone() />
                    {request_id.map(|id| format!(" (request #{id})"))}
                </dd>
                {approved_by.map(|who| view! { <dt>"Approved by"</dt><dd class="approved-by">{who}</dd> })}
                {resumes.map(|id| view! {
                    <dt>"Resumes"</dt>
                    <dd id="resumes"><A href=format!("/jobs/{id}")>{format!("interrupted job #{id}")}</A></dd>
                })}
                <dt>"Started"</dt><dd>{started_at.clone().map(|at| view! { <When at /> })}{started_at.is_none().then_some("—")}</dd>
                <dt>"Finished"</dt><dd>{finished_at.clone().map(|at| view! { <When at /> })}{finished_at.is_none().then_some("—")}{duration.map(|d| format!(" ({d})"))}</dd>
            </dl>
            {summary.error.clone().map(|e| view! { <p class="error">{e}</p> })}
            {move || {
                // Asked already (here, or before the page loaded): the job
                // stops at its next step.
                let asked = cancel_requested_by.clone().or_else(|| {
                    cancel.value().get().and_then(Result::ok).map(|()| "you".to_owned())
                });
                asked.filter(|_| !is_finished(&state.get())).map(|who| view! {
                    <p class="notice" id="cancel-requested">"Cancel requested by "{who}": the job stops at its next step."</p>
                })
            }}
            <Show when=move || {
                may_cancel && !is_finished(&state.get()) && !asked_before_load
                    && !matches!(cancel.value().get(), Some(Ok(())))
            }>
                <ActionForm action=cancel>
                    <input type="hidden" name="id" value=job_id.to_string() />
                    <ConfirmSubmit label="Cancel job" confirm="Yes, cancel it" kind="danger">
                        "Stop this job at its next step? Cancelled before its switch, it leaves every host as it was; cancelled after, hosts keep what they switched to. A cancelled job is not resumed."
                    </ConfirmSubmit>
                </ActionForm>
            </Show>
            <ActionError value=cancel.value() />
            {(summary.state == "interrupted").then(|| {
                let job = InterruptedJob {
                    job_id,
                    app: app.clone(),
                    env: env.clone(),
                    env_href: env_href.clone(),
                    may_resume: may_deploy,
                    restore,
                    later_job,
                    may_abandon: may_cancel,
                    abandoned,
                    resumed_by,
                };
                view! { <Interrupted job resume abandon rollback /> }
            })}
        </section>
        {matches!(summary.kind.as_str(), "deploy" | "rollback").then(|| view! { <JobChanges job_id /> })}
        <section class="card">
            <h2>"Hosts"</h2>
            <div id="hosts">
                {move || hosts.get().into_iter().map(|host| view! { <HostProgress host /> }).collect_view()}
            </div>
        </section>
        <section class="card">
            <h2>"Log"</h2>
            <pre id="job-log" class="log">
                <For
                    each=move || events.get().into_iter().filter(|e| e.level != "progress" && e.level != "end")
                    key=|e| e.seq
                    children=|e| {
                        let class = format!("line level-{}", e.level);
                        let host = e.host.clone().map(|h| format!("[{h}] ")).unwrap_or_default();
                        view! {
                            <div class=class data-seq=e.seq>
                                <span class="ts">{e.ts.clone()}</span>" "
                                <span class="host">{host}</span>
                                {e.text.clone()}
                            </div>
                        }
                    }
                />
            </pre>
        </section>
    }
}

/// What the job changed: commits, settings and variables, compared with
/// the release live when it was queued.
#[component]
fn JobChanges(job_id: i64) -> impl IntoView {
    let changes = Resource::new(move || job_id, |id| job_changes(id.to_string()));
    view! {
        <section class="card" id="job-changes">
            <h2>"What changed"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Comparing…"</p> }>
                {move || Suspend::new(async move {
                    match changes.await {
                        Ok(changes) => view! { <WhatChanged changes /> }.into_any(),
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// Follows a job's events over SSE from `after`. The browser's EventSource
/// reconnects on its own with `Last-Event-ID`, and the server replays from
/// there, so a blip neither loses nor repeats a line.
#[cfg(feature = "hydrate")]
fn follow(job_id: i64, after: i64, on_event: Callback<EventLine>) {
    use wasm_bindgen::prelude::Closure;
    use wasm_bindgen::JsCast;
    use web_sys::{EventSource, MessageEvent};

    let url = format!("/events/jobs/{job_id}?after={after}");
    let Ok(source) = EventSource::new(&url) else {
        leptos::logging::error!("could not open the job event stream");
        return;
    };
    let closer = source.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |msg: MessageEvent| {
        let Some(data) = msg.data().as_string() else {
            return;
        };
        let Ok(line) = serde_json::from_str::<EventLine>(&data) else {
            return;
        };
        let ended = line.level == "end";
        on_event.run(line);
        if ended {
            closer.close();
        }
    });
    source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    let source = send_wrapper::SendWrapper::new(source);
    on_cleanup(move || source.close());
}

#[cfg(not(feature = "hydrate"))]
fn follow(_job_id: i64, _after: i64, _on_event: Callback<EventLine>) {}
