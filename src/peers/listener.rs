//! The peer listener: `POST /peer/messages` on its own address (`DIALOGUE_PEER_BIND`), never on
//! the public one. It checks the signature, then hands each message to the dialogue's actor as
//! the change feed would: pushed revisions to a running actor, handoffs to the actor it starts
//! if needed.

use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use super::{PROCESS_HEADER, PeerBatch, Peers, SIGNATURE_HEADER, TIME_HEADER};
use crate::dialogue::Dialogues;
use crate::dialogue::messages::External;
use crate::store::HandoffKind;

/// The largest request taken: a link gathers at most [`super::link`]'s share of it.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;
/// How long a handed-off write's id is remembered, to take a replayed request only once.
const REMEMBERED: Duration = Duration::from_secs(2 * super::MAX_CLOCK_SKEW_MILLIS as u64 / 1000);

/// What the route needs.
struct Listener {
    peers: Peers,
    dialogues: Dialogues,
    /// Ids of handed-off writes taken recently.
    taken: moka::sync::Cache<String, ()>,
}

/// Starts the peer listener on `listener`.
pub fn serve(listener: TcpListener, peers: Peers, dialogues: Dialogues) -> std::io::Result<Server> {
    let taken = moka::sync::Cache::builder().max_capacity(1_000_000).time_to_live(REMEMBERED).build();
    let state = web::Data::new(Listener { peers, dialogues, taken });
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(MAX_REQUEST_BYTES))
            .route(super::MESSAGES_PATH, web::post().to(messages))
    })
    .workers(1)
    .tcp_nodelay(true)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run())
}

/// `POST /peer/messages`: `204` once every message is on its way to its actor; `401` for a
/// request not signed with the peer key (or signed too long ago), `400` for an unreadable body.
async fn messages(request: HttpRequest, body: web::Bytes, state: web::Data<Listener>) -> HttpResponse {
    let header = |name: &str| request.headers().get(name).and_then(|value| value.to_str().ok()).unwrap_or_default();
    let counters = state.peers.counters();
    if !state.peers.verify(header(TIME_HEADER), &body, header(SIGNATURE_HEADER)) {
        counters.requests_refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(peer = header(PROCESS_HEADER), "a peer request with a bad signature; refused");
        return HttpResponse::Unauthorized().finish();
    }
    let batch: PeerBatch = match mongodb::bson::from_slice(&body) {
        Ok(batch) => batch,
        Err(error) => {
            counters.requests_refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(peer = header(PROCESS_HEADER), error = %error, "an unreadable peer request; refused");
            return HttpResponse::BadRequest().finish();
        }
    };
    counters.requests_received.fetch_add(1, Ordering::Relaxed);
    state.dialogues.forward_revisions(batch.revisions);
    for handoff in batch.handoffs {
        if handoff.to != state.peers.me() {
            continue;
        }
        if handoff.kind == HandoffKind::Write {
            // A replayed request (the same signed bytes again) must not store a write twice.
            if state.taken.contains_key(&handoff.id) {
                continue;
            }
            state.taken.insert(handoff.id.clone(), ());
        }
        state.dialogues.deliver(handoff.dialogue_id.clone(), External::Handoff(handoff));
    }
    HttpResponse::NoContent().finish()
}
