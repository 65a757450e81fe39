//! The `attempts` collection: failed sign-ins and password reset requests, by key (an e-mail
//! address or a client address), kept for a minute. The sign-in throttle counts them here, so
//! that its budget holds across every server process sharing the database.

use mongodb::bson::{DateTime, doc};
use serde::{Deserialize, Serialize};

use super::{Store, StoreResult, new_id, now_millis};

/// How long an attempt counts.
pub const ATTEMPT_WINDOW_MILLIS: i64 = 60_000;

/// One stored attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Attempt {
    #[serde(rename = "_id")]
    id: String,
    key: String,
    /// When, in ms since the epoch.
    at: i64,
    /// The same instant as a BSON date, for the TTL index that removes old attempts.
    expires: DateTime,
}

impl Store {
    fn attempts(&self) -> mongodb::Collection<Attempt> {
        self.db.collection("attempts")
    }

    /// Records one attempt under each key.
    pub async fn record_attempt(&self, keys: &[&str]) -> StoreResult<()> {
        self.bounded(async {
            let at = now_millis();
            let expires = DateTime::from_millis(at + ATTEMPT_WINDOW_MILLIS);
            let attempts: Vec<Attempt> =
                keys.iter().map(|key| Attempt { id: new_id(), key: (*key).to_owned(), at, expires }).collect();
            self.attempts().insert_many(attempts).await?;
            Ok(())
        })
        .await
    }

    /// When a key that has `budget` or more attempts in the last minute gets one back (ms since
    /// the epoch); `None` while it is under budget.
    pub async fn attempts_exhausted_until(&self, key: &str, budget: u64) -> StoreResult<Option<i64>> {
        self.bounded(async {
            let since = now_millis() - ATTEMPT_WINDOW_MILLIS;
            let filter = doc! { "key": key, "at": { "$gt": since } };
            let count = self.attempts().count_documents(filter.clone()).await?;
            if count < budget.max(1) {
                return Ok(None);
            }
            // The attempt that must age out before the key is under budget again.
            let skip = budget.max(1) - 1;
            let oldest_counted = self.attempts().find_one(filter).sort(doc! { "at": -1 }).skip(skip).await?;
            Ok(Some(oldest_counted.map_or(now_millis() + ATTEMPT_WINDOW_MILLIS, |a| a.at + ATTEMPT_WINDOW_MILLIS)))
        })
        .await
    }
}
