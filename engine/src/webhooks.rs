//! Push webhooks from GitHub and GitLab. The signature is checked over the
//! raw body, in constant time, before a byte of it is parsed; then the
//! event is read for the one thing Slipway acts on: a deleted branch, whose
//! branch preview goes with it. (Builds arrive from CI, which registers
//! them once built; a push alone has nothing to deploy.)
//!
//! Each application has a secret of its own, derived from the one Slipway
//! is configured with ([`WebhookSecret::for_application`]): whoever set up
//! one repository's webhook cannot sign another application's.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::domain::AppName;

/// The longest secret accepted, and the shortest: a guessable one would
/// let anyone tear down previews.
const SECRET_LENGTH: std::ops::RangeInclusive<usize> = 16..=256;

/// GitLab's `after` when a push deleted the branch: a commit id of zeros
/// (40 for SHA-1 repositories, 64 for SHA-256 ones).
fn is_no_commit(after: &str) -> bool {
    matches!(after.len(), 40 | 64) && after.bytes().all(|b| b == b'0')
}

/// The secret both sides share, as configured. Never printed.
#[derive(Clone)]
pub struct WebhookSecret(String);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

impl WebhookSecret {
    /// Slipway's own secret, as configured.
    pub fn new(secret: &str) -> Result<Self, WebhookError> {
        let secret = secret.trim();
        if !SECRET_LENGTH.contains(&secret.chars().count()) {
            return Err(WebhookError::WeakSecret);
        }
        Ok(Self(secret.to_owned()))
    }

    /// The secret of `app`'s webhooks: HMAC-SHA256 of its name under
    /// Slipway's secret, in hex. What `slipway webhook-secret <app>` prints
    /// for the repository's settings.
    pub fn for_application(&self, app: &AppName) -> WebhookSecret {
        #[allow(clippy::expect_used)] // HMAC takes a key of any length
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.0.as_bytes()).expect("an HMAC key of any length");
        mac.update(b"slipway webhook secret of application ");
        mac.update(app.as_str().as_bytes());
        WebhookSecret(hex::encode(mac.finalize().into_bytes()))
    }

    /// The secret itself, to hand to the forge. Never log it.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forge {
    GitHub,
    GitLab,
}

impl Forge {
    pub fn parse(raw: &str) -> Option<Forge> {
        match raw {
            "github" => Some(Forge::GitHub),
            "gitlab" => Some(Forge::GitLab),
            _ => None,
        }
    }

    /// The audit actor for what its webhooks set off.
    pub fn actor(self) -> &'static str {
        match self {
            Forge::GitHub => "webhook:github",
            Forge::GitLab => "webhook:gitlab",
        }
    }

    /// The header naming the event.
    pub fn event_header(self) -> &'static str {
        match self {
            Forge::GitHub => "x-github-event",
            Forge::GitLab => "x-gitlab-event",
        }
    }

    /// The header carrying the proof that the sender knows the secret.
    pub fn signature_header(self) -> &'static str {
        match self {
            Forge::GitHub => "x-hub-signature-256",
            Forge::GitLab => "x-gitlab-token",
        }
    }

    /// The header naming the delivery (the same on a redelivery).
    pub fn delivery_header(self) -> &'static str {
        match self {
            Forge::GitHub => "x-github-delivery",
            Forge::GitLab => "x-gitlab-event-uuid",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Forge::GitHub => "github",
            Forge::GitLab => "gitlab",
        }
    }
}

/// A forge's id for one delivery (a UUID on both forges).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryId(String);

impl DeliveryId {
    /// The forge's header (`forge` names it when it is missing: both
    /// forges send one, and a delivery without is refused).
    pub fn parse(forge: Forge, header: Option<&str>) -> Result<DeliveryId, WebhookError> {
        let raw = header.ok_or(WebhookError::MissingDeliveryId(forge.delivery_header()))?;
        let valid = (1..=100).contains(&raw.len())
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if valid {
            Ok(DeliveryId(raw.to_owned()))
        } else {
            Err(WebhookError::BadDeliveryId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("the webhook secret must be {min}-{max} characters", min = SECRET_LENGTH.start(), max = SECRET_LENGTH.end())]
    WeakSecret,
    #[error("the {0} header is missing")]
    MissingSignature(&'static str),
    #[error("the signature does not match this Slipway's webhook secret")]
    BadSignature,
    #[error("the {0} header is missing")]
    MissingEvent(&'static str),
    #[error("the delivery id is 1-100 letters, digits and dashes")]
    BadDeliveryId,
    #[error("the {0} header is missing: every delivery names itself")]
    MissingDeliveryId(&'static str),
    #[error("the body is not a valid {event} event: {reason}")]
    BadBody { event: String, reason: String },
}

/// What a verified webhook says happened.
#[derive(Debug, PartialEq, Eq)]
pub enum WebhookEvent {
    /// GitHub's hello when a webhook is set up.
    Ping,
    BranchDeleted(String),
    /// Commits pushed to a branch: kept for change lists, and the
    /// repository mirror is fetched.
    Pushed(Push),
    /// Anything else (a tag, another event): noted, no action.
    Ignored(String),
}

/// A push to a branch, as both forges describe it.
#[derive(Debug, PartialEq, Eq)]
pub struct Push {
    pub branch: String,
    /// The branch's commit before the push (zeros: a new branch).
    pub before: String,
    /// Oldest first.
    pub commits: Vec<PushedCommit>,
}

impl Push {
    /// Whether the branch was new: nothing before the push.
    pub fn created_branch(&self) -> bool {
        is_no_commit(&self.before)
    }
}

#[derive(Debug, PartialEq, Eq, Deserialize)]
pub struct PushedCommit {
    pub id: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub author: PushAuthor,
}

#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
pub struct PushAuthor {
    #[serde(default)]
    pub name: String,
}

/// The digest a body is remembered by once acted on (hex SHA-256).
pub fn body_digest(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(Sha256::digest(body))
}

/// Checks that `body` came from someone who knows `secret`: GitHub signs it
/// (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256>`), GitLab sends the
/// secret itself (`X-Gitlab-Token`).
pub fn verify(
    forge: Forge,
    secret: &WebhookSecret,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), WebhookError> {
    let signature = signature.ok_or(WebhookError::MissingSignature(forge.signature_header()))?;
    let matches = match forge {
        Forge::GitHub => {
            let Some(digest) = signature
                .strip_prefix("sha256=")
                .and_then(|hex_digest| hex::decode(hex_digest.trim()).ok())
            else {
                return Err(WebhookError::BadSignature);
            };
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.0.as_bytes()) else {
                return Err(WebhookError::BadSignature);
            };
            mac.update(body);
            mac.verify_slice(&digest).is_ok()
        }
        Forge::GitLab => bool::from(signature.as_bytes().ct_eq(secret.0.as_bytes())),
    };
    if matches {
        Ok(())
    } else {
        Err(WebhookError::BadSignature)
    }
}

#[derive(Deserialize)]
struct GitHubPush {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    before: String,
    #[serde(default)]
    commits: Vec<PushedCommit>,
}

#[derive(Deserialize)]
struct GitHubDelete {
    #[serde(rename = "ref")]
    git_ref: String,
    ref_type: String,
}

#[derive(Deserialize)]
struct GitLabPush {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    #[serde(default)]
    before: String,
    #[serde(default)]
    commits: Vec<PushedCommit>,
}

/// Reads a verified webhook's event (`event` is the event header's value).
pub fn parse(forge: Forge, event: &str, body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let bad = |reason: serde_json::Error| WebhookError::BadBody {
        event: event.to_owned(),
        reason: reason.to_string(),
    };
    let branch_of = |git_ref: &str| git_ref.strip_prefix("refs/heads/").map(str::to_owned);
    Ok(match (forge, event) {
        (Forge::GitHub, "ping") => WebhookEvent::Ping,
        (Forge::GitHub, "push") => {
            let push: GitHubPush = serde_json::from_slice(body).map_err(bad)?;
            match branch_of(&push.git_ref) {
                Some(branch) if push.deleted => WebhookEvent::BranchDeleted(branch),
                Some(branch) => WebhookEvent::Pushed(Push {
                    branch,
                    before: push.before,
                    commits: push.commits,
                }),
                None => WebhookEvent::Ignored(format!("push to {}", push.git_ref)),
            }
        }
        (Forge::GitHub, "delete") => {
            let delete: GitHubDelete = serde_json::from_slice(body).map_err(bad)?;
            if delete.ref_type == "branch" {
                WebhookEvent::BranchDeleted(delete.git_ref)
            } else {
                WebhookEvent::Ignored(format!("{} {} deleted", delete.ref_type, delete.git_ref))
            }
        }
        (Forge::GitLab, "Push Hook") => {
            let push: GitLabPush = serde_json::from_slice(body).map_err(bad)?;
            match branch_of(&push.git_ref) {
                Some(branch) if is_no_commit(&push.after) => WebhookEvent::BranchDeleted(branch),
                Some(branch) => WebhookEvent::Pushed(Push {
                    branch,
                    before: push.before,
                    commits: push.commits,
                }),
                None => WebhookEvent::Ignored(format!("push to {}", push.git_ref)),
            }
        }
        (_, other) => WebhookEvent::Ignored(format!("{other} event")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> WebhookSecret {
        WebhookSecret::new("a-long-enough-secret").unwrap()
    }

    fn github_signature(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn a_github_body_signed_with_the_secret_is_accepted_and_any_change_refused() {
        let body = br#"{"ref":"refs/heads/feature/x","deleted":true}"#;
        let signature = github_signature("a-long-enough-secret", body);
        assert_eq!(
            verify(Forge::GitHub, &secret(), Some(&signature), body),
            Ok(())
        );
        let tampered = br#"{"ref":"refs/heads/feature/y","deleted":true}"#;
        assert_eq!(
            verify(Forge::GitHub, &secret(), Some(&signature), tampered),
            Err(WebhookError::BadSignature)
        );
        let other_secret = github_signature("another-long-secret!", body);
        assert_eq!(
            verify(Forge::GitHub, &secret(), Some(&other_secret), body),
            Err(WebhookError::BadSignature)
        );
        for malformed in ["", "sha256=", "sha256=zz", "sha1=abcd", &signature[7..]] {
            assert_eq!(
                verify(Forge::GitHub, &secret(), Some(malformed), body),
                Err(WebhookError::BadSignature),
                "{malformed:?}"
            );
        }
        assert_eq!(
            verify(Forge::GitHub, &secret(), None, body),
            Err(WebhookError::MissingSignature("x-hub-signature-256"))
        );
    }

    #[test]
    fn a_gitlab_token_must_be_the_secret_exactly() {
        let body = b"{}";
        assert_eq!(
            verify(Forge::GitLab, &secret(), Some("a-long-enough-secret"), body),
            Ok(())
        );
        for wrong in [
            "a-long-enough-secre",
            "a-long-enough-secret ",
            "",
            "A-long-enough-secret",
        ] {
            assert_eq!(
                verify(Forge::GitLab, &secret(), Some(wrong), body),
                Err(WebhookError::BadSignature),
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn each_application_has_a_secret_of_its_own() {
        let shop = secret().for_application(&AppName::parse("shop").unwrap());
        let blog = secret().for_application(&AppName::parse("blog").unwrap());
        assert_ne!(shop.reveal(), blog.reveal());
        assert_eq!(shop.reveal().len(), 64);
        let again = WebhookSecret::new("a-long-enough-secret").unwrap();
        assert_eq!(
            again
                .for_application(&AppName::parse("shop").unwrap())
                .reveal(),
            shop.reveal()
        );
        let body = b"{}";
        let signed_for_blog = github_signature(blog.reveal(), body);
        assert_eq!(
            verify(Forge::GitHub, &shop, Some(&signed_for_blog), body),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn short_secrets_are_refused_and_never_printed() {
        assert_eq!(
            WebhookSecret::new("short").unwrap_err(),
            WebhookError::WeakSecret
        );
        assert_eq!(format!("{:?}", secret()), "WebhookSecret(…)");
    }

    #[test]
    fn deleted_branches_are_read_from_each_forge() {
        let github_push = br#"{"ref":"refs/heads/feature/x","deleted":true,"after":"0000"}"#;
        assert_eq!(
            parse(Forge::GitHub, "push", github_push),
            Ok(WebhookEvent::BranchDeleted("feature/x".into()))
        );
        let github_delete = br#"{"ref":"feature/x","ref_type":"branch"}"#;
        assert_eq!(
            parse(Forge::GitHub, "delete", github_delete),
            Ok(WebhookEvent::BranchDeleted("feature/x".into()))
        );
        for zeros in [40, 64] {
            let after = "0".repeat(zeros);
            let gitlab_push = format!(r#"{{"ref":"refs/heads/feature/x","after":"{after}"}}"#);
            assert_eq!(
                parse(Forge::GitLab, "Push Hook", gitlab_push.as_bytes()),
                Ok(WebhookEvent::BranchDeleted("feature/x".into()))
            );
        }
        let pushed =
            r#"{"ref":"refs/heads/feature/x","after":"0000000000000000000000000000000000000001"}"#;
        assert!(matches!(
            parse(Forge::GitLab, "Push Hook", pushed.as_bytes()),
            Ok(WebhookEvent::Pushed(_))
        ));
    }

    #[test]
    fn pushes_to_branches_bring_their_commits() {
        let push = br#"{"ref":"refs/heads/main","deleted":false,"before":"aaaa",
            "commits":[{"id":"bbbb","message":"Fix it\n\nmore","timestamp":"2026-12-01T10:00:00+01:00",
                        "author":{"name":"Ada","email":"ada@example.com"},"url":"https://x"}]}"#;
        let Ok(WebhookEvent::Pushed(push)) = parse(Forge::GitHub, "push", push) else {
            panic!("a push to a branch is a Push");
        };
        assert_eq!(push.branch, "main");
        assert_eq!(push.before, "aaaa");
        assert_eq!(push.commits.len(), 1);
        assert_eq!(push.commits[0].author.name, "Ada");
        assert!(!push.created_branch());
    }

    #[test]
    fn tags_and_other_events_change_nothing() {
        let tag = br#"{"ref":"refs/tags/v1","deleted":true}"#;
        assert!(matches!(
            parse(Forge::GitHub, "push", tag),
            Ok(WebhookEvent::Ignored(_))
        ));
        let tag_delete = br#"{"ref":"v1","ref_type":"tag"}"#;
        assert!(matches!(
            parse(Forge::GitHub, "delete", tag_delete),
            Ok(WebhookEvent::Ignored(_))
        ));
        assert_eq!(parse(Forge::GitHub, "ping", b"{}"), Ok(WebhookEvent::Ping));
        assert!(matches!(
            parse(Forge::GitHub, "issues", b"not json"),
            Ok(WebhookEvent::Ignored(_))
        ));
    }

    #[test]
    fn a_malformed_body_is_a_clear_error() {
        for body in [&b"not json"[..], br#"{"deleted":true}"#, br#"{"ref":5}"#] {
            assert!(
                matches!(
                    parse(Forge::GitHub, "push", body),
                    Err(WebhookError::BadBody { .. })
                ),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
