//! The scheduler: turns the outbox into deliveries. One process at a time holds its lease (the
//! others stand by and take over within [`LEASE`] when the holder dies); each tick it
//!
//! - fans each outbox event out to the project's hooks that receive it and were registered
//!   before it happened, then removes the event;
//! - for each watched dialogue and each hook on `dialogue.changed`, makes one delivery covering
//!   every revision since the hook's last one, unless one is still pending or the last was made
//!   less than the debounce ago; a hook's first delivery on a dialogue starts after the last
//!   revision accepted before the hook was registered.
//!
//! Outbox events go first: while a backlog of them is left, changes wait, so that a dialogue's
//! creation is announced before its changes. The watched dialogues are walked a page per tick,
//! and the lease is renewed during a long tick.
//!
//! Delivery ids are derived from what they cover (`<event>.<hook>`, `<hook>.<dialogue>.<from>`),
//! so a tick repeated after a crash, or by a new holder of the lease, makes no duplicate.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::events::{self, DIALOGUE_CHANGED};
use super::watch;
use crate::state::AppState;
use crate::store::{
    CursorRecord, DeliveryRecord, OutboxEvent, Store, StoreResult, WatchRecord, WebhookRecord, now_millis,
};

/// How often the scheduler looks at the outbox.
pub const TICK: Duration = Duration::from_millis(250);
/// How long the scheduler's lease lasts without renewal.
const LEASE: Duration = Duration::from_secs(10);
/// Renew the lease during a tick once this much of it has passed.
const RENEW_AFTER: Duration = Duration::from_secs(3);
/// Outbox events handled per tick.
const EVENTS_PER_TICK: i64 = 500;
/// Watched dialogues looked at per tick (a walk through all of them takes several ticks).
const WATCHES_PER_TICK: i64 = 1000;

/// The scheduler of this process: where its walk through the watched dialogues is.
#[derive(Debug, Default)]
pub struct Scheduler {
    resume_after: Option<String>,
    lease_taken: Option<Instant>,
}

impl Scheduler {
    /// One tick: when this process holds (or takes) the lease, schedules what is due.
    pub async fn tick(&mut self, state: &Arc<AppState>) -> StoreResult<()> {
        if !self.hold_lease(state).await? {
            return Ok(());
        }
        // The page of watches is read before the outbox: a watched dialogue's creation was
        // committed before its first watch, so the outbox read next holds it, and creations go
        // out before the changes below.
        let watched = state.store.watched_dialogues(self.resume_after.as_deref(), WATCHES_PER_TICK).await?;
        if self.fan_out(state).await? == Backlog::Left {
            // Creations first: a dialogue's change must not be announced before it is.
            return Ok(());
        }
        let full_page = watched.len() as i64 == WATCHES_PER_TICK;
        let debounce = i64::try_from(state.settings.webhook_debounce_ms).unwrap_or(i64::MAX);
        let mut hooks: HashMap<String, Vec<WebhookRecord>> = HashMap::new();
        for watch in watched {
            if !self.hold_lease(state).await? {
                return Ok(());
            }
            if !hooks.contains_key(&watch.project_id) {
                let receiving = state.store.webhooks_receiving(&watch.project_id, DIALOGUE_CHANGED).await?;
                hooks.insert(watch.project_id.clone(), receiving);
            }
            let caught_up = schedule_dialogue(state, &watch, &hooks[&watch.project_id], debounce).await?;
            if caught_up && watch::lapsed(watch.until, now_millis()) {
                state.store.unwatch_dialogue(&watch).await?;
            }
            // The walk resumes after the last watch handled, even when this tick stops early.
            self.resume_after = Some(watch.dialogue_id);
        }
        if !full_page {
            self.resume_after = None;
        }
        Ok(())
    }

    /// Takes or renews the lease when it is due for renewal; whether this process holds it.
    async fn hold_lease(&mut self, state: &AppState) -> StoreResult<bool> {
        if self.lease_taken.is_some_and(|taken| taken.elapsed() < RENEW_AFTER) {
            return Ok(true);
        }
        let store = &state.store;
        // Counted from before the call: the lease may have been granted at any point of it.
        let asked = Instant::now();
        let now = now_millis();
        let until = now + i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
        let held = store.take_lease("webhook-scheduler", store.process_id(), now, until).await?;
        self.lease_taken = held.then_some(asked);
        Ok(held)
    }

    /// Deliveries of `dialogue.created` and `release.created`.
    async fn fan_out(&mut self, state: &AppState) -> StoreResult<Backlog> {
        let store = &state.store;
        let mut hooks: HashMap<(String, String), Vec<WebhookRecord>> = HashMap::new();
        let events = store.outbox_events(EVENTS_PER_TICK).await?;
        let backlog = if events.len() as i64 == EVENTS_PER_TICK { Backlog::Left } else { Backlog::Done };
        // Events fanned out are removed together, in one command: one per event made a burst of
        // created dialogues cost a round trip each. An event fanned out again after a failure
        // in between queues nothing twice (a delivery's id is the event's and the hook's).
        let mut done = Vec::new();
        for event in events {
            if !self.hold_lease(state).await? {
                store.remove_outbox_events(&done).await?;
                return Ok(Backlog::Left);
            }
            let key = (event.project_id.clone(), event.event.clone());
            if !hooks.contains_key(&key) {
                let receiving = store.webhooks_receiving(&event.project_id, &event.event).await?;
                hooks.insert(key.clone(), receiving);
            }
            for hook in hooks[&key].iter().filter(|hook| hook.created <= event.created) {
                queue(store, delivery_of(&event, hook)).await?;
            }
            done.push(event.id);
        }
        store.remove_outbox_events(&done).await?;
        Ok(backlog)
    }
}

/// Whether outbox events are left after a tick's share.
#[derive(Debug, PartialEq, Eq)]
enum Backlog {
    Left,
    Done,
}

/// Queues a delivery, due when the one before it (same hook and dialogue) is; whether it is new.
async fn queue(store: &Store, mut delivery: DeliveryRecord) -> StoreResult<bool> {
    if let Some(due) = store.pending_due_at(&delivery.hook_id, &delivery.dialogue_id).await? {
        delivery.next_at = delivery.next_at.max(due);
    }
    store.insert_delivery(&delivery).await
}

fn delivery_of(event: &OutboxEvent, hook: &WebhookRecord) -> DeliveryRecord {
    let id = format!("{}.{}", event.id, hook.id);
    let data = serde_json::from_str(&event.data).unwrap_or_default();
    let body = events::body(&id, &event.event, &event.project_id, &event.dialogue_id, now_millis(), data);
    DeliveryRecord::new(id, &hook.id, &event.project_id, &event.dialogue_id, &event.event, body)
}

/// Makes the deliveries one watched dialogue is due; answers whether every hook has covered
/// its newest revision.
async fn schedule_dialogue(
    state: &AppState,
    watched: &WatchRecord,
    hooks: &[WebhookRecord],
    debounce: i64,
) -> StoreResult<bool> {
    if hooks.is_empty() {
        return Ok(true);
    }
    let store = &state.store;
    let dialogue_id = &watched.dialogue_id;
    let Some((newest, newest_id)) = store.newest_revision(dialogue_id).await? else { return Ok(true) };
    let mut caught_up = true;
    for hook in hooks {
        let mut cursor = match store.webhook_cursor(&hook.id, dialogue_id).await? {
            Some(cursor) => cursor,
            None => CursorRecord {
                id: CursorRecord::key(&hook.id, dialogue_id),
                hook_id: hook.id.clone(),
                dialogue_id: dialogue_id.clone(),
                through: store.last_revision_before(dialogue_id, hook.created).await?,
                last_delivery: 0,
            },
        };
        if newest <= cursor.through {
            continue;
        }
        caught_up = false;
        let now = now_millis();
        if now < cursor.last_delivery.saturating_add(debounce)
            || store.change_delivery_pending(&hook.id, dialogue_id).await?
        {
            continue;
        }
        let from = cursor.through + 1;
        let id = format!("{}.{}.{}", hook.id, dialogue_id, from);
        let data = events::changed_data(from, newest, &newest_id);
        let body = events::body(&id, DIALOGUE_CHANGED, &watched.project_id, dialogue_id, now, data);
        let delivery =
            DeliveryRecord::new(id.clone(), &hook.id, &watched.project_id, dialogue_id, DIALOGUE_CHANGED, body);
        let through = if queue(store, delivery).await? {
            newest
        } else {
            // Made before (by a tick that did not get to move the cursor): it covers what it covers.
            store.delivery(&id).await?.and_then(|made| covered_to(&made.body)).unwrap_or(newest)
        };
        cursor.through = through;
        cursor.last_delivery = now;
        store.save_webhook_cursor(&cursor).await?;
    }
    Ok(caught_up)
}

/// The last revision a `dialogue.changed` body covers.
fn covered_to(body: &str) -> Option<i64> {
    serde_json::from_str::<serde_json::Value>(body).ok()?["data"]["to_revision"].as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_a_delivery_covers_is_read_back_from_its_body() {
        let body = events::body("i", DIALOGUE_CHANGED, "p", "d", 1, events::changed_data(4, 9, "r9"));
        assert_eq!(covered_to(&body), Some(9));
        assert_eq!(covered_to("{}"), None);
    }
}
