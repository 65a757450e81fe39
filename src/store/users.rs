//! The `users` collection: accounts, their password hashes and their embedded permissions.
//!
//! Permissions live inside the user document so that authenticating a request reads one
//! document, and so that granting or revoking is a single atomic update.

use mongodb::bson::{self, doc};
use mongodb::options::ReturnDocument;
use serde::{Deserialize, Serialize};

use super::{DuplicateAs, Store, StoreResult, new_id, now_millis};
use crate::auth::permissions::Permission;

/// A stored user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRecord {
    /// Identifier.
    #[serde(rename = "_id")]
    pub id: String,
    /// Login e-mail, stored lower-cased and unique.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Everything this user has been granted.
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// Creation time, ms since the epoch.
    pub created: i64,
    /// Bumped by every update, for optimistic concurrency.
    #[serde(default)]
    pub version: i64,
}

/// What it takes to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login e-mail (normalised by the caller).
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Initial grants.
    pub permissions: Vec<Permission>,
}

impl Store {
    fn users(&self) -> mongodb::Collection<UserRecord> {
        self.db.collection("users")
    }

    /// Creates a user; a taken e-mail is a duplicate.
    pub async fn insert_user(&self, user: NewUser) -> StoreResult<UserRecord> {
        self.bounded(async {
            let record = UserRecord {
                id: new_id(),
                email: user.email,
                first_name: user.first_name,
                last_name: user.last_name,
                password_hash: user.password_hash,
                permissions: user.permissions,
                created: now_millis(),
                version: 0,
            };
            self.users().insert_one(&record).await.duplicate_as("A user with this email")?;
            Ok(record)
        })
        .await
    }

    /// The user with this id, if any.
    pub async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRecord>> {
        self.bounded(async { Ok(self.users().find_one(doc! { "_id": id }).await?) }).await
    }

    /// The user with this (normalised) e-mail, if any.
    pub async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        self.bounded(async { Ok(self.users().find_one(doc! { "email": email }).await?) }).await
    }

    /// One page of users, oldest first, and the total count.
    pub async fn list_users(&self, skip: u64, limit: i64) -> StoreResult<(Vec<UserRecord>, u64)> {
        self.bounded(async { super::page(&self.users(), doc! {}, doc! { "created": 1, "_id": 1 }, skip, limit).await })
            .await
    }

    /// One page of the users with access to a project (a grant in it, or the server-wide admin
    /// right), oldest first, and the total count.
    pub async fn project_members(
        &self,
        project_id: &str,
        skip: u64,
        limit: i64,
    ) -> StoreResult<(Vec<UserRecord>, u64)> {
        let filter = doc! { "$or": [
            { "permissions.properties.project_id": project_id },
            { "permissions.type": "admin" },
        ] };
        self.bounded(async { super::page(&self.users(), filter, doc! { "created": 1, "_id": 1 }, skip, limit).await })
            .await
    }

    /// Replaces the names of a user if nobody updated it since `version` was read.
    /// `None` means the user changed (or vanished) meanwhile.
    pub async fn update_user_names(
        &self,
        id: &str,
        version: i64,
        first_name: &str,
        last_name: &str,
    ) -> StoreResult<Option<UserRecord>> {
        self.bounded(async {
            Ok(self
                .users()
                .find_one_and_update(
                    doc! { "_id": id, "version": version },
                    doc! {
                        "$set": { "first_name": first_name, "last_name": last_name },
                        "$inc": { "version": 1 },
                    },
                )
                .return_document(ReturnDocument::After)
                .await?)
        })
        .await
    }

    /// Replaces a user's password hash.
    pub async fn set_password_hash(&self, id: &str, password_hash: &str) -> StoreResult<bool> {
        self.bounded(async {
            let result = self
                .users()
                .update_one(
                    doc! { "_id": id },
                    doc! { "$set": { "password_hash": password_hash }, "$inc": { "version": 1 } },
                )
                .await?;
            Ok(result.matched_count == 1)
        })
        .await
    }

    /// Adds a permission if nobody updated the user since `version` was read.
    /// `false` means the user changed (or vanished) meanwhile.
    pub async fn push_permission(&self, user_id: &str, version: i64, permission: &Permission) -> StoreResult<bool> {
        self.bounded(async {
            let permission = bson::to_bson(permission).map_err(anyhow::Error::from)?;
            let result = self
                .users()
                .update_one(
                    doc! { "_id": user_id, "version": version },
                    doc! { "$push": { "permissions": permission }, "$inc": { "version": 1 } },
                )
                .await?;
            Ok(result.modified_count == 1)
        })
        .await
    }

    /// Removes one permission; returns it when it existed.
    pub async fn pull_permission(&self, user_id: &str, permission_id: &str) -> StoreResult<Option<Permission>> {
        self.bounded(async {
            let before = self
                .users()
                .find_one_and_update(
                    doc! { "_id": user_id, "permissions.id": permission_id },
                    doc! { "$pull": { "permissions": { "id": permission_id } }, "$inc": { "version": 1 } },
                )
                .return_document(ReturnDocument::Before)
                .await?;
            Ok(before.and_then(|user| user.permissions.into_iter().find(|p| p.id == permission_id)))
        })
        .await
    }

    /// Removes every permission that points at a project, from every user.
    pub async fn pull_project_permissions(&self, project_id: &str) -> StoreResult<u64> {
        self.bounded(async {
            let result = self
                .users()
                .update_many(
                    doc! { "permissions.properties.project_id": project_id },
                    doc! {
                        "$pull": { "permissions": { "properties.project_id": project_id } },
                        "$inc": { "version": 1 },
                    },
                )
                .await?;
            Ok(result.modified_count)
        })
        .await
    }

    /// Grants a permission inside `session`'s transaction (a new project's creator).
    pub(super) async fn push_permission_in(
        &self,
        session: &mut mongodb::ClientSession,
        user_id: &str,
        permission: &Permission,
    ) -> mongodb::error::Result<()> {
        let grant = mongodb::bson::to_bson(permission)?;
        self.users()
            .update_one(doc! { "_id": user_id }, doc! { "$push": { "permissions": grant }, "$inc": { "version": 1 } })
            .session(session)
            .await?;
        Ok(())
    }
}
