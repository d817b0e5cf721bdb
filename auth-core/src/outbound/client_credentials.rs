//! [`ClientCredentials`]: OAuth 2.0 access tokens by the client-credentials
//! grant (RFC 6749 §4.4), held, shared and refreshed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::RngExt as _;
use serde_json::Value;

use super::{CredentialHeader, OutboundError, OutboundErrorKind, TokenSource};
use crate::authenticate::BoxFuture;
use crate::client_auth::{basic_client_auth, form_encode_into};
use crate::error::ConfigError;
use crate::jwt::jwks::{fetchable_as, same_origin_redirects};
use crate::secret::Secret;

const TARGET: &str = "auth_core::outbound";

/// The lifetime assumed when an answer has no usable `expires_in` (RFC
/// 6749 §5.1 makes it optional). A wrong guess costs a `401` and a refresh.
const ASSUMED_LIFETIME: Duration = Duration::from_secs(300);

/// The longest a failed background refresh waits before the next try
/// (while the token held is still good).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// Builds a [`ClientCredentials`] source.
pub struct ClientCredentialsBuilder {
    endpoint: String,
    client_id: String,
    client_secret: Secret,
    scope: Option<String>,
    resources: Vec<String>,
    audience: Option<String>,
    plain_loopback: bool,
    timeout: Duration,
    max_response: usize,
    refresh_margin: Duration,
    max_lifetime: Duration,
    invalidation_cooldown: Duration,
    client: Option<reqwest::Client>,
}

impl std::fmt::Debug for ClientCredentialsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentialsBuilder")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("resources", &self.resources)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl ClientCredentialsBuilder {
    /// The `scope` to ask for (space-separated scope tokens). Without it
    /// the token endpoint grants the client's default.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// A `resource` (RFC 8707) the token is for: an absolute URI without a
    /// fragment. May be given more than once.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resources.push(resource.into());
        self
    }

    /// An `audience` parameter, for token endpoints that take one instead
    /// of `resource` (Auth0, token exchange style).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// How long before expiry, at least, a token is refreshed (default
    /// 30 s). The refresh starts when less than the larger of this and a
    /// tenth of the token's lifetime remains (never more than half the
    /// lifetime), plus a random part of up to half that again, so that many
    /// instances do not refresh in step.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// The longest a token is held, whatever its `expires_in` says
    /// (default 24 h, at most a year).
    pub fn max_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = max;
        self
    }

    /// The least time between two refusals that drop the current token
    /// (default 1 s): a server that refuses every token then costs one
    /// fetch per cooldown, not one per request.
    pub fn invalidation_cooldown(mut self, cooldown: Duration) -> Self {
        self.invalidation_cooldown = cooldown;
        self
    }

    /// The timeout of one token request, answer included (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest answer read (default 64 KiB).
    pub fn max_response(mut self, bytes: usize) -> Self {
        self.max_response = bytes;
        self
    }

    /// Allows a plain `http` endpoint on a loopback IP address (tests, a
    /// sidecar); anything else must be `https`.
    pub fn allow_plain_http_loopback(mut self) -> Self {
        self.plain_loopback = true;
        self
    }

    /// The HTTP client to call with (e.g. with a private CA). Whatever its
    /// redirect policy, an answer from another origin is refused.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The source. Fails on an endpoint that is not `https` (or allowed
    /// loopback `http`), an empty client id or secret, a scope that is not
    /// RFC 6749 §3.3 scope tokens, a `resource` that is not an absolute URI
    /// without a fragment, or when the HTTP client cannot be built.
    pub fn build(self) -> Result<ClientCredentials, ConfigError> {
        let endpoint = fetchable_as("token endpoint", &self.endpoint, self.plain_loopback)
            .map_err(ConfigError::invalid)?;
        if self.client_id.is_empty() || self.client_id.chars().any(char::is_control) {
            return Err(ConfigError::invalid(
                "the client id must be non-empty, without control characters",
            ));
        }
        if self.client_secret.is_empty() {
            return Err(ConfigError::invalid("the client secret is empty"));
        }
        let mut body = b"grant_type=client_credentials".to_vec();
        if let Some(scope) = &self.scope {
            if !valid_scope(scope) {
                return Err(ConfigError::invalid(format!(
                    "scope {scope:?}: scope tokens are visible ASCII but \" and \\, one space apart"
                )));
            }
            body.extend_from_slice(b"&scope=");
            form_encode_into(scope.as_bytes(), &mut body);
        }
        for resource in &self.resources {
            let absolute = reqwest::Url::parse(resource).is_ok_and(|u| u.fragment().is_none());
            if !absolute {
                return Err(ConfigError::invalid(format!(
                    "resource {resource:?}: an absolute URI without a fragment is required (RFC 8707)"
                )));
            }
            body.extend_from_slice(b"&resource=");
            form_encode_into(resource.as_bytes(), &mut body);
        }
        if let Some(audience) = &self.audience {
            if audience.is_empty() {
                return Err(ConfigError::invalid("the audience is empty"));
            }
            body.extend_from_slice(b"&audience=");
            form_encode_into(audience.as_bytes(), &mut body);
        }
        let client = match self.client {
            Some(c) => c,
            None => reqwest::Client::builder()
                .redirect(same_origin_redirects())
                .build()
                .map_err(|e| ConfigError::invalid(format!("HTTP client: {e}")))?,
        };
        let authorization = basic_client_auth(&self.client_id, &self.client_secret);
        Ok(ClientCredentials {
            inner: Arc::new(Inner {
                endpoint,
                client_id: self.client_id,
                authorization,
                body,
                client,
                timeout: self.timeout,
                max_response: self.max_response,
                refresh_margin: self.refresh_margin,
                max_lifetime: self
                    .max_lifetime
                    .clamp(Duration::from_secs(1), Duration::from_secs(365 * 86_400)),
                invalidation_cooldown: self.invalidation_cooldown,
                state: Mutex::new(State::default()),
                fetch_turn: tokio::sync::Mutex::new(()),
                fetches: AtomicU64::new(0),
            }),
        })
    }
}

/// RFC 6749 §3.3: `scope-token *( SP scope-token )`, a scope token being
/// `%x21 / %x23-5B / %x5D-7E`.
fn valid_scope(scope: &str) -> bool {
    scope.split(' ').all(|token| {
        !token.is_empty()
            && token
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
    })
}

/// OAuth 2.0 access tokens by the client-credentials grant, as a
/// [`TokenSource`] (see the [module documentation](super)).
///
/// The client authenticates with `client_secret_basic` (its id and secret
/// form-encoded, then joined, as RFC 6749 §2.3.1 requires). A token is
/// fetched when first needed and shared by every request. It is refreshed
/// in the background ahead of expiry, while requests go on using it; a
/// refresh that fails leaves it in use until it expires. When there is no
/// usable token, callers wait for the one fetch in flight and share its
/// outcome, a failure included. Cloning is cheap and shares the token.
///
/// ```no_run
/// use std::time::Duration;
/// use auth_core::outbound::{ClientCredentials, TokenSource};
/// use auth_core::Secret;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let source = ClientCredentials::builder(
///     "https://as.example.com/oauth/token",
///     "reports-job",
///     Secret::from("its client secret"),
/// )
/// .scope("reports:read")
/// .resource("https://api.example.com/")
/// .refresh_margin(Duration::from_secs(60))
/// .build()?;
/// let header = source.credential().await?;
/// assert_eq!(header.name(), "authorization");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientCredentials {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("client_id", &self.inner.client_id)
            .field("fetches", &self.fetch_count())
            .finish_non_exhaustive()
    }
}

struct Inner {
    endpoint: reqwest::Url,
    client_id: String,
    /// `Basic base64(form(client_id):form(client_secret))`.
    authorization: Secret,
    /// The form sent; it holds no secret.
    body: Vec<u8>,
    client: reqwest::Client,
    timeout: Duration,
    max_response: usize,
    refresh_margin: Duration,
    max_lifetime: Duration,
    invalidation_cooldown: Duration,
    state: Mutex<State>,
    /// Held while a fetch is in flight: one at a time.
    fetch_turn: tokio::sync::Mutex<()>,
    fetches: AtomicU64,
}

#[derive(Default)]
struct State {
    current: Option<Held>,
    /// Fetches that ended (either way); a caller that saw this number
    /// before waiting for its turn knows whether one ended meanwhile.
    attempts: u64,
    /// The outcome of the last fetch, for the callers that waited for it.
    last: Option<Result<CredentialHeader, OutboundError>>,
    /// A background refresh is running.
    refreshing: bool,
    last_invalidation: Option<Instant>,
}

struct Held {
    header: CredentialHeader,
    refresh_at: Instant,
    expires_at: Instant,
}

/// What `credential` found, decided under the state lock.
enum Found {
    Good(CredentialHeader),
    Refresh(CredentialHeader, u64),
    Fetch(u64),
}

impl ClientCredentials {
    /// A builder for `endpoint`, the token endpoint, authenticating to it
    /// as `client_id` with `client_secret`.
    pub fn builder(
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Secret,
    ) -> ClientCredentialsBuilder {
        ClientCredentialsBuilder {
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            client_secret,
            scope: None,
            resources: Vec::new(),
            audience: None,
            plain_loopback: false,
            timeout: Duration::from_secs(5),
            max_response: 64 * 1024,
            refresh_margin: Duration::from_secs(30),
            max_lifetime: Duration::from_secs(86_400),
            invalidation_cooldown: Duration::from_secs(1),
            client: None,
        }
    }

    /// How many token requests have been sent (for tests and metrics).
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    async fn get(&self) -> Result<CredentialHeader, OutboundError> {
        let found = {
            let mut st = self.inner.state();
            let now = Instant::now();
            let found = match &st.current {
                Some(h) if now < h.refresh_at => Found::Good(h.header.clone()),
                Some(h) if now < h.expires_at && !st.refreshing => {
                    Found::Refresh(h.header.clone(), st.attempts)
                }
                Some(h) if now < h.expires_at => Found::Good(h.header.clone()),
                _ => Found::Fetch(st.attempts),
            };
            if matches!(found, Found::Refresh(..)) {
                st.refreshing = true;
            }
            found
        };
        match found {
            Found::Good(header) => Ok(header),
            Found::Refresh(header, seen) => {
                self.refresh_in_background(seen);
                Ok(header)
            }
            Found::Fetch(seen) => self.inner.fetch_shared(seen).await,
        }
    }

    fn refresh_in_background(&self, seen: u64) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to run it on: the first call past expiry fetches.
            self.inner.state().refreshing = false;
            return;
        };
        let inner = Arc::clone(&self.inner);
        runtime.spawn(async move {
            // A failure was logged, and the token held stays in use.
            let _ = inner.fetch_shared(seen).await;
            inner.state().refreshing = false;
        });
    }
}

impl TokenSource for ClientCredentials {
    fn credential(&self) -> BoxFuture<'_, Result<CredentialHeader, OutboundError>> {
        Box::pin(self.get())
    }

    fn invalidate<'a>(&'a self, sent: &'a CredentialHeader) -> BoxFuture<'a, ()> {
        self.inner.invalidate(sent);
        Box::pin(std::future::ready(()))
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned lock still has a
        // consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the turn to fetch. If a fetch ended meanwhile (the state
    /// moved past `seen`), its outcome is the answer; otherwise this call
    /// fetches.
    async fn fetch_shared(&self, seen: u64) -> Result<CredentialHeader, OutboundError> {
        let _turn = self.fetch_turn.lock().await;
        let shared = {
            let st = self.state();
            if st.attempts == seen {
                None
            } else {
                st.last.clone()
            }
        };
        match shared {
            Some(outcome) => outcome,
            None => self.fetch_and_keep().await,
        }
    }

    async fn fetch_and_keep(&self) -> Result<CredentialHeader, OutboundError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        // The token's life is counted from the request, not the answer.
        let sent_at = Instant::now();
        let fetched = self.fetch().await;
        let mut st = self.state();
        st.attempts = st.attempts.wrapping_add(1);
        let now = Instant::now();
        let outcome = match fetched {
            Ok((header, lifetime)) => {
                let (refresh_at, expires_at) = schedule(sent_at, lifetime, self.refresh_margin);
                tracing::debug!(target: TARGET, endpoint = %self.endpoint, lifetime_secs = lifetime.as_secs(), "access token fetched");
                st.current = Some(Held {
                    header: header.clone(),
                    refresh_at,
                    expires_at,
                });
                Ok(header)
            }
            Err(e) => match st.current.as_mut().filter(|h| now < h.expires_at) {
                Some(held) => {
                    tracing::warn!(target: TARGET, endpoint = %self.endpoint, error = %e, "access token refresh failed; the current token is used until it expires");
                    let wait = ((held.expires_at - now) / 2).min(RETRY_AFTER_FAILURE);
                    held.refresh_at = now + wait;
                    Ok(held.header.clone())
                }
                None => {
                    tracing::warn!(target: TARGET, endpoint = %self.endpoint, error = %e, "access token fetch failed");
                    st.current = None;
                    Err(e)
                }
            },
        };
        st.last = Some(outcome.clone());
        outcome
    }

    fn invalidate(&self, sent: &CredentialHeader) {
        let mut st = self.state();
        if !st.current.as_ref().is_some_and(|h| h.header == *sent) {
            // Already replaced (or dropped): nothing to do.
            return;
        }
        let now = Instant::now();
        if st
            .last_invalidation
            .is_some_and(|t| now.saturating_duration_since(t) < self.invalidation_cooldown)
        {
            tracing::debug!(target: TARGET, "a refused access token is kept: one was dropped less than the cooldown ago");
            return;
        }
        st.last_invalidation = Some(now);
        st.current = None;
        if matches!(&st.last, Some(Ok(h)) if h == sent) {
            st.last = None;
        }
        tracing::debug!(target: TARGET, "refused access token dropped");
    }

    /// One token request: the header to send and the token's lifetime.
    async fn fetch(&self) -> Result<(CredentialHeader, Duration), OutboundError> {
        use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
        let mut authorization =
            HeaderValue::from_bytes(self.authorization.expose()).map_err(|_| {
                OutboundError::new(
                    OutboundErrorKind::BadResponse,
                    "client credentials cannot be sent",
                )
            })?;
        authorization.set_sensitive(true);
        let sent = self
            .client
            .post(self.endpoint.clone())
            .header(AUTHORIZATION, authorization)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .timeout(self.timeout)
            .body(self.body.clone())
            .send()
            .await;
        let mut res = sent.map_err(transport)?;
        if res.url().origin() != self.endpoint.origin() {
            return Err(OutboundError::new(
                OutboundErrorKind::Unreachable,
                "the token endpoint answered from another origin",
            ));
        }
        let status = res.status();
        let body = read_limited(&mut res, self.max_response).await;
        if !status.is_success() {
            let err = OutboundError::new(
                OutboundErrorKind::Refused {
                    status: status.as_u16(),
                },
                "the token endpoint refused the request",
            );
            return Err(match body.ok().as_deref().and_then(oauth_error_code) {
                Some(code) => err.with_oauth_error(code),
                None => err,
            });
        }
        parse_token_response(&body?, self.max_lifetime)
    }
}

fn transport(e: reqwest::Error) -> OutboundError {
    if e.is_timeout() {
        OutboundError::new(
            OutboundErrorKind::Timeout,
            "the token endpoint did not answer in time",
        )
        .with_source(e)
    } else {
        OutboundError::new(
            OutboundErrorKind::Unreachable,
            "the token endpoint is unreachable",
        )
        .with_source(e)
    }
}

/// The answer's body, up to `max` bytes.
async fn read_limited(res: &mut reqwest::Response, max: usize) -> Result<Vec<u8>, OutboundError> {
    let too_large = || {
        OutboundError::new(
            OutboundErrorKind::BadResponse,
            format!("the token endpoint's answer is larger than {max} bytes"),
        )
    };
    if res
        .content_length()
        .is_some_and(|n| n > u64::try_from(max).unwrap_or(u64::MAX))
    {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(transport)? {
        if bytes.len() + chunk.len() > max {
            zeroize::Zeroize::zeroize(&mut bytes);
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The `error` code of an RFC 6749 §5.2 error answer, if it is one (and
/// the code is of the characters §5.2 allows, so it can be shown).
fn oauth_error_code(body: &[u8]) -> Option<String> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    let code = map.get("error")?.as_str()?;
    let printable = |b: u8| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\';
    (!code.is_empty() && code.len() <= 64 && code.bytes().all(printable)).then(|| code.to_owned())
}

/// An RFC 6749 §5.1 answer: the header to send and the token's lifetime.
fn parse_token_response(
    body: &[u8],
    max_lifetime: Duration,
) -> Result<(CredentialHeader, Duration), OutboundError> {
    let bad = |what: &'static str| OutboundError::new(OutboundErrorKind::BadResponse, what);
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(body) else {
        return Err(bad("the token endpoint's answer is not a JSON object"));
    };
    match map.get("token_type") {
        // RFC 6749 requires it; an answer without one is taken as Bearer.
        None => {}
        Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => {}
        Some(_) => {
            return Err(bad(
                "the token endpoint issued a token type other than Bearer",
            ));
        }
    }
    let Some(Value::String(token)) = map.remove("access_token") else {
        return Err(bad("the token endpoint's answer has no access_token"));
    };
    // Moved, not copied: the token's bytes are zeroized when dropped.
    let token = Secret::from(token);
    let header = CredentialHeader::bearer(&token)
        .ok_or_else(|| bad("the access_token is empty or not visible ASCII"))?;
    Ok((header, lifetime(map.get("expires_in"), max_lifetime)))
}

/// A token's lifetime from `expires_in`: seconds as a number (or, as some
/// servers send it, a string); negative is none left; absent or unreadable
/// is [`ASSUMED_LIFETIME`]; never more than `max`.
fn lifetime(expires_in: Option<&Value>, max: Duration) -> Duration {
    let secs = match expires_in {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match secs.filter(|s| s.is_finite()) {
        Some(s) => Duration::try_from_secs_f64(s.max(0.0))
            .unwrap_or(max)
            .min(max),
        None => {
            tracing::debug!(target: TARGET, "no usable expires_in; a lifetime is assumed");
            ASSUMED_LIFETIME.min(max)
        }
    }
}

/// When a token sent for at `sent_at`, living `lifetime`, is refreshed and
/// when it expires: the refresh window is the larger of `margin` and a
/// tenth of the lifetime, at most half of it, plus a random part of up to
/// half the window again.
fn schedule(sent_at: Instant, lifetime: Duration, margin: Duration) -> (Instant, Instant) {
    let expires_at = sent_at.checked_add(lifetime).unwrap_or(sent_at);
    let window = (lifetime / 10).max(margin).min(lifetime / 2);
    let jitter = window.mul_f64(rand::rng().random_range(0.0..0.5));
    let refresh_at = expires_at
        .checked_sub(window + jitter)
        .unwrap_or(sent_at)
        .max(sent_at);
    (refresh_at, expires_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_read_sanely() {
        let max = Duration::from_secs(86_400);
        let of = |json: &str| lifetime(serde_json::from_str::<Value>(json).ok().as_ref(), max);
        assert_eq!(of("3600"), Duration::from_secs(3600));
        assert_eq!(of("\"3599\""), Duration::from_secs(3599));
        assert_eq!(of("1.5"), Duration::from_millis(1500));
        assert_eq!(of("0"), Duration::ZERO);
        assert_eq!(of("-30"), Duration::ZERO);
        assert_eq!(of("18446744073709551615"), max);
        assert_eq!(of("1e300"), max);
        assert_eq!(of("\"NaN\""), ASSUMED_LIFETIME);
        assert_eq!(of("null"), ASSUMED_LIFETIME);
        assert_eq!(of("true"), ASSUMED_LIFETIME);
        assert_eq!(lifetime(None, max), ASSUMED_LIFETIME);
        assert_eq!(
            lifetime(None, Duration::from_secs(10)),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn refresh_starts_ahead_of_expiry_with_jitter() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        for _ in 0..200 {
            // An hour: a tenth (6 min) beats the 30 s margin; jitter up to 3 min.
            let (refresh, expires) = schedule(t0, s(3600), s(30));
            assert_eq!(expires, t0 + s(3600));
            assert!(refresh <= t0 + s(3600 - 360) && refresh > t0 + s(3600 - 540));
            // A minute: the margin (30 s) is capped at half the lifetime.
            let (refresh, _) = schedule(t0, s(60), s(30));
            assert!(
                refresh <= t0 + s(30) && refresh > t0 + s(15),
                "{:?}",
                refresh - t0
            );
            // Nothing left: refresh at once, never before the request.
            assert_eq!(schedule(t0, Duration::ZERO, s(30)), (t0, t0));
        }
        // The jitter does jitter.
        let spread: std::collections::HashSet<_> =
            (0..20).map(|_| schedule(t0, s(3600), s(30)).0).collect();
        assert!(spread.len() > 1);
    }

    #[test]
    fn token_responses_are_checked() {
        let max = Duration::from_secs(86_400);
        let ok = parse_token_response(
            br#"{"access_token":"abc.def","token_type":"bearer","expires_in":60}"#,
            max,
        )
        .unwrap();
        assert_eq!(ok.0.value().expose(), b"Bearer abc.def");
        assert_eq!(ok.1, Duration::from_secs(60));
        let no_type = parse_token_response(br#"{"access_token":"t"}"#, max).unwrap();
        assert_eq!(no_type.1, ASSUMED_LIFETIME);
        for bad in [
            &b"<html>"[..],
            b"[]",
            br#"{"token_type":"Bearer"}"#,
            br#"{"access_token":"","token_type":"Bearer"}"#,
            br#"{"access_token":7,"token_type":"Bearer"}"#,
            br#"{"access_token":"a b","token_type":"Bearer"}"#,
            br#"{"access_token":"a\r\nX: y","token_type":"Bearer"}"#,
            br#"{"access_token":"t","token_type":"DPoP"}"#,
            br#"{"access_token":"t","token_type":"mac"}"#,
            br#"{"access_token":"t","token_type":null}"#,
        ] {
            let err = parse_token_response(bad, max).err().map(|e| e.kind());
            assert_eq!(
                err,
                Some(OutboundErrorKind::BadResponse),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn refusal_codes_are_read_only_when_showable() {
        assert_eq!(
            oauth_error_code(br#"{"error":"invalid_client"}"#).as_deref(),
            Some("invalid_client")
        );
        assert_eq!(oauth_error_code(b"oops"), None);
        assert_eq!(oauth_error_code(br#"{"error":"a\"b"}"#), None);
        assert_eq!(oauth_error_code(br#"{"error":"\n"}"#), None);
        let long = format!(r#"{{"error":"{}"}}"#, "x".repeat(65));
        assert_eq!(oauth_error_code(long.as_bytes()), None);
    }

    #[test]
    fn scopes_follow_rfc_6749() {
        assert!(valid_scope("read write:all"));
        for bad in ["", " read", "read  write", "read\"", "a\\b", "ré"] {
            assert!(!valid_scope(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_builder_refuses_what_it_cannot_send_safely() {
        let b = |url: &str| ClientCredentials::builder(url, "svc", Secret::from("s"));
        assert!(b("https://as.example/token").build().is_ok());
        assert!(b("http://as.example/token").build().is_err());
        assert!(b("http://127.0.0.1:9/token").build().is_err());
        assert!(
            b("http://127.0.0.1:9/token")
                .allow_plain_http_loopback()
                .build()
                .is_ok()
        );
        assert!(
            b("http://as.example/token")
                .allow_plain_http_loopback()
                .build()
                .is_err()
        );
        let ok = "https://as.example/token";
        assert!(b(ok).scope("a  b").build().is_err());
        assert!(b(ok).resource("/relative").build().is_err());
        assert!(b(ok).resource("https://api.example/#frag").build().is_err());
        assert!(b(ok).audience("").build().is_err());
        assert!(
            ClientCredentials::builder(ok, "", Secret::from("s"))
                .build()
                .is_err()
        );
        assert!(
            ClientCredentials::builder(ok, "svc", Secret::from(""))
                .build()
                .is_err()
        );

        let built = b(ok)
            .scope("read write")
            .resource("https://api.example/a b")
            .resource("urn:x")
            .audience("aud&1")
            .build()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&built.inner.body),
            "grant_type=client_credentials&scope=read+write&resource=https%3A%2F%2Fapi.example%2Fa+b&resource=urn%3Ax&audience=aud%261"
        );
        let secret = || Secret::from("topsecretvalue");
        let builder = ClientCredentials::builder(ok, "svc", secret());
        assert!(!format!("{builder:?}").contains("topsecret"));
        let shown = format!("{:?}", builder.build().unwrap());
        assert!(
            shown.contains("as.example/token") && shown.contains("svc"),
            "{shown}"
        );
        assert!(!shown.contains("topsecret"));
    }

    #[test]
    fn a_refused_token_is_dropped_once_and_only_if_current() {
        let source = ClientCredentials::builder("https://as.example/t", "svc", Secret::from("s"))
            .build()
            .unwrap();
        let token = |t: &str| CredentialHeader::bearer(&Secret::from(t)).unwrap();
        let hold = |t: &str| {
            let now = Instant::now();
            let mut st = source.inner.state();
            st.current = Some(Held {
                header: token(t),
                refresh_at: now + Duration::from_secs(60),
                expires_at: now + Duration::from_secs(120),
            });
            st.last = Some(Ok(token(t)));
        };
        let current = || {
            source
                .inner
                .state()
                .current
                .as_ref()
                .map(|h| h.header.clone())
        };
        hold("new");
        // A refusal of a token already replaced changes nothing.
        source.inner.invalidate(&token("old"));
        assert_eq!(current(), Some(token("new")));
        source.inner.invalidate(&token("new"));
        assert_eq!(current(), None);
        assert!(source.inner.state().last.is_none());
        // Within the cooldown, a refusal of the next token keeps it.
        hold("newer");
        source.inner.invalidate(&token("newer"));
        assert_eq!(current(), Some(token("newer")));
    }
}
