//! cold: how long a server process that never loaded a dialogue takes to open a session on it
//! when the dialogue has many revisions. The dialogues are given their revisions through the
//! first server (bulk `POST …/revisions/`, 1,000 per request), then sessions are opened on the
//! second, which loads each dialogue from its stored head, snapshot and tail.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Run, Samples};
use crate::client::LiveClient;
use crate::stats::{Recorder, micros, micros_since};

/// Revisions per bulk request (the server's limit).
const BULK: usize = 1000;
/// Blocks of a cold dialogue, edited in turn by its revisions.
const BLOCKS: usize = 8;
/// Pause between giving the dialogues their revisions and loading them, so the first server's
/// background head writes have landed (a cold load happens long after the writes, in life).
const SETTLE: Duration = Duration::from_secs(1);

/// The bulk body of revisions `first..first + count`, each replacing one block's text.
fn bulk_revisions(first: usize, count: usize) -> Value {
    let revisions: Vec<Value> = (first..first + count)
        .map(|n| {
            let path = format!("/sequences/0/blocks/{}/properties/text", n % BLOCKS);
            json!({ "type": "edit", "properties": { "patch": [{ "op": "replace", "path": path, "value": format!("r{n}") }] } })
        })
        .collect();
    Value::Array(revisions)
}

/// cold: `dialogues` fresh dialogues with `revisions` revisions each; for each, the time from
/// opening a WebSocket on the second server (which never loaded it) to its `welcome`.
pub async fn cold(run: Arc<Run>, revisions: usize, dialogues: usize) -> anyhow::Result<Samples> {
    let second = run.second_server("cold")?.to_owned();
    let token = run.api.token.clone();
    let project = run.api.project("cold").await?;
    // Warm the second server up on a throw-away dialogue (the caller cache, the first
    // session), so that each measured load is a dialogue load and nothing else.
    let warm_up = run.api.dialogue(&project, 1).await?;
    let (client, _) = LiveClient::connect(&second, &project, &warm_up, &token, None).await?;
    client.close().await;

    let mut ids = Vec::with_capacity(dialogues);
    for _ in 0..dialogues.max(1) {
        ids.push(run.api.dialogue(&project, BLOCKS).await?);
    }
    // Measured phase (revisions/s, round trips per revision): writing the revisions.
    run.start_measuring().await;
    run.counters.measured_from_us.store(micros_since(run.epoch), Ordering::Relaxed);
    let writers: Vec<_> = ids
        .iter()
        .map(|dialogue| {
            let (run, path) = (run.clone(), format!("/projects/{project}/dialogues/{dialogue}/revisions/"));
            tokio::spawn(async move {
                let mut written = 0;
                while written < revisions {
                    let count = BULK.min(revisions - written);
                    let answer = run.api.post(&path, &bulk_revisions(written, count)).await?;
                    let stored = answer.as_array().map_or(0, Vec::len);
                    anyhow::ensure!(stored == count, "a bulk of {count} revisions stored {stored}");
                    run.counters.committed.fetch_add(count as u64, Ordering::Relaxed);
                    run.counters.requests.fetch_add(1, Ordering::Relaxed);
                    written += count;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for writer in writers {
        writer.await??;
    }
    run.counters.measured_until_us.store(micros_since(run.epoch), Ordering::Relaxed);
    run.stop_measuring().await;
    eprintln!("\ncold: {} dialogues × {revisions} revisions written; loading them on the second server", ids.len());
    tokio::time::sleep(SETTLE).await;

    let mut samples = Samples { cold_load: Some(Recorder::default()), ..Samples::default() };
    let mut round_trips = Vec::new();
    for dialogue in &ids {
        let before = if run.metrics.servers() >= 2 { run.metrics.read_one(1).await.ok() } else { None };
        let started = Instant::now();
        let (client, welcome) = LiveClient::connect(&second, &project, dialogue, &token, None).await?;
        let elapsed = started.elapsed();
        if let Some(h) = samples.cold_load.as_mut() {
            h.record(micros(elapsed));
        }
        if welcome.revision.number != revisions as i64 {
            eprintln!("cold: the welcome says revision {}, not {revisions}", welcome.revision.number);
            run.counters.errors.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(before) = before
            && let Ok(after) = run.metrics.read_one(1).await
        {
            round_trips.push(after.round_trips - before.round_trips);
        }
        client.close().await;
    }
    if !round_trips.is_empty() {
        samples.cold_load_round_trips = Some(round_trips.iter().sum::<f64>() / round_trips.len() as f64);
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_revisions_edit_the_blocks_in_turn() {
        let body = bulk_revisions(7, 3);
        let items = body.as_array().unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0]["properties"]["patch"][0]["path"], "/sequences/0/blocks/7/properties/text");
        assert_eq!(items[1]["properties"]["patch"][0]["path"], "/sequences/0/blocks/0/properties/text");
        assert_eq!(items[2]["properties"]["patch"][0]["value"], "r9");
    }
}
