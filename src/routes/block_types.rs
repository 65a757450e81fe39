//! `/block-types/` (extension): the registered block types and their schemas.

use actix_web::{HttpResponse, web};

use crate::auth::Caller;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(["/block-types/", "/block-types"]).route(web::get().to(list)));
}

async fn list(_caller: Caller, state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.schemas.block_types.describe())
}
