//! Revoked token ids (`jti`): the [`RevocationStore`] trait and its
//! in-process implementation, entries kept until the token's `exp`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use moka::Expiry;

use crate::authenticate::BoxFuture;
use crate::error::StoreError;

/// Remembers revoked `jti`s until their tokens expire.
pub trait RevocationStore: Send + Sync + 'static {
    /// Revokes `jti` until `until` (the token's `exp`).
    fn revoke<'a>(
        &'a self,
        jti: &'a str,
        until: SystemTime,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Whether `jti` is revoked.
    fn is_revoked<'a>(&'a self, jti: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;

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
    /// use auth_core::jwt::{MemoryRevocations, RevocationStore};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = MemoryRevocations::new();
    /// let before = store.revocations();
    /// store.revoke("j-1", SystemTime::now() + Duration::from_secs(60)).await.unwrap();
    /// assert_ne!(store.revocations(), before);
    /// # });
    /// ```
    fn revocations(&self) -> Option<u64> {
        None
    }
}

struct UntilGiven;

impl Expiry<String, SystemTime> for UntilGiven {
    fn expire_after_create(
        &self,
        _key: &String,
        until: &SystemTime,
        _at: Instant,
    ) -> Option<Duration> {
        Some(
            until
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
        )
    }
}

/// In-process revocations (moka, bounded).
pub struct MemoryRevocations {
    revoked: moka::sync::Cache<String, SystemTime>,
    count: AtomicU64,
}

impl Default for MemoryRevocations {
    fn default() -> Self {
        Self {
            revoked: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .expire_after(UntilGiven)
                .build(),
            count: AtomicU64::new(0),
        }
    }
}

impl MemoryRevocations {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl RevocationStore for MemoryRevocations {
    fn revoke<'a>(
        &'a self,
        jti: &'a str,
        until: SystemTime,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.revoked.insert(jti.to_owned(), until);
        self.count.fetch_add(1, Ordering::AcqRel);
        Box::pin(std::future::ready(Ok(())))
    }

    fn is_revoked<'a>(&'a self, jti: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(std::future::ready(Ok(self.revoked.contains_key(jti))))
    }

    fn revocations(&self) -> Option<u64> {
        Some(self.count.load(Ordering::Acquire))
    }
}
