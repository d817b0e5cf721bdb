//! The verified-token cache (moka): keyed by SHA-256 of the token, never the
//! token; an entry never outlives the token's `exp`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moka::Expiry;
use sha2::{Digest, Sha256};

use crate::identity::Identity;

/// A verified token, as remembered.
pub(crate) struct Verified {
    pub(crate) identity: Identity,
    pub(crate) exp: u64,
    pub(crate) issuer: String,
    pub(crate) kid: Option<String>,
    pub(crate) jti: Option<String>,
}

struct UntilExp {
    max_ttl: Duration,
}

impl Expiry<[u8; 32], Arc<Verified>> for UntilExp {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Arc<Verified>,
        _created_at: Instant,
    ) -> Option<Duration> {
        let left = Duration::from_secs(value.exp.saturating_sub(unix_now()));
        Some(left.min(self.max_ttl))
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) struct VerifiedCache {
    cache: moka::sync::Cache<[u8; 32], Arc<Verified>>,
}

impl VerifiedCache {
    pub(crate) fn new(capacity: u64, max_ttl: Duration) -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExp { max_ttl })
                .build(),
        }
    }

    pub(crate) fn key(token: &[u8]) -> [u8; 32] {
        Sha256::digest(token).into()
    }

    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<Arc<Verified>> {
        self.cache.get(key)
    }

    pub(crate) fn insert(&self, key: [u8; 32], value: Verified) {
        self.cache.insert(key, Arc::new(value));
    }

    pub(crate) fn remove(&self, key: &[u8; 32]) {
        self.cache.invalidate(key);
    }
}
