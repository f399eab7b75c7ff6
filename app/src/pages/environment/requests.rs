//! The environment page's deploy requests: the one pending (with why, its
//! approvals, Approve / Reject and Cancel) and how the latest ones ended.

use leptos::prelude::*;

use crate::components::errors::ActionError;
use crate::components::requests::RequestsTable;
use crate::functions::requests::{AnswerRequest, CancelRequest};
use crate::model::RequestInfo;

#[component]
pub fn RequestsCard(
    requests: Vec<RequestInfo>,
    /// Whether to offer Cancel on the pending one.
    may_cancel: bool,
    cancel: ServerAction<CancelRequest>,
    answer: ServerAction<AnswerRequest>,
) -> impl IntoView {
    if requests.is_empty() {
        return ().into_any();
    }
    view! {
        <section class="card requests">
            <h2>"Deploy requests"</h2>
            <ActionError value=cancel.value() />
            <ActionError value=answer.value() />
            <RequestsTable requests may_cancel cancel answer />
        </section>
    }
    .into_any()
}
