//! Measurements: latency histograms (HDR), process CPU and memory read from `/proc`, and the
//! per-run result that the reports are made of.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies in microseconds, from 1 µs to 10 minutes, 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

/// How many samples a [`Recorder`] keeps as they are before it builds a histogram.
const FEW_SAMPLES: usize = 512;

/// Latencies in microseconds, recorded by one task. A histogram is about 170 KiB, and the `many`
/// scenario runs 18,000 editors that see a sample or two each: one histogram per editor took
/// 6 GiB and stalled the harness's runtime for seconds (page faults) just as the measured phase
/// began. So a recorder keeps its first samples in a short list and builds the histogram only
/// once it has more.
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    few: Vec<u64>,
    many: Option<Histogram<u64>>,
}

impl Recorder {
    /// Records one latency (clamped to the histogram's range).
    pub fn record(&mut self, micros: u64) {
        match self.many.as_mut() {
            Some(many) => many.saturating_record(micros),
            None if self.few.len() < FEW_SAMPLES => self.few.push(micros),
            None => {
                let mut many = histogram();
                for sample in self.few.drain(..).chain([micros]) {
                    many.saturating_record(sample);
                }
                self.few = Vec::new();
                self.many = Some(many);
            }
        }
    }

    /// Adds another task's samples to these.
    pub fn merge(&mut self, other: Recorder) {
        for sample in other.few {
            self.record(sample);
        }
        if let Some(theirs) = other.many {
            match self.many.as_mut() {
                Some(mine) => {
                    let _ = mine.add(&theirs);
                }
                None => {
                    let mut mine = theirs;
                    for sample in self.few.drain(..) {
                        mine.saturating_record(sample);
                    }
                    self.few = Vec::new();
                    self.many = Some(mine);
                }
            }
        }
    }

    /// How many samples were recorded.
    pub fn len(&self) -> u64 {
        self.few.len() as u64 + self.many.as_ref().map_or(0, Histogram::len)
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The distribution of what was recorded.
    pub fn latency(&self) -> Latency {
        match &self.many {
            Some(many) => Latency::of(many),
            None => {
                let mut all = histogram();
                for &sample in &self.few {
                    all.saturating_record(sample);
                }
                Latency::of(&all)
            }
        }
    }
}

/// A latency distribution, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Worst.
    pub max_ms: f64,
}

impl Latency {
    /// Summarizes a histogram of microseconds.
    fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// CPU time and memory of a process, from `/proc`.
#[derive(Debug, Clone, Copy)]
pub struct ProcSample {
    cpu_ticks: u64,
    at: Instant,
}

/// What a process used over a run.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct ProcUsage {
    /// Average cores busy (1.0 = one core fully).
    pub cpu_cores: f64,
    /// Resident memory at the end, MiB.
    pub rss_mib: f64,
    /// Peak resident memory, MiB.
    pub rss_peak_mib: f64,
}

impl ProcUsage {
    /// Several processes' usage added up: CPU and resident memory summed, and the peaks summed
    /// too (an upper bound: the processes may peak at different moments).
    pub fn sum(usages: &[ProcUsage]) -> Self {
        usages.iter().fold(Self::default(), |total, one| Self {
            cpu_cores: total.cpu_cores + one.cpu_cores,
            rss_mib: total.rss_mib + one.rss_mib,
            rss_peak_mib: total.rss_peak_mib + one.rss_peak_mib,
        })
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ; 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

fn stat_path(pid: Option<u32>) -> String {
    pid.map_or_else(|| "/proc/self/stat".to_owned(), |pid| format!("/proc/{pid}/stat"))
}

impl ProcSample {
    /// Reads a process's CPU time now (`None`: this process).
    pub fn now(pid: Option<u32>) -> Option<Self> {
        let stat = std::fs::read_to_string(stat_path(pid)).ok()?;
        // Fields after the command name (which may contain spaces) start at ") ".
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some(Self { cpu_ticks: utime + stime, at: Instant::now() })
    }

    /// Usage between this sample and now.
    pub fn usage_since(&self, pid: Option<u32>) -> ProcUsage {
        let Some(end) = Self::now(pid) else { return ProcUsage::default() };
        let seconds = end.at.duration_since(self.at).as_secs_f64().max(1e-9);
        let cpu = (end.cpu_ticks.saturating_sub(self.cpu_ticks)) as f64 / TICKS_PER_SECOND;
        let status = std::fs::read_to_string(
            pid.map_or_else(|| "/proc/self/status".to_owned(), |p| format!("/proc/{p}/status")),
        )
        .unwrap_or_default();
        let kib = |name: &str| {
            status
                .lines()
                .find(|line| line.starts_with(name))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        ProcUsage { cpu_cores: cpu / seconds, rss_mib: kib("VmRSS:") / 1024.0, rss_peak_mib: kib("VmHWM:") / 1024.0 }
    }
}

/// The result of one run (one scenario at one client count).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct RunResult {
    /// `dialogue-server` or `sharedb`.
    pub target: String,
    /// `hot`, `fanout`, `many`, `rest`, `reconnect`, `big`, `cold`, `split`.
    pub scenario: String,
    /// Editors (or watchers, or HTTP clients) in this run; for `cold`, revisions per dialogue.
    pub clients: usize,
    /// Open-loop rate asked for, patches/s (0: closed loop).
    pub rate: f64,
    /// Measured seconds.
    pub seconds: f64,
    /// Revisions (ops) acknowledged as stored.
    pub committed: u64,
    /// Committed per second.
    pub committed_per_s: f64,
    /// Frames delivered to other sessions (revisions seen by someone who did not make them).
    pub deliveries: u64,
    /// Deliveries per second.
    pub deliveries_per_s: f64,
    /// HTTP requests answered (REST) or sessions opened (reconnect).
    pub requests: u64,
    /// Requests per second.
    pub requests_per_s: f64,
    /// Submit to `ack` (or request to response).
    pub ack: Latency,
    /// Submit to another session receiving the revision.
    pub broadcast: Latency,
    /// Refused as conflicts (then retried).
    pub conflicts: u64,
    /// Anything else that failed.
    pub errors: u64,
    /// Patches answered with an `error` frame of any type, conflicts included.
    #[serde(default)]
    pub refused: u64,
    /// Open-loop sends skipped because too many patches were unacknowledged.
    #[serde(default)]
    pub skipped: u64,
    /// Database round trips during the measured phase, summed over the server processes
    /// (`dialogue_store_round_trips_total`; `None` without metrics, as for ShareDB).
    #[serde(default)]
    pub store_round_trips: Option<u64>,
    /// Revisions stored during the measured phase, summed over the server processes
    /// (`dialogue_revisions_committed_total`; `None` without metrics).
    #[serde(default)]
    pub revisions_stored: Option<u64>,
    /// `store_round_trips / revisions_stored` (`None` without metrics or without revisions).
    #[serde(default)]
    pub round_trips_per_revision: Option<f64>,
    /// big: REST `GET` of the whole dialogue while it is edited.
    #[serde(default)]
    pub get: Latency,
    /// big: the size of the dialogue's JSON as created, in bytes.
    #[serde(default)]
    pub dialogue_bytes: Option<u64>,
    /// cold: from opening a WebSocket on a server that never loaded the dialogue to `welcome`.
    #[serde(default)]
    pub cold_load: Latency,
    /// cold: database round trips the loading server made per cold load, on average.
    #[serde(default)]
    pub cold_load_round_trips: Option<f64>,
    /// split: the acks of each server's editors, in server order (empty with one server).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ack_by_server: Vec<Latency>,
    /// The server's CPU and memory: every server process's added up (see [`ProcUsage::sum`]).
    pub server: ProcUsage,
    /// Each server process's CPU and memory, in the order their pids were given.
    #[serde(default)]
    pub servers: Vec<ProcUsage>,
    /// The harness's own CPU (a saturated client shows here).
    pub client_cpu_cores: f64,
}

/// Time since the harness started, in microseconds: the stamps patches carry.
pub fn micros_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// A duration in microseconds for a histogram (at least 1).
pub fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recorder's figures are those of one histogram of every sample, however its samples
    /// were split between short lists and histograms.
    #[test]
    fn a_recorder_reads_like_one_histogram_of_everything() {
        let samples: Vec<u64> = (1..=3 * FEW_SAMPLES as u64).map(|n| n * 37 % 10_007 + 1).collect();
        let mut whole = histogram();
        for &sample in &samples {
            whole.record(sample).unwrap();
        }
        let mut merged = Recorder::default();
        // A few into one (kept as a list), many into another (spilled), merged both ways.
        let (few, many) = samples.split_at(10);
        let mut small = Recorder::default();
        few.iter().for_each(|&s| small.record(s));
        let mut large = Recorder::default();
        many.iter().for_each(|&s| large.record(s));
        assert!(small.many.is_none() && large.many.is_some());
        merged.merge(small);
        merged.merge(large);
        let expected = Latency::of(&whole);
        let got = merged.latency();
        assert_eq!(merged.len(), samples.len() as u64);
        assert_eq!(
            (got.p50_ms, got.p95_ms, got.p99_ms, got.max_ms),
            (expected.p50_ms, expected.p95_ms, expected.p99_ms, expected.max_ms)
        );
        assert!(Recorder::default().is_empty());
    }
}
