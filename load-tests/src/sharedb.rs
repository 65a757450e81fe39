//! The hot and fanout scenarios against a ShareDB server (`peers/sharedb/server.js`), speaking
//! ShareDB's wire protocol directly. The ops are the json0 equivalent of dialogue-server's
//! patches: replace one block's text (`od`/`oi`), stamped with the time it was sent.
//!
//! Protocol notes: the server speaks first (`init`); `s` subscribes; an op is
//! `{a:"op",c,d,v,seq,op}`; the ack is the same without `op`; others receive it with `op`. A
//! stale `v` is transformed by the server, which first resends the ops the submitter missed, so
//! ops below the version already known are skipped.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::scenarios::{Counters, Samples};
use crate::stats::{Recorder, micros, micros_since};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The collection and document every scenario uses.
const COLLECTION: &str = "dialogues";
const DOCUMENT: &str = "d0";

/// What one ShareDB run needs.
pub struct Run {
    /// `http://host:port` of the ShareDB server.
    pub base: String,
    /// When stamps count from.
    pub epoch: Instant,
    /// Stop sending after this.
    pub deadline: Instant,
    /// Shared counters.
    pub counters: Arc<Counters>,
}

/// Recreates the document with `blocks` blocks, at version 1.
async fn reset(run: &Run, blocks: usize) -> anyhow::Result<()> {
    let response = reqwest::Client::new().post(format!("{}/reset?docs=1&blocks={blocks}", run.base)).send().await?;
    anyhow::ensure!(response.status().is_success(), "reset failed: {}", response.status());
    Ok(())
}

/// Connects and subscribes; returns the halves and the document's version.
async fn subscribe(run: &Run) -> anyhow::Result<Subscribed> {
    let url = run.base.replacen("http://", "ws://", 1);
    let (socket, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
    let (mut sink, mut stream) = socket.split();
    sink.send(Message::text(json!({ "a": "s", "c": COLLECTION, "d": DOCUMENT }).to_string())).await?;
    loop {
        let Some(message) = stream.next().await else { anyhow::bail!("closed before subscribing") };
        let Message::Text(text) = message? else { continue };
        let value: Value = serde_json::from_str(text.as_str())?;
        if value["a"] == "s" {
            let version = value["data"]["v"].as_i64().unwrap_or(0);
            return Ok((sink, stream, version));
        }
    }
}

/// An op replacing block `block`'s text, stamped now.
fn op_frame(version: i64, seq: u64, block: usize, old: &str, new: &str) -> String {
    json!({
        "a": "op",
        "c": COLLECTION,
        "d": DOCUMENT,
        "v": version,
        "seq": seq,
        "op": [{ "p": ["sequences", 0, "blocks", block, "properties", "text"], "od": old, "oi": new }],
    })
    .to_string()
}

/// A server message, read cheaply.
struct Scan {
    is_op: bool,
    has_op: bool,
    version: Option<i64>,
    seq: Option<u64>,
    stamp: Option<u64>,
    error: bool,
}

crate::keys! {
    IS_OP = "\"a\":\"op\"";
    HAS_OP = "\"op\":[";
    VERSION = "\"v\":";
    SEQ = "\"seq\":";
    STAMP = "\"oi\":\"@";
    ERROR = "\"error\":";
}

fn scan(text: &str) -> Scan {
    Scan {
        is_op: IS_OP.is_in(text),
        has_op: HAS_OP.is_in(text),
        version: VERSION.number_after(text).and_then(|v| i64::try_from(v).ok()),
        seq: SEQ.number_after(text),
        stamp: STAMP.number_after(text),
        error: ERROR.is_in(text),
    }
}

/// An editor (or the fanout writer): keeps up to `window` ops in flight on its blocks, each
/// based on the newest version it knows (the server transforms the stale ones).
async fn editor(run: Arc<Run>, blocks: Vec<usize>, window: usize, record_broadcasts: bool) -> anyhow::Result<Samples> {
    let mut samples = Samples::default();
    samples.merge(Samples {
        ack: Some(Recorder::default()),
        broadcast: record_broadcasts.then(Recorder::default),
        ..Samples::default()
    });
    let (mut sink, mut stream, mut version) = subscribe(&run).await?;
    let mut texts: HashMap<usize, String> = blocks.iter().map(|b| (*b, "t".to_owned())).collect();
    let mut sent: HashMap<u64, Instant> = HashMap::new();
    let mut seq = 0u64;
    let mut turn = 0usize;
    loop {
        while Instant::now() < run.deadline && sent.len() < window {
            seq += 1;
            let block = blocks[turn % blocks.len()];
            turn += 1;
            let new = format!("@{}@{block}-{seq}", micros_since(run.epoch));
            let old = texts.insert(block, new.clone()).unwrap_or_default();
            sent.insert(seq, Instant::now());
            sink.send(Message::text(op_frame(version, seq, block, &old, &new))).await?;
        }
        if sent.is_empty() {
            break;
        }
        let message = tokio::time::timeout(Duration::from_secs(30), stream.next()).await;
        let Ok(Some(Ok(Message::Text(text)))) = message else {
            if matches!(message, Ok(Some(Ok(_)))) {
                continue;
            }
            run.counters.errors.fetch_add(sent.len() as u64, Ordering::Relaxed);
            break;
        };
        let frame = scan(text.as_str());
        if frame.error {
            if let Some(seq) = frame.seq {
                sent.remove(&seq);
            }
            run.counters.errors.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if !frame.is_op {
            continue;
        }
        let Some(v) = frame.version else { continue };
        if frame.has_op {
            // Someone else's op (or one we missed, resent before our ack): skip known ones.
            if v >= version {
                version = v + 1;
                if record_broadcasts {
                    run.counters.delivered.fetch_add(1, Ordering::Relaxed);
                    if let (Some(stamp), Some(h)) = (frame.stamp, samples.broadcast.as_mut()) {
                        h.record(micros_since(run.epoch).saturating_sub(stamp).max(1));
                    }
                }
            }
        } else if let Some(started) = frame.seq.and_then(|s| sent.remove(&s)) {
            version = version.max(v + 1);
            run.counters.committed.fetch_add(1, Ordering::Relaxed);
            if let Some(h) = samples.ack.as_mut() {
                h.record(micros(started.elapsed()));
            }
        }
    }
    let _ = sink.send(Message::Close(None)).await;
    Ok(samples)
}

/// A subscribed connection.
type Subscribed = (SplitSink<Socket, Message>, SplitStream<Socket>, i64);

/// A watcher: counts the ops it receives until the deadline.
async fn watcher(run: Arc<Run>, subscribed: Subscribed) -> anyhow::Result<Samples> {
    let mut samples = Samples::default();
    samples.merge(Samples { broadcast: Some(Recorder::default()), ..Samples::default() });
    let (mut sink, mut stream, mut version) = subscribed;
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(Ok(Message::Text(text))) = message else {
                    if matches!(message, Some(Ok(_))) { continue; }
                    break;
                };
                let frame = scan(text.as_str());
                if frame.is_op && frame.has_op && frame.version.is_some_and(|v| v >= version) {
                    version = frame.version.unwrap_or(version) + 1;
                    run.counters.delivered.fetch_add(1, Ordering::Relaxed);
                    if let (Some(stamp), Some(h)) = (frame.stamp, samples.broadcast.as_mut()) {
                        h.record(micros_since(run.epoch).saturating_sub(stamp).max(1));
                    }
                }
            }
            () = tokio::time::sleep_until(run.deadline.into()) => break,
        }
    }
    let _ = sink.send(Message::Close(None)).await;
    Ok(samples)
}

/// hot: `editors` editors on one document, each waiting for its ack before the next op.
pub async fn hot(run: Arc<Run>, editors: usize) -> anyhow::Result<Samples> {
    reset(&run, editors.max(1)).await?;
    let tasks: Vec<_> = (0..editors).map(|block| tokio::spawn(editor(run.clone(), vec![block], 1, true))).collect();
    let mut samples = Samples::default();
    for task in tasks {
        samples.merge(task.await??);
    }
    Ok(samples)
}

/// fanout: one writer with `window` ops in flight over 64 blocks, and `watchers` subscribers.
pub async fn fanout(run: Arc<Run>, watchers: usize, window: usize) -> anyhow::Result<Samples> {
    reset(&run, 64).await?;
    let mut watching = Vec::with_capacity(watchers);
    for _ in 0..watchers {
        let subscribed = subscribe(&run).await?;
        watching.push(tokio::spawn(watcher(run.clone(), subscribed)));
    }
    let mut samples = editor(run.clone(), (0..64).collect(), window, false).await?;
    for task in watching {
        samples.merge(task.await??);
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanning_reads_an_op_its_ack_and_an_error() {
        let op = r#"{"a":"op","c":"dialogues","d":"d0","v":12,"seq":4,"op":[{"p":["x"],"od":"t","oi":"@987@3-4"}]}"#;
        let frame = scan(op);
        assert!(frame.is_op && frame.has_op && !frame.error);
        assert_eq!((frame.version, frame.seq, frame.stamp), (Some(12), Some(4), Some(987)));
        let ack = r#"{"a":"op","c":"dialogues","d":"d0","v":13,"seq":5}"#;
        let frame = scan(ack);
        assert!(frame.is_op && !frame.has_op);
        assert_eq!((frame.version, frame.seq, frame.stamp), (Some(13), Some(5), None));
        assert!(scan(r#"{"a":"op","seq":6,"error":{"code":4001}}"#).error);
    }
}
