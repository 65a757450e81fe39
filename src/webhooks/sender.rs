//! The delivery workers: every process claims due deliveries (a lease per attempt, so one
//! attempt is sent by one process only) and POSTs them, signed, to their hook's URL.
//!
//! - A delivery waits while an earlier one of the same hook and dialogue is pending: they
//!   arrive in order.
//! - The URL's host is checked again before every attempt, and the connection only ever goes to
//!   addresses that passed the check (the client resolves names through [`PublicResolver`]),
//!   so DNS cannot be rebound to an internal address; redirects are never followed.
//! - At most [`IN_FLIGHT`] attempts run at once, [`PER_HOOK`] per hook, each bounded by
//!   [`ATTEMPT_TIMEOUT`]: a receiver that hangs or keeps failing slows nobody else, and the
//!   write path never waits for any of this. Hooks at their limit are left out of the query for
//!   due deliveries, and a delivery that waits for a retry makes the later ones of its hook and
//!   dialogue wait as long, so what is due is what can go.
//! - A process that cannot decrypt a hook's secret (no key, or another key) backs off instead of
//!   failing the delivery: a process that has the key takes it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use secrecy::{ExposeSecret, SecretString};

use super::address::{self, Refusal};
use super::schedule::{ATTEMPT_TIMEOUT, next_delay};
use super::signature;
use crate::state::AppState;
use crate::store::{DeliveryRecord, Finish, StoreResult, now_millis};

/// Attempts running at once in this process.
pub const IN_FLIGHT: usize = 32;
/// Attempts running at once for one hook in this process.
pub const PER_HOOK: usize = 4;
/// How long a claimed attempt is this process's: longer than an attempt can take.
const LEASE: Duration = Duration::from_secs(30);
/// The longest an attempt may take, DNS and all, leaving the claim a margin to record it.
const ATTEMPT_BOUND: Duration = Duration::from_secs(20);
/// How long a process that cannot decrypt a hook's secret leaves the hook to the others.
const SHUN: Duration = Duration::from_secs(60);

/// The HTTP client deliveries go out with.
pub fn client(allow_private: bool) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(ATTEMPT_TIMEOUT)
        .no_proxy()
        .user_agent(concat!("dialogue-server-webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(PublicResolver { allow_private }))
        .build()?)
}

/// Resolves names for the delivery client, refusing any name that resolves to a non-public
/// address (unless private addresses are allowed).
struct PublicResolver {
    allow_private: bool,
}

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private
                && let Some(address) = addresses.iter().map(SocketAddr::ip).find(|ip| !address::is_public(*ip))
            {
                return Err(Box::new(Refusal::NotPublic { host, address }) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// What runs now in this process, per hook, and the hooks it cannot send for.
#[derive(Default)]
pub struct InFlight {
    hooks: Mutex<HashMap<String, usize>>,
    /// Hooks whose secret this process cannot decrypt, until when it leaves them alone.
    shunned: Mutex<HashMap<String, Instant>>,
}

impl InFlight {
    fn total(&self) -> usize {
        self.hooks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).values().sum()
    }

    /// The hooks this process cannot start another attempt for now.
    fn busy(&self) -> Vec<String> {
        let hooks = self.hooks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut busy: Vec<String> =
            hooks.iter().filter(|(_, running)| **running >= PER_HOOK).map(|(hook, _)| hook.clone()).collect();
        let mut shunned = self.shunned.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        shunned.retain(|_, until| *until > Instant::now());
        busy.extend(shunned.keys().cloned());
        busy
    }

    /// This process cannot decrypt `hook_id`'s secret: it leaves the hook to the others a while.
    fn shun(&self, hook_id: &str) {
        let mut shunned = self.shunned.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        shunned.insert(hook_id.to_owned(), Instant::now() + SHUN);
    }

    fn try_start(&self, hook_id: &str) -> bool {
        let mut hooks = self.hooks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let running = hooks.entry(hook_id.to_owned()).or_default();
        if *running >= PER_HOOK {
            return false;
        }
        *running += 1;
        true
    }

    fn end(&self, hook_id: &str) {
        let mut hooks = self.hooks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(running) = hooks.get_mut(hook_id) {
            *running = running.saturating_sub(1);
            if *running == 0 {
                hooks.remove(hook_id);
            }
        }
    }
}

/// One poll: claims what is due and can run now, and starts each attempt in the background.
pub async fn poll(state: &Arc<AppState>, client: &reqwest::Client, in_flight: &Arc<InFlight>) -> StoreResult<()> {
    let store = &state.store;
    let free = IN_FLIGHT.saturating_sub(in_flight.total());
    if free == 0 {
        return Ok(());
    }
    let mut started = 0;
    let limit = i64::try_from(free * 4).unwrap_or(i64::MAX);
    for due in store.due_deliveries(now_millis(), &in_flight.busy(), limit).await? {
        if started == free {
            break;
        }
        if store.earlier_delivery_pending(&due).await? || !in_flight.try_start(&due.hook_id) {
            continue;
        }
        // The claim's clock starts now, whatever this poll spent before it.
        let now = now_millis();
        let lease_until = now + i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
        let Some(claimed) = store.claim_delivery(&due.id, store.process_id(), now, lease_until).await? else {
            in_flight.end(&due.hook_id);
            continue;
        };
        started += 1;
        let (state, client, in_flight) = (state.clone(), client.clone(), in_flight.clone());
        tokio::spawn(async move {
            // Within the claim, whatever DNS does: past it, another process may try again.
            match tokio::time::timeout(ATTEMPT_BOUND, attempt(&state, &client, &claimed)).await {
                Ok(Some(finish)) => record(&state, &claimed, &finish).await,
                Ok(None) => {
                    // Not this process's to send: give the claim back uncounted.
                    in_flight.shun(&claimed.hook_id);
                    if let Err(error) = state.store.release_delivery(&claimed, state.store.process_id()).await {
                        tracing::warn!(delivery = %claimed.id, error = %error, "giving a webhook delivery back failed");
                    }
                }
                Err(_) => {
                    let finish = retry(&claimed, None, "the attempt did not finish within its claim".into());
                    record(&state, &claimed, &finish).await;
                }
            }
            in_flight.end(&claimed.hook_id);
        });
    }
    Ok(())
}

/// Sends one attempt and says how it ended; `None` when this process cannot send it (it cannot
/// decrypt the hook's secret: a process with the key can).
async fn attempt(state: &AppState, client: &reqwest::Client, delivery: &DeliveryRecord) -> Option<Finish> {
    let hook = match state.store.webhook(&delivery.hook_id).await {
        Ok(Some(hook)) => hook,
        Ok(None) => return Some(Finish::Failed { status: None, error: "the webhook was deleted".into() }),
        Err(error) => return Some(retry(delivery, None, format!("the database is unavailable: {error}"))),
    };
    let secret = match state.vault.open(&hook.secret, &hook.id) {
        Ok(serde_json::Value::String(secret)) => SecretString::from(secret),
        _ => {
            tracing::error!(hook_id = %hook.id, "a webhook secret cannot be decrypted with the configured keys");
            return None;
        }
    };
    Some(send(client, &hook, delivery, &secret, state.settings.webhook_allow_private).await)
}

/// POSTs a delivery to its hook, signed; how it ended.
async fn send(
    client: &reqwest::Client,
    hook: &crate::store::WebhookRecord,
    delivery: &DeliveryRecord,
    secret: &SecretString,
    allow_private: bool,
) -> Finish {
    let check = address::check(&hook.url, allow_private);
    match tokio::time::timeout(ATTEMPT_TIMEOUT, check).await {
        Ok(Ok(_)) => {}
        Ok(Err(refusal)) => return retry(delivery, None, refusal.to_string()),
        Err(_) => return retry(delivery, None, "the receiver's name did not resolve within 10 s".into()),
    }
    let signed = signature::sign(secret.expose_secret().as_bytes(), delivery.body.as_bytes());
    let sent = client
        .post(&hook.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Dialogue-Event", &delivery.event)
        .header("X-Dialogue-Delivery", &delivery.id)
        .header(signature::HEADER, signed)
        .body(delivery.body.clone())
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => {
            Finish::Delivered { status: i64::from(response.status().as_u16()) }
        }
        Ok(response) => {
            let status = response.status();
            retry(delivery, Some(i64::from(status.as_u16())), format!("the receiver answered {status}"))
        }
        Err(error) => retry(delivery, None, describe(&error)),
    }
}

/// A failed attempt: tried again later, or failed for good after a day.
fn retry(delivery: &DeliveryRecord, status: Option<i64>, error: String) -> Finish {
    let now = now_millis();
    let since_first = Duration::from_millis(u64::try_from(now - delivery.first_attempt.unwrap_or(now)).unwrap_or(0));
    let failed = u32::try_from(delivery.attempts).unwrap_or(u32::MAX);
    match next_delay(failed, since_first, rand::random::<f64>()) {
        Some(delay) => {
            Finish::Retry { status, error, next_at: now + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX) }
        }
        None => Finish::Failed { status, error },
    }
}

/// An error of the client, with its causes, in one line.
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() { "no answer within 10 s".to_owned() } else { error.to_string() };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Stores how an attempt ended, and counts it.
async fn record(state: &AppState, delivery: &DeliveryRecord, finish: &Finish) {
    let outcome = match finish {
        Finish::Delivered { .. } => "delivered",
        Finish::Retry { .. } => "retried",
        Finish::Failed { .. } => "failed",
    };
    match finish {
        Finish::Delivered { status } => {
            tracing::debug!(delivery = %delivery.id, hook_id = %delivery.hook_id, status, attempts = delivery.attempts, "webhook delivered");
        }
        Finish::Retry { error, next_at, .. } => {
            tracing::info!(delivery = %delivery.id, hook_id = %delivery.hook_id, attempts = delivery.attempts, error = %error, retry_in_ms = next_at - now_millis(), "webhook delivery failed; it will be retried");
        }
        Finish::Failed { error, .. } => {
            tracing::warn!(delivery = %delivery.id, hook_id = %delivery.hook_id, attempts = delivery.attempts, error = %error, "webhook delivery failed for good");
        }
    }
    crate::metrics::webhook_delivery(outcome);
    if let Err(error) = state.store.finish_delivery(delivery, state.store.process_id(), finish).await {
        // The lease runs out and another attempt follows: at least once.
        tracing::warn!(delivery = %delivery.id, error = %error, "recording a webhook attempt failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn resolve(allow_private: bool, name: &str) -> Result<Vec<SocketAddr>, String> {
        let name: Name = name.parse().expect("a name");
        match (PublicResolver { allow_private }).resolve(name).await {
            Ok(addresses) => Ok(addresses.collect()),
            Err(error) => Err(error.to_string()),
        }
    }

    #[tokio::test]
    async fn the_delivery_client_never_connects_to_a_name_that_resolves_to_a_private_address() {
        let refused = resolve(false, "localhost").await.expect_err("localhost is refused");
        assert!(refused.contains("not a public address"), "{refused}");
        let allowed = resolve(true, "localhost").await.expect("allowed with the flag");
        assert!(allowed.iter().all(|address| address.ip().is_loopback()), "{allowed:?}");
    }

    #[test]
    fn a_hook_at_its_limit_is_busy() {
        let in_flight = InFlight::default();
        for _ in 0..PER_HOOK {
            assert!(in_flight.try_start("h"));
        }
        assert!(!in_flight.try_start("h"));
        assert_eq!(in_flight.busy(), ["h"]);
        in_flight.end("h");
        assert!(in_flight.busy().is_empty());
        assert_eq!(in_flight.total(), PER_HOOK - 1);
    }
}
