//! A safety net: any error response that actix produced by itself (an unmatched method, an
//! oversized body, a malformed path) is rewritten into the contract's JSON error body, so that no
//! response is ever HTML or plain text.

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{CONTENT_TYPE, HeaderMap};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{ResponseError, web};

use crate::error::{self, ApiError};
use crate::state::AppState;

/// The middleware; wrap the whole app in it.
pub fn middleware<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(rewrite)
}

fn rewrite<B: MessageBody + 'static>(response: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    if is_json(response.headers()) {
        return Ok(ErrorHandlerResponse::Response(response.map_into_left_body()));
    }
    let status = response.status();
    let limit = response.request().app_data::<web::Data<AppState>>().map(|state| state.limits.max_body_bytes);
    let api_error = match error::for_status(status) {
        ApiError::PayloadTooLarge { .. } => ApiError::PayloadTooLarge { limit: limit.unwrap_or_default(), size: None },
        other => other,
    };
    let (request, original) = response.into_parts();
    let mut replacement = api_error.error_response();
    for (name, value) in original.headers() {
        if name != CONTENT_TYPE && !replacement.headers().contains_key(name) {
            replacement.headers_mut().insert(name.clone(), value.clone());
        }
    }
    let replaced: ServiceResponse<EitherBody<B, BoxBody>> =
        ServiceResponse::new(request, replacement).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(replaced))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}
