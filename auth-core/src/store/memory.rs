//! The in-process stores.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use moka::Expiry;
use moka::ops::compute::Op;

use super::{Count, CounterStore, RevocationStore, TokenStore};
use crate::authenticate::BoxFuture;
use crate::error::StoreError;

#[cfg(feature = "api-key")]
pub use keys::MemoryKeyStore;
#[cfg(feature = "basic")]
pub use users::MemoryUserStore;

#[cfg(feature = "basic")]
mod users {
    use std::collections::HashMap;
    use std::sync::RwLock;

    use super::super::UserStore;
    use crate::authenticate::BoxFuture;
    use crate::basic::{BasicUser, check_user, prepare_username};
    use crate::error::{ConfigError, StoreError};

    /// HTTP Basic users in memory, by prepared name, behind one lock (taken
    /// for reading per lookup; changes are rare). Changes take effect for
    /// the next check; a credential verified before a change is remembered
    /// for at most the authenticator's cache TTL.
    #[derive(Default)]
    pub struct MemoryUserStore {
        users: RwLock<HashMap<String, BasicUser>>,
    }

    impl MemoryUserStore {
        /// An empty store.
        pub fn new() -> Self {
            Self::default()
        }

        /// Adds `user`, or replaces the user of the same (prepared) name.
        /// Refuses what the authenticator's builder refuses in a fixed
        /// list: a hash that is not argon2id or is below OWASP's minimum, a
        /// name longer than [`MAX_USER_LEN`](crate::basic::MAX_USER_LEN)
        /// or one RFC 8265 refuses ([`prepare_username`]).
        pub fn insert(&self, user: BasicUser) -> Result<(), ConfigError> {
            let name = check_user(&user)?;
            self.write().insert(name, user);
            Ok(())
        }

        /// Removes the user named `name` (prepared here); `false` if there
        /// was none, or if `name` is not a user name under RFC 8265.
        pub fn remove(&self, name: &str) -> bool {
            prepare_username(name).is_ok_and(|name| self.write().remove(&name).is_some())
        }

        /// How many users there are.
        pub fn len(&self) -> usize {
            self.read().len()
        }

        /// Whether there is no user.
        pub fn is_empty(&self) -> bool {
            self.read().is_empty()
        }

        // A panic while holding the lock cannot leave the table half
        // changed (each change is one insert or remove), so a poisoned
        // lock is used.
        fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, BasicUser>> {
            self.users.read().unwrap_or_else(|e| e.into_inner())
        }

        fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, BasicUser>> {
            self.users.write().unwrap_or_else(|e| e.into_inner())
        }
    }

    impl UserStore for MemoryUserStore {
        fn get<'a>(
            &'a self,
            name: &'a str,
        ) -> BoxFuture<'a, Result<Option<BasicUser>, StoreError>> {
            let found = self.read().get(name).cloned();
            Box::pin(std::future::ready(Ok(found)))
        }
    }

    impl std::fmt::Debug for MemoryUserStore {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("MemoryUserStore")
                .field("users", &self.len())
                .finish()
        }
    }
}

#[cfg(feature = "api-key")]
mod keys {
    use std::collections::HashMap;
    use std::sync::{Arc, RwLock};

    use super::super::{FoundKey, KeyHash, KeyRecord, KeyStore};
    use crate::authenticate::BoxFuture;
    use crate::error::StoreError;

    #[derive(Default)]
    pub(in crate::store) struct Table {
        pub(in crate::store) by_hash: HashMap<KeyHash, Arc<KeyRecord>>,
        by_id: HashMap<String, KeyHash>,
    }

    /// API keys in memory, behind one lock (taken for reading per request;
    /// writes are rare).
    #[derive(Default)]
    pub struct MemoryKeyStore {
        table: RwLock<Table>,
    }

    impl MemoryKeyStore {
        /// An empty store.
        pub fn new() -> Self {
            Self::default()
        }

        pub(in crate::store) fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
            // A panic while holding the lock cannot leave the table half
            // changed (each change is one insert), so a poisoned lock is used.
            self.table.read().unwrap_or_else(|e| e.into_inner())
        }

        fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
            self.table.write().unwrap_or_else(|e| e.into_inner())
        }

        /// [`KeyStore::insert_if_absent`], answered at once.
        pub(in crate::store) fn insert_now(&self, hash: KeyHash, record: KeyRecord) -> bool {
            let mut t = self.write();
            if t.by_hash.contains_key(&hash) || t.by_id.contains_key(&record.id) {
                return false;
            }
            t.by_id.insert(record.id.clone(), hash);
            t.by_hash.insert(hash, Arc::new(record.fresh()));
            true
        }

        /// Folds in `record` as another writer of the same file has it:
        /// a record not known here is added; for one known, the more
        /// restrictive of the two wins (revoked if either is, the earlier
        /// expiry and revocation, the later `last_used_at`). `true` if
        /// anything changed here.
        pub(in crate::store) fn merge_now(&self, hash: KeyHash, record: KeyRecord) -> bool {
            let mut t = self.write();
            let Some(slot) = t.by_hash.get_mut(&hash) else {
                drop(t);
                return self.insert_now(hash, record);
            };
            if slot.id != record.id {
                return false;
            }
            let earlier = |a: Option<u64>, b: Option<u64>| match (a, b) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            };
            let mut merged = (**slot).clone();
            merged.revoked_at = earlier(slot.revoked_at, record.revoked_at);
            merged.expires_at = earlier(slot.expires_at, record.expires_at);
            merged.last_used_at = slot.last_used_at.max(record.last_used_at);
            merged.replaced_by = slot.replaced_by.clone().or(record.replaced_by);
            if merged == **slot {
                return false;
            }
            *slot = Arc::new(merged.fresh());
            true
        }

        /// [`KeyStore::compare_and_set`], answered at once.
        pub(in crate::store) fn compare_and_set_now(
            &self,
            hash: &KeyHash,
            current: &KeyRecord,
            new: KeyRecord,
        ) -> bool {
            let mut t = self.write();
            let Some(slot) = t.by_hash.get_mut(hash) else {
                return false;
            };
            if !(std::ptr::eq(&**slot, current) || **slot == *current) || new.id != current.id {
                return false;
            }
            *slot = Arc::new(new.fresh());
            true
        }
    }

    impl KeyStore for MemoryKeyStore {
        fn get<'a>(
            &'a self,
            hash: &'a KeyHash,
        ) -> BoxFuture<'a, Result<Option<Arc<KeyRecord>>, StoreError>> {
            let found = self.read().by_hash.get(hash).cloned();
            Box::pin(std::future::ready(Ok(found)))
        }

        fn find<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<FoundKey>, StoreError>> {
            let t = self.read();
            let found = t
                .by_id
                .get(id)
                .and_then(|h| t.by_hash.get(h).map(|r| (*h, r.clone())));
            Box::pin(std::future::ready(Ok(found)))
        }

        fn insert_if_absent(
            &self,
            hash: KeyHash,
            record: KeyRecord,
        ) -> BoxFuture<'_, Result<bool, StoreError>> {
            Box::pin(std::future::ready(Ok(self.insert_now(hash, record))))
        }

        fn compare_and_set<'a>(
            &'a self,
            hash: &'a KeyHash,
            current: &'a KeyRecord,
            new: KeyRecord,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            let done = self.compare_and_set_now(hash, current, new);
            Box::pin(std::future::ready(Ok(done)))
        }

        fn list(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, StoreError>> {
            let mut all: Vec<KeyRecord> = self
                .read()
                .by_hash
                .values()
                .map(|r| (**r).clone())
                .collect();
            all.sort_by(|a, b| a.id.cmp(&b.id));
            Box::pin(std::future::ready(Ok(all)))
        }
    }
}

#[derive(Default)]
struct Revoked {
    until: HashMap<String, SystemTime>,
    /// When expired entries were last swept out, to sweep a full table at
    /// most once a second rather than on every refused revocation.
    swept: Option<Instant>,
}

/// In-process revocations, each kept until the time it was given (the
/// token's `exp` plus leeway), at most `capacity` at once (a million by
/// default). When full, expired ones are dropped first; if none has expired
/// a new revocation is refused with
/// [`StoreErrorKind::Full`](crate::StoreErrorKind::Full): a revocation is
/// never evicted to make room.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use auth_core::StoreErrorKind;
/// use auth_core::store::{MemoryRevocations, RevocationStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryRevocations::with_capacity(1);
/// let until = SystemTime::now() + Duration::from_secs(60);
/// store.revoke("iss", "j-1", until).await.unwrap();
/// let full = store.revoke("iss", "j-2", until).await.unwrap_err();
/// assert_eq!(full.kind(), StoreErrorKind::Full);
/// assert!(store.is_revoked("iss", "j-1").await.unwrap());
/// // The same id from another issuer is another token.
/// assert!(!store.is_revoked("other", "j-1").await.unwrap());
/// # });
/// ```
pub struct MemoryRevocations {
    revoked: RwLock<Revoked>,
    capacity: usize,
    count: AtomicU64,
}

impl Default for MemoryRevocations {
    fn default() -> Self {
        Self::with_capacity(1_000_000)
    }
}

impl MemoryRevocations {
    /// An empty store holding up to a million revocations.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store holding up to `capacity` revocations.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            revoked: RwLock::new(Revoked::default()),
            capacity,
            count: AtomicU64::new(0),
        }
    }

    /// `issuer` and `jti` in one key that no other pair maps to.
    fn key(issuer: &str, jti: &str) -> String {
        format!("{}:{issuer}{jti}", issuer.len())
    }

    fn revoke_now(&self, issuer: &str, jti: &str, until: SystemTime) -> Result<(), StoreError> {
        let now = SystemTime::now();
        if until <= now {
            // Nothing left to refuse.
            return Ok(());
        }
        let key = Self::key(issuer, jti);
        // Each change is one insert or one retain: a poisoned lock leaves
        // the table whole.
        let mut table = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        if table.until.get(&key).is_some_and(|t| *t > now) {
            return Ok(());
        }
        let full = |t: &Revoked| t.until.len() >= self.capacity && !t.until.contains_key(&key);
        if full(&table)
            && table
                .swept
                .is_none_or(|at| at.elapsed() >= Duration::from_secs(1))
        {
            table.until.retain(|_, t| *t > now);
            table.swept = Some(Instant::now());
        }
        if full(&table) {
            return Err(StoreError::full("revocations (capacity reached)"));
        }
        table.until.insert(key, until);
        self.count.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    fn is_revoked_now(&self, issuer: &str, jti: &str) -> bool {
        let table = self.revoked.read().unwrap_or_else(|e| e.into_inner());
        table
            .until
            .get(&Self::key(issuer, jti))
            .is_some_and(|t| *t > SystemTime::now())
    }
}

impl RevocationStore for MemoryRevocations {
    fn revoke<'a>(
        &'a self,
        issuer: &'a str,
        jti: &'a str,
        until: SystemTime,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(self.revoke_now(issuer, jti, until)))
    }

    fn is_revoked<'a>(
        &'a self,
        issuer: &'a str,
        jti: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(std::future::ready(Ok(self.is_revoked_now(issuer, jti))))
    }

    fn revocations(&self) -> Option<u64> {
        Some(self.count.load(Ordering::Acquire))
    }
}

/// A counter: its value and when it expires.
#[derive(Clone, Copy)]
struct Counter {
    value: u64,
    expires_at: Instant,
}

struct UntilCounterExpires;

impl Expiry<String, Counter> for UntilCounterExpires {
    fn expire_after_create(&self, _key: &String, c: &Counter, at: Instant) -> Option<Duration> {
        Some(c.expires_at.saturating_duration_since(at))
    }
    fn expire_after_update(
        &self,
        _key: &String,
        c: &Counter,
        at: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(c.expires_at.saturating_duration_since(at))
    }
}

/// In-process counters (moka, bounded: the least recently used go first
/// when `capacity` is reached).
pub struct MemoryCounters {
    counters: moka::sync::Cache<String, Counter>,
}

impl MemoryCounters {
    /// At most `capacity` counters.
    pub fn new(capacity: u64) -> Self {
        Self {
            counters: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilCounterExpires)
                .build(),
        }
    }
}

impl CounterStore for MemoryCounters {
    fn increment<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<Count, StoreError>> {
        let now = Instant::now();
        // One atomic step per key: concurrent increments never lose a count.
        let result = self.counters.entry_by_ref(key).and_compute_with(|entry| {
            match entry.map(|e| e.into_value()) {
                Some(c) if c.expires_at > now => Op::Put(Counter {
                    value: c.value.saturating_add(1),
                    expires_at: c.expires_at,
                }),
                _ => Op::Put(Counter {
                    value: 1,
                    expires_at: now.checked_add(window).unwrap_or(now),
                }),
            }
        });
        let count = result.into_entry().map(|e| {
            let c = e.into_value();
            Count {
                value: c.value,
                expires_in: c.expires_at.saturating_duration_since(now),
            }
        });
        Box::pin(std::future::ready(Ok(count.unwrap_or(Count {
            value: 1,
            expires_in: window,
        }))))
    }

    fn decrement<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let now = Instant::now();
        self.counters.entry_by_ref(key).and_compute_with(|entry| {
            match entry.map(|e| e.into_value()) {
                Some(c) if c.expires_at > now && c.value > 1 => Op::Put(Counter {
                    value: c.value - 1,
                    expires_at: c.expires_at,
                }),
                Some(_) => Op::Remove,
                None => Op::Nop,
            }
        });
        Box::pin(std::future::ready(Ok(())))
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Count>, StoreError>> {
        let now = Instant::now();
        let found = self
            .counters
            .get(key)
            .filter(|c| c.expires_at > now)
            .map(|c| Count {
                value: c.value,
                expires_in: c.expires_at.saturating_duration_since(now),
            });
        Box::pin(std::future::ready(Ok(found)))
    }
}

/// The in-process [`TokenStore`]: a moka cache whose entries expire with
/// their tokens. When full it evicts, and an evicted token reads as
/// inactive: it fails closed.
///
/// ```
/// use std::sync::Arc;
/// use std::time::{Duration, SystemTime};
/// use auth_core::store::{MemoryTokens, TokenStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let tokens = MemoryTokens::new(10_000);
/// let claims = Arc::new(serde_json::Map::new());
/// tokens.insert([7; 32], claims, SystemTime::now() + Duration::from_secs(60)).await.unwrap();
/// assert!(tokens.get(&[7; 32]).await.unwrap().is_some());
/// tokens.remove(&[7; 32]).await.unwrap();
/// assert!(tokens.get(&[7; 32]).await.unwrap().is_none());
/// # });
/// ```
pub struct MemoryTokens {
    cache: moka::sync::Cache<[u8; 32], TokenEntry>,
}

#[derive(Clone)]
struct TokenEntry {
    claims: std::sync::Arc<crate::identity::Claims>,
    until: SystemTime,
}

struct UntilTokenExpiry;

impl Expiry<[u8; 32], TokenEntry> for UntilTokenExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &TokenEntry,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(
            value
                .until
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
        )
    }
}

impl MemoryTokens {
    /// A store of at most `capacity` live tokens.
    pub fn new(capacity: u64) -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilTokenExpiry)
                .build(),
        }
    }
}

impl std::fmt::Debug for MemoryTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTokens")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

impl TokenStore for MemoryTokens {
    fn insert(
        &self,
        hash: [u8; 32],
        claims: std::sync::Arc<crate::identity::Claims>,
        until: SystemTime,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        self.cache.insert(hash, TokenEntry { claims, until });
        Box::pin(std::future::ready(Ok(())))
    }

    fn get<'a>(
        &'a self,
        hash: &'a [u8; 32],
    ) -> BoxFuture<'a, Result<Option<std::sync::Arc<crate::identity::Claims>>, StoreError>> {
        // moka hands out no entry past its expiry; `until` is checked too
        // for the instant between.
        let live = self
            .cache
            .get(hash)
            .filter(|e| e.until > SystemTime::now())
            .map(|e| e.claims);
        Box::pin(std::future::ready(Ok(live)))
    }

    fn remove<'a>(&'a self, hash: &'a [u8; 32]) -> BoxFuture<'a, Result<(), StoreError>> {
        self.cache.invalidate(hash);
        Box::pin(std::future::ready(Ok(())))
    }
}
