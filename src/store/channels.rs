//! The `providers` and `channels` collections. A channel belongs to at most one project at a
//! time; claiming it is a single conditional update, so two projects can never both hold it.

use futures_util::TryStreamExt;
use mongodb::bson::{self, doc};
use mongodb::options::ReturnDocument;
use serde::{Deserialize, Serialize};

use super::{DuplicateAs, Store, StoreResult};
use crate::vault::Sealed;

/// A stored provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderRecord {
    /// Identifier.
    #[serde(rename = "_id")]
    pub id: String,
    /// Human readable title, such as "MTN Nigeria".
    pub title: String,
    /// Creation time, ms since the epoch.
    pub created: i64,
}

/// A stored channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelRecord {
    /// Identifier.
    #[serde(rename = "_id")]
    pub id: String,
    /// Human readable title.
    pub title: String,
    /// The address, such as `*120*321#` or `@foo`.
    pub address: String,
    /// The kind, such as `sms` or `ussd`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The provider offering it.
    pub provider_id: String,
    /// The project using it, if any.
    pub project_id: Option<String>,
    /// Encrypted gateway credentials, if any.
    #[serde(default)]
    pub credentials: Option<Sealed>,
    /// Creation time, ms since the epoch.
    pub created: i64,
}

/// What a channel update does to its credentials.
pub enum CredentialsChange {
    /// Leave them as stored.
    Keep,
    /// Remove them.
    Remove,
    /// Replace them (or re-seal them under the current key).
    Set(Sealed),
}

/// Outcome of assigning a channel to a project.
pub enum Assignment {
    /// Done; the channel as stored.
    Assigned(Box<ChannelRecord>),
    /// Another project holds it.
    Taken,
    /// No such channel.
    Missing,
}

impl Store {
    fn providers(&self) -> mongodb::Collection<ProviderRecord> {
        self.db.collection("providers")
    }

    pub(super) fn channels(&self) -> mongodb::Collection<ChannelRecord> {
        self.db.collection("channels")
    }

    /// Stores a provider.
    pub async fn insert_provider(&self, provider: &ProviderRecord) -> StoreResult<()> {
        self.bounded(async {
            self.providers().insert_one(provider).await.duplicate_as("A provider with this title")?;
            Ok(())
        })
        .await
    }

    /// The provider with this id.
    pub async fn provider_by_id(&self, id: &str) -> StoreResult<Option<ProviderRecord>> {
        self.bounded(async { Ok(self.providers().find_one(doc! { "_id": id }).await?) }).await
    }

    /// The providers with these ids (all when `None`), oldest first, one page, with the total.
    pub async fn list_providers(&self, skip: u64, limit: i64) -> StoreResult<(Vec<ProviderRecord>, u64)> {
        self.bounded(async {
            super::page(&self.providers(), doc! {}, doc! { "created": 1, "_id": 1 }, skip, limit).await
        })
        .await
    }

    /// Providers by id (for channel descriptions).
    pub async fn providers_by_ids(&self, ids: &[String]) -> StoreResult<Vec<ProviderRecord>> {
        self.bounded(async { Ok(self.providers().find(doc! { "_id": { "$in": ids } }).await?.try_collect().await?) })
            .await
    }

    /// Stores a channel; the same provider, type and address twice is a duplicate.
    pub async fn insert_channel(&self, channel: &ChannelRecord) -> StoreResult<()> {
        self.bounded(async {
            self.channels().insert_one(channel).await.duplicate_as("A channel with this provider, type and address")?;
            Ok(())
        })
        .await
    }

    /// The channel with this id.
    pub async fn channel_by_id(&self, id: &str) -> StoreResult<Option<ChannelRecord>> {
        self.bounded(async { Ok(self.channels().find_one(doc! { "_id": id }).await?) }).await
    }

    /// Channels matching a filter field (`project_id` or `provider_id`), or all, one page.
    pub async fn list_channels(
        &self,
        field: Option<(&str, &str)>,
        skip: u64,
        limit: i64,
    ) -> StoreResult<(Vec<ChannelRecord>, u64)> {
        self.bounded(async {
            let filter = match field {
                Some((name, value)) => doc! { name: value },
                None => doc! {},
            };
            super::page(&self.channels(), filter, doc! { "created": 1, "_id": 1 }, skip, limit).await
        })
        .await
    }

    /// Gives a channel to `project_id` (or frees it with `None`) and, in the same write, changes
    /// its credentials: refused, with nothing changed, when another project holds it.
    pub async fn assign_channel(
        &self,
        id: &str,
        project_id: Option<&str>,
        credentials: CredentialsChange,
    ) -> StoreResult<Assignment> {
        self.bounded(async {
            let filter = match project_id {
                Some(project) => doc! { "_id": id, "$or": [ { "project_id": null }, { "project_id": project } ] },
                None => doc! { "_id": id },
            };
            let mut set = doc! { "project_id": project_id };
            match credentials {
                CredentialsChange::Keep => {}
                CredentialsChange::Remove => {
                    set.insert("credentials", bson::Bson::Null);
                }
                CredentialsChange::Set(sealed) => {
                    set.insert("credentials", bson::to_bson(&sealed).map_err(anyhow::Error::from)?);
                }
            }
            let updated = self
                .channels()
                .find_one_and_update(filter, doc! { "$set": set })
                .return_document(ReturnDocument::After)
                .await?;
            Ok(match updated {
                Some(channel) => Assignment::Assigned(Box::new(channel)),
                None if self.channel_by_id(id).await?.is_some() => Assignment::Taken,
                None => Assignment::Missing,
            })
        })
        .await
    }

    /// Deletes a channel; `false` when there was none.
    pub async fn delete_channel(&self, id: &str) -> StoreResult<bool> {
        self.bounded(async { Ok(self.channels().delete_one(doc! { "_id": id }).await?.deleted_count == 1) }).await
    }

    /// Frees the channels a deleted project held (part of the project cascade).
    pub(super) async fn forget_project_channels(&self, project_id: &str) -> StoreResult<()> {
        self.channels().update_many(doc! { "project_id": project_id }, doc! { "$set": { "project_id": null } }).await?;
        Ok(())
    }
}
