//! [`JwksCache`]: one issuer's remote keys, fetched over HTTPS (reqwest) by a
//! fetcher thread of its own.
//!
//! - Loaded at start; [`JwksCache::ready`] says when the first load is in.
//! - Refreshed in the background ahead of expiry, following
//!   `Cache-Control: max-age` within configured bounds.
//! - An unknown `kid` triggers at most one refetch per cooldown; one fetch is
//!   in flight at a time however many requests wait for it; unknown `kid`s
//!   are remembered briefly (moka), so a flood of made-up ones costs nothing.
//! - Requests whose `kid` is known never wait for a fetch.
//! - Old keys are served while fetches fail, up to a bound of staleness.
//! - Keys that cannot verify are skipped without breaking the set.
//!
//! Only the configured URL is ever fetched: nothing in a token (`jku`, `x5u`,
//! `kid`) chooses what is fetched. It must be `https`; plain `http` only to a
//! loopback address, and only when the issuer allows it. Redirects are
//! followed only within the URL's origin (so never from `https` to `http`),
//! and a response from any other origin is refused.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use tokio::sync::{mpsc, watch};

use super::keys::KeySet;

/// Where the keys come from.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    /// A JWKS URL.
    Url(String),
    /// OIDC discovery or RFC 8414 metadata of this issuer.
    Discovery(String),
}

/// Timing of a [`JwksCache`].
#[derive(Clone, Debug)]
pub struct JwksConfig {
    /// Least time between two refetches caused by unknown `kid`s (10 s).
    pub cooldown: Duration,
    /// How long an unknown `kid` is remembered (60 s).
    pub negative_ttl: Duration,
    /// Bounds on the refresh interval taken from `max-age` (1 min, 1 day);
    /// without `max-age`, the upper bound.
    pub min_refresh: Duration,
    /// See `min_refresh`.
    pub max_refresh: Duration,
    /// How long keys are served after the last successful fetch while
    /// fetches fail (1 day); after that, requests get 503.
    pub max_stale: Duration,
    /// Timeout of one fetch (5 s).
    pub fetch_timeout: Duration,
    /// How long a request with an unknown `kid` (or before the first load)
    /// waits for a fetch in flight (3 s).
    pub wait_timeout: Duration,
    /// Largest JWKS document accepted (1 MiB).
    pub max_document: usize,
}

impl Default for JwksConfig {
    fn default() -> Self {
        Self {
            cooldown: Duration::from_secs(10),
            negative_ttl: Duration::from_secs(60),
            min_refresh: Duration::from_secs(60),
            max_refresh: Duration::from_secs(24 * 3600),
            max_stale: Duration::from_secs(24 * 3600),
            fetch_timeout: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(3),
            max_document: 1 << 20,
        }
    }
}

/// Whether `url` may be fetched for keys: `https`, or `http` to a
/// loopback IP address when `plain_loopback` allows it. The reason if not.
pub(crate) fn fetchable(url: &str, plain_loopback: bool) -> Result<reqwest::Url, String> {
    fetchable_as("JWKS URL", url, plain_loopback)
}

/// [`fetchable`], for any outbound URL; `what` names it in the reason.
pub(crate) fn fetchable_as(
    what: &str,
    url: &str,
    plain_loopback: bool,
) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{what} {url:?}: {e}"))?;
    let loopback = || {
        parsed
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|h| h.parse::<std::net::IpAddr>().ok())
            .is_some_and(|ip| ip.is_loopback())
    };
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if plain_loopback && loopback() => Ok(parsed),
        "http" if plain_loopback => Err(format!(
            "{what} {url:?}: plain http is allowed only to a loopback address"
        )),
        "http" => Err(format!(
            "{what} {url:?}: https is required (plain http lets anyone on the path answer in its place)"
        )),
        other => Err(format!("{what} {url:?}: unsupported scheme {other:?}")),
    }
}

/// Follows a redirect only within the origin first asked for (scheme, host
/// and port), at most 5 times.
pub(crate) fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if attempt.previous().len() > 5 {
            attempt.error("too many redirects")
        } else if same {
            attempt.follow()
        } else {
            attempt.error("redirect to another origin refused")
        }
    })
}

struct Shared {
    plain_loopback: bool,
    source: Source,
    allowed: Vec<Algorithm>,
    config: JwksConfig,
    keys: watch::Sender<Option<Arc<KeySet>>>,
    /// Bumped after every fetch attempt, successful or not.
    attempts: watch::Sender<u64>,
    in_flight: AtomicBool,
    /// Bumped whenever a `kid` leaves the set (or the whole set is dropped).
    removals: AtomicU64,
    last_attempt: Mutex<Option<Instant>>,
    negative: moka::sync::Cache<String, ()>,
    fetches: AtomicU64,
}

/// The cached keys of one issuer.
pub struct JwksCache {
    shared: Arc<Shared>,
    nudge: mpsc::UnboundedSender<()>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("source", &self.shared.source)
            .field("fetches", &self.fetch_count())
            .finish_non_exhaustive()
    }
}

/// What a lookup found.
pub(crate) enum Lookup {
    Keys(Arc<KeySet>),
    UnknownKid,
    Unavailable,
}

impl JwksCache {
    /// Starts the fetcher thread; the first fetch begins at once.
    pub(crate) fn start(
        source: Source,
        allowed: Vec<Algorithm>,
        config: JwksConfig,
        client: Option<reqwest::Client>,
        plain_loopback: bool,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            plain_loopback,
            source,
            allowed,
            negative: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(config.negative_ttl)
                .build(),
            config,
            keys: watch::Sender::new(None),
            attempts: watch::Sender::new(0),
            in_flight: AtomicBool::new(true),
            removals: AtomicU64::new(0),
            last_attempt: Mutex::new(Some(Instant::now())),
            fetches: AtomicU64::new(0),
        });
        let (nudge, rx) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let worker = shared.clone();
        std::thread::Builder::new()
            .name("auth-core-jwks".to_owned())
            .spawn(move || runtime.block_on(fetcher(worker, rx, client)))?;
        Ok(Self { shared, nudge })
    }

    /// How many fetches have been made (for tests and metrics).
    pub fn fetch_count(&self) -> u64 {
        self.shared.fetches.load(Ordering::Relaxed)
    }

    /// Waits until keys are loaded, up to `timeout`; `true` if they are.
    pub async fn ready(&self, timeout: Duration) -> bool {
        let mut rx = self.shared.keys.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(Option::is_some))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The current keys, if any were loaded (and are not too stale).
    pub(crate) fn current(&self) -> Option<Arc<KeySet>> {
        self.shared.keys.borrow().clone()
    }

    /// How many times a `kid` has left the set: while this is unchanged,
    /// every key seen before is still published.
    pub(crate) fn removals(&self) -> u64 {
        self.shared.removals.load(Ordering::Acquire)
    }

    /// Starts a refetch unless one is in flight or the cooldown has not
    /// passed. `true` if a fetch is (now) in flight.
    fn request_fetch(&self) -> bool {
        if self.shared.in_flight.load(Ordering::Acquire) {
            return true;
        }
        let mut last = self
            .shared
            .last_attempt
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if self.shared.in_flight.load(Ordering::Acquire) {
            return true;
        }
        let now = Instant::now();
        if last.is_some_and(|t| now.saturating_duration_since(t) < self.shared.config.cooldown) {
            return false;
        }
        *last = Some(now);
        self.shared.in_flight.store(true, Ordering::Release);
        drop(last);
        if self.nudge.send(()).is_err() {
            self.shared.in_flight.store(false, Ordering::Release);
            return false;
        }
        true
    }

    /// Waits for the fetch in flight (if `in_flight`) to end, bounded.
    async fn wait_for_attempt(&self, mut attempts: watch::Receiver<u64>, in_flight: bool) {
        if in_flight {
            let _ = tokio::time::timeout(self.shared.config.wait_timeout, attempts.changed()).await;
        }
    }

    /// The keys to verify a token with `kid` (or without one).
    pub(crate) async fn lookup(&self, kid: Option<&str>) -> Lookup {
        let known = |set: &KeySet| kid.is_none_or(|k| set.contains_kid(k));
        if let Some(set) = self.current().filter(|s| known(s)) {
            return Lookup::Keys(set);
        }
        if let Some(k) = kid
            && self.shared.negative.contains_key(k)
            && self.current().is_some()
        {
            return Lookup::UnknownKid;
        }
        // Subscribe before asking, so the end of the fetch is not missed.
        let mut attempts = self.shared.attempts.subscribe();
        attempts.borrow_and_update();
        let in_flight = self.request_fetch();
        self.wait_for_attempt(attempts, in_flight).await;
        match self.current() {
            None => Lookup::Unavailable,
            Some(set) if known(&set) => Lookup::Keys(set),
            Some(_) => {
                if let Some(k) = kid {
                    self.shared.negative.insert(k.to_owned(), ());
                }
                Lookup::UnknownKid
            }
        }
    }
}

async fn fetcher(
    shared: Arc<Shared>,
    mut nudges: mpsc::UnboundedReceiver<()>,
    client: Option<reqwest::Client>,
) {
    let client = match client {
        Some(c) => c,
        None => match reqwest::Client::builder()
            .redirect(same_origin_redirects())
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(target: "auth_core::jwks", error = %e, "cannot build the HTTP client");
                return;
            }
        },
    };
    let cfg = shared.config.clone();
    let mut jwks_url: Option<String> = None;
    let mut last_success: Option<Instant> = None;
    let mut backoff = Duration::from_secs(1);
    let mut next = tokio::time::Instant::now();
    loop {
        tokio::select! {
            nudge = nudges.recv() => {
                if nudge.is_none() {
                    return; // every JwksCache handle is gone
                }
            }
            () = tokio::time::sleep_until(next) => {
                shared.in_flight.store(true, Ordering::Release);
                *shared.last_attempt.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
            }
        }
        shared.fetches.fetch_add(1, Ordering::Relaxed);
        match fetch(&client, &shared, &mut jwks_url).await {
            Ok((set, max_age)) => {
                tracing::debug!(target: "auth_core::jwks", keys = set.len(), "JWKS loaded");
                let set = Arc::new(set);
                let old = shared.keys.send_replace(Some(Arc::clone(&set)));
                if old.is_some_and(|old| set.lost_key_of(&old)) {
                    shared.removals.fetch_add(1, Ordering::AcqRel);
                }
                shared.negative.invalidate_all();
                last_success = Some(Instant::now());
                backoff = Duration::from_secs(1);
                let ttl = max_age
                    .unwrap_or(cfg.max_refresh)
                    .clamp(cfg.min_refresh, cfg.max_refresh);
                // Refresh ahead of expiry.
                next = tokio::time::Instant::now() + ttl.mul_f64(0.75);
            }
            Err(e) => {
                tracing::warn!(target: "auth_core::jwks", error = %e, "JWKS fetch failed; serving the keys held");
                if last_success.is_some_and(|t| t.elapsed() > cfg.max_stale)
                    && shared.keys.send_replace(None).is_some()
                {
                    shared.removals.fetch_add(1, Ordering::AcqRel);
                }
                next = tokio::time::Instant::now() + backoff;
                backoff = (backoff * 2).min(cfg.min_refresh.max(Duration::from_secs(1)));
            }
        }
        shared.in_flight.store(false, Ordering::Release);
        shared.attempts.send_modify(|n| *n += 1);
    }
}

fn max_age(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let cc = headers.get(reqwest::header::CACHE_CONTROL)?.to_str().ok()?;
    cc.split(',').find_map(|d| {
        let d = d.trim();
        let v = d
            .strip_prefix("max-age=")
            .or_else(|| d.strip_prefix("s-maxage="))?;
        v.trim_matches('"')
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
    })
}

async fn get_limited(
    client: &reqwest::Client,
    url: &str,
    cfg: &JwksConfig,
    plain_loopback: bool,
) -> Result<(Vec<u8>, Option<Duration>), String> {
    let asked = fetchable(url, plain_loopback)?;
    let mut res = client
        .get(asked.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(cfg.fetch_timeout)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    // A client of the caller's may follow redirects anywhere: what it
    // ended at must still be the origin asked.
    if res.url().origin() != asked.origin() {
        return Err(format!("{url}: answered from another origin"));
    }
    if !res.status().is_success() {
        return Err(format!("{url}: HTTP {}", res.status()));
    }
    let age = max_age(res.headers());
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| format!("{url}: {e}"))? {
        if body.len() + chunk.len() > cfg.max_document {
            return Err(format!(
                "{url}: document larger than {} bytes",
                cfg.max_document
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, age))
}

async fn discover(
    client: &reqwest::Client,
    issuer: &str,
    cfg: &JwksConfig,
    plain_loopback: bool,
) -> Result<String, String> {
    let base = issuer.trim_end_matches('/');
    // OIDC discovery appends; RFC 8414 inserts the well-known part before the path.
    let mut urls = vec![format!("{base}/.well-known/openid-configuration")];
    if let Some(rest) = base.split_once("://").map(|(_, r)| r) {
        let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
        let scheme = base.split_once("://").map_or("https", |(s, _)| s);
        let sep = if path.is_empty() { "" } else { "/" };
        urls.push(format!(
            "{scheme}://{host}/.well-known/oauth-authorization-server{sep}{path}"
        ));
    }
    let mut last_err = String::new();
    for url in urls {
        match get_limited(client, &url, cfg, plain_loopback).await {
            Ok((body, _)) => {
                let meta: serde_json::Value =
                    serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))?;
                if meta.get("issuer").and_then(|v| v.as_str()) != Some(issuer) {
                    return Err(format!("{url}: metadata names another issuer"));
                }
                return meta
                    .get("jwks_uri")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{url}: no jwks_uri"));
            }
            Err(e) => last_err = e,
        }
    }
    Err(last_err)
}

async fn fetch(
    client: &reqwest::Client,
    shared: &Shared,
    jwks_url: &mut Option<String>,
) -> Result<(KeySet, Option<Duration>), String> {
    let url = match (&shared.source, jwks_url.as_ref()) {
        (Source::Url(u), _) => u.clone(),
        (Source::Discovery(_), Some(u)) => u.clone(),
        (Source::Discovery(issuer), None) => {
            let u = discover(client, issuer, &shared.config, shared.plain_loopback).await?;
            // Checked here too, so that a refused one is not remembered.
            fetchable(&u, shared.plain_loopback)?;
            *jwks_url = Some(u.clone());
            u
        }
    };
    let (body, age) = get_limited(client, &url, &shared.config, shared.plain_loopback).await?;
    let (set, skipped) = KeySet::from_jwks(&body, &shared.allowed)?;
    if skipped > 0 {
        tracing::debug!(target: "auth_core::jwks", skipped, "JWKS keys skipped (cannot verify an allowed algorithm)");
    }
    if set.is_empty() {
        return Err(format!("{url}: no usable key"));
    }
    Ok((set, age))
}
