//! Engine records → wire types.

use chrono::{DateTime, Utc};
use engine::backends::dnf::inventory::{HostVersion, VersionStatus};
use engine::backends::BackendConfig;
use engine::domain::{AuditEntry, Build, EnvVar, Environment, Job, JobEvent, JobHost, Release};

use crate::model::*;

mod changes;
mod freeze;
pub use changes::release_changes;
pub use freeze::{freeze_request, freeze_state, freeze_window};

pub fn when(ts: DateTime<Utc>) -> String {
    ts.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A wall-clock `YYYY-MM-DDTHH:MM` as a browser's `datetime-local` input
/// sends it, `offset_minutes` east of UTC (none: UTC).
pub fn browser_time(
    raw: &str,
    offset_minutes: Option<&str>,
) -> Result<DateTime<Utc>, crate::error::AppError> {
    use crate::error::AppError;
    let raw = raw.trim();
    let wall = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(raw, format).ok())
        .ok_or_else(|| AppError::invalid("at: a date and time such as 2026-12-24T18:00"))?;
    let offset: i32 = match offset_minutes {
        Some(raw) => crate::functions::context::number("utc_offset_minutes", raw)?,
        None => 0,
    };
    let zone = chrono::FixedOffset::east_opt(offset.saturating_mul(60))
        .ok_or_else(|| AppError::invalid("utc_offset_minutes: out of range"))?;
    wall.and_local_timezone(zone)
        .single()
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(|| AppError::invalid("at: not a time that exists"))
}

pub fn release(r: &Release) -> ReleaseInfo {
    ReleaseInfo {
        id: r.id,
        release_key: r.release_key.clone(),
        build_id: r.build_id,
        commit_sha: r.commit_sha.clone(),
        branch: r.branch.clone(),
        message: r.build_message.clone(),
        kind: r.kind.as_str().to_owned(),
        state: format!("{:?}", r.state).to_lowercase(),
        released_by: r.released_by.clone(),
        released_at: r.released_at.map(when),
        created_at: when(r.created_at),
        job_id: r.job_id,
        job_state: r.job_state.as_str().to_owned(),
        approved_by: r.approved_by.clone(),
    }
}

pub fn request_view(view: &engine::RequestView) -> RequestInfo {
    RequestInfo {
        answers: view
            .approvals
            .iter()
            .map(|a| AnswerInfo {
                approver: a.approver.clone(),
                decision: a.decision.clone(),
                comment: a.comment.clone(),
                at: when(a.created_at),
            })
            .collect(),
        may_answer: view.may_answer,
        why_not: view.why_not.clone(),
        ..request(&view.request)
    }
}

pub fn request(r: &engine::domain::DeployRequest) -> RequestInfo {
    let (app, env) = r
        .environment
        .split_once('/')
        .unwrap_or((&r.environment, ""));
    RequestInfo {
        id: r.id,
        app: app.to_owned(),
        env: env.to_owned(),
        kind: r.kind.as_str().to_owned(),
        build_id: r.build_id,
        commit_sha: r.commit_sha.clone(),
        branch: r.branch.clone(),
        requested_by: r.requested_by.clone(),
        state: r.state.as_str().to_owned(),
        not_before: r.not_before.map(when),
        note: r.note.clone(),
        job_id: r.job_id,
        created_at: when(r.created_at),
        expires_at: r.expires_at.map(when),
        answers: Vec::new(),
        may_answer: false,
        why_not: None,
    }
}

pub fn deployed(deployment: engine::domain::Deployment) -> Deployed {
    match deployment {
        engine::domain::Deployment::Started(job) => Deployed::Job(job.id),
        engine::domain::Deployment::Waiting(waiting) => {
            Deployed::Waiting(Box::new(request(&waiting)))
        }
    }
}

pub fn job(j: &Job) -> JobSummary {
    JobSummary {
        id: j.id,
        kind: j.kind.as_str().to_owned(),
        state: j.state.as_str().to_owned(),
        requested_by: j.requested_by.clone(),
        created_at: when(j.created_at),
        error: j.error.clone(),
    }
}

pub fn build(b: &Build) -> BuildInfo {
    BuildInfo {
        id: b.id,
        commit_sha: b.commit_sha.clone(),
        branch: b.branch.clone(),
        message: b.message.clone(),
        author: b.author.clone(),
        artifact: engine::domain::artifact::shown(&b.artifact),
        registered_by: b.registered_by.clone(),
        created_at: when(b.created_at),
    }
}

pub fn env_summary(
    env: &Environment,
    live: Option<&Release>,
    last_job: Option<&Job>,
    freeze: FreezeState,
    pending: Option<&engine::domain::DeployRequest>,
) -> EnvSummary {
    EnvSummary {
        app: env.application.clone(),
        name: env.name.clone(),
        backend: env.config.backend_name().to_owned(),
        kind: match env.kind {
            engine::domain::EnvironmentKind::Permanent => "permanent",
            engine::domain::EnvironmentKind::Qa => "qa",
        }
        .to_owned(),
        expires_at: env.expires_at.map(when),
        url: match &env.config {
            BackendConfig::Docker(c) => Some(engine::backends::docker::public_url(c)),
            _ => None,
        },
        protected: env.protected,
        lock: env.lock.as_ref().map(|l| LockInfo {
            reason: l.reason.clone(),
            locked_by: l.locked_by.clone(),
            since: when(l.since),
        }),
        freeze,
        pending: pending.map(|r| (r.id, r.note.clone().unwrap_or_default())),
        live: live.map(release),
        last_job: last_job.map(job),
    }
}

pub fn host_version(h: &HostVersion) -> HostVersionInfo {
    HostVersionInfo {
        host: h.host.clone(),
        installed: h.installed.clone(),
        status: h.status.as_str().to_owned(),
        drift: h.status == VersionStatus::Drift,
        error: h.error.clone(),
    }
}

pub fn var(v: &EnvVar) -> VarInfo {
    VarInfo {
        name: v.name.clone(),
        value: v.value.clone(),
        secret: v.secret,
    }
}

pub fn host(h: &JobHost) -> HostInfo {
    HostInfo {
        host: h.host.clone(),
        phase: h.phase.clone(),
        step: h.step.clone(),
        done: h.steps_done,
        total: h.steps_total,
        state: h.state.as_str().to_owned(),
        error: h.error.clone(),
    }
}

pub fn event(e: &JobEvent) -> EventLine {
    EventLine {
        seq: e.seq,
        ts: e.ts.format("%H:%M:%S%.3f").to_string(),
        host: e.host.clone(),
        level: e.level.as_str().to_owned(),
        text: e.text.clone(),
    }
}

pub fn audit(a: &AuditEntry) -> AuditRow {
    AuditRow {
        seq: a.seq,
        ts: when(a.ts),
        actor: a.actor.clone(),
        action: a.action.clone(),
        target: a.target.clone(),
        environment: a.environment.clone(),
        details: detail_fields(&a.details),
    }
}

/// An audit row's details (a JSON object) as field/value pairs to read;
/// anything else as one unnamed field.
fn detail_fields(details: &str) -> Vec<(String, String)> {
    match serde_json::from_str::<serde_json::Value>(details) {
        Ok(serde_json::Value::Object(fields)) => {
            let mut out = Vec::new();
            for (name, value) in fields {
                flatten_into(&mut out, name, value);
            }
            out
        }
        _ if details.trim().is_empty() => Vec::new(),
        _ => vec![(String::new(), details.to_owned())],
    }
}

/// One `name: value` line per leaf: a nested object's fields as
/// `outer.inner`, a list of plain values joined with commas (a list of
/// anything else stays JSON), a null as nothing.
fn flatten_into(out: &mut Vec<(String, String)>, name: String, value: serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(fields) => {
            for (inner, value) in fields {
                flatten_into(out, format!("{name}.{inner}"), value);
            }
        }
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            let items: Vec<String> = items.into_iter().map(plain_text).collect();
            out.push((name, items.join(", ")));
        }
        other => out.push((name, plain_text(other))),
    }
}

fn plain_text(value: serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::detail_fields;

    #[test]
    fn audit_details_read_as_fields() {
        assert_eq!(
            detail_fields(r#"{"job":7,"build":"abc","hosts":["a","b"]}"#),
            vec![
                ("build".to_owned(), "abc".to_owned()),
                ("hosts".to_owned(), "a, b".to_owned()),
                ("job".to_owned(), "7".to_owned()),
            ]
        );
        // An environment's settings: nested fields by their path.
        assert_eq!(
            detail_fields(
                r#"{"config":{"backend":"ssh","keep":5,"hooks":{"after":null}},"steps":[{"a":1}]}"#
            ),
            vec![
                ("config.backend".to_owned(), "ssh".to_owned()),
                ("config.hooks.after".to_owned(), String::new()),
                ("config.keep".to_owned(), "5".to_owned()),
                ("steps".to_owned(), r#"[{"a":1}]"#.to_owned()),
            ]
        );
        assert_eq!(detail_fields("{}"), Vec::new());
        assert_eq!(detail_fields(""), Vec::new());
        assert_eq!(
            detail_fields("not json"),
            vec![(String::new(), "not json".to_owned())]
        );
    }
}
