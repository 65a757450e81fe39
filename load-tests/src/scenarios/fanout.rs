//! fanout: one writer keeping a window of patches in flight, and many watchers receiving every
//! revision. Owns the pipelined writer.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use super::session::{count_error, frames_of, open, patch_frame, scan, watcher};
use super::{Run, Samples};
use crate::client::LiveClient;
use crate::stats::{Recorder, micros};

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
    run.start_measuring().await;
    let writer = tokio::spawn(pipelined_writer(run.clone(), client, newest, window));
    let mut samples = writer.await?;
    for task in watching {
        samples.merge(task.await?);
    }
    Ok(samples)
}

/// One writer with up to `window` unacknowledged patches, each on the next of 64 blocks.
async fn pipelined_writer(run: Arc<Run>, client: LiveClient, mut newest: i64, window: usize) -> Samples {
    let mut samples = Samples { ack: Some(Recorder::default()), ..Samples::default() };
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
        for text in frames_of(text.as_str()) {
            let frame = scan(text);
            match frame.kind {
                "ack" => {
                    newest = newest.max(frame.number.unwrap_or(newest));
                    let key = frame.reference.and_then(|r| r.parse::<u64>().ok());
                    if let Some(started) = key.and_then(|k| sent.remove(&k)) {
                        run.counters.committed.fetch_add(1, Ordering::Relaxed);
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
    let _ = sink.send(Message::Close(None)).await;
    samples
}
