use leptos::prelude::*;

use crate::components::when::When;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::components::allowed::IfAllowed;
use crate::components::errors::{ActionError, ErrorBox};
use crate::functions::builds::{get_builds, RegisterBuild};
use crate::model::{short_sha, BuildsPage};

#[component]
pub fn BuildsListPage() -> impl IntoView {
    let query = use_query_map();
    let register = ServerAction::<RegisterBuild>::new();
    let page = Resource::new(
        move || {
            (
                query.read().get("app").unwrap_or_default(),
                register.version().get(),
            )
        },
        |(app, _)| get_builds(app),
    );
    view! {
        <Title text="Builds" />
        <h1>"Builds"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(page) => view! { <BuildsView page register /> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn BuildsView(page: BuildsPage, register: ServerAction<RegisterBuild>) -> impl IntoView {
    let BuildsPage { app, apps, builds } = page;
    view! {
        <nav class="tabs">
            {apps.into_iter().map(|a| {
                let href = format!("/builds?app={a}");
                let class = if a == app { "tab active" } else { "tab" };
                view! { <A href=href attr:class=class>{a}</A> }
            }).collect_view()}
        </nav>
        <IfAllowed allows=|me| me.may_register_builds>
            <RegisterBuildCard app=app.clone() register />
        </IfAllowed>
        <table class="builds">
            <thead>
                <tr><th>"#"</th><th>"Commit"</th><th>"Branch"</th><th>"Message"</th><th>"Author"</th><th>"Artifact"</th><th>"Registered"</th></tr>
            </thead>
            <tbody>
                {builds.into_iter().map(|b| view! {
                    <tr data-build=b.id>
                        <td>{b.id}</td>
                        <td><code title=b.commit_sha.clone()>{short_sha(&b.commit_sha).to_owned()}</code></td>
                        <td class="branch">{b.branch.clone()}</td>
                        <td>{b.message.clone()}</td>
                        <td>{b.author.clone()}</td>
                        <td><code class="artifact">{b.artifact.clone()}</code></td>
                        <td><When at=b.created_at.clone() />" by "{b.registered_by.clone()}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// The "Register a build" form, for people who may.
#[component]
fn RegisterBuildCard(app: String, register: ServerAction<RegisterBuild>) -> impl IntoView {
    view! {
        <details class="card">
            <summary>"Register a build"</summary>
            <ActionForm action=register attr:class="env-form">
                <input type="hidden" name="application" value=app.clone() />
                <label>"Commit sha (40 hex)" <input name="commit_sha" required /></label>
                <label>"Branch" <input name="branch" value="main" required /></label>
                <label>"Message" <input name="message" /></label>
                <label>"Author" <input name="author" /></label>
                <label>"Artifact (.tar.gz path under an allowed root, a directory, an http(s) URL, or for docker an image reference name:tag)" <input name="artifact" required /></label>
                <button type="submit">"Register build"</button>
            </ActionForm>
            <ActionError value=register.value() />
            {move || register.value().get().and_then(Result::ok).map(|r| {
                let text = if r.created {
                    format!("Registered build #{} of {}.", r.build.id, short_sha(&r.build.commit_sha))
                } else {
                    format!(
                        "Commit {} is already build #{} with this artifact: nothing changed.",
                        short_sha(&r.build.commit_sha),
                        r.build.id
                    )
                };
                view! { <p class="notice registered">{text}</p> }
            })}
        </details>
    }
}
