//! The `projects` collection, and the cascade that removes a project with everything under it.

use mongodb::bson::doc;
use mongodb::options::ReturnDocument;
use serde::{Deserialize, Serialize};

use super::{Store, StoreResult, new_id, now_millis};
use crate::auth::permissions::Permission;

/// A stored project.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProjectRecord {
    /// Identifier.
    #[serde(rename = "_id")]
    pub id: String,
    /// Human readable title.
    pub title: String,
    /// Archived projects stay readable.
    #[serde(default)]
    pub is_archived: bool,
    /// Creation time, ms since the epoch.
    pub created: i64,
    /// Bumped by every update, for optimistic concurrency.
    #[serde(default)]
    pub version: i64,
}

/// Which projects a listing may show.
pub enum ProjectScope<'a> {
    /// Every project (administrators).
    All,
    /// Only these ids.
    Only(&'a [String]),
}

impl Store {
    pub(super) fn projects(&self) -> mongodb::Collection<ProjectRecord> {
        self.db.collection("projects")
    }

    /// Creates a project and grants `creator_grant` to its creator in one transaction, so that
    /// nobody ever sees a project without its admin.
    pub async fn create_project(
        &self,
        title: &str,
        is_archived: bool,
        creator_id: &str,
        creator_grant: impl FnOnce(&str) -> Permission,
    ) -> StoreResult<ProjectRecord> {
        self.bounded(async {
            let record =
                ProjectRecord { id: new_id(), title: title.to_owned(), is_archived, created: now_millis(), version: 0 };
            let grant = creator_grant(&record.id);
            let projects = self.projects();
            let mut session = self.client.start_session().await?;
            session
                .start_transaction()
                .and_run2(async |session| {
                    projects.insert_one(&record).session(&mut *session).await?;
                    self.push_permission_in(session, creator_id, &grant).await
                })
                .await?;
            Ok(record)
        })
        .await
    }

    /// The project with this id, if any.
    pub async fn project_by_id(&self, id: &str) -> StoreResult<Option<ProjectRecord>> {
        self.bounded(async { Ok(self.projects().find_one(doc! { "_id": id }).await?) }).await
    }

    /// One page of the projects in `scope`, oldest first, and their total.
    pub async fn list_projects(
        &self,
        scope: ProjectScope<'_>,
        skip: u64,
        limit: i64,
    ) -> StoreResult<(Vec<ProjectRecord>, u64)> {
        self.bounded(async {
            let filter = match scope {
                ProjectScope::All => doc! {},
                ProjectScope::Only(ids) => doc! { "_id": { "$in": ids } },
            };
            super::page(&self.projects(), filter, doc! { "created": 1, "_id": 1 }, skip, limit).await
        })
        .await
    }

    /// Replaces a project's writable fields if nobody updated it since `version` was read.
    pub async fn update_project(
        &self,
        id: &str,
        version: i64,
        title: &str,
        is_archived: bool,
    ) -> StoreResult<Option<ProjectRecord>> {
        self.bounded(async {
            Ok(self
                .projects()
                .find_one_and_update(
                    doc! { "_id": id, "version": version },
                    doc! { "$set": { "title": title, "is_archived": is_archived }, "$inc": { "version": 1 } },
                )
                .return_document(ReturnDocument::After)
                .await?)
        })
        .await
    }

    /// Removes a project and everything under it: dialogues and their history, invites,
    /// contacts, webhooks and their deliveries, the grants that named it; its channels become free. The project document goes
    /// first, so the project disappears at once even if the cascade is interrupted.
    pub async fn delete_project(&self, id: &str) -> StoreResult<bool> {
        self.bounded(async {
            let deleted = self.projects().delete_one(doc! { "_id": id }).await?.deleted_count == 1;
            if !deleted {
                return Ok(false);
            }
            self.forget_project_dialogues(id).await?;
            self.forget_project_revisions(id).await?;
            self.forget_project_snapshots(id).await?;
            self.forget_project_releases(id).await?;
            self.forget_project_invites(id).await?;
            self.forget_project_contacts(id).await?;
            self.forget_project_channels(id).await?;
            self.forget_project_webhooks(id).await?;
            self.pull_project_permissions(id).await?;
            Ok(true)
        })
        .await
    }
}
