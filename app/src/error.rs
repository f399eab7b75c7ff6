//! The one error type server functions return: a message for people.
//!
//! On the server it also sets the response's status (400 for a bad
//! argument, the engine's own status for an engine error). On the wire it
//! keeps Leptos' text form, `ServerError|<message>`, which the access
//! layer's refusals use too, so the page reads both alike.

use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct AppError {
    message: String,
}

impl AppError {
    /// An error with this message (and, on the server, the status set so far: 500 by default).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// What a person should read.
    pub fn message(&self) -> &str {
        &self.message
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// An error answered with `status`.
    pub fn with_status(status: u16, message: impl Into<String>) -> Self {
        set_status(status);
        Self::new(message)
    }

    /// A request that cannot be acted on as sent (400).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::with_status(400, message)
    }
}

#[cfg(feature = "ssr")]
impl From<engine::Error> for AppError {
    fn from(err: engine::Error) -> Self {
        let status = err.http_status();
        if status >= 500 {
            tracing::error!(error = %err, "server function failed");
        }
        Self::with_status(status, err.public_message())
    }
}

#[cfg(feature = "ssr")]
impl From<engine::InvalidInput> for AppError {
    fn from(err: engine::InvalidInput) -> Self {
        Self::invalid(err.to_string())
    }
}

impl FromServerFnError for AppError {
    type Encoder = AppErrorEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // The request's arguments did not parse: the caller's mistake,
            // and serde's message names the argument.
            ServerFnErrorErr::Args(message) | ServerFnErrorErr::MissingArg(message) => {
                #[cfg(feature = "ssr")]
                set_status(400);
                Self::new(format!("bad request: {message}"))
            }
            ServerFnErrorErr::Request(message) => {
                Self::new(format!("could not reach Slipway: {message}"))
            }
            other => Self::new(other.to_string()),
        }
    }
}

/// Leptos' text encoding of a server error, `ServerError|<message>`.
pub struct AppErrorEncoding;

const WIRE_PREFIX: &str = "ServerError|";

impl ContentType for AppErrorEncoding {
    const CONTENT_TYPE: &'static str = "text/plain";
}

impl FormatType for AppErrorEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl Encodes<AppError> for AppErrorEncoding {
    type Error = std::convert::Infallible;

    fn encode(output: &AppError) -> Result<Bytes, Self::Error> {
        Ok(Bytes::from(format!("{WIRE_PREFIX}{}", output.message)))
    }
}

impl Decodes<AppError> for AppErrorEncoding {
    type Error = std::string::FromUtf8Error;

    /// Any `<Kind>|<message>` reads as its message; text without a kind
    /// (a proxy's error page, say) as itself.
    fn decode(bytes: Bytes) -> Result<AppError, Self::Error> {
        let text = String::from_utf8(bytes.to_vec())?;
        let message = match text.split_once('|') {
            Some((kind, message)) if is_kind(kind) => message.to_owned(),
            _ => text,
        };
        Ok(AppError::new(message))
    }
}

fn is_kind(word: &str) -> bool {
    !word.is_empty() && word.chars().all(|c| c.is_ascii_alphabetic())
}

#[cfg(feature = "ssr")]
fn set_status(status: u16) {
    if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        if let Ok(code) = http::StatusCode::from_u16(status) {
            response.set_status(code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_is_leptos_server_error_text() {
        let error = AppError::new("environment demo/x not found");
        let bytes = AppErrorEncoding::encode(&error).unwrap();
        assert_eq!(&bytes[..], b"ServerError|environment demo/x not found");
        assert_eq!(AppErrorEncoding::decode(bytes).unwrap(), error);
        // Another kind's text and a bare message read as their message.
        let other = AppErrorEncoding::decode(Bytes::from("Args|missing field `app`")).unwrap();
        assert_eq!(other.message(), "missing field `app`");
        let bare = AppErrorEncoding::decode(Bytes::from("Bad Gateway")).unwrap();
        assert_eq!(bare.message(), "Bad Gateway");
        // A message holding a bar keeps it.
        let barred = AppErrorEncoding::decode(Bytes::from("ServerError|a | b")).unwrap();
        assert_eq!(barred.message(), "a | b");
    }

    #[test]
    fn bad_arguments_read_as_a_bad_request() {
        let error =
            AppError::from_server_fn_error(ServerFnErrorErr::Args("missing field `env`".into()));
        assert_eq!(error.message(), "bad request: missing field `env`");
    }
}
