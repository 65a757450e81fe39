//! Authenticated callers cached by token hash, so that a request costs no database round trip
//! to authenticate. An entry lives at most `ttl` (a `moka` cache, which also bounds how many
//! are kept and evicts the least used). Revocations and grant changes made in this process drop
//! entries at once; those made by other processes arrive through the change feed (token
//! deletions, user changes), and a feed resynchronization drops everything.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use super::caller::Caller;
use crate::store::now_millis;

/// Entries kept at most.
const CAPACITY: u64 = 100_000;

struct Entry {
    caller: Caller,
    csrf_hash: Option<String>,
}

/// The cache.
pub struct CallerCache {
    entries: Cache<String, Arc<Entry>>,
}

impl CallerCache {
    /// A cache whose entries live at most `ttl`.
    pub fn new(ttl: Duration) -> Self {
        let entries = Cache::builder().max_capacity(CAPACITY).time_to_live(ttl).support_invalidation_closures().build();
        Self { entries }
    }

    /// The caller for a token hash, if cached, fresh and unexpired.
    pub fn get(&self, hash: &str) -> Option<(Caller, Option<String>)> {
        let entry = self.entries.get(hash)?;
        (entry.caller.token_expires_at > now_millis()).then(|| (entry.caller.clone(), entry.csrf_hash.clone()))
    }

    /// Remembers a caller just read from the store.
    pub fn put(&self, caller: &Caller, csrf_hash: Option<String>) {
        let entry = Entry { caller: caller.clone(), csrf_hash };
        self.entries.insert(caller.token_hash.clone(), Arc::new(entry));
    }

    /// Drops one token (revoked).
    pub fn forget_token(&self, hash: &str) {
        self.entries.invalidate(hash);
    }

    /// Drops every token of a user (grants, password or account changed).
    pub fn forget_user(&self, user_id: &str) {
        let user_id = user_id.to_owned();
        if self.entries.invalidate_entries_if(move |_, entry| entry.caller.user.id == user_id).is_err() {
            // Only possible without invalidation closures, which the cache is built with.
            self.entries.invalidate_all();
        }
    }

    /// Drops everything (many users changed, or changes may have been missed).
    pub fn clear(&self) {
        self.entries.invalidate_all();
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
