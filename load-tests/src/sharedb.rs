//! The hot and fanout scenarios against a ShareDB server (`peers/sharedb/server.js`), with the
//! same patches expressed as json0 operations.

use std::sync::Arc;
use std::time::Instant;

use crate::scenarios::{Counters, Samples};

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

/// hot: `editors` editors on one document, each waiting for its ack before the next op.
pub async fn hot(_run: Arc<Run>, _editors: usize) -> anyhow::Result<Samples> {
    anyhow::bail!("not yet")
}

/// fanout: one writer and `watchers` subscribers.
pub async fn fanout(_run: Arc<Run>, _watchers: usize, _window: usize) -> anyhow::Result<Samples> {
    anyhow::bail!("not yet")
}
