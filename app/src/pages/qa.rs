//! QA environments on the environment page: create one from a docker
//! environment, see where it serves and until when, destroy it.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use crate::components::confirm::ConfirmSubmit;
use crate::components::errors::ActionError;
use crate::functions::qa::{CreateQaEnvironment, DestroyEnvironment};
use crate::model::{short_sha, BuildInfo, EnvSummary};

/// Opens the job page of whatever job `job` returns.
fn follow_job(job: impl Fn() -> Option<i64> + 'static) {
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(job_id) = job() {
            navigate(&format!("/jobs/{job_id}"), Default::default());
        }
    });
}

/// Where a docker environment serves, and when a QA environment ends.
#[component]
pub fn EnvAddress(summary: EnvSummary) -> impl IntoView {
    let url = summary.url.clone();
    view! {
        {url.map(|url| view! {
            <p class="env-url">"Serves at "<a class="env-url" href=url.clone() target="_blank" rel="noopener">{url.clone()}</a></p>
        })}
        {summary.expires_at.clone().map(|at| view! {
            <p class="muted qa-expiry">"QA environment; destroyed automatically at "{at}"."</p>
        })}
    }
}

/// "Create QA environment": a name (or one derived from the build's
/// branch), a build and a time to live.
#[component]
pub fn QaCreateCard(app: String, based_on: String, builds: Vec<BuildInfo>) -> impl IntoView {
    let create = ServerAction::<CreateQaEnvironment>::new();
    follow_job(move || create.value().get().and_then(Result::ok));
    view! {
        <section class="card qa-create">
            <h2>"Create QA environment"</h2>
            <p class="muted">"A copy of this environment's settings and variables with its own containers and address, for one build; destroyed when its time is up. Secret variables are not copied: set them on the QA environment."</p>
            <ActionForm action=create attr:class="qa-form">
                <input type="hidden" name="app" value=app />
                <input type="hidden" name="based_on" value=based_on />
                <label>"Name (empty: qa-<branch of the build>)" <input name="name" placeholder="qa-feature-x" /></label>
                <label>
                    "Build"
                    <select name="build_id" id="qa-build-select" required>
                        {builds.into_iter().map(|b| {
                            let label = format!("#{} · {} · {} · {}", b.id, short_sha(&b.commit_sha), b.branch, b.artifact);
                            view! { <option value=b.id.to_string()>{label}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <label>"Time to live (hours)" <input name="ttl_hours" value="24" inputmode="numeric" /></label>
                <button type="submit" id="qa-create-button" class="primary">"Create QA environment"</button>
            </ActionForm>
            <ActionError value=create.value() />
        </section>
    }
}

/// Destroys a QA environment: its containers, network, proxy, and itself.
#[component]
pub fn QaDestroyCard(app: String, env: String) -> impl IntoView {
    let destroy = ServerAction::<DestroyEnvironment>::new();
    follow_job(move || destroy.value().get().and_then(Result::ok));
    view! {
        <section class="card danger" id="qa-destroy">
            <h2>"Destroy"</h2>
            <p class="muted">"Removes this QA environment's containers, network and proxy, then the environment. Its history stays in the audit log."</p>
            <ActionForm action=destroy>
                <input type="hidden" name="app" value=app />
                <input type="hidden" name="env" value=env />
                <ConfirmSubmit label="Destroy environment" confirm="Yes, destroy it" kind="danger">
                    "Remove this QA environment's containers, network and proxy, and the environment itself? Its URL stops answering."
                </ConfirmSubmit>
            </ActionForm>
            <ActionError value=destroy.value() />
        </section>
    }
}
