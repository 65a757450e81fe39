//! The `deliveries` collection: every delivery of a hook, from queued to delivered or failed,
//! with its attempts. A process claims a due delivery with a lease (one conditional update), so
//! that one attempt is sent by one process only; a process that dies mid-attempt lets its lease
//! run out and another tries again. A TTL index removes deliveries a week after they were made.
//! Also `leases`: named leases, such as the scheduler's, held by one process at a time.

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError, StoreResult, millis_as_date};

/// How long a delivery (and its log entry) is kept after it was made.
pub const KEPT_MILLIS: i64 = 7 * 24 * 3600 * 1000;

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not yet delivered; tried again when due.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Retries ran out (or the hook's secret cannot be opened).
    Failed,
}

/// One delivery of one hook.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// Identifier, also the body's `id` and `X-Dialogue-Delivery`.
    #[serde(rename = "_id")]
    pub id: String,
    /// The hook.
    pub hook_id: String,
    /// Its project.
    pub project_id: String,
    /// The dialogue it is about.
    pub dialogue_id: String,
    /// The event.
    pub event: String,
    /// The exact body every attempt sends.
    pub body: String,
    /// Where it is.
    pub status: DeliveryStatus,
    /// Attempts so far (counted when claimed).
    pub attempts: i64,
    /// The receiver's status at the last attempt.
    #[serde(default)]
    pub response_status: Option<i64>,
    /// Why the last attempt failed.
    #[serde(default)]
    pub last_error: Option<String>,
    /// When it was made, ms since the epoch.
    pub created: i64,
    /// When it was first tried.
    #[serde(default)]
    pub first_attempt: Option<i64>,
    /// When the receiver took it.
    #[serde(default)]
    pub delivered: Option<i64>,
    /// When it is next due.
    pub next_at: i64,
    /// Until when the process `lease_holder` has it (0: nobody).
    pub lease_until: i64,
    /// The process trying it.
    #[serde(default)]
    pub lease_holder: Option<String>,
    /// Its place among the deliveries of the same hook and dialogue.
    pub order: i64,
    /// When the TTL index removes it.
    #[serde(with = "millis_as_date")]
    pub expires: i64,
}

impl DeliveryRecord {
    /// A new pending delivery, due at once.
    pub fn new(id: String, hook_id: &str, project_id: &str, dialogue_id: &str, event: &str, body: String) -> Self {
        let now = crate::store::now_millis();
        Self {
            id,
            hook_id: hook_id.to_owned(),
            project_id: project_id.to_owned(),
            dialogue_id: dialogue_id.to_owned(),
            event: event.to_owned(),
            body,
            status: DeliveryStatus::Pending,
            attempts: 0,
            response_status: None,
            last_error: None,
            created: now,
            first_attempt: None,
            delivered: None,
            next_at: now,
            lease_until: 0,
            lease_holder: None,
            order: next_order(now),
            expires: now + KEPT_MILLIS,
        }
    }
}

/// Orders deliveries made by this process: milliseconds, with room for many in one.
fn next_order(now: i64) -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let wanted = now.saturating_mul(1024);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = wanted.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum Finish {
    /// The receiver took it.
    Delivered {
        /// Its status.
        status: i64,
    },
    /// It failed and is tried again at `next_at`.
    Retry {
        /// The receiver's status, if it answered.
        status: Option<i64>,
        /// Why it failed.
        error: String,
        /// When to try again.
        next_at: i64,
    },
    /// It failed for good.
    Failed {
        /// The receiver's status, if it answered.
        status: Option<i64>,
        /// Why.
        error: String,
    },
}

/// How many deliveries wait, and since when the oldest.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueDepth {
    /// Pending deliveries.
    pub pending: u64,
    /// When the oldest pending one was made (ms), if any.
    pub oldest: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct Lease {
    #[serde(rename = "_id")]
    name: String,
    holder: String,
    until: i64,
}

impl Store {
    fn deliveries(&self) -> mongodb::Collection<DeliveryRecord> {
        self.db.collection("deliveries")
    }

    /// The same collection, for queries that only need to know whether something matches.
    fn delivery_ids(&self) -> mongodb::Collection<Document> {
        self.db.collection("deliveries")
    }

    /// Queues a delivery; `Ok(false)` when one with its id is already queued.
    pub async fn insert_delivery(&self, delivery: &DeliveryRecord) -> StoreResult<bool> {
        let inserted = self.bounded(async { Ok(self.deliveries().insert_one(delivery).await.map(|_| ())?) }).await;
        match inserted {
            Ok(()) => Ok(true),
            Err(StoreError::Duplicate { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// The delivery `id`.
    pub async fn delivery(&self, id: &str) -> StoreResult<Option<DeliveryRecord>> {
        self.bounded(async { Ok(self.deliveries().find_one(doc! { "_id": id }).await?) }).await
    }

    /// Pending deliveries due at `now` that nobody holds, the most overdue first, leaving out
    /// the hooks in `busy` (those this process cannot start another attempt for).
    pub async fn due_deliveries(&self, now: i64, busy: &[String], limit: i64) -> StoreResult<Vec<DeliveryRecord>> {
        self.bounded(async {
            let filter = doc! {
                "status": "pending",
                "next_at": { "$lte": now },
                "lease_until": { "$lte": now },
                "hook_id": { "$nin": busy },
            };
            Ok(self.deliveries().find(filter).sort(doc! { "next_at": 1 }).limit(limit).await?.try_collect().await?)
        })
        .await
    }

    /// Whether a delivery of the same hook and dialogue made before `delivery` is still pending
    /// (it must go first).
    pub async fn earlier_delivery_pending(&self, delivery: &DeliveryRecord) -> StoreResult<bool> {
        self.bounded(async {
            let filter = doc! {
                "hook_id": &delivery.hook_id,
                "dialogue_id": &delivery.dialogue_id,
                "status": "pending",
                "order": { "$lt": delivery.order },
            };
            Ok(self.delivery_ids().find_one(filter).projection(doc! { "_id": 1 }).await?.is_some())
        })
        .await
    }

    /// When the last pending delivery of this hook and dialogue is next due, if one is pending:
    /// a delivery made behind it waits at least as long (it cannot go first anyway).
    pub async fn pending_due_at(&self, hook_id: &str, dialogue_id: &str) -> StoreResult<Option<i64>> {
        self.bounded(async {
            let filter = doc! { "hook_id": hook_id, "dialogue_id": dialogue_id, "status": "pending" };
            let last = self.deliveries().find_one(filter).sort(doc! { "next_at": -1 }).await?;
            Ok(last.map(|d| d.next_at))
        })
        .await
    }

    /// Whether a `dialogue.changed` delivery of this hook and dialogue is pending.
    pub async fn change_delivery_pending(&self, hook_id: &str, dialogue_id: &str) -> StoreResult<bool> {
        self.bounded(async {
            let filter = doc! {
                "hook_id": hook_id, "dialogue_id": dialogue_id, "status": "pending", "event": "dialogue.changed",
            };
            Ok(self.delivery_ids().find_one(filter).projection(doc! { "_id": 1 }).await?.is_some())
        })
        .await
    }

    /// Claims a due delivery for one attempt by `holder` until `lease_until`: counts the
    /// attempt and answers the delivery, or `None` when another process claimed it first (or it
    /// is no longer due).
    pub async fn claim_delivery(
        &self,
        id: &str,
        holder: &str,
        now: i64,
        lease_until: i64,
    ) -> StoreResult<Option<DeliveryRecord>> {
        self.bounded(async {
            let filter =
                doc! { "_id": id, "status": "pending", "next_at": { "$lte": now }, "lease_until": { "$lte": now } };
            let update = vec![doc! { "$set": {
                "lease_until": lease_until,
                "lease_holder": holder,
                "attempts": { "$add": ["$attempts", 1] },
                "first_attempt": { "$ifNull": ["$first_attempt", now] },
            } }];
            Ok(self.deliveries().find_one_and_update(filter, update).return_document(ReturnDocument::After).await?)
        })
        .await
    }

    /// Records how the attempt `holder` made (the delivery's attempt number `attempt`) ended;
    /// nothing when the claim ran out and the delivery was claimed again since. A retry also
    /// makes the later deliveries of the same hook and dialogue wait as long: they cannot go
    /// before it, and due but blocked they would crowd the due list.
    pub async fn finish_delivery(&self, delivery: &DeliveryRecord, holder: &str, finish: &Finish) -> StoreResult<()> {
        let now = crate::store::now_millis();
        let status_of = |status: Option<i64>| status.map_or(Bson::Null, Bson::Int64);
        let mut set = match finish {
            Finish::Delivered { status } => doc! {
                "status": "delivered", "response_status": status, "delivered": now, "last_error": Bson::Null,
            },
            Finish::Retry { status, error, next_at } => doc! {
                "response_status": status_of(*status), "last_error": error, "next_at": next_at,
            },
            Finish::Failed { status, error } => doc! {
                "status": "failed", "response_status": status_of(*status), "last_error": error,
            },
        };
        set.insert("lease_until", 0_i64);
        set.insert("lease_holder", Bson::Null);
        self.bounded(async {
            let mine = doc! { "_id": &delivery.id, "lease_holder": holder, "attempts": delivery.attempts };
            let updated = self.deliveries().update_one(mine, doc! { "$set": set }).await?.modified_count;
            if let (1, Finish::Retry { next_at, .. }) = (updated, finish) {
                let behind = doc! {
                    "hook_id": &delivery.hook_id,
                    "dialogue_id": &delivery.dialogue_id,
                    "status": "pending",
                    "order": { "$gt": delivery.order },
                    "next_at": { "$lt": next_at },
                };
                self.deliveries().update_many(behind, doc! { "$set": { "next_at": next_at } }).await?;
            }
            Ok(())
        })
        .await
    }

    /// Gives back a claim `holder` made without an attempt: uncounted, due again at once for
    /// another process.
    pub async fn release_delivery(&self, delivery: &DeliveryRecord, holder: &str) -> StoreResult<()> {
        self.bounded(async {
            let mine = doc! { "_id": &delivery.id, "lease_holder": holder, "attempts": delivery.attempts };
            let update =
                doc! { "$set": { "lease_until": 0_i64, "lease_holder": Bson::Null }, "$inc": { "attempts": -1 } };
            self.deliveries().update_one(mine, update).await?;
            Ok(())
        })
        .await
    }

    /// One page of a hook's deliveries, newest first, with the total.
    pub async fn list_deliveries(
        &self,
        hook_id: &str,
        skip: u64,
        limit: i64,
    ) -> StoreResult<(Vec<DeliveryRecord>, u64)> {
        self.bounded(async {
            let filter = doc! { "hook_id": hook_id };
            crate::store::page(&self.deliveries(), filter, doc! { "created": -1, "order": -1 }, skip, limit).await
        })
        .await
    }

    /// How many deliveries are pending, and the oldest.
    pub async fn delivery_queue(&self) -> StoreResult<QueueDepth> {
        self.bounded(async {
            let filter = doc! { "status": "pending" };
            let pending = self.deliveries().count_documents(filter.clone()).await?;
            let oldest = self.deliveries().find_one(filter).sort(doc! { "created": 1 }).await?.map(|d| d.created);
            Ok(QueueDepth { pending, oldest })
        })
        .await
    }

    /// Takes or renews the lease `name` for `holder` until `until`; `false` when another
    /// process holds it.
    pub async fn take_lease(&self, name: &str, holder: &str, now: i64, until: i64) -> StoreResult<bool> {
        let taken = self
            .bounded(async {
                self.db
                    .collection::<Lease>("leases")
                    .update_one(
                        doc! { "_id": name, "$or": [{ "until": { "$lt": now } }, { "holder": holder }] },
                        doc! { "$set": { "holder": holder, "until": until } },
                    )
                    .upsert(true)
                    .await?;
                Ok(())
            })
            .await;
        match taken {
            Ok(()) => Ok(true),
            Err(StoreError::Duplicate { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Removes a hook's deliveries and cursors.
    pub(in crate::store) async fn forget_hook_deliveries(&self, hook_id: &str) -> StoreResult<()> {
        self.deliveries().delete_many(doc! { "hook_id": hook_id }).await?;
        self.forget_hook_cursors(hook_id).await
    }
}
