//! Freeze windows on the pages: what is in force or coming, counting down.

use std::time::Duration;

use leptos::prelude::*;

use crate::model::{countdown, FreezeInfo, FreezeState};

/// Time left, from the seconds the server read, ticking down in the
/// browser (the server renders the same first value, so hydration agrees).
#[component]
pub fn Countdown(seconds: i64, title: String) -> impl IntoView {
    let left = RwSignal::new(seconds);
    Effect::new(move |_| {
        let handle = set_interval_with_handle(
            move || left.update(|s| *s = (*s - 1).max(0)),
            Duration::from_secs(1),
        );
        on_cleanup(move || {
            if let Ok(handle) = handle {
                handle.clear();
            }
        });
    });
    view! { <span class="countdown" title=title>{move || countdown(left.get())}</span> }
}

/// The freeze in force (deploys are refused until it ends) or the next
/// one, with its countdown; nothing when neither.
#[component]
pub fn FreezeNotice(freeze: FreezeState) -> impl IntoView {
    match (freeze.active, freeze.upcoming) {
        (Some(active), _) => view! { <ActiveFreezeNotice active /> }.into_any(),
        (None, Some(next)) => {
            let title = format!("from {} to {}", next.starts, next.ends);
            view! {
                <p class="notice freeze-upcoming" data-window=next.window_id>
                    "❄ Freeze \u{201c}"<span class="freeze-name">{next.name.clone()}</span>"\u{201d} starts in "
                    <Countdown seconds=next.seconds_left title />
                    " ("{next.starts.clone()}")."
                </p>
            }
            .into_any()
        }
        (None, None) => ().into_any(),
    }
}

#[component]
fn ActiveFreezeNotice(active: FreezeInfo) -> impl IntoView {
    let title = format!("until {}", active.ends);
    let refused = if active.blocks_rollbacks {
        "deploys and rollbacks are refused"
    } else {
        "deploys are refused, rollbacks go through"
    };
    view! {
        <p class="notice warning freeze-active" data-window=active.window_id>
            "❄ Frozen: \u{201c}"<span class="freeze-name">{active.name.clone()}</span>"\u{201d} — "{refused}
            " for another "<Countdown seconds=active.seconds_left title />" (until "{active.ends.clone()}")."
        </p>
    }
}

/// A short badge for tables: frozen now (with the time left) or the next freeze.
#[component]
pub fn FreezeBadge(freeze: FreezeState) -> impl IntoView {
    match (freeze.active, freeze.upcoming) {
        (Some(active), _) => {
            let title = format!("{}: until {}", active.name, active.ends);
            view! {
                <span class="badge frozen" title=title.clone()>
                    "❄ frozen, "<Countdown seconds=active.seconds_left title=title.clone() />" left"
                </span>
            }
            .into_any()
        }
        (None, Some(next)) => {
            let title = format!("{}: from {}", next.name, next.starts);
            view! {
                <span class="badge freeze-upcoming" title=title.clone()>
                    "❄ freeze in "<Countdown seconds=next.seconds_left title=title.clone() />
                </span>
            }
            .into_any()
        }
        (None, None) => ().into_any(),
    }
}
