//! `GET /events/jobs/{id}`: a job's events over server-sent events.
//!
//! Subscribes to the live hub first, then replays from the database after
//! the client's position (`Last-Event-ID`, or `?after=`), then follows the
//! hub. Event ids are sequence numbers, so nothing is lost or repeated. A
//! client that falls behind the bounded hub buffer is disconnected; its
//! EventSource reconnects and replays from the database.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use engine::auth::{Actor, Permission};
use engine::domain::EventLevel;
use engine::domain::JobEvent;
use engine::Engine;
use futures::stream::{self, Stream};
use serde::Deserialize;
use tokio::sync::{broadcast, watch};

use crate::error::ApiError;
use crate::state::AppState;

const REPLAY_PAGE: i64 = 500;
const HEARTBEAT: Duration = Duration::from_secs(15);

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
    let live = state.engine.events().subscribe();
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
    let stream = follow(
        Reader {
            engine: state.engine.clone(),
            actor,
        },
        job_id,
        after,
        live,
        state.shutdown.clone(),
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(HEARTBEAT))
        .into_response())
}

enum Phase {
    Replay,
    Follow,
    Done,
}

/// Who replays: the engine, asked as the watcher.
struct Reader {
    engine: Engine,
    actor: Actor,
}

struct Cursor {
    reader: Reader,
    job_id: i64,
    last: i64,
    live: broadcast::Receiver<JobEvent>,
    shutdown: watch::Receiver<bool>,
    pending: VecDeque<JobEvent>,
    phase: Phase,
}

fn follow(
    reader: Reader,
    job_id: i64,
    after: i64,
    live: broadcast::Receiver<JobEvent>,
    shutdown: watch::Receiver<bool>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let cursor = Cursor {
        reader,
        job_id,
        last: after,
        live,
        shutdown,
        pending: VecDeque::new(),
        phase: Phase::Replay,
    };
    stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(event) = c.pending.pop_front() {
                if event.seq <= c.last {
                    continue;
                }
                c.last = event.seq;
                if event.level == EventLevel::End {
                    c.phase = Phase::Done;
                }
                return Some((Ok(to_sse(&event)), c));
            }
            match c.phase {
                Phase::Done => return None,
                Phase::Replay => match c
                    .reader
                    .engine
                    .job_events_after(&c.reader.actor, c.job_id, c.last, REPLAY_PAGE)
                    .await
                {
                    Ok(page) if page.is_empty() => c.phase = Phase::Follow,
                    Ok(page) => c.pending.extend(page),
                    Err(e) => {
                        tracing::warn!(error = %e, job_id = c.job_id, "event replay failed");
                        return None;
                    }
                },
                Phase::Follow => {
                    tokio::select! {
                        received = c.live.recv() => match received {
                            Ok(event) if event.job_id != c.job_id || event.seq <= c.last => {}
                            // A gap means we missed something between replay and follow: replay again.
                            Ok(event) if event.seq > c.last + 1 => c.phase = Phase::Replay,
                            Ok(event) => c.pending.push_back(event),
                            // Too slow for the bounded buffer: drop; the client reconnects and replays.
                            Err(broadcast::error::RecvError::Lagged(_)) => return None,
                            Err(broadcast::error::RecvError::Closed) => return None,
                        },
                        _ = c.shutdown.changed() => return None,
                    }
                }
            }
        }
    })
}

fn to_sse(event: &JobEvent) -> Event {
    let line = app::functions::convert::event(event);
    let data = serde_json::to_string(&line).unwrap_or_default();
    Event::default()
        .id(event.seq.to_string())
        .data(data)
        .retry(Duration::from_secs(1))
}
