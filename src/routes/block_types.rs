//! `/block-types/` (extension): the registered block types and their schemas.

use super::table::RouteTable;
use actix_web::{HttpResponse, web};

use crate::auth::Caller;
use crate::state::AppState;

pub fn configure(routes: &mut RouteTable) {
    routes.at(["/block-types/", "/block-types"]).get(list);
}

async fn list(_caller: Caller, state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.schemas.block_types.describe())
}
