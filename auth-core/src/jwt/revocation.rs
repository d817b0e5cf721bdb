//! Revoked token ids (`jti`): the [`RevocationStore`] trait and its
//! in-process implementation, entries kept until the token's `exp`.

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
}

impl Default for MemoryRevocations {
    fn default() -> Self {
        Self {
            revoked: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .expire_after(UntilGiven)
                .build(),
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
        Box::pin(std::future::ready(Ok(())))
    }

    fn is_revoked<'a>(&'a self, jti: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(std::future::ready(Ok(self.revoked.contains_key(jti))))
    }
}
