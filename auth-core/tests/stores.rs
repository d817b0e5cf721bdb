//! The store traits, exercised through the traits themselves on every
//! in-process implementation: what each atomic operation promises, under
//! concurrency too.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_core::api_key::{
    ApiKeyAuthenticator, ApiKeys, Environment, KeyHash, KeyRecord, NewKey, Pepper,
};
use auth_core::store::{
    CounterStore, FileKeyStore, FoundKey, KeyStore, MemoryCounters, MemoryKeyStore,
    MemoryRevocations, RevocationStore,
};
use auth_core::{BoxFuture, Guard, SimpleRequest, StoreError};

/// A record to store: issued through `ApiKeys` over a scratch store, so
/// that the test needs no way to build one by hand.
async fn record(owner: &str) -> (KeyHash, KeyRecord) {
    let keys = ApiKeys::in_memory(Pepper::generate());
    let (key, record) = keys
        .issue(NewKey::new(owner, Environment::Test).scopes(["s"]))
        .await
        .unwrap();
    (keys.hash(key.expose().as_bytes()), record)
}

async fn key_store_contract(store: &dyn KeyStore) {
    let (hash, rec) = record("a").await;
    assert!(store.get(&hash).await.unwrap().is_none());
    assert!(store.insert_if_absent(hash, rec.clone()).await.unwrap());
    // Insert-if-absent: neither the same hash nor the same id twice.
    assert!(!store.insert_if_absent(hash, rec.clone()).await.unwrap());
    let (other_hash, _) = record("b").await;
    assert!(
        !store
            .insert_if_absent(other_hash, rec.clone())
            .await
            .unwrap()
    );
    let got = store.get(&hash).await.unwrap().unwrap();
    assert_eq!(*got, rec);
    let (found_hash, found) = store.find(&rec.id).await.unwrap().unwrap();
    assert_eq!((found_hash, &*found), (hash, &rec));
    assert!(store.find("nope").await.unwrap().is_none());

    // Compare-and-set: applies against the current record only.
    let mut revoked = rec.clone();
    revoked.revoked_at = Some(1);
    assert!(
        store
            .compare_and_set(&hash, &got, revoked.clone())
            .await
            .unwrap()
    );
    let mut stale = rec.clone();
    stale.last_used_at = Some(2);
    assert!(
        !store.compare_and_set(&hash, &got, stale).await.unwrap(),
        "a change made from an old record must not undo a newer one"
    );
    assert_eq!(*store.get(&hash).await.unwrap().unwrap(), revoked);
    // The id of a record does not change under it.
    let mut renamed = revoked.clone();
    renamed.id = "other".to_owned();
    assert!(
        !store
            .compare_and_set(&hash, &revoked, renamed)
            .await
            .unwrap()
    );
    assert!(
        !store
            .compare_and_set(&other_hash, &revoked, revoked.clone())
            .await
            .unwrap()
    );
    store.flush().await.unwrap();
    assert_eq!(store.list().await.unwrap(), [revoked]);
}

#[tokio::test]
async fn memory_key_store_keeps_the_contract() {
    key_store_contract(&MemoryKeyStore::new()).await;
}

#[tokio::test]
async fn file_key_store_keeps_the_contract_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    let store = FileKeyStore::open(&path).unwrap();
    key_store_contract(&store).await;
    let listed = store.list().await.unwrap();
    drop(store);
    let on_disk = FileKeyStore::open(&path).unwrap();
    assert_eq!(
        on_disk.list().await.unwrap(),
        listed,
        "flushed changes are on disk"
    );
    // Only the file and its lock are left: no temporary file.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["keys.json", "keys.json.lock"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn two_stores_on_one_file_never_undo_each_others_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    // Two processes of one service, as far as the file can tell.
    let a = FileKeyStore::open(&path).unwrap();
    let b = FileKeyStore::open(&path).unwrap();
    let (h1, r1) = record("one").await;
    let (h2, r2) = record("two").await;
    assert!(a.insert_if_absent(h1, r1.clone()).await.unwrap());
    a.flush().await.unwrap();
    // b issues its own key: its write keeps a's.
    assert!(b.insert_if_absent(h2, r2.clone()).await.unwrap());
    b.flush().await.unwrap();
    // a revokes its key; b then touches the same key from its stale copy
    // (last_used_at): b's write must not undo the revocation.
    let mut revoked = r1.clone();
    revoked.revoked_at = Some(1_000);
    assert!(a.compare_and_set(&h1, &r1, revoked).await.unwrap());
    a.flush().await.unwrap();
    let stale = b.get(&h1).await.unwrap().expect("b took in a's key");
    let mut used = (*stale).clone();
    used.last_used_at = Some(2_000);
    assert!(b.compare_and_set(&h1, &stale, used).await.unwrap());
    b.flush().await.unwrap();
    let now = b.get(&h1).await.unwrap().unwrap();
    assert_eq!(
        (now.revoked_at, now.last_used_at),
        (Some(1_000), Some(2_000)),
        "both changes kept, in b's memory"
    );
    drop((a, b));
    let fresh = FileKeyStore::open(&path).unwrap();
    let on_disk = fresh.get(&h1).await.unwrap().unwrap();
    assert_eq!(
        (on_disk.revoked_at, on_disk.last_used_at),
        (Some(1_000), Some(2_000))
    );
    assert!(fresh.get(&h2).await.unwrap().is_some());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let lock = std::fs::metadata(dir.path().join("keys.json.lock")).unwrap();
        assert_eq!(lock.permissions().mode() & 0o777, 0o600);
    }
}

#[tokio::test]
async fn a_revocation_by_another_writer_reaches_a_store_that_does_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    let (h, r) = record("k").await;
    let a = FileKeyStore::open(&path).unwrap();
    assert!(a.insert_if_absent(h, r.clone()).await.unwrap());
    a.flush().await.unwrap();
    let reader = FileKeyStore::open(&path).unwrap();
    assert!(reader.get(&h).await.unwrap().unwrap().revoked_at.is_none());
    let mut revoked = r.clone();
    revoked.revoked_at = Some(7);
    assert!(a.compare_and_set(&h, &r, revoked).await.unwrap());
    a.flush().await.unwrap();
    let deadline = std::time::Instant::now() + auth_core::store::RELOAD_EVERY * 4;
    while reader.get(&h).await.unwrap().unwrap().revoked_at.is_none() {
        assert!(std::time::Instant::now() < deadline, "never reloaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reader.writes(), 0, "taken in without writing");
}

#[tokio::test]
async fn revocations_are_insert_if_absent_and_counted() {
    let store: &dyn RevocationStore = &MemoryRevocations::new();
    let until = SystemTime::now() + Duration::from_secs(60);
    let before = store.revocations().unwrap();
    assert!(!store.is_revoked("i", "j").await.unwrap());
    store.revoke("i", "j", until).await.unwrap();
    assert!(store.is_revoked("i", "j").await.unwrap());
    let after = store.revocations().unwrap();
    assert!(after > before);
    store.revoke("i", "j", until).await.unwrap();
    assert_eq!(
        store.revocations().unwrap(),
        after,
        "revoking twice counts once"
    );
    // Kept until the time given, not forever.
    store
        .revoke("i", "short", SystemTime::now() + Duration::from_millis(200))
        .await
        .unwrap();
    assert!(store.is_revoked("i", "short").await.unwrap());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!store.is_revoked("i", "short").await.unwrap());
    // Keyed by issuer and jti, with no ambiguity between the two.
    store.revoke("ab", "c", until).await.unwrap();
    assert!(store.is_revoked("ab", "c").await.unwrap());
    assert!(!store.is_revoked("a", "bc").await.unwrap());
    assert!(!store.is_revoked("other", "j").await.unwrap());
    // A time already past revokes nothing (the token is refused anyway).
    let past = SystemTime::now() - Duration::from_secs(1);
    store.revoke("i", "old", past).await.unwrap();
    assert!(!store.is_revoked("i", "old").await.unwrap());
}

#[tokio::test]
async fn a_full_revocation_store_sweeps_expired_entries_then_refuses() {
    let store = MemoryRevocations::with_capacity(2);
    let long = SystemTime::now() + Duration::from_secs(60);
    store
        .revoke("i", "short", SystemTime::now() + Duration::from_millis(200))
        .await
        .unwrap();
    store.revoke("i", "a", long).await.unwrap();
    let full = store.revoke("i", "b", long).await.unwrap_err();
    assert_eq!(full.kind(), auth_core::StoreErrorKind::Full);
    assert!(full.to_string().contains("full"));
    assert!(store.is_revoked("i", "short").await.unwrap());
    assert!(store.is_revoked("i", "a").await.unwrap());
    // Once "short" has expired (and a second has passed since the last
    // sweep), its room is taken back.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    store.revoke("i", "b", long).await.unwrap();
    assert!(store.is_revoked("i", "b").await.unwrap());
    assert!(store.is_revoked("i", "a").await.unwrap());
}

#[tokio::test]
async fn counters_increment_atomically_and_expire() {
    let counters = Arc::new(MemoryCounters::new(1_000));
    let window = Duration::from_millis(500);
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let c = counters.clone();
            tokio::spawn(async move { c.increment("k", window).await.unwrap().value })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=64).collect::<Vec<_>>(),
        "no count lost or repeated"
    );
    let store: &dyn CounterStore = &*counters;
    let c = store.get("k").await.unwrap().unwrap();
    assert_eq!(c.value, 64);
    assert!(c.expires_in <= window);
    assert!(store.get("other").await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(store.get("k").await.unwrap().is_none(), "expired");
    assert_eq!(
        store.increment("k", window).await.unwrap().value,
        1,
        "a new window"
    );
    // Decrement keeps the window; at zero the counter is gone, and the next
    // increment starts a new window. An absent counter stays absent.
    let first = store.increment("k", window).await.unwrap();
    assert_eq!(first.value, 2);
    store.decrement("k").await.unwrap();
    let c = store.get("k").await.unwrap().unwrap();
    assert_eq!(c.value, 1);
    assert!(c.expires_in <= first.expires_in);
    store.decrement("k").await.unwrap();
    assert!(store.get("k").await.unwrap().is_none());
    store.decrement("absent").await.unwrap();
    assert!(store.get("absent").await.unwrap().is_none());
}

/// Counts the compare-and-sets that took effect.
struct Counting {
    inner: FileKeyStore,
    sets: AtomicU64,
}

impl KeyStore for Counting {
    fn get<'a>(
        &'a self,
        hash: &'a KeyHash,
    ) -> BoxFuture<'a, Result<Option<Arc<KeyRecord>>, StoreError>> {
        self.inner.get(hash)
    }
    fn find<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<FoundKey>, StoreError>> {
        self.inner.find(id)
    }
    fn insert_if_absent(
        &self,
        hash: KeyHash,
        record: KeyRecord,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.inner.insert_if_absent(hash, record)
    }
    fn compare_and_set<'a>(
        &'a self,
        hash: &'a KeyHash,
        current: &'a KeyRecord,
        new: KeyRecord,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let set = self.inner.compare_and_set(hash, current, new).await?;
            if set {
                self.sets.fetch_add(1, Ordering::SeqCst);
            }
            Ok(set)
        })
    }
    fn list(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, StoreError>> {
        self.inner.list()
    }
    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.flush()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_key_at_a_minute_boundary_is_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Counting {
        inner: FileKeyStore::open(dir.path().join("keys.json")).unwrap(),
        sets: AtomicU64::new(0),
    });
    let keys = ApiKeys::with_store(store.clone(), Pepper::generate());
    let (key, rec) = keys
        .issue(NewKey::new("o", Environment::Live))
        .await
        .unwrap();
    // The key was last used exactly a minute ago: the next use is due to
    // be recorded.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (hash, current) = store.find(&rec.id).await.unwrap().unwrap();
    let mut used = (*current).clone();
    used.last_used_at = Some(now - 60);
    assert!(store.compare_and_set(&hash, &current, used).await.unwrap());
    store.flush().await.unwrap();
    let (sets, writes) = (store.sets.load(Ordering::SeqCst), store.inner.writes());

    let guard = Guard::builder(ApiKeyAuthenticator::new(keys))
        .build()
        .unwrap();
    let key = Arc::new(key.expose().to_owned());
    let barrier = Arc::new(tokio::sync::Barrier::new(64));
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (guard, key, barrier) = (guard.clone(), key.clone(), barrier.clone());
            tokio::spawn(async move {
                let req = SimpleRequest::get("/").header("x-api-key", key.as_str());
                barrier.wait().await;
                guard.check(&req).await.is_ok()
            })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap(), "every request is let in");
    }
    store.flush().await.unwrap();
    assert_eq!(
        store.sets.load(Ordering::SeqCst) - sets,
        1,
        "one use recorded"
    );
    assert_eq!(store.inner.writes() - writes, 1, "one write of the file");
    let last = store
        .get(&hash)
        .await
        .unwrap()
        .unwrap()
        .last_used_at
        .unwrap();
    assert!(last >= now, "the use is the new one");
}
