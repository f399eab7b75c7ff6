//! Notifications: which events an outgoing webhook may be sent for, where
//! to (an http(s) URL, shown only as scheme and host: a Slack webhook's
//! path is its credential), in which format, and the bodies themselves.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::InvalidInput;

/// What a target can be told about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    /// A deploy or rollback was asked for (a job queued, or a request
    /// waiting for a running job or its time).
    Requested,
    AwaitingApproval,
    Approved,
    Started,
    Succeeded,
    Failed,
    RolledBack,
    Interrupted,
    FreezeStarted,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 9] = [
        NotifyEvent::Requested,
        NotifyEvent::AwaitingApproval,
        NotifyEvent::Approved,
        NotifyEvent::Started,
        NotifyEvent::Succeeded,
        NotifyEvent::Failed,
        NotifyEvent::RolledBack,
        NotifyEvent::Interrupted,
        NotifyEvent::FreezeStarted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Requested => "requested",
            NotifyEvent::AwaitingApproval => "awaiting_approval",
            NotifyEvent::Approved => "approved",
            NotifyEvent::Started => "started",
            NotifyEvent::Succeeded => "succeeded",
            NotifyEvent::Failed => "failed",
            NotifyEvent::RolledBack => "rolled_back",
            NotifyEvent::Interrupted => "interrupted",
            NotifyEvent::FreezeStarted => "freeze_started",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == raw)
    }

    /// The event an audited action is, if any: what a target hears of is
    /// exactly what the audit log records (plus a job's start and a freeze
    /// starting, which no one does).
    pub fn of_audit(action: &str, details: &serde_json::Value) -> Option<Self> {
        use crate::audit::actions;
        let kind = details.get("kind").and_then(|k| k.as_str());
        match action {
            actions::DEPLOY_REQUESTED | actions::ROLLBACK_REQUESTED => Some(NotifyEvent::Requested),
            actions::REQUEST_QUEUED => Some(
                if details.get("state").and_then(|s| s.as_str()) == Some("awaiting_approval") {
                    NotifyEvent::AwaitingApproval
                } else {
                    NotifyEvent::Requested
                },
            ),
            actions::REQUEST_APPROVED => Some(NotifyEvent::Approved),
            actions::JOB_SUCCEEDED if kind == Some("rollback") => Some(NotifyEvent::RolledBack),
            actions::JOB_SUCCEEDED if matches!(kind, Some("deploy")) => {
                Some(NotifyEvent::Succeeded)
            }
            actions::JOB_FAILED if matches!(kind, Some("deploy" | "rollback")) => {
                Some(NotifyEvent::Failed)
            }
            actions::JOB_INTERRUPTED if matches!(kind, Some("deploy" | "rollback")) => {
                Some(NotifyEvent::Interrupted)
            }
            _ => None,
        }
    }

    /// How a message starts for it.
    fn headline(self) -> &'static str {
        match self {
            NotifyEvent::Requested => "Deploy requested",
            NotifyEvent::AwaitingApproval => "Awaiting approval",
            NotifyEvent::Approved => "Approved",
            NotifyEvent::Started => "Deploy started",
            NotifyEvent::Succeeded => "Deploy succeeded",
            NotifyEvent::Failed => "Deploy failed",
            NotifyEvent::RolledBack => "Rolled back",
            NotifyEvent::Interrupted => "Deploy interrupted",
            NotifyEvent::FreezeStarted => "Freeze started",
        }
    }
}

/// The events a target is sent, from a form or the API: names separated by
/// spaces or commas; at least one.
pub fn parse_events(raw: &str) -> Result<Vec<NotifyEvent>, InvalidInput> {
    let mut events = Vec::new();
    for name in raw
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let event = NotifyEvent::parse(name).ok_or_else(|| {
            let known: Vec<_> = NotifyEvent::ALL.iter().map(|e| e.as_str()).collect();
            InvalidInput::new(
                "events",
                format!(
                    "no event {:?}: choose from {}",
                    name.chars().take(40).collect::<String>(),
                    known.join(", ")
                ),
            )
        })?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    if events.is_empty() {
        return Err(InvalidInput::new("events", "choose at least one event"));
    }
    Ok(events)
}

/// How a body is written.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(rename_all = "snake_case", type_name = "text")]
pub enum NotifyFormat {
    /// `text` + `blocks`, as Slack's incoming webhooks take.
    Slack,
    /// Slipway's own JSON, signed with HMAC-SHA256 over
    /// `<timestamp>.<body>` under the target's secret.
    Generic,
}

impl NotifyFormat {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        match raw.trim() {
            "slack" => Ok(NotifyFormat::Slack),
            "generic" => Ok(NotifyFormat::Generic),
            _ => Err(InvalidInput::new("format", "slack or generic")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyFormat::Slack => "slack",
            NotifyFormat::Generic => "generic",
        }
    }
}

/// Where a target's webhooks go: an http(s) URL with a host and no
/// credentials in it. Shown and logged only as scheme, host and port.
#[derive(Clone, PartialEq, Eq)]
pub struct TargetUrl(url::Url);

impl TargetUrl {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let bad = |why: &str| InvalidInput::new("url", why);
        let raw = raw.trim();
        if raw.len() > 2000 || raw.chars().any(char::is_control) {
            return Err(bad("a URL of at most 2000 characters"));
        }
        let url = url::Url::parse(raw).map_err(|_| bad("not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("an http:// or https:// URL"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("the URL names no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "no user or password in the URL: a generic target is signed with its secret",
            ));
        }
        Ok(TargetUrl(url))
    }

    /// The whole URL, to send to. Never log it.
    pub fn reveal(&self) -> &str {
        self.0.as_str()
    }

    /// What may be shown: scheme, host and port, the rest elided.
    pub fn shown(&self) -> String {
        let port = self.0.port().map(|p| format!(":{p}")).unwrap_or_default();
        format!(
            "{}://{}{port}/…",
            self.0.scheme(),
            self.0.host_str().unwrap_or("")
        )
    }
}

impl fmt::Debug for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TargetUrl({})", self.shown())
    }
}

/// What one notification says, before it is written in a format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub event: NotifyEvent,
    /// `app/env`.
    pub environment: String,
    pub actor: String,
    /// One line for people.
    pub summary: String,
    pub job_id: Option<i64>,
    pub request_id: Option<i64>,
    pub build_id: Option<i64>,
    pub commit_sha: Option<String>,
    /// A page about it, when Slipway knows its own address.
    pub link: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl Notice {
    /// The body sent to a target.
    pub fn body(&self, format: NotifyFormat) -> serde_json::Value {
        match format {
            NotifyFormat::Generic => serde_json::json!({
                "event": self.event.as_str(),
                "environment": self.environment,
                "actor": self.actor,
                "summary": self.summary,
                "job_id": self.job_id,
                "request_id": self.request_id,
                "build_id": self.build_id,
                "commit_sha": self.commit_sha,
                "link": self.link,
                "at": crate::time::to_rfc3339(self.at),
            }),
            NotifyFormat::Slack => {
                // `text` is read as mrkdwn too: escaped, so a summary cannot
                // ping a channel (`<!channel>`) or forge a link.
                let text = slack_escape(&format!(
                    "{}: {} — {}",
                    self.event.headline(),
                    self.environment,
                    self.summary
                ));
                let mut section = format!(
                    "*{}* · `{}`\n{}",
                    slack_escape(self.event.headline()),
                    slack_escape(&self.environment),
                    slack_escape(&self.summary)
                );
                if let Some(link) = &self.link {
                    section.push_str(&format!("\n<{}|Open in Slipway>", slack_escape(link)));
                }
                serde_json::json!({
                    "text": text,
                    "blocks": [
                        { "type": "section", "text": { "type": "mrkdwn", "text": section } },
                        { "type": "context", "elements": [
                            { "type": "mrkdwn", "text": format!("by {}", slack_escape(&self.actor)) }
                        ] }
                    ],
                })
            }
        }
    }
}

/// Slack's three control characters in mrkdwn text, escaped as it asks.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The one line a notice says for an audited action.
pub fn summary_of(event: NotifyEvent, actor: &str, details: &serde_json::Value) -> String {
    let text = |key: &str| details.get(key).and_then(|v| v.as_str()).unwrap_or("");
    let number = |key: &str| details.get(key).and_then(serde_json::Value::as_i64);
    let build = number("build_id")
        .map(|id| format!("build #{id}"))
        .unwrap_or_else(|| "a build".to_owned());
    match event {
        NotifyEvent::Requested => format!("{actor} asked for {build}"),
        NotifyEvent::AwaitingApproval => {
            format!("{actor} asks to deploy {build}; it needs approval")
        }
        NotifyEvent::Approved => format!("{actor} approved it"),
        NotifyEvent::Started => format!("{build} is going out"),
        NotifyEvent::Succeeded => format!("{build} is live (asked by {})", text("requested_by")),
        NotifyEvent::RolledBack => {
            format!("rolled back to {build} (asked by {})", text("requested_by"))
        }
        NotifyEvent::Failed => format!("{build} failed: {}", text("error")),
        NotifyEvent::Interrupted => format!("the job for {build} was interrupted"),
        NotifyEvent::FreezeStarted => format!("deploys are frozen: {}", text("name")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_from_a_list_and_refuse_unknown_names() {
        assert_eq!(
            parse_events("failed, succeeded  failed").ok(),
            Some(vec![NotifyEvent::Failed, NotifyEvent::Succeeded])
        );
        assert!(parse_events("").is_err());
        assert!(parse_events("failed; rm -rf /").is_err());
    }

    #[test]
    fn urls_are_http_with_no_credentials_and_shown_without_their_path() {
        let url = TargetUrl::parse("https://hooks.slack.com/services/T0/B0/SECRETPATH")
            .expect("a Slack URL");
        assert_eq!(url.shown(), "https://hooks.slack.com/…");
        assert!(!format!("{url:?}").contains("SECRETPATH"));
        assert_eq!(
            TargetUrl::parse("http://127.0.0.1:8081/hook")
                .map(|u| u.shown())
                .ok(),
            Some("http://127.0.0.1:8081/…".to_owned())
        );
        for bad in [
            "ftp://x/y",
            "file:///etc/passwd",
            "https://user:pw@x/y",
            "not a url",
            "https://",
        ] {
            assert!(TargetUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn audited_actions_map_to_events() {
        use crate::audit::actions;
        let deploy = serde_json::json!({"kind": "deploy"});
        let rollback = serde_json::json!({"kind": "rollback"});
        assert_eq!(
            NotifyEvent::of_audit(actions::JOB_SUCCEEDED, &deploy),
            Some(NotifyEvent::Succeeded)
        );
        assert_eq!(
            NotifyEvent::of_audit(actions::JOB_SUCCEEDED, &rollback),
            Some(NotifyEvent::RolledBack)
        );
        assert_eq!(
            NotifyEvent::of_audit(
                actions::JOB_SUCCEEDED,
                &serde_json::json!({"kind": "create"})
            ),
            None
        );
        assert_eq!(
            NotifyEvent::of_audit(
                actions::REQUEST_QUEUED,
                &serde_json::json!({"state": "awaiting_approval"})
            ),
            Some(NotifyEvent::AwaitingApproval)
        );
        assert_eq!(NotifyEvent::of_audit(actions::LOGIN, &deploy), None);
    }

    #[test]
    fn slack_bodies_escape_what_slack_would_read_as_markup() {
        let notice = Notice {
            event: NotifyEvent::Failed,
            environment: "shop/production".into(),
            actor: "<@U123>".into(),
            summary: "build #2 failed: <script>&".into(),
            job_id: Some(2),
            request_id: None,
            build_id: Some(2),
            commit_sha: None,
            link: None,
            at: chrono::DateTime::UNIX_EPOCH,
        };
        let body = notice.body(NotifyFormat::Slack).to_string();
        assert!(body.contains("&lt;script&gt;&amp;"), "{body}");
        assert!(body.contains("\"text\""));
        assert!(
            !body.contains("<@U123>") && !body.contains("<script>"),
            "{body}"
        );
    }
}
