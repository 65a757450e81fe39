//! `/healthz` (the process runs) and `/readyz` (the database answers).

use super::table::RouteTable;
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

pub fn configure(routes: &mut RouteTable) {
    routes.at(["/healthz"]).get(healthz);
    routes.at(["/readyz"]).get(readyz);
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
