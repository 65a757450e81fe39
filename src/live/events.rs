//! Access events: what live sessions must react to besides revisions. A session closes with
//! 4401 when its token is revoked, re-checks its access (4403) when its user changes, and
//! re-validates everything after the feed may have missed events.

use tokio::sync::broadcast;

/// An event every live session hears.
#[derive(Debug, Clone)]
pub enum AccessEvent {
    /// A token (by hash) was deleted: revoked, or expired.
    TokenDeleted(String),
    /// A user's document changed (grants, password) or was removed.
    UserChanged(String),
    /// Events may have been missed: re-check token and access against the store.
    Recheck,
}

/// The bus, held in the application state.
#[derive(Clone)]
pub struct AccessEvents {
    sender: broadcast::Sender<AccessEvent>,
}

impl AccessEvents {
    /// A bus with room for `capacity` unread events per session (beyond that a session
    /// re-checks everything).
    pub fn new(capacity: usize) -> Self {
        Self { sender: broadcast::channel(capacity).0 }
    }

    /// Tells every session.
    pub fn publish(&self, event: AccessEvent) {
        // No session listening is fine.
        let _ = self.sender.send(event);
    }

    /// A receiver for one session.
    pub fn subscribe(&self) -> broadcast::Receiver<AccessEvent> {
        self.sender.subscribe()
    }
}
