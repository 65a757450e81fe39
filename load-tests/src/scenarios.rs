//! The scenarios against dialogue-server. Every scenario is bounded in time (and in requests
//! where it sends them open loop), talks to loopback only, and stops by itself.
//!
//! Patches replace the text of a block owned by the editor, so the dialogue keeps its size
//! and concurrent editors never collide (their stale patches rebase cleanly). Each text carries
//! the time it was sent (`@<µs since start>@`), so whoever receives the revision can measure
//! broadcast latency without parsing the whole frame.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::api::Api;
use crate::client::LiveClient;
use crate::stats::{self, histogram, micros, micros_since};

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
    /// Open loop: sends skipped because the window of unacknowledged patches was full (the
    /// server is not keeping up with the asked rate).
    pub skipped: AtomicU64,
    /// HTTP requests answered, or sessions opened.
    pub requests: AtomicU64,
    /// When the measured phase started (µs since the run's epoch; 0: at the start), for
    /// scenarios whose setup takes a while.
    pub measured_from_us: AtomicU64,
}

/// What one run needs.
#[derive(Clone)]
pub struct Run {
    /// Signed-in REST client.
    pub api: Api,
    /// When patches' stamps count from.
    pub epoch: Instant,
    /// Stop sending after this.
    pub deadline: Instant,
    /// Shared counters.
    pub counters: Arc<Counters>,
}

/// Histograms a task returns.
#[derive(Default)]
pub struct Samples {
    /// Submit to ack.
    pub ack: Option<Histogram<u64>>,
    /// Submit to delivery elsewhere.
    pub broadcast: Option<Histogram<u64>>,
}

impl Samples {
    fn new() -> Self {
        Self { ack: Some(histogram()), broadcast: Some(histogram()) }
    }

    /// Adds another task's samples to these.
    pub fn merge(&mut self, other: Samples) {
        for (mine, theirs) in [(&mut self.ack, other.ack), (&mut self.broadcast, other.broadcast)] {
            match (mine.as_mut(), theirs) {
                (Some(mine), Some(theirs)) => {
                    let _ = mine.add(&theirs);
                }
                (None, Some(theirs)) => *mine = Some(theirs),
                _ => {}
            }
        }
    }
}

/// A server frame, read cheaply: its type, revision number, `ref`, and stamp.
struct Scan<'a> {
    kind: &'a str,
    number: Option<i64>,
    reference: Option<&'a str>,
    stamp: Option<u64>,
}

fn after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.find(key).map(|at| &text[at + key.len()..])
}

fn scan(text: &str) -> Scan<'_> {
    // The server writes `type` first; anything else falls back to a full parse below.
    let kind = text.strip_prefix("{\"type\":\"").and_then(|rest| rest.split('"').next()).unwrap_or_else(|| {
        if text.contains("\"type\":\"ack\"") {
            "ack"
        } else if text.contains("\"type\":\"error\"") {
            "error"
        } else if text.contains("\"type\":\"revision\"") {
            "revision"
        } else {
            "other"
        }
    });
    let number = after(text, "\"number\":")
        .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect::<String>())
        .and_then(|digits| digits.parse().ok());
    let reference = after(text, "\"ref\":\"").and_then(|rest| rest.split('"').next());
    let stamp =
        after(text, "\"value\":\"@").and_then(|rest| rest.split('@').next()).and_then(|digits| digits.parse().ok());
    Scan { kind, number, reference, stamp }
}

/// The patch frame replacing block `block`'s text, stamped now.
fn patch_frame(run: &Run, reference: &str, base: i64, block: usize, n: u64) -> String {
    let text = format!("@{}@{block}-{n}", micros_since(run.epoch));
    json!({
        "type": "patch",
        "ref": reference,
        "base_revision": base,
        "patch": [{ "op": "replace", "path": format!("/sequences/0/blocks/{block}/properties/text"), "value": text }],
    })
    .to_string()
}

/// Opens a live session.
async fn open(run: &Run, project: &str, dialogue: &str) -> anyhow::Result<(LiveClient, i64)> {
    let (client, welcome) = LiveClient::connect(&run.api.base, project, dialogue, &run.api.token, None).await?;
    Ok((client, welcome.revision.number))
}

/// An editor: submits a patch, waits for its ack, repeats (closed loop); or submits at a fixed
/// rate whatever the acks (open loop, latency measured from the scheduled time, at most
/// `window` unacknowledged).
pub async fn editor(
    run: Arc<Run>,
    client: LiveClient,
    mut newest: i64,
    block: usize,
    interval: Option<Duration>,
    window: usize,
    first_send: Instant,
) -> Samples {
    let mut samples = Samples::new();
    let (mut sink, mut stream) = client.into_inner().split();
    let mut sent: HashMap<u64, Instant> = HashMap::new();
    let mut n: u64 = 0;
    let mut ticker = interval.map(|period| {
        let mut ticker = tokio::time::interval_at(first_send.into(), period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        ticker
    });
    let mut next_due = first_send;
    loop {
        let now = Instant::now();
        let sending = now < run.deadline;
        if !sending && sent.is_empty() {
            break;
        }
        // Closed loop: send when nothing is outstanding.
        if ticker.is_none() && sending && sent.is_empty() {
            n += 1;
            let frame = patch_frame(&run, &n.to_string(), newest, block, n);
            sent.insert(n, Instant::now());
            if sink.send(Message::text(frame)).await.is_err() {
                run.counters.errors.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
        let tick = async {
            match ticker.as_mut() {
                Some(ticker) if sending => {
                    ticker.tick().await;
                }
                _ => std::future::pending::<()>().await,
            }
        };
        let grace = run.deadline + Duration::from_secs(10);
        tokio::select! {
            () = tick => {
                if sent.len() < window {
                    n += 1;
                    let scheduled = next_due;
                    next_due += interval.unwrap_or_default();
                    let frame = patch_frame(&run, &n.to_string(), newest, block, n);
                    sent.insert(n, scheduled.min(Instant::now()));
                    if sink.send(Message::text(frame)).await.is_err() {
                        run.counters.errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                } else {
                    run.counters.skipped.fetch_add(1, Ordering::Relaxed);
                }
            }
            message = stream.next() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    // Answer the server's heartbeat even while not sending anything.
                    Some(Ok(Message::Ping(data))) => {
                        let _ = sink.send(Message::Pong(data)).await;
                        continue;
                    }
                    Some(Ok(_)) => continue,
                    _ => {
                        if Instant::now() < run.deadline {
                            run.counters.errors.fetch_add(1, Ordering::Relaxed);
                        }
                        break;
                    }
                };
                let frame = scan(text.as_str());
                match frame.kind {
                    "revision" => {
                        newest = newest.max(frame.number.unwrap_or(newest));
                        run.counters.delivered.fetch_add(1, Ordering::Relaxed);
                        if let (Some(stamp), Some(h)) = (frame.stamp, samples.broadcast.as_mut()) {
                            let _ = h.record(micros_since(run.epoch).saturating_sub(stamp).max(1));
                        }
                    }
                    "ack" => {
                        newest = newest.max(frame.number.unwrap_or(newest));
                        let key = frame.reference.and_then(|r| r.parse::<u64>().ok());
                        if let Some(started) = key.and_then(|k| sent.remove(&k)) {
                            run.counters.committed.fetch_add(1, Ordering::Relaxed);
                            if let Some(h) = samples.ack.as_mut() {
                                let _ = h.record(micros(started.elapsed()));
                            }
                        }
                    }
                    "error" => {
                        let key = frame.reference.and_then(|r| r.parse::<u64>().ok());
                        if let Some(k) = key {
                            sent.remove(&k);
                        }
                        if text.contains("\"conflict\"") {
                            run.counters.conflicts.fetch_add(1, Ordering::Relaxed);
                        } else {
                            run.counters.errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {}
                }
            }
            () = tokio::time::sleep_until(grace.into()) => break,
        }
    }
    let _ = sink.send(Message::Close(None)).await;
    samples
}

/// A watcher: counts the revisions it receives and their broadcast latency until the deadline.
pub async fn watcher(run: Arc<Run>, client: LiveClient) -> Samples {
    let mut samples = Samples { ack: None, broadcast: Some(histogram()) };
    let (mut sink, mut stream) = client.into_inner().split();
    loop {
        tokio::select! {
            message = stream.next() => {
                if let Some(Ok(Message::Ping(data))) = message {
                    let _ = sink.send(Message::Pong(data)).await;
                    continue;
                }
                let Some(Ok(Message::Text(text))) = message else {
                    if matches!(message, Some(Ok(_))) { continue; }
                    if Instant::now() < run.deadline {
                        run.counters.errors.fetch_add(1, Ordering::Relaxed);
                    }
                    break;
                };
                let frame = scan(text.as_str());
                if frame.kind == "revision" {
                    run.counters.delivered.fetch_add(1, Ordering::Relaxed);
                    if let (Some(stamp), Some(h)) = (frame.stamp, samples.broadcast.as_mut()) {
                        let _ = h.record(micros_since(run.epoch).saturating_sub(stamp).max(1));
                    }
                }
            }
            () = tokio::time::sleep_until(run.deadline.into()) => break,
        }
    }
    let _ = sink.send(Message::Close(None)).await;
    samples
}

/// hot: `editors` editors on one dialogue, closed loop or open loop at `rate` patches/s in all.
pub async fn hot(run: Arc<Run>, editors: usize, rate: f64) -> anyhow::Result<Samples> {
    let project = run.api.project("hot").await?;
    let dialogue = run.api.dialogue(&project, editors.max(1)).await?;
    let mut clients = Vec::with_capacity(editors);
    for _ in 0..editors {
        clients.push(open(&run, &project, &dialogue).await?);
    }
    let interval = (rate > 0.0).then(|| Duration::from_secs_f64(editors as f64 / rate));
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(block, (client, newest))| {
            tokio::spawn(editor(run.clone(), client, newest, block, interval, 256, Instant::now()))
        })
        .collect();
    let mut samples = Samples::default();
    for task in tasks {
        samples.merge(task.await?);
    }
    Ok(samples)
}

/// fanout: one writer keeping `window` patches in flight (over 64 blocks, so they never
/// collide), and `watchers` sessions receiving every revision.
pub async fn fanout(run: Arc<Run>, watchers: usize, window: usize) -> anyhow::Result<Samples> {
    let project = run.api.project("fanout").await?;
    let dialogue = run.api.dialogue(&project, 64).await?;
    let mut watching = Vec::with_capacity(watchers);
    for _ in 0..watchers {
        let (client, _) = open(&run, &project, &dialogue).await?;
        watching.push(tokio::spawn(watcher(run.clone(), client)));
    }
    let (client, newest) = open(&run, &project, &dialogue).await?;
    let writer = tokio::spawn(pipelined_writer(run.clone(), client, newest, window));
    let mut samples = writer.await?;
    for task in watching {
        samples.merge(task.await?);
    }
    Ok(samples)
}

/// One writer with up to `window` unacknowledged patches, each on the next of 64 blocks.
async fn pipelined_writer(run: Arc<Run>, client: LiveClient, mut newest: i64, window: usize) -> Samples {
    let mut samples = Samples { ack: Some(histogram()), broadcast: None };
    let (mut sink, mut stream) = client.into_inner().split();
    let mut sent: HashMap<u64, Instant> = HashMap::new();
    let mut n = 0u64;
    loop {
        while Instant::now() < run.deadline && sent.len() < window {
            n += 1;
            let frame = patch_frame(&run, &n.to_string(), newest, (n % 64) as usize, n);
            sent.insert(n, Instant::now());
            if sink.send(Message::text(frame)).await.is_err() {
                return samples;
            }
        }
        if sent.is_empty() {
            break;
        }
        let message = tokio::time::timeout(Duration::from_secs(10), stream.next()).await;
        let Ok(Some(Ok(Message::Text(text)))) = message else {
            if matches!(message, Ok(Some(Ok(_)))) {
                continue;
            }
            run.counters.errors.fetch_add(sent.len() as u64, Ordering::Relaxed);
            break;
        };
        let frame = scan(text.as_str());
        let key = frame.reference.and_then(|r| r.parse::<u64>().ok());
        match frame.kind {
            "ack" => {
                newest = newest.max(frame.number.unwrap_or(newest));
                if let Some(started) = key.and_then(|k| sent.remove(&k)) {
                    run.counters.committed.fetch_add(1, Ordering::Relaxed);
                    if let Some(h) = samples.ack.as_mut() {
                        let _ = h.record(micros(started.elapsed()));
                    }
                }
            }
            "error" => {
                if let Some(k) = key {
                    sent.remove(&k);
                }
                let counter =
                    if text.contains("\"conflict\"") { &run.counters.conflicts } else { &run.counters.errors };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
    let _ = sink.send(Message::Close(None)).await;
    samples
}

/// many: `dialogues` dialogues with `per_dialogue` editors each, all open at once, editing at
/// `rate` patches/s in all (open loop) for `length` once every session is open.
pub async fn many(
    run: Arc<Run>,
    dialogues: usize,
    per_dialogue: usize,
    rate: f64,
    length: Duration,
) -> anyhow::Result<Samples> {
    let project = run.api.project("many").await?;
    let gate = Arc::new(Semaphore::new(64));
    let mut created = Vec::with_capacity(dialogues);
    for _ in 0..dialogues {
        let (api, project, gate) = (run.api.clone(), project.clone(), gate.clone());
        created.push(tokio::spawn(async move {
            let _permit = gate.acquire().await;
            api.dialogue(&project, per_dialogue).await
        }));
    }
    let mut ids = Vec::with_capacity(dialogues);
    for task in created {
        ids.push(task.await??);
    }
    eprintln!("many: {dialogues} dialogues created; opening {} sessions", dialogues * per_dialogue);
    let editors = dialogues * per_dialogue;
    let interval = Duration::from_secs_f64(editors as f64 / rate.max(1.0));
    let connect_gate = Arc::new(Semaphore::new(128));
    // Each session is read from the moment it opens (answering the server's heartbeat) until
    // every session is open and the measured phase starts.
    let (go, started) = tokio::sync::watch::channel::<Option<Arc<Run>>>(None);
    let mut tasks = Vec::with_capacity(editors);
    for dialogue in &ids {
        for block in 0..per_dialogue {
            let (run, project, dialogue, gate) = (run.clone(), project.clone(), dialogue.clone(), connect_gate.clone());
            let mut started = started.clone();
            tasks.push(tokio::spawn(async move {
                let opened = {
                    let _permit = gate.acquire().await;
                    tokio::time::timeout(Duration::from_secs(30), open(&run, &project, &dialogue)).await
                };
                let (mut client, newest) = match opened.unwrap_or_else(|_| Err(anyhow::anyhow!("timed out opening"))) {
                    Ok(opened) => opened,
                    Err(error) => {
                        eprintln!("many: a session failed to open: {error}");
                        run.counters.errors.fetch_add(1, Ordering::Relaxed);
                        return Samples::default();
                    }
                };
                run.counters.requests.fetch_add(1, Ordering::Relaxed);
                let measured = loop {
                    tokio::select! {
                        changed = started.changed() => {
                            let Ok(()) = changed else { return Samples::default() };
                            if let Some(measured) = started.borrow().clone() {
                                break measured;
                            }
                        }
                        frame = client.next() => match frame {
                            Ok(_) | Err(crate::client::ClientError::Timeout) => {}
                            Err(_) => {
                                run.counters.errors.fetch_add(1, Ordering::Relaxed);
                                return Samples::default();
                            }
                        },
                    }
                };
                // Spread the first patches over one interval (reading meanwhile).
                let first = Instant::now() + interval.mul_f64(rand_fraction(block, &dialogue));
                editor(measured, client, newest, block, Some(interval), 16, first).await
            }));
        }
    }
    while run.counters.requests.load(Ordering::Relaxed) + run.counters.errors.load(Ordering::Relaxed) < editors as u64 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every session is open: measure from now, for `length`.
    run.counters.measured_from_us.store(micros_since(run.epoch), Ordering::Relaxed);
    run.counters.committed.store(0, Ordering::Relaxed);
    run.counters.delivered.store(0, Ordering::Relaxed);
    let _ = go.send(Some(Arc::new(Run { deadline: Instant::now() + length, ..(*run).clone() })));
    let mut samples = Samples::default();
    for task in tasks {
        samples.merge(task.await?);
    }
    Ok(samples)
}

/// A stable pseudo-random fraction in [0, 1) for spreading start times.
fn rand_fraction(block: usize, dialogue: &str) -> f64 {
    let mut hash: u64 = 1469598103934665603;
    for byte in dialogue.bytes().chain(block.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(1099511628211);
    }
    (hash % 10_000) as f64 / 10_000.0
}

/// rest: `clients` HTTP clients reading an open dialogue as fast as they can, one request in
/// `write_every` being a PATCH instead (0: reads only).
pub async fn rest(run: Arc<Run>, clients: usize, write_every: u64) -> anyhow::Result<Samples> {
    let project = run.api.project("rest").await?;
    let dialogue = run.api.dialogue(&project, clients.max(1)).await?;
    let path = format!("{}/projects/{project}/dialogues/{dialogue}", run.api.base);
    let tasks: Vec<_> = (0..clients)
        .map(|worker| {
            let (run, path) = (run.clone(), path.clone());
            tokio::spawn(async move {
                let mut samples = Samples { ack: Some(histogram()), broadcast: None };
                let mut n = 0u64;
                while Instant::now() < run.deadline {
                    n += 1;
                    let started = Instant::now();
                    let request = if write_every > 0 && n.is_multiple_of(write_every) {
                        let value = format!("@{}@{worker}-{n}", micros_since(run.epoch));
                        let patch = json!([{ "op": "replace", "path": format!("/sequences/0/blocks/{worker}/properties/text"), "value": value }]);
                        run.api
                            .http
                            .patch(&path)
                            .bearer_auth(&run.api.token)
                            .header("Content-Type", "application/json-patch+json")
                            .body(patch.to_string())
                    } else {
                        run.api.http.get(&path).bearer_auth(&run.api.token)
                    };
                    match request.send().await {
                        Ok(response) if response.status().is_success() => {
                            let _ = response.bytes().await;
                            run.counters.requests.fetch_add(1, Ordering::Relaxed);
                            if let Some(h) = samples.ack.as_mut() {
                                let _ = h.record(micros(started.elapsed()));
                            }
                        }
                        _ => {
                            run.counters.errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                samples
            })
        })
        .collect();
    let mut samples = Samples::default();
    for task in tasks {
        samples.merge(task.await?);
    }
    Ok(samples)
}

/// reconnect: `clients` sessions that disconnect and reconnect with `since` in a loop while a
/// writer adds revisions; the latency is connect-to-caught-up.
pub async fn reconnect(run: Arc<Run>, clients: usize) -> anyhow::Result<Samples> {
    let project = run.api.project("reconnect").await?;
    let dialogue = run.api.dialogue(&project, 8).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let (writer_client, newest) = open(&run, &project, &dialogue).await?;
    // A steady stream of revisions to catch up on: 200 patches/s, one at a time (pipelined
    // patches on the same block would collide with each other).
    let writer =
        tokio::spawn(editor(run.clone(), writer_client, newest, 0, Some(Duration::from_millis(5)), 1, Instant::now()));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (run, project, dialogue, stop) = (run.clone(), project.clone(), dialogue.clone(), stop.clone());
            tokio::spawn(async move {
                let mut samples = Samples { ack: Some(histogram()), broadcast: None };
                let mut since: Option<i64> = None;
                while Instant::now() < run.deadline && !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    match LiveClient::connect(&run.api.base, &project, &dialogue, &run.api.token, since).await {
                        Ok((client, welcome)) => {
                            since = Some(welcome.revision.number);
                            run.counters.requests.fetch_add(1, Ordering::Relaxed);
                            if let Some(h) = samples.ack.as_mut() {
                                let _ = h.record(micros(started.elapsed()));
                            }
                            client.close().await;
                        }
                        Err(_) => {
                            run.counters.errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                samples
            })
        })
        .collect();
    let mut samples = Samples::default();
    for task in tasks {
        samples.merge(task.await?);
    }
    stop.store(true, Ordering::Relaxed);
    let writer_samples = writer.await?;
    samples.broadcast = writer_samples.broadcast;
    Ok(samples)
}

/// The stats module's summary of a run's samples.
pub fn latency(h: &Option<Histogram<u64>>) -> stats::Latency {
    h.as_ref().map(stats::Latency::of).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanning_reads_type_number_ref_and_stamp() {
        let revision = r#"{"type":"revision","revision":{"id":"x","number":42,"properties":{"patch":[{"op":"replace","path":"/a","value":"@1234@7-3"}]}}}"#;
        let frame = scan(revision);
        assert_eq!((frame.kind, frame.number, frame.stamp), ("revision", Some(42), Some(1234)));
        let ack = r#"{"type":"ack","ref":"17","revision":{"number":43}}"#;
        let frame = scan(ack);
        assert_eq!((frame.kind, frame.reference, frame.number), ("ack", Some("17"), Some(43)));
        // Frames whose keys come in another order still parse.
        let reordered = r#"{"ref":"9","error":{"type":"conflict"},"type":"error"}"#;
        assert_eq!(scan(reordered).kind, "error");
    }

    #[test]
    fn samples_merge() {
        let mut all = Samples::default();
        let mut one = Samples::new();
        one.ack.as_mut().unwrap().record(100).unwrap();
        let mut two = Samples::new();
        two.ack.as_mut().unwrap().record(300).unwrap();
        all.merge(one);
        all.merge(two);
        assert_eq!(all.ack.unwrap().len(), 2);
    }
}
