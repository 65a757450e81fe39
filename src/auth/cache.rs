//! Authenticated callers cached by token hash, so that a request costs no database round trip
//! to authenticate. An entry lives at most `ttl`. Revocations and grant changes made in this
//! process drop entries at once; those made by other processes arrive through the change feed
//! (token deletions, user changes), and a feed resynchronization drops everything.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use super::caller::Caller;
use crate::store::now_millis;

/// Entries kept at most; past this the cache starts over (cheap, and bounds memory).
const CAPACITY: usize = 100_000;

struct Entry {
    caller: Caller,
    csrf_hash: Option<String>,
    fetched: Instant,
}

/// The cache.
pub struct CallerCache {
    entries: RwLock<HashMap<String, Entry>>,
    ttl: Duration,
}

impl CallerCache {
    /// A cache whose entries live at most `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self { entries: RwLock::new(HashMap::new()), ttl }
    }

    /// The caller for a token hash, if cached, fresh and unexpired.
    pub fn get(&self, hash: &str) -> Option<(Caller, Option<String>)> {
        let entries = self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = entries.get(hash)?;
        let fresh = entry.fetched.elapsed() < self.ttl && entry.caller.token_expires_at > now_millis();
        fresh.then(|| (entry.caller.clone(), entry.csrf_hash.clone()))
    }

    /// Remembers a caller just read from the store.
    pub fn put(&self, caller: &Caller, csrf_hash: Option<String>) {
        let mut entries = self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        let entry = Entry { caller: caller.clone(), csrf_hash, fetched: Instant::now() };
        entries.insert(caller.token_hash.clone(), entry);
    }

    /// Drops one token (revoked).
    pub fn forget_token(&self, hash: &str) {
        self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(hash);
    }

    /// Drops every token of a user (grants, password or account changed).
    pub fn forget_user(&self, user_id: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.retain(|_, entry| entry.caller.user.id != user_id);
    }

    /// Drops everything (many users changed, or changes may have been missed).
    pub fn clear(&self) {
        self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::permissions::Principal;
    use crate::store::{TokenKind, UserRecord};

    fn caller(user: &str, token: &str, expires_at: i64) -> Caller {
        let record = UserRecord {
            id: user.into(),
            email: format!("{user}@example.org"),
            first_name: String::new(),
            last_name: String::new(),
            password_hash: String::new(),
            permissions: Vec::new(),
            created: 0,
            version: 0,
        };
        Caller {
            principal: Principal { user_id: user.into(), permissions: Vec::new() },
            user: record,
            token_hash: token.into(),
            token_kind: TokenKind::Bearer,
            token_expires_at: expires_at,
        }
    }

    #[test]
    fn entries_are_dropped_by_token_user_expiry_and_age() {
        let cache = CallerCache::new(Duration::from_secs(60));
        let later = now_millis() + 60_000;
        cache.put(&caller("u1", "t1", later), None);
        cache.put(&caller("u1", "t2", later), Some("csrf".into()));
        cache.put(&caller("u2", "t3", later), None);
        cache.put(&caller("u3", "t4", now_millis() - 1), None);
        assert_eq!(cache.get("t2").map(|(_, csrf)| csrf), Some(Some("csrf".into())));
        assert!(cache.get("t4").is_none(), "an expired token is never served");
        cache.forget_token("t1");
        assert!(cache.get("t1").is_none());
        cache.forget_user("u1");
        assert!(cache.get("t2").is_none());
        assert!(cache.get("t3").is_some());
        cache.clear();
        assert!(cache.get("t3").is_none());

        let short = CallerCache::new(Duration::ZERO);
        short.put(&caller("u1", "t1", later), None);
        assert!(short.get("t1").is_none(), "entries older than the TTL are misses");
    }
}
