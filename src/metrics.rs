//! Prometheus metrics, served on their own listener (`DIALOGUE_METRICS_BIND`), never on the
//! public one. Hot paths record through the `metrics` facade into one process-wide recorder;
//! figures the server already keeps (store counters, actors in memory) and the process's own
//! (memory, CPU) are read when Prometheus scrapes.

use std::net::TcpListener;
use std::sync::OnceLock;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;
use crate::store::StoreCounters;

/// Database commands the server sent (each one round trip).
pub const STORE_ROUND_TRIPS: &str = "dialogue_store_round_trips_total";
/// Revisions stored.
pub const REVISIONS_COMMITTED: &str = "dialogue_revisions_committed_total";
/// Dialogue actors in memory.
pub const ACTORS: &str = "dialogue_actors";

/// The process-wide recorder, installed on first use (a process may build several servers, as
/// the tests do; they share it).
fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics will be incomplete");
        }
        metrics::describe_counter!(STORE_ROUND_TRIPS, "Database commands sent (each one round trip)");
        metrics::describe_counter!(REVISIONS_COMMITTED, "Revisions stored");
        metrics::describe_gauge!(ACTORS, "Dialogue actors in memory");
        metrics_process::Collector::default().describe();
        handle
    })
}

/// Installs the recorder, so that what hot paths record from now on is kept.
pub fn install() {
    recorder();
}

/// Starts the metrics listener on `listener`.
pub fn serve(listener: TcpListener, state: web::Data<AppState>) -> std::io::Result<Server> {
    install();
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
    metrics::counter!(STORE_ROUND_TRIPS).absolute(StoreCounters::get(&counters.calls));
    metrics::counter!(REVISIONS_COMMITTED).absolute(StoreCounters::get(&counters.revisions));
    metrics::gauge!(ACTORS).set(state.dialogues.running().await as f64);
    metrics_process::Collector::default().collect();
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(recorder().render())
}
