#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::authenticate::BoxFuture;
use crate::error::{StoreError, StoreErrorKind};
use crate::limits::Limit;
use crate::request::SimpleRequest;
use crate::store::{Count, CounterStore, MemoryRateLimits, RateDecision, RateLimitStore};
use crate::{AuthErrorKind, AuthMethod, Identity};

fn quota(name: &str, limit: u32, secs: u64) -> Quota {
    Quota::new(name, limit, Duration::from_secs(secs)).unwrap()
}

fn key(id: &str, tier: &str) -> Identity {
    Identity::new("acme", AuthMethod::ApiKey)
        .with_key_id(id)
        .with_roles([tier])
}

fn head() -> SimpleRequest {
    SimpleRequest::get("/").peer("203.0.113.9:4000".parse().unwrap())
}

/// Runs the limiter once: Ok with headers, or the error with headers.
async fn run(
    limiter: &RateLimiter,
    head: &SimpleRequest,
    id: Option<&Identity>,
) -> (Result<(), AuthError>, ResponseHeaders) {
    let mut headers = ResponseHeaders::new();
    let out = limiter.check(head, id, &mut headers).await;
    (out, headers)
}

fn field<'a>(headers: &'a ResponseHeaders, name: &str) -> &'a str {
    headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
}

/// `r` and `t` of a `RateLimit` item.
fn remaining_and_reset(headers: &ResponseHeaders) -> (u32, u64) {
    let v = field(headers, "ratelimit");
    let mut r = None;
    let mut t = None;
    for param in v.split(';').skip(1) {
        if let Some(x) = param.strip_prefix("r=") {
            r = Some(x.parse().unwrap());
        }
        if let Some(x) = param.strip_prefix("t=") {
            t = Some(x.parse().unwrap());
        }
    }
    (r.unwrap(), t.unwrap())
}

#[test]
fn quotas_are_checked_when_made() {
    assert!(Quota::new("a", 0, Duration::from_secs(1)).is_err());
    assert!(Quota::new("", 1, Duration::from_secs(1)).is_err());
    assert!(Quota::new(&"n".repeat(65), 1, Duration::from_secs(1)).is_err());
    assert!(Quota::new(&"n".repeat(64), 1, Duration::from_secs(1)).is_ok());
    assert!(Quota::new("a\"b", 1, Duration::from_secs(1)).is_err());
    assert!(Quota::new("a;b", 1, Duration::from_secs(1)).is_err());
    assert!(Quota::new("a-b_c.d:e9", 1, Duration::from_secs(1)).is_ok());
    assert!(Quota::new("a", 1, Duration::from_micros(999)).is_err());
    assert!(Quota::new("a", 1, Duration::from_millis(1)).is_ok());
    assert!(Quota::new("a", 1, Duration::from_secs(366 * 86_400)).is_ok());
    assert!(Quota::new("a", 1, Duration::from_secs(366 * 86_400 + 1)).is_err());
    // Finer than a nanosecond per unit.
    assert!(Quota::new("a", u32::MAX, Duration::from_millis(1)).is_err());
    assert!(Quota::new("a", 1_000_000, Duration::from_millis(1)).is_ok());

    let q = quota("api", 5, 60);
    assert_eq!(q.burst(), 5);
    assert_eq!(q.limit(), 5);
    assert_eq!(q.window(), Duration::from_secs(60));
    assert_eq!(q.interval(), Duration::from_secs(12));
    assert_eq!(q.clone().with_burst(0).burst(), 1);
    assert_eq!(q.clone().with_burst(9).burst(), 9);
    assert_eq!(q.policy_field(), "\"api\";q=5;w=60");
    // A window of a part of a second is rounded up.
    let q = Quota::new("fast", 10, Duration::from_millis(1500)).unwrap();
    assert_eq!(q.policy_field(), "\"fast\";q=10;w=2");
}

#[tokio::test]
async fn a_caller_gets_the_burst_then_429_with_retry_after_and_fields() {
    let limiter = RateLimiter::builder()
        .default_quota(quota("api", 3, 60))
        .build();
    let id = key("k1", "api_key:main");
    let mut left = Vec::new();
    for _ in 0..3 {
        let (out, headers) = run(&limiter, &head(), Some(&id)).await;
        out.unwrap();
        assert_eq!(field(&headers, "ratelimit-policy"), "\"api\";q=3;w=60");
        left.push(remaining_and_reset(&headers));
    }
    assert_eq!(left.iter().map(|l| l.0).collect::<Vec<_>>(), [2, 1, 0]);
    // The quota is whole again after one interval per unit used.
    assert_eq!(left.iter().map(|l| l.1).collect::<Vec<_>>(), [20, 40, 60]);

    let (out, headers) = run(&limiter, &head(), Some(&id)).await;
    let err = out.unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::RateLimited);
    assert_eq!(err.status(), 429);
    let wait = err.retry_after().unwrap();
    assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20));
    let (r, t) = remaining_and_reset(&headers);
    assert_eq!((r, t), (0, 20));
    assert_eq!(field(&headers, "ratelimit-policy"), "\"api\";q=3;w=60");

    // Another key has its own partition.
    let other = key("k2", "api_key:main");
    run(&limiter, &head(), Some(&other)).await.0.unwrap();
}

#[tokio::test]
async fn sub_second_waits_are_at_least_one_second() {
    let limiter = RateLimiter::builder()
        .default_quota(
            Quota::new("fast", 20, Duration::from_secs(1))
                .unwrap()
                .with_burst(1),
        )
        .build();
    let id = key("k1", "api_key:main");
    run(&limiter, &head(), Some(&id)).await.0.unwrap();
    let (out, headers) = run(&limiter, &head(), Some(&id)).await;
    let err = out.unwrap_err();
    assert!(err.retry_after().unwrap() <= Duration::from_millis(50));
    let rejection = crate::Rejection::from_error(&err, "api", &[]);
    assert_eq!(
        rejection.header_values("retry-after").collect::<Vec<_>>(),
        ["1"]
    );
    assert_eq!(remaining_and_reset(&headers), (0, 1));
}

#[tokio::test]
async fn rules_pick_the_quota_first_match_wins_and_exempt_callers_pass() {
    let limiter = RateLimiter::builder()
        .default_quota(quota("default", 1, 60))
        .exempt_role("internal")
        .role_quota("api_key:main", quota("main", 4, 60))
        .role_quota("api_key:standard", quota("standard", 2, 60))
        .key_quota("vip", quota("vip", 3, 60))
        .client_quota("svc", quota("client", 2, 60))
        .method_quota(AuthMethod::Basic, quota("basic", 2, 60))
        .build();
    let allowed = |id: Identity| {
        let limiter = limiter.clone();
        async move {
            let mut n = 0;
            for _ in 0..10 {
                if run(&limiter, &head(), Some(&id)).await.0.is_err() {
                    break;
                }
                n += 1;
            }
            n
        }
    };
    assert_eq!(allowed(key("m1", "api_key:main")).await, 4);
    assert_eq!(allowed(key("s1", "api_key:standard")).await, 2);
    // A second key of each tier has its own partition.
    assert_eq!(allowed(key("m2", "api_key:main")).await, 4);
    assert_eq!(allowed(key("s2", "api_key:standard")).await, 2);
    // The role rule came first, so the key rule does not apply to a main key...
    assert_eq!(allowed(key("vip", "api_key:main")).await, 4);
    // ...but does to a key of no listed tier.
    assert_eq!(allowed(key("vip", "other")).await, 3);
    assert_eq!(
        allowed(Identity::new("app", AuthMethod::Jwt).with_client_id("svc")).await,
        2
    );
    assert_eq!(allowed(Identity::new("alice", AuthMethod::Basic)).await, 2);
    assert_eq!(allowed(Identity::new("bob", AuthMethod::Jwt)).await, 1);
    // Exempt: never refused, and no fields (not limited here).
    let internal = Identity::new("cron", AuthMethod::Jwt).with_roles(["internal", "api_key:main"]);
    assert_eq!(allowed(internal.clone()).await, 10);
    let (_, headers) = run(&limiter, &head(), Some(&internal)).await;
    assert!(headers.is_empty());
}

#[tokio::test]
async fn without_a_default_only_named_callers_are_limited() {
    let limiter = RateLimiter::builder()
        .role_quota("api_key:standard", quota("standard", 1, 60))
        .build();
    let main = key("m", "api_key:main");
    for _ in 0..5 {
        let (out, headers) = run(&limiter, &head(), Some(&main)).await;
        out.unwrap();
        assert!(headers.is_empty());
    }
    let standard = key("s", "api_key:standard");
    run(&limiter, &head(), Some(&standard)).await.0.unwrap();
    assert!(run(&limiter, &head(), Some(&standard)).await.0.is_err());
    // Anonymous callers are not limited without an anonymous quota.
    for _ in 0..3 {
        run(&limiter, &head(), None).await.0.unwrap();
    }
}

#[tokio::test]
async fn partitions_are_by_identity_never_by_credential() {
    let api = key("kid42", "api_key:main");
    let limiter = RateLimiter::builder()
        .default_quota(quota("api", 1, 60))
        .build();
    let (q, p) = limiter.quota_for(&head(), Some(&api)).unwrap();
    assert_eq!((q.name(), p.as_str()), ("api", "key:kid42"));
    // The same key id is one partition whatever subject it carries.
    let (_, p2) = limiter
        .quota_for(
            &head(),
            Some(&Identity::new("other", AuthMethod::ApiKey).with_key_id("kid42")),
        )
        .unwrap();
    assert_eq!(p, p2);
    let cert = Identity::new("spiffe://x/y", AuthMethod::Mtls).with_cert_thumbprint("th");
    assert_eq!(
        limiter.quota_for(&head(), Some(&cert)).unwrap().1,
        "cert:th"
    );
    // A certificate-bound token is the token's subject, not the certificate.
    let bound = Identity::new("alice", AuthMethod::Jwt).with_cert_thumbprint("th");
    assert_eq!(
        limiter.quota_for(&head(), Some(&bound)).unwrap().1,
        "jwt:alice"
    );
    let basic = Identity::new("alice", AuthMethod::Basic);
    assert_eq!(
        limiter.quota_for(&head(), Some(&basic)).unwrap().1,
        "basic:alice"
    );

    // The pk parameter is a hash: neither the key id nor the partition.
    let (_, headers) = run(&limiter, &head(), Some(&api)).await;
    let v = field(&headers, "ratelimit");
    assert!(!v.contains("kid42"), "{v}");
    let pk = v.split(";pk=").nth(1).unwrap();
    assert!(
        pk.starts_with(':') && pk.ends_with(':') && pk.len() == 18,
        "{pk}"
    );
    // Stable for one partition, different for another.
    let again = limit_field(
        q,
        &p,
        &RateDecision {
            allowed: true,
            remaining: 0,
            reset: Duration::ZERO,
            retry_after: Duration::ZERO,
        },
    );
    assert!(again.ends_with(pk));
    assert_ne!(
        partition_hash(q, "key:kid43"),
        partition_hash(q, "key:kid42")
    );
    assert_ne!(
        partition_hash(&quota("other", 1, 60), "key:kid42"),
        partition_hash(q, "key:kid42")
    );
    assert!(again.contains(";t=0;"));

    // A custom partition.
    let by_owner = RateLimiter::builder()
        .default_quota(quota("api", 1, 60))
        .partition_by(|id| id.key_id().map(|_| format!("owner:{}", id.subject())))
        .build();
    assert_eq!(
        by_owner.quota_for(&head(), Some(&api)).unwrap().1,
        "owner:acme"
    );
    assert_eq!(
        by_owner.quota_for(&head(), Some(&basic)).unwrap().1,
        "basic:alice"
    );
    run(&by_owner, &head(), Some(&api)).await.0.unwrap();
    let sibling = key("kid99", "api_key:main");
    assert!(run(&by_owner, &head(), Some(&sibling)).await.0.is_err());
}

#[tokio::test]
async fn anonymous_callers_are_keyed_by_address_and_spoofing_changes_nothing() {
    let limiter = RateLimiter::builder()
        .anonymous_quota(quota("anon", 1, 60))
        .trusted_proxies(crate::TrustedProxies::new(["10.0.0.0/8"]).unwrap())
        .build();
    let direct = head();
    run(&limiter, &direct, None).await.0.unwrap();
    assert!(run(&limiter, &direct, None).await.0.is_err());
    // The same peer claiming another address through X-Forwarded-For.
    let spoofed = head().header("x-forwarded-for", "198.51.100.1");
    assert!(run(&limiter, &spoofed, None).await.0.is_err());
    assert_eq!(
        limiter.quota_for(&spoofed, None).unwrap().1,
        limiter.quota_for(&direct, None).unwrap().1
    );
    // From a trusted proxy, the forwarded address is the client.
    let proxied = |client: &str| {
        SimpleRequest::get("/")
            .peer("10.1.1.1:4000".parse().unwrap())
            .header("x-forwarded-for", client)
    };
    run(&limiter, &proxied("198.51.100.1"), None)
        .await
        .0
        .unwrap();
    assert!(
        run(&limiter, &proxied("198.51.100.1"), None)
            .await
            .0
            .is_err()
    );
    run(&limiter, &proxied("198.51.100.2"), None)
        .await
        .0
        .unwrap();
    // IPv6 clients share their /64; a mapped IPv4 address is the IPv4 one.
    let v6 = |a: &str| SimpleRequest::get("/").peer(format!("[{a}]:1").parse().unwrap());
    assert_eq!(
        limiter.quota_for(&v6("2001:db8:1:2::1"), None).unwrap().1,
        limiter
            .quota_for(&v6("2001:db8:1:2:ffff::9"), None)
            .unwrap()
            .1
    );
    assert_ne!(
        limiter.quota_for(&v6("2001:db8:1:2::1"), None).unwrap().1,
        limiter.quota_for(&v6("2001:db8:1:3::1"), None).unwrap().1
    );
    assert_eq!(
        limiter
            .quota_for(&v6("::ffff:203.0.113.9"), None)
            .unwrap()
            .1,
        "anon:203.0.113.9"
    );
    assert_eq!(
        limiter.quota_for(&SimpleRequest::get("/"), None).unwrap().1,
        "anon:unknown"
    );
}

#[tokio::test]
async fn dry_run_reports_but_never_refuses() {
    let limiter = RateLimiter::builder()
        .default_quota(quota("api", 1, 60))
        .dry_run(true)
        .build();
    let id = key("k", "api_key:main");
    for i in 0..4 {
        let (out, headers) = run(&limiter, &head(), Some(&id)).await;
        out.unwrap();
        let (r, t) = remaining_and_reset(&headers);
        assert_eq!(r, 0);
        // Over quota from the second on: t says how long until one is free.
        assert!(
            if i == 0 {
                t == 60
            } else {
                (59..=60).contains(&t)
            },
            "{t}"
        );
    }
}

struct Broken;

impl RateLimitStore for Broken {
    fn check<'a>(
        &'a self,
        _: &'a Quota,
        _: &'a str,
    ) -> BoxFuture<'a, Result<RateDecision, StoreError>> {
        Box::pin(async { Err(StoreError::new("down", None)) })
    }
}

impl CounterStore for Broken {
    fn increment<'a>(
        &'a self,
        _: &'a str,
        _: Duration,
    ) -> BoxFuture<'a, Result<Count, StoreError>> {
        Box::pin(async { Err(StoreError::new("down", None)) })
    }
    fn get<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<Count>, StoreError>> {
        Box::pin(async { Err(StoreError::new("down", None)) })
    }
    fn decrement<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::new("down", None)) })
    }
}

#[tokio::test]
async fn a_store_that_cannot_answer_is_503_unless_failing_open() {
    let id = key("k", "api_key:main");
    let closed = RateLimiter::builder()
        .default_quota(quota("api", 1, 60))
        .store(Arc::new(Broken))
        .build();
    let (out, headers) = run(&closed, &head(), Some(&id)).await;
    let err = out.unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::Unavailable);
    assert_eq!(err.status(), 503);
    assert!(err.retry_after().is_some());
    assert!(headers.is_empty());

    let open = RateLimiter::builder()
        .default_quota(quota("api", 1, 60))
        .store(Arc::new(Broken))
        .fail_open(true)
        .build();
    let (out, headers) = run(&open, &head(), Some(&id)).await;
    out.unwrap();
    assert!(headers.is_empty());
}

#[tokio::test]
async fn the_memory_store_is_bounded_and_forgets_what_aged_out() {
    let store = MemoryRateLimits::new(3);
    // Long enough that the cells are still live when "d" is first tried,
    // even on a busy machine.
    let window = Duration::from_millis(300);
    let q = Quota::new("tiny", 1, window).unwrap();
    for p in ["a", "b", "c"] {
        assert!(store.check_now(&q, p).unwrap().allowed);
    }
    assert_eq!(store.len(), 3);
    assert!(!store.is_empty());
    let shown = format!("{store:?}");
    assert!(
        shown.contains("partitions: 3") && shown.contains("max_partitions: 3"),
        "{shown}"
    );
    // Full of live cells: a new partition waits, known ones are answered.
    let full = store.check_now(&q, "d").unwrap_err();
    assert_eq!(full.kind(), StoreErrorKind::Full);
    assert_eq!(AuthError::from(full).status(), 503);
    // Once they have aged out, room comes back.
    tokio::time::sleep(window * 2).await;
    assert!(store.check_now(&q, "d").unwrap().allowed);
    assert!(store.len() <= 3);
    store.sweep();
    assert!(store.sweeps() >= 1);
    tokio::time::sleep(window * 2).await;
    store.sweep();
    assert!(store.is_empty(), "{store:?}");

    // Quotas with different names or numbers have their own cells.
    let store = MemoryRateLimits::new(100);
    let a = quota("a", 1, 60);
    let b = quota("b", 1, 60);
    assert!(store.check_now(&a, "p").unwrap().allowed);
    assert!(!store.check_now(&a, "p").unwrap().allowed);
    assert!(store.check_now(&b, "p").unwrap().allowed);
    assert!(store.check_now(&quota("a", 2, 60), "p").unwrap().allowed);
}

#[test]
fn a_full_table_still_answers_known_partitions_and_scans_at_most_once_per_interval() {
    let store = MemoryRateLimits::new(2);
    let q = quota("slow", 2, 3600);
    assert!(store.check_now(&q, "a").unwrap().allowed);
    assert!(store.check_now(&q, "b").unwrap().allowed);
    for new in ["c", "d", "e"] {
        assert_eq!(
            store.check_now(&q, new).unwrap_err().kind(),
            StoreErrorKind::Full
        );
    }
    // Known partitions keep their cells: allowed once more, then refused
    // by their own quota, never by the table.
    let a = store.check_now(&q, "a").unwrap();
    assert!(a.allowed && a.remaining == 0, "{a:?}");
    assert!(!store.check_now(&q, "a").unwrap().allowed);
    assert!(store.check_now(&q, "b").unwrap().allowed);
    // Nothing could have aged out within an interval: no scan ran.
    assert_eq!(store.sweeps(), 0);
    assert_eq!(store.len(), 2);
}

#[tokio::test]
async fn the_memory_store_sweeps_by_itself_once_per_window() {
    let store = MemoryRateLimits::new(1000);
    let q = Quota::new("tiny", 1, Duration::from_millis(200)).unwrap();
    for i in 0..50 {
        store.check_now(&q, &i.to_string()).unwrap();
    }
    assert_eq!(store.sweeps(), 0);
    assert_eq!(store.len(), 50);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The clock is looked at on a table's calls 0, 64, 128...: call 64
    // sweeps.
    for _ in 50..64 {
        store.check_now(&q, "late").unwrap();
    }
    assert_eq!(store.sweeps(), 0);
    store.check_now(&q, "late").unwrap();
    assert_eq!(store.sweeps(), 1);
    // Only the new partition is left.
    assert_eq!(store.len(), 1);
    // Not again within the window.
    for _ in 0..64 {
        store.check_now(&q, "later").unwrap();
    }
    assert_eq!(store.sweeps(), 1);
}

#[tokio::test]
async fn concurrent_requests_of_one_caller_get_exactly_the_burst() {
    let limiter = RateLimiter::builder()
        .default_quota(quota("api", 5, 3600))
        .build();
    let id = key("k", "api_key:main");
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let limiter = limiter.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            run(&limiter, &head(), Some(&id)).await.0.is_ok()
        }));
    }
    let mut allowed = 0;
    for t in tasks {
        allowed += usize::from(t.await.unwrap());
    }
    assert_eq!(allowed, 5);
}

mod failed_attempts {
    use super::*;
    use crate::{AuthRequest, Authenticator, Challenge, Guard, RequestHead, Specificity};

    /// Accepts `x-name: good`, refuses any other name.
    struct Names;

    impl Authenticator for Names {
        fn credential_headers(&self, out: &mut Vec<&'static str>) {
            out.push("x-name");
        }
        fn recognise(&self, req: &AuthRequest<'_>) -> Option<Specificity> {
            req.credential()
                .header("x-name")
                .map(|_| Specificity::Exact)
        }
        fn authenticate<'a>(
            &'a self,
            req: &'a AuthRequest<'a>,
        ) -> BoxFuture<'a, Result<Identity, AuthError>> {
            let good = req
                .credential()
                .header("x-name")
                .is_some_and(|v| v.expose() == b"good");
            Box::pin(async move {
                if good {
                    Ok(Identity::new("good", AuthMethod::Custom))
                } else {
                    Err(AuthError::new(AuthErrorKind::InvalidCredentials))
                }
            })
        }
        fn challenges(&self, _: &dyn RequestHead, out: &mut Vec<Challenge>) {
            out.push(Challenge::new("Name"));
        }
    }

    fn guard(failed: FailedAttempts) -> Guard {
        Guard::builder(Names)
            .failed_attempts(failed)
            .build()
            .unwrap()
    }

    fn from(peer: &str, name: Option<&str>) -> SimpleRequest {
        let req = SimpleRequest::get("/").peer(peer.parse().unwrap());
        match name {
            Some(n) => req.header("x-name", n),
            None => req,
        }
    }

    #[tokio::test]
    async fn an_address_with_too_many_failures_is_refused_before_verifying() {
        let g = guard(FailedAttempts::new(3, Duration::from_secs(60)));
        let here = "203.0.113.9:1000";
        // Successes and missing credentials are not failures.
        for _ in 0..5 {
            g.check(&from(here, Some("good"))).await.unwrap();
            assert_eq!(g.check(&from(here, None)).await.unwrap_err().status(), 401);
        }
        for _ in 0..3 {
            assert_eq!(
                g.check(&from(here, Some("bad")))
                    .await
                    .unwrap_err()
                    .status(),
                401
            );
        }
        // Now even the right credential waits.
        let refused = g.check(&from(here, Some("good"))).await.unwrap_err();
        assert_eq!(refused.status(), 429);
        let after: u64 = refused
            .header_values("retry-after")
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((59..=60).contains(&after), "{after}");
        // No credential: still the plain 401, nothing was attempted.
        assert_eq!(g.check(&from(here, None)).await.unwrap_err().status(), 401);
        // Another address is not affected, nor is this one's spoofed header.
        g.check(&from("203.0.113.10:1000", Some("good")))
            .await
            .unwrap();
        let spoofed = from(here, Some("good")).header("x-forwarded-for", "198.51.100.7");
        assert_eq!(g.check(&spoofed).await.unwrap_err().status(), 429);
    }

    #[tokio::test]
    async fn refusals_for_the_limit_do_not_extend_it() {
        let counters = Arc::new(crate::store::MemoryCounters::new(100));
        let failed = FailedAttempts::new(1, Duration::from_secs(60)).store(counters.clone());
        let g = guard(failed.clone());
        let here = "203.0.113.9:1000";
        assert_eq!(
            g.check(&from(here, Some("bad")))
                .await
                .unwrap_err()
                .status(),
            401
        );
        for _ in 0..5 {
            assert_eq!(
                g.check(&from(here, Some("bad")))
                    .await
                    .unwrap_err()
                    .status(),
                429
            );
        }
        let key = failed.key(&from(here, None));
        assert_eq!(counters.get(&key).await.unwrap().unwrap().value, 1);
    }

    #[tokio::test]
    async fn behind_a_trusted_proxy_the_forwarded_client_counts() {
        let proxies = crate::TrustedProxies::new(["10.0.0.0/8"]).unwrap();
        let g = guard(FailedAttempts::new(1, Duration::from_secs(60)).trusted_proxies(proxies));
        let via =
            |client: &str| from("10.0.0.1:1000", Some("bad")).header("x-forwarded-for", client);
        assert_eq!(
            g.check(&via("198.51.100.1")).await.unwrap_err().status(),
            401
        );
        assert_eq!(
            g.check(&via("198.51.100.1")).await.unwrap_err().status(),
            429
        );
        assert_eq!(
            g.check(&via("198.51.100.2")).await.unwrap_err().status(),
            401
        );
    }

    #[tokio::test]
    async fn a_counter_store_that_cannot_answer_is_503() {
        let g = guard(FailedAttempts::new(1, Duration::from_secs(60)).store(Arc::new(Broken)));
        let refused = g
            .check(&from("203.0.113.9:1000", Some("good")))
            .await
            .unwrap_err();
        assert_eq!(refused.status(), 503);
        assert!(refused.header_values("retry-after").next().is_some());
    }
}

#[test]
fn debug_output_names_the_quotas_and_never_a_partition() {
    let builder = RateLimiter::builder()
        .default_quota(quota("api", 3, 60))
        .role_quota("api_key:main", quota("main", 4, 60))
        .dry_run(true);
    let shown = format!("{builder:?}");
    assert!(
        shown.starts_with("RateLimiterBuilder")
            && shown.contains("\"main\"")
            && shown.contains("dry_run: true"),
        "{shown}"
    );
    let limiter = builder.build();
    let shown = format!("{limiter:?}");
    assert!(
        shown.starts_with("RateLimiter {")
            && shown.contains("\"api\"")
            && shown.contains("api_key:main"),
        "{shown}"
    );
    let failed = FailedAttempts::new(7, Duration::from_secs(60));
    let shown = format!("{failed:?}");
    assert!(
        shown.starts_with("FailedAttempts") && shown.contains("max: 7"),
        "{shown}"
    );
}
