//! `GET /events/jobs/{id}`: a job's events over server-sent events.
//!
//! Replays the job's stored events after the client's position
//! (`Last-Event-ID`, or `?after=`), then follows the live ones (the
//! engine's `JobWatch`). Event ids are sequence numbers, so nothing is lost
//! or repeated. Cheap per watcher: each event's frame is encoded once and
//! shared by every watcher, replays share one read of the database per
//! job, and a watcher holds no database connection while it waits.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use engine::auth::{Actor, Permission};
use engine::domain::EventLevel;
use engine::domain::JobEvent;
use engine::runtime::JobWatch;
use futures::stream::{self, Stream};
use serde::Deserialize;
use tokio::sync::watch;

use crate::error::ApiError;
use crate::state::AppState;

const HEARTBEAT: Duration = Duration::from_secs(15);

/// Event streams open in this process, and the most open since memory was
/// last given back.
static OPEN_STREAMS: AtomicUsize = AtomicUsize::new(0);
static OPEN_STREAMS_PEAK: AtomicUsize = AtomicUsize::new(0);

/// A burst of streams this large that has (at least) halved gives its
/// memory back to the system.
const BURST: usize = 64;

/// Counts one open event stream while it lives.
struct OpenStream;

impl OpenStream {
    fn open() -> Self {
        let open = OPEN_STREAMS.fetch_add(1, Ordering::AcqRel) + 1;
        OPEN_STREAMS_PEAK.fetch_max(open, Ordering::AcqRel);
        Self
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        let open = OPEN_STREAMS.fetch_sub(1, Ordering::AcqRel) - 1;
        let peak = OPEN_STREAMS_PEAK.load(Ordering::Acquire);
        if peak >= BURST
            && open * 2 <= peak
            && OPEN_STREAMS_PEAK
                .compare_exchange(peak, open, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            crate::memory::release_freed_soon();
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct After {
    /// Replay events after this sequence number (as `Last-Event-ID` does).
    after: Option<i64>,
}

/// `GET /events/jobs/{id}`: the job's events as server-sent events.
#[utoipa::path(
    get, path = "/events/jobs/{id}", tag = "jobs",
    params(
        ("id" = i64, Path),
        After,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event"),
    ),
    responses(
        (status = 200, description = "text/event-stream: one event per job event (id = its sequence number), ending with an `end` event", content_type = "text/event-stream", body = String),
        (status = 404, description = "No such job", body = super::api::ErrorBody),
    ),
    security(("bearer" = ["read"]))
)]
pub async fn job_events(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(job_id): Path<i64>,
    Query(query): Query<After>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    actor.require(Permission::Read)?;
    let job = state.engine.job(&actor, job_id).await?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .or(query.after)
        .unwrap_or(0)
        .max(0);
    // A finished job's `end` event is stored with its final state: once the
    // client has it, nothing more will come, and 204 stops EventSource from
    // reconnecting.
    if job.state.is_finished() {
        let last = state.engine.last_job_event(&actor, job_id).await?;
        if last.is_some_and(|e| e.level == EventLevel::End && after >= e.seq) {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
    }
    let watch = state.engine.watch_job(&actor, job_id, after)?;
    let body = Body::from_stream(frames(watch, state.shutdown.clone()));
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            // A proxy in front (nginx) must pass each event on at once.
            (HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        body,
    )
        .into_response())
}

/// The event stream's bytes: a comment at once and every
/// [`HEARTBEAT`] (so proxies keep the connection), and each event's frame.
fn frames(
    watch: JobWatch,
    shutdown: watch::Receiver<bool>,
) -> impl Stream<Item = Result<Bytes, Infallible>> {
    let heartbeat = tokio::time::interval(HEARTBEAT);
    stream::unfold(
        (watch, shutdown, heartbeat, OpenStream::open()),
        |(mut watch, mut shutdown, mut heartbeat, open)| async move {
            let frame = tokio::select! {
                next = watch.next() => match next {
                    Some(Ok(event)) => event.encoded(frame),
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "event replay failed");
                        return None;
                    }
                    None => return None,
                },
                _ = heartbeat.tick() => Bytes::from_static(b":\n\n"),
                _ = shutdown.changed() => return None,
            };
            Some((Ok(frame), (watch, shutdown, heartbeat, open)))
        },
    )
}

/// One event as the browser's `EventSource` reads it: its sequence number
/// as the id, its line as JSON, and a one-second reconnect delay.
fn frame(event: &JobEvent) -> Bytes {
    let line = app::functions::convert::event(event);
    let data = serde_json::to_string(&line).unwrap_or_default();
    Bytes::from(format!("id: {}\nretry: 1000\ndata: {data}\n\n", event.seq))
}
