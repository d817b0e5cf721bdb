//! The store traits on Redis, for a service run as several processes:
//! revocations, counters, opaque tokens, authorization codes and
//! refresh-token families, rate-limit cells and API keys, shared by every
//! process that connects to the same Redis (standalone, or a Redis
//! Cluster).
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, NewKey, Pepper};
//! use auth_core::rate_limit::{Quota, RateLimiter};
//! use auth_core::store::redis::{FailMode, Redis};
//! use auth_core::{Guard, SimpleRequest};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let redis = Redis::connect("redis://127.0.0.1:6379").await?.with_prefix("billing");
//! let keys = ApiKeys::with_store(Arc::new(redis.key_store()), Pepper::generate());
//! let (key, _) = keys.issue(NewKey::new("acme", Environment::Live)).await?;
//! let limiter = RateLimiter::builder()
//!     .default_quota(Quota::new("api", 1, Duration::from_secs(60))?)
//!     // A rate limit is a convenience: let requests through while Redis is away.
//!     .store(Arc::new(redis.rate_limits().fail_mode(FailMode::Open)))
//!     .build();
//! let guard = Guard::builder(ApiKeyAuthenticator::new(keys)).build()?.with_limit(limiter);
//!
//! let req = SimpleRequest::get("/").header("x-api-key", key.expose());
//! assert!(guard.check(&req).await.is_ok());
//! // The quota is shared by every process using this Redis.
//! assert_eq!(guard.check(&req).await.unwrap_err().status(), 429);
//! # Ok(())
//! # }
//! ```
//!
//! # One round trip per operation
//!
//! Every trait method is one atomic step on the server: a single command
//! (`SET … NX PXAT`, `EXISTS`, `HGET`) or one Lua script (`EVALSHA`, which
//! falls back to loading the script when the server does not know it, as
//! after a restart). Nothing is read, changed in this process and written
//! back.
//!
//! # Keys
//!
//! Keys are `<prefix>:{<tag>}…` (prefix `auth` unless
//! [`Redis::with_prefix`] says otherwise). Every key one operation touches
//! shares one `{…}` hash tag, so on a Redis Cluster each operation stays
//! on one slot. Nothing a caller presents reaches a key as it is:
//! partitions, counter names, token ids and family ids are hashed
//! (SHA-256, base64url); codes, refresh and access tokens arrive hashed
//! already, and API keys are kept by their keyed hash.
//!
//! | store | keys | expiry |
//! | --- | --- | --- |
//! | [`RedisRevocations`] | `{rv:<h(issuer, jti)>}` | the revocation's `until` |
//! | [`RedisCounters`] | `{ct:<h(name)>}` | the window, from the first increment |
//! | [`RedisTokens`] | `{tk:<token hash>}` | the token's `until` |
//! | [`RedisGrants`] | `{code:<code hash>}`, `{fam:<h(family)>}` | `until`; a tombstone 15 minutes |
//! | [`RedisRateLimits`] | `{rl:<name>:<limit>/<window>ms/<burst>:<h(partition)>}` | when the cell is whole again |
//! | `RedisKeyStore` | `{keys}:rec`, `{keys}:ids` | none (records are kept, as in memory) |
//!
//! # Failing closed or open
//!
//! When Redis cannot answer (down, unreachable, too slow), an operation
//! returns a [`StoreError`] of kind
//! [`Unavailable`](crate::StoreErrorKind::Unavailable) (the guard answers
//! `503` with `Retry-After`), within [`CALL_TIMEOUT`]: it never waits for
//! Redis to come back. That is [`FailMode::Closed`], the default. Stores
//! where "nothing recorded" is a meaningful answer can instead
//! [fail open](FailMode::Open), logging a warning each time: revocations
//! (nothing revoked; a revocation itself still fails, so that whoever
//! asked for it knows it did not take), counters (a fresh counter) and rate
//! limits (a fresh cell). Tokens, grants and API keys always fail closed:
//! an answer made up for them would let a revoked or unknown credential
//! in.
//!
//! A [`Redis`] handle reconnects by itself: once Redis is back, the same
//! stores work again without being rebuilt.
//!
//! # Security considerations
//!
//! - Run Redis with `maxmemory-policy noeviction` (its default): an
//!   evicting policy may drop a revocation, a spent code or a revoked
//!   family to make room, and the credential would be accepted again. With
//!   `noeviction` a full Redis refuses writes, which these stores report as
//!   [`Full`](crate::StoreErrorKind::Full) (a `503`), as a full in-process
//!   store does.
//! - Every key carries an expiry, except API key records (kept until
//!   removed, as in the other key stores), so memory follows the live
//!   state.
//! - Expiry times (`until`) are the caller's clock, sent as absolute times
//!   (`PXAT`): keep the clocks of the service's hosts and of Redis in step.
//!   Rate-limit cells and access-token lifetimes inside grants use the
//!   Redis server's clock (`TIME`), so every process agrees on them.
//! - A URL may hold a password: it is never printed, logged, or put into an
//!   error. This crate builds the `redis` client without TLS; reach Redis
//!   over a network you trust (loopback, a private network) or through a
//!   TLS tunnel.

mod grants;
#[cfg(feature = "api-key")]
mod keys;
mod rate;
mod simple;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, ScriptInvocation, Value};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::StoreError;

pub use grants::RedisGrants;
#[cfg(feature = "api-key")]
pub use keys::RedisKeyStore;
pub use rate::RedisRateLimits;
pub use simple::{RedisCounters, RedisRevocations, RedisTokens};

/// How long one connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long Redis may take to answer one command.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one store operation may take in all, reconnecting included;
/// past it the operation fails (or fails open).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// How long [`Redis::connect`] and [`Redis::connect_cluster`] may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Reconnection attempts per failed connection before the waiting
/// operations are failed (the next operation starts a new round).
const RECONNECT_RETRIES: usize = 2;

/// What a store answers when Redis cannot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailMode {
    /// Fail: the operation returns a [`StoreError`], which the guard
    /// answers with `503` and `Retry-After`. The default.
    #[default]
    Closed,
    /// Answer as if nothing were recorded (each store documents its
    /// answer), and log a warning. Offered by [`RedisRevocations`],
    /// [`RedisCounters`] and [`RedisRateLimits`] only.
    Open,
}

/// A connection to Redis (standalone or a cluster), from which the stores
/// are made. Cloning it is cheap; every clone and every store made from it
/// shares the connection.
///
/// `Debug` shows the mode and the key prefix, never the URL (which may
/// hold a password).
#[derive(Clone)]
pub struct Redis {
    conn: Conn,
    prefix: Arc<str>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.conn {
            Conn::Single(_) => "standalone",
            Conn::Cluster(_) => "cluster",
        };
        f.debug_struct("Redis")
            .field("mode", &mode)
            .field("prefix", &self.prefix)
            .finish()
    }
}

#[derive(Clone)]
enum Conn {
    /// Reconnects by itself, with bounded retries.
    Single(ConnectionManager),
    /// Follows the cluster's slots and reconnects to its nodes.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

impl Redis {
    /// Connects to a standalone Redis (`redis://[user:password@]host:port[/db]`)
    /// through a connection manager that reconnects by itself. Fails with
    /// a [`StoreError`] if the URL is not one, or Redis cannot be reached
    /// within a few seconds.
    pub async fn connect(url: &str) -> Result<Redis, StoreError> {
        // The parse error may quote the URL, password and all: left out.
        let client = ::redis::Client::open(url).map_err(|_| {
            StoreError::new(
                "redis: the URL is not a redis:// URL this build can use",
                None,
            )
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let manager = bounded(
            "redis: connect",
            SETUP_TIMEOUT,
            ConnectionManager::new_with_config(client, config),
        )
        .await?;
        Ok(Self::new(Conn::Single(manager)))
    }

    /// Connects to a Redis Cluster through any of its nodes
    /// (`redis://host:port` each); the client learns the others and the
    /// slots from them, and follows changes. Fails with a [`StoreError`]
    /// if a URL is not one, or no node answers within a few seconds.
    pub async fn connect_cluster(urls: &[&str]) -> Result<Redis, StoreError> {
        let client = ::redis::cluster::ClusterClientBuilder::new(urls.iter().copied())
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .overall_response_timeout(Some(CALL_TIMEOUT))
            .retries(2)
            .min_retry_wait(50)
            .max_retry_wait(500)
            .build()
            .map_err(|_| {
                StoreError::new("redis: the cluster URLs are not valid Redis URLs", None)
            })?;
        let conn = bounded(
            "redis: connect to the cluster",
            SETUP_TIMEOUT,
            client.get_async_connection(),
        )
        .await?;
        Ok(Self::new(Conn::Cluster(conn)))
    }

    fn new(conn: Conn) -> Self {
        Self {
            conn,
            prefix: Arc::from("auth"),
        }
    }

    /// Puts every key under `prefix` (`auth` by default), so that several
    /// services, or several environments, can share one Redis. Braces are
    /// left out (they would change the cluster hash tags); an empty prefix
    /// is `auth`.
    pub fn with_prefix(mut self, prefix: &str) -> Redis {
        let clean: String = prefix.chars().filter(|c| !matches!(c, '{' | '}')).collect();
        if !clean.is_empty() {
            self.prefix = Arc::from(clean);
        }
        self
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// API keys, as JSON records ([`KeyStore`](crate::store::KeyStore)).
    #[cfg(feature = "api-key")]
    pub fn key_store(&self) -> RedisKeyStore {
        RedisKeyStore::new(self.clone())
    }

    /// Revoked token ids ([`RevocationStore`](crate::store::RevocationStore)).
    pub fn revocations(&self) -> RedisRevocations {
        RedisRevocations::new(self.clone())
    }

    /// Counters with an expiry ([`CounterStore`](crate::store::CounterStore)).
    pub fn counters(&self) -> RedisCounters {
        RedisCounters::new(self.clone())
    }

    /// Opaque access tokens ([`TokenStore`](crate::store::TokenStore)).
    pub fn tokens(&self) -> RedisTokens {
        RedisTokens::new(self.clone())
    }

    /// Authorization codes and refresh-token families
    /// ([`GrantStore`](crate::store::GrantStore)).
    pub fn grants(&self) -> RedisGrants {
        RedisGrants::new(self.clone())
    }

    /// Rate-limit cells ([`RateLimitStore`](crate::store::RateLimitStore)).
    pub fn rate_limits(&self) -> RedisRateLimits {
        RedisRateLimits::new(self.clone())
    }

    /// `<prefix>:{<tag>}`: a key whose hash tag is `tag`.
    fn key(&self, tag: &str) -> String {
        format!("{}:{{{tag}}}", self.prefix)
    }

    /// Runs one command, within [`CALL_TIMEOUT`].
    async fn query<T: FromRedisValue>(
        &self,
        what: &'static str,
        cmd: &Cmd,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        bounded(what, CALL_TIMEOUT, cmd.query_async(&mut conn)).await
    }

    /// Runs one script (`EVALSHA`, loading it first if Redis does not know
    /// it), within [`CALL_TIMEOUT`].
    async fn eval<T: FromRedisValue>(
        &self,
        what: &'static str,
        script: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        bounded(what, CALL_TIMEOUT, script.invoke_async(&mut conn)).await
    }
}

/// `fut`, failed with a [`StoreError`] naming `what` if it fails or takes
/// longer than `limit`: [`Full`](crate::StoreErrorKind::Full) when Redis
/// is out of memory, [`Unavailable`](crate::StoreErrorKind::Unavailable)
/// otherwise.
async fn bounded<T>(
    what: &'static str,
    limit: Duration,
    fut: impl Future<Output = ::redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        // `maxmemory` reached (with `noeviction`): writes are refused until
        // keys expire, as a full in-process store refuses them.
        Ok(Err(e)) if e.code() == Some("OOM") => Err(StoreError::full(format!(
            "{what}: Redis is out of memory (maxmemory)"
        ))),
        Ok(Err(e)) => Err(StoreError::new(what, Some(Box::new(e)))),
        Err(elapsed) => Err(StoreError::new(what, Some(Box::new(elapsed)))),
    }
}

/// A store's answer when Redis could not give one: the error (closed), or
/// `open` with a warning (open).
fn or_open<T>(
    mode: FailMode,
    store: &'static str,
    result: Result<T, StoreError>,
    open: impl FnOnce() -> T,
) -> Result<T, StoreError> {
    match (result, mode) {
        (Err(error), FailMode::Open) => {
            // The error names the operation and the cause, never a key or
            // the URL.
            tracing::warn!(target: "auth_core", store, %error, "redis store failing open");
            Ok(open())
        }
        (result, _) => result,
    }
}

/// A record that could not be decoded: a store failure, not an absence.
fn bad_record(what: &'static str, e: serde_json::Error) -> StoreError {
    StoreError::new(what, Some(Box::new(e)))
}

/// SHA-256 of `parts`, each preceded by its length, in base64url: a name
/// for a key that no other list of parts maps to, and that shows none of
/// them.
fn hashed(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    b64(&h.finalize())
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Milliseconds since the Unix epoch, rounded down (a key expires no later
/// than `t`).
fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A duration in whole milliseconds, rounded up, at least 1 and at most a
/// hundred years (what `PEXPIRE` takes).
fn ttl_ms(d: Duration) -> u64 {
    const MAX: u64 = 100 * 366 * 86_400 * 1000;
    let ms = d.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(MAX).clamp(1, MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_hashed_without_ambiguity() {
        assert_ne!(hashed(&[b"ab", b"c"]), hashed(&[b"a", b"bc"]));
        assert_eq!(hashed(&[b"x"]).len(), 43);
        assert!(!hashed(&[b"secret"]).contains("secret"));
    }

    #[test]
    fn ttls_round_up_and_stay_in_range() {
        assert_eq!(ttl_ms(Duration::ZERO), 1);
        assert_eq!(ttl_ms(Duration::from_micros(1500)), 2);
        assert_eq!(ttl_ms(Duration::from_secs(1)), 1000);
        assert_eq!(ttl_ms(Duration::MAX), 100 * 366 * 86_400 * 1000);
        assert_eq!(unix_ms(SystemTime::UNIX_EPOCH), 0);
    }
}
