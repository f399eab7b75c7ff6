//! Notification targets: admins say who is told of what; everyone may read
//! the targets (URLs only as scheme and host) and their delivery logs.

use serde::Deserialize;

use crate::auth::{Actor, Permission};
use crate::domain::notify::{parse_events, NotifyFormat, TargetUrl};
use crate::error::{InvalidInput, Result};
use crate::jobs::{Notifier, NotifierSettings};
use crate::store::notifications::{Delivery, NewTarget, NotificationTarget};

use super::Engine;

/// A generic target's secret: long enough not to be guessed.
const SECRET_LENGTH: std::ops::RangeInclusive<usize> = 16..=256;

/// A target to make, as it arrives from the form or the API.
#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationTargetRequest {
    /// What the delivery log calls it.
    pub name: String,
    /// The environment it hears of; none: every environment of the application.
    #[serde(default)]
    pub environment: Option<String>,
    /// Where to POST: http(s), no credentials (a Slack webhook URL is fine).
    pub url: String,
    /// `slack` (`text` + `blocks`) or `generic` (signed JSON).
    pub format: String,
    /// A generic target's HMAC key, 16-256 characters; never shown again.
    #[serde(default)]
    pub secret: Option<String>,
    /// Event names, separated by spaces or commas: requested,
    /// awaiting_approval, approved, started, succeeded, failed,
    /// rolled_back, interrupted, freeze_started.
    pub events: String,
}

impl std::fmt::Debug for NotificationTargetRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationTargetRequest")
            .field("name", &self.name)
            .field("environment", &self.environment)
            .field("format", &self.format)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl NotificationTargetRequest {
    fn checked(&self) -> Result<NewTarget, InvalidInput> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(InvalidInput::new("name", "1-100 characters of plain text"));
        }
        let url = TargetUrl::parse(&self.url)?;
        let format = NotifyFormat::parse(&self.format)?;
        let events = parse_events(&self.events)?;
        let secret = self
            .secret
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let secret = match (format, secret) {
            (NotifyFormat::Generic, None) => {
                return Err(InvalidInput::new(
                    "secret",
                    "a generic target signs its bodies: give it a secret of 16-256 characters",
                ))
            }
            (NotifyFormat::Slack, Some(_)) => {
                return Err(InvalidInput::new(
                    "secret",
                    "Slack webhooks are not signed: leave the secret empty",
                ))
            }
            (_, Some(s))
                if !SECRET_LENGTH.contains(&s.chars().count())
                    || s.chars().any(char::is_control) =>
            {
                return Err(InvalidInput::new("secret", "16-256 characters"))
            }
            (_, secret) => secret.map(str::to_owned),
        };
        Ok(NewTarget {
            name: name.to_owned(),
            url,
            format,
            secret,
            events,
        })
    }
}

impl Engine {
    pub async fn create_notification_target(
        &self,
        actor: &Actor,
        app: &str,
        request: &NotificationTargetRequest,
    ) -> Result<NotificationTarget> {
        actor.require(Permission::ManageNotifications)?;
        actor.require_reach_application(app)?;
        let new = request.checked()?;
        let application = self.find_application(app).await?;
        let env = match request.environment.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(env) => Some(self.find_environment(app, env).await?),
        };
        self.store
            .create_notification_target(&actor.login, &application, env.as_ref(), &new)
            .await
    }

    pub async fn delete_notification_target(&self, actor: &Actor, id: i64) -> Result<()> {
        actor.require(Permission::ManageNotifications)?;
        let target = self.store.notification_target(id).await?;
        actor.require_reach_application(&target.application)?;
        self.store
            .delete_notification_target(&actor.login, id)
            .await
    }

    /// An application's targets, its environments' included.
    pub async fn notification_targets(
        &self,
        actor: &Actor,
        app: &str,
    ) -> Result<Vec<NotificationTarget>> {
        actor.require(Permission::Read)?;
        let app = self.find_application(app).await?;
        self.store.notification_targets(&app).await
    }

    /// A target's newest deliveries.
    pub async fn notification_deliveries(
        &self,
        actor: &Actor,
        target_id: i64,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        actor.require(Permission::Read)?;
        self.store.notification_target(target_id).await?;
        self.store.deliveries(target_id, limit).await
    }

    /// The sender of this engine's notification outbox.
    pub fn notifier(&self, settings: NotifierSettings) -> Result<Notifier> {
        Notifier::new(self.store.clone(), settings)
    }
}
