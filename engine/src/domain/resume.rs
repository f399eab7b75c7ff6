//! When an interrupted job may be resumed: finished by a new job that makes
//! the same release live (the same build under the same release key, or the
//! same rollback target), keeping what the interrupted job did already.

use super::{Job, JobKind, JobState};

/// Why an interrupted job cannot be resumed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResumeRefusal {
    #[error("job #{id} is {state}: only an interrupted job can be resumed")]
    NotInterrupted { id: i64, state: &'static str },
    #[error("job #{id} is a {kind}: only a deploy or a rollback can be resumed")]
    NotARelease { id: i64, kind: &'static str },
    #[error("job #{id} was abandoned by {by}")]
    Abandoned { id: i64, by: String },
    #[error("job #{id} was resumed already, by job #{by}")]
    Resumed { id: i64, by: i64 },
    /// Finishing it would undo whatever the later job did.
    #[error("job #{later} ran on the environment after job #{id}: deploy or roll back from the environment page instead")]
    LaterJob { id: i64, later: i64 },
    /// It would not be the release the job was asked (and approved) for.
    #[error("the environment's settings or variables changed since job #{id} was queued: deploy again from the environment page instead")]
    SettingsChanged { id: i64 },
}

/// What the store knows about `job`'s environment now.
#[derive(Clone, Copy, Debug)]
pub struct ResumeContext {
    /// The newest job on the environment after `job`, if any.
    pub later_job: Option<i64>,
    /// Whether the environment's settings and variables are still those
    /// `job` was queued with.
    pub same_settings: bool,
}

/// Whether `job` may be resumed. Only an interrupted deploy or rollback
/// nobody has let go of or resumed yet, still the environment's latest job,
/// whose settings have not changed since: then releasing it again finishes
/// what it began, from where it stopped. Each backend picks up what is
/// there: a release directory still staged is used and one missing staged,
/// a host already switched stays switched; the installed version stays
/// installed; a container that already runs the build is kept.
pub fn resume_refusal(job: &Job, context: ResumeContext) -> Option<ResumeRefusal> {
    let id = job.id;
    if job.state != JobState::Interrupted {
        return Some(ResumeRefusal::NotInterrupted {
            id,
            state: job.state.as_str(),
        });
    }
    if !matches!(job.kind, JobKind::Deploy | JobKind::Rollback) {
        return Some(ResumeRefusal::NotARelease {
            id,
            kind: job.kind.as_str(),
        });
    }
    if let Some(by) = &job.abandoned_by {
        return Some(ResumeRefusal::Abandoned { id, by: by.clone() });
    }
    if let Some(by) = job.resumed_by_job_id {
        return Some(ResumeRefusal::Resumed { id, by });
    }
    if let Some(later) = context.later_job {
        return Some(ResumeRefusal::LaterJob { id, later });
    }
    if !context.same_settings {
        return Some(ResumeRefusal::SettingsChanged { id });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn interrupted(kind: JobKind) -> Job {
        Job {
            id: 7,
            kind,
            environment_id: 1,
            build_id: 3,
            release_id: Some(9),
            rollback_of: None,
            requested_by: "ada".into(),
            state: JobState::Interrupted,
            error: Some("the server stopped".into()),
            cancel_requested: false,
            cancel_requested_by: None,
            created_at: Utc::now(),
            started_at: Some(Utc::now()),
            finished_at: Some(Utc::now()),
            abandoned_by: None,
            abandoned_at: None,
            abandon_reason: None,
            resumes_job_id: None,
            resumed_by_job_id: None,
        }
    }

    const SAFE: ResumeContext = ResumeContext {
        later_job: None,
        same_settings: true,
    };

    #[test]
    fn an_interrupted_deploy_or_rollback_alone_on_its_environment_resumes() {
        assert_eq!(resume_refusal(&interrupted(JobKind::Deploy), SAFE), None);
        assert_eq!(resume_refusal(&interrupted(JobKind::Rollback), SAFE), None);
    }

    #[test]
    fn each_unsafe_case_is_named() {
        let mut failed = interrupted(JobKind::Deploy);
        failed.state = JobState::Failed;
        assert_eq!(
            resume_refusal(&failed, SAFE)
                .map(|r| r.to_string())
                .as_deref(),
            Some("job #7 is failed: only an interrupted job can be resumed")
        );
        assert!(matches!(
            resume_refusal(&interrupted(JobKind::Destroy), SAFE),
            Some(ResumeRefusal::NotARelease { .. })
        ));
        let mut abandoned = interrupted(JobKind::Deploy);
        abandoned.abandoned_by = Some("bo".into());
        assert!(matches!(
            resume_refusal(&abandoned, SAFE),
            Some(ResumeRefusal::Abandoned { .. })
        ));
        let mut resumed = interrupted(JobKind::Deploy);
        resumed.resumed_by_job_id = Some(8);
        assert_eq!(
            resume_refusal(&resumed, SAFE),
            Some(ResumeRefusal::Resumed { id: 7, by: 8 })
        );
        let later = ResumeContext {
            later_job: Some(12),
            same_settings: true,
        };
        assert_eq!(
            resume_refusal(&interrupted(JobKind::Deploy), later),
            Some(ResumeRefusal::LaterJob { id: 7, later: 12 })
        );
        let changed = ResumeContext {
            later_job: None,
            same_settings: false,
        };
        assert_eq!(
            resume_refusal(&interrupted(JobKind::Rollback), changed),
            Some(ResumeRefusal::SettingsChanged { id: 7 })
        );
    }
}
