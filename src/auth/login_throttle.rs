//! Throttles password guessing: failed sign-ins are counted per e-mail address and per client
//! address over the last minute, in the database, so every server process shares one budget.
//! Successful sign-ins never count. Each attempt is counted when it starts and given back when
//! it succeeds, so that attempts made at once cannot all pass before any is counted. Password
//! reset requests have their own budget per address and share the client's.

use std::net::IpAddr;

use crate::error::ApiError;
use crate::store::{Store, now_millis};

/// The throttle: `per_minute` failures per key.
pub struct LoginThrottle {
    per_minute: u64,
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
        Self { per_minute: u64::from(per_minute.max(1)) }
    }

    /// Starts an attempt: it counts against every key from now on, so that attempts made at
    /// once cannot all slip under the budget before any of them is counted. Over the budget,
    /// it is given back and refused with `429` and `Retry-After`. A sign-in that succeeds gives
    /// its attempt back ([`succeeded`](Self::succeeded)); one that fails leaves it counted.
    pub async fn begin(&self, store: &Store, keys: &AttemptKeys) -> Result<Attempt, ApiError> {
        let keys: Vec<&str> = keys.keys.iter().map(String::as_str).collect();
        let ids = store.record_attempt(&keys).await?;
        for key in &keys {
            // This attempt is among those counted: it may be the budget's last, not one more.
            if store.attempts_exhausted_until(key, self.per_minute + 1).await?.is_some() {
                store.forget_attempts(&ids).await?;
                // Without it, the key gets a place back once its budget-th newest ages out.
                let until = store.attempts_exhausted_until(key, self.per_minute).await?.unwrap_or_else(now_millis);
                let wait = (until - now_millis()).max(1000);
                return Err(ApiError::RateLimited {
                    retry_after: u64::try_from(wait).unwrap_or(60_000).div_ceil(1000),
                });
            }
        }
        Ok(Attempt { ids })
    }

    /// The attempt succeeded: it no longer counts.
    pub async fn succeeded(&self, store: &Store, attempt: Attempt) -> Result<(), ApiError> {
        store.forget_attempts(&attempt.ids).await?;
        Ok(())
    }
}

/// An attempt under way, counted against its keys.
#[must_use = "an attempt that succeeded must be given back"]
pub struct Attempt {
    ids: Vec<String>,
}
