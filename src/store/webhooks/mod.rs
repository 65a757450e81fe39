//! The webhook collections. `webhooks` holds the hooks of each project, their secrets sealed by
//! the vault; [`outbox`] holds what happened and is not yet turned into deliveries (events
//! written with the change they describe, and the dialogues being edited in hooked projects);
//! [`deliveries`] holds each delivery, its attempts and its lease, and the scheduler's lease.

use futures_util::TryStreamExt;
use mongodb::bson::doc;
use serde::{Deserialize, Serialize};

use super::{Store, StoreResult};
use crate::vault::Sealed;

mod deliveries;
mod outbox;

pub use deliveries::{DeliveryRecord, DeliveryStatus, Finish, QueueDepth};
pub use outbox::{CursorRecord, OutboxEvent, WatchRecord};

/// A stored webhook.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookRecord {
    /// Identifier.
    #[serde(rename = "_id")]
    pub id: String,
    /// The project whose events it receives.
    pub project_id: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The events it receives (`dialogue.created`, `dialogue.changed`, `release.created`).
    pub events: Vec<String>,
    /// The signing secret, encrypted (bound to the hook's id).
    pub secret: Sealed,
    /// Creation time, ms since the epoch (server clock): the hook receives what happens after.
    pub created: i64,
    /// Who registered it.
    pub created_by: String,
}

impl WebhookRecord {
    /// Whether it receives `event`.
    pub fn receives(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }
}

#[derive(Deserialize)]
struct ProjectOnly {
    project_id: String,
}

impl Store {
    fn webhooks(&self) -> mongodb::Collection<WebhookRecord> {
        self.db.collection("webhooks")
    }

    /// Stores a hook.
    pub async fn insert_webhook(&self, hook: &WebhookRecord) -> StoreResult<()> {
        self.bounded(async {
            self.webhooks().insert_one(hook).await?;
            Ok(())
        })
        .await
    }

    /// One page of a project's hooks, oldest first, with the total.
    pub async fn list_webhooks(
        &self,
        project_id: &str,
        skip: u64,
        limit: i64,
    ) -> StoreResult<(Vec<WebhookRecord>, u64)> {
        self.bounded(async {
            let filter = doc! { "project_id": project_id };
            super::page(&self.webhooks(), filter, doc! { "created": 1, "_id": 1 }, skip, limit).await
        })
        .await
    }

    /// The hook `id` of project `project_id`.
    pub async fn webhook_in(&self, project_id: &str, id: &str) -> StoreResult<Option<WebhookRecord>> {
        self.bounded(async { Ok(self.webhooks().find_one(doc! { "_id": id, "project_id": project_id }).await?) }).await
    }

    /// The hook `id`, whatever its project (for the delivery workers).
    pub async fn webhook(&self, id: &str) -> StoreResult<Option<WebhookRecord>> {
        self.bounded(async { Ok(self.webhooks().find_one(doc! { "_id": id }).await?) }).await
    }

    /// The hooks of a project that receive `event`.
    pub async fn webhooks_receiving(&self, project_id: &str, event: &str) -> StoreResult<Vec<WebhookRecord>> {
        self.bounded(async {
            let cursor = self.webhooks().find(doc! { "project_id": project_id, "events": event }).await?;
            Ok(cursor.try_collect().await?)
        })
        .await
    }

    /// The projects that have a hook receiving `event`.
    pub async fn projects_with_webhooks(&self, event: &str) -> StoreResult<Vec<String>> {
        self.bounded(async {
            let cursor = self
                .db
                .collection::<ProjectOnly>("webhooks")
                .find(doc! { "events": event })
                .projection(doc! { "_id": 0, "project_id": 1 })
                .await?;
            let projects: Vec<ProjectOnly> = cursor.try_collect().await?;
            Ok(projects.into_iter().map(|p| p.project_id).collect())
        })
        .await
    }

    /// The hooks whose secret was sealed with another key than `key_id` (after a key rotation).
    pub async fn webhooks_sealed_with_other_keys(&self, key_id: &str) -> StoreResult<Vec<WebhookRecord>> {
        self.bounded(async {
            Ok(self.webhooks().find(doc! { "secret.key_id": { "$ne": key_id } }).await?.try_collect().await?)
        })
        .await
    }

    /// Replaces a hook's sealed secret, unless it changed since `old` was read.
    pub async fn reseal_webhook_secret(&self, id: &str, old: &Sealed, new: &Sealed) -> StoreResult<()> {
        let new = mongodb::bson::to_bson(new).map_err(|error| super::StoreError::Other(error.into()))?;
        self.bounded(async {
            self.webhooks()
                .update_one(
                    doc! { "_id": id, "secret.key_id": &old.key_id, "secret.nonce": &old.nonce },
                    doc! { "$set": { "secret": new } },
                )
                .await?;
            Ok(())
        })
        .await
    }

    /// Removes a hook of a project with its deliveries and cursors; `false` when there was none.
    pub async fn delete_webhook(&self, project_id: &str, id: &str) -> StoreResult<bool> {
        self.bounded(async {
            let deleted = self.webhooks().delete_one(doc! { "_id": id, "project_id": project_id }).await?.deleted_count;
            if deleted == 0 {
                return Ok(false);
            }
            self.forget_hook_deliveries(id).await?;
            Ok(true)
        })
        .await
    }

    /// Removes what belongs to a deleted project (part of the project cascade).
    pub(in crate::store) async fn forget_project_webhooks(&self, project_id: &str) -> StoreResult<()> {
        let hooks: Vec<WebhookRecord> =
            self.webhooks().find(doc! { "project_id": project_id }).await?.try_collect().await?;
        self.webhooks().delete_many(doc! { "project_id": project_id }).await?;
        for hook in hooks {
            self.forget_hook_deliveries(&hook.id).await?;
        }
        self.forget_project_outbox(project_id).await
    }
}
