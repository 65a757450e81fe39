//! Request bodies, as extractors: the content-type rules, the size limits (the body limit, or the
//! smaller one of endpoints anyone may call), JSON parsing whose failures carry a reason, a line
//! and a column, the nesting depth limit, and for JSON Patch bodies the operation limit.
//! Handlers take a [`JsonBody`], an [`AnonymousJsonBody`] or a [`JsonPatchBody`] and get a value
//! that passed every one of those checks.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::StreamExt;
use json_patch::Patch;
use serde_json::Value;

use crate::error::ApiError;
use crate::limits::Limits;
use crate::state::AppState;

/// Media types accepted for PATCH bodies.
const PATCH_TYPES: &str = "application/json-patch+json or application/json";

/// A JSON body (`application/json` or another `+json` type) within the body limit.
pub struct JsonBody(pub Value);

/// A JSON body of an endpoint that needs no authentication: within the anonymous body limit.
pub struct AnonymousJsonBody(pub Value);

/// A JSON Patch body (`application/json-patch+json` or `application/json`) within the body and
/// operation limits.
pub struct JsonPatchBody(pub Patch);

/// Which content types a body may have.
#[derive(Clone, Copy)]
enum Accepts {
    Json,
    JsonPatch,
}

impl Accepts {
    fn check(self, req: &HttpRequest) -> Result<(), ApiError> {
        // A compressed body is not decoded: refused as such, not parsed as garbage.
        if let Some(encoding) = req.headers().get(CONTENT_ENCODING) {
            let encoding = encoding.to_str().unwrap_or_default().trim().to_ascii_lowercase();
            if encoding != "identity" {
                return Err(ApiError::UnsupportedMediaType {
                    given: format!("Content-Encoding {encoding}"),
                    expected: "a body without Content-Encoding",
                });
            }
        }
        let media = media_type(req);
        let accepted = match self {
            Self::Json => {
                media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
            }
            Self::JsonPatch => media == "application/json-patch+json" || media == "application/json",
        };
        if accepted {
            return Ok(());
        }
        let expected = match self {
            Self::Json => "application/json",
            Self::JsonPatch => PATCH_TYPES,
        };
        Err(ApiError::UnsupportedMediaType { given: media, expected })
    }
}

fn limits_of(req: &HttpRequest) -> Limits {
    req.app_data::<web::Data<AppState>>().map_or(Limits::DEFAULT, |state| state.limits)
}

/// Reads a JSON body: content type, size, syntax and depth. A large body is parsed only within
/// the server's budget of bytes being parsed at once, and holds its share until the request
/// ends: a parsed value takes many times the memory of its text.
fn read_json(
    req: &HttpRequest,
    payload: &mut Payload,
    accepts: Accepts,
    limit: impl Fn(&Limits) -> usize,
) -> impl Future<Output = Result<Value, ApiError>> + 'static {
    let limits = limits_of(req);
    let checked = accepts.check(req);
    let declared = declared_length(req);
    let payload = payload.take();
    let limit = limit(&limits);
    let request = req.clone();
    async move {
        checked?;
        let seconds = limits.body_timeout_secs;
        let bytes = tokio::time::timeout(Duration::from_secs(seconds), read_limited(payload, declared, limit))
            .await
            .map_err(|_| ApiError::RequestTimeout { seconds })??;
        if bytes.len() > UNBUDGETED_BYTES
            && let Some(state) = request.app_data::<web::Data<AppState>>()
        {
            let permit = state.body_budget.reserve(bytes.len()).await?;
            request.extensions_mut().insert(permit);
        }
        let value = parse(&bytes)?;
        limits.check_depth(&value)?;
        Ok(value)
    }
}

/// Bodies up to this size are parsed without reserving a share of the budget.
const UNBUDGETED_BYTES: usize = 64 * 1024;
impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read_json(req, payload, Accepts::Json, |limits| limits.max_body_bytes);
        Box::pin(async move { read.await.map(Self) })
    }
}

impl FromRequest for AnonymousJsonBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read_json(req, payload, Accepts::Json, |limits| limits.max_anonymous_body_bytes);
        Box::pin(async move { read.await.map(Self) })
    }
}

impl FromRequest for JsonPatchBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let max_operations = limits_of(req).max_patch_ops;
        let read = read_json(req, payload, Accepts::JsonPatch, |limits| limits.max_body_bytes);
        Box::pin(async move { crate::patch::parse_patch(read.await?, max_operations).map(Self) })
    }
}

/// The `Content-Length` the client declared, if any.
fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers().get(CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// Reads the whole payload, refusing (without reading further) one longer than `limit`.
async fn read_limited(mut payload: Payload, declared: Option<usize>, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || ApiError::PayloadTooLarge { limit, size: None };
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| ApiError::Parse { reason: error.to_string(), line: 0, column: 0 })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses bytes as JSON; errors say why and where.
pub fn parse(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|error| ApiError::Parse {
        reason: describe(&error),
        line: error.line(),
        column: error.column(),
    })
}

/// The media type of the request, lower-cased, without parameters such as `charset`.
fn media_type(req: &HttpRequest) -> String {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// serde_json's message without its trailing " at line L column C" (those are separate fields).
fn describe(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(cut) => message[..cut].to_owned(),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn parse_errors_locate_the_problem() {
        let Err(ApiError::Parse { reason, line, column }) = parse(b"{\n  \"a\": ,\n}") else {
            panic!("expected a parse error");
        };
        assert_eq!((line, column), (2, 8));
        assert_eq!(reason, "expected value");
    }

    fn kind_of(content_type: Option<&str>, accepts: Accepts) -> Option<&'static str> {
        let mut req = TestRequest::default();
        if let Some(content_type) = content_type {
            req = req.insert_header((CONTENT_TYPE, content_type));
        }
        accepts.check(&req.to_http_request()).err().map(|error| error.kind())
    }

    #[test]
    fn content_types() {
        assert_eq!(kind_of(Some("application/json; charset=utf-8"), Accepts::Json), None);
        assert_eq!(kind_of(Some("application/vnd.api+json"), Accepts::Json), None);
        assert_eq!(kind_of(Some("text/plain"), Accepts::Json), Some("unsupported_media_type"));
        assert_eq!(kind_of(None, Accepts::Json), Some("unsupported_media_type"));
        assert_eq!(kind_of(Some("application/json-patch+json"), Accepts::JsonPatch), None);
        assert_eq!(kind_of(Some("application/merge-patch+json"), Accepts::JsonPatch), Some("unsupported_media_type"));
    }

    #[test]
    fn encoded_bodies_are_refused_as_such() {
        let encoded = |encoding: &str| {
            let req = TestRequest::default()
                .insert_header((CONTENT_TYPE, "application/json"))
                .insert_header((CONTENT_ENCODING, encoding))
                .to_http_request();
            Accepts::Json.check(&req).err().map(|error| error.kind())
        };
        assert_eq!(encoded("gzip"), Some("unsupported_media_type"));
        assert_eq!(encoded("bogus"), Some("unsupported_media_type"));
        assert_eq!(encoded("Identity"), None);
    }

    #[actix_web::test]
    async fn bodies_over_the_limit_are_refused() {
        let (_, mut payload) = TestRequest::default().set_payload(vec![b' '; 100]).to_http_parts();
        assert_eq!(read_limited(Payload::take(&mut payload), None, 10).await.unwrap_err().kind(), "payload_too_large");
        let (_, mut payload) = TestRequest::default().set_payload(vec![b' '; 10]).to_http_parts();
        assert_eq!(read_limited(Payload::take(&mut payload), Some(10), 10).await.unwrap().len(), 10);
        let (_, mut payload) = TestRequest::default().to_http_parts();
        assert_eq!(
            read_limited(Payload::take(&mut payload), Some(11), 10).await.unwrap_err().kind(),
            "payload_too_large"
        );
    }
}
