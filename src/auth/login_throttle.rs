//! Throttles password guessing: failed sign-ins are counted per e-mail address and per client
//! address over the last minute, in the database, so every server process shares one budget.
//! Successful sign-ins never count. Attempts on the same e-mail address or client address take
//! turns within a process (a check, the password, the count), so guesses sent at once cannot
//! all pass the check before any of them is counted; across processes, at most one per process
//! is under way at once. Password reset requests have their own budget per address and share
//! the client's.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::error::ApiError;
use crate::store::{Store, now_millis};

/// Locks that attempts on the same key take turns on (a key maps to one of them).
const STRIPES: usize = 256;

/// The throttle: `per_minute` failures per key.
pub struct LoginThrottle {
    per_minute: u64,
    stripes: Vec<Arc<Mutex<()>>>,
}

/// An attempt's turn on its keys: other attempts on them wait until it is dropped.
pub struct Turn {
    _held: Vec<OwnedMutexGuard<()>>,
}

/// The keys one attempt counts against.
pub struct AttemptKeys {
    keys: Vec<String>,
}

impl AttemptKeys {
    /// A sign-in for `email` from `client`.
    pub fn sign_in(email: &str, client: Option<IpAddr>) -> Self {
        Self::with(format!("email:{email}"), client)
    }

    /// A password reset request for `email` from `client`.
    pub fn reset(email: &str, client: Option<IpAddr>) -> Self {
        Self::with(format!("reset:{email}"), client)
    }

    fn with(first: String, client: Option<IpAddr>) -> Self {
        let mut keys = vec![first];
        keys.extend(client.map(|client| format!("client:{client}")));
        Self { keys }
    }
}

impl LoginThrottle {
    /// Allows `per_minute` failures a minute for each key.
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute: u64::from(per_minute.max(1)), stripes: (0..STRIPES).map(|_| Arc::default()).collect() }
    }

    /// Waits for this attempt's turn on its keys: hold it across the check, the password and
    /// the count, so that a failure is counted before the next attempt on the same key checks.
    pub async fn turn(&self, keys: &AttemptKeys) -> Turn {
        let mut stripes: Vec<usize> = keys
            .keys
            .iter()
            .map(|key| {
                let mut hasher = DefaultHasher::new();
                key.hash(&mut hasher);
                (hasher.finish() % STRIPES as u64) as usize
            })
            .collect();
        // Always in the same order, so that two attempts never wait on each other.
        stripes.sort_unstable();
        stripes.dedup();
        let mut held = Vec::with_capacity(stripes.len());
        for stripe in stripes {
            held.push(self.stripes[stripe].clone().lock_owned().await);
        }
        Turn { _held: held }
    }

    /// `429` with `Retry-After` when any key has spent its budget.
    pub async fn check(&self, store: &Store, keys: &AttemptKeys) -> Result<(), ApiError> {
        for key in &keys.keys {
            if let Some(until) = store.attempts_exhausted_until(key, self.per_minute).await? {
                let wait = (until - now_millis()).max(1000);
                return Err(ApiError::RateLimited {
                    retry_after: u64::try_from(wait).unwrap_or(60_000).div_ceil(1000),
                });
            }
        }
        Ok(())
    }

    /// Counts one failure (or reset request) against every key.
    pub async fn count(&self, store: &Store, keys: &AttemptKeys) -> Result<(), ApiError> {
        let keys: Vec<&str> = keys.keys.iter().map(String::as_str).collect();
        store.record_attempt(&keys).await?;
        Ok(())
    }
}
