//! Rate-limit state: [`RateLimitStore`], and [`MemoryRateLimits`] on
//! governor.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;

use crate::authenticate::BoxFuture;
use crate::error::StoreError;
use crate::rate_limit::Quota;

/// The answer for one request under one [`Quota`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the request is within the quota (it has then taken a unit).
    pub allowed: bool,
    /// Units left after this request (0 when refused).
    pub remaining: u32,
    /// Time until the partition's quota is whole again.
    pub reset: Duration,
    /// When refused, the time until one unit is free again; zero when
    /// allowed.
    pub retry_after: Duration,
}

/// Rate-limit state: one GCRA cell per partition and quota.
///
/// Every store computes the same answer (the generic cell rate algorithm,
/// as governor does): with `T = quota.window() / quota.limit()` (the
/// emission interval) and `tat` the partition's theoretical arrival time
/// (`now` when it has none),
///
/// - `new_tat = max(tat, now) + T`;
/// - allowed when `new_tat - now <= T × quota.burst()`; then `tat = new_tat`,
///   `remaining = floor((now + T × burst - new_tat) / T)`,
///   `reset = new_tat - now`;
/// - otherwise refused, with nothing changed,
///   `retry_after = new_tat - T × burst - now`, `reset = tat - now`.
///
/// State for a partition may be forgotten once `tat <= now` (it is then
/// the same as a fresh one), so memory follows the partitions seen within
/// the last window. Partitions are names given by the caller (the
/// [`RateLimiter`](crate::rate_limit::RateLimiter) passes its partition
/// key, never a credential); a store keeps them only as fixed-size hashes.
pub trait RateLimitStore: Send + Sync + 'static {
    /// Takes one unit for `partition` under `quota`, if there is one.
    fn check<'a>(
        &'a self,
        quota: &'a Quota,
        partition: &'a str,
    ) -> BoxFuture<'a, Result<RateDecision, StoreError>>;
}

type Cells = governor::RateLimiter<
    u128,
    DefaultKeyedStateStore<u128>,
    DefaultClock,
    StateInformationMiddleware,
>;

struct Table {
    cells: Cells,
    /// Emission interval and burst, for `reset`.
    interval: Duration,
    burst: u32,
}

/// Rate-limit state in this process: one governor keyed limiter per
/// quota, keyed by a 128-bit keyed hash of the partition.
///
/// Memory is bounded: when a quota's table reaches `max_partitions`,
/// partitions whose cells are whole again are dropped (governor's
/// `retain_recent`); if it is still full, new partitions are refused with
/// a [`StoreErrorKind::Full`](crate::StoreErrorKind::Full) error (a `503`
/// with `Retry-After`) until space comes back, rather than letting the
/// table grow. Cells are swept as well at most once per window, so a burst
/// of partitions is forgotten once it has aged out.
///
/// ```
/// use std::time::Duration;
/// use auth_core::rate_limit::Quota;
/// use auth_core::store::{MemoryRateLimits, RateLimitStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryRateLimits::new(10_000);
/// let quota = Quota::new("api", 2, Duration::from_secs(60)).unwrap();
/// assert!(store.check(&quota, "key:k1").await.unwrap().allowed);
/// assert!(store.check(&quota, "key:k1").await.unwrap().allowed);
/// let third = store.check(&quota, "key:k1").await.unwrap();
/// assert!(!third.allowed);
/// assert!(third.retry_after > Duration::from_secs(29));
/// // Another partition has its own cell.
/// assert!(store.check(&quota, "key:k2").await.unwrap().allowed);
/// # });
/// ```
pub struct MemoryRateLimits {
    tables: RwLock<HashMap<Quota, Arc<Table>>>,
    hasher: std::collections::hash_map::RandomState,
    hasher2: std::collections::hash_map::RandomState,
    max_partitions: usize,
    last_sweep: Mutex<Instant>,
    sweeps: AtomicU64,
}

impl std::fmt::Debug for MemoryRateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryRateLimits")
            .field("partitions", &self.len())
            .field("max_partitions", &self.max_partitions)
            .finish()
    }
}

impl MemoryRateLimits {
    /// A store keeping at most `max_partitions` partitions per quota.
    pub fn new(max_partitions: usize) -> Self {
        Self {
            tables: RwLock::new(HashMap::new()),
            hasher: Default::default(),
            hasher2: Default::default(),
            max_partitions: max_partitions.max(1),
            last_sweep: Mutex::new(Instant::now()),
            sweeps: AtomicU64::new(0),
        }
    }

    /// Partitions held now, over every quota.
    pub fn len(&self) -> usize {
        self.read().values().map(|t| t.cells.len()).sum()
    }

    /// Whether no partition is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every partition whose cell is whole again, and gives the
    /// memory back. Runs by itself at most once per window (the shortest
    /// of the quotas'), and whenever a table is full.
    pub fn sweep(&self) {
        let tables: Vec<Arc<Table>> = self.read().values().cloned().collect();
        for t in tables {
            t.cells.retain_recent();
            t.cells.shrink_to_fit();
        }
        self.sweeps.fetch_add(1, Ordering::Relaxed);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Quota, Arc<Table>>> {
        // Each change is one insert: a poisoned lock holds a whole map.
        self.tables.read().unwrap_or_else(|e| e.into_inner())
    }

    fn table(&self, quota: &Quota) -> Arc<Table> {
        if let Some(t) = self.read().get(quota) {
            return t.clone();
        }
        let mut tables = self.tables.write().unwrap_or_else(|e| e.into_inner());
        tables
            .entry(quota.clone())
            .or_insert_with(|| {
                let interval = quota.interval();
                let burst = NonZeroU32::new(quota.burst()).unwrap_or(NonZeroU32::MIN);
                // `Quota` has checked the interval is not zero.
                let gq = governor::Quota::with_period(interval)
                    .unwrap_or_else(|| governor::Quota::per_second(NonZeroU32::MIN))
                    .allow_burst(burst);
                Arc::new(Table {
                    cells: governor::RateLimiter::dashmap(gq).with_middleware(),
                    interval,
                    burst: burst.get(),
                })
            })
            .clone()
    }

    fn key(&self, quota: &Quota, partition: &str) -> u128 {
        let one = |h: &std::collections::hash_map::RandomState| {
            let mut h = h.build_hasher();
            quota.name().hash(&mut h);
            partition.hash(&mut h);
            h.finish()
        };
        (u128::from(one(&self.hasher)) << 64) | u128::from(one(&self.hasher2))
    }

    /// Sweeps when the shortest window has passed since the last sweep; only
    /// one caller does it.
    fn maybe_sweep(&self, window: Duration) {
        let Ok(mut last) = self.last_sweep.try_lock() else {
            return;
        };
        if last.elapsed() >= window {
            *last = Instant::now();
            drop(last);
            self.sweep();
        }
    }

    /// [`RateLimitStore::check`], answered at once.
    pub fn check_now(&self, quota: &Quota, partition: &str) -> Result<RateDecision, StoreError> {
        let table = self.table(quota);
        let key = self.key(quota, partition);
        self.maybe_sweep(quota.window());
        if table.cells.len() >= self.max_partitions {
            table.cells.retain_recent();
            if table.cells.len() >= self.max_partitions {
                // Known partitions keep their cells; only new ones wait.
                // (`len` may be an estimate: a partition seen before is
                // still answered from its cell below if it is there.)
                return Err(StoreError::full("rate-limit partitions"));
            }
        }
        let clock = table.cells.clock();
        match table.cells.check_key(&key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = table.burst.saturating_sub(remaining);
                Ok(RateDecision {
                    allowed: true,
                    remaining,
                    reset: table.interval.saturating_mul(used),
                    retry_after: Duration::ZERO,
                })
            }
            Err(not_until) => {
                let retry_after = not_until.wait_time_from(clock.now());
                Ok(RateDecision {
                    allowed: false,
                    remaining: 0,
                    reset: retry_after
                        .saturating_add(table.interval.saturating_mul(table.burst - 1)),
                    retry_after,
                })
            }
        }
    }

    /// How many sweeps have run (for tests and metrics).
    pub fn sweeps(&self) -> u64 {
        self.sweeps.load(Ordering::Relaxed)
    }
}

impl RateLimitStore for MemoryRateLimits {
    fn check<'a>(
        &'a self,
        quota: &'a Quota,
        partition: &'a str,
    ) -> BoxFuture<'a, Result<RateDecision, StoreError>> {
        Box::pin(std::future::ready(self.check_now(quota, partition)))
    }
}
