//! Basic's hardening on both adapters: lockout after 5 failures, and one
//! argon2 verification per credential within the cache TTL.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use auth_conformance::{Answer, Listener, Pair, basic};

/// `GET /v1/whoami` over TLS on both adapters with this Authorization.
async fn whoami(pair: &Pair, authorization: &str) -> Answer {
    pair.send(
        Listener::Tls,
        "GET",
        "/v1/whoami",
        &[("authorization", authorization)],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_failures_lock_the_user_even_with_the_right_password() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let bob = pair.credentials().password("bob").to_owned();
    let alice = pair.credentials().password("alice").to_owned();
    let right = basic("bob", &bob);
    // Before: the right password works.
    let a = whoami(&pair, &right).await;
    assert_eq!(a.status, 200);
    for i in 0..5 {
        let wrong = basic("bob", &format!("wrong-{i}"));
        let a = whoami(&pair, &wrong).await;
        assert_eq!(a.status, 401, "failure {i}");
    }
    for _ in 0..2 {
        let a = whoami(&pair, &right).await;
        assert_eq!(a.status, 429);
        assert!(a.challenges.is_empty());
        let retry: u64 = a.retry_after.as_deref().unwrap().parse().unwrap();
        assert!((1..=900).contains(&retry), "Retry-After {retry}");
        assert_eq!(a.json()["status"], 429);
    }
    // Other users are not affected.
    let a = pair
        .send(
            Listener::Tls,
            "GET",
            "/v1/whoami",
            &[("authorization", &basic("alice", &alice))],
        )
        .await;
    assert_eq!(a.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_ends_when_the_window_passes() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start_with(dir.path(), |c| {
        c.lockout = (5, std::time::Duration::from_secs(4))
    });
    let bob = pair.credentials().password("bob").to_owned();
    // The window starts at the first failure; each adapter's has started
    // once the first request has been answered by both.
    let mut first = None;
    for i in 0..5 {
        let wrong = basic("bob", &format!("wrong-{i}"));
        whoami(&pair, &wrong).await;
        first.get_or_insert_with(std::time::Instant::now);
    }
    let first = first.unwrap();
    let right = basic("bob", &bob);
    let a = whoami(&pair, &right).await;
    assert_eq!(a.status, 429);
    let passed = first + std::time::Duration::from_millis(4100);
    tokio::time::sleep_until(passed.into()).await;
    let a = whoami(&pair, &right).await;
    assert_eq!(a.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argon2_runs_once_per_credential_within_the_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let alice = basic("alice", pair.credentials().password("alice"));
    let bob = basic("bob", pair.credentials().password("bob"));
    let before = (
        pair.axum.basic_verifications(),
        pair.actix.basic_verifications(),
    );
    for _ in 0..25 {
        for cred in [&alice, &bob] {
            let a = whoami(&pair, cred).await;
            assert_eq!(a.status, 200);
        }
    }
    let after = (
        pair.axum.basic_verifications(),
        pair.actix.basic_verifications(),
    );
    assert_eq!(
        after.0 - before.0,
        2,
        "axum: one verification per credential"
    );
    assert_eq!(
        after.1 - before.1,
        2,
        "actix: one verification per credential"
    );
    // A wrong pair is checked once; its repeats are refused from memory
    // (still counted towards the lockout, so the fifth is a 429).
    let wrong = basic("alice", "nope");
    for i in 0..6 {
        let a = whoami(&pair, &wrong).await;
        assert_eq!(a.status, if i < 5 { 401 } else { 429 }, "attempt {i}");
    }
    assert_eq!(pair.axum.basic_verifications() - after.0, 1);
    assert_eq!(pair.actix.basic_verifications() - after.1, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_verification() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let alice = basic("alice", pair.credentials().password("alice"));
    let url = format!("https://localhost:{}/v1/whoami", pair.axum.https.port());
    let before = pair.axum.basic_verifications();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let client = pair.client().clone();
        let (url, alice) = (url.clone(), alice.clone());
        tasks.push(tokio::spawn(async move {
            client
                .get(url)
                .header("authorization", alice)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(pair.axum.basic_verifications() - before, 1);
}
