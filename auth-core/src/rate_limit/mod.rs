//! Rate limits keyed by who is calling, and a limit on failed attempts per
//! client address before anyone is authenticated.
//!
//! - [`RateLimiter`] is a [`Limit`]: it runs in the guard's limits stage,
//!   after authentication and policy, so it knows the caller. Each caller is
//!   its own partition (an API key by its key id, a client certificate by
//!   its thumbprint, anyone else by method and subject; never a credential),
//!   and quotas can differ per role (an API key's tier is its role
//!   `api_key:main` or `api_key:standard`), per key, per client, and per
//!   route (one limiter per route). Callers can be exempt.
//! - Every answer it sees, allowed or refused, carries the
//!   draft-ietf-httpapi-ratelimit-headers fields `RateLimit-Policy`
//!   (`"name";q=<quota>;w=<window>`) and `RateLimit`
//!   (`"name";r=<remaining>;t=<seconds>;pk=:<hash>:`), where `pk` is a hash
//!   of the partition, never the partition itself. A refusal is `429` with
//!   `Retry-After` in whole seconds, rounded up, at least 1.
//! - [`FailedAttempts`] counts failed authentications per client address
//!   (an IPv4 address or an IPv6 /64) and refuses that address with `429`
//!   once it has too many in a window, before any verification runs.
//!   Forwarded headers name the client only when the peer is a trusted proxy.
//! - State sits behind [`store::RateLimitStore`](crate::store::RateLimitStore)
//!   and [`store::CounterStore`](crate::store::CounterStore): in this
//!   process by default (governor, bounded), or shared by several.
//!
//! ```
//! use std::time::Duration;
//! use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, NewKey, Pepper};
//! use auth_core::rate_limit::{Quota, RateLimiter};
//! use auth_core::{Guard, SimpleRequest};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let keys = ApiKeys::in_memory(Pepper::generate());
//! let (key, _) = keys.issue(NewKey::new("acme", Environment::Live)).await.unwrap();
//! let limiter = RateLimiter::builder()
//!     .default_quota(Quota::new("api", 2, Duration::from_secs(60)).unwrap())
//!     .build();
//! let guard = Guard::builder(ApiKeyAuthenticator::new(keys)).build().unwrap().with_limit(limiter);
//!
//! let req = SimpleRequest::get("/").header("x-api-key", key.expose());
//! let first = guard.check(&req).await.unwrap();
//! assert!(first.headers().contains(&("ratelimit-policy", "\"api\";q=2;w=60".to_owned())));
//! guard.check(&req).await.unwrap();
//! let refused = guard.check(&req).await.unwrap_err();
//! assert_eq!(refused.status(), 429);
//! assert_eq!(refused.header_values("retry-after").collect::<Vec<_>>(), ["30"]);
//! # });
//! ```

mod failed;

pub use failed::FailedAttempts;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::authenticate::BoxFuture;
use crate::error::{AuthError, AuthErrorKind, ConfigError};
use crate::identity::{AuthMethod, Identity};
use crate::limits::{Limit, ResponseHeaders};
use crate::rejection::retry_after_secs;
use crate::request::{RequestHead, TrustedProxies};
use crate::store::{MemoryRateLimits, RateDecision, RateLimitStore};

/// How many partitions the in-process store keeps per quota by default.
pub const DEFAULT_MAX_PARTITIONS: usize = 250_000;

/// A quota: `limit` requests per `window`, with bursts of up to `burst`
/// (`limit` unless set), under a name that the `RateLimit` fields and
/// shared stores use.
///
/// The cell rate algorithm spreads the quota evenly: one unit comes back
/// every `window / limit`, and at most `burst` may be used at once.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Quota {
    name: Arc<str>,
    limit: u32,
    window: Duration,
    burst: u32,
    /// A hash of the four above, for in-process tables.
    fingerprint: u64,
    /// The `RateLimit-Policy` item, made once.
    policy: Arc<str>,
}

impl Quota {
    /// `limit` requests per `window`, named `name` (1 to 64 characters of
    /// letters, digits, `-`, `_`, `.` and `:`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use auth_core::rate_limit::Quota;
    ///
    /// let q = Quota::new("limited", 5, Duration::from_secs(60)).unwrap().with_burst(5);
    /// assert_eq!(q.interval(), Duration::from_secs(12));
    /// assert!(Quota::new("limited", 0, Duration::from_secs(60)).is_err());
    /// assert!(Quota::new("bad name", 5, Duration::from_secs(60)).is_err());
    /// ```
    pub fn new(name: &str, limit: u32, window: Duration) -> Result<Self, ConfigError> {
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        if !name_ok {
            return Err(ConfigError::invalid("rate-limit quota name"));
        }
        if limit == 0 {
            return Err(ConfigError::invalid("rate-limit quota of zero requests"));
        }
        if window < Duration::from_millis(1) || window > Duration::from_secs(366 * 86_400) {
            return Err(ConfigError::invalid(
                "rate-limit window (from 1 ms to a year)",
            ));
        }
        if window.checked_div(limit).is_none_or(|t| t.is_zero()) {
            return Err(ConfigError::invalid("rate-limit quota finer than 1 ns"));
        }
        Ok(Self {
            name: Arc::from(name),
            limit,
            window,
            burst: limit,
            fingerprint: 0,
            policy: Arc::from(""),
        }
        .fingerprinted())
    }

    /// At most `burst` requests at once (at least 1).
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst.max(1);
        self.fingerprinted()
    }

    fn fingerprinted(mut self) -> Self {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        (&*self.name, self.limit, self.window, self.burst).hash(&mut h);
        self.fingerprint = h.finish();
        self.policy = Arc::from(format!(
            "\"{}\";q={};w={}",
            self.name,
            self.limit,
            retry_after_secs(self.window)
        ));
        self
    }

    /// A hash of the name, limit, window and burst (stable within a
    /// process): in-process stores key their tables by it.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Requests per window.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The largest burst.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The emission interval: one unit comes back this often.
    pub fn interval(&self) -> Duration {
        self.window.checked_div(self.limit).unwrap_or(self.window)
    }

    /// The `RateLimit-Policy` item: `"name";q=<limit>;w=<window seconds>`.
    pub fn policy_field(&self) -> String {
        self.policy.to_string()
    }
}

type PartitionFn = dyn Fn(&Identity) -> Option<String> + Send + Sync;

#[derive(Clone, Debug)]
enum Rule {
    Role(String),
    Key(String),
    Client(String),
    Method(AuthMethod),
}

impl Rule {
    fn matches(&self, id: &Identity) -> bool {
        match self {
            Self::Role(r) => id.has_role(r),
            Self::Key(k) => id.key_id() == Some(k.as_str()),
            Self::Client(c) => id.client_id() == Some(c.as_str()),
            Self::Method(m) => id.method() == *m,
        }
    }
}

/// Builds a [`RateLimiter`].
pub struct RateLimiterBuilder {
    default: Option<Quota>,
    anonymous: Option<Quota>,
    rules: Vec<(Rule, Option<Quota>)>,
    store: Option<Arc<dyn RateLimitStore>>,
    partition: Option<Arc<PartitionFn>>,
    proxies: TrustedProxies,
    dry_run: bool,
    fail_open: bool,
}

impl std::fmt::Debug for RateLimiterBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiterBuilder")
            .field("default", &self.default)
            .field("rules", &self.rules)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

impl RateLimiterBuilder {
    /// The quota of callers no rule names. Without one, only the callers
    /// rules name are limited.
    pub fn default_quota(mut self, quota: Quota) -> Self {
        self.default = Some(quota);
        self
    }

    /// The quota of anonymous callers (on routes that allow them), keyed by
    /// client address. Without one, anonymous callers are not limited here.
    pub fn anonymous_quota(mut self, quota: Quota) -> Self {
        self.anonymous = Some(quota);
        self
    }

    /// Callers with role `role` (an API key's tier: `api_key:main`,
    /// `api_key:standard`) get `quota`. Rules are tried in the order they
    /// were added; the first that matches decides.
    pub fn role_quota(mut self, role: impl Into<String>, quota: Quota) -> Self {
        self.rules.push((Rule::Role(role.into()), Some(quota)));
        self
    }

    /// The API key with id `key_id` gets `quota`.
    pub fn key_quota(mut self, key_id: impl Into<String>, quota: Quota) -> Self {
        self.rules.push((Rule::Key(key_id.into()), Some(quota)));
        self
    }

    /// Callers on behalf of OAuth client `client_id` get `quota`.
    pub fn client_quota(mut self, client_id: impl Into<String>, quota: Quota) -> Self {
        self.rules
            .push((Rule::Client(client_id.into()), Some(quota)));
        self
    }

    /// Callers authenticated by `method` get `quota`.
    pub fn method_quota(mut self, method: AuthMethod, quota: Quota) -> Self {
        self.rules.push((Rule::Method(method), Some(quota)));
        self
    }

    /// Callers with role `role` are not limited.
    pub fn exempt_role(mut self, role: impl Into<String>) -> Self {
        self.rules.push((Rule::Role(role.into()), None));
        self
    }

    /// Where the state lives; in this process (bounded to
    /// [`DEFAULT_MAX_PARTITIONS`] per quota) unless set.
    pub fn store(mut self, store: Arc<dyn RateLimitStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Partitions callers by `f` instead of by identity (`None`: the
    /// default partition). Whatever it returns is hashed before it is
    /// stored or sent; it must not be a credential all the same.
    pub fn partition_by(
        mut self,
        f: impl Fn(&Identity) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.partition = Some(Arc::new(f));
        self
    }

    /// Proxies whose `X-Forwarded-For` names anonymous callers' addresses.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// Reports only: the fields are sent and a refusal is logged (target
    /// `auth_core::rate_limit`, `outcome = "would_refuse"`), but nothing is
    /// refused.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// When the store cannot answer, let the request through (logged at
    /// `warn`) instead of the default `503`.
    pub fn fail_open(mut self, fail_open: bool) -> Self {
        self.fail_open = fail_open;
        self
    }

    /// The limiter.
    pub fn build(self) -> RateLimiter {
        let store = self
            .store
            .unwrap_or_else(|| Arc::new(MemoryRateLimits::new(DEFAULT_MAX_PARTITIONS)));
        RateLimiter {
            inner: Arc::new(Inner {
                default: self.default,
                anonymous: self.anonymous,
                rules: self.rules,
                store,
                partition: self.partition,
                proxies: self.proxies,
                dry_run: self.dry_run,
                fail_open: self.fail_open,
            }),
        }
    }
}

struct Inner {
    default: Option<Quota>,
    anonymous: Option<Quota>,
    rules: Vec<(Rule, Option<Quota>)>,
    store: Arc<dyn RateLimitStore>,
    partition: Option<Arc<PartitionFn>>,
    proxies: TrustedProxies,
    dry_run: bool,
    fail_open: bool,
}

/// Per-caller rate limits, run as a [`Limit`] after authentication and
/// policy (see the [module docs](self)). Cheap to clone; clones share state.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("default", &self.inner.default)
            .field("rules", &self.inner.rules)
            .field("dry_run", &self.inner.dry_run)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter with no quota yet.
    pub fn builder() -> RateLimiterBuilder {
        RateLimiterBuilder {
            default: None,
            anonymous: None,
            rules: Vec::new(),
            store: None,
            partition: None,
            proxies: TrustedProxies::none(),
            dry_run: false,
            fail_open: false,
        }
    }

    /// The quota and partition for a caller; `None` if not limited.
    pub fn quota_for(
        &self,
        head: &dyn RequestHead,
        identity: Option<&Identity>,
    ) -> Option<(&Quota, String)> {
        let inner = &*self.inner;
        let Some(id) = identity else {
            let quota = inner.anonymous.as_ref()?;
            let ip = inner.proxies.client_ip(head);
            return Some((quota, anonymous_partition(ip)));
        };
        let quota = inner
            .rules
            .iter()
            .find(|(rule, _)| rule.matches(id))
            .map_or(inner.default.as_ref(), |(_, q)| q.as_ref())?;
        let partition = inner
            .partition
            .as_ref()
            .and_then(|f| f(id))
            .unwrap_or_else(|| partition_of(id));
        Some((quota, partition))
    }

    /// Takes a unit for this caller, if they are limited: the decision and
    /// the two header values, or the store's error.
    async fn decide(
        &self,
        quota: &Quota,
        partition: &str,
    ) -> Result<RateDecision, crate::error::StoreError> {
        self.inner.store.check(quota, partition).await
    }
}

/// The default partition of a caller: `key:<key id>` for an API key,
/// `cert:<thumbprint>` for a client certificate, `<method>:<subject>`
/// otherwise.
fn partition_of(id: &Identity) -> String {
    if let Some(kid) = id.key_id() {
        return format!("key:{kid}");
    }
    if id.method() == AuthMethod::Mtls
        && let Some(x5t) = id.cert_thumbprint()
    {
        return format!("cert:{x5t}");
    }
    format!("{}:{}", id.method().as_str(), id.subject())
}

fn anonymous_partition(ip: Option<std::net::IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        None => "anon:unknown".to_owned(),
        Some(std::net::IpAddr::V4(v4)) => format!("anon:{v4}"),
        Some(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            let [a, b, c, d, ..] = s;
            format!("anon:{a:x}:{b:x}:{c:x}:{d:x}::/64")
        }
    }
}

/// The `pk` parameter: a hash of the partition (the first 12 bytes of its
/// SHA-256), as a structured-field byte sequence.
fn partition_hash(quota: &Quota, partition: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"auth-stack ratelimit\0");
    h.update(quota.name().as_bytes());
    h.update(b"\0");
    h.update(partition.as_bytes());
    let digest = h.finalize();
    let short = digest.get(..12).unwrap_or_default();
    format!(
        ":{}:",
        base64::engine::general_purpose::STANDARD.encode(short)
    )
}

/// The `RateLimit` item for a decision.
fn limit_field(quota: &Quota, partition: &str, d: &RateDecision) -> String {
    let t = if d.allowed {
        // A whole quota is back `reset` from now; `t=0` only when nothing
        // was used.
        if d.reset.is_zero() {
            0
        } else {
            retry_after_secs(d.reset)
        }
    } else {
        retry_after_secs(d.retry_after)
    };
    format!(
        "\"{}\";r={};t={};pk={}",
        quota.name(),
        d.remaining,
        t,
        partition_hash(quota, partition)
    )
}

impl Limit for RateLimiter {
    fn check<'a>(
        &'a self,
        head: &'a dyn RequestHead,
        identity: Option<&'a Identity>,
        headers: &'a mut ResponseHeaders,
    ) -> BoxFuture<'a, Result<(), AuthError>> {
        Box::pin(async move {
            let Some((quota, partition)) = self.quota_for(head, identity) else {
                return Ok(());
            };
            let decision = match self.decide(quota, &partition).await {
                Ok(d) => d,
                Err(err) if self.inner.fail_open => {
                    tracing::warn!(
                        target: "auth_core::rate_limit",
                        policy = quota.name(),
                        error = %err,
                        outcome = "fail_open",
                    );
                    return Ok(());
                }
                Err(err) => return Err(err.into()),
            };
            headers.push(("ratelimit-policy", quota.policy_field()));
            headers.push(("ratelimit", limit_field(quota, &partition, &decision)));
            if decision.allowed {
                return Ok(());
            }
            if self.inner.dry_run {
                tracing::info!(
                    target: "auth_core::rate_limit",
                    policy = quota.name(),
                    subject = identity.map(Identity::subject),
                    outcome = "would_refuse",
                );
                return Ok(());
            }
            Err(AuthError::new(AuthErrorKind::RateLimited)
                .with_reason("rate_limited")
                .with_retry_after(decision.retry_after.max(Duration::from_nanos(1))))
        })
    }
}

#[cfg(test)]
mod tests;
