//! Revocations, counters and opaque tokens: one key each.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

use ::redis::{Script, Value};

use super::{FailMode, Redis, b64, bad_record, hashed, or_open, ttl_ms, unix_ms};
use crate::authenticate::BoxFuture;
use crate::error::StoreError;
use crate::identity::Claims;
use crate::store::{Count, CounterStore, RevocationStore, TokenStore};

/// Revoked token ids on Redis: one key per `(issuer, jti)`, set if absent
/// (`SET NX PXAT`) and expiring at the revocation's `until`.
///
/// Fails open on request ([`FailMode::Open`]): [`is_revoked`] then answers
/// `false` while Redis cannot answer (a warning is logged), so a revoked
/// token is accepted meanwhile. [`revoke`] fails either way: a revocation
/// that did not take must not look as if it did. Closed (a `503`) is the
/// default.
///
/// It cannot count revocations without a round trip
/// ([`RevocationStore::revocations`] is `None`), so a JWT with a `jti`
/// costs one `EXISTS` per request.
///
/// [`is_revoked`]: RevocationStore::is_revoked
/// [`revoke`]: RevocationStore::revoke
#[derive(Clone, Debug)]
pub struct RedisRevocations {
    redis: Redis,
    mode: FailMode,
}

impl RedisRevocations {
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

    fn key(&self, issuer: &str, jti: &str) -> String {
        self.redis.key(&format!(
            "rv:{}",
            hashed(&[issuer.as_bytes(), jti.as_bytes()])
        ))
    }
}

impl RevocationStore for RedisRevocations {
    fn revoke<'a>(
        &'a self,
        issuer: &'a str,
        jti: &'a str,
        until: SystemTime,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            if until <= SystemTime::now() {
                // Nothing left to refuse.
                return Ok(());
            }
            // Rounded up: a revocation never ends early.
            let at = unix_ms(until).saturating_add(1);
            let mut cmd = ::redis::cmd("SET");
            cmd.arg(self.key(issuer, jti))
                .arg(1)
                .arg("PXAT")
                .arg(at)
                .arg("NX");
            // Never failed open: the caller must know it did not take.
            self.redis
                .query::<Option<String>>("redis: revocations.revoke", &cmd)
                .await
                .map(drop)
        })
    }

    fn is_revoked<'a>(
        &'a self,
        issuer: &'a str,
        jti: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut cmd = ::redis::cmd("EXISTS");
            cmd.arg(self.key(issuer, jti));
            let found = self
                .redis
                .query::<u64>("redis: revocations.is_revoked", &cmd)
                .await
                .map(|n| n > 0);
            or_open(self.mode, "revocations", found, || false)
        })
    }
}

/// `INCR`, and `PEXPIRE` if the counter has no expiry yet: a fixed window
/// from the first increment.
static INCREMENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {v, ttl}
",
    )
});

static GET_COUNT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('GET', KEYS[1])
if not v then return false end
return {tonumber(v), redis.call('PTTL', KEYS[1])}
",
    )
});

/// `DECR` keeping the expiry, or `DEL` at one.
static DECREMENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if tonumber(v) <= 1 then
  redis.call('DEL', KEYS[1])
else
  redis.call('DECR', KEYS[1])
end
return 1
",
    )
});

/// Counters with an expiry on Redis: one key per counter (its name
/// hashed), each operation one script.
///
/// Fails open on request ([`FailMode::Open`]): while Redis cannot answer,
/// [`get`](CounterStore::get) answers `None`,
/// [`increment`](CounterStore::increment) a fresh counter (`1`, the whole
/// window) and [`decrement`](CounterStore::decrement) `Ok(())`, so a
/// lockout or a failed-attempt limit does not hold meanwhile. Closed (a
/// `503`) is the default.
#[derive(Clone, Debug)]
pub struct RedisCounters {
    redis: Redis,
    mode: FailMode,
}

impl RedisCounters {
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

    fn key(&self, name: &str) -> String {
        self.redis
            .key(&format!("ct:{}", hashed(&[name.as_bytes()])))
    }
}

fn count(value: i64, ttl_ms: i64) -> Count {
    Count {
        value: u64::try_from(value).unwrap_or(0),
        expires_in: Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0)),
    }
}

impl CounterStore for RedisCounters {
    fn increment<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<Count, StoreError>> {
        Box::pin(async move {
            let mut inv = INCREMENT.prepare_invoke();
            inv.key(self.key(key)).arg(ttl_ms(window));
            let done = self
                .redis
                .eval::<(i64, i64)>("redis: counters.increment", &inv)
                .await
                .map(|(v, ttl)| count(v, ttl));
            or_open(self.mode, "counters", done, || Count {
                value: 1,
                expires_in: window,
            })
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Count>, StoreError>> {
        Box::pin(async move {
            let mut inv = GET_COUNT.prepare_invoke();
            inv.key(self.key(key));
            let found = self
                .redis
                .eval::<Option<(i64, i64)>>("redis: counters.get", &inv)
                .await
                .map(|c| c.map(|(v, ttl)| count(v, ttl)));
            or_open(self.mode, "counters", found, || None)
        })
    }

    fn decrement<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut inv = DECREMENT.prepare_invoke();
            inv.key(self.key(key));
            let done = self
                .redis
                .eval::<i64>("redis: counters.decrement", &inv)
                .await
                .map(drop);
            or_open(self.mode, "counters", done, || ())
        })
    }
}

/// Opaque access tokens on Redis: the claims as JSON, one key per token
/// hash, expiring with the token (`SET PXAT`).
///
/// Always fails closed: a token store that cannot answer must not make an
/// unknown token active, nor a revoked one.
#[derive(Clone, Debug)]
pub struct RedisTokens {
    redis: Redis,
}

impl RedisTokens {
    pub(super) fn new(redis: Redis) -> Self {
        Self { redis }
    }

    fn key(&self, hash: &[u8; 32]) -> String {
        self.redis.key(&format!("tk:{}", b64(hash)))
    }
}

impl TokenStore for RedisTokens {
    fn insert(
        &self,
        hash: [u8; 32],
        claims: Arc<Claims>,
        until: SystemTime,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let key = self.key(&hash);
            let mut cmd;
            if until > SystemTime::now() {
                let json = serde_json::to_string(&*claims)
                    .map_err(|e| bad_record("redis: tokens.insert (encoding)", e))?;
                cmd = ::redis::cmd("SET");
                cmd.arg(key)
                    .arg(json)
                    .arg("PXAT")
                    .arg(unix_ms(until).max(1));
            } else {
                // An expired token replaces a live one as a dead one does.
                cmd = ::redis::cmd("DEL");
                cmd.arg(key);
            }
            self.redis
                .query::<Value>("redis: tokens.insert", &cmd)
                .await
                .map(drop)
        })
    }

    fn get<'a>(
        &'a self,
        hash: &'a [u8; 32],
    ) -> BoxFuture<'a, Result<Option<Arc<Claims>>, StoreError>> {
        Box::pin(async move {
            let mut cmd = ::redis::cmd("GET");
            cmd.arg(self.key(hash));
            let found: Option<String> = self.redis.query("redis: tokens.get", &cmd).await?;
            found
                .map(|json| {
                    serde_json::from_str::<Claims>(&json)
                        .map(Arc::new)
                        .map_err(|e| bad_record("redis: tokens.get (bad record)", e))
                })
                .transpose()
        })
    }

    fn remove<'a>(&'a self, hash: &'a [u8; 32]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut cmd = ::redis::cmd("DEL");
            cmd.arg(self.key(hash));
            self.redis
                .query::<i64>("redis: tokens.remove", &cmd)
                .await
                .map(drop)
        })
    }
}
