//! The metrics listener: `GET /metrics` on its own address (`DIALOGUE_METRICS_BIND`), never on
//! the public one. At each scrape it copies into the registry the figures the server keeps
//! anyway (store counters, actors in memory, the hot atomics of [`crate::metrics`]) and the
//! process's own (memory, CPU), then renders everything recorded.

use std::net::TcpListener;
use std::sync::atomic::Ordering;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::metrics::{
    ACTOR_STARTS, ACTOR_STOPS, ACTORS, COMMIT_QUEUE, FEED_LAST_EVENT_AGE, HOT, LIVE_FRAMES_SENT, LIVE_SESSIONS,
    PEER_HANDOFFS, PEER_PUSHES_LOST, PEER_REQUESTS, PEER_REVISIONS_PUSHED, REBASES, REVISIONS_COMMITTED,
    STORE_ROUND_TRIPS,
};
use crate::peers::PeerCounters;
use crate::state::AppState;
use crate::store::StoreCounters;

/// Starts the metrics listener on `listener`.
pub fn serve(listener: TcpListener, state: web::Data<AppState>) -> std::io::Result<Server> {
    crate::metrics::install();
    Ok(HttpServer::new(move || App::new().app_data(state.clone()).route("/metrics", web::get().to(scrape)))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run())
}

/// `GET /metrics`: the Prometheus text format.
async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    let counters = state.store.counters();
    metrics::counter!(STORE_ROUND_TRIPS).absolute(StoreCounters::get(&counters.round_trips));
    metrics::counter!(REVISIONS_COMMITTED).absolute(StoreCounters::get(&counters.revisions));
    metrics::gauge!(COMMIT_QUEUE).set(counters.queued_revisions.load(Ordering::Relaxed) as f64);
    metrics::gauge!(ACTORS).set(state.dialogues.running().await as f64);
    metrics::counter!(LIVE_FRAMES_SENT).absolute(HOT.frames_sent.load(Ordering::Relaxed));
    metrics::gauge!(LIVE_SESSIONS).set(HOT.live_sessions.load(Ordering::Relaxed) as f64);
    metrics::counter!(ACTOR_STARTS).absolute(HOT.actor_starts.load(Ordering::Relaxed));
    metrics::counter!(ACTOR_STOPS).absolute(HOT.actor_stops.load(Ordering::Relaxed));
    metrics::counter!(REBASES).absolute(HOT.rebases.load(Ordering::Relaxed));
    let peers = state.peers.counters();
    metrics::counter!(PEER_HANDOFFS, "path" => "link").absolute(PeerCounters::get(&peers.handoffs_sent));
    metrics::counter!(PEER_HANDOFFS, "path" => "database")
        .absolute(PeerCounters::get(&peers.handoffs_through_database));
    metrics::counter!(PEER_REVISIONS_PUSHED).absolute(PeerCounters::get(&peers.revisions_pushed));
    metrics::counter!(PEER_PUSHES_LOST).absolute(PeerCounters::get(&peers.pushes_lost));
    metrics::counter!(PEER_REQUESTS, "outcome" => "taken").absolute(PeerCounters::get(&peers.requests_received));
    metrics::counter!(PEER_REQUESTS, "outcome" => "refused").absolute(PeerCounters::get(&peers.requests_refused));
    let last_event = HOT.feed_last_event.load(Ordering::Relaxed);
    if last_event > 0 {
        let age = (crate::store::now_millis() - last_event).max(0) as f64 / 1000.0;
        metrics::gauge!(FEED_LAST_EVENT_AGE).set(age);
    }
    metrics_process::Collector::default().collect();
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(crate::metrics::render())
}
