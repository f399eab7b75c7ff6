use leptos::prelude::*;

/// A submit button that asks before it acts, for what cannot be taken back
/// with one click (a rollback, a cancel, a destroy, a revoke…).
///
/// Pressing `label` opens the question (`children`) and one button saying
/// `confirm`, which submits the form this sits in; pressing `label` again
/// closes it. Plain `<details>`, so it asks the same before hydration.
#[component]
pub fn ConfirmSubmit(
    /// What the closed button says: "Rollback to this".
    #[prop(into)]
    label: String,
    /// What the confirming button says: "Yes, roll back".
    #[prop(into)]
    confirm: String,
    /// The kind of action, as a class on both buttons (`rollback`, `danger`).
    #[prop(into)]
    kind: String,
    /// The question: what exactly will happen.
    children: Children,
) -> impl IntoView {
    view! {
        <details class=format!("confirm {kind}")>
            <summary class=format!("button {kind}")>{label}</summary>
            <div class="confirm-box" role="alertdialog">
                <p class="question">{children()}</p>
                <button type="submit" class=format!("confirm {kind}")>{confirm}</button>
            </div>
        </details>
    }
}
