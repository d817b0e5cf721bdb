//! Criterion benchmarks of in-process rate limiting, from governor's keyed
//! cell up to the full `Limit::check` of a `RateLimiter`, and what a million
//! partitions cost in memory.
//!
//! Groups (names are quoted in reports; keep them stable):
//!
//! - `rate_limit/governor_check_key`: governor's keyed limiter
//!   (`DefaultKeyedRateLimiter<u128>`, dashmap) `check_key` on one `u128`
//!   key, the floor.
//! - `rate_limit/governor_check_key_state`: the same with governor's
//!   `StateInformationMiddleware`, which `MemoryRateLimits` uses to learn
//!   the remaining burst.
//! - `rate_limit/memory_check_now`: `MemoryRateLimits::check_now`, one
//!   partition (the quota's table found by name, the partition hashed to a
//!   `u128` twice with SipHash, the capacity check, the sweep check, the
//!   decision).
//! - `rate_limit/limiter_check_api_key`: the whole `Limit::check` of a
//!   `RateLimiter` for an API-key identity (the rule by role, the partition
//!   `key:<id>`, the store, the `RateLimit-Policy` and `RateLimit` fields
//!   with the SHA-256 `pk`).
//!
//! Every quota is large enough that each request is allowed.
//!
//! Under `cargo bench` (not in test mode) the bench also prints the ratios
//! of the three from interleaved rounds (median of the per-round ratios,
//! steady when the machine's load is not), and then the memory figures:
//! 1,000,000 distinct partitions put into one `MemoryRateLimits`
//! (`max_partitions` 1,100,000, a quota of 1 per second), `VmRSS` before,
//! after, and after the cells have aged out (two windows: governor keeps a
//! cell one interval past the moment it is whole) and `sweep()` has run. In test
//! mode (`cargo test -p auth-benches --bench rate_limit`) the memory part
//! runs with 10,000 partitions and a 100 ms window, to stay quick.
//!
//! Measured on the 2-core development container while other builds ran
//! (load average 3–5), two runs:
//!
//! | | per call | / governor |
//! | --- | --- | --- |
//! | governor `check_key` (u128) | 75–100 ns | 1 |
//! | governor + state information | 76–99 ns | 1.01–1.02 |
//! | `MemoryRateLimits::check_now` | 335–470 ns | 4.4 |
//! | `RateLimiter` `Limit::check`, API key | 0.92–1.55 µs | 12–13 (2.8–2.9 × `check_now`) |
//!
//! What `check_now` adds to governor: the table lookup by quota (a read
//! lock, hashing the `Quota`, an `Arc` clone), two SipHash passes for the
//! `u128` key, the capacity check (`DashMap::len`, which read-locks every
//! shard) and the sweep check. What `Limit::check` adds to that: the
//! partition string, the SHA-256 `pk` (~0.2 µs with base64) and the two
//! fields formatted (~0.3 µs for the three strings, measured apart).
//!
//! Memory: 1,000,000 partitions took +68–70 MB of `VmRSS` (~71 B each:
//! a 32-byte dashmap entry, its control byte, and a table just past a
//! doubling, so between ~38 and ~75 B a partition with the load factor),
//! put in at ~0.95 µs each; two windows later `sweep()` (18–35 ms) left
//! none, and `VmRSS` came back to within 1.3–1.9 MB of where it started.
//!
//! Run with `cargo bench -p auth-benches --bench rate_limit`.

// Setup failures (a quota that cannot be built) leave nothing meaningful to
// measure, so the bench aborts with a message; clippy's
// `allow-expect-in-tests` does not cover bench targets.
#![allow(clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use auth_core::limits::{Limit, ResponseHeaders};
use auth_core::rate_limit::{Quota, RateLimiter};
use auth_core::store::MemoryRateLimits;
use auth_core::{AuthMethod, Identity, SimpleRequest};
use criterion::{Criterion, Throughput};
use governor::middleware::StateInformationMiddleware;

const WARM_UP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(3);
/// Interleaved rounds for the printed ratios.
const ROUNDS: usize = 15;

/// Polls a future that the in-process store answers at once; no runtime,
/// so none of its cost is measured.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the in-process store answers at once"),
    }
}

/// A billion per second: never refused at the rates measured here.
fn big_quota() -> Quota {
    Quota::new("bench", 1_000_000_000, Duration::from_secs(1)).expect("quota")
}

fn governor_quota() -> governor::Quota {
    governor::Quota::with_period(Duration::from_nanos(1))
        .expect("a period")
        .allow_burst(NonZeroU32::new(1_000_000_000).expect("non-zero"))
}

struct Subjects {
    raw: governor::DefaultKeyedRateLimiter<u128>,
    raw_state: governor::RateLimiter<
        u128,
        governor::state::keyed::DefaultKeyedStateStore<u128>,
        governor::clock::DefaultClock,
        StateInformationMiddleware,
    >,
    store: MemoryRateLimits,
    quota: Quota,
    limiter: RateLimiter,
    identity: Identity,
    head: SimpleRequest,
}

impl Subjects {
    fn new() -> Self {
        let limiter = RateLimiter::builder()
            .role_quota("api_key:main", big_quota())
            .role_quota(
                "api_key:standard",
                Quota::new("standard", 10, Duration::from_secs(1)).expect("quota"),
            )
            .build();
        let identity = Identity::new("acme", AuthMethod::ApiKey)
            .with_roles(["api_key:main"])
            .with_key_id("k7Rg2XbQ");
        Self {
            raw: governor::RateLimiter::dashmap(governor_quota()),
            raw_state: governor::RateLimiter::dashmap(governor_quota()).with_middleware(),
            store: MemoryRateLimits::new(1_000),
            quota: big_quota(),
            limiter,
            identity,
            head: SimpleRequest::get("/v1/reports"),
        }
    }

    fn raw(&self) -> bool {
        self.raw.check_key(black_box(&0x5eed_u128)).is_ok()
    }

    fn raw_state(&self) -> bool {
        self.raw_state.check_key(black_box(&0x5eed_u128)).is_ok()
    }

    fn store(&self) -> bool {
        self.store
            .check_now(black_box(&self.quota), black_box("key:k7Rg2XbQ"))
            .expect("room for one partition")
            .allowed
    }

    fn limiter(&self) -> ResponseHeaders {
        let mut headers = ResponseHeaders::with_capacity(2);
        now(self
            .limiter
            .check(&self.head, Some(black_box(&self.identity)), &mut headers))
        .expect("allowed");
        headers
    }
}

fn rate_limit(c: &mut Criterion) {
    let s = Subjects::new();
    // Outside the measurement: each is allowed, and the limiter sends both
    // fields.
    assert!(s.raw() && s.raw_state() && s.store());
    let headers = s.limiter();
    assert_eq!(headers.len(), 2, "{headers:?}");
    assert!(
        headers
            .iter()
            .any(|(n, v)| *n == "ratelimit" && v.contains(";pk=:"))
    );

    let mut group = c.benchmark_group("rate_limit");
    group
        .warm_up_time(WARM_UP)
        .measurement_time(MEASURE)
        .throughput(Throughput::Elements(1));
    group.bench_function("governor_check_key", |b| b.iter(|| s.raw()));
    group.bench_function("governor_check_key_state", |b| b.iter(|| s.raw_state()));
    group.bench_function("memory_check_now", |b| b.iter(|| s.store()));
    group.bench_function("limiter_check_api_key", |b| b.iter(|| s.limiter()));
    group.finish();

    if bench_mode() {
        print_ratios(&s);
    }
}

/// Nanoseconds per call of `f` over `n` calls.
fn per_call<T>(n: u32, mut f: impl FnMut() -> T) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        black_box(f());
    }
    start.elapsed().as_secs_f64() * 1e9 / f64::from(n)
}

/// The three timed in short alternating rounds; the median per-call time
/// of each and the median of the per-round ratios.
fn print_ratios(s: &Subjects) {
    const N: u32 = 200_000;
    let mut rounds: Vec<[f64; 4]> = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let mut t = [0.0; 4];
        let order: [usize; 4] = if round % 2 == 0 {
            [0, 1, 2, 3]
        } else {
            [3, 2, 1, 0]
        };
        for i in order {
            let ns = match i {
                0 => per_call(N, || s.raw()),
                1 => per_call(N, || s.raw_state()),
                2 => per_call(N, || s.store()),
                _ => per_call(N, || s.limiter()),
            };
            if let Some(slot) = t.get_mut(i) {
                *slot = ns;
            }
        }
        rounds.push(t);
    }
    let median = |f: &dyn Fn(&[f64; 4]) -> f64| {
        let mut v: Vec<f64> = rounds.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let [raw, state, store, limiter] =
        [0, 1, 2, 3].map(|i| median(&|r| r.get(i).copied().unwrap_or(f64::NAN)));
    println!(
        "rate_limit (median of {ROUNDS} interleaved rounds of {N}): governor {raw:.1} ns, \
         governor+state {state:.1} ns, MemoryRateLimits::check_now {store:.1} ns, \
         RateLimiter Limit::check {limiter:.1} ns"
    );
    println!(
        "rate_limit ratios: check_now / governor = {:.2}, Limit::check / governor = {:.2}, \
         Limit::check / check_now = {:.2}, governor+state / governor = {:.2}",
        median(&|r| r[2] / r[0]),
        median(&|r| r[3] / r[0]),
        median(&|r| r[3] / r[2]),
        median(&|r| r[1] / r[0]),
    );
}

/// `VmRSS` of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Memory for `n` partitions in one `MemoryRateLimits`, and after they have
/// aged out and been swept.
fn memory(n: usize, window: Duration) {
    let quota = Quota::new("mem", 1, window).expect("quota");
    let store = MemoryRateLimits::new(1_100_000);
    // The table for the quota exists before the baseline.
    assert!(store.check_now(&quota, "warm").expect("room").allowed);
    let before = rss_kib();
    let start = Instant::now();
    let mut name = String::with_capacity(32);
    for i in 0..n {
        use std::fmt::Write as _;
        name.clear();
        let _ = write!(name, "key:{i:016x}");
        let d = store
            .check_now(&quota, &name)
            .expect("room for every partition");
        assert!(d.allowed, "a fresh partition is allowed");
    }
    let insert = start.elapsed();
    let held = store.len();
    let after = rss_kib();
    // A cell is whole again one interval (here the window) after its one
    // request; governor's `retain_recent` drops it one interval after that
    // (it keeps a cell while `tat > now - interval`).
    std::thread::sleep(2 * window + window / 5);
    let sweep_start = Instant::now();
    store.sweep();
    let sweep = sweep_start.elapsed();
    let left = store.len();
    let swept = rss_kib();
    let grown = after.saturating_sub(before);
    #[allow(clippy::cast_precision_loss)] // a byte count, printed
    let per = (grown * 1024) as f64 / held.max(1) as f64;
    println!(
        "rate_limit memory: {n} partitions put in {:.0} ms ({:.0} ns each), {held} held; \
         VmRSS {before} KiB before, {after} KiB after (+{grown} KiB, ~{per:.0} B per partition); \
         after aging out ({} ms) and sweep() ({:.1} ms): {left} held, VmRSS {swept} KiB \
         ({:+} KiB from before)",
        insert.as_secs_f64() * 1e3,
        insert.as_secs_f64() * 1e9 / n.max(1) as f64,
        window.as_millis(),
        sweep.as_secs_f64() * 1e3,
        i128::from(swept) - i128::from(before),
    );
    assert_eq!(held, n + 1, "no partition aged out while they were put in");
    assert_eq!(left, 0, "aged-out partitions are swept");
}

fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    rate_limit(&mut c);
    c.final_summary();
    if bench_mode() {
        memory(1_000_000, Duration::from_secs(1));
    } else {
        memory(10_000, Duration::from_millis(100));
    }
}
