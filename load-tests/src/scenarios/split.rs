//! split: hot editing of one dialogue with the editors split evenly over two server processes
//! on the same database, so every revision crosses from one process to the other through the
//! change feed. Patches refused for any reason are counted (`refused`): editors touch disjoint
//! blocks, so the target is none.

use std::sync::Arc;

use super::hot::{open_editors, run_editors};
use super::{Run, Samples};

/// split: `editors` editors on one dialogue, alternately on the first and the second server,
/// closed loop or open loop at `rate` patches/s in all.
pub async fn split(run: Arc<Run>, editors: usize, rate: f64) -> anyhow::Result<Samples> {
    let second = run.second_server("split")?.to_owned();
    let project = run.api.project("split").await?;
    let dialogue = run.api.dialogue(&project, editors.max(1)).await?;
    let servers = [run.api.base.as_str(), second.as_str()];
    let clients = open_editors(&run, &project, &dialogue, editors, &servers).await?;
    let servers = servers.len();
    run.start_measuring().await;
    run_editors(run, clients, rate, servers).await
}
