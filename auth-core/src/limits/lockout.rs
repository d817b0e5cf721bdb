//! [`Lockout`]: too many failed attempts for one account lock it for the
//! rest of a window, counted in a [`CounterStore`].
//!
//! ```
//! use std::time::Duration;
//! use auth_core::limits::Lockout;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let lockout = Lockout::new(2, Duration::from_secs(60));
//! lockout.record_failure("alice").await.unwrap();
//! assert!(lockout.locked_for("alice").await.unwrap().is_none());
//! lockout.record_failure("alice").await.unwrap();
//! assert!(lockout.locked_for("alice").await.unwrap().is_some());
//! assert!(lockout.locked_for("bob").await.unwrap().is_none());
//! # });
//! ```

use std::sync::Arc;
use std::time::Duration;

use crate::error::StoreError;
use crate::store::{CounterStore, MemoryCounters};

/// How many accounts the in-process lockout tracks at once.
const MEMORY_CAPACITY: u64 = 100_000;

/// Locks an account after `max_failures` failures within a window that
/// starts with the first of them, until that window has passed.
#[derive(Clone)]
pub struct Lockout {
    store: Arc<dyn CounterStore>,
    max_failures: u64,
    window: Duration,
}

impl Lockout {
    /// Counts in process memory (bounded).
    pub fn new(max_failures: usize, window: Duration) -> Self {
        Self::with_store(
            Arc::new(MemoryCounters::new(MEMORY_CAPACITY)),
            max_failures,
            window,
        )
    }

    /// Counts in `store` (shared by processes, for one).
    pub fn with_store(store: Arc<dyn CounterStore>, max_failures: usize, window: Duration) -> Self {
        Self {
            store,
            max_failures: u64::try_from(max_failures.max(1)).unwrap_or(u64::MAX),
            window,
        }
    }

    fn key(account: &str) -> String {
        format!("lockout:{account}")
    }

    /// How long `account` stays locked, if it is locked now.
    pub async fn locked_for(&self, account: &str) -> Result<Option<Duration>, StoreError> {
        let count = self.store.get(&Self::key(account)).await?;
        Ok(count
            .filter(|c| c.value >= self.max_failures)
            .map(|c| c.expires_in))
    }

    /// Records one failed attempt for `account`.
    pub async fn record_failure(&self, account: &str) -> Result<(), StoreError> {
        self.store
            .increment(&Self::key(account), self.window)
            .await
            .map(|_| ())
    }
}

impl std::fmt::Debug for Lockout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lockout")
            .field("max_failures", &self.max_failures)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn locks_after_max_and_unlocks_after_window() {
        let l = Lockout::new(3, Duration::from_millis(300));
        for _ in 0..2 {
            l.record_failure("u").await.unwrap();
        }
        assert!(l.locked_for("u").await.unwrap().is_none());
        l.record_failure("u").await.unwrap();
        let left = l.locked_for("u").await.unwrap().unwrap();
        assert!(left <= Duration::from_millis(300));
        assert!(l.locked_for("other").await.unwrap().is_none());
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(l.locked_for("u").await.unwrap().is_none());
        // A new window starts from zero.
        l.record_failure("u").await.unwrap();
        assert!(l.locked_for("u").await.unwrap().is_none());
    }
}
