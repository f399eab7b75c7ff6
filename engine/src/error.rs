//! The engine's error type: what went wrong, in terms a caller can act on.

use chrono::{DateTime, Utc};

/// A value from outside (a form, JSON, a query string) that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidInput {
    pub field: &'static str,
    pub message: String,
}

impl InvalidInput {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),

    #[error("{0} not found")]
    NotFound(String),

    #[error("{0}")]
    Conflict(String),

    #[error("environment busy: job #{job_id} by {requested_by} since {}", since.format("%Y-%m-%d %H:%M:%S UTC"))]
    Busy {
        job_id: i64,
        requested_by: String,
        since: DateTime<Utc>,
    },

    #[error("environment locked by {locked_by} since {}: {reason}", since.format("%Y-%m-%d %H:%M:%S UTC"))]
    Locked {
        reason: String,
        locked_by: String,
        since: DateTime<Utc>,
    },

    /// A freeze window is in force; `ends` says when, in the window's zone.
    #[error("{environment} is frozen by the window \"{window}\" until {ends}: {what} refused (an admin may override it with a reason)")]
    Frozen {
        environment: String,
        window: String,
        ends: String,
        what: &'static str,
    },

    #[error("not allowed: {0}")]
    Forbidden(String),

    /// Secret variables that do not open with the configured key.
    #[error("the secret variables {names} of {environment} cannot be read: {reason}; the secret key (<data-dir>/secret.key or SLIPWAY_SECRET_KEY) is not the one they were sealed with — restore that key, or set them again")]
    SecretsUnreadable {
        environment: String,
        names: String,
        reason: String,
    },

    #[error("not signed in or the credentials are no longer valid")]
    Unauthenticated,

    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),

    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),

    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The HTTP status that best describes this error to a client.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Invalid(_) => 400,
            Error::Unauthenticated => 401,
            Error::Forbidden(_) => 403,
            Error::NotFound(_) => 404,
            Error::Conflict(_)
            | Error::Busy { .. }
            | Error::Locked { .. }
            | Error::Frozen { .. } => 409,
            Error::Database(_)
            | Error::Migration(_)
            | Error::Io(_)
            | Error::SecretsUnreadable { .. } => 500,
        }
    }

    /// A message fit to show a person. Internal failures are not detailed.
    pub fn public_message(&self) -> String {
        match self {
            Error::Database(_) | Error::Migration(_) | Error::Io(_) => {
                "internal error; the server log has the details".to_owned()
            }
            other => other.to_string(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound(what.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
