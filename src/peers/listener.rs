//! The peer listener: `POST /peer/messages` on its own address (`DIALOGUE_PEER_BIND`), never on
//! the public one. It checks the signature, then hands each message to the dialogue's actor as
//! the change feed would: pushed revisions to a running actor, handoffs to the actor it starts
//! if needed.

use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::StreamExt;

use super::{PROCESS_HEADER, PeerBatch, Peers, SIGNATURE_HEADER, TIME_HEADER};
use crate::dialogue::Dialogues;
use crate::dialogue::messages::External;

/// The largest request taken (a link gathers a few MiB into one; a larger part goes alone).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
/// Connections the listener holds at once at most: with the body limit, what unsigned
/// requests can make it hold.
const MAX_CONNECTIONS: usize = 32;
/// How long a request's body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the route needs.
struct Listener {
    peers: Peers,
    dialogues: Dialogues,
}

/// Starts the peer listener on `listener`.
pub fn serve(listener: TcpListener, peers: Peers, dialogues: Dialogues) -> std::io::Result<Server> {
    let state = web::Data::new(Listener { peers, dialogues });
    Ok(HttpServer::new(move || {
        App::new().app_data(state.clone()).route(super::MESSAGES_PATH, web::post().to(messages))
    })
    .workers(1)
    .max_connections(MAX_CONNECTIONS)
    .tcp_nodelay(true)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run())
}

/// `POST /peer/messages`: `204` once every message is on its way to its actor; `401` for a
/// request not signed with the peer key (or signed too long ago: checked from the headers
/// before any of the body is read), `413` for a body over [`MAX_REQUEST_BYTES`], `400` for an
/// unreadable one.
async fn messages(request: HttpRequest, mut payload: web::Payload, state: web::Data<Listener>) -> HttpResponse {
    let header = |name: &str| request.headers().get(name).and_then(|value| value.to_str().ok()).unwrap_or_default();
    let counters = state.peers.counters();
    let refuse = |response: HttpResponse, why: &str| {
        counters.requests_refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(peer = header(PROCESS_HEADER), why, "a peer request refused");
        response
    };
    let Some(mut verifier) = state.peers.verifier(header(TIME_HEADER), header(SIGNATURE_HEADER)) else {
        return refuse(HttpResponse::Unauthorized().finish(), "no signature, or signed too long ago");
    };
    let mut body = web::BytesMut::new();
    let read = tokio::time::timeout(BODY_TIMEOUT, async {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| "the body broke off")?;
            if body.len() + chunk.len() > MAX_REQUEST_BYTES {
                return Err("the body is too large");
            }
            verifier.update(&chunk);
            body.extend_from_slice(&chunk);
        }
        Ok(())
    })
    .await;
    match read {
        Ok(Ok(())) => {}
        Ok(Err(why)) => return refuse(HttpResponse::PayloadTooLarge().finish(), why),
        Err(_) => return refuse(HttpResponse::RequestTimeout().finish(), "the body took too long"),
    }
    if !verifier.verifies() {
        return refuse(HttpResponse::Unauthorized().finish(), "a bad signature");
    }
    let batch: PeerBatch = match mongodb::bson::from_slice(&body) {
        Ok(batch) => batch,
        Err(_) => return refuse(HttpResponse::BadRequest().finish(), "an unreadable body"),
    };
    counters.requests_received.fetch_add(1, Ordering::Relaxed);
    for part in batch.parts {
        state.dialogues.forward_revisions(part.revisions);
        for handoff in part.handoffs {
            if handoff.to != state.peers.me() {
                continue;
            }
            // A replayed write (the same signed bytes again) is dropped by the actor, which takes
            // each handed-off write once, whichever way and however often it arrives.
            state.dialogues.deliver(handoff.dialogue_id.clone(), External::Handoff(handoff));
        }
    }
    HttpResponse::NoContent().finish()
}
