//! reconnect: sessions that disconnect and reconnect with `since` in a loop while a writer adds
//! revisions; latency is connect to caught up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::session::{editor, open};
use super::{Run, Samples};
use crate::client::{LiveClient, WelcomeExt};
use crate::stats::{Recorder, micros};

/// reconnect: `clients` sessions that disconnect and reconnect with `since` in a loop while a
/// writer adds revisions; the latency is connect-to-caught-up.
pub async fn reconnect(run: Arc<Run>, clients: usize) -> anyhow::Result<Samples> {
    let project = run.api.project("reconnect").await?;
    let dialogue = run.api.dialogue(&project, 8).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let (writer_client, newest) = open(&run, &project, &dialogue).await?;
    run.start_measuring().await;
    // A steady stream of revisions to catch up on: 200 patches/s, one at a time (pipelined
    // patches on the same block would collide with each other).
    let writer =
        tokio::spawn(editor(run.clone(), writer_client, newest, 0, Some(Duration::from_millis(5)), 1, Instant::now()));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (run, project, dialogue, stop) = (run.clone(), project.clone(), dialogue.clone(), stop.clone());
            tokio::spawn(async move {
                let mut samples = Samples { ack: Some(Recorder::default()), ..Samples::default() };
                let mut since: Option<i64> = None;
                while Instant::now() < run.deadline && !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    match LiveClient::connect(&run.api.base, &project, &dialogue, &run.api.token, since).await {
                        Ok((client, welcome)) => {
                            since = Some(welcome.newest());
                            run.counters.requests.fetch_add(1, Ordering::Relaxed);
                            if let Some(h) = samples.ack.as_mut() {
                                h.record(micros(started.elapsed()));
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
    let (writer_samples, writer_session) = writer.await?;
    writer_session.close().await;
    samples.broadcast = writer_samples.broadcast;
    Ok(samples)
}
