//! Prometheus metrics: every family is named here and recorded through this module. It depends
//! on nothing else in the crate, so that any part may count. The hottest counts (frames sent,
//! sessions, actor starts and stops, rebases) are plain process-wide atomics ([`HOT`]), copied
//! into the registry at each scrape so that counting costs nothing on the hot path; the rest
//! record through the `metrics` facade into one process-wide recorder, and only once it is
//! installed. `http::metrics_listener` serves them on their own listener
//! (`DIALOGUE_METRICS_BIND`, never the public one) and reads, at each scrape, the figures the
//! server already keeps (store counters, actors in memory) and the process's own.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// HTTP requests answered, by method, route pattern and status.
pub const HTTP_REQUESTS: &str = "dialogue_http_requests_total";
/// How long HTTP requests took, by method and route pattern.
pub const HTTP_DURATION: &str = "dialogue_http_request_duration_seconds";
/// Live sessions open.
pub const LIVE_SESSIONS: &str = "dialogue_live_sessions";
/// Frames written to live sessions.
pub const LIVE_FRAMES_SENT: &str = "dialogue_live_frames_sent_total";
/// Live sessions closed, by close code.
pub const LIVE_CLOSED: &str = "dialogue_live_sessions_closed_total";
/// Dialogue actors in memory.
pub const ACTORS: &str = "dialogue_actors";
/// Dialogue actors started.
pub const ACTOR_STARTS: &str = "dialogue_actor_starts_total";
/// Dialogue actors stopped.
pub const ACTOR_STOPS: &str = "dialogue_actor_stops_total";
/// Revisions stored.
pub const REVISIONS_COMMITTED: &str = "dialogue_revisions_committed_total";
/// Revisions per database write.
pub const COMMIT_BATCH: &str = "dialogue_commit_batch_revisions";
/// How long a database write of revisions took.
pub const COMMIT_DURATION: &str = "dialogue_store_commit_duration_seconds";
/// Revisions waiting for the shared committer.
pub const COMMIT_QUEUE: &str = "dialogue_commit_queue_revisions";
/// Database commands the server sent (each one round trip).
pub const STORE_ROUND_TRIPS: &str = "dialogue_store_round_trips_total";
/// Store calls that failed, by kind (`unavailable`, `duplicate`, `other`).
pub const STORE_ERRORS: &str = "dialogue_store_errors_total";
/// Stale live patches rebased over the revisions after their base.
pub const REBASES: &str = "dialogue_rebases_total";
/// Writes refused as conflicts, by error type (`conflict`, `patch_conflict`).
pub const CONFLICTS: &str = "dialogue_conflicts_total";
/// Seconds between a change and its arrival through the change feed (newest event).
pub const FEED_LAG: &str = "dialogue_feed_lag_seconds";
/// Seconds since the change feed last brought an event (it also grows while nothing changes).
pub const FEED_LAST_EVENT_AGE: &str = "dialogue_feed_last_event_age_seconds";
/// Times the change feed was opened again, by outcome (`resumed`, `restarted`).
pub const FEED_REOPENS: &str = "dialogue_feed_reopens_total";
/// Handoffs sent to other processes, by path (`link`: a peer link; `database`: the fallback).
pub const PEER_HANDOFFS: &str = "dialogue_peer_handoffs_total";
/// Revisions pushed to other processes over peer links.
pub const PEER_REVISIONS_PUSHED: &str = "dialogue_peer_revisions_pushed_total";
/// Pushes that did not arrive, followed by a `missed` handoff through the database.
pub const PEER_PUSHES_LOST: &str = "dialogue_peer_pushes_lost_total";
/// Requests to this process's peer listener, by outcome (`taken`, `refused`).
pub const PEER_REQUESTS: &str = "dialogue_peer_requests_total";
/// Webhook delivery attempts, by outcome (`delivered`, `retried`, `failed`).
pub const WEBHOOK_DELIVERIES: &str = "dialogue_webhook_deliveries_total";
/// Webhook deliveries waiting (pending), across processes.
pub const WEBHOOK_QUEUE: &str = "dialogue_webhook_queue_depth";
/// Age of the oldest pending webhook delivery.
pub const WEBHOOK_OLDEST: &str = "dialogue_webhook_oldest_pending_seconds";

/// The hottest counts, process-wide.
#[derive(Debug)]
pub struct Hot {
    /// Frames written to live sessions.
    pub frames_sent: AtomicU64,
    /// Live sessions open.
    pub live_sessions: AtomicI64,
    /// Dialogue actors started.
    pub actor_starts: AtomicU64,
    /// Dialogue actors stopped.
    pub actor_stops: AtomicU64,
    /// Stale patches rebased.
    pub rebases: AtomicU64,
    /// When the change feed last brought an event (milliseconds since the epoch; 0: never).
    pub feed_last_event: AtomicI64,
}

/// The hottest counts of this process.
pub static HOT: Hot = Hot {
    frames_sent: AtomicU64::new(0),
    live_sessions: AtomicI64::new(0),
    actor_starts: AtomicU64::new(0),
    actor_stops: AtomicU64::new(0),
    rebases: AtomicU64::new(0),
    feed_last_event: AtomicI64::new(0),
};

impl Hot {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The close labels: the server's codes (the protocol's own, `docs/protocol.md`, and 1000),
/// 1006 for a broken socket, `client` for a close the client started, `other` for the rest.
const CLOSE_CODES: [&str; 13] =
    ["1000", "1001", "1003", "1006", "1009", "1011", "4008", "4009", "4401", "4403", "4404", "client", "other"];

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether the recorder is installed: paths that would build labels for nothing check this.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Seconds, for latency histograms: from 0.5 ms to 10 s.
const SECONDS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Revisions per write: from one to the committer's largest command.
const REVISIONS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// The process-wide recorder, installed on first use (a process may build several servers, as
/// the tests do; they share it).
fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
            .and_then(|builder| builder.set_buckets_for_metric(Matcher::Full(COMMIT_BATCH.into()), REVISIONS))
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics will be incomplete");
        }
        describe();
        ENABLED.store(true, Ordering::Relaxed);
        handle
    })
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by method, route pattern and status");
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "How long HTTP requests took, by method and route pattern");
    describe_gauge!(LIVE_SESSIONS, "Live sessions open");
    describe_counter!(LIVE_FRAMES_SENT, "Frames written to live sessions");
    describe_counter!(
        LIVE_CLOSED,
        "Live sessions ended, by the server's close code; client: the client closed; 1006: the socket broke"
    );
    describe_gauge!(ACTORS, "Dialogue actors in memory");
    describe_counter!(ACTOR_STARTS, "Dialogue actors started");
    describe_counter!(ACTOR_STOPS, "Dialogue actors stopped");
    describe_counter!(REVISIONS_COMMITTED, "Revisions stored");
    describe_histogram!(COMMIT_BATCH, "Revisions per database write");
    describe_histogram!(COMMIT_DURATION, Unit::Seconds, "How long a database write of revisions took");
    describe_gauge!(COMMIT_QUEUE, "Revisions waiting for the shared committer");
    describe_counter!(STORE_ROUND_TRIPS, "Database commands sent (each one round trip)");
    describe_counter!(STORE_ERRORS, "Store calls that failed, by kind");
    describe_counter!(REBASES, "Stale live patches rebased over the revisions after their base");
    describe_counter!(CONFLICTS, "Writes refused as conflicts, by error type");
    describe_gauge!(FEED_LAG, Unit::Seconds, "Seconds between a change and its arrival through the change feed");
    describe_gauge!(FEED_LAST_EVENT_AGE, Unit::Seconds, "Seconds since the change feed last brought an event");
    describe_counter!(FEED_REOPENS, "Times the change feed was opened again, by outcome");
    describe_counter!(PEER_HANDOFFS, "Handoffs sent to other processes, by path");
    describe_counter!(PEER_REVISIONS_PUSHED, "Revisions pushed to other processes over peer links");
    describe_counter!(
        PEER_PUSHES_LOST,
        "Pushes of revisions that did not arrive; the process was told through the database"
    );
    describe_counter!(PEER_REQUESTS, "Requests to the peer listener, by outcome");
    describe_counter!(WEBHOOK_DELIVERIES, "Webhook delivery attempts, by outcome");
    describe_gauge!(WEBHOOK_QUEUE, "Webhook deliveries pending, across processes");
    describe_gauge!(WEBHOOK_OLDEST, Unit::Seconds, "Age of the oldest pending webhook delivery (0: none)");
    metrics_process::Collector::default().describe();
    // Families with labels appear once a first value is recorded; these start at zero.
    for kind in ["unavailable", "duplicate", "other"] {
        metrics::counter!(STORE_ERRORS, "kind" => kind).absolute(0);
    }
    for kind in ["conflict", "patch_conflict"] {
        metrics::counter!(CONFLICTS, "type" => kind).absolute(0);
    }
    for outcome in ["resumed", "restarted"] {
        metrics::counter!(FEED_REOPENS, "outcome" => outcome).absolute(0);
    }
    for code in CLOSE_CODES {
        metrics::counter!(LIVE_CLOSED, "code" => code).absolute(0);
    }
    for outcome in ["delivered", "retried", "failed"] {
        metrics::counter!(WEBHOOK_DELIVERIES, "outcome" => outcome).absolute(0);
    }
}

/// Installs the recorder, so that what is recorded from now on is kept.
pub fn install() {
    recorder();
}

/// Everything recorded so far, in the Prometheus text format.
pub fn render() -> String {
    recorder().render()
}

/// Counts a store call that failed, by kind (`unavailable`, `duplicate`, `other`).
pub fn store_error(kind: &'static str) {
    if enabled() {
        metrics::counter!(STORE_ERRORS, "kind" => kind).increment(1);
    }
}

/// Counts a webhook delivery attempt by how it ended.
pub fn webhook_delivery(outcome: &'static str) {
    if enabled() {
        metrics::counter!(WEBHOOK_DELIVERIES, "outcome" => outcome).increment(1);
    }
}

/// Records the webhook queue: how many deliveries are pending, and how old the oldest is
/// (milliseconds; `None` when none is).
pub fn webhook_queue(pending: u64, oldest_age_millis: Option<i64>) {
    if enabled() {
        metrics::gauge!(WEBHOOK_QUEUE).set(pending as f64);
        metrics::gauge!(WEBHOOK_OLDEST).set(oldest_age_millis.map_or(0.0, |age| age.max(0) as f64 / 1000.0));
    }
}

/// Counts a write refused as a conflict, by error type (`conflict`, `patch_conflict`); `None`
/// (a refusal of another kind) counts nothing.
pub fn conflict(kind: Option<&'static str>) {
    if let Some(kind) = kind.filter(|_| enabled()) {
        metrics::counter!(CONFLICTS, "type" => kind).increment(1);
    }
}

/// Counts a live session that ended: `None` when the client closed it (whatever code it chose:
/// clients must not be able to fake the server's closes), `Some(None)` when the socket broke,
/// `Some(Some(code))` when the server closed it with `code`.
pub fn session_closed(ending: Option<Option<u16>>) {
    if enabled() {
        let label = match ending {
            None => "client",
            Some(None) => "1006",
            Some(Some(code)) => CLOSE_CODES.iter().find(|known| known.parse() == Ok(code)).copied().unwrap_or("other"),
        };
        metrics::counter!(LIVE_CLOSED, "code" => label).increment(1);
    }
}

/// One open live session, counted in `dialogue_live_sessions` for as long as it lives (also
/// when its task ends early or unwinds).
pub struct OpenSession(());

impl OpenSession {
    /// Counts a session as open.
    pub fn count() -> Self {
        HOT.live_sessions.fetch_add(1, Ordering::Relaxed);
        Self(())
    }
}

impl Drop for OpenSession {
    fn drop(&mut self) {
        HOT.live_sessions.fetch_sub(1, Ordering::Relaxed);
    }
}
