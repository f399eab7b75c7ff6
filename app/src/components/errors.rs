use leptos::prelude::*;

use crate::error::AppError;

#[component]
pub fn ErrorBox(error: AppError) -> impl IntoView {
    view! { <p class="error" role="alert">{error.message().to_owned()}</p> }
}

/// Shows the error of the last submission of an action, if it failed.
#[component]
pub fn ActionError<S, T>(value: S) -> impl IntoView
where
    S: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
    T: Send + Sync + 'static,
{
    move || {
        value
            .get()
            .and_then(|result| result.err())
            .map(|error| view! { <ErrorBox error /> })
    }
}
