//! When a failed delivery is tried again: exponential backoff with full jitter, the first retry
//! within a few seconds, never more than [`MAX_DELAY`] apart, and no retry once [`GIVE_UP_AFTER`]
//! has passed since the first attempt (the delivery is then marked failed).

use std::time::Duration;

/// The ceiling of the first retry's delay.
pub const FIRST_DELAY: Duration = Duration::from_secs(2);
/// The longest wait between two attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(10 * 60);
/// How long after the first attempt a delivery is still retried.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// How long a receiver has to answer one attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The wait before the next attempt, after `failed` attempts (at least 1) of which the first was
/// `since_first` ago; `None` when the delivery has failed for good. `jitter` in `[0, 1)` picks
/// the point in the window (full jitter, so that many failing deliveries spread out).
pub fn next_delay(failed: u32, since_first: Duration, jitter: f64) -> Option<Duration> {
    if since_first >= GIVE_UP_AFTER {
        return None;
    }
    let ceiling = FIRST_DELAY.saturating_mul(1 << failed.saturating_sub(1).min(16)).min(MAX_DELAY);
    // Never less than a tenth of the window: a retry at once would only fail again.
    let delay = ceiling.mul_f64(0.1 + 0.9 * jitter.clamp(0.0, 1.0));
    let left = GIVE_UP_AFTER - since_first;
    Some(delay.min(left))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_retry_comes_within_a_few_seconds() {
        for jitter in [0.0, 0.5, 0.999] {
            let delay = next_delay(1, Duration::ZERO, jitter).expect("retried");
            assert!(delay > Duration::ZERO && delay <= FIRST_DELAY, "{delay:?}");
        }
    }

    #[test]
    fn the_wait_doubles_up_to_ten_minutes() {
        let ceilings: Vec<Duration> = (1..=12).map(|n| next_delay(n, Duration::ZERO, 0.999_999).unwrap()).collect();
        for pair in ceilings.windows(2) {
            assert!(pair[1] >= pair[0], "never shorter: {ceilings:?}");
        }
        assert!(ceilings[3] > ceilings[2].mul_f64(1.9), "doubling: {ceilings:?}");
        assert!(ceilings.iter().all(|d| *d <= MAX_DELAY));
        assert!(ceilings[11] > MAX_DELAY.mul_f64(0.99), "capped at ten minutes: {ceilings:?}");
        assert!(next_delay(u32::MAX, Duration::ZERO, 0.5).is_some_and(|d| d <= MAX_DELAY), "no overflow");
    }

    #[test]
    fn retries_stop_after_a_day() {
        assert_eq!(next_delay(50, GIVE_UP_AFTER, 0.5), None);
        let almost = GIVE_UP_AFTER - Duration::from_secs(30);
        assert_eq!(next_delay(50, almost, 0.999), Some(Duration::from_secs(30)), "the last try is on the deadline");
    }

    #[test]
    fn jitter_spreads_deliveries_over_the_window() {
        let low = next_delay(5, Duration::ZERO, 0.0).unwrap();
        let high = next_delay(5, Duration::ZERO, 0.99).unwrap();
        assert!(high > low * 5, "{low:?} .. {high:?}");
    }
}
