//! The one context every handler gets: the store, the settings, and the shared services.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

use crate::auth::login_throttle::LoginThrottle;
use crate::config::Settings;
use crate::mail::Mailer;
use crate::store::Store;

/// Shared application state, held in `web::Data`.
pub struct AppState {
    /// The database boundary.
    pub store: Store,
    /// Configuration, as loaded at start-up.
    pub settings: Settings,
    /// The input limits every entry point enforces.
    pub limits: crate::limits::Limits,
    /// The bytes of large request bodies being handled at once.
    pub body_budget: crate::http::body_budget::BodyBudget,
    /// Which projects have hooks on `dialogue.changed` (shared with the dialogue actors).
    pub hooks: std::sync::Arc<crate::webhooks::directory::HookDirectory>,
    /// Keys for secrets encrypted at rest.
    pub vault: crate::vault::Vault,
    /// Outgoing mail.
    pub mailer: Mailer,
    /// Compiled JSON Schemas for request bodies.
    pub schemas: std::sync::Arc<crate::schema::Schemas>,
    /// The dialogues' actors.
    pub dialogues: crate::dialogue::Dialogues,
    /// Links to the other server processes on the database.
    pub peers: crate::peers::Peers,
    /// Token, user and resynchronization events for live sessions.
    pub access_events: crate::live::events::AccessEvents,
    /// Recently authenticated callers, by token hash.
    pub callers: crate::auth::cache::CallerCache,
    /// Throttle of failed sign-ins and password reset requests.
    pub login_throttle: LoginThrottle,
    /// Set once the database's indexes exist and the bootstrap admin is in place.
    pub store_ready: AtomicBool,
    /// Flips to `true` when the server starts shutting down.
    pub shutdown: watch::Receiver<bool>,
}

impl AppState {
    /// Whether start-up work against the database has completed.
    pub fn is_store_ready(&self) -> bool {
        self.store_ready.load(Ordering::Acquire)
    }
}
