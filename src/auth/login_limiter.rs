//! Throttles login attempts per e-mail address and per client address, so that passwords cannot
//! be guessed at speed.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// The two keyed limiters; each login attempt must pass both.
pub struct LoginLimiter {
    by_email: DefaultKeyedRateLimiter<String>,
    by_client: DefaultKeyedRateLimiter<IpAddr>,
}

impl LoginLimiter {
    /// Allows `per_minute` attempts a minute for each e-mail and each client address.
    pub fn new(per_minute: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
        Self { by_email: RateLimiter::keyed(quota), by_client: RateLimiter::keyed(quota) }
    }

    /// Counts one attempt; `429` when either budget is spent.
    pub fn check(&self, email: &str, client: Option<IpAddr>) -> Result<(), ApiError> {
        let clock = DefaultClock::default();
        let refuse = |not_until: governor::NotUntil<_>| {
            let wait = not_until.wait_time_from(clock.now());
            ApiError::RateLimited { retry_after: wait.as_secs().max(1) }
        };
        self.by_email.check_key(&email.to_owned()).map_err(refuse)?;
        if let Some(client) = client {
            self.by_client.check_key(&client).map_err(refuse)?;
        }
        Ok(())
    }

    /// Drops idle keys so that the limiter's memory stays bounded.
    pub fn forget_idle(&self) {
        self.by_email.retain_recent();
        self.by_client.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_budget() {
        let limiter = LoginLimiter::new(3);
        for _ in 0..3 {
            limiter.check("a@example.org", None).unwrap();
        }
        let error = limiter.check("a@example.org", None).unwrap_err();
        assert_eq!(error.kind(), "rate_limited");
        limiter.check("b@example.org", None).unwrap();
    }
}
