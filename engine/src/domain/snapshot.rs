//! What else a deploy changes: each job keeps a snapshot of its
//! environment's settings and variables as they were when it was queued,
//! and two snapshots give the difference. A secret's value is never in a
//! snapshot, only a digest of it, so a difference says "changed" and no
//! more.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One variable as a snapshot keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VarSnapshot {
    Plain {
        value: String,
    },
    /// A digest of the value, to tell whether it changed.
    Secret {
        digest: String,
    },
}

impl VarSnapshot {
    fn is_secret(&self) -> bool {
        matches!(self, VarSnapshot::Secret { .. })
    }

    fn shown(&self) -> Option<String> {
        match self {
            VarSnapshot::Plain { value } => Some(value.clone()),
            VarSnapshot::Secret { .. } => None,
        }
    }
}

/// An environment's settings (flattened to `name = value`) and variables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsSnapshot {
    pub settings: BTreeMap<String, String>,
    pub variables: BTreeMap<String, VarSnapshot>,
}

impl SettingsSnapshot {
    /// Adds each leaf of `json` as a setting named by its path
    /// (`hosts.0.address`), under `prefix`.
    pub fn add_settings(&mut self, prefix: &str, json: &serde_json::Value) {
        match json {
            serde_json::Value::Object(fields) => {
                for (name, value) in fields {
                    self.add_settings(&join(prefix, name), value);
                }
            }
            serde_json::Value::Array(items) if !items.is_empty() => {
                for (i, value) in items.iter().enumerate() {
                    self.add_settings(&join(prefix, &i.to_string()), value);
                }
            }
            serde_json::Value::Null => {}
            serde_json::Value::String(s) => {
                self.settings.insert(prefix.to_owned(), s.clone());
            }
            other => {
                self.settings.insert(prefix.to_owned(), other.to_string());
            }
        }
    }

    /// What changed from `before` to `self`.
    pub fn diff_from(&self, before: &SettingsSnapshot) -> SnapshotDiff {
        let settings = changes(&before.settings, &self.settings, String::clone)
            .into_iter()
            .map(|(name, before, after, _)| SettingChange {
                name,
                before,
                after,
            })
            .collect();
        let variables = changes(&before.variables, &self.variables, VarSnapshot::shown)
            .into_iter()
            .map(|(name, before, after, secret)| VarChange {
                change: match (&before, &after) {
                    (None, Some(_)) => Change::Added,
                    (Some(_), None) => Change::Removed,
                    _ => Change::Changed,
                },
                name,
                secret,
                // A plain value that became secret (or the reverse) may be
                // the secret itself: no value of either side is shown.
                before: before.flatten().filter(|_| !secret),
                after: after.flatten().filter(|_| !secret),
            })
            .collect();
        SnapshotDiff {
            settings,
            variables,
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

trait MaybeSecret {
    fn secret(&self) -> bool;
}

impl MaybeSecret for String {
    fn secret(&self) -> bool {
        false
    }
}

impl MaybeSecret for VarSnapshot {
    fn secret(&self) -> bool {
        self.is_secret()
    }
}

/// Each name whose value differs: (name, shown before, shown after,
/// secret on either side). `shown` is what may be displayed of a value.
type Difference<S> = (String, Option<S>, Option<S>, bool);

fn changes<V: PartialEq + MaybeSecret, S>(
    before: &BTreeMap<String, V>,
    after: &BTreeMap<String, V>,
    shown: impl Fn(&V) -> S,
) -> Vec<Difference<S>> {
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (old, new) = (before.get(name), after.get(name));
            (old != new).then(|| {
                let secret =
                    old.is_some_and(MaybeSecret::secret) || new.is_some_and(MaybeSecret::secret);
                (name.clone(), old.map(&shown), new.map(&shown), secret)
            })
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SettingChange {
    pub name: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Added,
    Removed,
    Changed,
}

/// One variable that differs. A secret's values are never given: only
/// that it was added, removed or changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct VarChange {
    pub name: String,
    pub change: Change,
    pub secret: bool,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What changed between two snapshots.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SnapshotDiff {
    pub settings: Vec<SettingChange>,
    pub variables: Vec<VarChange>,
}

impl SnapshotDiff {
    pub fn is_empty(&self) -> bool {
        self.settings.is_empty() && self.variables.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(settings: &serde_json::Value, vars: &[(&str, &str, bool)]) -> SettingsSnapshot {
        let mut s = SettingsSnapshot::default();
        s.add_settings("", settings);
        for (name, value, secret) in vars {
            let kept = if *secret {
                VarSnapshot::Secret {
                    digest: hex::encode(value),
                }
            } else {
                VarSnapshot::Plain {
                    value: (*value).to_owned(),
                }
            };
            s.variables.insert((*name).to_owned(), kept);
        }
        s
    }

    #[test]
    fn settings_flatten_to_paths() {
        let s = snapshot(
            &serde_json::json!({"ssh": {"hosts": ["a", "b"], "keep": 5, "none": null}}),
            &[],
        );
        let flat: Vec<_> = s.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(flat, ["ssh.hosts.0=a", "ssh.hosts.1=b", "ssh.keep=5"]);
    }

    #[test]
    fn a_difference_names_what_changed_and_never_a_secret() {
        let before = snapshot(
            &serde_json::json!({"keep": 5}),
            &[
                ("MODE", "a", false),
                ("TOKEN", "old-secret", true),
                ("GONE", "x", false),
            ],
        );
        let after = snapshot(
            &serde_json::json!({"keep": 3}),
            &[
                ("MODE", "b", false),
                ("TOKEN", "new-secret", true),
                ("NEW", "y", false),
            ],
        );
        let diff = after.diff_from(&before);
        assert_eq!(
            diff.settings,
            [SettingChange {
                name: "keep".into(),
                before: Some("5".into()),
                after: Some("3".into())
            }]
        );
        let summary: Vec<_> = diff
            .variables
            .iter()
            .map(|v| {
                (
                    v.name.as_str(),
                    v.change,
                    v.before.as_deref(),
                    v.after.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("GONE", Change::Removed, Some("x"), None),
                ("MODE", Change::Changed, Some("a"), Some("b")),
                ("NEW", Change::Added, None, Some("y")),
                ("TOKEN", Change::Changed, None, None),
            ]
        );
        assert!(diff.variables[3].secret);
        let text = serde_json::to_string(&(&before, &after, &diff)).unwrap_or_default();
        assert!(!text.contains("old-secret") && !text.contains("new-secret"));
        assert!(after.diff_from(&after).is_empty());
    }

    #[test]
    fn a_plain_variable_made_secret_shows_no_value() {
        let before = snapshot(&serde_json::json!({}), &[("KEY", "visible", false)]);
        let after = snapshot(&serde_json::json!({}), &[("KEY", "visible", true)]);
        let diff = after.diff_from(&before);
        assert_eq!(diff.variables.len(), 1);
        assert!(diff.variables[0].secret);
        // The plain value before is the secret now: neither is shown.
        assert_eq!(
            (
                diff.variables[0].before.as_deref(),
                diff.variables[0].after.as_deref()
            ),
            (None, None)
        );
    }
}
