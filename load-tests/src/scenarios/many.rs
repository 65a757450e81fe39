//! many: a great many dialogues with a few editors each, every session open before the measured
//! phase starts, then an open-loop rate of patches in all.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::session::{close_all, editor, open};
use super::{Run, Samples};
use crate::stats::{micros, micros_since};

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
                        return (Samples::default(), None);
                    }
                };
                run.counters.requests.fetch_add(1, Ordering::Relaxed);
                let measured = loop {
                    tokio::select! {
                        changed = started.changed() => {
                            let Ok(()) = changed else { return (Samples::default(), None) };
                            if let Some(measured) = started.borrow().clone() {
                                break measured;
                            }
                        }
                        frame = client.next() => match frame {
                            Ok(_) | Err(crate::client::ClientError::Timeout) => {}
                            Err(_) => {
                                run.counters.errors.fetch_add(1, Ordering::Relaxed);
                                return (Samples::default(), None);
                            }
                        },
                    }
                };
                // Spread the first patches over one interval (reading meanwhile).
                let first = Instant::now() + interval.mul_f64(rand_fraction(block, &dialogue));
                let (samples, session) = editor(measured, client, newest, block, Some(interval), 16, first).await;
                (samples, Some(session))
            }));
        }
    }
    while run.counters.requests.load(Ordering::Relaxed) + run.counters.errors.load(Ordering::Relaxed) < editors as u64 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every session is open: measure from now, for `length`.
    run.start_measuring().await;
    run.counters.measured_from_us.store(micros_since(run.epoch), Ordering::Relaxed);
    run.counters.committed.store(0, Ordering::Relaxed);
    run.counters.delivered.store(0, Ordering::Relaxed);
    let deadline = Instant::now() + length;
    let _ = go.send(Some(Arc::new(Run { deadline, ..(*run).clone() })));
    let mut samples = Samples::default();
    let mut finished = Vec::with_capacity(editors);
    for task in tasks {
        let (editor_samples, session) = task.await?;
        samples.merge(editor_samples);
        finished.extend(session);
    }
    // The window is the sending phase: acks after it count in the latencies, not the rate.
    run.counters
        .measured_until_us
        .store(micros_since(run.epoch).saturating_sub(micros(deadline.elapsed())), Ordering::Relaxed);
    close_all(finished).await;
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
