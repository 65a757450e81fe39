//! The scenarios against dialogue-server, one module each, and what they share: the counters,
//! the run's settings ([`Run`]) and the latency samples they return. Every scenario is bounded
//! in time (and in requests where it sends them open loop), talks to loopback only, and stops
//! by itself.
//!
//! Patches replace the text of a block owned by the editor, so the dialogue keeps its size
//! and concurrent editors never collide (their stale patches rebase cleanly). Each text carries
//! the time it was sent (`@<µs since start>@`), so whoever receives the revision can measure
//! broadcast latency without parsing the whole frame.
//!
//! A scenario calls [`Run::start_measuring`] once its setup is done (dialogues created,
//! sessions open), so the server metrics count the measured phase only.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use crate::api::Api;
use crate::metrics::MetricsProbe;
use crate::stats::{self, Recorder};

mod big;
mod cold;
mod fanout;
mod hot;
mod many;
mod reconnect;
mod rest;
mod session;
mod split;

pub use big::{big, big_dialogue};
pub use cold::cold;
pub use fanout::fanout;
pub use hot::hot;
pub use many::many;
pub use reconnect::reconnect;
pub use rest::rest;
pub use session::{editor, watcher};
pub use split::split;

/// Counters shared by every task of a run, read by the progress line.
#[derive(Default)]
pub struct Counters {
    /// Acknowledged revisions.
    pub committed: AtomicU64,
    /// Revisions received by sessions that did not make them.
    pub delivered: AtomicU64,
    /// Conflicts (retried).
    pub conflicts: AtomicU64,
    /// Other failures.
    pub errors: AtomicU64,
    /// Patches answered with an `error` frame of any type (conflicts included).
    pub refused: AtomicU64,
    /// Open loop: sends skipped because the window of unacknowledged patches was full (the
    /// server is not keeping up with the asked rate).
    pub skipped: AtomicU64,
    /// HTTP requests answered, or sessions opened.
    pub requests: AtomicU64,
    /// When the measured phase started (µs since the run's epoch; 0: at the start), for
    /// scenarios whose setup takes a while.
    pub measured_from_us: AtomicU64,
    /// When the measured phase ended (µs since the run's epoch; 0: when the scenario
    /// returned), for scenarios that do something else afterwards.
    pub measured_until_us: AtomicU64,
}

/// What one run needs.
#[derive(Clone)]
pub struct Run {
    /// Signed-in REST client of the first server process.
    pub api: Api,
    /// `http://host:port` of a second server process on the same database, when one runs.
    pub second_url: Option<String>,
    /// When patches' stamps count from.
    pub epoch: Instant,
    /// Stop sending after this.
    pub deadline: Instant,
    /// Shared counters.
    pub counters: Arc<Counters>,
    /// The servers' metrics, read when the measured phase starts and ends.
    pub metrics: Arc<MetricsProbe>,
    /// Sessions ask for `batch` frames (`?batch=true`).
    pub batch: bool,
}

impl Run {
    /// Marks the start of the measured phase: reads the servers' metrics now.
    pub async fn start_measuring(&self) {
        self.metrics.mark_start().await;
    }

    /// Marks the end of the measured phase, for scenarios that do more afterwards (otherwise
    /// it ends when the scenario returns).
    pub async fn stop_measuring(&self) {
        self.metrics.mark_end().await;
    }

    /// The second server's base URL, or an error telling how to start one.
    pub fn second_server(&self, scenario: &str) -> anyhow::Result<&str> {
        self.second_url.as_deref().ok_or_else(|| second_server_missing(scenario))
    }
}

/// The error of a scenario that needs a second server process when none was given.
pub fn second_server_missing(scenario: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the {scenario} scenario needs a second server process on the same database: \
         run it with `load-tests/run --servers 2 …` (dialogue-load: --second-url)"
    )
}

/// What a task measured: latency histograms (microseconds) and a few scenario figures.
#[derive(Default)]
pub struct Samples {
    /// Submit to ack (or request to response, connect to welcome).
    pub ack: Option<Recorder>,
    /// Submit to delivery elsewhere.
    pub broadcast: Option<Recorder>,
    /// big: REST `GET` of the dialogue while it is being edited.
    pub get: Option<Recorder>,
    /// cold: opening a session on a server that never loaded the dialogue, to its `welcome`.
    pub cold_load: Option<Recorder>,
    /// big: the size of the dialogue's JSON as created.
    pub dialogue_bytes: Option<u64>,
    /// cold: database round trips the loading server made per cold load, on average.
    pub cold_load_round_trips: Option<f64>,
    /// split: the acks of each server's editors, in server order (empty with one server).
    pub ack_by_server: Vec<Recorder>,
}

impl Samples {
    /// Empty ack and broadcast recorders.
    fn new() -> Self {
        Self { ack: Some(Recorder::default()), broadcast: Some(Recorder::default()), ..Self::default() }
    }

    /// Adds another task's samples to these.
    pub fn merge(&mut self, other: Samples) {
        self.dialogue_bytes = self.dialogue_bytes.or(other.dialogue_bytes);
        self.cold_load_round_trips = self.cold_load_round_trips.or(other.cold_load_round_trips);
        if self.ack_by_server.is_empty() {
            self.ack_by_server = other.ack_by_server;
        }
        let pairs = [
            (&mut self.ack, other.ack),
            (&mut self.broadcast, other.broadcast),
            (&mut self.get, other.get),
            (&mut self.cold_load, other.cold_load),
        ];
        for (mine, theirs) in pairs {
            match (mine.as_mut(), theirs) {
                (Some(mine), Some(theirs)) => mine.merge(theirs),
                (None, Some(theirs)) => *mine = Some(theirs),
                _ => {}
            }
        }
    }
}

/// The stats module's summary of a run's samples.
pub fn latency(h: &Option<Recorder>) -> stats::Latency {
    h.as_ref().map(Recorder::latency).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_merge() {
        let mut all = Samples::default();
        let mut one = Samples::new();
        one.ack.as_mut().unwrap().record(100);
        let mut two = Samples::new();
        two.ack.as_mut().unwrap().record(300);
        two.get = Some(Recorder::default());
        two.get.as_mut().unwrap().record(50);
        all.merge(one);
        all.merge(two);
        assert_eq!(all.ack.unwrap().len(), 2);
        assert_eq!(all.get.unwrap().len(), 1);
        assert!(all.cold_load.is_none());
    }
}
