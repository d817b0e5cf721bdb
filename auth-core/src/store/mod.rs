//! One home for state: the store traits every method keeps its state
//! behind, each an atomic operation that a shared store (Redis, a database)
//! can do in one round trip: get, insert-if-absent, compare-and-set,
//! increment with an expiry. No closures cross the trait, and no call
//! blocks an async worker on I/O.
//!
//! | state | trait | in-process | Redis (feature `redis`) | other |
//! | --- | --- | --- | --- | --- |
//! | API keys (hashes and metadata) | [`KeyStore`] | [`MemoryKeyStore`] | `RedisKeyStore` | [`FileKeyStore`] |
//! | revoked token ids (`jti`) | [`RevocationStore`] | [`MemoryRevocations`] | `RedisRevocations` | |
//! | counters with an expiry (Basic lockout, failed attempts per address) | [`CounterStore`] | [`MemoryCounters`] | `RedisCounters` | |
//! | opaque access tokens | [`TokenStore`] | [`MemoryTokens`] | `RedisTokens` | |
//! | authorization codes, refresh-token families | [`GrantStore`] | [`MemoryGrants`] | `RedisGrants` | |
//! | rate-limit cells (GCRA) | [`RateLimitStore`] | [`MemoryRateLimits`] (governor) | `RedisRateLimits` | |
//! | HTTP Basic users (feature `basic`) | [`UserStore`] | [`MemoryUserStore`] | | your database |
//!
//! The Redis stores (module `store::redis`, feature `redis`)
//! are made from one `Redis` connection, standalone or a cluster, and
//! share their state with every process using the same Redis.
//!
//! A store that cannot answer returns a [`StoreError`], which the guard
//! answers with `503`.
//!
//! ```
//! use std::time::Duration;
//! use auth_core::store::{CounterStore, MemoryCounters};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let counters = MemoryCounters::new(10_000);
//! let window = Duration::from_secs(60);
//! assert_eq!(counters.increment("k", window).await.unwrap().value, 1);
//! assert_eq!(counters.increment("k", window).await.unwrap().value, 2);
//! assert!(counters.get("other").await.unwrap().is_none());
//! # });
//! ```

#[cfg(feature = "api-key")]
mod file;
mod grants;
mod memory;
mod rate;
#[cfg(feature = "redis")]
pub mod redis;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::authenticate::BoxFuture;
use crate::error::StoreError;

#[cfg(all(feature = "redis", feature = "api-key"))]
pub use self::redis::RedisKeyStore;
#[cfg(feature = "redis")]
pub use self::redis::{
    FailMode, Redis, RedisCounters, RedisGrants, RedisRateLimits, RedisRevocations, RedisTokens,
};
#[cfg(feature = "api-key")]
pub use crate::api_key::{KeyHash, KeyRecord};
#[cfg(feature = "basic")]
pub use crate::basic::BasicUser;
#[cfg(feature = "api-key")]
pub use file::{FileKeyStore, RELOAD_EVERY};
pub use grants::{
    CodeGrant, Family, GrantStore, Issued, MAX_LIVE_PER_FAMILY, MemoryGrants, Redemption, Rotation,
    SPENT_REMEMBERED,
};
#[cfg(feature = "api-key")]
pub use memory::MemoryKeyStore;
#[cfg(feature = "basic")]
pub use memory::MemoryUserStore;
pub use memory::{MemoryCounters, MemoryRevocations, MemoryTokens};
pub use rate::{MemoryRateLimits, RateDecision, RateLimitStore};

/// A key found by its public id: its hash and record.
#[cfg(feature = "api-key")]
pub type FoundKey = (KeyHash, Arc<KeyRecord>);

/// Storage for API key hashes and metadata.
///
/// Implement it for your database; [`MemoryKeyStore`] and [`FileKeyStore`]
/// come with the crate. Records are replaced whole, never edited in place.
#[cfg(feature = "api-key")]
pub trait KeyStore: Send + Sync + 'static {
    /// The record of the key with this hash.
    fn get<'a>(
        &'a self,
        hash: &'a KeyHash,
    ) -> BoxFuture<'a, Result<Option<Arc<KeyRecord>>, StoreError>>;

    /// The hash and record of the key with public id `id`.
    fn find<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<FoundKey>, StoreError>>;

    /// Adds a key unless one with this hash or this id exists; `false` if
    /// one does.
    fn insert_if_absent(
        &self,
        hash: KeyHash,
        record: KeyRecord,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Replaces the record of `hash` with `new` if it still equals
    /// `current`; `false` (and no change) if it does not, or is gone.
    fn compare_and_set<'a>(
        &'a self,
        hash: &'a KeyHash,
        current: &'a KeyRecord,
        new: KeyRecord,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Every record.
    fn list(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, StoreError>>;

    /// Waits until every change made so far is durable. Stores that write
    /// through have nothing to wait for (the default).
    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Remembers revoked tokens, by issuer and token id (`iss`, `jti`), until
/// they could no longer be accepted anyway.
///
/// A store must never drop a revocation before `until` to make room: when
/// it is full, [`revoke`](Self::revoke) fails with
/// [`StoreErrorKind::Full`](crate::StoreErrorKind::Full) (a 503 for the
/// request that asked for it) instead.
pub trait RevocationStore: Send + Sync + 'static {
    /// Revokes the token `jti` of `issuer` until `until` (its `exp` plus the
    /// clock leeway); revoking it again changes nothing (insert-if-absent).
    fn revoke<'a>(
        &'a self,
        issuer: &'a str,
        jti: &'a str,
        until: SystemTime,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Whether the token `jti` of `issuer` is revoked.
    fn is_revoked<'a>(
        &'a self,
        issuer: &'a str,
        jti: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// A count of revocations so far, if this store can tell it without a
    /// round trip; `None` (the default) if it cannot.
    ///
    /// A cached token whose `jti` was looked up when the count was `n` is
    /// known not revoked while the count is still `n`, so cache hits skip
    /// [`is_revoked`](Self::is_revoked) until something is revoked. A store
    /// returning a count must bump it after every
    /// [`revoke`](Self::revoke) has taken effect.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use auth_core::store::{MemoryRevocations, RevocationStore};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = MemoryRevocations::new();
    /// let before = store.revocations();
    /// let until = SystemTime::now() + Duration::from_secs(60);
    /// store.revoke("https://issuer.example", "j-1", until).await.unwrap();
    /// assert_ne!(store.revocations(), before);
    /// # });
    /// ```
    fn revocations(&self) -> Option<u64> {
        None
    }
}

/// A counter's value and how long until it expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count {
    /// The count.
    pub value: u64,
    /// Time left before the counter expires and starts again from zero.
    pub expires_in: Duration,
}

/// Counters that expire: a fixed window starts with a counter's first
/// increment (Redis `INCR` plus `EXPIRE NX`).
pub trait CounterStore: Send + Sync + 'static {
    /// Adds one to `key`, starting it at 1 with `window` to live if it does
    /// not exist (or has expired); returns the new count.
    fn increment<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<Count, StoreError>>;

    /// The count of `key`, if it exists.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Count>, StoreError>>;

    /// Takes one from `key`, keeping its expiry; a counter that reaches zero
    /// is removed, so the next increment starts a new window. Nothing if it
    /// does not exist.
    fn decrement<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// Opaque access tokens an authorization server issued: the claims its
/// introspection endpoint answers with, by the SHA-256 of the token (never
/// the token), until the token expires.
pub trait TokenStore: Send + Sync + 'static {
    /// Records a token's claims until `until`.
    fn insert(
        &self,
        hash: [u8; 32],
        claims: Arc<crate::identity::Claims>,
        until: SystemTime,
    ) -> BoxFuture<'_, Result<(), StoreError>>;

    /// The claims of a live token.
    fn get<'a>(
        &'a self,
        hash: &'a [u8; 32],
    ) -> BoxFuture<'a, Result<Option<Arc<crate::identity::Claims>>, StoreError>>;

    /// Forgets a token (revocation).
    fn remove<'a>(&'a self, hash: &'a [u8; 32]) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// Users who may log in with HTTP Basic, looked up by name when they do
/// ([`BasicAuthenticatorBuilder::user_store`](crate::basic::BasicAuthenticatorBuilder::user_store)):
/// one read, by the name the client sent after RFC 8265 preparation
/// ([`prepare_username`](crate::basic::prepare_username)).
///
/// Implement it for your database; [`MemoryUserStore`] comes with the
/// crate. Answer `Ok(None)` for a name that is not there and `Err` only
/// when the store cannot answer (the request then gets 503 with
/// `Retry-After`, not 401). Match names exactly: a record whose prepared
/// name is not the one asked for is refused (a case-insensitive match
/// would let one user's guesses spread over many lockout counters). The
/// authenticator checks each record it reads as the fixed list is checked
/// at build (argon2id at OWASP's minimum or above, no costlier than
/// [`store_hash_params`](crate::basic::BasicAuthenticatorBuilder::store_hash_params)).
///
/// ```
/// use auth_core::basic::{BasicUser, hash_password};
/// use auth_core::store::{MemoryUserStore, UserStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryUserStore::new();
/// store.insert(BasicUser::new("alice", hash_password("pw").unwrap())).unwrap();
/// assert_eq!(store.get("alice").await.unwrap().unwrap().username(), "alice");
/// assert!(store.get("Alice").await.unwrap().is_none());
/// assert!(store.remove("alice"));
/// assert!(store.get("alice").await.unwrap().is_none());
/// # });
/// ```
#[cfg(feature = "basic")]
pub trait UserStore: Send + Sync + 'static {
    /// The user named `name` (prepared), if there is one.
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<BasicUser>, StoreError>>;
}
