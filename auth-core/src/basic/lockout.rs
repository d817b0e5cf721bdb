//! Lockout after repeated failures: the [`LockoutStore`] trait and its
//! in-process implementation.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::authenticate::BoxFuture;
use crate::error::StoreError;

/// Counts failed attempts per account and says when an account is locked.
pub trait LockoutStore: Send + Sync + 'static {
    /// How long `account` stays locked, if it is locked now.
    fn locked_for<'a>(
        &'a self,
        account: &'a str,
    ) -> BoxFuture<'a, Result<Option<Duration>, StoreError>>;

    /// Records one failed attempt for `account`.
    fn record_failure<'a>(&'a self, account: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// In-process lockout: `max_failures` within `window` lock the account until
/// the window has passed since the first of them. Bounded in memory (moka).
pub struct MemoryLockout {
    max_failures: usize,
    window: Duration,
    failures: moka::sync::Cache<String, Arc<Mutex<VecDeque<Instant>>>>,
}

impl MemoryLockout {
    /// Locks after `max_failures` failures within `window`.
    pub fn new(max_failures: usize, window: Duration) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window,
            failures: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(window)
                .build(),
        }
    }

    fn prune(&self, q: &mut VecDeque<Instant>, now: Instant) {
        while q
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
    }
}

impl LockoutStore for MemoryLockout {
    fn locked_for<'a>(
        &'a self,
        account: &'a str,
    ) -> BoxFuture<'a, Result<Option<Duration>, StoreError>> {
        let now = Instant::now();
        let locked = self.failures.get(account).and_then(|entry| {
            let mut q = entry.lock().unwrap_or_else(|e| e.into_inner());
            self.prune(&mut q, now);
            if q.len() >= self.max_failures {
                // Locked until the oldest counted failure leaves the window.
                q.front().map(|first| {
                    self.window
                        .saturating_sub(now.saturating_duration_since(*first))
                })
            } else {
                None
            }
        });
        Box::pin(std::future::ready(Ok(locked)))
    }

    fn record_failure<'a>(&'a self, account: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let now = Instant::now();
        let entry = self
            .failures
            .get_with_by_ref(account, || Arc::new(Mutex::new(VecDeque::new())));
        let mut q = entry.lock().unwrap_or_else(|e| e.into_inner());
        self.prune(&mut q, now);
        q.push_back(now);
        // Only the last `max_failures` matter.
        while q.len() > self.max_failures {
            q.pop_front();
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn locks_after_max_and_unlocks_after_window() {
        let l = MemoryLockout::new(3, Duration::from_millis(300));
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
    }
}
