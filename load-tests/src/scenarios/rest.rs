//! rest: HTTP clients reading an open dialogue as fast as they can, optionally with a PATCH
//! every so many requests.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::json;

use super::{Run, Samples};
use crate::stats::{Recorder, micros, micros_since};

/// rest: `clients` HTTP clients reading an open dialogue as fast as they can, one request in
/// `write_every` being a PATCH instead (0: reads only).
pub async fn rest(run: Arc<Run>, clients: usize, write_every: u64) -> anyhow::Result<Samples> {
    let project = run.api.project("rest").await?;
    let dialogue = run.api.dialogue(&project, clients.max(1)).await?;
    let path = format!("{}/projects/{project}/dialogues/{dialogue}", run.api.base);
    run.start_measuring().await;
    let tasks: Vec<_> = (0..clients)
        .map(|worker| {
            let (run, path) = (run.clone(), path.clone());
            tokio::spawn(async move {
                let mut samples = Samples { ack: Some(Recorder::default()), ..Samples::default() };
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
                                h.record(micros(started.elapsed()));
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
