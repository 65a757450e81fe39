//! `GET /projects/{p}/dialogues/{d}/live`: the WebSocket upgrade. Every check happens before the
//! upgrade, so a refusal is an ordinary JSON error response.

use super::table::RouteTable;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};

use super::context::InDialogue;
use crate::error::ApiError;
use crate::live::session::{self, SessionParams};

pub fn configure(routes: &mut RouteTable) {
    routes.at(["/projects/{project_id}/dialogues/{dialogue_id}/live"]).get(live);
}

/// What the upgrade's query asks for.
#[derive(Debug, Default, PartialEq)]
struct LiveQuery {
    /// `?since=<n>`: the newest revision the client holds.
    since: Option<i64>,
    /// `?batch=true`: frames queued together may arrive in one `batch` frame.
    batch: bool,
}

impl LiveQuery {
    fn parse(query: &str) -> Result<Self, ApiError> {
        let mut parsed = Self::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                // The first `since` counts; later ones are ignored.
                "since" if parsed.since.is_none() => {
                    let since = value.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                        ApiError::invalid(
                            "minimum",
                            "/since",
                            format!("since must be a revision number, not {value:?}"),
                        )
                    })?;
                    parsed.since = Some(since);
                }
                "batch" => parsed.batch = crate::http::flag::parse("batch", &value)?,
                _ => {}
            }
        }
        Ok(parsed)
    }
}

async fn live(req: HttpRequest, payload: web::Payload, dialogue: InDialogue) -> Result<HttpResponse, ApiError> {
    let LiveQuery { since, batch } = LiveQuery::parse(req.query_string())?;
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
        batch,
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
    // The codec sees the client's bytes counted (`live/inbound.rs`).
    let (mut counted, unread) = crate::live::inbound::counted(payload.into_inner());
    let payload = match web::Payload::from_request(&req, &mut counted).into_inner() {
        Ok(payload) => payload,
        Err(error) => {
            joined.abandon();
            return Err(ApiError::internal(anyhow::anyhow!("the request's payload: {error}")));
        }
    };
    match actix_ws::handle(&req, payload) {
        Ok((response, socket, stream)) => {
            actix_web::rt::spawn(session::run(socket, stream, unread, joined));
            Ok(response)
        }
        Err(error) => {
            joined.abandon();
            Err(ApiError::InvalidMessage(format!("A WebSocket upgrade was expected: {error}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_reads_since_and_batch_and_refuses_what_is_neither_a_number_nor_a_flag() {
        assert_eq!(LiveQuery::parse("").unwrap(), LiveQuery::default());
        assert_eq!(LiveQuery::parse("since=7&batch=true").unwrap(), LiveQuery { since: Some(7), batch: true });
        assert_eq!(LiveQuery::parse("batch=false&access_token=x").unwrap(), LiveQuery::default());
        assert!(LiveQuery::parse("since=-1").is_err());
        assert_eq!(LiveQuery::parse("since=3&since=x").unwrap().since, Some(3), "the first since counts");
        assert!(LiveQuery::parse("batch=1").is_err());
    }
}
