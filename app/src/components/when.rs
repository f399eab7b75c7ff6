//! Times as people read them: "3 min ago", with the exact time on hover
//! (and in the `datetime` attribute). The layout refreshes the words
//! every half minute in the browser ([`refresh_relative_times`]).

use chrono::{DateTime, NaiveDateTime, Utc};
use leptos::prelude::*;

/// How the server writes times on the wire (see `functions::convert::when`).
const WIRE_FORMAT: &str = "%Y-%m-%d %H:%M:%S UTC";

/// A time as "… ago" (or "in …"), the exact time on hover. A text that is
/// not a time is shown as it is.
#[component]
pub fn When(#[prop(into)] at: String) -> impl IntoView {
    match parse(&at) {
        Some(time) => {
            let iso = time.to_rfc3339();
            let words = relative(time, now());
            view! { <time datetime=iso title=at.clone() data-relative="">{words}</time> }.into_any()
        }
        None => view! { <span>{at}</span> }.into_any(),
    }
}

fn parse(at: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(at, WIRE_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

/// Now, by the clock of whichever side renders.
fn now() -> DateTime<Utc> {
    #[cfg(feature = "hydrate")]
    {
        let millis = web_sys::js_sys::Date::now() as i64;
        DateTime::from_timestamp_millis(millis).unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        Utc::now()
    }
}

/// `time` relative to `now`, in the fewest words that say it.
pub fn relative(time: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - time).num_seconds();
    let (ahead, seconds) = (seconds < 0, seconds.unsigned_abs());
    let amount = match seconds {
        0..=44 => return "just now".to_owned(),
        45..=89 => "1 min".to_owned(),
        90..=3_599 => format!("{} min", (seconds + 30) / 60),
        3_600..=5_399 => "1 hour".to_owned(),
        5_400..=86_399 => format!("{} hours", (seconds + 1_800) / 3_600),
        86_400..=172_799 => "1 day".to_owned(),
        172_800..=2_591_999 => format!("{} days", (seconds + 43_200) / 86_400),
        _ => return time.format("%Y-%m-%d").to_string(),
    };
    if ahead {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// Rewrites every relative time on the page from its `datetime`, by the
/// browser's clock (nothing to do on the server).
pub fn refresh_relative_times() {
    #[cfg(feature = "hydrate")]
    {
        let Some(document) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        let Ok(times) = document.query_selector_all("time[data-relative]") else {
            return;
        };
        let now = now();
        for i in 0..times.length() {
            let Some(node) = times.item(i) else { continue };
            let Ok(element) = wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(node) else {
                continue;
            };
            let Some(at) = element
                .get_attribute("datetime")
                .and_then(|raw| DateTime::parse_from_rfc3339(&raw).ok())
            else {
                continue;
            };
            element.set_text_content(Some(&relative(at.with_timezone(&Utc), now)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn times_read_in_few_words() {
        let now = parse("2026-12-07 12:00:00 UTC").unwrap_or_default();
        let ago = |d: Duration| relative(now - d, now);
        assert_eq!(ago(Duration::seconds(10)), "just now");
        assert_eq!(ago(Duration::seconds(60)), "1 min ago");
        assert_eq!(ago(Duration::minutes(7)), "7 min ago");
        assert_eq!(ago(Duration::minutes(150)), "3 hours ago");
        assert_eq!(ago(Duration::hours(30)), "1 day ago");
        assert_eq!(ago(Duration::days(5)), "5 days ago");
        assert_eq!(ago(Duration::days(40)), "2026-10-28");
        assert_eq!(relative(now + Duration::minutes(10), now), "in 10 min");
        assert!(parse("not a time").is_none());
    }
}
