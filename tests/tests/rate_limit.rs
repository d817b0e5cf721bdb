//! Rate limits at their edges (issue 12, "Limit edge cases"), on both
//! adapters over real HTTP, and for both ways of attaching the limiter: in
//! the guard (`guard.with_limit(limiter)`) and as the standalone layer or
//! middleware inside the auth layer (`RateLimitLayer`, `RateLimit`).
//!
//! Each adapter gets its own limiter (its own state), and every case is
//! sent to both in the same order; refusals must be identical byte for byte
//! (status, `Retry-After`, the `RateLimit` fields, content type, body).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, KeyTier, NewKey, Pepper};
use auth_core::rate_limit::{FailedAttempts, Quota, RateLimiter};
use auth_core::{
    AnyOf, AuthError, AuthErrorKind, AuthMethod, AuthRequest, Authenticator, BoxFuture, Challenge,
    Guard, Identity, RequestHead, Specificity, TrustedProxies,
};
use base64::Engine as _;

const HOUR: Duration = Duration::from_secs(3600);
const TOY_HEADER: &str = "x-toy-token";

/// `X-Toy-Token: toy-<name>` is the caller `<name>`; `toy-ops` has the role
/// `ops`.
struct Toy;

impl Authenticator for Toy {
    fn credential_headers(&self, out: &mut Vec<&'static str>) {
        out.push(TOY_HEADER);
    }
    fn recognise(&self, req: &AuthRequest<'_>) -> Option<Specificity> {
        req.credential()
            .header(TOY_HEADER)
            .map(|_| Specificity::Exact)
    }
    fn authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        let name = req
            .credential()
            .header(TOY_HEADER)
            .and_then(|v| v.expose().strip_prefix(b"toy-"))
            .and_then(|n| std::str::from_utf8(n).ok())
            .map(str::to_owned);
        Box::pin(async move {
            match name {
                Some(n) => {
                    let roles: &[&str] = if n == "ops" { &["ops"] } else { &[] };
                    Ok(Identity::new(n, AuthMethod::Custom).with_roles(roles.iter().copied()))
                }
                None => Err(AuthError::new(AuthErrorKind::InvalidCredentials)),
            }
        })
    }
    fn challenges(&self, _head: &dyn RequestHead, out: &mut Vec<Challenge>) {
        out.push(Challenge::new("Toy"));
    }
}

/// How the limiter is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attach {
    /// `guard.with_limit(limiter)`.
    Guard,
    /// The auth layer, then `RateLimitLayer` / `RateLimit` inside it.
    Layer,
}

const BOTH: [Attach; 2] = [Attach::Guard, Attach::Layer];

/// Builds one adapter's guard and limiter; called once per adapter so that
/// each has its own state.
type Make = Arc<dyn Fn() -> (Guard, RateLimiter) + Send + Sync>;

/// `/whoami` needs a caller; `/open` lets anonymous callers through. Both
/// are limited by one limiter.
async fn axum_server(attach: Attach, guard: Guard, limiter: RateLimiter) -> SocketAddr {
    use auth_tower::{Auth, RateLimitLayer, RequireAuthLayer};
    use axum::routing::get;
    let whoami = get(|Auth(id): Auth| async move { id.subject().to_owned() });
    let open = get(|| async { "open" });
    let app = match attach {
        Attach::Guard => {
            let guard = guard.with_limit(limiter);
            axum::Router::new()
                .route(
                    "/whoami",
                    whoami.route_layer(RequireAuthLayer::new(guard.clone())),
                )
                .route(
                    "/open",
                    open.route_layer(RequireAuthLayer::new(guard.allow_anonymous())),
                )
        }
        Attach::Layer => axum::Router::new()
            .route(
                "/whoami",
                whoami
                    .route_layer(RateLimitLayer::new(limiter.clone()))
                    .route_layer(RequireAuthLayer::new(guard.clone())),
            )
            .route(
                "/open",
                open.route_layer(RateLimitLayer::new(limiter))
                    .route_layer(RequireAuthLayer::new(guard.allow_anonymous())),
            ),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(auth_tower::serve(
        listener,
        None,
        app,
        std::future::pending(),
    ));
    addr
}

fn actix_server(attach: Attach, guard: Guard, limiter: RateLimiter) -> SocketAddr {
    use actix_web::{App, HttpResponse, HttpServer, web};
    use auth_actix::{Auth, RateLimit, RequireAuth};
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                // The content type axum gives a `String`.
                let text = "text/plain; charset=utf-8";
                let whoami = move |Auth(id): Auth| async move {
                    HttpResponse::Ok()
                        .content_type(text)
                        .body(id.subject().to_owned())
                };
                let open =
                    move || async move { HttpResponse::Ok().content_type(text).body("open") };
                match attach {
                    Attach::Guard => {
                        let guard = guard.with_limit(limiter.clone());
                        App::new()
                            .service(
                                web::resource("/whoami")
                                    .wrap(RequireAuth::new(guard.clone()))
                                    .to(whoami),
                            )
                            .service(
                                web::resource("/open")
                                    .wrap(RequireAuth::new(guard.allow_anonymous()))
                                    .to(open),
                            )
                    }
                    // The last `wrap` is the outermost: auth, then the limit.
                    Attach::Layer => App::new()
                        .service(
                            web::resource("/whoami")
                                .wrap(RateLimit::new(limiter.clone()))
                                .wrap(RequireAuth::new(guard.clone()))
                                .to(whoami),
                        )
                        .service(
                            web::resource("/open")
                                .wrap(RateLimit::new(limiter.clone()))
                                .wrap(RequireAuth::new(guard.allow_anonymous()))
                                .to(open),
                        ),
                }
            })
            .workers(1)
            .bind(("127.0.0.1", 0))
            .unwrap();
            tx.send(server.addrs()[0]).unwrap();
            server.run().await.unwrap();
        });
    });
    rx.recv().unwrap()
}

/// What must match across adapters.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    retry_after: Option<String>,
    policy: Vec<String>,
    limit: Vec<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    /// The one `RateLimit` item: name and its parameters.
    fn limit_item(&self) -> Item {
        let field = self.limit.join(", ");
        let mut items = parse_list(&field).unwrap_or_else(|e| panic!("RateLimit {field:?}: {e}"));
        assert_eq!(items.len(), 1, "{field}");
        items.remove(0)
    }
    fn policy_item(&self) -> Item {
        let field = self.policy.join(", ");
        let mut items =
            parse_list(&field).unwrap_or_else(|e| panic!("RateLimit-Policy {field:?}: {e}"));
        assert_eq!(items.len(), 1, "{field}");
        items.remove(0)
    }
    fn remaining(&self) -> i64 {
        self.limit_item().int("r")
    }
    fn reset(&self) -> i64 {
        self.limit_item().int("t")
    }
}

struct Servers {
    attach: Attach,
    axum: SocketAddr,
    actix: SocketAddr,
    client: reqwest::Client,
}

impl Servers {
    async fn start(attach: Attach, make: Make) -> Self {
        let (g, l) = make();
        let axum = axum_server(attach, g, l).await;
        let (g, l) = make();
        let actix = actix_server(attach, g, l);
        Self {
            attach,
            axum,
            actix,
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    async fn send_to(&self, addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Answer {
        send(&self.client, addr, path, headers).await
    }

    /// Sends to axum, then to actix; they must answer the same.
    async fn send(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let a = self.send_to(self.axum, path, headers).await;
        let b = self.send_to(self.actix, path, headers).await;
        assert_eq!(
            a, b,
            "axum and actix differ ({:?}) for {path} {headers:?}",
            self.attach
        );
        a
    }
}

async fn send(
    client: &reqwest::Client,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut req = client.get(format!("http://{addr}{path}"));
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let res = req.send().await.unwrap();
    let all = |name: &str| -> Vec<String> {
        res.headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    let one = |name: &str| all(name).into_iter().next();
    Answer {
        status: res.status().as_u16(),
        retry_after: one("retry-after"),
        policy: all("ratelimit-policy"),
        limit: all("ratelimit"),
        content_type: one("content-type"),
        body: res.bytes().await.unwrap().to_vec(),
    }
}

// --- structured fields (RFC 8941), as much as these two fields use

#[derive(Clone, Debug, PartialEq, Eq)]
enum Bare {
    Int(i64),
    Bytes(Vec<u8>),
    Str(String),
    Token(String),
    Bool(bool),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Item {
    value: Bare,
    params: Vec<(String, Bare)>,
}

impl Item {
    fn name(&self) -> &str {
        match &self.value {
            Bare::Str(s) => s,
            other => panic!("the item is not a string: {other:?}"),
        }
    }
    fn param(&self, key: &str) -> &Bare {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no parameter {key} in {self:?}"))
    }
    fn int(&self, key: &str) -> i64 {
        match self.param(key) {
            Bare::Int(i) => *i,
            other => panic!("{key} is not an integer: {other:?}"),
        }
    }
    fn bytes(&self, key: &str) -> Vec<u8> {
        match self.param(key) {
            Bare::Bytes(b) => b.clone(),
            other => panic!("{key} is not a byte sequence: {other:?}"),
        }
    }
    fn keys(&self) -> Vec<&str> {
        self.params.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// Parses an sf-list of items (no inner lists), strictly.
fn parse_list(s: &str) -> Result<Vec<Item>, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    if b.is_empty() {
        return Ok(out);
    }
    loop {
        let value = bare(b, &mut i)?;
        let mut params = Vec::new();
        while b.get(i) == Some(&b';') {
            i += 1;
            while b.get(i) == Some(&b' ') {
                i += 1;
            }
            let start = i;
            if !b
                .get(i)
                .is_some_and(|c| c.is_ascii_lowercase() || *c == b'*')
            {
                return Err(format!("bad key at {i}"));
            }
            while b.get(i).is_some_and(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.*".contains(c)
            }) {
                i += 1;
            }
            let key = s[start..i].to_owned();
            let v = if b.get(i) == Some(&b'=') {
                i += 1;
                bare(b, &mut i)?
            } else {
                Bare::Bool(true)
            };
            if params.iter().any(|(k, _)| *k == key) {
                return Err(format!("parameter {key} twice"));
            }
            params.push((key, v));
        }
        out.push(Item { value, params });
        while b.get(i) == Some(&b' ') || b.get(i) == Some(&b'\t') {
            i += 1;
        }
        match b.get(i) {
            None => return Ok(out),
            Some(b',') => {
                i += 1;
                while b.get(i) == Some(&b' ') || b.get(i) == Some(&b'\t') {
                    i += 1;
                }
                if i == b.len() {
                    return Err("trailing comma".into());
                }
            }
            Some(c) => return Err(format!("unexpected {:?} at {i}", char::from(*c))),
        }
    }
}

fn bare(b: &[u8], i: &mut usize) -> Result<Bare, String> {
    match b.get(*i) {
        Some(b'"') => {
            *i += 1;
            let mut s = String::new();
            loop {
                match b.get(*i) {
                    None => return Err("unterminated string".into()),
                    Some(b'"') => {
                        *i += 1;
                        return Ok(Bare::Str(s));
                    }
                    Some(b'\\') => {
                        let c = *b.get(*i + 1).ok_or("bad escape")?;
                        if c != b'"' && c != b'\\' {
                            return Err("bad escape".into());
                        }
                        s.push(char::from(c));
                        *i += 2;
                    }
                    Some(c) if (0x20..=0x7e).contains(c) => {
                        s.push(char::from(*c));
                        *i += 1;
                    }
                    Some(_) => return Err("bad string char".into()),
                }
            }
        }
        Some(b':') => {
            *i += 1;
            let start = *i;
            while b
                .get(*i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || b"+/=".contains(c))
            {
                *i += 1;
            }
            if b.get(*i) != Some(&b':') {
                return Err("unterminated byte sequence".into());
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&b[start..*i])
                .map_err(|e| format!("byte sequence: {e}"))?;
            *i += 1;
            Ok(Bare::Bytes(bytes))
        }
        Some(b'?') => {
            let v = match b.get(*i + 1) {
                Some(b'1') => true,
                Some(b'0') => false,
                _ => return Err("bad boolean".into()),
            };
            *i += 2;
            Ok(Bare::Bool(v))
        }
        Some(c) if c.is_ascii_digit() || *c == b'-' => {
            let start = *i;
            *i += 1;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            let text = std::str::from_utf8(&b[start..*i]).unwrap();
            if b.get(*i) == Some(&b'.') || *i - start > 15 + usize::from(*c == b'-') {
                return Err("not an sf-integer".into());
            }
            text.parse().map(Bare::Int).map_err(|e| e.to_string())
        }
        Some(c) if c.is_ascii_alphabetic() || *c == b'*' => {
            let start = *i;
            while b
                .get(*i)
                .is_some_and(|c| c.is_ascii_graphic() && !b"\"(),;<=>?@[\\]{}".contains(c))
            {
                *i += 1;
            }
            Ok(Bare::Token(
                String::from_utf8_lossy(&b[start..*i]).into_owned(),
            ))
        }
        _ => Err(format!("no bare item at {i}")),
    }
}

#[test]
fn the_field_parser_is_strict() {
    let item = &parse_list(r#""api";r=3;t=60;pk=:AAEC:"#).unwrap()[0];
    assert_eq!(item.name(), "api");
    assert_eq!((item.int("r"), item.int("t")), (3, 60));
    assert_eq!(item.bytes("pk"), [0, 1, 2]);
    for bad in [
        r#""api;r=3"#,
        r#""api";r=3;r=4"#,
        r#""api";R=3"#,
        r#""api";pk=:AAEC"#,
        r#""api";r=1.5"#,
        r#""api";r=3,"#,
        r#""api" x"#,
    ] {
        assert!(parse_list(bad).is_err(), "{bad}");
    }
}

// --- what the cases share

struct Keys {
    keys: ApiKeys,
    main: (String, String),
    main2: (String, String),
    standard: (String, String),
    standard2: (String, String),
}

async fn keys() -> Keys {
    let keys = ApiKeys::in_memory(Pepper::generate());
    let issue = |owner: &'static str, tier| {
        let keys = keys.clone();
        async move {
            let (key, record) = keys
                .issue(NewKey::new(owner, Environment::Live).tier(tier))
                .await
                .unwrap();
            (key.expose().to_owned(), record.id)
        }
    };
    Keys {
        main: issue("acme", KeyTier::Main).await,
        main2: issue("acme-2", KeyTier::Main).await,
        standard: issue("globex", KeyTier::Standard).await,
        standard2: issue("globex-2", KeyTier::Standard).await,
        keys,
    }
}

fn guard_of(keys: &ApiKeys) -> Guard {
    Guard::builder(
        AnyOf::new()
            .or(ApiKeyAuthenticator::new(keys.clone()))
            .or(Toy),
    )
    .build()
    .unwrap()
}

fn quota(name: &str, limit: u32, window: Duration) -> Quota {
    Quota::new(name, limit, window).unwrap()
}

fn key(k: &(String, String)) -> [(&'static str, &str); 1] {
    [("x-api-key", k.0.as_str())]
}

// --- the cases

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_at_least_one_second_for_sub_second_waits() {
    let k = keys().await;
    for attach in BOTH {
        let keys = k.keys.clone();
        // One request back every 500 ms, no burst: the next one waits less
        // than a second.
        let make: Make = Arc::new(move || {
            let limiter = RateLimiter::builder()
                .default_quota(quota("fast", 2, Duration::from_secs(1)).with_burst(1))
                .build();
            (guard_of(&keys), limiter)
        });
        let s = Servers::start(attach, make).await;
        let first = s.send("/whoami", &key(&k.main)).await;
        assert_eq!(first.status, 200, "{attach:?}");
        assert_eq!(first.policy, [r#""fast";q=2;w=1"#]);
        assert_eq!((first.remaining(), first.reset()), (0, 1), "{attach:?}");

        let second = s.send("/whoami", &key(&k.main)).await;
        assert_eq!(second.status, 429, "{attach:?}");
        assert_eq!(second.retry_after.as_deref(), Some("1"), "{attach:?}");
        assert_eq!((second.remaining(), second.reset()), (0, 1), "{attach:?}");
        assert_eq!(
            second.content_type.as_deref(),
            Some("application/problem+json")
        );
        let problem: serde_json::Value = serde_json::from_slice(&second.body).unwrap();
        assert_eq!(problem["status"], 429);
        assert_eq!(problem["type"], "urn:auth-stack:problem:rate-limited");

        // Once the cell is back (500 ms), requests go through again.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(s.send("/whoami", &key(&k.main)).await.status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_forwarded_for_does_not_change_the_anonymous_key() {
    let k = keys().await;
    for attach in BOTH {
        let keys = k.keys.clone();
        let make: Make = Arc::new(move || {
            let limiter = RateLimiter::builder()
                .anonymous_quota(quota("anon", 2, HOUR))
                .build();
            (guard_of(&keys), limiter)
        });
        let s = Servers::start(attach, make).await;
        let a = s.send("/open", &[]).await;
        assert_eq!((a.status, a.remaining()), (200, 1), "{attach:?}");
        let b = s
            .send("/open", &[("x-forwarded-for", "198.51.100.7")])
            .await;
        assert_eq!(
            (b.status, b.remaining()),
            (200, 0),
            "{attach:?}: one partition"
        );
        assert_eq!(a.limit_item().bytes("pk"), b.limit_item().bytes("pk"));
        for spoof in ["198.51.100.8", "203.0.113.1, 198.51.100.9", "not-an-ip"] {
            let c = s.send("/open", &[("x-forwarded-for", spoof)]).await;
            assert_eq!(c.status, 429, "{attach:?}: {spoof}");
            assert_eq!(c.retry_after.as_deref(), Some("1800"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_a_trusted_proxy_forwarded_for_picks_the_client() {
    let k = keys().await;
    for attach in BOTH {
        let keys = k.keys.clone();
        let make: Make = Arc::new(move || {
            let limiter = RateLimiter::builder()
                .anonymous_quota(quota("anon", 1, HOUR))
                .trusted_proxies(TrustedProxies::new(["127.0.0.1"]).unwrap())
                .build();
            (guard_of(&keys), limiter)
        });
        let s = Servers::start(attach, make).await;
        let a = [("x-forwarded-for", "198.51.100.7")];
        let b = [("x-forwarded-for", "198.51.100.8")];
        let a1 = s.send("/open", &a).await;
        assert_eq!(a1.status, 200, "{attach:?}");
        assert_eq!(s.send("/open", &a).await.status, 429, "{attach:?}");
        let b1 = s.send("/open", &b).await;
        assert_eq!(b1.status, 200, "{attach:?}: another client");
        assert_ne!(a1.limit_item().bytes("pk"), b1.limit_item().bytes("pk"));
        // The proxy itself (no header) is a client of its own.
        assert_eq!(s.send("/open", &[]).await.status, 200, "{attach:?}");
        // Left of the client's address, anything may be written.
        let spoof = [("x-forwarded-for", "203.0.113.5, 198.51.100.7")];
        assert_eq!(s.send("/open", &spoof).await.status, 429, "{attach:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attempts_are_keyed_by_address_whatever_forwarded_for_says() {
    let k = keys().await;
    let bad = [("x-api-key", "ask_live_nonsense")];
    for attach in BOTH {
        let keys = k.keys.clone();
        let make: Make = Arc::new(move || {
            let guard = Guard::builder(ApiKeyAuthenticator::new(keys.clone()))
                .failed_attempts(FailedAttempts::new(2, HOUR))
                .build()
                .unwrap();
            (guard, RateLimiter::builder().build())
        });
        let s = Servers::start(attach, make).await;
        assert_eq!(s.send("/whoami", &bad).await.status, 401);
        let spoofed = [
            ("x-api-key", "ask_live_nonsense"),
            ("x-forwarded-for", "198.51.100.7"),
        ];
        assert_eq!(s.send("/whoami", &spoofed).await.status, 401);
        let blocked = s.send("/whoami", &bad).await;
        assert_eq!(blocked.status, 429, "{attach:?}");
        assert!(blocked.retry_after.is_some());
        // Blocked: spoofing another address changes nothing, and even a
        // good key is not looked at.
        for xff in ["198.51.100.8", "10.0.0.1, 198.51.100.9"] {
            let again = s
                .send(
                    "/whoami",
                    &[("x-api-key", "ask_live_nonsense"), ("x-forwarded-for", xff)],
                )
                .await;
            assert_eq!(again.status, 429, "{attach:?}: {xff}");
        }
        let good = [
            ("x-api-key", k.main.0.as_str()),
            ("x-forwarded-for", "198.51.100.8"),
        ];
        assert_eq!(s.send("/whoami", &good).await.status, 429, "{attach:?}");
    }

    // Behind a trusted proxy, the forwarded address is the client.
    for attach in BOTH {
        let keys = k.keys.clone();
        let make: Make = Arc::new(move || {
            let failed = FailedAttempts::new(2, HOUR)
                .trusted_proxies(TrustedProxies::new(["127.0.0.1"]).unwrap());
            let guard = Guard::builder(ApiKeyAuthenticator::new(keys.clone()))
                .failed_attempts(failed)
                .build()
                .unwrap();
            (guard, RateLimiter::builder().build())
        });
        let s = Servers::start(attach, make).await;
        let from =
            |xff: &'static str| [("x-api-key", "ask_live_nonsense"), ("x-forwarded-for", xff)];
        assert_eq!(s.send("/whoami", &from("198.51.100.7")).await.status, 401);
        assert_eq!(s.send("/whoami", &from("198.51.100.7")).await.status, 401);
        assert_eq!(s.send("/whoami", &from("198.51.100.7")).await.status, 429);
        assert_eq!(
            s.send("/whoami", &from("198.51.100.8")).await.status,
            401,
            "{attach:?}: another client is not blocked"
        );
        let good = [
            ("x-api-key", k.main.0.as_str()),
            ("x-forwarded-for", "198.51.100.8"),
        ];
        assert_eq!(s.send("/whoami", &good).await.status, 200, "{attach:?}");
    }
}

fn tiered(keys: &ApiKeys) -> (Guard, RateLimiter) {
    let limiter = RateLimiter::builder()
        .role_quota("api_key:main", quota("main", 4, HOUR))
        .role_quota("api_key:standard", quota("standard", 2, HOUR))
        .build();
    (guard_of(keys), limiter)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn main_and_standard_keys_hit_their_own_quotas() {
    let k = keys().await;
    for attach in BOTH {
        let keys = k.keys.clone();
        let s = Servers::start(attach, Arc::new(move || tiered(&keys))).await;
        for _ in 0..2 {
            let ok = s.send("/whoami", &key(&k.standard)).await;
            assert_eq!(ok.status, 200, "{attach:?}");
            assert_eq!(ok.policy, [r#""standard";q=2;w=3600"#]);
        }
        assert_eq!(s.send("/whoami", &key(&k.standard)).await.status, 429);
        // Main still gets through, until its own 4.
        for left in (0..4).rev() {
            let ok = s.send("/whoami", &key(&k.main)).await;
            assert_eq!((ok.status, ok.remaining()), (200, left), "{attach:?}");
            assert_eq!(ok.policy, [r#""main";q=4;w=3600"#]);
        }
        let refused = s.send("/whoami", &key(&k.main)).await;
        assert_eq!(refused.status, 429, "{attach:?}");
        assert_eq!(refused.policy, [r#""main";q=4;w=3600"#]);
        assert_eq!(refused.retry_after.as_deref(), Some("900"));
        // Another key of each tier has its own partition.
        for (other, quota) in [(&k.standard2, 2), (&k.main2, 4)] {
            for _ in 0..quota {
                assert_eq!(
                    s.send("/whoami", &key(other)).await.status,
                    200,
                    "{attach:?}"
                );
            }
            assert_eq!(s.send("/whoami", &key(other)).await.status, 429);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fields_are_well_formed_count_down_and_never_name_the_key() {
    let k = keys().await;
    for attach in BOTH {
        let keys = k.keys.clone();
        let s = Servers::start(attach, Arc::new(move || tiered(&keys))).await;
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.push(s.send("/whoami", &key(&k.main)).await);
        }
        let statuses: Vec<u16> = seen.iter().map(|a| a.status).collect();
        assert_eq!(statuses, [200, 200, 200, 200, 429], "{attach:?}");
        let pk = seen[0].limit_item().bytes("pk");
        for (i, a) in seen.iter().enumerate() {
            let policy = a.policy_item();
            assert_eq!(policy.name(), "main");
            assert_eq!(policy.keys(), ["q", "w"]);
            assert_eq!((policy.int("q"), policy.int("w")), (4, 3600));
            let item = a.limit_item();
            assert_eq!(item.name(), "main", "the policy it reports on");
            assert_eq!(item.keys(), ["r", "t", "pk"]);
            // r counts down to 0 and stays there when refused.
            assert_eq!(item.int("r"), [3, 2, 1, 0, 0][i], "{attach:?} request {i}");
            // t: when the quota is whole again (15 minutes per request
            // used), or, refused, when the next request may be sent.
            assert_eq!(
                item.int("t"),
                [900, 1800, 2700, 3600, 900][i],
                "{attach:?} request {i}"
            );
            assert_eq!(item.bytes("pk"), pk, "one partition, one pk");
            // The partition key is a hash: neither the key nor its id, in
            // the field or in the decoded bytes.
            for secret in [&k.main.0, &k.main.1] {
                let field = a.limit.join(",");
                assert!(!field.contains(secret.as_str()), "{field}");
                let decoded = String::from_utf8_lossy(&item.bytes("pk")).into_owned();
                assert!(!decoded.contains(secret.as_str()));
                let b64 = base64::engine::general_purpose::STANDARD.encode(secret.as_bytes());
                assert!(!field.contains(&b64[..12]), "{field}");
            }
        }
        assert!(pk.len() >= 12, "a hash, not a counter: {pk:?}");
        let other = s.send("/whoami", &key(&k.main2)).await;
        assert_ne!(
            other.limit_item().bytes("pk"),
            pk,
            "another key, another pk"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_never_refuses_but_still_reports() {
    let k = keys().await;
    for attach in BOTH {
        let keys = k.keys.clone();
        let make: Make = Arc::new(move || {
            let limiter = RateLimiter::builder()
                .default_quota(quota("api", 1, HOUR))
                .anonymous_quota(quota("anon", 1, HOUR))
                .dry_run(true)
                .build();
            (guard_of(&keys), limiter)
        });
        let s = Servers::start(attach, make).await;
        for i in 0..5 {
            let a = s.send("/whoami", &key(&k.standard)).await;
            assert_eq!(a.status, 200, "{attach:?} request {i}");
            assert_eq!(a.retry_after, None);
            assert_eq!(a.policy, [r#""api";q=1;w=3600"#]);
            let item = a.limit_item();
            assert_eq!(item.int("r"), 0);
            assert!(item.int("t") >= 1);
            let anon = s.send("/open", &[]).await;
            assert_eq!(anon.status, 200, "{attach:?} anonymous request {i}");
            assert_eq!(anon.policy, [r#""anon";q=1;w=3600"#]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exempt_role_is_not_limited() {
    let k = keys().await;
    for attach in BOTH {
        let keys = k.keys.clone();
        let make: Make = Arc::new(move || {
            let limiter = RateLimiter::builder()
                .exempt_role("ops")
                .default_quota(quota("api", 1, HOUR))
                .build();
            (guard_of(&keys), limiter)
        });
        let s = Servers::start(attach, make).await;
        for _ in 0..10 {
            let ops = s.send("/whoami", &[(TOY_HEADER, "toy-ops")]).await;
            assert_eq!(ops.status, 200, "{attach:?}");
            assert!(ops.policy.is_empty() && ops.limit.is_empty(), "{ops:?}");
        }
        let dev = [(TOY_HEADER, "toy-dev")];
        assert_eq!(s.send("/whoami", &dev).await.status, 200);
        assert_eq!(s.send("/whoami", &dev).await.status, 429, "{attach:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_requests_get_exactly_the_burst() {
    let k = keys().await;
    for attach in BOTH {
        let keys = k.keys.clone();
        let make: Make = Arc::new(move || {
            let limiter = RateLimiter::builder()
                .default_quota(quota("api", 5, HOUR))
                .build();
            (guard_of(&keys), limiter)
        });
        let s = Servers::start(attach, make).await;
        for (name, addr) in [("axum", s.axum), ("actix", s.actix)] {
            let tasks: Vec<_> = (0..50)
                .map(|_| {
                    let client = s.client.clone();
                    let key = k.standard.0.clone();
                    tokio::spawn(async move {
                        send(&client, addr, "/whoami", &[("x-api-key", &key)]).await
                    })
                })
                .collect();
            let mut ok = 0;
            let mut refused = 0;
            let mut remaining = Vec::new();
            for t in tasks {
                let a = t.await.unwrap();
                match a.status {
                    200 => {
                        ok += 1;
                        remaining.push(a.remaining());
                    }
                    429 => refused += 1,
                    other => panic!("{name} {attach:?}: {other}"),
                }
            }
            assert_eq!((ok, refused), (5, 45), "{name} {attach:?}");
            remaining.sort_unstable();
            assert_eq!(
                remaining,
                [0, 1, 2, 3, 4],
                "{name} {attach:?}: each unit once"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_the_same_whichever_way_the_limiter_is_attached() {
    let k = keys().await;
    let mut refusals = Vec::new();
    for attach in BOTH {
        let keys = k.keys.clone();
        let s = Servers::start(attach, Arc::new(move || tiered(&keys))).await;
        let mut answers = Vec::new();
        for _ in 0..3 {
            answers.push(s.send("/whoami", &key(&k.standard)).await);
        }
        let refused = answers.pop().unwrap();
        assert_eq!(refused.status, 429);
        // `send` has checked axum against actix; here both attachments.
        refusals.push((answers, refused));
    }
    let (guard_ok, guard_refused) = &refusals[0];
    let (layer_ok, layer_refused) = &refusals[1];
    assert_eq!(guard_refused, layer_refused);
    assert_eq!(guard_ok, layer_ok);
    assert_eq!(guard_refused.retry_after.as_deref(), Some("1800"));
    assert_eq!(guard_refused.policy, [r#""standard";q=2;w=3600"#]);
    assert_eq!(
        String::from_utf8_lossy(&guard_refused.body),
        r#"{"type":"urn:auth-stack:problem:rate-limited","title":"Too many requests","status":429,"detail":"rate limit exceeded; try again later"}"#
    );
}
