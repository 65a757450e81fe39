//! Request bodies: content-type rules, and JSON parsing whose failures carry a reason, a line
//! and a column. The body size limit itself is enforced by actix's `PayloadConfig` before a
//! handler runs.

use actix_web::HttpRequest;
use actix_web::http::header::CONTENT_TYPE;
use serde_json::Value;

use crate::error::ApiError;

/// Media types accepted for PATCH bodies.
const PATCH_TYPES: &str = "application/json-patch+json or application/json";

/// Parses a JSON body sent as `application/json` (or another `+json` type).
pub fn json(req: &HttpRequest, body: &[u8]) -> Result<Value, ApiError> {
    let media = media_type(req);
    let is_json = media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType { given: media, expected: "application/json" });
    }
    parse(body)
}

/// Parses a PATCH body: `application/json-patch+json`, or plain `application/json`.
pub fn json_patch(req: &HttpRequest, body: &[u8]) -> Result<Value, ApiError> {
    let media = media_type(req);
    if media != "application/json-patch+json" && media != "application/json" {
        return Err(ApiError::UnsupportedMediaType { given: media, expected: PATCH_TYPES });
    }
    parse(body)
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
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn parse_errors_locate_the_problem() {
        let Err(ApiError::Parse { reason, line, column }) = parse(b"{\n  \"a\": ,\n}") else {
            panic!("expected a parse error");
        };
        assert_eq!((line, column), (2, 8));
        assert_eq!(reason, "expected value");
    }

    #[test]
    fn content_types() {
        let req =
            TestRequest::default().insert_header((CONTENT_TYPE, "application/json; charset=utf-8")).to_http_request();
        assert!(json(&req, b"{}").is_ok());
        let req = TestRequest::default().insert_header((CONTENT_TYPE, "text/plain")).to_http_request();
        assert_eq!(json(&req, b"{}").unwrap_err().kind(), "unsupported_media_type");
        let req = TestRequest::default().to_http_request();
        assert_eq!(json(&req, b"{}").unwrap_err().kind(), "unsupported_media_type");
        let req = TestRequest::default().insert_header((CONTENT_TYPE, "application/json-patch+json")).to_http_request();
        assert!(json_patch(&req, b"[]").is_ok());
        let req =
            TestRequest::default().insert_header((CONTENT_TYPE, "application/merge-patch+json")).to_http_request();
        assert_eq!(json_patch(&req, b"{}").unwrap_err().kind(), "unsupported_media_type");
    }
}
