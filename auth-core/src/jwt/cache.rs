//! The verified-token cache (moka): keyed by a hash of the token, never the
//! token; an entry never outlives the token's `exp`.
//!
//! The key is SHA-256 of the signature segment, the part that makes a token
//! a credential; the entry keeps the signing input (`header.payload`, the
//! same claims the entry holds decoded) and a hit requires it to match
//! byte for byte. So a hit is exactly the token that was verified, nothing
//! in memory can be replayed as a token, and a request hashes tens of
//! bytes instead of the whole token.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moka::Expiry;
use sha2::{Digest, Sha256};

use super::jwks::JwksCache;
use crate::identity::Identity;

/// A verified token, as remembered.
pub(crate) struct Verified {
    /// The token's signing input (`header.payload`).
    pub(crate) signing_input: Box<[u8]>,
    pub(crate) identity: Identity,
    pub(crate) exp: u64,
    /// The issuer and `jti`, which revocations are keyed by.
    pub(crate) jti: Option<(String, String)>,
    /// The revocation store's count when `jti` was last found not revoked
    /// ([`NOT_COUNTED`] if the store keeps no count).
    pub(crate) revocations_seen: AtomicU64,
    /// How to tell that the verifying key is still published.
    pub(crate) key: KeySource,
}

/// `revocations_seen` when there is no count to compare.
pub(crate) const NOT_COUNTED: u64 = u64::MAX;

/// Where the key that verified a token came from.
pub(crate) enum KeySource {
    /// A configured key: nothing to re-check.
    Fixed,
    /// A key of a JWKS (named `kid` in the token, or not), identified by its
    /// thumbprint, as of the set's `removals` count: while the count is
    /// unchanged no key has left the set or been replaced, so the key is
    /// still there.
    Jwks {
        jwks: Arc<JwksCache>,
        kid: Option<String>,
        thumbprint: [u8; 32],
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
                thumbprint,
                removals,
            } => {
                jwks.removals() == *removals
                    || jwks
                        .current()
                        .is_some_and(|set| set.still_has(kid.as_deref(), thumbprint))
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
        // To the token's `exp`, exactly: moka never hands out an entry past
        // it, so a hit needs no clock read of its own.
        // `exp` is at most year 9999 (checked before verification); a time
        // that does not fit is not cached.
        let left = UNIX_EPOCH
            .checked_add(Duration::from_secs(value.exp))
            .and_then(|t| t.duration_since(SystemTime::now()).ok())
            .unwrap_or(Duration::ZERO);
        Some(left.min(self.max_ttl))
    }
}

/// `header.payload` and `signature` of a compact JWS (everything before
/// the last dot, and after it).
pub(crate) fn split_signature(token: &[u8]) -> (&[u8], &[u8]) {
    match token.iter().rposition(|b| *b == b'.') {
        Some(dot) => (
            token.get(..dot).unwrap_or_default(),
            token.get(dot + 1..).unwrap_or_default(),
        ),
        None => (&[], token),
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) struct VerifiedCache {
    cache: moka::sync::Cache<[u8; 32], Arc<Verified>, DigestHash>,
}

/// Hashes a SHA-256 key by XOR-folding its bytes: they are already uniform,
/// so hashing them again (SipHash, the default) would only cost time. An
/// attacker cannot crowd one bucket either: only tokens whose signature
/// verified are ever inserted.
#[derive(Clone, Copy, Default)]
struct DigestHash;

impl std::hash::BuildHasher for DigestHash {
    type Hasher = DigestHasher;
    fn build_hasher(&self) -> DigestHasher {
        DigestHasher(0)
    }
}

struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 32]` hashes as its 32 bytes; fold in anything else too.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            for (w, b) in word.iter_mut().zip(chunk) {
                *w = *b;
            }
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }
}

impl VerifiedCache {
    pub(crate) fn new(capacity: u64, max_ttl: Duration) -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExp { max_ttl })
                .build_with_hasher(DigestHash),
        }
    }

    /// The cache key of `token`, and its signing input.
    pub(crate) fn key(token: &[u8]) -> ([u8; 32], &[u8]) {
        let (signing_input, signature) = split_signature(token);
        (Sha256::digest(signature).into(), signing_input)
    }

    /// The entry for `token` (its key and signing input): only if it was
    /// verified from exactly these bytes.
    pub(crate) fn get(&self, key: &[u8; 32], signing_input: &[u8]) -> Option<Arc<Verified>> {
        self.cache
            .get(key)
            .filter(|hit| *hit.signing_input == *signing_input)
    }

    pub(crate) fn insert(&self, key: [u8; 32], value: Verified) {
        self.cache.insert(key, Arc::new(value));
    }

    pub(crate) fn remove(&self, key: &[u8; 32]) {
        self.cache.invalidate(key);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher as _;

    use super::*;

    #[test]
    fn the_key_hashes_the_signature_and_keeps_the_signing_input() {
        let (key, input) = VerifiedCache::key(b"aGVhZA.cGF5bG9hZA.c2ln");
        assert_eq!(input, b"aGVhZA.cGF5bG9hZA");
        let same_signature = VerifiedCache::key(b"b3RoZXI.cGF5bG9hZA.c2ln");
        assert_eq!(same_signature.0, key);
        assert_ne!(same_signature.1, input, "told apart by the signing input");
        assert_ne!(VerifiedCache::key(b"aGVhZA.cGF5bG9hZA.c2lo").0, key);
        assert_eq!(VerifiedCache::key(b"no-dots").1, b"");
    }

    #[test]
    fn digest_hashes_spread_over_buckets() {
        let buckets: HashSet<u64> = (0u32..4096)
            .map(|i| DigestHash.hash_one(VerifiedCache::key(&i.to_le_bytes()).0) & 0xfff)
            .collect();
        // 4096 uniform draws into 4096 buckets fill about 63% of them.
        assert!(buckets.len() > 2400, "{} buckets", buckets.len());
        let high: HashSet<u64> = (0u32..4096)
            .map(|i| DigestHash.hash_one(VerifiedCache::key(&i.to_le_bytes()).0) >> 52)
            .collect();
        assert!(high.len() > 2400, "{} high buckets", high.len());
    }
}
