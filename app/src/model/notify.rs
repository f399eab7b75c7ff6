//! Notification targets as the environment page shows them.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryInfo {
    pub id: i64,
    pub event: String,
    /// pending, delivered or failed.
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    pub id: i64,
    pub name: String,
    /// `app/env`, or `app (every environment)`.
    pub scope: String,
    /// Scheme and host only.
    pub url: String,
    pub format: String,
    pub signed: bool,
    pub events: Vec<String>,
    /// The newest few.
    pub deliveries: Vec<DeliveryInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotificationsInfo {
    pub targets: Vec<TargetInfo>,
    pub may_manage: bool,
    /// Every event name a target may choose.
    pub events: Vec<String>,
}

/// The "add a target" form, as it is posted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotificationForm {
    /// "env" (this environment) or "app" (every environment).
    pub scope: String,
    pub name: String,
    pub url: String,
    pub format: String,
    /// A generic target's HMAC key; empty for Slack.
    pub secret: String,
    pub events: String,
}
