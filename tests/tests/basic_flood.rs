//! Basic under attack, on both adapters over real TLS: concurrent guesses
//! for one user get at most the lockout's limit of password checks, and a
//! flood of distinct unknown users is shed (401, 429 or 503, never
//! anything else) while `/healthz` answers and memory stays bounded.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use auth_conformance::{Pair, basic};
use auth_demo::Running;

/// Sends `n` requests at once to `/v1/whoami` on `server`'s TLS listener,
/// the `i`th with the Authorization `auth(i)`; returns (status, Retry-After).
async fn at_once(
    pair: &Pair,
    server: &Running,
    n: usize,
    auth: impl Fn(usize) -> String,
) -> Vec<(u16, Option<String>)> {
    let url = format!("https://localhost:{}/v1/whoami", server.https.port());
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let req = pair.client().get(&url).header("authorization", auth(i));
            tokio::spawn(async move {
                let res = req.send().await.unwrap();
                let retry = res
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned());
                (res.status().as_u16(), retry)
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn count(got: &[(u16, Option<String>)], status: u16) -> usize {
    got.iter().filter(|(s, _)| *s == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_passwords_get_at_most_the_limit_of_checks() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let bob = pair.credentials().password("bob").to_owned();
    for server in [&pair.axum, &pair.actix] {
        let before = server.basic_verifications();
        let got = at_once(&pair, server, 48, |i| basic("bob", &format!("guess-{i}"))).await;
        let checked = server.basic_verifications() - before;
        assert!(checked <= 5, "{checked} checks for 48 guesses");
        assert_eq!(count(&got, 401) as u64, checked, "{got:?}");
        assert_eq!(count(&got, 401) + count(&got, 429) + count(&got, 503), 48);
        // The rest were refused without a check: 429 once five guesses
        // are counted, 503 while the password checks are all busy.
        for (status, retry) in &got {
            if *status != 401 {
                assert!(retry.is_some(), "{status} without Retry-After");
            }
        }
        // Whatever was shed, the right password cannot get in once five
        // wrong ones were checked: try the remaining guesses one by one.
        let mut i = 100;
        while server.basic_verifications() - before < 5 {
            let one = at_once(&pair, server, 1, |_| basic("bob", &format!("guess-{i}"))).await;
            assert!([401, 503].contains(&one[0].0), "{one:?}");
            i += 1;
        }
        let right = at_once(&pair, server, 1, |_| basic("bob", &bob)).await;
        assert_eq!(right[0].0, 429, "locked, even with the right password");
    }
}

/// The process's resident memory, from /proc (Linux), in KiB.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_users_is_shed_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let server = &pair.axum;
    let healthz = format!("http://{}/healthz", server.http);
    let before = rss_kib();
    let started = std::time::Instant::now();
    let flood = at_once(&pair, server, 300, |i| basic(&format!("nobody-{i}"), "pw"));
    let probe = async {
        let mut answered = 0;
        let mut slowest = std::time::Duration::ZERO;
        for _ in 0..5 {
            let sent = std::time::Instant::now();
            let res = pair.client().get(&healthz).send().await.unwrap();
            assert_eq!(res.status(), 200);
            slowest = slowest.max(sent.elapsed());
            answered += 1;
        }
        (answered, slowest)
    };
    let (got, (answered, probe_time)) = tokio::join!(flood, probe);
    let after = rss_kib();
    assert_eq!(answered, 5);
    assert_eq!(count(&got, 401) + count(&got, 503), 300, "{got:?}");
    eprintln!(
        "flood of 300 unknown users: {} 401, {} 503 in {:?}; 5 /healthz meanwhile, the slowest in {:?}; RSS {:?} -> {:?} KiB",
        count(&got, 401),
        count(&got, 503),
        started.elapsed(),
        probe_time,
        before,
        after
    );
    if let (Some(b), Some(a)) = (before, after) {
        // Unbounded, 300 concurrent argon2 checks hold 300 × 19 MiB.
        assert!(
            a.saturating_sub(b) < 512 * 1024,
            "RSS grew from {b} to {a} KiB"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn very_long_user_names_are_refused_with_no_memory_growth() {
    use auth_conformance::Listener;
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    // Both adapters answer the same, byte for byte: 401 with the Basic
    // challenge, for a name over Basic's cap and for a header over the cap
    // on every credential.
    let long = basic(&"a".repeat(300), "pw");
    let a = pair
        .send(
            Listener::Tls,
            "GET",
            "/v1/whoami",
            &[("authorization", &long)],
        )
        .await;
    assert_eq!(a.status, 401);
    assert!(
        a.challenges.iter().any(|c| c.starts_with("Basic ")),
        "{a:?}"
    );
    let huge = basic(&"a".repeat(20_000), "pw");
    let a = pair
        .send(
            Listener::Tls,
            "GET",
            "/v1/whoami",
            &[("authorization", &huge)],
        )
        .await;
    assert_eq!(a.status, 401);
    assert!(
        a.challenges.iter().any(|c| c.starts_with("Basic ")),
        "{a:?}"
    );
    assert!(!String::from_utf8_lossy(&a.body).contains("aaaa"), "echoed");

    for server in [&pair.axum, &pair.actix] {
        let checks = server.basic_verifications();
        let before = rss_kib();
        // 1000 distinct names of 3 to 11 KiB, in waves of 100 at once: none
        // is hashed, counted or cached, so nothing grows with them.
        let mut statuses = Vec::new();
        for wave in 0..10 {
            let got = at_once(&pair, server, 100, |i| {
                let n = wave * 100 + i;
                basic(&format!("{n}-{}", "x".repeat(3_000 + 8 * n)), "pw")
            })
            .await;
            statuses.extend(got.into_iter().map(|(s, _)| s));
        }
        let after = rss_kib();
        assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
        assert_eq!(
            server.basic_verifications(),
            checks,
            "no password was checked"
        );
        eprintln!("1000 long user names: RSS {before:?} -> {after:?} KiB");
        if let (Some(b), Some(a)) = (before, after) {
            assert!(
                a.saturating_sub(b) < 64 * 1024,
                "RSS grew from {b} to {a} KiB"
            );
        }
        // The lockout did not count them: bob still logs in.
        let bob = pair.credentials().password("bob").to_owned();
        let right = at_once(&pair, server, 1, |_| basic("bob", &bob)).await;
        assert_eq!(right[0].0, 200);
    }
}
