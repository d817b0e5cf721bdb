//! The verified-token cache (moka): keyed by SHA-256 of the token, never the
//! token; an entry never outlives the token's `exp`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moka::Expiry;
use sha2::{Digest, Sha256};

use super::jwks::JwksCache;
use crate::identity::Identity;

/// A verified token, as remembered.
pub(crate) struct Verified {
    pub(crate) identity: Identity,
    pub(crate) exp: u64,
    pub(crate) jti: Option<String>,
    /// How to tell that the verifying key is still published.
    pub(crate) key: KeySource,
}

/// Where the key that verified a token came from.
pub(crate) enum KeySource {
    /// A configured key, or a JWKS key without a `kid`: nothing to re-check.
    Fixed,
    /// The key `kid` of a JWKS, as of its `removals` count: while the
    /// count is unchanged no key has left the set, so the key is still there.
    Jwks {
        jwks: Arc<JwksCache>,
        kid: String,
        removals: u64,
    },
}

impl KeySource {
    /// Whether the key is still published.
    pub(crate) fn still_published(&self) -> bool {
        match self {
            Self::Fixed => true,
            Self::Jwks {
                jwks,
                kid,
                removals,
            } => {
                jwks.removals() == *removals
                    || jwks.current().is_some_and(|set| set.contains_kid(kid))
            }
        }
    }
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
