//! The server's Prometheus metrics, as the harness reads them: scraping `GET /metrics` on every
//! server process at the start and at the end of a run's measured phase, and the figure the
//! reports are after, database round trips per committed revision.
//!
//! The text format is parsed by hand: every line that is not a comment is `name value`, or
//! `name{labels} value` (optionally followed by a timestamp). Samples of one name are summed.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;

/// Database commands the server sent (each one round trip).
pub const STORE_ROUND_TRIPS: &str = "dialogue_store_round_trips_total";
/// Revisions the server stored.
pub const REVISIONS_COMMITTED: &str = "dialogue_revisions_committed_total";

/// The sum of every sample named `name` in a Prometheus text exposition (`None`: no such
/// sample). Labels are ignored, so `name{a="1"} 2` and `name{a="2"} 3` give 5.
pub fn sample_sum(exposition: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in exposition.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else { continue };
        // `name_total` must not match `name`, nor `name_total_extra`.
        let rest = if let Some(labelled) = rest.strip_prefix('{') {
            match labelled.find('}') {
                Some(end) => &labelled[end + 1..],
                None => continue,
            }
        } else if rest.starts_with([' ', '\t']) {
            rest
        } else {
            continue;
        };
        let Some(value) = rest.split_whitespace().next().and_then(|value| value.parse::<f64>().ok()) else {
            continue;
        };
        *found.get_or_insert(0.0) += value;
    }
    found
}

/// The two counters round trips per revision is made of, at one moment, summed over servers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StoreTotals {
    /// `dialogue_store_round_trips_total`.
    pub round_trips: f64,
    /// `dialogue_revisions_committed_total`.
    pub revisions: f64,
}

impl StoreTotals {
    /// Reads both counters from one exposition (`None` when either is missing).
    pub fn parse(exposition: &str) -> Option<Self> {
        Some(Self {
            round_trips: sample_sum(exposition, STORE_ROUND_TRIPS)?,
            revisions: sample_sum(exposition, REVISIONS_COMMITTED)?,
        })
    }

    /// Both counters added up (two servers' totals).
    pub fn plus(self, other: Self) -> Self {
        Self { round_trips: self.round_trips + other.round_trips, revisions: self.revisions + other.revisions }
    }
}

/// What the store did during the measured phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoreWork {
    /// Database round trips.
    pub round_trips: f64,
    /// Revisions stored.
    pub revisions: f64,
}

impl StoreWork {
    /// The difference between two readings.
    pub fn between(start: StoreTotals, end: StoreTotals) -> Self {
        Self { round_trips: end.round_trips - start.round_trips, revisions: end.revisions - start.revisions }
    }

    /// Round trips per stored revision (`None` when no revision was stored).
    pub fn round_trips_per_revision(&self) -> Option<f64> {
        (self.revisions > 0.0).then(|| self.round_trips / self.revisions)
    }
}

/// Scrapes the metrics of every server process of a run; remembers the reading taken when the
/// measured phase started and the one taken when it ended.
pub struct MetricsProbe {
    urls: Vec<String>,
    http: reqwest::Client,
    start: Mutex<Option<StoreTotals>>,
    end: Mutex<Option<StoreTotals>>,
}

impl MetricsProbe {
    /// A probe over these `GET /metrics` URLs (none: every reading is `None`).
    pub fn new(urls: Vec<String>) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
        Self { urls, http, start: Mutex::new(None), end: Mutex::new(None) }
    }

    /// Whether any metrics URL was given.
    pub fn enabled(&self) -> bool {
        !self.urls.is_empty()
    }

    /// How many servers are scraped.
    pub fn servers(&self) -> usize {
        self.urls.len()
    }

    /// Reads one server's counters (`index` in the order the URLs were given).
    pub async fn read_one(&self, index: usize) -> anyhow::Result<StoreTotals> {
        let url = self.urls.get(index).with_context(|| format!("no metrics URL for server {}", index + 1))?;
        let response = self.http.get(url).send().await.with_context(|| format!("cannot scrape {url}"))?;
        anyhow::ensure!(response.status().is_success(), "{url}: {}", response.status());
        let text = response.text().await?;
        StoreTotals::parse(&text)
            .with_context(|| format!("{url} has no {STORE_ROUND_TRIPS} or no {REVISIONS_COMMITTED}"))
    }

    /// Reads every server's counters, summed (`None` without URLs, or when one fails: said on
    /// stderr).
    pub async fn read(&self) -> Option<StoreTotals> {
        if self.urls.is_empty() {
            return None;
        }
        let mut total = StoreTotals::default();
        for index in 0..self.urls.len() {
            match self.read_one(index).await {
                Ok(one) => total = total.plus(one),
                Err(error) => {
                    eprintln!("metrics: {error:#}");
                    return None;
                }
            }
        }
        Some(total)
    }

    /// The measured phase starts now (a later call replaces an earlier one).
    pub async fn mark_start(&self) {
        let reading = self.read().await;
        *self.start.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = reading;
    }

    /// The measured phase ends now (unless it already ended).
    pub async fn mark_end(&self) {
        if self.end.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).is_some() {
            return;
        }
        let reading = self.read().await;
        *self.end.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = reading;
    }

    /// What the store did between the two marks (`None` when either reading is missing).
    pub fn work(&self) -> Option<StoreWork> {
        let start = (*self.start.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))?;
        let end = (*self.end.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))?;
        Some(StoreWork::between(start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPOSITION: &str = "\
# HELP dialogue_store_round_trips_total Database commands sent (each one round trip)
# TYPE dialogue_store_round_trips_total counter
dialogue_store_round_trips_total 1520
# HELP dialogue_revisions_committed_total Revisions stored
# TYPE dialogue_revisions_committed_total counter
dialogue_revisions_committed_total 1000
dialogue_revisions_committed_total_extra 7
dialogue_actors 3
process_resident_memory_bytes 4.2e7
http_requests_total{method=\"GET\",status=\"200\"} 10 1700000000000
http_requests_total{method=\"PUT\",status=\"200\"} 5
";

    #[test]
    fn samples_are_read_by_exact_name_and_summed_over_labels() {
        assert_eq!(sample_sum(EXPOSITION, STORE_ROUND_TRIPS), Some(1520.0));
        assert_eq!(sample_sum(EXPOSITION, REVISIONS_COMMITTED), Some(1000.0), "a longer name is another metric");
        assert_eq!(sample_sum(EXPOSITION, "process_resident_memory_bytes"), Some(4.2e7));
        assert_eq!(sample_sum(EXPOSITION, "http_requests_total"), Some(15.0), "labels summed, timestamp ignored");
        assert_eq!(sample_sum(EXPOSITION, "dialogue_actor"), None, "a prefix is not a name");
        assert_eq!(sample_sum(EXPOSITION, "missing"), None);
    }

    #[test]
    fn totals_need_both_counters() {
        assert_eq!(StoreTotals::parse(EXPOSITION), Some(StoreTotals { round_trips: 1520.0, revisions: 1000.0 }));
        assert_eq!(StoreTotals::parse("dialogue_store_round_trips_total 3\n"), None);
    }

    #[test]
    fn round_trips_per_revision_is_the_ratio_of_the_differences_summed_over_servers() {
        let first = StoreTotals { round_trips: 100.0, revisions: 40.0 };
        let second = StoreTotals { round_trips: 50.0, revisions: 10.0 };
        let start = first.plus(second);
        let end = StoreTotals { round_trips: 400.0, revisions: 240.0 }
            .plus(StoreTotals { round_trips: 150.0, revisions: 60.0 });
        let work = StoreWork::between(start, end);
        assert_eq!(work, StoreWork { round_trips: 400.0, revisions: 250.0 });
        assert_eq!(work.round_trips_per_revision(), Some(1.6));
        let idle = StoreWork::between(start, start);
        assert_eq!(idle.round_trips_per_revision(), None, "no revision, no ratio");
    }

    #[tokio::test]
    async fn without_urls_there_is_no_reading() {
        let probe = MetricsProbe::new(Vec::new());
        probe.mark_start().await;
        probe.mark_end().await;
        assert!(!probe.enabled());
        assert_eq!(probe.work(), None);
    }
}
