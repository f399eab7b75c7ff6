//! "Something happened here since this page loaded": pages that show an
//! environment (or all of them) ask every few seconds for the newest audit
//! row about it, and refresh when there is a newer one than they showed —
//! read-only pages (the overview) by themselves, pages with forms (an
//! environment's) only when the reader presses Refresh: a page rebuilt
//! under someone choosing a build to deploy would be worse than one a
//! click behind.

use std::time::Duration;

use leptos::prelude::*;

use crate::functions::audit::latest_activity;

const POLL_EVERY: Duration = Duration::from_secs(3);

/// A notice with a Refresh button, shown once something was recorded about
/// `environment` (`app/env`; `None`: any environment) after what the page
/// shows: `shown`, the newest audit row its data was read after (`None`:
/// the first answer here). `refresh` is bumped when it is pressed.
#[component]
pub fn ChangedNotice(
    environment: Option<String>,
    #[prop(into)] shown: Signal<Option<i64>>,
    refresh: RwSignal<usize>,
    /// Refresh at once instead of offering to.
    #[prop(optional)]
    auto: bool,
) -> impl IntoView {
    // What the page showed when it does not say, and the newest there is.
    let seen = RwSignal::new(None::<i64>);
    let newest = RwSignal::new(None::<i64>);
    let tick = RwSignal::new(0_u64);
    // Effects run only in the browser, where the interval can be set.
    Effect::new(move |_| {
        let handle = set_interval_with_handle(move || tick.update(|t| *t += 1), POLL_EVERY);
        on_cleanup(move || {
            if let Ok(handle) = handle {
                handle.clear();
            }
        });
    });
    // In the browser only: the server renders no notice.
    let poll = LocalResource::new(move || {
        tick.track();
        latest_activity(environment.clone())
    });
    Effect::new(move |_| {
        if let Some(Ok(seq)) = poll.get() {
            newest.set(Some(seq));
            if seen.get_untracked().is_none() {
                seen.set(Some(seq));
            }
        }
    });
    let changed = move || {
        let showing = shown.get().or_else(|| seen.get());
        matches!((showing, newest.get()), (Some(a), Some(b)) if b > a)
    };
    let press = move || {
        seen.set(newest.get_untracked());
        refresh.update(|r| *r += 1);
    };
    Effect::new(move |_| {
        if auto && changed() {
            press();
        }
    });
    view! {
        <Show when=move || !auto && changed()>
            <p class="notice changed">
                "Something happened here since this page loaded (a job, a lock, a setting). "
                <button
                    type="button"
                    id="refresh-page"
                    on:click=move |_| press()
                >
                    "Refresh"
                </button>
            </p>
        </Show>
    }
}
