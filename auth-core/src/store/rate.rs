//! Rate-limit state: [`RateLimitStore`], and [`MemoryRateLimits`] on
//! governor.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::state::{InMemoryState, StateStore};

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
/// about the last window. Partitions are names given by the caller (the
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

/// A quota's cells, kept where both governor and this store can reach
/// them: governor updates them; the store asks whether a partition is
/// known, counts them and drops the ones whole again.
#[derive(Clone, Default)]
struct Cells(Arc<DashMap<u64, InMemoryState, Prehashed>>);

/// The hasher of maps whose keys are already keyed hashes: the key as it
/// is.
#[derive(Clone, Copy, Default)]
struct Prehashed;

impl BuildHasher for Prehashed {
    type Hasher = PrehashedHasher;

    fn build_hasher(&self) -> PrehashedHasher {
        PrehashedHasher(0)
    }
}

#[derive(Default)]
struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by the keys here (u64); a fold keeps it correct anyway.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl StateStore for Cells {
    type Key = u64;

    fn measure_and_replace<T, F, E>(&self, key: &u64, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure_and_replace(key, f)
    }
}

impl ShrinkableKeyedStateStore<u64> for Cells {
    fn retain_recent(&self, drop_below: Nanos) {
        self.0.retain_recent(drop_below);
    }

    fn shrink_to_fit(&self) {
        self.0.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// How often (in calls) a table looks at the clock to see whether its
/// window has passed since its last sweep.
const SWEEP_CHECK_EVERY: u64 = 64;

type Limiter = governor::RateLimiter<u64, Cells, DefaultClock, StateInformationMiddleware>;

struct Table {
    /// Counts calls, so that the clock is read for a sweep only every
    /// [`SWEEP_CHECK_EVERY`] of them.
    calls: AtomicU64,
    cells: Cells,
    limiter: Limiter,
    /// Emission interval and burst, for `reset`.
    interval: Duration,
    burst: u32,
    window: Duration,
    /// When cells whole again were last dropped.
    last_sweep: Mutex<Instant>,
}

impl Table {
    /// Drops the cells that are whole again (governor keeps a cell one
    /// interval past that), and gives memory back when most of the table
    /// went; `true` if it ran (at most once per `every`, one caller).
    fn sweep(&self, every: Duration) -> bool {
        let Ok(mut last) = self.last_sweep.try_lock() else {
            return false;
        };
        if last.elapsed() < every {
            return false;
        }
        *last = Instant::now();
        drop(last);
        let before = self.cells.0.len();
        self.limiter.retain_recent();
        if self.cells.0.len() < before / 2 {
            self.limiter.shrink_to_fit();
        }
        true
    }
}

/// Rate-limit state in this process: one governor keyed limiter per
/// quota, keyed by a 128-bit keyed hash of the partition.
///
/// Memory is bounded: a quota's table holds at most `max_partitions`
/// partitions. A partition already held is always answered from its cell.
/// A new one finding the table full is refused with a
/// [`StoreErrorKind::Full`](crate::StoreErrorKind::Full) error (a `503`
/// with `Retry-After`) until cells age out, rather than letting the table
/// grow; the cells that are whole again are dropped then, at most once per
/// interval, so a full table costs no scan per request. Each table is also
/// swept once per window by whichever request comes, so a burst of
/// partitions is forgotten once it has aged out (governor keeps a cell one
/// interval past the moment it is whole again).
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
    /// By the quota's fingerprint.
    tables: RwLock<HashMap<u64, Table, Prehashed>>,
    hasher: std::collections::hash_map::RandomState,
    max_partitions: usize,
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
            tables: RwLock::new(HashMap::default()),
            hasher: Default::default(),
            max_partitions: max_partitions.max(1),
            sweeps: AtomicU64::new(0),
        }
    }

    /// Partitions held now, over every quota.
    pub fn len(&self) -> usize {
        self.read().values().map(|t| t.cells.0.len()).sum()
    }

    /// Whether no partition is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every partition whose cell is whole again, in every quota's
    /// table, now.
    pub fn sweep(&self) {
        for t in self.read().values() {
            if t.sweep(Duration::ZERO) {
                self.sweeps.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<u64, Table, Prehashed>> {
        // Each change is one insert: a poisoned lock holds a whole map.
        self.tables.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The read guard of the tables, with `quota`'s in it.
    fn tables_with(
        &self,
        quota: &Quota,
    ) -> std::sync::RwLockReadGuard<'_, HashMap<u64, Table, Prehashed>> {
        let tables = self.read();
        if tables.contains_key(&quota.fingerprint()) {
            return tables;
        }
        drop(tables);
        let mut tables = self.tables.write().unwrap_or_else(|e| e.into_inner());
        tables.entry(quota.fingerprint()).or_insert_with(|| {
            let interval = quota.interval();
            let burst = NonZeroU32::new(quota.burst()).unwrap_or(NonZeroU32::MIN);
            // `Quota` has checked the interval is not zero.
            let gq = governor::Quota::with_period(interval)
                .unwrap_or_else(|| governor::Quota::per_second(NonZeroU32::MIN))
                .allow_burst(burst);
            let cells = Cells::default();
            let limiter: Limiter =
                governor::RateLimiter::new(gq, cells.clone(), DefaultClock::default());
            Table {
                calls: AtomicU64::new(0),
                cells,
                limiter,
                interval,
                burst: burst.get(),
                window: quota.window(),
                last_sweep: Mutex::new(Instant::now()),
            }
        });
        drop(tables);
        self.read()
    }

    /// The partition's key: a 64-bit SipHash with this process's random
    /// keys. Two partitions of one quota share a cell only if their keys
    /// collide: about one chance in 2^24 for a million partitions at once,
    /// and nobody outside can aim for it.
    fn key(&self, partition: &str) -> u64 {
        self.hasher.hash_one(partition)
    }

    /// [`RateLimitStore::check`], answered at once.
    pub fn check_now(&self, quota: &Quota, partition: &str) -> Result<RateDecision, StoreError> {
        let key = self.key(partition);
        let tables = self.tables_with(quota);
        let Some(table) = tables.get(&quota.fingerprint()) else {
            return Err(StoreError::new("rate-limit table", None));
        };
        if table.calls.fetch_add(1, Ordering::Relaxed) % SWEEP_CHECK_EVERY == 0
            && table.sweep(table.window)
        {
            self.sweeps.fetch_add(1, Ordering::Relaxed);
        }
        // Only a new partition can find the table full; one already held
        // is answered from its cell.
        if !table.cells.0.contains_key(&key) && table.cells.0.len() >= self.max_partitions {
            if table.sweep(table.interval) {
                self.sweeps.fetch_add(1, Ordering::Relaxed);
            }
            if table.cells.0.len() >= self.max_partitions {
                return Err(StoreError::full("rate-limit partitions"));
            }
        }
        let clock = table.limiter.clock();
        match table.limiter.check_key(&key) {
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
                    reset: retry_after.saturating_add(
                        table.interval.saturating_mul(table.burst.saturating_sub(1)),
                    ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prehashed_keys_are_their_own_hash() {
        // The keys are keyed SipHashes already: the maps use them as they
        // are, so that shards and buckets spread as the keys do.
        for key in [0u64, 1, 42, u64::MAX, 0x5eed_cafe_f00d_beef] {
            assert_eq!(Prehashed.hash_one(key), key);
        }
        // Bytes (not used by these maps) fold into a hash that still depends
        // on every byte.
        let bytes = |b: &[u8]| {
            let mut h = Prehashed.build_hasher();
            h.write(b);
            h.finish()
        };
        assert_eq!(bytes(&[1, 2]), 0x0102);
        assert_ne!(bytes(&[1, 2]), bytes(&[2, 1]));
        assert_ne!(bytes(&[0xff, 0xff]), bytes(&[0xff, 0x00]));
        // Past eight bytes the fold wraps around onto earlier ones.
        assert_eq!(bytes(&[0xff; 9]), 0xffff_ffff_ffff_ff00);
    }

    #[test]
    fn a_sweep_that_empties_most_of_a_table_gives_its_memory_back() {
        let store = MemoryRateLimits::new(10_000);
        // The window must outlast filling the table: `check_now` sweeps on
        // its own once a window has passed, and a 10 ms window let it sweep
        // mid-fill on a busy machine (72 cells left of 2,000).
        let window = Duration::from_millis(250);
        let quota = Quota::new("t", 1, window).unwrap_or_else(|_| unreachable!());
        for i in 0..2_000 {
            assert!(store.check_now(&quota, &i.to_string()).is_ok());
        }
        let tables = store.read();
        let table = tables
            .get(&quota.fingerprint())
            .unwrap_or_else(|| unreachable!());
        // governor sees the same cells as the store.
        assert_eq!(table.limiter.len(), 2_000);
        assert!(!table.limiter.is_empty());
        let before = table.cells.0.capacity();
        std::thread::sleep(window * 2);
        assert!(table.sweep(Duration::ZERO));
        assert!(table.limiter.is_empty());
        assert_eq!(table.limiter.len(), 0);
        assert!(table.cells.0.capacity() < before, "{before}");
        // Within `every` of the last sweep, no other.
        assert!(!table.sweep(Duration::from_secs(3600)));
    }
}
