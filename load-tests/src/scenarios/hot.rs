//! hot: N editors on one dialogue, each replacing the text of its own block, closed loop or
//! open loop at a rate in all. Also the editing loop that `big` and `split` reuse.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::session::{close_all, editor, open_at};
use super::{Run, Samples};
use crate::client::LiveClient;
use crate::stats::Recorder;

/// hot: `editors` editors on one dialogue, closed loop or open loop at `rate` patches/s in all.
pub async fn hot(run: Arc<Run>, editors: usize, rate: f64) -> anyhow::Result<Samples> {
    let project = run.api.project("hot").await?;
    let dialogue = run.api.dialogue(&project, editors.max(1)).await?;
    let clients = open_editors(&run, &project, &dialogue, editors, &[run.api.base.as_str()]).await?;
    run.start_measuring().await;
    run_editors(run, clients, rate, 1).await
}

/// Opens `editors` sessions on a dialogue, editor `i` on server `servers[i % servers.len()]`
/// (so editors are split evenly over the servers); each with the newest revision it saw.
pub(super) async fn open_editors(
    run: &Run,
    project: &str,
    dialogue: &str,
    editors: usize,
    servers: &[&str],
) -> anyhow::Result<Vec<(LiveClient, i64)>> {
    let mut clients = Vec::with_capacity(editors);
    for index in 0..editors {
        let server = servers[index % servers.len()];
        clients.push(open_at(run, server, project, dialogue).await?);
    }
    Ok(clients)
}

/// Runs one editor per session until the deadline, editor `i` on block `i` of the first
/// sequence; closed loop, or open loop at `rate` patches/s in all. With `servers` > 1 (editor
/// `i` on server `i % servers`, as [`open_editors`] opens them), the acks are also counted per
/// server, so a run shows whether the editors of one process wait longer than the other's.
pub(super) async fn run_editors(
    run: Arc<Run>,
    clients: Vec<(LiveClient, i64)>,
    rate: f64,
    servers: usize,
) -> anyhow::Result<Samples> {
    let editors = clients.len();
    let interval = (rate > 0.0).then(|| Duration::from_secs_f64(editors as f64 / rate));
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(block, (client, newest))| {
            tokio::spawn(editor(run.clone(), client, newest, block, interval, 256, Instant::now()))
        })
        .collect();
    let mut samples = Samples::default();
    let mut by_server: Vec<Recorder> = Vec::new();
    if servers > 1 {
        by_server.resize_with(servers, Recorder::default);
    }
    let mut finished = Vec::with_capacity(editors);
    for (index, task) in tasks.into_iter().enumerate() {
        let (editor_samples, session) = task.await?;
        if let (Some(server), Some(ack)) = (by_server.get_mut(index % servers.max(1)), &editor_samples.ack) {
            server.merge(ack.clone());
        }
        samples.merge(editor_samples);
        finished.push(session);
    }
    close_all(finished).await;
    samples.ack_by_server = by_server;
    Ok(samples)
}
