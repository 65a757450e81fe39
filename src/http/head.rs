//! `HEAD` wherever `GET` works: a `HEAD` request is routed as the `GET` it stands for, and the
//! HTTP layer (which noted the method when it read the request) sends the answer's status and
//! headers without its body.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;

/// Routes `HEAD` as `GET`.
pub async fn as_get(
    mut request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if request.method() == Method::HEAD {
        request.head_mut().method = Method::GET;
    }
    next.call(request).await
}
