//! Every index of every collection, created idempotently at start-up.

use mongodb::bson::doc;
use mongodb::options::IndexOptions;
use mongodb::{Database, IndexModel};
use std::time::Duration;

use super::StoreResult;

/// An index on one collection.
struct IndexSpec {
    collection: &'static str,
    name: &'static str,
    keys: mongodb::bson::Document,
    unique: bool,
    expire_after: Option<Duration>,
}

fn specs() -> Vec<IndexSpec> {
    let spec = |collection, name, keys, unique| IndexSpec { collection, name, keys, unique, expire_after: None };
    vec![
        spec("users", "email_unique", doc! { "email": 1 }, true),
        spec("users", "created", doc! { "created": 1, "_id": 1 }, false),
        spec("users", "permission_project", doc! { "permissions.properties.project_id": 1 }, false),
        spec("tokens", "user", doc! { "user_id": 1 }, false),
        spec("projects", "created", doc! { "created": 1, "_id": 1 }, false),
        spec("dialogues", "project", doc! { "project_id": 1, "created": 1, "_id": 1 }, false),
        spec("snapshots", "dialogue_number", doc! { "dialogue_id": 1, "number": -1 }, true),
        spec("snapshots", "project", doc! { "project_id": 1 }, false),
        spec("revisions", "dialogue_number", doc! { "dialogue_id": 1, "number": 1 }, true),
        spec("revisions", "dialogue_created", doc! { "dialogue_id": 1, "created": 1, "number": 1 }, false),
        spec("revisions", "project", doc! { "project_id": 1 }, false),
        spec("releases", "dialogue_number", doc! { "dialogue_id": 1, "number": 1 }, true),
        spec("releases", "project", doc! { "project_id": 1 }, false),
        spec("providers", "created", doc! { "created": 1, "_id": 1 }, false),
        spec("channels", "address_unique", doc! { "provider_id": 1, "type": 1, "address": 1 }, true),
        spec("channels", "project", doc! { "project_id": 1 }, false),
        spec("invites", "code_unique", doc! { "code_hash": 1 }, true),
        spec("invites", "project", doc! { "project_id": 1, "created": -1 }, false),
        spec("contacts", "address_unique", doc! { "project_id": 1, "channel_id": 1, "address": 1 }, true),
        spec("contacts", "project_created", doc! { "project_id": 1, "created": 1, "_id": 1 }, false),
        spec("contacts", "project_status", doc! { "project_id": 1, "bot_status": 1 }, false),
        IndexSpec {
            expire_after: Some(Duration::ZERO),
            ..spec("tokens", "expiry_ttl", doc! { "expires_at": 1 }, false)
        },
        IndexSpec {
            expire_after: Some(Duration::ZERO),
            ..spec("password_resets", "expiry_ttl", doc! { "expires_at": 1 }, false)
        },
        spec("attempts", "key_at", doc! { "key": 1, "at": -1 }, false),
        IndexSpec {
            expire_after: Some(Duration::ZERO),
            ..spec("attempts", "expiry_ttl", doc! { "expires": 1 }, false)
        },
        IndexSpec {
            expire_after: Some(Duration::ZERO),
            ..spec("handoffs", "expiry_ttl", doc! { "expires": 1 }, false)
        },
        spec("presence", "dialogue", doc! { "dialogue_id": 1 }, false),
        spec("presence", "process", doc! { "process": 1 }, false),
        spec("processes", "seen", doc! { "seen": 1 }, false),
        spec("webhooks", "project", doc! { "project_id": 1, "created": 1, "_id": 1 }, false),
        spec("webhooks", "events", doc! { "events": 1 }, false),
        spec("outbox", "created", doc! { "created": 1, "_id": 1 }, false),
        spec("outbox", "project", doc! { "project_id": 1 }, false),
        spec("webhook_watches", "project", doc! { "project_id": 1 }, false),
        spec("webhook_cursors", "hook", doc! { "hook_id": 1 }, false),
        spec("deliveries", "due", doc! { "status": 1, "next_at": 1 }, false),
        spec("deliveries", "order", doc! { "hook_id": 1, "dialogue_id": 1, "status": 1, "order": 1 }, false),
        spec("deliveries", "log", doc! { "hook_id": 1, "created": -1, "order": -1 }, false),
        IndexSpec {
            expire_after: Some(Duration::ZERO),
            ..spec("deliveries", "expiry_ttl", doc! { "expires": 1 }, false)
        },
    ]
}

/// Creates the indexes; an index that already exists with the same definition is left alone.
pub(super) async fn ensure(db: &Database) -> StoreResult<()> {
    for spec in specs() {
        let options = IndexOptions::builder()
            .name(spec.name.to_owned())
            .unique(spec.unique.then_some(true))
            .expire_after(spec.expire_after)
            .build();
        let model = IndexModel::builder().keys(spec.keys).options(options).build();
        db.collection::<mongodb::bson::Document>(spec.collection).create_index(model).await?;
    }
    Ok(())
}
