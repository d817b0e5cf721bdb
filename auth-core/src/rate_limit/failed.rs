//! [`FailedAttempts`]: failed authentications per client address.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::limits::client_bucket;
use crate::request::{RequestHead, TrustedProxies};
use crate::store::{CounterStore, MemoryCounters};

/// How many client addresses the in-process counter keeps at once.
const MEMORY_CAPACITY: u64 = 200_000;

/// Refuses a client address, before any credential it sends is verified,
/// once `max` authentications from it have failed within a window that
/// starts with the first failure (`429` with `Retry-After` until the window
/// ends). Set it on a guard with
/// [`GuardBuilder::failed_attempts`](crate::GuardBuilder::failed_attempts).
///
/// - A client is an IPv4 address, or the /64 of an IPv6 one. The address is
///   the peer's, or, from a trusted proxy, the right-most `X-Forwarded-For`
///   entry that is not a trusted proxy; a spoofed header from anyone else
///   changes nothing.
/// - A failure is a refusal with `401` for a credential that was presented
///   (a missing credential is not an attempt). Refusals for being over the
///   limit do not count, so the window ends on time.
/// - The count is read before verifying and added to after a failure: a
///   burst of concurrent attempts can pass the limit by the number in
///   flight. Password guessing is bounded tighter by Basic's
///   [`Lockout`](crate::limits::Lockout), which counts first.
/// - Keys are fixed-size hashes of the address; the in-process counter is
///   bounded.
///
/// ```
/// use std::time::Duration;
/// use auth_core::rate_limit::FailedAttempts;
/// use auth_core::SimpleRequest;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let failed = FailedAttempts::new(2, Duration::from_secs(60));
/// let req = SimpleRequest::get("/").peer("203.0.113.9:5000".parse().unwrap());
/// failed.failed(&req).await.unwrap();
/// assert_eq!(failed.blocked(&req).await.unwrap(), None);
/// failed.failed(&req).await.unwrap();
/// assert!(failed.blocked(&req).await.unwrap().is_some());
/// # });
/// ```
#[derive(Clone)]
pub struct FailedAttempts {
    store: Arc<dyn CounterStore>,
    max: u64,
    window: Duration,
    proxies: TrustedProxies,
}

impl std::fmt::Debug for FailedAttempts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailedAttempts")
            .field("max", &self.max)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl FailedAttempts {
    /// At most `max` failures (at least 1) per client address per `window`,
    /// counted in process memory.
    pub fn new(max: u64, window: Duration) -> Self {
        Self {
            store: Arc::new(MemoryCounters::new(MEMORY_CAPACITY)),
            max: max.max(1),
            window,
            proxies: TrustedProxies::none(),
        }
    }

    /// Counts in `store` (shared by processes, for one).
    pub fn store(mut self, store: Arc<dyn CounterStore>) -> Self {
        self.store = store;
        self
    }

    /// Proxies whose `X-Forwarded-For` names the client.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    pub(super) fn key(&self, head: &dyn RequestHead) -> String {
        let bucket = client_bucket(self.proxies.client_ip(head));
        let mut h = Sha256::new();
        h.update(b"auth-stack failed attempts\0");
        h.update(&bucket);
        format!(
            "failed:{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize())
        )
    }

    /// How long this request's client stays refused, if it is now.
    pub async fn blocked(&self, head: &dyn RequestHead) -> Result<Option<Duration>, StoreError> {
        let count = self.store.get(&self.key(head)).await?;
        Ok(count.filter(|c| c.value >= self.max).map(|c| c.expires_in))
    }

    /// Counts a failed authentication from this request's client.
    pub async fn failed(&self, head: &dyn RequestHead) -> Result<(), StoreError> {
        self.store.increment(&self.key(head), self.window).await?;
        Ok(())
    }
}
