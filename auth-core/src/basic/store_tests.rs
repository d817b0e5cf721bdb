//! Users from a [`UserStore`]: everything the fixed list gets, the refusals
//! first.

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Instant;

use base64::Engine as _;

use super::*;
use crate::store::MemoryUserStore;
use crate::{Guard, SimpleRequest};

/// A [`MemoryUserStore`] that counts its lookups, can be taken down, slowed
/// or made to match names case-insensitively (as some databases do).
#[derive(Default)]
struct TestStore {
    users: MemoryUserStore,
    lookups: AtomicUsize,
    down: AtomicBool,
    delay: Option<Duration>,
    case_insensitive: bool,
    /// Records as a database might hold them, unchecked; looked up first.
    raw: std::sync::Mutex<HashMap<String, BasicUser>>,
}

impl UserStore for TestStore {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<BasicUser>, StoreError>> {
        Box::pin(async move {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            if let Some(d) = self.delay {
                tokio::time::sleep(d).await;
            }
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::new("test user store is down", None));
            }
            let name = if self.case_insensitive {
                name.to_lowercase()
            } else {
                name.to_owned()
            };
            if let Some(u) = self.raw.lock().unwrap().get(&name) {
                return Ok(Some(u.clone()));
            }
            self.users.get(&name).await
        })
    }
}

use crate::error::StoreError;

fn store_with(users: &[(&str, &str)]) -> Arc<TestStore> {
    let store = TestStore::default();
    for (name, pw) in users {
        store
            .users
            .insert(BasicUser::new(*name, hash_password(pw).unwrap()).scopes(["s"]))
            .unwrap();
    }
    Arc::new(store)
}

fn guard_over(store: Arc<TestStore>, b: BasicAuthenticatorBuilder) -> (BasicAuthenticator, Guard) {
    let a = b.user_store(store).build().unwrap();
    let g = Guard::builder(a.clone()).realm("r").build().unwrap();
    (a, g)
}

fn basic(user: &str, pass: &str) -> SimpleRequest {
    let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    SimpleRequest::get("/")
        .tls(true)
        .header("authorization", format!("Basic {b}"))
}

fn hash_with(m: u32, t: u32, pw: &str) -> String {
    let params = Params::new(m, t, 1, None).unwrap();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(pw.as_bytes())
        .unwrap()
        .to_string()
}

fn dummy_params(a: &BasicAuthenticator) -> (u32, u32) {
    let p = Params::try_from(&PasswordHash::new(&a.inner.dummy_hash).unwrap()).unwrap();
    (p.m_cost(), p.t_cost())
}

fn lookups(s: &TestStore) -> usize {
    s.lookups.load(Ordering::SeqCst)
}

fn assert_basic_401(r: &crate::Rejection) {
    assert_eq!(r.status(), 401);
    assert!(
        r.header_values("www-authenticate")
            .any(|c| c.starts_with("Basic ")),
        "{:?}",
        r.header_values("www-authenticate").collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn store_users_log_in_and_unknown_ones_cost_a_check_like_a_wrong_password() {
    let store = store_with(&[("alice", "pw")]);
    let (a, g) = guard_over(store.clone(), BasicAuthenticator::builder());
    let id = g
        .check(&basic("alice", "pw"))
        .await
        .unwrap()
        .into_identity()
        .unwrap();
    assert_eq!(id.subject(), "alice");
    assert!(id.has_scope("s"));
    assert_eq!((lookups(&store), a.verification_count()), (1, 1));
    // A wrong password and an unknown name: one lookup and one check each.
    assert_basic_401(&g.check(&basic("alice", "nope")).await.unwrap_err());
    assert_eq!((lookups(&store), a.verification_count()), (2, 2));
    assert_basic_401(&g.check(&basic("mallory", "pw")).await.unwrap_err());
    assert_eq!((lookups(&store), a.verification_count()), (3, 3));
    // Against a dummy made with the store's parameters, which are those of
    // alice's hash.
    assert_eq!(dummy_params(&a), (19_456, 2));
    let alice = store.users.get("alice").await.unwrap().unwrap();
    let p = Params::try_from(&PasswordHash::new(&alice.password_hash).unwrap()).unwrap();
    assert_eq!((p.m_cost(), p.t_cost()), dummy_params(&a));
    // The same work as the declared parameters: nothing to warn about.
    assert!(!a.inner.warned_cheaper.load(Ordering::SeqCst));
}

#[tokio::test]
async fn the_dummy_follows_the_declared_store_parameters_and_the_fixed_users() {
    let store = store_with(&[]);
    let p = Params::new(47_104, 1, 1, None).unwrap();
    let (a, _) = guard_over(
        store.clone(),
        BasicAuthenticator::builder().store_hash_params(p),
    );
    assert_eq!(dummy_params(&a), (47_104, 1));
    // A fixed user costlier than the store's parameters: the costliest.
    let (a, _) = guard_over(
        store.clone(),
        BasicAuthenticator::builder().user(BasicUser::new("root", hash_with(12_288, 5, "x"))),
    );
    assert_eq!(dummy_params(&a), (12_288, 5));
    // Parameters below OWASP's minimum are refused at build.
    let weak = Params::new(19_455, 2, 1, None).unwrap();
    let b = BasicAuthenticator::builder()
        .store_hash_params(weak)
        .user_store(store);
    assert!(b.build().is_err());
}

#[tokio::test]
async fn a_store_that_cannot_answer_is_503_never_401_and_never_locks() {
    let store = store_with(&[("alice", "pw")]);
    let (a, g) = guard_over(
        store.clone(),
        BasicAuthenticator::builder().lockout(2, Duration::from_secs(900)),
    );
    store.down.store(true, Ordering::SeqCst);
    for (user, pass) in [("alice", "pw"), ("alice", "nope"), ("mallory", "x")] {
        for _ in 0..4 {
            let r = g.check(&basic(user, pass)).await.unwrap_err();
            assert_eq!(r.status(), 503, "{user}");
            assert!(r.header_values("retry-after").next().is_some());
            assert!(r.header_values("www-authenticate").next().is_none());
        }
    }
    // Nothing was hashed, nothing remembered, nothing counted as a failure.
    assert_eq!(a.verification_count(), 0);
    assert_eq!(a.inner.refused.entry_count(), 0);
    let attempt = a.inner.lockout.attempt("alice", None);
    assert!(
        a.inner
            .lockout
            .locked_for(&attempt)
            .await
            .unwrap()
            .is_none()
    );
    // Back up: the right password passes, the wrong one is a 401.
    store.down.store(false, Ordering::SeqCst);
    assert!(g.check(&basic("alice", "pw")).await.is_ok());
    assert_basic_401(&g.check(&basic("alice", "nope")).await.unwrap_err());
}

#[tokio::test]
async fn store_users_are_locked_out_even_with_the_right_password() {
    let store = store_with(&[("alice", "pw")]);
    let (a, g) = guard_over(
        store.clone(),
        BasicAuthenticator::builder().lockout(3, Duration::from_secs(900)),
    );
    for i in 0..3 {
        assert_basic_401(
            &g.check(&basic("alice", &format!("bad{i}")))
                .await
                .unwrap_err(),
        );
    }
    let r = g.check(&basic("alice", "pw")).await.unwrap_err();
    assert_eq!(r.status(), 429);
    assert!(r.header_values("retry-after").next().is_some());
    // Locked before the store is asked or a hash is run.
    assert_eq!((lookups(&store), a.verification_count()), (3, 3));
    // Unknown names are locked out the same way.
    for i in 0..3 {
        assert_basic_401(
            &g.check(&basic("ghost", &format!("g{i}")))
                .await
                .unwrap_err(),
        );
    }
    assert_eq!(
        g.check(&basic("ghost", "g")).await.unwrap_err().status(),
        429
    );
    assert_eq!((lookups(&store), a.verification_count()), (6, 6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_against_a_store_user_get_at_most_the_limit_of_checks() {
    let store = store_with(&[("alice", "pw")]);
    let (a, g) = guard_over(
        store.clone(),
        BasicAuthenticator::builder()
            .lockout(5, Duration::from_secs(900))
            .max_concurrent_hashes(64),
    );
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let g = g.clone();
            tokio::spawn(async move {
                g.check(&basic("alice", &format!("guess-{i}")))
                    .await
                    .map_or_else(|e| e.status(), |_| 200)
            })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    assert_eq!(got.iter().filter(|s| **s == 401).count(), 5, "{got:?}");
    assert_eq!(got.iter().filter(|s| **s == 429).count(), 27, "{got:?}");
    assert_eq!((lookups(&store), a.verification_count()), (5, 5));
}

#[tokio::test]
async fn over_long_credentials_never_reach_the_store() {
    let store = store_with(&[("alice", "pw")]);
    let (a, g) = guard_over(store.clone(), BasicAuthenticator::builder());
    for (user, pass) in [
        ("u".repeat(MAX_USER_LEN + 1), "pw".to_owned()),
        ("alice".to_owned(), "p".repeat(MAX_PASSWORD_LEN + 1)),
        ("u".repeat(100_000), "pw".to_owned()),
    ] {
        assert_basic_401(&g.check(&basic(&user, &pass)).await.unwrap_err());
    }
    assert_eq!((lookups(&store), a.verification_count()), (0, 0));
    // Nor do over-long names get into the store.
    let long = BasicUser::new("u".repeat(MAX_USER_LEN + 1), hash_password("pw").unwrap());
    assert!(store.users.insert(long).is_err());
    assert!(
        store
            .users
            .insert(BasicUser::new("", hash_password("pw").unwrap()))
            .is_err()
    );
}

#[tokio::test]
async fn hashing_stays_bounded_for_store_users() {
    let store = store_with(&[("alice", "pw")]);
    let (a, g) = guard_over(
        store.clone(),
        BasicAuthenticator::builder().max_concurrent_hashes(0),
    );
    for user in ["alice", "mallory"] {
        let r = g.check(&basic(user, "pw")).await.unwrap_err();
        assert_eq!(r.status(), 503);
        assert_eq!(r.header_values("retry-after").collect::<Vec<_>>(), ["1"]);
        assert!(r.header_values("www-authenticate").next().is_none());
    }
    assert_eq!(a.verification_count(), 0);
}

#[tokio::test]
async fn records_unfit_to_check_are_refused_like_unknown_users() {
    let store = store_with(&[]);
    let (a, g) = guard_over(store.clone(), BasicAuthenticator::builder());
    // Written behind MemoryUserStore::insert's back (as a database would
    // hold them): argon2i, below OWASP's minimum, costlier than the
    // declared parameters, not a hash at all.
    let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
        .hash_password(b"pw")
        .unwrap()
        .to_string();
    let bad = [
        ("i", argon2i),
        ("weak", hash_with(8_192, 2, "pw")),
        ("costly", hash_with(47_104, 2, "pw")),
        ("plain", "pw".to_owned()),
    ];
    {
        let mut t = store.raw.lock().unwrap();
        for (name, hash) in &bad {
            t.insert((*name).to_owned(), BasicUser::new(*name, hash.clone()));
        }
    }
    for (i, (name, _)) in bad.iter().enumerate() {
        assert_basic_401(&g.check(&basic(name, "pw")).await.unwrap_err());
        // Checked against the dummy hash, as an unknown user is.
        assert_eq!(a.verification_count(), i as u64 + 1, "{name}");
    }
    // Cheaper than declared but above the minimum: accepted (and warned
    // about once).
    store
        .users
        .insert(BasicUser::new("cheap", hash_with(7_168, 5, "pw")))
        .unwrap();
    assert!(g.check(&basic("cheap", "pw")).await.is_ok());
    assert!(a.inner.warned_cheaper.load(Ordering::SeqCst));
    // Raising the declared parameters admits the costly one.
    let p = Params::new(47_104, 2, 1, None).unwrap();
    let (_, g) = guard_over(store, BasicAuthenticator::builder().store_hash_params(p));
    assert!(g.check(&basic("costly", "pw")).await.is_ok());
}

#[tokio::test]
async fn a_case_insensitive_store_cannot_spread_guesses_over_lockout_counters() {
    let store = Arc::new(TestStore {
        case_insensitive: true,
        ..TestStore::default()
    });
    store
        .users
        .insert(BasicUser::new("alice", hash_password("pw").unwrap()))
        .unwrap();
    let (a, g) = guard_over(
        store.clone(),
        BasicAuthenticator::builder().lockout(2, Duration::from_secs(900)),
    );
    assert!(g.check(&basic("alice", "pw")).await.is_ok());
    // "ALICE", "Alice", ... are other names, each with its own counter:
    // were they answered with alice's record, each would be a fresh guess
    // at her password. They are refused as unknown, even with her password.
    for name in ["ALICE", "Alice", "aLiCe"] {
        assert_basic_401(&g.check(&basic(name, "pw")).await.unwrap_err());
    }
    assert_eq!(a.verification_count(), 4);
}

#[tokio::test]
async fn the_fixed_list_wins_and_skips_the_store() {
    let store = store_with(&[("alice", "from-store")]);
    let (_, g) = guard_over(
        store.clone(),
        BasicAuthenticator::builder()
            .user(BasicUser::new("alice", hash_password("fixed").unwrap())),
    );
    assert!(g.check(&basic("alice", "fixed")).await.is_ok());
    assert_basic_401(&g.check(&basic("alice", "from-store")).await.unwrap_err());
    assert_eq!(lookups(&store), 0);
}

#[tokio::test]
async fn one_lookup_and_one_check_per_credential_within_the_ttl() {
    let store = store_with(&[("alice", "pw")]);
    let (a, g) = guard_over(store.clone(), BasicAuthenticator::builder());
    for _ in 0..10 {
        assert!(g.check(&basic("alice", "pw")).await.is_ok());
    }
    for _ in 0..3 {
        assert_basic_401(&g.check(&basic("alice", "bad")).await.unwrap_err());
    }
    assert_eq!((lookups(&store), a.verification_count()), (2, 2));
}

#[tokio::test]
async fn a_removed_or_changed_user_is_refused_once_the_ttl_has_passed() {
    let ttl = Duration::from_millis(400);
    let store = store_with(&[("alice", "pw"), ("bob", "old")]);
    let (_, g) = guard_over(store.clone(), BasicAuthenticator::builder().cache_ttl(ttl));
    assert!(g.check(&basic("alice", "pw")).await.is_ok());
    assert!(g.check(&basic("bob", "old")).await.is_ok());
    assert!(store.users.remove("alice"));
    store
        .users
        .insert(BasicUser::new("bob", hash_password("new").unwrap()))
        .unwrap();
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert_basic_401(&g.check(&basic("alice", "pw")).await.unwrap_err());
    assert_basic_401(&g.check(&basic("bob", "old")).await.unwrap_err());
    assert!(g.check(&basic("bob", "new")).await.is_ok());
    // With the cache off, a removal counts from the next request.
    let (_, g) = guard_over(
        store.clone(),
        BasicAuthenticator::builder().cache_ttl(Duration::ZERO),
    );
    assert!(g.check(&basic("bob", "new")).await.is_ok());
    assert!(store.users.remove("bob"));
    assert_basic_401(&g.check(&basic("bob", "new")).await.unwrap_err());
}

#[tokio::test]
async fn the_ttl_counts_from_before_the_store_was_read() {
    // A slow store: what it said is believed for the TTL from before the
    // read, not from when the check ended.
    let store = Arc::new(TestStore {
        delay: Some(Duration::from_millis(600)),
        ..TestStore::default()
    });
    store
        .users
        .insert(BasicUser::new("alice", hash_password("pw").unwrap()))
        .unwrap();
    let ttl = Duration::from_millis(700);
    let (_, g) = guard_over(store.clone(), BasicAuthenticator::builder().cache_ttl(ttl));
    let started = Instant::now();
    assert!(g.check(&basic("alice", "pw")).await.is_ok());
    let ended = Instant::now();
    assert!(store.users.remove("alice"));
    // Past the deadline counted from the start, but well within the TTL
    // counted from the end of the check.
    let deadline = started + ttl + Duration::from_millis(50);
    if deadline > Instant::now() {
        tokio::time::sleep_until(deadline.into()).await;
    }
    assert!(
        Instant::now() < ended + ttl,
        "the machine is too slow for this test"
    );
    assert_basic_401(&g.check(&basic("alice", "pw")).await.unwrap_err());
}

#[tokio::test]
async fn plaintext_is_refused_before_the_store_is_asked() {
    let store = store_with(&[("alice", "pw")]);
    let (a, g) = guard_over(store.clone(), BasicAuthenticator::builder());
    let r = g.check(&basic("alice", "pw").tls(false)).await.unwrap_err();
    assert_eq!(r.status(), 401);
    assert!(String::from_utf8_lossy(r.body()).contains("TLS"));
    assert_eq!((lookups(&store), a.verification_count()), (0, 0));
}

#[test]
fn debug_shows_the_store_but_no_hash() {
    let h = hash_password("x").unwrap();
    let store = MemoryUserStore::new();
    store.insert(BasicUser::new("a", h.clone())).unwrap();
    assert!(!format!("{store:?}").contains(&h));
    let a = BasicAuthenticator::builder()
        .user_store(Arc::new(store))
        .build()
        .unwrap();
    assert!(format!("{a:?}").contains("user_store: true"));
}
