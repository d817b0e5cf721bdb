//! The Redis stores against a real `redis-server` on 127.0.0.1, standalone
//! and as a three-node cluster, through the same contract functions as the
//! in-process stores: each contract is written once over its trait and run
//! against memory, Redis and Redis Cluster, so the Redis stores are shown
//! to answer as the in-process ones do. Then an outage: calls fail closed
//! (or open, where asked) within a bound, and the same stores work again
//! once Redis is back.
//!
//! Without `redis-server` installed the Redis tests are skipped with a loud
//! message, or fail when `CI=true`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_core::api_key::{
    ApiKeyAuthenticator, ApiKeys, Environment, KeyHash, KeyRecord, NewKey, Pepper,
};
use auth_core::rate_limit::Quota;
use auth_core::store::redis::{FailMode, Redis};
use auth_core::store::{
    CodeGrant, CounterStore, Family, GrantStore, Issued, KeyStore, MAX_LIVE_PER_FAMILY,
    MemoryCounters, MemoryGrants, MemoryKeyStore, MemoryRateLimits, MemoryRevocations,
    MemoryTokens, RateLimitStore, Redemption, RevocationStore, Rotation, SPENT_REMEMBERED,
    TokenStore,
};
use auth_core::{Guard, SimpleRequest, StoreError, StoreErrorKind};

#[path = "support/redis_server.rs"]
mod harness;

use harness::{Cluster, Server};

// ---------------------------------------------------------------------
// The contracts, each written once over its trait. Where several stores
// are given they share one state (two connections to one Redis: two
// processes, as far as Redis can tell); concurrent calls are spread over
// them.
// ---------------------------------------------------------------------

fn in_secs(s: u64) -> SystemTime {
    SystemTime::now() + Duration::from_secs(s)
}

fn in_ms(ms: u64) -> SystemTime {
    SystemTime::now() + Duration::from_millis(ms)
}

fn past() -> SystemTime {
    SystemTime::now() - Duration::from_secs(1)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// What a short-lived entry is given, and how long to wait for it to go.
const SHORT_MS: u64 = 300;
const PAST_SHORT: Duration = Duration::from_millis(600);

async fn counters_behave(stores: &[Arc<dyn CounterStore>]) {
    let c = &*stores[0];
    let window = Duration::from_millis(SHORT_MS);
    // 50 concurrent increments: none lost, none repeated.
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let s = stores[i % stores.len()].clone();
            tokio::spawn(async move { s.increment("k", window).await.unwrap().value })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=50).collect::<Vec<_>>(),
        "no count lost or repeated"
    );
    let k = c.get("k").await.unwrap().unwrap();
    assert_eq!(k.value, 50);
    assert!(k.expires_in <= window && !k.expires_in.is_zero(), "{k:?}");
    assert!(c.get("other").await.unwrap().is_none());

    // A window starts with the first increment; later ones keep it.
    assert_eq!(c.increment("fixed", window).await.unwrap().value, 1);
    let second = c.increment("fixed", Duration::from_secs(60)).await.unwrap();
    assert_eq!(second.value, 2);
    assert!(second.expires_in <= window, "{second:?}");

    // Decrement keeps the window; at zero the counter is gone, and the
    // next increment starts a new one. An absent counter stays absent.
    let long = Duration::from_secs(60);
    c.increment("d", long).await.unwrap();
    let first = c.increment("d", long).await.unwrap();
    assert_eq!(first.value, 2);
    c.decrement("d").await.unwrap();
    let d = c.get("d").await.unwrap().unwrap();
    assert_eq!(d.value, 1);
    assert!(d.expires_in <= first.expires_in && d.expires_in > Duration::from_secs(50));
    c.decrement("d").await.unwrap();
    assert!(c.get("d").await.unwrap().is_none(), "gone at zero");
    let again = c.increment("d", window).await.unwrap();
    assert_eq!(again.value, 1);
    assert!(again.expires_in <= window, "a new window: {again:?}");
    c.decrement("absent").await.unwrap();
    assert!(c.get("absent").await.unwrap().is_none());

    // Counters are independent; the names are taken as they are.
    assert_eq!(c.increment("a:b", long).await.unwrap().value, 1);
    assert_eq!(c.increment("a", long).await.unwrap().value, 1);
    // Windows end.
    tokio::time::sleep(PAST_SHORT).await;
    assert!(c.get("k").await.unwrap().is_none(), "expired");
    assert!(
        c.get("fixed").await.unwrap().is_none(),
        "expired with its first window"
    );
    assert_eq!(
        c.increment("k", window).await.unwrap().value,
        1,
        "a new window"
    );
    assert_eq!(
        stores[stores.len() - 1]
            .get("a")
            .await
            .unwrap()
            .unwrap()
            .value,
        1
    );
}

async fn revocations_behave(stores: &[Arc<dyn RevocationStore>]) {
    let s = &*stores[0];
    let until = in_secs(60);
    let before = s.revocations();
    assert!(!s.is_revoked("i", "j").await.unwrap());
    s.revoke("i", "j", until).await.unwrap();
    assert!(s.is_revoked("i", "j").await.unwrap());
    let after = s.revocations();
    if let (Some(b), Some(a)) = (before, after) {
        assert!(a > b);
    }
    // Idempotent: revoking again changes nothing, not even the time.
    s.revoke("i", "j", until).await.unwrap();
    assert_eq!(s.revocations(), after, "revoking twice counts once");
    s.revoke("i", "nx", in_ms(SHORT_MS)).await.unwrap();
    s.revoke("i", "nx", in_secs(60)).await.unwrap();
    // Kept until the time given.
    s.revoke("i", "short", in_ms(SHORT_MS)).await.unwrap();
    assert!(s.is_revoked("i", "short").await.unwrap());
    // Keyed by issuer and jti, with no ambiguity between the two.
    s.revoke("ab", "c", until).await.unwrap();
    assert!(s.is_revoked("ab", "c").await.unwrap());
    assert!(!s.is_revoked("a", "bc").await.unwrap());
    assert!(!s.is_revoked("other", "j").await.unwrap());
    // A time already past revokes nothing.
    s.revoke("i", "old", past()).await.unwrap();
    assert!(!s.is_revoked("i", "old").await.unwrap());
    // Concurrent revocations all take, and every store sees them.
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let st = stores[i % stores.len()].clone();
            tokio::spawn(async move { st.revoke("iss", &format!("jti-{i}"), in_secs(60)).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for i in 0..50 {
        let st = &stores[(i + 1) % stores.len()];
        assert!(st.is_revoked("iss", &format!("jti-{i}")).await.unwrap());
    }
    tokio::time::sleep(PAST_SHORT).await;
    assert!(!s.is_revoked("i", "short").await.unwrap(), "expired");
    assert!(
        !s.is_revoked("i", "nx").await.unwrap(),
        "the second revocation changed nothing (insert-if-absent)"
    );
    assert!(s.is_revoked("i", "j").await.unwrap());
}

fn claims(sub: &str) -> Arc<auth_core::Claims> {
    let v = serde_json::json!({"sub": sub, "scope": "read write", "exp": 4_102_444_800u64, "n": [1, 2]});
    Arc::new(v.as_object().unwrap().clone())
}

async fn tokens_behave(s: &dyn TokenStore) {
    s.insert([1; 32], claims("alice"), in_secs(60))
        .await
        .unwrap();
    assert_eq!(s.get(&[1; 32]).await.unwrap(), Some(claims("alice")));
    assert_eq!(s.get(&[2; 32]).await.unwrap(), None);
    // Replaced whole.
    s.insert([1; 32], claims("bob"), in_secs(60)).await.unwrap();
    assert_eq!(s.get(&[1; 32]).await.unwrap(), Some(claims("bob")));
    s.remove(&[1; 32]).await.unwrap();
    assert_eq!(s.get(&[1; 32]).await.unwrap(), None);
    s.remove(&[1; 32]).await.unwrap();
    // An expired token replaces a live one as a dead one.
    s.insert([4; 32], claims("carol"), in_secs(60))
        .await
        .unwrap();
    s.insert([4; 32], claims("carol"), past()).await.unwrap();
    assert_eq!(s.get(&[4; 32]).await.unwrap(), None);
    // Kept until the time given.
    s.insert([3; 32], claims("dave"), in_ms(SHORT_MS))
        .await
        .unwrap();
    assert!(s.get(&[3; 32]).await.unwrap().is_some());
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(s.get(&[3; 32]).await.unwrap(), None, "expired");
}

fn grant(family: &str) -> CodeGrant {
    CodeGrant {
        client_id: "app".into(),
        redirect_uri: Some("https://app.example/cb".into()),
        challenge: "c".into(),
        subject: "alice".into(),
        scope: "read".into(),
        auth_time: 1,
        family: family.into(),
    }
}

fn family() -> Family {
    Family {
        client_id: "app".into(),
        subject: "alice".into(),
        scope: "read".into(),
        auth_time: 1,
    }
}

fn issued(jti: &str, exp: u64) -> Issued {
    Issued {
        jti: jti.into(),
        exp,
        opaque: None,
    }
}

fn live_exp() -> u64 {
    unix_now() + 600
}

fn jtis(list: &[Issued]) -> Vec<&str> {
    list.iter().map(|i| i.jti.as_str()).collect()
}

async fn grants_behave(stores: &[Arc<dyn GrantStore>]) {
    let s = &*stores[0];
    // Codes: fresh once, then spent (naming the family), until they expire.
    s.put_code([1; 32], grant("f1"), in_secs(60)).await.unwrap();
    assert_eq!(
        s.redeem_code(&[1; 32]).await.unwrap(),
        Redemption::Fresh(grant("f1"))
    );
    for _ in 0..2 {
        assert_eq!(
            s.redeem_code(&[1; 32]).await.unwrap(),
            Redemption::Spent {
                family: "f1".into()
            }
        );
    }
    assert_eq!(s.redeem_code(&[9; 32]).await.unwrap(), Redemption::Unknown);
    // A code put again is replaced whole, fresh.
    s.put_code([6; 32], grant("f6"), in_secs(60)).await.unwrap();
    s.redeem_code(&[6; 32]).await.unwrap();
    s.put_code([6; 32], grant("f7"), in_secs(60)).await.unwrap();
    assert_eq!(
        s.redeem_code(&[6; 32]).await.unwrap(),
        Redemption::Fresh(grant("f7"))
    );
    s.put_code([2; 32], grant("f2"), past()).await.unwrap();
    assert_eq!(
        s.redeem_code(&[2; 32]).await.unwrap(),
        Redemption::Unknown,
        "expired"
    );
    s.put_code([3; 32], grant("f3"), in_ms(SHORT_MS))
        .await
        .unwrap();
    s.put_code([4; 32], grant("f4"), in_ms(SHORT_MS))
        .await
        .unwrap();
    assert!(matches!(
        s.redeem_code(&[4; 32]).await.unwrap(),
        Redemption::Fresh(_)
    ));
    // Concurrent redemptions of one code: one is fresh, the rest spent.
    s.put_code([5; 32], grant("f5"), in_secs(60)).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let st = stores[i % stores.len()].clone();
            tokio::spawn(async move { st.redeem_code(&[5; 32]).await.unwrap() })
        })
        .collect();
    let mut fresh = 0;
    for t in tasks {
        match t.await.unwrap() {
            Redemption::Fresh(g) => {
                assert_eq!(g, grant("f5"));
                fresh += 1;
            }
            Redemption::Spent { family } => assert_eq!(family, "f5"),
            Redemption::Unknown => panic!("a live code is known"),
        }
    }
    assert_eq!(fresh, 1, "a code is redeemed once");

    // Families rotate, detect reuse, refuse strangers.
    let f = "fam-1";
    assert!(
        s.start_family(
            f,
            family(),
            Some([1; 32]),
            issued("a1", live_exp()),
            in_secs(60)
        )
        .await
        .unwrap()
    );
    assert!(
        !s.start_family(
            f,
            family(),
            Some([1; 32]),
            issued("a1", live_exp()),
            in_secs(60)
        )
        .await
        .unwrap()
    );
    assert_eq!(s.family(f).await.unwrap(), Some(family()));
    assert_eq!(s.family("nope").await.unwrap(), None);
    let x = || issued("x", live_exp());
    assert_eq!(
        s.rotate(f, "other", [1; 32], [2; 32], x()).await.unwrap(),
        Rotation::Invalid
    );
    assert_eq!(
        s.rotate(f, "app", [7; 32], [2; 32], x()).await.unwrap(),
        Rotation::Invalid
    );
    assert_eq!(
        s.rotate("nope", "app", [1; 32], [2; 32], x())
            .await
            .unwrap(),
        Rotation::Invalid
    );
    assert_eq!(
        s.rotate(f, "app", [1; 32], [2; 32], issued("a2", live_exp()))
            .await
            .unwrap(),
        Rotation::Rotated(family())
    );
    assert_eq!(
        stores[stores.len() - 1]
            .rotate(f, "app", [2; 32], [3; 32], issued("a3", live_exp()))
            .await
            .unwrap(),
        Rotation::Rotated(family())
    );
    // [1] again: reuse; the family is revoked, its live tokens come back once.
    match s.rotate(f, "app", [1; 32], [4; 32], x()).await.unwrap() {
        Rotation::Reused(live) => assert_eq!(jtis(&live), ["a1", "a2", "a3"]),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.rotate(f, "app", [3; 32], [4; 32], x()).await.unwrap(),
        Rotation::Invalid
    );
    assert_eq!(
        s.rotate(f, "app", [1; 32], [4; 32], x()).await.unwrap(),
        Rotation::Invalid
    );
    assert_eq!(s.revoke_family(f, None).await.unwrap(), Vec::new());
    assert_eq!(s.family(f).await.unwrap(), None);
    assert!(
        !s.start_family(f, family(), None, x(), in_secs(60))
            .await
            .unwrap(),
        "a revoked family stays revoked"
    );

    // Spent tokens are remembered for a window only.
    let g = "fam-window";
    s.start_family(
        g,
        family(),
        Some([0; 32]),
        issued("a", live_exp()),
        in_secs(60),
    )
    .await
    .unwrap();
    for i in 0..=SPENT_REMEMBERED {
        let (cur, next) = ([i as u8; 32], [i as u8 + 1; 32]);
        // Expired access tokens are pruned, so the live cap is not hit.
        assert_eq!(
            s.rotate(g, "app", cur, next, issued("x", 0)).await.unwrap(),
            Rotation::Rotated(family())
        );
    }
    assert_eq!(
        s.rotate(g, "app", [0; 32], [99; 32], issued("x", 0))
            .await
            .unwrap(),
        Rotation::Invalid,
        "beyond the window: unknown, not a reuse"
    );
    match s
        .rotate(g, "app", [1; 32], [99; 32], issued("x", 0))
        .await
        .unwrap()
    {
        Rotation::Reused(live) => {
            assert_eq!(jtis(&live), ["a"], "expired tokens are not handed back")
        }
        other => panic!("{other:?}"),
    }

    // A family holds only so many live access tokens.
    let h = "fam-cap";
    s.start_family(
        h,
        family(),
        Some([0; 32]),
        issued("t0", live_exp()),
        in_secs(60),
    )
    .await
    .unwrap();
    let mut cur = [0u8; 32];
    for i in 1..MAX_LIVE_PER_FAMILY {
        let next = [i as u8; 32];
        assert_eq!(
            s.rotate(h, "app", cur, next, issued(&format!("t{i}"), live_exp()))
                .await
                .unwrap(),
            Rotation::Rotated(family()),
            "{i}"
        );
        cur = next;
    }
    assert_eq!(
        s.rotate(h, "app", cur, [200; 32], x()).await.unwrap(),
        Rotation::Invalid
    );
    // Refused without change: `cur` is still current, [200] never was.
    assert_eq!(
        s.revoke_family(h, Some([200; 32])).await.unwrap(),
        Vec::new()
    );
    assert_eq!(s.family(h).await.unwrap(), Some(family()));
    let live = s.revoke_family(h, Some(cur)).await.unwrap();
    assert_eq!(live.len(), MAX_LIVE_PER_FAMILY);
    assert_eq!(live[0].jti, "t0");
    assert_eq!(s.family(h).await.unwrap(), None);

    // Revocation by the client needs a token of the family.
    let r = "fam-revoke";
    s.start_family(
        r,
        family(),
        Some([1; 32]),
        issued("a", live_exp()),
        in_secs(60),
    )
    .await
    .unwrap();
    s.rotate(r, "app", [1; 32], [2; 32], issued("b", live_exp()))
        .await
        .unwrap();
    assert_eq!(s.revoke_family(r, Some([9; 32])).await.unwrap(), Vec::new());
    assert_eq!(s.family(r).await.unwrap(), Some(family()));
    let revoked = s.revoke_family(r, Some([1; 32])).await.unwrap();
    assert_eq!(
        jtis(&revoked),
        ["a", "b"],
        "a spent token of the family revokes it too"
    );
    assert_eq!(s.family(r).await.unwrap(), None);
    assert_eq!(s.revoke_family(r, None).await.unwrap(), Vec::new(), "once");
    assert_eq!(
        s.rotate(r, "app", [2; 32], [3; 32], x()).await.unwrap(),
        Rotation::Invalid
    );

    // An unknown family with a token: nothing, not even a tombstone.
    assert_eq!(
        s.revoke_family("fam-later", Some([1; 32])).await.unwrap(),
        Vec::new()
    );
    assert!(
        s.start_family("fam-later", family(), None, x(), in_secs(60))
            .await
            .unwrap()
    );
    // Without a token: a tombstone, so that it never starts (a code used
    // twice at once).
    assert_eq!(s.revoke_family("fam-tomb", None).await.unwrap(), Vec::new());
    assert!(
        !s.start_family("fam-tomb", family(), Some([1; 32]), x(), in_secs(60))
            .await
            .unwrap()
    );
    assert_eq!(s.family("fam-tomb").await.unwrap(), None);
    assert_eq!(
        s.rotate("fam-tomb", "app", [1; 32], [2; 32], x())
            .await
            .unwrap(),
        Rotation::Invalid
    );

    // A family with no refresh token: nothing rotates it.
    s.start_family("fam-none", family(), None, x(), in_secs(60))
        .await
        .unwrap();
    assert_eq!(
        s.rotate("fam-none", "app", [0; 32], [1; 32], x())
            .await
            .unwrap(),
        Rotation::Invalid
    );
    assert_eq!(s.family("fam-none").await.unwrap(), Some(family()));

    // Opaque access tokens come back whole.
    let opaque = Issued {
        jti: "o".into(),
        exp: live_exp(),
        opaque: Some([42; 32]),
    };
    s.start_family(
        "fam-opaque",
        family(),
        Some([1; 32]),
        opaque.clone(),
        in_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(
        s.revoke_family("fam-opaque", None).await.unwrap(),
        vec![opaque]
    );

    // Concurrent refreshes of one token: one rotates, one is a reuse that
    // revokes the family, the rest find it revoked.
    let c = "fam-race";
    s.start_family(
        c,
        family(),
        Some([1; 32]),
        issued("c0", live_exp()),
        in_secs(60),
    )
    .await
    .unwrap();
    let tasks: Vec<_> = (0..20u8)
        .map(|i| {
            let st = stores[usize::from(i) % stores.len()].clone();
            tokio::spawn(async move {
                st.rotate(
                    c,
                    "app",
                    [1; 32],
                    [100 + i; 32],
                    issued(&format!("c{}", i + 1), live_exp()),
                )
                .await
                .unwrap()
            })
        })
        .collect();
    let (mut rotated, mut reused, mut invalid) = (0, 0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Rotation::Rotated(fam) => {
                assert_eq!(fam, family());
                rotated += 1;
            }
            Rotation::Reused(live) => {
                assert_eq!(live.len(), 2, "the first token and the rotation's");
                reused += 1;
            }
            Rotation::Invalid => invalid += 1,
        }
    }
    assert_eq!((rotated, reused, invalid), (1, 1, 18));
    assert_eq!(s.family(c).await.unwrap(), None);

    // Families that expire, or were born expired.
    assert!(
        s.start_family("fam-old", family(), Some([1; 32]), x(), past())
            .await
            .unwrap()
    );
    assert_eq!(s.family("fam-old").await.unwrap(), None);
    assert_eq!(
        s.rotate("fam-old", "app", [1; 32], [2; 32], x())
            .await
            .unwrap(),
        Rotation::Invalid
    );
    s.start_family("fam-short", family(), Some([1; 32]), x(), in_ms(SHORT_MS))
        .await
        .unwrap();
    assert_eq!(s.family("fam-short").await.unwrap(), Some(family()));

    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(
        s.redeem_code(&[3; 32]).await.unwrap(),
        Redemption::Unknown,
        "expired unused"
    );
    assert_eq!(
        s.redeem_code(&[4; 32]).await.unwrap(),
        Redemption::Unknown,
        "expired spent"
    );
    assert_eq!(s.family("fam-short").await.unwrap(), None);
    assert_eq!(
        s.rotate("fam-short", "app", [1; 32], [2; 32], x())
            .await
            .unwrap(),
        Rotation::Invalid
    );
}

async fn rate_limits_behave(stores: &[Arc<dyn RateLimitStore>]) {
    let s = &*stores[0];
    let secs = Duration::from_secs;
    // 5 a minute, bursts of 5: T = 12 s.
    let q = Quota::new("api", 5, secs(60)).unwrap().with_burst(5);
    let t = q.interval();
    for n in 1..=5u32 {
        let d = s.check(&q, "caller-1").await.unwrap();
        assert!(d.allowed, "{n}");
        assert_eq!(d.remaining, 5 - n, "remaining counts down");
        assert_eq!(d.retry_after, Duration::ZERO);
        assert!(d.reset <= t * n && d.reset > t * n - secs(2), "{n}: {d:?}");
    }
    let refused = s.check(&q, "caller-1").await.unwrap();
    assert!(!refused.allowed);
    assert_eq!(refused.remaining, 0);
    assert!(
        refused.retry_after <= t && refused.retry_after > t - secs(2),
        "about one interval: {refused:?}"
    );
    assert!(
        refused.reset <= t * 5 && refused.reset > t * 5 - secs(2),
        "{refused:?}"
    );
    // Refusals take nothing.
    let again = stores[stores.len() - 1]
        .check(&q, "caller-1")
        .await
        .unwrap();
    assert!(
        !again.allowed && again.retry_after <= refused.retry_after,
        "{again:?}"
    );
    // Another partition, another quota: their own cells.
    let p2 = s.check(&q, "caller-2").await.unwrap();
    assert!(p2.allowed && p2.remaining == 4, "{p2:?}");
    let other = Quota::new("other", 5, secs(60)).unwrap();
    let o = s.check(&other, "caller-1").await.unwrap();
    assert!(o.allowed && o.remaining == 4, "{o:?}");
    // The same name with other numbers (a quota changed in a release) is
    // another quota too.
    let bigger = Quota::new("api", 6, secs(60)).unwrap();
    let b = s.check(&bigger, "caller-1").await.unwrap();
    assert!(b.allowed && b.remaining == 5, "{b:?}");

    // Sub-second: 10 a second, bursts of 1 (T = 100 ms).
    let fast = Quota::new("fast", 10, secs(1)).unwrap().with_burst(1);
    let first = s.check(&fast, "caller").await.unwrap();
    assert!(
        first.allowed && first.remaining == 0 && first.reset <= Duration::from_millis(100),
        "{first:?}"
    );
    let second = s.check(&fast, "caller").await.unwrap();
    assert!(!second.allowed, "{second:?}");
    assert!(
        !second.retry_after.is_zero() && second.retry_after <= Duration::from_millis(100),
        "sub-second retry_after: {second:?}"
    );
    tokio::time::sleep(second.retry_after + Duration::from_millis(30)).await;
    assert!(
        s.check(&fast, "caller").await.unwrap().allowed,
        "allowed once retry_after has passed"
    );

    // A cell whole again is as a fresh one: 2 per 200 ms.
    let tiny = Quota::new("tiny", 2, Duration::from_millis(200)).unwrap();
    assert!(s.check(&tiny, "caller").await.unwrap().allowed);
    assert!(s.check(&tiny, "caller").await.unwrap().allowed);
    assert!(!s.check(&tiny, "caller").await.unwrap().allowed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let whole = s.check(&tiny, "caller").await.unwrap();
    assert!(whole.allowed && whole.remaining == 1, "{whole:?}");

    // 50 concurrent checks on one partition, bursts of 5: exactly 5 pass,
    // each with its own remaining count.
    let conc = Arc::new(Quota::new("conc", 5, secs(60)).unwrap());
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (st, q) = (stores[i % stores.len()].clone(), conc.clone());
            tokio::spawn(async move { st.check(&q, "hot-caller").await.unwrap() })
        })
        .collect();
    let mut remaining = Vec::new();
    for t in tasks {
        let d = t.await.unwrap();
        if d.allowed {
            remaining.push(d.remaining);
        } else {
            assert!(d.retry_after > Duration::ZERO);
        }
    }
    remaining.sort_unstable();
    assert_eq!(
        remaining,
        [0, 1, 2, 3, 4],
        "exactly the burst is let through"
    );
}

/// A record to store: issued through `ApiKeys` over a scratch store.
async fn record(owner: &str) -> (KeyHash, KeyRecord) {
    let keys = ApiKeys::in_memory(Pepper::generate());
    let (key, record) = keys
        .issue(NewKey::new(owner, Environment::Test).scopes(["s"]))
        .await
        .unwrap();
    (keys.hash(key.expose().as_bytes()), record)
}

async fn key_store_behaves(store: Arc<dyn KeyStore>) {
    let s = &*store;
    assert_eq!(s.list().await.unwrap(), Vec::new());
    let (hash, rec) = record("a").await;
    assert!(s.get(&hash).await.unwrap().is_none());
    assert!(s.insert_if_absent(hash, rec.clone()).await.unwrap());
    // Insert-if-absent: neither the same hash nor the same id twice.
    assert!(!s.insert_if_absent(hash, rec.clone()).await.unwrap());
    let (other_hash, other) = record("b").await;
    assert!(!s.insert_if_absent(other_hash, rec.clone()).await.unwrap());
    let mut same_hash = other.clone();
    same_hash.owner = "b".into();
    assert!(!s.insert_if_absent(hash, same_hash).await.unwrap());
    let got = s.get(&hash).await.unwrap().unwrap();
    assert_eq!(*got, rec);
    let (found_hash, found) = s.find(&rec.id).await.unwrap().unwrap();
    assert_eq!((found_hash, &*found), (hash, &rec));
    assert!(s.find("nope").await.unwrap().is_none());
    assert!(s.get(&other_hash).await.unwrap().is_none());

    // Compare-and-set: applies against the current record only.
    let mut revoked = rec.clone();
    revoked.revoked_at = Some(1);
    assert!(
        s.compare_and_set(&hash, &got, revoked.clone())
            .await
            .unwrap()
    );
    let mut stale = rec.clone();
    stale.last_used_at = Some(2);
    assert!(
        !s.compare_and_set(&hash, &got, stale).await.unwrap(),
        "a change made from an old record must not undo a newer one"
    );
    assert_eq!(*s.get(&hash).await.unwrap().unwrap(), revoked);
    let mut renamed = revoked.clone();
    renamed.id = "other".to_owned();
    assert!(
        !s.compare_and_set(&hash, &revoked, renamed).await.unwrap(),
        "ids do not change"
    );
    assert!(
        !s.compare_and_set(&other_hash, &revoked, revoked.clone())
            .await
            .unwrap(),
        "absent"
    );
    s.flush().await.unwrap();
    assert!(s.insert_if_absent(other_hash, other.clone()).await.unwrap());
    let mut all = vec![revoked, other];
    all.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(s.list().await.unwrap(), all, "every record, by id");

    // Through the front door: a key issued into the store lets a request
    // in, and is refused once revoked.
    let keys = ApiKeys::with_store(store.clone(), Pepper::generate());
    let (key, issued) = keys
        .issue(NewKey::new("acme", Environment::Live))
        .await
        .unwrap();
    let guard = Guard::builder(ApiKeyAuthenticator::new(keys.clone()))
        .build()
        .unwrap();
    let req = SimpleRequest::get("/").header("x-api-key", key.expose());
    assert_eq!(
        guard
            .check(&req)
            .await
            .unwrap()
            .identity()
            .unwrap()
            .subject(),
        "acme"
    );
    assert!(keys.revoke(&issued.id).await.unwrap());
    assert_eq!(guard.check(&req).await.unwrap_err().status(), 401);
}

/// Every contract, on stores that share one state each.
struct Backend {
    counters: Vec<Arc<dyn CounterStore>>,
    revocations: Vec<Arc<dyn RevocationStore>>,
    tokens: Arc<dyn TokenStore>,
    grants: Vec<Arc<dyn GrantStore>>,
    rate_limits: Vec<Arc<dyn RateLimitStore>>,
    keys: Arc<dyn KeyStore>,
}

impl Backend {
    fn memory() -> Backend {
        let counters = Arc::new(MemoryCounters::new(10_000));
        let revocations = Arc::new(MemoryRevocations::new());
        let grants = Arc::new(MemoryGrants::new(10_000));
        let rate_limits = Arc::new(MemoryRateLimits::new(10_000));
        Backend {
            counters: vec![counters],
            revocations: vec![revocations],
            tokens: Arc::new(MemoryTokens::new(10_000)),
            grants: vec![grants],
            rate_limits: vec![rate_limits],
            keys: Arc::new(MemoryKeyStore::new()),
        }
    }

    /// Two connections to one Redis: two processes sharing the stores.
    fn redis(a: &Redis, b: &Redis) -> Backend {
        Backend {
            counters: vec![Arc::new(a.counters()), Arc::new(b.counters())],
            revocations: vec![Arc::new(a.revocations()), Arc::new(b.revocations())],
            tokens: Arc::new(a.tokens()),
            grants: vec![Arc::new(a.grants()), Arc::new(b.grants())],
            rate_limits: vec![Arc::new(a.rate_limits()), Arc::new(b.rate_limits())],
            keys: Arc::new(a.key_store()),
        }
    }

    async fn keep_the_contracts(&self) {
        tokio::join!(
            counters_behave(&self.counters),
            revocations_behave(&self.revocations),
            tokens_behave(&*self.tokens),
            grants_behave(&self.grants),
            rate_limits_behave(&self.rate_limits),
            key_store_behaves(self.keys.clone()),
        );
    }
}

// ---------------------------------------------------------------------
// Inspecting Redis behind the stores' backs.
// ---------------------------------------------------------------------

/// Every key on the server at `url`, with its time to live in ms (-1: none).
async fn keys_on(url: &str) -> Vec<(String, i64)> {
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut c)
        .await
        .unwrap();
    let mut out = Vec::new();
    for k in keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&k)
            .query_async(&mut c)
            .await
            .unwrap();
        out.push((k, ttl));
    }
    out
}

/// What the contracts would put into keys' names if a store let a
/// caller's string through (long enough not to turn up in a base64url
/// hash by chance). Quota names are configuration, and named in keys.
const RAW: [&str; 9] = [
    "caller",
    "fam-window",
    "fam-revoke",
    "fam-tomb",
    "fam-race",
    "absent",
    "fam-opaque",
    "jti-49",
    "alice",
];

fn keys_are_clean(keys: &[(String, i64)], prefix: &str) {
    assert!(!keys.is_empty());
    for (k, ttl) in keys {
        assert!(
            k.starts_with(&format!("{prefix}:{{")),
            "prefix and hash tag: {k}"
        );
        let tag = &k[prefix.len() + 2..];
        for raw in RAW {
            assert!(!tag.contains(raw), "{raw:?} reached a key: {k}");
        }
        let api_keys = k.starts_with(&format!("{prefix}:{{keys}}:"));
        assert!(
            api_keys || *ttl > 0,
            "every key but API key records expires: {k} {ttl}"
        );
    }
}

// ---------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stores_keep_the_contracts() {
    Backend::memory().keep_the_contracts().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stores_keep_the_contracts_and_their_keys_clean() {
    if !harness::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let a = Redis::connect(&server.url())
        .await
        .unwrap()
        .with_prefix("t1");
    let b = Redis::connect(&server.url())
        .await
        .unwrap()
        .with_prefix("t1");
    assert_eq!(a.prefix(), "t1");
    Backend::redis(&a, &b).keep_the_contracts().await;
    keys_are_clean(&keys_on(&server.url()).await, "t1");
    // Another prefix is another namespace.
    let c = Redis::connect(&server.url())
        .await
        .unwrap()
        .with_prefix("{t2}");
    assert_eq!(c.prefix(), "t2", "braces would change the hash tags");
    assert!(!c.revocations().is_revoked("i", "j").await.unwrap());
    assert!(a.revocations().is_revoked("i", "j").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_stores_keep_the_contracts() {
    if !harness::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path());
    let urls = cluster.urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    // Each operation's keys sit on one slot, or the cluster refuses it
    // (CROSSSLOT, or a script reaching a key of another slot).
    let a = Redis::connect_cluster(&urls).await.unwrap();
    let b = Redis::connect_cluster(&urls[1..]).await.unwrap();
    assert_eq!(a.prefix(), "auth");
    Backend::redis(&a, &b).keep_the_contracts().await;
    // The keys are spread over the nodes, and each is clean.
    let mut holding = 0;
    for url in &urls {
        let keys = keys_on(url).await;
        if !keys.is_empty() {
            holding += 1;
            keys_are_clean(&keys, "auth");
        }
    }
    assert!(holding >= 2, "the stores use the cluster's nodes, not one");
    assert!(format!("{a:?}").contains("cluster"));
}

fn assert_unavailable<T: std::fmt::Debug>(r: Result<T, StoreError>, what: &str) {
    match r {
        Err(e) => {
            assert_eq!(e.kind(), StoreErrorKind::Unavailable, "{what}");
            assert!(e.to_string().contains("redis"), "{what}: {e}");
        }
        Ok(v) => panic!("{what}: answered {v:?} with Redis down"),
    }
}

/// `f`, which must finish within a few seconds.
async fn soon<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), f)
        .await
        .unwrap_or_else(|_| panic!("{what} hung with Redis down"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_fails_closed_or_open_and_the_same_stores_recover() {
    if !harness::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[]);
    let redis = Redis::connect(&server.url()).await.unwrap();
    let (counters, revocations, tokens, grants, limits, keys) = (
        redis.counters(),
        redis.revocations(),
        redis.tokens(),
        redis.grants(),
        redis.rate_limits(),
        redis.key_store(),
    );
    let open_counters = redis.counters().fail_mode(FailMode::Open);
    let open_revocations = redis.revocations().fail_mode(FailMode::Open);
    let open_limits = redis.rate_limits().fail_mode(FailMode::Open);
    let quota = Quota::new("api", 3, Duration::from_secs(60)).unwrap();
    let (hash, rec) = record("k").await;

    // Up: every store answers (the scripts are loaded now).
    revocations.revoke("i", "j", in_secs(60)).await.unwrap();
    assert!(open_revocations.is_revoked("i", "j").await.unwrap());
    assert_eq!(
        open_counters
            .increment("c", Duration::from_secs(60))
            .await
            .unwrap()
            .value,
        1
    );
    assert_eq!(open_limits.check(&quota, "p").await.unwrap().remaining, 2);
    assert!(keys.insert_if_absent(hash, rec.clone()).await.unwrap());
    tokens
        .insert([1; 32], claims("a"), in_secs(60))
        .await
        .unwrap();
    grants
        .put_code([1; 32], grant("f"), in_secs(60))
        .await
        .unwrap();

    server.kill();

    // Closed: an error of kind Unavailable, soon; never an answer.
    let w = Duration::from_secs(60);
    assert_unavailable(
        soon("is_revoked", revocations.is_revoked("i", "j")).await,
        "is_revoked",
    );
    assert_unavailable(
        soon("revoke", revocations.revoke("i", "k", in_secs(60))).await,
        "revoke",
    );
    assert_unavailable(
        soon("increment", counters.increment("c", w)).await,
        "increment",
    );
    assert_unavailable(soon("get", counters.get("c")).await, "counter get");
    assert_unavailable(
        soon("decrement", counters.decrement("c")).await,
        "decrement",
    );
    assert_unavailable(soon("tokens.get", tokens.get(&[1; 32])).await, "tokens.get");
    assert_unavailable(
        soon(
            "tokens.insert",
            tokens.insert([2; 32], claims("b"), in_secs(60)),
        )
        .await,
        "tokens.insert",
    );
    assert_unavailable(
        soon("tokens.remove", tokens.remove(&[1; 32])).await,
        "tokens.remove",
    );
    assert_unavailable(
        soon("redeem", grants.redeem_code(&[1; 32])).await,
        "redeem_code",
    );
    assert_unavailable(
        soon(
            "put_code",
            grants.put_code([2; 32], grant("g"), in_secs(60)),
        )
        .await,
        "put_code",
    );
    assert_unavailable(
        soon(
            "start",
            grants.start_family("f", family(), None, issued("a", live_exp()), in_secs(60)),
        )
        .await,
        "start_family",
    );
    assert_unavailable(soon("family", grants.family("f")).await, "family");
    assert_unavailable(
        soon(
            "rotate",
            grants.rotate("f", "app", [1; 32], [2; 32], issued("b", live_exp())),
        )
        .await,
        "rotate",
    );
    assert_unavailable(
        soon("revoke_family", grants.revoke_family("f", None)).await,
        "revoke_family",
    );
    assert_unavailable(soon("check", limits.check(&quota, "p")).await, "rate check");
    assert_unavailable(soon("keys.get", keys.get(&hash)).await, "keys.get");
    assert_unavailable(soon("keys.find", keys.find(&rec.id)).await, "keys.find");
    assert_unavailable(
        soon("keys.insert", keys.insert_if_absent(hash, rec.clone())).await,
        "insert_if_absent",
    );
    assert_unavailable(
        soon("keys.cas", keys.compare_and_set(&hash, &rec, rec.clone())).await,
        "compare_and_set",
    );
    assert_unavailable(soon("keys.list", keys.list()).await, "keys.list");

    // Open: the documented answers.
    assert!(
        !soon("open is_revoked", open_revocations.is_revoked("i", "j"))
            .await
            .unwrap(),
        "nothing revoked"
    );
    assert_unavailable(
        soon(
            "open revoke",
            open_revocations.revoke("i", "k", in_secs(60)),
        )
        .await,
        "a revocation never fails open",
    );
    let fresh = soon("open increment", open_counters.increment("c", w))
        .await
        .unwrap();
    assert_eq!((fresh.value, fresh.expires_in), (1, w), "a fresh counter");
    assert_eq!(
        soon("open get", open_counters.get("c")).await.unwrap(),
        None
    );
    soon("open decrement", open_counters.decrement("c"))
        .await
        .unwrap();
    let d = soon("open check", open_limits.check(&quota, "p"))
        .await
        .unwrap();
    assert!(
        d.allowed && d.remaining == 2 && d.retry_after.is_zero(),
        "a fresh cell: {d:?}"
    );

    // Back on the same port, empty (and without the scripts: EVALSHA
    // meets NOSCRIPT and loads them again): the same stores work again.
    server.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while revocations.is_revoked("i", "j").await.is_err() {
        assert!(std::time::Instant::now() < deadline, "never reconnected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !revocations.is_revoked("i", "j").await.unwrap(),
        "the new server is empty"
    );
    revocations.revoke("i", "j", in_secs(60)).await.unwrap();
    assert!(
        open_revocations.is_revoked("i", "j").await.unwrap(),
        "open stores answer from Redis again"
    );
    assert_eq!(counters.increment("c", w).await.unwrap().value, 1);
    assert_eq!(open_counters.increment("c", w).await.unwrap().value, 2);
    assert_eq!(limits.check(&quota, "p").await.unwrap().remaining, 2);
    assert_eq!(open_limits.check(&quota, "p").await.unwrap().remaining, 1);
    assert!(keys.insert_if_absent(hash, rec.clone()).await.unwrap());
    assert_eq!(keys.find(&rec.id).await.unwrap().unwrap().0, hash);
    grants
        .put_code([1; 32], grant("f"), in_secs(60))
        .await
        .unwrap();
    assert_eq!(
        grants.redeem_code(&[1; 32]).await.unwrap(),
        Redemption::Fresh(grant("f"))
    );
    assert!(
        grants
            .start_family(
                "f",
                family(),
                Some([1; 32]),
                issued("a", live_exp()),
                in_secs(60)
            )
            .await
            .unwrap()
    );
    assert_eq!(
        grants
            .rotate("f", "app", [1; 32], [2; 32], issued("b", live_exp()))
            .await
            .unwrap(),
        Rotation::Rotated(family())
    );
    tokens
        .insert([1; 32], claims("a"), in_secs(60))
        .await
        .unwrap();
    assert_eq!(tokens.get(&[1; 32]).await.unwrap(), Some(claims("a")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_fails_fast_and_never_shows_the_password() {
    if !harness::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--requirepass", "pw-hunter2"]);
    let port = server.port;
    // The right password: connected, and the handle does not show it.
    let redis = Redis::connect(&format!("redis://:pw-hunter2@127.0.0.1:{port}"))
        .await
        .unwrap();
    let debug = format!("{redis:?} {:?} {:?}", redis.revocations(), redis.grants());
    assert!(
        !debug.contains("hunter2") && !debug.contains(&port.to_string()),
        "{debug}"
    );
    assert!(!redis.revocations().is_revoked("i", "j").await.unwrap());
    // A wrong one, nothing listening, not a URL: errors, without the URL.
    let wrong = Redis::connect(&format!("redis://:wrong-hunter2@127.0.0.1:{port}"))
        .await
        .unwrap_err();
    let closed_port = harness::free_port();
    let nobody = soon(
        "connect",
        Redis::connect(&format!("redis://:pw-hunter2@127.0.0.1:{closed_port}")),
    )
    .await
    .unwrap_err();
    let garbage = Redis::connect("nonsense://:pw-hunter2@[")
        .await
        .unwrap_err();
    let no_cluster = soon(
        "connect_cluster",
        Redis::connect_cluster(&[&format!("redis://:pw-hunter2@127.0.0.1:{closed_port}")]),
    )
    .await
    .unwrap_err();
    for e in [wrong, nobody, garbage, no_cluster] {
        assert_eq!(e.kind(), StoreErrorKind::Unavailable);
        let text = format!("{e} {e:?}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_times_out_and_the_same_stores_recover() {
    if !harness::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let redis = Redis::connect(&server.url()).await.unwrap();
    let grants = redis.grants();
    let limits = redis.rate_limits().fail_mode(FailMode::Open);
    let quota = Quota::new("api", 3, Duration::from_secs(60)).unwrap();
    grants
        .put_code([1; 32], grant("f"), in_secs(60))
        .await
        .unwrap();
    assert_eq!(limits.check(&quota, "caller").await.unwrap().remaining, 2);
    // The server accepts connections but answers nothing: every call ends
    // within the bound, none hangs.
    server.signal("STOP");
    let stuck = soon("redeem_code", grants.redeem_code(&[1; 32])).await;
    let open = soon("check", limits.check(&quota, "caller")).await;
    server.signal("CONT");
    assert_unavailable(stuck, "redeem_code on a frozen Redis");
    assert_eq!(open.unwrap().remaining, 2, "failed open: a fresh cell");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let redeemed = loop {
        match grants.redeem_code(&[1; 32]).await {
            Ok(r) => break r,
            Err(_) => assert!(std::time::Instant::now() < deadline, "never recovered"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The redemption sent while frozen may have run once the server woke
    // up: either way the code is spent exactly once.
    assert!(
        matches!(redeemed, Redemption::Fresh(_) | Redemption::Spent { .. }),
        "{redeemed:?}"
    );
    assert!(matches!(
        grants.redeem_code(&[1; 32]).await.unwrap(),
        Redemption::Spent { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_redis_refuses_writes_as_a_full_store() {
    if !harness::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--maxmemory-policy", "noeviction"]);
    let redis = Redis::connect(&server.url()).await.unwrap();
    let revocations = redis.revocations();
    revocations.revoke("i", "kept", in_secs(60)).await.unwrap();
    // Every write is over the limit now; reads still answer.
    let client = redis::Client::open(server.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(1)
        .query_async(&mut c)
        .await
        .unwrap();
    let full = revocations
        .revoke("i", "new", in_secs(60))
        .await
        .unwrap_err();
    assert_eq!(full.kind(), StoreErrorKind::Full, "{full}");
    assert!(
        revocations.is_revoked("i", "kept").await.unwrap(),
        "nothing was evicted"
    );
    assert!(!revocations.is_revoked("i", "new").await.unwrap());
    let quota = Quota::new("api", 3, Duration::from_secs(60)).unwrap();
    let e = redis
        .rate_limits()
        .check(&quota, "caller")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Full, "{e}");
    let e = redis
        .grants()
        .put_code([1; 32], grant("f"), in_secs(60))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Full, "{e}");
    let e = redis
        .counters()
        .increment("c", Duration::from_secs(60))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Full, "{e}");
    let e = redis
        .tokens()
        .insert([1; 32], claims("a"), in_secs(60))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Full, "{e}");
    let (hash, rec) = record("k").await;
    let e = redis
        .key_store()
        .insert_if_absent(hash, rec)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Full, "{e}");
}
