//! A store that cannot answer (disk gone, Redis down) is a 503 without a
//! challenge, never a 401 that would tell a valid caller their credential
//! is wrong, and never a panic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::sync::Arc;
use std::time::SystemTime;

use auth_core::api_key::{
    ApiKeyAuthenticator, ApiKeys, Environment, KeyHash, KeyRecord, NewKey, Pepper,
};
use auth_core::basic::{BasicAuthenticator, BasicUser, hash_password};
use auth_core::jwt::{Issuer, JwtAuthenticator, JwtKey};
use auth_core::store::{Count, CounterStore, FoundKey, KeyStore, MemoryKeyStore, RevocationStore};
use auth_core::{BoxFuture, Guard, Rejection, Secret, SimpleRequest, StoreError};
use base64::Engine as _;

fn down<T: Send + 'static>() -> BoxFuture<'static, Result<T, StoreError>> {
    Box::pin(std::future::ready(Err(StoreError::new(
        "test store is down",
        None,
    ))))
}

/// Keeps what it is given but cannot be read.
struct WriteOnlyKeys(MemoryKeyStore);

impl KeyStore for WriteOnlyKeys {
    fn get<'a>(
        &'a self,
        _: &'a KeyHash,
    ) -> BoxFuture<'a, Result<Option<Arc<KeyRecord>>, StoreError>> {
        down()
    }
    fn find<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<FoundKey>, StoreError>> {
        down()
    }
    fn insert_if_absent(
        &self,
        hash: KeyHash,
        record: KeyRecord,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.0.insert_if_absent(hash, record)
    }
    fn compare_and_set<'a>(
        &'a self,
        _: &'a KeyHash,
        _: &'a KeyRecord,
        _: KeyRecord,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        down()
    }
    fn list(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, StoreError>> {
        self.0.list()
    }
}

struct DownCounters;

impl CounterStore for DownCounters {
    fn increment<'a>(
        &'a self,
        _: &'a str,
        _: std::time::Duration,
    ) -> BoxFuture<'a, Result<Count, StoreError>> {
        down()
    }
    fn get<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<Count>, StoreError>> {
        down()
    }
    fn decrement<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        down()
    }
}

struct DownRevocations;

impl RevocationStore for DownRevocations {
    fn revoke<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: SystemTime,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        down()
    }
    fn is_revoked<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        down()
    }
}

fn assert_unavailable(r: Rejection, what: &str) {
    assert_eq!(r.status(), 503, "{what}");
    assert_eq!(r.header_values("www-authenticate").count(), 0, "{what}");
    let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(body["status"], 503, "{what}");
    let retry = r.header_values("retry-after").collect::<Vec<_>>();
    assert_eq!(retry, ["1"], "{what}: every 503 says when to come back");
}

#[tokio::test]
async fn every_store_failure_is_a_503() {
    // API keys: the lookup fails.
    let keys = ApiKeys::new(WriteOnlyKeys(MemoryKeyStore::new()), Pepper::generate());
    let (key, _) = keys
        .issue(NewKey::new("o", Environment::Live))
        .await
        .unwrap();
    let guard = Guard::builder(ApiKeyAuthenticator::new(keys))
        .build()
        .unwrap();
    let req = SimpleRequest::get("/").header("x-api-key", key.expose());
    assert_unavailable(guard.check(&req).await.unwrap_err(), "API key store");

    // Basic: the lockout counters cannot be read.
    let basic = BasicAuthenticator::builder()
        .user(BasicUser::new("alice", hash_password("pw").unwrap()))
        .lockout_store(Arc::new(DownCounters))
        .build()
        .unwrap();
    let guard = Guard::builder(basic).build().unwrap();
    let pair = base64::engine::general_purpose::STANDARD.encode("alice:pw");
    let req = SimpleRequest::get("/")
        .tls(true)
        .header("authorization", format!("Basic {pair}"));
    assert_unavailable(guard.check(&req).await.unwrap_err(), "lockout store");

    // JWT: the revocation list cannot be read for a token with a jti.
    let secret = Secret::new(vec![3u8; 32]);
    let jwt = JwtAuthenticator::builder()
        .issuer(
            Issuer::new("urn:t")
                .audience("a")
                .key(JwtKey::hmac(&secret, jsonwebtoken::Algorithm::HS256).unwrap())
                .token_types(["JWT"]),
        )
        .revocations(Arc::new(DownRevocations))
        .build()
        .unwrap();
    let claims = serde_json::json!({"iss": "urn:t", "aud": "a", "sub": "s", "exp": 4102444800u64, "jti": "j"});
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.expose()).unwrap(),
    )
    .unwrap();
    let guard = Guard::builder(jwt).build().unwrap();
    let req = SimpleRequest::get("/").header("authorization", format!("Bearer {token}"));
    assert_unavailable(guard.check(&req).await.unwrap_err(), "revocation store");
}
