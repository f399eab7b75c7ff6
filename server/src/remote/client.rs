//! The HTTP side of `slipway remote`: the API calls it makes, and what a
//! refusal or a network failure reads as.

use std::time::Duration;

use futures::StreamExt;
use reqwest::{header, Method, StatusCode};
use serde_json::Value;
use url::Url;

use super::events::{log_event, LogEvent, SseParser};

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{0}")]
    Usage(String),
    #[error("SLIPWAY_URL {0:?} is not an http(s) URL")]
    BadUrl(String),
    #[error("could not reach Slipway: {0}")]
    Unreachable(#[source] reqwest::Error),
    #[error("Slipway refused ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("unexpected answer from Slipway: {0}")]
    Protocol(String),
}

/// How often in a row a dropped event stream is resumed, without an event
/// in between, before giving up.
const RECONNECTS: u32 = 20;

pub struct Client {
    base: Url,
    token: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(url: &str, token: &str) -> Result<Self, RemoteError> {
        let base = Url::parse(url.trim_end_matches('/'))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| RemoteError::BadUrl(url.to_owned()))?;
        if token.trim().is_empty() {
            return Err(RemoteError::Usage(
                "set SLIPWAY_TOKEN (or --token) to an API token".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(RemoteError::Unreachable)?;
        Ok(Self {
            base,
            token: token.trim().to_owned(),
            http,
        })
    }

    /// `<base>/<segments…>`, each segment escaped.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<Value>,
    ) -> Result<Value, RemoteError> {
        let mut request = self
            .http
            .request(method, self.url(segments))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(60));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(RemoteError::Unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(RemoteError::Unreachable)?;
        if !status.is_success() {
            return Err(refusal(status, &text));
        }
        serde_json::from_str(&text).map_err(|e| RemoteError::Protocol(e.to_string()))
    }

    /// Asks for a deploy or rollback: the job that starts now, or the
    /// request that waits (for approvals, its time or a running job).
    pub async fn start_job(
        &self,
        app: &str,
        env: &str,
        kind: &str,
        body: Value,
    ) -> Result<Started, RemoteError> {
        let answer = self
            .call(
                Method::POST,
                &["api", "apps", app, "envs", env, kind],
                Some(body),
            )
            .await?;
        if let Some(id) = answer["request"]["id"].as_i64() {
            return Ok(Started::Request(id));
        }
        answer["id"]
            .as_i64()
            .map(Started::Job)
            .ok_or_else(|| RemoteError::Protocol(format!("no job or request id in {answer}")))
    }

    /// A deploy request as `GET /api/requests/{id}` answers it.
    pub async fn request(&self, id: i64) -> Result<Value, RemoteError> {
        self.call(Method::GET, &["api", "requests", &id.to_string()], None)
            .await
    }

    /// Approves (or rejects) a request awaiting approval; the request after.
    pub async fn answer(
        &self,
        id: i64,
        approve: bool,
        comment: &str,
    ) -> Result<Value, RemoteError> {
        let verb = if approve { "approve" } else { "reject" };
        self.call(
            Method::POST,
            &["api", "requests", &id.to_string(), verb],
            Some(serde_json::json!({ "comment": comment })),
        )
        .await
    }

    /// The job's state and, when it failed, why.
    pub async fn job_state(&self, job: i64) -> Result<(String, Option<String>), RemoteError> {
        let view = self
            .call(Method::GET, &["api", "jobs", &job.to_string()], None)
            .await?;
        let state = view["job"]["state"]
            .as_str()
            .ok_or_else(|| RemoteError::Protocol(format!("no job state in {view}")))?;
        Ok((
            state.to_owned(),
            view["job"]["error"].as_str().map(str::to_owned),
        ))
    }

    pub async fn applications(&self) -> Result<Value, RemoteError> {
        self.call(Method::GET, &["api", "apps"], None).await
    }

    /// Hands each log line of the job to `print` until the job ends,
    /// resuming after the last event seen when the stream drops.
    pub async fn stream_log(
        &self,
        job: i64,
        mut print: impl FnMut(&str),
    ) -> Result<(), RemoteError> {
        let url = self.url(&["events", "jobs", &job.to_string()]);
        let mut last_seen: Option<i64> = None;
        let mut attempts = 0;
        loop {
            let mut request = self
                .http
                .get(url.clone())
                .bearer_auth(&self.token)
                .header(header::ACCEPT, "text/event-stream");
            if let Some(seq) = last_seen {
                request = request.header("last-event-id", seq.to_string());
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    let mut parser = SseParser::default();
                    let mut body = response.bytes_stream();
                    while let Some(chunk) = body.next().await {
                        let Ok(chunk) = chunk else { break };
                        for event in parser.push(&chunk) {
                            // A stream that delivered is not a failed attempt
                            // (proxies end long streams; a long job may see many).
                            attempts = 0;
                            last_seen = event.id.or(last_seen);
                            match log_event(&event.data) {
                                Some(LogEvent::Line(line)) => print(&line),
                                Some(LogEvent::End(_)) => return Ok(()),
                                Some(LogEvent::Progress) | None => {}
                            }
                        }
                    }
                }
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    return Err(refusal(status, &text));
                }
                Err(e) if attempts >= RECONNECTS => return Err(RemoteError::Unreachable(e)),
                Err(_) => {}
            }
            attempts += 1;
            if attempts > RECONNECTS {
                return Err(RemoteError::Protocol(
                    "the event stream kept ending before the job did".into(),
                ));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// A refusal's message: the API's `{"error": …}`, or the status alone.
fn refusal(status: StatusCode, text: &str) -> RemoteError {
    let message = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("no reason given")
                .to_owned()
        });
    RemoteError::Refused {
        status: status.as_u16(),
        message,
    }
}

/// What a deploy or rollback became.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Started {
    Job(i64),
    /// A request that waits.
    Request(i64),
}
