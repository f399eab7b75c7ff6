//! Notification targets from an environment's page: list them with their
//! delivery logs, make one, remove one.

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::{NotificationForm, NotificationsInfo};

/// The targets that hear of `app/env`: its own and the application's.
#[server(prefix = "/fn", endpoint = "get_notifications")]
pub async fn get_notifications(app: String, env: String) -> Result<NotificationsInfo, AppError> {
    use super::context::{actor, engine};
    use super::convert::when;
    use crate::model::{DeliveryInfo, TargetInfo};
    /// How many deliveries of each target the page shows.
    const SHOWN_DELIVERIES: i64 = 5;
    let (engine, actor) = (engine()?, actor().await?);
    let mut targets = Vec::new();
    for target in engine.notification_targets(&actor, &app).await? {
        if target
            .environment
            .as_deref()
            .is_some_and(|name| name != env)
        {
            continue;
        }
        let deliveries = engine
            .notification_deliveries(&actor, target.id, SHOWN_DELIVERIES)
            .await?;
        targets.push(TargetInfo {
            id: target.id,
            scope: match &target.environment {
                Some(env) => format!("{app}/{env}"),
                None => format!("{app} (every environment)"),
            },
            name: target.name,
            url: target.url,
            format: target.format.as_str().to_owned(),
            signed: target.signed,
            events: target
                .events
                .iter()
                .map(|e| e.as_str().to_owned())
                .collect(),
            deliveries: deliveries
                .into_iter()
                .map(|d| DeliveryInfo {
                    id: d.id,
                    event: d.event,
                    state: d.state,
                    attempts: d.attempts,
                    last_status: d.last_status,
                    last_error: d.last_error,
                    created_at: when(d.created_at),
                })
                .collect(),
        });
    }
    Ok(NotificationsInfo {
        targets,
        may_manage: actor
            .require(engine::auth::Permission::ManageNotifications)
            .is_ok(),
        events: engine::domain::notify::NotifyEvent::ALL
            .iter()
            .map(|e| e.as_str().to_owned())
            .collect(),
    })
}

/// Makes a target for `env` (or, with scope "app", for every environment
/// of `app`); returns its id.
#[server(prefix = "/fn", endpoint = "create_notification_target")]
pub async fn create_notification_target(
    app: String,
    env: String,
    #[server(flatten)] form: NotificationForm,
) -> Result<i64, AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    let request = engine::NotificationTargetRequest {
        name: form.name,
        environment: (form.scope != "app").then_some(env),
        url: form.url,
        format: form.format,
        secret: Some(form.secret),
        events: form.events,
    };
    let target = engine
        .create_notification_target(&actor, &app, &request)
        .await?;
    Ok(target.id)
}

#[server(prefix = "/fn", endpoint = "delete_notification_target")]
pub async fn delete_notification_target(id: String) -> Result<(), AppError> {
    use super::context::{actor, engine, number};
    let id = number("id", &id)?;
    let (engine, actor) = (engine()?, actor().await?);
    engine.delete_notification_target(&actor, id).await?;
    Ok(())
}
