//! `/healthz` (the process runs) and `/readyz` (the database answers).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").route(web::get().to(healthz)));
    cfg.service(web::resource("/readyz").route(web::get().to(readyz)));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if !state.is_store_ready() {
        return Err(ApiError::Unavailable);
    }
    state.store.ping().await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ok" })))
}
