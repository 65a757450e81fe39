//! What every live scenario shares: opening a session (on either server process), reading a
//! server frame cheaply, the stamped patch frame, and the two session loops, the editor (closed
//! or open loop) and the watcher.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{Run, Samples};
use crate::client::{LiveClient, ServerFrame, live_request};
use crate::stats::{Recorder, micros, micros_since};

/// A server frame, read cheaply: its type, revision number, `ref`, and stamp.
pub(super) struct Scan<'a> {
    /// `type`.
    pub kind: &'a str,
    /// The first `number` (the revision's).
    pub number: Option<i64>,
    /// `ref`, when a string.
    pub reference: Option<&'a str>,
    /// The stamp of the first stamped value (`@<µs>@`).
    pub stamp: Option<u64>,
}

crate::keys! {
    NUMBER = "\"number\":";
    REFERENCE = "\"ref\":\"";
    STAMP = "\"value\":\"@";
    ACK = "\"type\":\"ack\"";
    ERROR = "\"type\":\"error\"";
    REVISION = "\"type\":\"revision\"";
}

/// Reads a frame's type, revision number, `ref` and stamp without parsing it: for a `revision`
/// its number and stamp, for an `ack` its number and `ref`, for an `error` its `ref`.
pub(super) fn scan(text: &str) -> Scan<'_> {
    let reference = || REFERENCE.after(text).and_then(|rest| rest.split('"').next());
    let stamp = || STAMP.number_after(text);
    let number = || NUMBER.number_after(text).and_then(|n| i64::try_from(n).ok());
    // The server writes `type` first; anything else is read in full.
    let Some(kind) = text.strip_prefix("{\"type\":\"").and_then(|rest| rest.split('"').next()) else {
        let kind = if ACK.is_in(text) {
            "ack"
        } else if ERROR.is_in(text) {
            "error"
        } else if REVISION.is_in(text) {
            "revision"
        } else {
            "other"
        };
        return Scan { kind, number: number(), reference: reference(), stamp: stamp() };
    };
    match kind {
        "revision" => Scan { kind, number: number(), reference: None, stamp: stamp() },
        "ack" => Scan { kind, number: number(), reference: reference(), stamp: None },
        "error" => Scan { kind, number: None, reference: reference(), stamp: None },
        _ => Scan { kind, number: None, reference: None, stamp: None },
    }
}

/// The frames of one WebSocket message: a `batch`'s frames in order, or the message itself.
/// The server puts each frame of a batch on a line of its own, so splitting needs no parse.
pub(super) fn frames_of(text: &str) -> Vec<&str> {
    if !text.starts_with("{\"type\":\"batch\"") {
        return vec![text];
    }
    let mut lines: Vec<&str> = text.lines().collect();
    if lines.len() < 2 {
        return vec![text];
    }
    lines.pop();
    lines.remove(0);
    lines.into_iter().map(|line| line.strip_suffix(',').unwrap_or(line)).collect()
}

/// The patch frame replacing block `block`'s text (in the first sequence), stamped now.
pub(super) fn patch_frame(run: &Run, reference: &str, base: i64, block: usize, n: u64) -> String {
    let text = format!("@{}@{block}-{n}", micros_since(run.epoch));
    json!({
        "type": "patch",
        "ref": reference,
        "base_revision": base,
        "patch": [{ "op": "replace", "path": format!("/sequences/0/blocks/{block}/properties/text"), "value": text }],
    })
    .to_string()
}

/// Opens a live session on the first server; the client and the newest revision number.
pub(super) async fn open(run: &Run, project: &str, dialogue: &str) -> anyhow::Result<(LiveClient, i64)> {
    open_at(run, &run.api.base, project, dialogue).await
}

/// Opens a live session on the server at `base` (`http://host:port`) with the run's token.
pub(super) async fn open_at(run: &Run, base: &str, project: &str, dialogue: &str) -> anyhow::Result<(LiveClient, i64)> {
    let (mut client, welcome) =
        LiveClient::open(live_request(base, project, dialogue, &run.api.token, None, run.batch)?).await?;
    // Revisions that came in the welcome's batch.
    let newest = client.take_unread().iter().fold(welcome.revision.number, |newest, frame| match frame {
        ServerFrame::Revision { revision } => newest.max(revision["number"].as_i64().unwrap_or(newest)),
        _ => newest,
    });
    Ok((client, newest))
}

/// Counts an `error` frame: as refused when it answers one of `sent`'s patches (which it
/// removes), and as a conflict or an error.
pub(super) fn count_error(run: &Run, text: &str, frame: &Scan<'_>, sent: &mut HashMap<u64, Instant>) {
    let key = frame.reference.and_then(|r| r.parse::<u64>().ok());
    if key.and_then(|k| sent.remove(&k)).is_some() {
        run.counters.refused.fetch_add(1, Ordering::Relaxed);
    }
    let counter = if text.contains("\"conflict\"") { &run.counters.conflicts } else { &run.counters.errors };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A live session's sending half after its editor loop ended, still open. A scenario closes
/// its sessions together once every editor is done: editors that finish early must not close
/// while others still wait for acks, because thousands of closes at the deadline hold up the
/// server's answers to the rest (seen in `many` at 18,000 sessions as acks delayed by a second).
pub struct Finished(SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>);

impl Finished {
    /// Closes the session.
    pub async fn close(mut self) {
        let _ = self.0.send(Message::Close(None)).await;
    }
}

/// Closes finished sessions, all at once.
pub async fn close_all(sessions: impl IntoIterator<Item = Finished>) {
    futures_util::future::join_all(sessions.into_iter().map(Finished::close)).await;
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
) -> (Samples, Finished) {
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
        // Open loop: the next tick, or the deadline if it comes first (the editor then stops
        // sending and ends once its patches are answered, not at its next tick).
        let tick = async {
            match ticker.as_mut() {
                Some(ticker) if sending => tokio::time::timeout_at(run.deadline.into(), ticker.tick()).await.is_ok(),
                _ => std::future::pending::<bool>().await,
            }
        };
        let grace = run.deadline + Duration::from_secs(10);
        tokio::select! {
            due = tick => {
                if !due {
                    continue;
                }
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
                // The frames of one message arrived together: one clock reading for all.
                let arrived = micros_since(run.epoch);
                for text in frames_of(text.as_str()) {
                let frame = scan(text);
                match frame.kind {
                    "revision" => {
                        newest = newest.max(frame.number.unwrap_or(newest));
                        run.counters.delivered.fetch_add(1, Ordering::Relaxed);
                        if let (Some(stamp), Some(h)) = (frame.stamp, samples.broadcast.as_mut()) {
                            h.record(arrived.saturating_sub(stamp).max(1));
                        }
                    }
                    "ack" => {
                        newest = newest.max(frame.number.unwrap_or(newest));
                        let key = frame.reference.and_then(|r| r.parse::<u64>().ok());
                        if let Some(started) = key.and_then(|k| sent.remove(&k)) {
                            // Throughput counts what was acknowledged within the measured
                            // window; later acks (the patches still in flight at the deadline)
                            // count in the latencies only.
                            if Instant::now() <= run.deadline {
                                run.counters.committed.fetch_add(1, Ordering::Relaxed);
                            }
                            if let Some(h) = samples.ack.as_mut() {
                                h.record(micros(started.elapsed()));
                            }
                        }
                    }
                    "error" => count_error(&run, text, &frame, &mut sent),
                    _ => {}
                }
                }
            }
            () = tokio::time::sleep_until(grace.into()) => break,
        }
    }
    (samples, Finished(sink))
}

/// A watcher: counts the revisions it receives and their broadcast latency until the deadline.
pub async fn watcher(run: Arc<Run>, client: LiveClient) -> Samples {
    let mut samples = Samples { broadcast: Some(Recorder::default()), ..Samples::default() };
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
                let arrived = micros_since(run.epoch);
                for text in frames_of(text.as_str()) {
                    let frame = scan(text);
                    if frame.kind == "revision" {
                        run.counters.delivered.fetch_add(1, Ordering::Relaxed);
                        if let (Some(stamp), Some(h)) = (frame.stamp, samples.broadcast.as_mut()) {
                            h.record(arrived.saturating_sub(stamp).max(1));
                        }
                    }
                }
            }
            () = tokio::time::sleep_until(run.deadline.into()) => break,
        }
    }
    let _ = sink.send(Message::Close(None)).await;
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_splits_into_its_frames_and_anything_else_is_one_frame() {
        let batch = "{\"type\":\"batch\",\"frames\":[\n{\"type\":\"revision\",\"revision\":{\"number\":4}},\n{\"type\":\"ack\",\"ref\":\"7\"}\n]}";
        assert_eq!(
            frames_of(batch),
            ["{\"type\":\"revision\",\"revision\":{\"number\":4}}", "{\"type\":\"ack\",\"ref\":\"7\"}"]
        );
        assert_eq!(frames_of("{\"type\":\"ack\",\"ref\":\"7\"}"), ["{\"type\":\"ack\",\"ref\":\"7\"}"]);
    }

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
}
