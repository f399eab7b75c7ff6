//! What a deploy changes: engine records → wire types.

use engine::domain::changes::{CommitSource, Direction};
use engine::domain::snapshot::Change;
use engine::ReleaseChanges;

use super::when;
use crate::model::{ChangesInfo, CommitInfo, SettingDiff, VarDiff};

pub fn release_changes(changes: &ReleaseChanges) -> ChangesInfo {
    let range = &changes.commits;
    let link = |sha: &str| {
        range
            .link_template
            .as_ref()
            .map(|template| template.replace("{sha}", sha))
    };
    ChangesInfo {
        from_build: changes.live_build.as_ref().map(|b| b.id),
        from_sha: range.from_sha.clone(),
        to_build: changes.target_build.id,
        to_sha: range.to_sha.clone(),
        removes: range.direction == Direction::Removes,
        commits: range
            .commits
            .iter()
            .map(|c| CommitInfo {
                sha: c.sha.clone(),
                author: c.author.clone(),
                committed_at: c.committed_at.map(when),
                subject: c.subject.clone(),
                link: link(&c.sha),
            })
            .collect(),
        total: range.total,
        source: match range.source {
            CommitSource::Mirror => "mirror",
            CommitSource::Registered => "registered",
            CommitSource::Nothing => "nothing",
        }
        .to_owned(),
        source_note: range.source.describe().to_owned(),
        complete: range.complete,
        settings: changes.settings.as_ref().map(|diff| {
            diff.settings
                .iter()
                .map(|s| SettingDiff {
                    name: s.name.clone(),
                    before: s.before.clone(),
                    after: s.after.clone(),
                })
                .collect()
        }),
        variables: changes.settings.as_ref().map(|diff| {
            diff.variables
                .iter()
                .map(|v| VarDiff {
                    name: v.name.clone(),
                    change: match v.change {
                        Change::Added => "added",
                        Change::Removed => "removed",
                        Change::Changed => "changed",
                    }
                    .to_owned(),
                    secret: v.secret,
                    before: v.before.clone(),
                    after: v.after.clone(),
                })
                .collect()
        }),
    }
}
