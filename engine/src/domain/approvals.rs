//! Approval rules: how many approvals from whom a deploy or rollback to an
//! environment needs before it may start, and whether the ones given are
//! enough. Pure: the caller brings the approvals.

use serde::{Deserialize, Serialize};

use super::Principal;
use crate::error::InvalidInput;

/// The longest an approval may be asked to stay valid: 30 days.
const MAX_EXPIRE_HOURS: u32 = 30 * 24;
/// The longest wait after the last approval: a day.
const MAX_WAIT_MINUTES: u32 = 24 * 60;
pub const DEFAULT_EXPIRE_HOURS: u32 = 24;

/// `required` approvals from people matching any of `from`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRule {
    pub required: u32,
    pub from: Vec<Principal>,
}

/// What a deploy to an environment needs before it starts. No rules: none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalPolicy {
    /// Every rule must be met.
    pub rules: Vec<ApprovalRule>,
    /// Whoever registered the build may not approve its deploy either.
    pub prevent_self_review: bool,
    /// Minutes to wait after the last approval before it starts.
    pub wait_minutes: u32,
    /// Hours a request waits for approvals before it expires.
    pub expire_hours: u32,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            prevent_self_review: false,
            wait_minutes: 0,
            expire_hours: DEFAULT_EXPIRE_HOURS,
        }
    }
}

/// One approval as given: who, and the groups they had then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approver {
    pub login: String,
    pub groups: Vec<String>,
}

impl ApprovalPolicy {
    /// From a form or the API: one rule per line, `<N> of <principal> …`,
    /// e.g. `1 of group:oidc:release-managers user:alice`.
    pub fn parse(
        rules: &str,
        prevent_self_review: bool,
        wait_minutes: u32,
        expire_hours: u32,
    ) -> Result<Self, InvalidInput> {
        let mut parsed = Vec::new();
        for line in rules.lines().map(str::trim).filter(|l| !l.is_empty()) {
            parsed.push(parse_rule(line)?);
        }
        if parsed.len() > 10 {
            return Err(InvalidInput::new("approvals", "at most 10 rules"));
        }
        if wait_minutes > MAX_WAIT_MINUTES {
            return Err(InvalidInput::new(
                "approval_wait_minutes",
                format!("at most {MAX_WAIT_MINUTES} minutes"),
            ));
        }
        if !(1..=MAX_EXPIRE_HOURS).contains(&expire_hours) {
            return Err(InvalidInput::new(
                "approval_expire_hours",
                format!("1 to {MAX_EXPIRE_HOURS} hours"),
            ));
        }
        Ok(Self {
            rules: parsed,
            prevent_self_review,
            wait_minutes,
            expire_hours,
        })
    }

    pub fn is_required(&self) -> bool {
        !self.rules.is_empty()
    }

    /// The rules as the form shows them, one per line.
    pub fn rules_text(&self) -> String {
        self.rules
            .iter()
            .map(|rule| {
                let from: Vec<String> = rule.from.iter().map(ToString::to_string).collect();
                format!("{} of {}", rule.required, from.join(" "))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Whether `approver` is named by any rule.
    pub fn names(&self, approver: &Approver) -> bool {
        self.rules.iter().any(|rule| {
            rule.from
                .iter()
                .any(|p| p.matches(&approver.login, &approver.groups))
        })
    }

    /// What the approvals given still lack, one line per rule not met
    /// ("1 more of group:oidc:qa"); empty once every rule is met.
    pub fn missing(&self, approvals: &[Approver]) -> Vec<String> {
        self.rules
            .iter()
            .filter_map(|rule| {
                let given = approvals
                    .iter()
                    .filter(|a| rule.from.iter().any(|p| p.matches(&a.login, &a.groups)))
                    .count() as u32;
                (given < rule.required).then(|| {
                    let from: Vec<String> = rule.from.iter().map(ToString::to_string).collect();
                    format!("{} more of {}", rule.required - given, from.join(", "))
                })
            })
            .collect()
    }
}

fn parse_rule(line: &str) -> Result<ApprovalRule, InvalidInput> {
    let usage = || {
        InvalidInput::new(
            "approvals",
            format!(
                "{:?}: write <number> of <user:login or group:provider:name …>, e.g. 1 of group:oidc:release-managers",
                line.chars().take(80).collect::<String>()
            ),
        )
    };
    let mut words = line.split_whitespace();
    let required: u32 = words
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(usage)?;
    if words.next() != Some("of") {
        return Err(usage());
    }
    let mut from = Vec::new();
    for word in words.flat_map(|w| w.split(',')).filter(|w| !w.is_empty()) {
        let principal =
            Principal::parse(word).map_err(|e| InvalidInput::new("approvals", e.message))?;
        if !from.contains(&principal) {
            from.push(principal);
        }
    }
    if from.is_empty() || !(1..=20).contains(&required) {
        return Err(usage());
    }
    if required as usize > from.len() && from.iter().all(|p| matches!(p, Principal::User(_))) {
        return Err(InvalidInput::new(
            "approvals",
            format!(
                "{line:?}: {required} approvals from {} named people can never be given",
                from.len()
            ),
        ));
    }
    Ok(ApprovalRule { required, from })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approver(login: &str, groups: &[&str]) -> Approver {
        Approver {
            login: login.to_owned(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn every_rule_must_be_met_and_one_approval_counts_for_each_rule_it_matches() {
        let policy = ApprovalPolicy::parse(
            "1 of group:oidc:release-managers user:alice\n2 of group:oidc:qa",
            false,
            0,
            24,
        )
        .unwrap();
        assert!(policy.is_required());
        assert_eq!(
            policy.missing(&[]),
            vec![
                "1 more of group:oidc:release-managers, user:alice",
                "2 more of group:oidc:qa"
            ]
        );
        let carol = approver("carol", &["oidc:qa", "oidc:release-managers"]);
        assert_eq!(
            policy.missing(std::slice::from_ref(&carol)),
            vec!["1 more of group:oidc:qa"]
        );
        let dan = approver("dan", &["oidc:qa"]);
        assert!(policy.missing(&[carol, dan]).is_empty());
        // A group of the same name at another provider is another group.
        assert!(!policy.names(&approver("eve", &["github:qa"])));
        assert!(policy.names(&approver("alice", &[])));
    }

    #[test]
    fn rules_read_back_as_written_and_bad_ones_say_why() {
        let policy =
            ApprovalPolicy::parse("  1 of user:alice, user:bob \n\n", true, 10, 48).unwrap();
        assert_eq!(policy.rules_text(), "1 of user:alice user:bob");
        assert!(ApprovalPolicy::parse("", false, 0, 24)
            .unwrap()
            .rules
            .is_empty());
        for bad in [
            "one of user:alice",
            "1 from user:alice",
            "1 of",
            "0 of user:a",
            "1 of alice",
            "3 of user:a user:b",
            "1 of user:$(reboot)",
        ] {
            let error = ApprovalPolicy::parse(bad, false, 0, 24).unwrap_err();
            assert_eq!(error.field, "approvals", "{bad}");
        }
        assert_eq!(
            ApprovalPolicy::parse("", false, 0, 0).unwrap_err().field,
            "approval_expire_hours"
        );
        assert_eq!(
            ApprovalPolicy::parse("", false, 5000, 24)
                .unwrap_err()
                .field,
            "approval_wait_minutes"
        );
    }
}
