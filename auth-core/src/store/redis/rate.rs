//! Rate-limit cells on Redis: the GCRA of [`RateLimitStore`] in one Lua
//! script, on the server's clock.

use std::sync::LazyLock;
use std::time::Duration;

use ::redis::Script;

use super::{FailMode, Redis, hashed, or_open};
use crate::authenticate::BoxFuture;
use crate::error::StoreError;
use crate::rate_limit::Quota;
use crate::store::{RateDecision, RateLimitStore};

/// The arithmetic of [`RateLimitStore`]'s documentation, in microseconds
/// of the server's clock. ARGV: the emission interval `T`, the burst.
/// Answers `{allowed, remaining, reset, retry_after}`. The theoretical
/// arrival time is kept as an integer string (`%d`: Lua would print a
/// number with 14 digits) and expires when the cell is whole again.
static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local T = tonumber(ARGV[1])
local tau = T * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now
local new_tat = math.max(tat, now) + T
if new_tat - now <= tau then
  redis.call('SET', KEYS[1], string.format('%d', new_tat),
    'PX', string.format('%d', math.ceil((new_tat - now) / 1000)))
  return {1, math.floor((now + tau - new_tat) / T), new_tat - now, 0}
end
return {0, 0, tat - now, new_tat - tau - now}
",
    )
});

/// Rate-limit cells on Redis, shared by every process that uses the same
/// Redis: one key per quota and partition
/// (`<prefix>:{rl:<name>:<limit>/<window>ms/<burst>:<sha256(partition)>}`), each check one
/// script (`EVALSHA`) computing the generic cell rate algorithm exactly as
/// [`RateLimitStore`] spells it out, on the Redis server's clock (`TIME`),
/// so that processes on hosts whose clocks differ still agree. A cell
/// expires when it is whole again, so memory follows the partitions seen
/// within the last window.
///
/// A cell is named by the whole quota (name, limit, window, burst) and
/// the partition, as in [`MemoryRateLimits`](crate::store::MemoryRateLimits):
/// a quota changed in a new release starts its cells afresh.
///
/// Times are kept in microseconds: an emission interval finer than that
/// counts as one microsecond, and `reset` and `retry_after` are whole
/// microseconds.
///
/// Fails open on request ([`FailMode::Open`]): while Redis cannot answer,
/// each check is answered as a fresh partition's first request would be
/// (allowed, `burst - 1` remaining, `reset` one interval), and a warning is
/// logged. Closed (a `503`) is the default; the
/// [`RateLimiter`](crate::rate_limit::RateLimiter) has its own
/// `fail_open` switch as well.
#[derive(Clone, Debug)]
pub struct RedisRateLimits {
    redis: Redis,
    mode: FailMode,
}

impl RedisRateLimits {
    pub(super) fn new(redis: Redis) -> Self {
        Self {
            redis,
            mode: FailMode::Closed,
        }
    }

    /// What to answer when Redis cannot ([`FailMode::Closed`] by default).
    pub fn fail_mode(mut self, mode: FailMode) -> Self {
        self.mode = mode;
        self
    }

    fn key(&self, quota: &Quota, partition: &str) -> String {
        self.redis.key(&format!(
            "rl:{}:{}/{}ms/{}:{}",
            quota.name(),
            quota.limit(),
            quota.window().as_millis(),
            quota.burst(),
            hashed(&[partition.as_bytes()])
        ))
    }
}

/// The emission interval in whole microseconds (rounded to the nearest,
/// at least 1).
fn interval_us(quota: &Quota) -> u64 {
    let ns = quota.interval().as_nanos();
    u64::try_from(ns.saturating_add(500) / 1000)
        .unwrap_or(u64::MAX)
        .max(1)
}

fn micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

impl RateLimitStore for RedisRateLimits {
    fn check<'a>(
        &'a self,
        quota: &'a Quota,
        partition: &'a str,
    ) -> BoxFuture<'a, Result<RateDecision, StoreError>> {
        Box::pin(async move {
            let mut inv = GCRA.prepare_invoke();
            inv.key(self.key(quota, partition))
                .arg(interval_us(quota))
                .arg(quota.burst());
            let decided = self
                .redis
                .eval::<(i64, i64, i64, i64)>("redis: rate_limits.check", &inv)
                .await
                .map(|(allowed, remaining, reset, retry_after)| RateDecision {
                    allowed: allowed == 1,
                    remaining: u32::try_from(remaining).unwrap_or(0),
                    reset: micros(reset),
                    retry_after: micros(retry_after),
                });
            or_open(self.mode, "rate_limits", decided, || RateDecision {
                allowed: true,
                remaining: quota.burst().saturating_sub(1),
                reset: quota.interval(),
                retry_after: Duration::ZERO,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code

    use super::*;

    #[test]
    fn intervals_round_to_microseconds() {
        let q = Quota::new("q", 7, Duration::from_secs(60)).unwrap();
        assert_eq!(interval_us(&q), 8_571_429);
        let fine = Quota::new("q", 1_000_000, Duration::from_millis(1)).unwrap();
        assert_eq!(interval_us(&fine), 1);
    }
}
