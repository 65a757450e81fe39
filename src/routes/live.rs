//! `GET /projects/{p}/dialogues/{d}/live`: the WebSocket upgrade. Every check happens before the
//! upgrade, so a refusal is an ordinary JSON error response.

use super::table::RouteTable;
use actix_web::{HttpRequest, HttpResponse, web};

use super::context::InDialogue;
use crate::error::ApiError;
use crate::live::session::{self, SessionParams};

pub fn configure(routes: &mut RouteTable) {
    routes.at(["/projects/{project_id}/dialogues/{dialogue_id}/live"]).get(live);
}

/// Reads `?since=<n>`.
fn since(query: &str) -> Result<Option<i64>, ApiError> {
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if key == "since" {
            return value.parse::<i64>().ok().filter(|n| *n >= 0).map(Some).ok_or_else(|| {
                ApiError::invalid("minimum", "/since", format!("since must be a revision number, not {value:?}"))
            });
        }
    }
    Ok(None)
}

async fn live(req: HttpRequest, payload: web::Payload, dialogue: InDialogue) -> Result<HttpResponse, ApiError> {
    let since = since(req.query_string())?;
    // Only a real upgrade joins the dialogue (and is announced to its other sessions).
    actix_http::ws::handshake(req.head())
        .map_err(|error| ApiError::InvalidMessage(format!("A WebSocket upgrade was expected: {error}")))?;
    let not_found = dialogue.not_found();
    let InDialogue { ctx, project_id, dialogue_id, access, .. } = dialogue;
    let started = std::time::Instant::now();
    let actor = ctx.state.dialogues.actor(&dialogue_id).await?;
    let found = started.elapsed();
    let params = SessionParams {
        state: ctx.state,
        caller: ctx.caller,
        project_id,
        dialogue_id,
        since,
        can_edit: access.can_edit,
        actor,
    };
    let joined = session::join(params).await.map_err(|error| match error {
        ApiError::NotFound { .. } => not_found,
        other => other,
    })?;
    tracing::debug!(
        actor_ms = found.as_secs_f64() * 1e3,
        join_ms = (started.elapsed() - found).as_secs_f64() * 1e3,
        "live session joined (the join waits for a cold dialogue's load)"
    );
    match actix_ws::handle(&req, payload) {
        Ok((response, socket, stream)) => {
            actix_web::rt::spawn(session::run(socket, stream, joined));
            Ok(response)
        }
        Err(error) => {
            joined.abandon();
            Err(ApiError::InvalidMessage(format!("A WebSocket upgrade was expected: {error}")))
        }
    }
}
