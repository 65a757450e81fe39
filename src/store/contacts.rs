//! The `contacts` collection: the end users a project's dialogues talk to, unique per
//! (project, channel, address), with a bot status and a state shared across the project's
//! dialogues (kept as JSON text, so any key survives).

use mongodb::bson::doc;
use mongodb::options::ReturnDocument;
use serde::{Deserialize, Serialize};

use super::{DuplicateAs, Store, StoreResult};

/// A stored contact.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContactRecord {
    /// Identifier.
    #[serde(rename = "_id")]
    pub id: String,
    /// Its project.
    pub project_id: String,
    /// Its address on the channel (a phone number, a handle).
    pub address: String,
    /// The channel it talks through, if known.
    pub channel_id: Option<String>,
    /// `active`, or `muted` while a human has taken over.
    pub bot_status: String,
    /// The end user's state, as JSON text.
    pub state: String,
    /// Creation time, ms since the epoch.
    pub created: i64,
    /// Last change, ms since the epoch.
    pub updated: i64,
}

/// The same change to several contacts: the fields to set (`None`: leave as it is).
#[derive(Debug, Default)]
pub struct ContactUpdate {
    /// New bot status.
    pub bot_status: Option<String>,
    /// New state, as JSON text.
    pub state: Option<String>,
    /// When, ms since the epoch.
    pub updated: i64,
}

/// The contact list filters.
#[derive(Debug, Default)]
pub struct ContactFilter {
    /// Only this bot status.
    pub bot_status: Option<String>,
    /// Only this channel.
    pub channel_id: Option<String>,
    /// Only this address.
    pub address: Option<String>,
}

const DUPLICATE: &str = "A contact with this channel and address in this project";

impl Store {
    fn contacts(&self) -> mongodb::Collection<ContactRecord> {
        self.db.collection("contacts")
    }

    /// Stores a contact.
    pub async fn insert_contact(&self, contact: &ContactRecord) -> StoreResult<()> {
        self.bounded(async {
            self.contacts().insert_one(contact).await.duplicate_as(DUPLICATE)?;
            Ok(())
        })
        .await
    }

    /// A contact of a project.
    pub async fn contact_by_id(&self, project_id: &str, id: &str) -> StoreResult<Option<ContactRecord>> {
        self.bounded(async { Ok(self.contacts().find_one(doc! { "_id": id, "project_id": project_id }).await?) }).await
    }

    /// One page of a project's contacts, oldest first, with the total.
    pub async fn list_contacts(
        &self,
        project_id: &str,
        filter: &ContactFilter,
        skip: u64,
        limit: i64,
    ) -> StoreResult<(Vec<ContactRecord>, u64)> {
        self.bounded(async {
            let mut query = doc! { "project_id": project_id };
            if let Some(status) = &filter.bot_status {
                query.insert("bot_status", status);
            }
            if let Some(channel) = &filter.channel_id {
                query.insert("channel_id", channel);
            }
            if let Some(address) = &filter.address {
                query.insert("address", address);
            }
            super::page(&self.contacts(), query, doc! { "created": 1, "_id": 1 }, skip, limit).await
        })
        .await
    }

    /// Replaces a contact's writable fields.
    pub async fn replace_contact(&self, contact: &ContactRecord) -> StoreResult<Option<ContactRecord>> {
        self.bounded(async {
            self.contacts()
                .find_one_and_update(
                    doc! { "_id": &contact.id, "project_id": &contact.project_id },
                    doc! { "$set": {
                        "address": &contact.address,
                        "channel_id": &contact.channel_id,
                        "bot_status": &contact.bot_status,
                        "state": &contact.state,
                        "updated": contact.updated,
                    } },
                )
                .return_document(ReturnDocument::After)
                .await
                .duplicate_as(DUPLICATE)
        })
        .await
    }

    /// Applies `update` to every listed contact of a project, or to none: the ids must all
    /// exist. Returns the updated contacts, or `None` when an id is unknown.
    pub async fn update_contacts(
        &self,
        project_id: &str,
        ids: &[String],
        update: &ContactUpdate,
    ) -> StoreResult<Option<Vec<ContactRecord>>> {
        let mut set = doc! { "updated": update.updated };
        if let Some(status) = &update.bot_status {
            set.insert("bot_status", status);
        }
        if let Some(state) = &update.state {
            set.insert("state", state);
        }
        self.bounded(async {
            let filter = doc! { "project_id": project_id, "_id": { "$in": ids } };
            let contacts = self.contacts();
            let mut session = self.client.start_session().await?;
            let updated = session
                .start_transaction()
                .and_run2(async |session| {
                    let found = contacts.count_documents(filter.clone()).session(&mut *session).await?;
                    if found != ids.len() as u64 {
                        return Ok(None);
                    }
                    contacts.update_many(filter.clone(), doc! { "$set": set.clone() }).session(&mut *session).await?;
                    let mut cursor = contacts
                        .find(filter.clone())
                        .sort(doc! { "created": 1, "_id": 1 })
                        .session(&mut *session)
                        .await?;
                    let mut updated = Vec::new();
                    while let Some(contact) = cursor.next(&mut *session).await {
                        updated.push(contact?);
                    }
                    Ok(Some(updated))
                })
                .await?;
            Ok(updated)
        })
        .await
    }

    /// Removes what belongs to a deleted project (part of the project cascade).
    pub(super) async fn forget_project_contacts(&self, project_id: &str) -> StoreResult<()> {
        self.contacts().delete_many(doc! { "project_id": project_id }).await?;
        Ok(())
    }
}
