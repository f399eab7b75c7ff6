//! Which releases an environment can be rolled back to.

use super::{Release, ReleaseState};

/// Why a release is not a rollback target.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RollbackRefusal {
    #[error("release #{0} is already live")]
    AlreadyLive(i64),
    /// A rollback makes a new row for the release it returns to, so an
    /// older row of the release live now is not one to roll back to.
    #[error("release #{target} is what is live now (as release #{live}); nothing to roll back")]
    SameAsLive { target: i64, live: i64 },
    #[error("release #{0} never went live; only earlier live releases can be rolled back to")]
    NeverLive(i64),
}

/// Whether `target` may be rolled back to while `live` is live. The live
/// release itself may be "restored" only when the environment is
/// [`unsettled`](super::unsettled): then hosts may not all be on it.
pub fn rollback_refusal(
    target: &Release,
    live: Option<&Release>,
    unsettled: bool,
) -> Option<RollbackRefusal> {
    match target.state {
        ReleaseState::Live if unsettled => None,
        ReleaseState::Live => Some(RollbackRefusal::AlreadyLive(target.id)),
        ReleaseState::Superseded => match live {
            Some(live) if live.release_key == target.release_key && !unsettled => {
                Some(RollbackRefusal::SameAsLive {
                    target: target.id,
                    live: live.id,
                })
            }
            _ => None,
        },
        ReleaseState::Pending | ReleaseState::Failed => Some(RollbackRefusal::NeverLive(target.id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{JobKind, JobState};
    use chrono::Utc;

    fn release(id: i64, key: &str, state: ReleaseState) -> Release {
        Release {
            id,
            environment_id: 1,
            build_id: id,
            job_id: id,
            release_key: key.to_owned(),
            kind: JobKind::Deploy,
            state,
            released_by: "ada".to_owned(),
            released_at: Some(Utc::now()),
            created_at: Utc::now(),
            commit_sha: "a".repeat(40),
            approved_by: None,
            branch: "main".to_owned(),
            build_message: String::new(),
            job_state: JobState::Succeeded,
        }
    }

    #[test]
    fn an_earlier_release_is_a_target() {
        let live = release(2, "r2", ReleaseState::Live);
        let earlier = release(1, "r1", ReleaseState::Superseded);
        assert_eq!(rollback_refusal(&earlier, Some(&live), false), None);
    }

    #[test]
    fn the_live_release_is_a_target_only_when_unsettled() {
        let live = release(2, "r2", ReleaseState::Live);
        assert_eq!(
            rollback_refusal(&live, Some(&live), false),
            Some(RollbackRefusal::AlreadyLive(2))
        );
        assert_eq!(rollback_refusal(&live, Some(&live), true), None);
    }

    #[test]
    fn an_older_row_of_the_live_release_is_not_a_target() {
        // r1 went live, r2 replaced it, a rollback made row 3 for r1 again.
        let live = release(3, "r1", ReleaseState::Live);
        let first = release(1, "r1", ReleaseState::Superseded);
        assert_eq!(
            rollback_refusal(&first, Some(&live), false),
            Some(RollbackRefusal::SameAsLive { target: 1, live: 3 })
        );
        // Unsettled, re-applying it is a restore and allowed.
        assert_eq!(rollback_refusal(&first, Some(&live), true), None);
    }

    #[test]
    fn what_never_went_live_is_not_a_target() {
        for state in [ReleaseState::Pending, ReleaseState::Failed] {
            let never = release(4, "r4", state);
            assert_eq!(
                rollback_refusal(&never, None, false),
                Some(RollbackRefusal::NeverLive(4))
            );
        }
    }
}
