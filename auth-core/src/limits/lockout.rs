//! [`Lockout`]: too many failed attempts for one account lock it for the
//! rest of a window, counted in a [`CounterStore`].
//!
//! An attempt is counted *before* the password is checked and released when
//! it succeeds, so concurrent guesses cannot get more checks than the limit:
//! of 64 wrong passwords sent at once with a limit of 5, 5 are checked and
//! 59 refused.
//!
//! ```
//! use std::time::Duration;
//! use auth_core::limits::Lockout;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let lockout = Lockout::new(2, Duration::from_secs(60));
//! // Two attempts that fail (never released), then the account is locked.
//! assert!(lockout.begin("alice").await.unwrap().is_none());
//! assert!(lockout.begin("alice").await.unwrap().is_none());
//! assert!(lockout.begin("alice").await.unwrap().is_some());
//! // One that succeeds gives its attempt back.
//! assert!(lockout.begin("bob").await.unwrap().is_none());
//! lockout.succeeded("bob").await.unwrap();
//! assert!(lockout.begin("bob").await.unwrap().is_none());
//! assert!(lockout.begin("bob").await.unwrap().is_none());
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

    /// How long `account` stays locked, if it is locked now: `max_failures`
    /// attempts are counted (failed, or being checked). Reads only.
    pub async fn locked_for(&self, account: &str) -> Result<Option<Duration>, StoreError> {
        let count = self.store.get(&Self::key(account)).await?;
        Ok(count
            .filter(|c| c.value >= self.max_failures)
            .map(|c| c.expires_in))
    }

    /// Counts an attempt for `account` before it is checked. `Some(left)`
    /// if the account is locked: the attempt must be refused, without a
    /// check, and is answered with `Retry-After: left`. Otherwise the caller
    /// checks it, and calls [`succeeded`](Self::succeeded) if it passes; a
    /// failed attempt stays counted.
    pub async fn begin(&self, account: &str) -> Result<Option<Duration>, StoreError> {
        let count = self
            .store
            .increment(&Self::key(account), self.window)
            .await?;
        Ok((count.value > self.max_failures).then_some(count.expires_in))
    }

    /// Gives back the attempt [`begin`](Self::begin) counted: it passed (or
    /// could not be checked, which is not the caller's failure).
    pub async fn succeeded(&self, account: &str) -> Result<(), StoreError> {
        self.store.decrement(&Self::key(account)).await
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
    async fn locks_after_max_failures_and_unlocks_after_window() {
        let l = Lockout::new(3, Duration::from_millis(300));
        for _ in 0..3 {
            assert!(l.begin("u").await.unwrap().is_none(), "a failed attempt");
        }
        let left = l.begin("u").await.unwrap().unwrap();
        assert!(left <= Duration::from_millis(300));
        assert!(l.begin("other").await.unwrap().is_none());
        tokio::time::sleep(Duration::from_millis(350)).await;
        // A new window starts from zero.
        for _ in 0..3 {
            assert!(l.begin("u").await.unwrap().is_none());
        }
        assert!(l.begin("u").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn successes_give_their_attempt_back() {
        let l = Lockout::new(2, Duration::from_secs(60));
        for _ in 0..10 {
            assert!(l.begin("u").await.unwrap().is_none());
            l.succeeded("u").await.unwrap();
        }
        assert!(l.locked_for("u").await.unwrap().is_none());
        assert!(l.begin("u").await.unwrap().is_none());
        assert!(l.locked_for("u").await.unwrap().is_none(), "one of two");
        assert!(l.begin("u").await.unwrap().is_none());
        assert!(l.locked_for("u").await.unwrap().is_some(), "two of two");
        // Nothing to give back for an account never seen.
        l.succeeded("never").await.unwrap();
        assert!(l.begin("never").await.unwrap().is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_attempts_cannot_pass_the_limit() {
        let l = Arc::new(Lockout::new(5, Duration::from_secs(60)));
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move { l.begin("u").await.unwrap().is_none() })
            })
            .collect();
        let mut let_through = 0;
        for t in tasks {
            let_through += usize::from(t.await.unwrap());
        }
        assert_eq!(let_through, 5);
    }
}
