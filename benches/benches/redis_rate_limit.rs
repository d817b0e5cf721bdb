//! The Redis rate limiter against the in-process one, in one run: requests
//! per second through `RateLimitStore::check` with 1 and with 32 calls in
//! flight, rounds interleaved so that the machine's drift hits both alike,
//! and the round trips Redis counted (`EVALSHA` calls) per check.
//!
//! `cargo bench -p auth-benches --bench redis_rate_limit` (needs
//! `redis-server`; it starts its own on a free port). In test mode
//! (`cargo test --benches`) it runs a few hundred checks per round, to keep
//! it working.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a bench: a panic is a failed run

#[path = "../../auth-core/tests/support/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::rate_limit::Quota;
use auth_core::store::redis::Redis;
use auth_core::store::{MemoryRateLimits, RateLimitStore};

/// Checks per round and partitions they cycle through.
const PARTITIONS: usize = 1_000;

/// Runs `n` checks over `in_flight` tasks; checks per second.
async fn round(store: Arc<dyn RateLimitStore>, quota: &Quota, n: usize, in_flight: usize) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..in_flight {
        let store = store.clone();
        let quota = quota.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = t;
            while i < n {
                let partition = format!("key:{}", i % PARTITIONS);
                let d = store.check(&quota, &partition).await.expect("answered");
                assert!(d.allowed, "the quota is large enough for every check");
                i += in_flight;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn evalsha_calls(port: u16) -> u64 {
    let stats = redis_server::cli(&["-p", &port.to_string(), "info", "commandstats"]);
    stats
        .lines()
        .find(|l| l.starts_with("cmdstat_evalsha:"))
        .and_then(|l| l.split("calls=").nth(1))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if !redis_server::available() {
        return;
    }
    let bench = std::env::args().any(|a| a == "--bench");
    let (n, rounds) = if bench { (40_000, 5) } else { (400, 1) };
    let dir = tempfile::tempdir().unwrap();
    let server = redis_server::Server::start(dir.path(), &[]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let redis = Redis::connect(&server.url()).await.unwrap();
        let remote: Arc<dyn RateLimitStore> = Arc::new(redis.rate_limits());
        let local: Arc<dyn RateLimitStore> = Arc::new(MemoryRateLimits::new(10_000));
        // Large enough that no check is refused: the cost measured is the
        // check, not a refusal.
        let quota = Quota::new("bench", 1_000_000_000, Duration::from_secs(1))
            .unwrap()
            .with_burst(1_000_000_000);
        // Warm both (the script is loaded, the tables made).
        round(remote.clone(), &quota, PARTITIONS, 8).await;
        round(local.clone(), &quota, PARTITIONS, 8).await;

        for in_flight in [1, 32] {
            let before = evalsha_calls(server.port);
            let (mut r, mut m) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                r.push(round(remote.clone(), &quota, n, in_flight).await);
                m.push(round(local.clone(), &quota, n, in_flight).await);
            }
            let calls = evalsha_calls(server.port) - before;
            let checks = (n * rounds) as u64;
            assert_eq!(calls, checks, "one round trip (EVALSHA) per check");
            let (r, m) = (median(r), median(m));
            println!(
                "rate limit, {in_flight} in flight, median of {rounds} rounds of {n}: \
                 Redis {r:.0} checks/s, in process {m:.0} checks/s (Redis / in process {:.4}); \
                 {:.2} EVALSHA per check",
                r / m,
                calls as f64 / checks as f64,
            );
        }
    });
}
