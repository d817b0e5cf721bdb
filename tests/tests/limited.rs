//! `/v1/limited` on the demo (DEMO.md): 5 requests per 60 s per identity,
//! burst 5, and `RateLimit-Policy`/`RateLimit` on every answer, allowed or
//! refused, on both adapters, the same byte for byte.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use auth_conformance::{Pair, basic};
use auth_demo::Running;

/// Status, `Retry-After`, the two fields, content type and body.
#[derive(Debug, PartialEq, Eq)]
struct Limited {
    status: u16,
    retry_after: Option<u64>,
    policy: Option<String>,
    limit: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

async fn get(pair: &Pair, server: &Running, tls: bool, auth: &[(&str, String)]) -> Limited {
    let base = if tls {
        format!("https://localhost:{}", server.https.port())
    } else {
        format!("http://{}", server.http)
    };
    let mut req = pair.client().get(format!("{base}/v1/limited"));
    for (name, value) in auth {
        req = req.header(*name, value);
    }
    let res = req.send().await.unwrap();
    let header = |name: &str| {
        let mut all = res.headers().get_all(name).iter();
        let one = all.next().map(|v| v.to_str().unwrap().to_owned());
        assert!(all.next().is_none(), "{name} sent twice");
        one
    };
    Limited {
        status: res.status().as_u16(),
        retry_after: header("retry-after").map(|v| v.parse().unwrap()),
        policy: header("ratelimit-policy"),
        limit: header("ratelimit"),
        content_type: header("content-type"),
        body: res.bytes().await.unwrap().to_vec(),
    }
}

/// `r` and `t` of a `RateLimit` field `"limited";r=..;t=..;pk=:..:`.
fn r_and_t(field: &str) -> (u32, u64) {
    let mut params = field.split(';');
    assert_eq!(params.next(), Some("\"limited\""), "{field}");
    let mut r = None;
    let mut t = None;
    let mut pk = None;
    for p in params {
        let (name, value) = p.split_once('=').unwrap();
        match name {
            "r" => r = Some(value.parse().unwrap()),
            "t" => t = Some(value.parse().unwrap()),
            "pk" => pk = Some(value),
            other => panic!("unexpected parameter {other} in {field}"),
        }
    }
    let pk = pk.expect("pk");
    assert!(
        pk.len() > 2 && pk.starts_with(':') && pk.ends_with(':'),
        "{field}"
    );
    (r.unwrap(), t.unwrap())
}

/// Uses up one caller's quota on one server: five 200s counting down, then
/// 429s; returns the first refusal.
async fn exhaust(pair: &Pair, server: &Running, tls: bool, auth: &[(&str, String)]) -> Limited {
    for left in (0..5).rev() {
        let a = get(pair, server, tls, auth).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.policy.as_deref(), Some("\"limited\";q=5;w=60"));
        let (r, t) = r_and_t(a.limit.as_deref().unwrap());
        assert_eq!(r, left);
        // One unit comes back every 12 s.
        assert!((1..=60).contains(&t), "{a:?}");
        assert_eq!(a.retry_after, None);
    }
    let refused = get(pair, server, tls, auth).await;
    assert_eq!(refused.status, 429, "{refused:?}");
    let wait = refused.retry_after.unwrap();
    assert!((1..=12).contains(&wait), "{refused:?}");
    assert_eq!(refused.policy.as_deref(), Some("\"limited\";q=5;w=60"));
    let (r, t) = r_and_t(refused.limit.as_deref().unwrap());
    assert_eq!(r, 0);
    assert!(t.abs_diff(wait) <= 1, "{refused:?}");
    assert_eq!(
        refused.content_type.as_deref(),
        Some("application/problem+json")
    );
    refused
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_per_identity_then_429_with_the_fields_on_both_adapters() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let c = pair.credentials().clone();
    let main = [("x-api-key", c.api_key("main").to_owned())];
    let standard = [("authorization", format!("Bearer {}", c.api_key("standard")))];
    let alice = [("authorization", basic("alice", c.password("alice")))];

    let mut refusals = Vec::new();
    for server in [&pair.axum, &pair.actix] {
        let refused = exhaust(&pair, server, false, &main).await;
        // Still refused: a refusal takes nothing.
        let again = get(&pair, server, false, &main).await;
        assert_eq!(again.status, 429);
        // The main key's quota is its own: the standard key (bearer) and a
        // Basic user (TLS) still have theirs.
        exhaust(&pair, server, false, &standard).await;
        exhaust(&pair, server, true, &alice).await;
        refusals.push(refused);
    }
    // The same refusal on both adapters, byte for byte but for the second
    // the window has moved on between them.
    let (a, b) = (&refusals[0], &refusals[1]);
    assert_eq!(
        (a.status, &a.policy, &a.content_type, &a.body),
        (b.status, &b.policy, &b.content_type, &b.body)
    );
    let pk = |l: &Limited| {
        l.limit
            .as_deref()
            .unwrap()
            .split(";pk=")
            .nth(1)
            .unwrap()
            .to_owned()
    };
    assert_eq!(pk(a), pk(b));
    // The partition hash is not the key, nor its id.
    let key = c.api_key("main");
    assert!(!pk(a).contains(key) && !a.limit.as_deref().unwrap().contains(&key[..12]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_before_the_limit_carry_no_fields_and_take_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let c = pair.credentials().clone();
    for server in [&pair.axum, &pair.actix] {
        // No credential, a revoked key: refused by authentication, with no
        // rate-limit fields (nobody to count against).
        for auth in [vec![], vec![("x-api-key", c.api_key("revoked").to_owned())]] {
            for _ in 0..7 {
                let a = get(&pair, server, false, &auth).await;
                assert_eq!(a.status, 401, "{a:?}");
                assert_eq!((a.policy.as_deref(), a.limit.as_deref()), (None, None));
            }
        }
        // Other routes are not limited.
        for _ in 0..7 {
            let res = pair
                .client()
                .get(format!("http://{}/v1/whoami", server.http))
                .header("x-api-key", c.api_key("main"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            assert!(res.headers().get("ratelimit").is_none());
        }
        // The main key's quota is whole.
        exhaust(
            &pair,
            server,
            false,
            &[("x-api-key", c.api_key("main").to_owned())],
        )
        .await;
    }
}
