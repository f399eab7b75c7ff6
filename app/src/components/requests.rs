//! Deploy requests in a table: what each asks for, why it waits or how it
//! ended, its approvals, and — to those who may — Approve / Reject and
//! Cancel.

use leptos::prelude::*;

use crate::components::when::When;
use leptos_router::components::A;

use crate::components::confirm::ConfirmSubmit;
use crate::components::state::StateBadge;
use crate::error::AppError;
use crate::functions::requests::{AnswerRequest, CancelRequest};
use crate::model::{short_sha, Deployed, RequestInfo};

#[component]
pub fn RequestsTable(
    requests: Vec<RequestInfo>,
    /// Name each request's environment (on a page about several).
    #[prop(optional)]
    show_environment: bool,
    /// Whether to offer Cancel on pending ones.
    may_cancel: bool,
    cancel: ServerAction<CancelRequest>,
    answer: ServerAction<AnswerRequest>,
) -> impl IntoView {
    view! {
        <table class="requests-table">
            <thead>
                <tr>
                    <th>"#"</th>
                    {show_environment.then(|| view! { <th>"Environment"</th> })}
                    <th>"What"</th>
                    <th>"Asked by"</th>
                    <th>"State"</th>
                    <th>"Why it waits / how it ended"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>
                {requests
                    .into_iter()
                    .map(|r| view! { <RequestRow r show_environment may_cancel cancel answer /> })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn RequestRow(
    r: RequestInfo,
    show_environment: bool,
    may_cancel: bool,
    cancel: ServerAction<CancelRequest>,
    answer: ServerAction<AnswerRequest>,
) -> impl IntoView {
    let pending = r.state == "waiting" || r.state == "awaiting_approval";
    let what = format!(
        "{} build #{} ({} on {})",
        r.kind,
        r.build_id,
        short_sha(&r.commit_sha),
        r.branch
    );
    let question = format!("Cancel request #{} ({what})? It will not start.", r.id);
    let env_href = format!("/apps/{}/envs/{}", r.app, r.env);
    let env_name = format!("{}/{}", r.app, r.env);
    view! {
        <tr data-request=r.id data-state=r.state.clone()>
            <td>{r.id}</td>
            {show_environment.then(|| view! { <td><A href=env_href>{env_name}</A></td> })}
            <td>{what}{r.not_before.clone().map(|at| view! { <br /><span class="muted">"not before "{at}</span> })}</td>
            <td>{r.requested_by.clone()}<br /><span class="muted"><When at=r.created_at.clone() /></span></td>
            <td><StateBadge state=r.state.clone() /></td>
            <td class="request-note">
                {r.note.clone()}
                {r.job_id.map(|id| {
                    let href = format!("/jobs/{id}");
                    view! { " " <A href=href>"job #"{id}</A> }
                })}
                {r.expires_at.clone().filter(|_| r.state == "awaiting_approval").map(|at| view! {
                    <br /><span class="muted">"expires "{at}</span>
                })}
                <ul class="answers">
                    {r.answers.iter().map(|a| view! {
                        <li data-decision=a.decision.clone()>
                            <strong>{a.approver.clone()}</strong>" "{a.decision.clone()}
                            {(!a.comment.is_empty()).then(|| view! { ": "<q class="comment">{a.comment.clone()}</q> })}
                            " "<span class="muted">{a.at.clone()}</span>
                        </li>
                    }).collect_view()}
                </ul>
            </td>
            <td>
                {r.may_answer.then(|| view! { <AnswerForm id=r.id answer /> })}
                {r.why_not.clone().map(|why| view! { <p class="muted cannot-answer">{why}</p> })}
                {(pending && may_cancel).then(|| view! {
                    <ActionForm action=cancel>
                        <input type="hidden" name="id" value=r.id.to_string() />
                        <ConfirmSubmit label="Cancel request" confirm="Yes, cancel it" kind="danger">{question}</ConfirmSubmit>
                    </ActionForm>
                })}
            </td>
        </tr>
    }
}

/// Approve (a comment optional) or reject (saying why): one form each,
/// so each posts its own decision.
#[component]
fn AnswerForm(id: i64, answer: ServerAction<AnswerRequest>) -> impl IntoView {
    view! {
        <ActionForm action=answer attr:class="answer-form approve-form">
            <input type="hidden" name="id" value=id.to_string() />
            <input type="hidden" name="decision" value="approve" />
            <input name="comment" placeholder="comment (optional)" />
            <button type="submit" class="primary approve">"Approve"</button>
        </ActionForm>
        <details class="reject">
            <summary>"Reject…"</summary>
            <ActionForm action=answer attr:class="answer-form reject-form">
                <input type="hidden" name="id" value=id.to_string() />
                <input type="hidden" name="decision" value="reject" />
                <input name="comment" required placeholder="why not" />
                <button type="submit" class="danger">"Reject"</button>
            </ActionForm>
        </details>
    }
}

/// After Deploy or Promote: the request it became, when it waits, and why.
#[component]
pub fn WaitingNotice<S>(value: S) -> impl IntoView
where
    S: Get<Value = Option<Result<Deployed, AppError>>> + Send + Sync + 'static,
{
    move || match value.get() {
        Some(Ok(Deployed::Waiting(request))) => Some(view! {
            <p class="notice deploy-waits" data-request=request.id>
                "Request #"{request.id}" waits: "{request.note.unwrap_or_default()}"."
            </p>
        }),
        _ => None,
    }
}
