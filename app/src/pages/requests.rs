//! The Requests page: every deploy and rollback that is pending — first
//! those waiting for the reader's approval, then the rest.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::errors::{ActionError, ErrorBox};
use crate::components::requests::RequestsTable;
use crate::functions::requests::{get_requests, AnswerRequest, CancelRequest};

#[component]
pub fn RequestsPage() -> impl IntoView {
    let answer = ServerAction::<AnswerRequest>::new();
    let cancel = ServerAction::<CancelRequest>::new();
    let pending = Resource::new(
        move || answer.version().get() + cancel.version().get(),
        |_| get_requests(),
    );
    view! {
        <Title text="Requests" />
        <h1>"Deploy requests"</h1>
        <ActionError value=answer.value() />
        <ActionError value=cancel.value() />
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match pending.await {
                    Ok(requests) => {
                        let (mine, others): (Vec<_>, Vec<_>) =
                            requests.into_iter().partition(|r| r.may_answer);
                        view! {
                            <section class="card for-me">
                                <h2>"Waiting for you"</h2>
                                {if mine.is_empty() {
                                    view! { <p class="muted">"Nothing waits for your approval."</p> }.into_any()
                                } else {
                                    view! { <RequestsTable requests=mine show_environment=true may_cancel=false cancel answer /> }.into_any()
                                }}
                            </section>
                            <section class="card others">
                                <h2>"Everything else pending"</h2>
                                {if others.is_empty() {
                                    view! { <p class="muted">"No other deploy or rollback waits."</p> }.into_any()
                                } else {
                                    view! { <RequestsTable requests=others show_environment=true may_cancel=false cancel answer /> }.into_any()
                                }}
                            </section>
                        }
                        .into_any()
                    }
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}
