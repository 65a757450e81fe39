//! Webhooks: other systems hear, by a signed POST, that a project's dialogues were created,
//! changed or released (`../shared/contracts/server.md`, "Webhooks"; `docs/webhooks.md`).
//!
//! The path of an event:
//! 1. it is recorded durably with the change itself: `dialogue.created` and `release.created`
//!    as outbox events in the same transaction, `dialogue.changed` as the revision log read
//!    under a watch that the dialogue's actor keeps in force while it stores ([`watch`]);
//! 2. the [`scheduler`] (one process at a time, by lease) turns them into deliveries, coalescing
//!    a dialogue's revisions per hook ([`events`] builds the bodies);
//! 3. the [`sender`] in every process claims due deliveries one attempt at a time and POSTs
//!    them, [`signature`]-signed, to URLs that [`address`] allows, retrying on the [`schedule`].
//!
//! [`directory`] tells dialogue actors which projects have hooks, so the others pay nothing.

pub mod address;
pub mod directory;
pub mod events;
pub mod schedule;
pub mod scheduler;
pub mod sender;
pub mod signature;
pub mod watch;

use std::sync::Arc;
use std::time::Duration;

use crate::state::AppState;

/// How often each process looks for due deliveries.
const POLL: Duration = Duration::from_millis(250);
/// How often each process reloads the hook directory.
const DIRECTORY_REFRESH: Duration = Duration::from_secs(1);
/// How often the queue's depth and age are measured for the metrics, and secrets sealed with
/// a previous key re-encrypted.
const QUEUE_MEASURE: Duration = Duration::from_secs(5);

/// Starts this process's share of webhook work: the directory refresh, the scheduler (which
/// runs while this process holds its lease) and the delivery workers. They stop when the server
/// shuts down; whatever they had not finished is in the database for the next process.
pub fn spawn(state: Arc<AppState>) -> anyhow::Result<()> {
    let client = sender::client(state.settings.webhook_allow_private)?;
    let in_flight = Arc::new(sender::InFlight::default());
    // Each on its own, so that a long scheduler tick delays no delivery and the reverse.
    every(state.clone(), DIRECTORY_REFRESH, |state| async move { refresh_directory(&state).await });
    every(state.clone(), QUEUE_MEASURE, |state| async move {
        measure_queue(&state).await?;
        reseal_secrets(&state).await
    });
    let scheduler = Arc::new(tokio::sync::Mutex::new(scheduler::Scheduler::default()));
    every(state.clone(), scheduler::TICK, move |state| {
        let scheduler = scheduler.clone();
        async move { scheduler.lock().await.tick(&state).await }
    });
    if state.vault.can_seal() {
        // Without a key no secret can be opened: leave the sending to processes that have one.
        every(state, POLL, move |state| {
            let (client, in_flight) = (client.clone(), in_flight.clone());
            async move { sender::poll(&state, &client, &in_flight).await }
        });
    }
    Ok(())
}

/// Runs `work` every `period` once the store is ready, until the server shuts down; a failure
/// is tried again at the next period.
fn every<Work>(state: Arc<AppState>, period: Duration, mut work: impl FnMut(Arc<AppState>) -> Work + Send + 'static)
where
    Work: Future<Output = crate::store::StoreResult<()>> + Send,
{
    let mut shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = ticks.tick() => {}
            }
            if !state.is_store_ready() {
                continue;
            }
            if let Err(error) = work(state.clone()).await {
                tracing::debug!(error = %error, "webhook work failed; trying again at the next tick");
            }
        }
    });
}

async fn refresh_directory(state: &AppState) -> crate::store::StoreResult<()> {
    let projects = state.store.projects_with_webhooks(events::DIALOGUE_CHANGED).await?;
    state.hooks.replace(projects);
    Ok(())
}

async fn measure_queue(state: &AppState) -> crate::store::StoreResult<()> {
    if crate::metrics::enabled() {
        let depth = state.store.delivery_queue().await?;
        crate::metrics::webhook_queue(depth.pending, depth.oldest.map(|created| crate::store::now_millis() - created));
    }
    Ok(())
}

/// After a key rotation, re-encrypts with the current key the hook secrets sealed with the
/// previous one, so that `DIALOGUE_SECRET_KEY_PREVIOUS` can be dropped once none is left.
async fn reseal_secrets(state: &AppState) -> crate::store::StoreResult<()> {
    let Some(current) = state.vault.current_key_id() else { return Ok(()) };
    for hook in state.store.webhooks_sealed_with_other_keys(current).await? {
        match state.vault.reseal(&hook.secret, &hook.id) {
            Ok(resealed) => state.store.reseal_webhook_secret(&hook.id, &hook.secret, &resealed).await?,
            Err(_) => {
                tracing::warn!(webhook_id = %hook.id, "a webhook secret cannot be decrypted with the configured keys")
            }
        }
    }
    Ok(())
}
