use leptos::prelude::*;

/// The message a person should read, without the framework's prefix.
pub fn error_text(err: &ServerFnError) -> String {
    match err {
        ServerFnError::ServerError(message) => message.clone(),
        other => other.to_string(),
    }
}

#[component]
pub fn ErrorBox(error: ServerFnError) -> impl IntoView {
    view! { <p class="error" role="alert">{error_text(&error)}</p> }
}

/// Shows the error of the last submission of an action, if it failed.
#[component]
pub fn ActionError<S, T>(value: S) -> impl IntoView
where
    S: Get<Value = Option<Result<T, ServerFnError>>> + Send + Sync + 'static,
    T: Send + Sync + 'static,
{
    move || {
        value
            .get()
            .and_then(|result| result.err())
            .map(|e| view! { <p class="error" role="alert">{error_text(&e)}</p> })
    }
}
