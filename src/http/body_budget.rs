//! The budget of request-body bytes parsed at once across the process: a parsed value takes many
//! times the memory of its text, so large bodies wait for a share of it (and get `503` when it
//! stays spent) instead of piling up.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// How long a large body waits for its share of the budget before the request gets `503`.
const BUDGET_WAIT: Duration = Duration::from_secs(10);

/// The bytes of large bodies being parsed and handled at once, across the process.
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    total: usize,
}

/// A share of the budget, held (in the request's extensions) until the request ends.
pub struct BodyShare(#[allow(dead_code)] OwnedSemaphorePermit);

impl BodyBudget {
    /// A budget of `total` bytes.
    pub fn new(total: usize) -> Self {
        let total = total.clamp(1, Semaphore::MAX_PERMITS);
        Self { bytes: Arc::new(Semaphore::new(total)), total }
    }

    /// Waits for `bytes` of the budget (at most all of it); `503` when it stays spent.
    pub async fn reserve(&self, bytes: usize) -> Result<BodyShare, ApiError> {
        let wanted = u32::try_from(bytes.min(self.total)).unwrap_or(u32::MAX);
        let permit = tokio::time::timeout(BUDGET_WAIT, self.bytes.clone().acquire_many_owned(wanted))
            .await
            .map_err(|_| ApiError::Busy)?
            .map_err(|_| ApiError::Busy)?;
        Ok(BodyShare(permit))
    }
}
