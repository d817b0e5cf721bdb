//! Outbound credentials. `ClientCredentials` against a token endpoint on
//! 127.0.0.1 (an axum server that answers as told): the request it sends,
//! one fetch for many concurrent callers (failures shared too), one
//! refresh for many refusals of one stale token, refresh ahead of expiry
//! in the background, `expires_in` read sanely, and every refusal a clear
//! error that holds no secret. `StaticSource`: the environment, a file
//! changed on disk, a file that breaks, and missing ones.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_core::outbound::{
    ClientCredentials, CredentialHeader, OutboundErrorKind, SecretFrom, StaticSource, TokenSource,
};
use auth_core::{ConfigErrorKind, Secret};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;

const SECRET: &str = "p@ss word:secret";

#[derive(Clone, Debug)]
enum Mode {
    /// A token, with this `expires_in` (JSON; `None` leaves it out).
    Token(Option<serde_json::Value>),
    /// An error status with this body.
    Error(u16, &'static str),
    NotJson,
    Huge,
    NoToken,
    TokenType(&'static str),
    /// Sleeps longer than any client waits.
    Hang,
    /// A redirect to another origin.
    RedirectAway,
}

struct As {
    hits: AtomicUsize,
    mode: Mutex<Mode>,
    delay: Mutex<Duration>,
    /// The Authorization header, content type and body of each request.
    seen: Mutex<Vec<(String, String, String)>>,
}

impl As {
    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn token(State(state): State<Arc<As>>, headers: HeaderMap, body: String) -> Response {
    let n = state.hits.fetch_add(1, Ordering::SeqCst) + 1;
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    state.seen.lock().unwrap().push((
        text(header::AUTHORIZATION),
        text(header::CONTENT_TYPE),
        body,
    ));
    let delay = *state.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let mode = state.mode.lock().unwrap().clone();
    let json = |v: serde_json::Value| {
        ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
    };
    match mode {
        Mode::Token(expires_in) => {
            let mut answer =
                serde_json::json!({"access_token": format!("tok-{n}"), "token_type": "Bearer"});
            if let Some(e) = expires_in {
                answer["expires_in"] = e;
            }
            json(answer)
        }
        Mode::Error(status, body) => {
            (StatusCode::from_u16(status).unwrap(), body.to_owned()).into_response()
        }
        Mode::NotJson => "<html>hello</html>".into_response(),
        Mode::Huge => json(
            serde_json::json!({"access_token": "t", "token_type": "Bearer", "x": "a".repeat(100_000)}),
        ),
        Mode::NoToken => json(serde_json::json!({"token_type": "Bearer", "expires_in": 60})),
        Mode::TokenType(t) => json(serde_json::json!({"access_token": "t", "token_type": t})),
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "late".into_response()
        }
        Mode::RedirectAway => (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, "http://127.0.0.1:9/token")],
        )
            .into_response(),
    }
}

async fn start_as(mode: Mode) -> (SocketAddr, Arc<As>) {
    let state = Arc::new(As {
        hits: AtomicUsize::new(0),
        mode: Mutex::new(mode),
        delay: Mutex::new(Duration::ZERO),
        seen: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .route("/token", post(token))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, state)
}

fn source(addr: SocketAddr) -> auth_core::outbound::ClientCredentialsBuilder {
    ClientCredentials::builder(format!("http://{addr}/token"), "svc", Secret::from(SECRET))
        .allow_plain_http_loopback()
}

fn bearer(token: &str) -> CredentialHeader {
    CredentialHeader::bearer(&Secret::from(token)).unwrap()
}

/// Waits (bounded) until `f` holds.
async fn eventually(what: &str, f: impl Fn() -> bool) {
    for _ in 0..100 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never: {what}");
}

#[tokio::test]
async fn the_request_is_the_client_credentials_grant_with_basic_auth() {
    let (addr, state) = start_as(Mode::Token(Some(3600.into()))).await;
    let cc = ClientCredentials::builder(
        format!("http://{addr}/token"),
        "svc:1",
        Secret::from(SECRET),
    )
    .allow_plain_http_loopback()
    .scope("read write:all")
    .resource("https://api.example/")
    .resource("urn:example:reports")
    .audience("https://aud.example")
    .build()
    .unwrap();
    let got = cc.credential().await.unwrap();
    assert_eq!(got, bearer("tok-1"));
    assert_eq!(got.name(), "authorization");
    let seen = state.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let (auth, content_type, body) = &seen[0];
    // RFC 6749 §2.3.1: id and secret form-encoded, then joined.
    let pair = "svc%3A1:p%40ss+word%3Asecret";
    assert_eq!(
        auth,
        &format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    );
    assert_eq!(content_type, "application/x-www-form-urlencoded");
    assert_eq!(
        body,
        "grant_type=client_credentials&scope=read+write%3Aall\
         &resource=https%3A%2F%2Fapi.example%2F&resource=urn%3Aexample%3Areports\
         &audience=https%3A%2F%2Faud.example"
    );
    // Held: no second request.
    assert_eq!(cc.credential().await.unwrap(), got);
    assert_eq!((state.hits(), cc.fetch_count()), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_callers_share_one_fetch() {
    let (addr, state) = start_as(Mode::Token(Some(3600.into()))).await;
    *state.delay.lock().unwrap() = Duration::from_millis(200);
    let cc = source(addr).build().unwrap();
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let cc = cc.clone();
            tokio::spawn(async move { cc.credential().await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), bearer("tok-1"));
    }
    assert_eq!((state.hits(), cc.fetch_count()), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_refusals_of_one_stale_token_cause_one_refresh() {
    let (addr, state) = start_as(Mode::Token(Some(3600.into()))).await;
    let cc = source(addr).build().unwrap();
    let stale = cc.credential().await.unwrap();
    *state.delay.lock().unwrap() = Duration::from_millis(200);
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let (cc, stale) = (cc.clone(), stale.clone());
            tokio::spawn(async move {
                cc.invalidate(&stale).await;
                cc.credential().await
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), bearer("tok-2"));
    }
    assert_eq!((state.hits(), cc.fetch_count()), (2, 2));
    // A late refusal of the stale token changes nothing.
    cc.invalidate(&stale).await;
    assert_eq!(cc.credential().await.unwrap(), bearer("tok-2"));
    assert_eq!(state.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_share_a_failed_fetch_and_the_next_caller_tries_again() {
    let (addr, state) = start_as(Mode::Error(500, "oops")).await;
    *state.delay.lock().unwrap() = Duration::from_millis(200);
    let cc = source(addr).build().unwrap();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let cc = cc.clone();
            tokio::spawn(async move { cc.credential().await })
        })
        .collect();
    for call in calls {
        let err = call.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), OutboundErrorKind::Refused { status: 500 });
    }
    assert_eq!(state.hits(), 1);
    state.set(Mode::Token(Some(60.into())));
    assert_eq!(cc.credential().await.unwrap(), bearer("tok-2"));
    assert_eq!((state.hits(), cc.fetch_count()), (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_refreshed_in_the_background_ahead_of_expiry() {
    // Two seconds: the refresh starts when 1 s (half the lifetime, capping
    // the 30 s margin) plus up to 0.5 s of jitter is left.
    let (addr, state) = start_as(Mode::Token(Some(2.into()))).await;
    let cc = source(addr).build().unwrap();
    let first = cc.credential().await.unwrap();
    assert_eq!(first, bearer("tok-1"));
    assert_eq!(cc.credential().await.unwrap(), first);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // In the window: callers still get the held token at once, and one
    // refresh starts however many call.
    *state.delay.lock().unwrap() = Duration::from_millis(200);
    for _ in 0..50 {
        assert_eq!(cc.credential().await.unwrap(), first);
    }
    eventually("the background refresh", || cc.fetch_count() == 2).await;
    let mut fresh = false;
    for _ in 0..100 {
        if cc.credential().await.unwrap() == bearer("tok-2") {
            fresh = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fresh, "the refreshed token is never used");
    assert_eq!((state.hits(), cc.fetch_count()), (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_background_refresh_keeps_the_token_until_it_expires() {
    let (addr, state) = start_as(Mode::Token(Some(2.into()))).await;
    let cc = source(addr).build().unwrap();
    let first = cc.credential().await.unwrap();
    state.set(Mode::Error(503, r#"{"error":"temporarily_unavailable"}"#));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(cc.credential().await.unwrap(), first);
    eventually("the failed refresh", || state.hits() == 2).await;
    assert_eq!(cc.credential().await.unwrap(), first);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // Expired now: the caller waits for a fetch, and sees it fail.
    let err = cc.credential().await.unwrap_err();
    assert_eq!(err.kind(), OutboundErrorKind::Refused { status: 503 });
    assert_eq!(err.oauth_error(), Some("temporarily_unavailable"));
    state.set(Mode::Token(Some(60.into())));
    assert!(cc.credential().await.is_ok());
}

#[tokio::test]
async fn expires_in_is_read_sanely() {
    // (expires_in, whether the token is held for a second call)
    let cases: [(Option<serde_json::Value>, bool); 8] = [
        (Some(3600.into()), true),
        (Some("3600".into()), true),
        (None, true),
        (Some(serde_json::json!(u64::MAX)), true),
        (Some(serde_json::json!(1e300)), true),
        (Some("soon".into()), true),
        (Some(0.into()), false),
        (Some((-5).into()), false),
    ];
    for (expires_in, held) in cases {
        let (addr, state) = start_as(Mode::Token(expires_in.clone())).await;
        let cc = source(addr).build().unwrap();
        assert_eq!(cc.credential().await.unwrap(), bearer("tok-1"));
        let again = cc.credential().await.unwrap();
        let want = if held { (1, "tok-1") } else { (2, "tok-2") };
        assert_eq!(
            (state.hits(), again),
            (want.0, bearer(want.1)),
            "{expires_in:?}"
        );
    }
}

#[tokio::test]
async fn refusals_are_clear_errors_that_hold_no_secret() {
    let (addr, state) = start_as(Mode::NotJson).await;
    let cases = [
        (
            Mode::Error(401, r#"{"error":"invalid_client"}"#),
            OutboundErrorKind::Refused { status: 401 },
            Some("invalid_client"),
        ),
        (
            Mode::Error(400, r#"{"error":"invalid_scope","error_description":"no"}"#),
            OutboundErrorKind::Refused { status: 400 },
            Some("invalid_scope"),
        ),
        (
            Mode::Error(500, "oops"),
            OutboundErrorKind::Refused { status: 500 },
            None,
        ),
        (Mode::NotJson, OutboundErrorKind::BadResponse, None),
        (Mode::Huge, OutboundErrorKind::BadResponse, None),
        (Mode::NoToken, OutboundErrorKind::BadResponse, None),
        (
            Mode::TokenType("DPoP"),
            OutboundErrorKind::BadResponse,
            None,
        ),
        (Mode::Hang, OutboundErrorKind::Timeout, None),
        (Mode::RedirectAway, OutboundErrorKind::Unreachable, None),
    ];
    for (mode, kind, code) in cases {
        state.set(mode.clone());
        let cc = source(addr)
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let err = cc.credential().await.unwrap_err();
        assert_eq!((err.kind(), err.oauth_error()), (kind, code), "{mode:?}");
        let shown = format!("{err} {err:?}");
        let basic = base64::engine::general_purpose::STANDARD.encode("svc:p%40ss+word%3Asecret");
        for secret in [SECRET, "p@ss", "p%40ss", &basic] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
    // Nothing listens there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = source(closed)
        .build()
        .unwrap()
        .credential()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), OutboundErrorKind::Unreachable);
    assert!(err.to_string().contains("unreachable"), "{err}");
}

#[tokio::test]
async fn a_variable_is_read_when_the_source_is_built() {
    // Cargo sets this for the tests it runs (setting one here would need
    // `unsafe`, which the workspace forbids).
    let want = env!("CARGO_PKG_NAME");
    let source =
        StaticSource::api_key("X-Api-Key", SecretFrom::Env("CARGO_PKG_NAME".into())).unwrap();
    let got = source.credential().await.unwrap();
    assert_eq!(
        (got.name(), got.value().expose()),
        ("x-api-key", want.as_bytes())
    );
    let err = StaticSource::bearer(SecretFrom::Env("AUTH_STACK_TEST_SURELY_UNSET_VAR".into()))
        .unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::InvalidValue);
    assert!(
        err.to_string()
            .contains("AUTH_STACK_TEST_SURELY_UNSET_VAR is not set")
    );
}

#[tokio::test]
async fn a_changed_file_is_picked_up_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "first-token\n").unwrap();
    let source = StaticSource::bearer(SecretFrom::File(path.clone())).unwrap();
    assert_eq!(
        source.credential().await.unwrap().value().expose(),
        b"Bearer first-token"
    );
    std::fs::write(&path, "second-token-x\r\n").unwrap();
    // Looked at no more than once a second.
    assert_eq!(
        source.credential().await.unwrap().value().expose(),
        b"Bearer first-token"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        source.credential().await.unwrap().value().expose(),
        b"Bearer second-token-x"
    );
}

#[tokio::test]
async fn a_broken_file_leaves_the_last_good_value_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("password");
    std::fs::write(&path, "pw-1").unwrap();
    let source = StaticSource::basic("ada", SecretFrom::File(path.clone()))
        .unwrap()
        .check_interval(Duration::ZERO);
    let basic = |pw: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("ada:{pw}"))
        )
    };
    let value = || async {
        String::from_utf8(source.credential().await.unwrap().value().expose().to_vec()).unwrap()
    };
    assert_eq!(value().await, basic("pw-1"));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(value().await, basic("pw-1"));
    std::fs::write(&path, "\n").unwrap();
    assert_eq!(value().await, basic("pw-1"));
    std::fs::write(&path, "pw-2 with spaces\n").unwrap();
    assert_eq!(value().await, basic("pw-2 with spaces"));

    let key = dir.path().join("key");
    std::fs::write(&key, "k-1").unwrap();
    let source = StaticSource::api_key("x-api-key", SecretFrom::File(key.clone()))
        .unwrap()
        .check_interval(Duration::ZERO);
    // A key that cannot be sent in a header is not taken up.
    std::fs::write(&key, "k-2\r\nx-injected: 1").unwrap();
    assert_eq!(source.credential().await.unwrap().value().expose(), b"k-1");
}

#[tokio::test]
async fn a_refusal_makes_the_next_request_read_the_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "old-1").unwrap();
    let source = StaticSource::bearer(SecretFrom::File(path.clone()))
        .unwrap()
        .check_interval(Duration::from_secs(3600));
    let sent = source.credential().await.unwrap();
    std::fs::write(&path, "new-1").unwrap();
    assert_eq!(source.credential().await.unwrap(), sent);
    // A refusal of something else (an older value) does not force a read.
    source.invalidate(&bearer("older")).await;
    assert_eq!(source.credential().await.unwrap(), sent);
    source.invalidate(&sent).await;
    assert_eq!(source.credential().await.unwrap(), bearer("new-1"));
}

#[test]
fn missing_and_unusable_secrets_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = StaticSource::bearer(SecretFrom::File(dir.path().join("nope"))).unwrap_err();
    assert_eq!(missing.kind(), ConfigErrorKind::Io);
    assert!(missing.to_string().contains("nope"), "{missing}");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let err = StaticSource::bearer(SecretFrom::File(empty)).unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::InvalidValue);
    let spaced = SecretFrom::Value(Secret::from("has a space"));
    assert!(StaticSource::bearer(spaced.clone()).is_err());
    assert!(StaticSource::api_key("x-key", spaced.clone()).is_err());
    assert!(StaticSource::basic("ada", spaced).is_ok());
    let ok = || SecretFrom::Value(Secret::from("k"));
    assert!(StaticSource::api_key("bad header", ok()).is_err());
    assert!(StaticSource::basic("a:b", ok()).is_err());
    let shown = format!(
        "{:?} {:?}",
        StaticSource::api_key("x-key", SecretFrom::Value(Secret::from("topsecret"))).unwrap(),
        SecretFrom::Value(Secret::from("topsecret"))
    );
    assert!(!shown.contains("topsecret"), "{shown}");
}
