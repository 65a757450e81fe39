//! The one table of API errors: every failure a client can see, its HTTP status and its stable
//! `type` string, rendered as the seed's `{"type","message","details"}` body everywhere
//! (REST responses and WebSocket `error` frames alike).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One entry of a `422 validation_error`'s `details.errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Programmatically usable kind, such as `required`, `type` or `readOnly`.
    #[serde(rename = "type")]
    pub kind: String,
    /// JSON Pointer into the request body (or, for PATCH, into the patched resource).
    pub path: String,
    /// Human readable explanation.
    pub message: String,
}

impl FieldError {
    /// Builds a field error from its three parts.
    pub fn new(kind: impl Into<String>, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { kind: kind.into(), path: path.into(), message: message.into() }
    }
}

/// The body every error response carries (the same in WebSocket `error` frames).
pub use dialogue_protocol::ErrorBody;

/// Every error `type` the API answers with (see [`ApiError::kind`]).
pub const ERROR_TYPES: [&str; 15] = [
    "parse_error",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "conflict",
    "patch_conflict",
    "precondition_failed",
    "payload_too_large",
    "unsupported_media_type",
    "validation_error",
    "invalid_message",
    "rate_limited",
    "unavailable",
    "internal_error",
];

/// Every error the API reports. Each variant maps to exactly one row of the contract's table.
#[allow(missing_docs)] // variant fields are the error's details, named as in the contract
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not valid JSON.
    #[error("Invalid JSON in request body")]
    Parse { reason: String, line: usize, column: usize },
    /// Missing, unknown, expired or revoked credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// Unknown resource; `details` carries the ids from the request.
    #[error("{message}")]
    NotFound { message: String, details: Value },
    /// Known path, wrong method.
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// Duplicate unique value, channel already taken, stale base revision.
    #[error("{message}")]
    Conflict { message: String, details: Value },
    /// A JSON Patch operation cannot apply to the current document.
    #[error("Patch operation {index} ({op} {path}) cannot be applied: {reason}")]
    PatchConflict { index: usize, op: String, path: String, reason: String },
    /// `If-Match` does not match the current revision.
    #[error("{message}")]
    PreconditionFailed { message: String, details: Value },
    /// A body, or a resource a write would make, over the configured limit.
    #[error("{}", too_large_message(*limit, *size))]
    PayloadTooLarge { limit: usize, size: Option<usize> },
    /// A JSON Patch whose operations, up to `index`, work over more than `limit` bytes of the
    /// document's own content (copied, replaced, removed, moved deeper).
    #[error(
        "Patch operation {index} takes the patch past {limit} bytes of existing content copied, replaced, removed or moved deeper; split it"
    )]
    PatchTooCostly { index: usize, limit: usize },
    /// The request's body did not arrive in time (`DIALOGUE_BODY_TIMEOUT_SECS`): a client that
    /// stalls mid-body would otherwise hold its connection for good.
    #[error("The request body did not arrive within {seconds} seconds")]
    RequestTimeout { seconds: u64 },
    /// Wrong `Content-Type`.
    #[error("Unsupported content type {given:?}; expected {expected}")]
    UnsupportedMediaType { given: String, expected: &'static str },
    /// A live-protocol frame that is malformed or out of place.
    #[error("{0}")]
    InvalidMessage(String),
    /// Valid JSON that breaks the schema.
    #[error("{}", validation_message(.0))]
    Validation(Vec<FieldError>),
    /// Too many requests; retry after the given number of seconds.
    #[error("Too many requests; retry in {retry_after} seconds")]
    RateLimited { retry_after: u64 },
    /// The database cannot be reached.
    #[error("The database is unavailable; retry shortly")]
    Unavailable,
    /// The server is too busy for this request now (a `503` like `Unavailable`).
    #[error("The server is busy; retry shortly")]
    Busy,
    /// The dialogue's actor stopped or restarted before it answered, or the process that owns
    /// the dialogue did not take a handed-over write up in time (a `503` like `Unavailable`).
    #[error("The dialogue was interrupted before it answered; retry shortly")]
    Interrupted,
    /// Anything else. The cause is logged, never sent.
    #[error("Internal server error")]
    Internal(#[source] anyhow::Error),
}

/// The message of a `422`: its first problem, and how many more there are.
fn validation_message(errors: &[FieldError]) -> String {
    let Some(first) = errors.first() else { return "The request is invalid".into() };
    let at = if first.path.is_empty() { "the document".to_owned() } else { first.path.clone() };
    match errors.len() {
        1 => format!("Invalid value at {at}: {}", first.message),
        n => format!("Invalid value at {at}: {} (and {} more problems)", first.message, n - 1),
    }
}

fn too_large_message(limit: usize, size: Option<usize>) -> String {
    match size {
        None => format!("The request body is larger than the limit of {limit} bytes"),
        Some(size) => format!("The change would make the resource {size} bytes long, over the limit of {limit} bytes"),
    }
}

/// Longest error message sent, in characters; longer ones are cut.
const MAX_MESSAGE_CHARS: usize = 200;
/// Longest string inside an error's `details`, in characters (values clients sent are echoed
/// there, and must not make the error as large as the request).
const MAX_DETAIL_CHARS: usize = 200;
/// Most items of a list inside an error's `details`.
const MAX_DETAIL_ITEMS: usize = 50;

/// Cuts `text` to at most `max` characters, the last of them an ellipsis marking the cut.
fn truncate(mut text: String, max: usize) -> String {
    if text.char_indices().nth(max).is_some()
        && let Some((cut, _)) = text.char_indices().nth(max.saturating_sub(1))
    {
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// `details` with every string and list bounded, so that an error body stays small (well under
/// 64 KiB) whatever the request held.
fn bounded(details: Value) -> Value {
    match details {
        Value::String(text) => Value::String(truncate(text, MAX_DETAIL_CHARS)),
        Value::Array(items) => Value::Array(items.into_iter().take(MAX_DETAIL_ITEMS).map(bounded).collect()),
        Value::Object(fields) => Value::Object(
            fields.into_iter().map(|(key, value)| (truncate(key, MAX_DETAIL_CHARS), bounded(value))).collect(),
        ),
        other => other,
    }
}

/// Seconds a client is told to wait when the database is unreachable.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

impl ApiError {
    /// For a write refused as a conflict, its error type as the metrics label it (`conflict`,
    /// `patch_conflict`); `None` for any other error.
    pub fn conflict_kind(&self) -> Option<&'static str> {
        match self {
            Self::Conflict { .. } => Some("conflict"),
            Self::PatchConflict { .. } => Some("patch_conflict"),
            _ => None,
        }
    }

    /// A `404` for a resource named by kind and id, with the id in `details` as the seed shows.
    pub fn not_found(kind: &str, id: &str) -> Self {
        Self::NotFound { message: format!("{kind} {id} not found"), details: json!({ "id": id }) }
    }

    /// A `409 conflict` with a message and no details.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict { message: message.into(), details: json!({}) }
    }

    /// A `422` with a single field error.
    pub fn invalid(kind: &str, path: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(kind, path, message)])
    }

    /// The error whose [`body`](Self::body) this is: how an error made by another server
    /// process (a write handed to it) reaches this one's client unchanged.
    pub fn from_body(body: ErrorBody) -> Self {
        let ErrorBody { kind, message, details } = body;
        let text = |key: &str| details.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        let number = |key: &str| details.get(key).and_then(Value::as_u64);
        let size = |key: &str| number(key).and_then(|n| usize::try_from(n).ok());
        match kind.as_str() {
            "forbidden" => Self::Forbidden(message),
            "not_found" => Self::NotFound { message, details },
            "conflict" => Self::Conflict { message, details },
            "precondition_failed" => Self::PreconditionFailed { message, details },
            "patch_conflict" => Self::PatchConflict {
                index: size("index").unwrap_or_default(),
                op: text("op"),
                path: text("path"),
                reason: text("reason"),
            },
            "payload_too_large" if details.get("operation").is_some() => Self::PatchTooCostly {
                index: size("operation").unwrap_or_default(),
                limit: size("limit").unwrap_or_default(),
            },
            "payload_too_large" => {
                Self::PayloadTooLarge { limit: size("limit").unwrap_or_default(), size: size("size") }
            }
            "validation_error" => Self::Validation(
                details
                    .get("errors")
                    .cloned()
                    .and_then(|errors| serde_json::from_value(errors).ok())
                    .unwrap_or_default(),
            ),
            "invalid_message" => Self::InvalidMessage(message),
            "rate_limited" => Self::RateLimited { retry_after: number("retry_after").unwrap_or(1) },
            "unavailable" => Self::Unavailable,
            _ => Self::Internal(anyhow::anyhow!("another process answered: {kind}: {message}")),
        }
    }

    /// A `500` that logs `cause` and tells the client nothing about it.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::Internal(cause.into())
    }

    /// The stable `type` string of this error.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Parse { .. } => "parse_error",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound { .. } => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict { .. } => "conflict",
            Self::PatchConflict { .. } => "patch_conflict",
            Self::PreconditionFailed { .. } => "precondition_failed",
            Self::PayloadTooLarge { .. } | Self::PatchTooCostly { .. } => "payload_too_large",
            Self::RequestTimeout { .. } => "request_timeout",
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::Validation(_) => "validation_error",
            Self::InvalidMessage(_) => "invalid_message",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable | Self::Busy | Self::Interrupted => "unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The body sent to clients, over HTTP or in a WebSocket `error` frame.
    pub fn body(&self) -> ErrorBody {
        let details = match self {
            Self::Parse { reason, line, column } => {
                json!({ "reason": reason, "line": line, "column": column })
            }
            Self::NotFound { details, .. }
            | Self::Conflict { details, .. }
            | Self::PreconditionFailed { details, .. } => details.clone(),
            Self::PatchConflict { index, op, path, reason } => {
                json!({ "index": index, "op": op, "path": path, "reason": reason })
            }
            Self::PayloadTooLarge { limit, size: None } => json!({ "limit": limit }),
            Self::PayloadTooLarge { limit, size: Some(size) } => json!({ "limit": limit, "size": size }),
            Self::PatchTooCostly { index, limit } => json!({ "limit": limit, "operation": index }),
            Self::RequestTimeout { seconds } => json!({ "timeout_secs": seconds }),
            Self::UnsupportedMediaType { given, expected } => {
                json!({ "content_type": given, "expected": expected })
            }
            Self::Validation(errors) => json!({ "errors": errors }),
            Self::RateLimited { retry_after } => json!({ "retry_after": retry_after }),
            Self::Unavailable | Self::Busy | Self::Interrupted => {
                json!({ "retry_after": UNAVAILABLE_RETRY_AFTER_SECS })
            }
            Self::Unauthorized(_)
            | Self::InvalidMessage(_)
            | Self::Forbidden(_)
            | Self::MethodNotAllowed
            | Self::Internal(_) => json!({}),
        };
        ErrorBody {
            kind: self.kind().to_owned(),
            message: truncate(self.to_string(), MAX_MESSAGE_CHARS),
            details: bounded(details),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Parse { .. } | Self::InvalidMessage(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } | Self::PatchConflict { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge { .. } | Self::PatchTooCostly { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable | Self::Busy | Self::Interrupted => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(cause) => tracing::error!(error = ?cause, "internal error"),
            Self::Unavailable => tracing::warn!("database unavailable"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::RateLimited { retry_after } => {
                response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            Self::Unavailable | Self::Busy | Self::Interrupted => {
                response.insert_header((header::RETRY_AFTER, UNAVAILABLE_RETRY_AFTER_SECS.to_string()));
            }
            Self::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            // The rest of the body may still come: the connection is not reused.
            Self::RequestTimeout { .. } => {
                response.force_close();
            }
            _ => {}
        }
        response.json(self.body())
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match error {
            StoreError::Duplicate { what } => Self::conflict(format!("{what} already exists")),
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                Self::Unavailable
            }
            StoreError::Other(cause) => Self::Internal(cause),
        }
    }
}

/// Maps any non-JSON error status that actix produced by itself to the matching API error.
pub fn for_status(status: StatusCode) -> ApiError {
    match status {
        StatusCode::NOT_FOUND => ApiError::NotFound { message: "Not found".into(), details: json!({}) },
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit: 0, size: None },
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::UnsupportedMediaType { given: String::new(), expected: "application/json" }
        }
        StatusCode::BAD_REQUEST => ApiError::Parse { reason: "Malformed request".into(), line: 0, column: 0 },
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized("Authentication required".into()),
        StatusCode::FORBIDDEN => ApiError::Forbidden("Not allowed".into()),
        StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable,
        _ => ApiError::Internal(anyhow::anyhow!("unexpected status {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_passed_on_by_its_body_is_the_same_error() {
        let errors = [
            ApiError::Forbidden("no".into()),
            ApiError::not_found("Dialogue", "d"),
            ApiError::conflict("taken"),
            ApiError::PreconditionFailed { message: "changed".into(), details: json!({ "revision_number": 3 }) },
            ApiError::PatchConflict { index: 1, op: "remove".into(), path: "/a".into(), reason: "missing".into() },
            ApiError::PayloadTooLarge { limit: 10, size: Some(20) },
            ApiError::PayloadTooLarge { limit: 10, size: None },
            ApiError::PatchTooCostly { index: 7, limit: 4096 },
            ApiError::Validation(vec![FieldError::new("type", "/title", "not a string")]),
            ApiError::InvalidMessage("base_revision 9 is ahead".into()),
            ApiError::RateLimited { retry_after: 3 },
            ApiError::Unavailable,
        ];
        for error in errors {
            let passed = ApiError::from_body(error.body());
            assert_eq!(passed.body(), error.body(), "{error:?}");
            assert_eq!(passed.status_code(), error.status_code(), "{error:?}");
        }
        let internal = ApiError::from_body(ApiError::internal(anyhow::anyhow!("secret")).body());
        assert_eq!(internal.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!internal.body().message.contains("secret"));
    }
}
