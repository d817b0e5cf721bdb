//! Shared helpers for the benchmarks.
//!
//! The fixtures here build the guards and requests that `benches/auth.rs`
//! measures, so that the bench file holds only the measured closures. Every
//! helper returns a `Result` instead of panicking; the bench decides what to
//! do with a failed setup.

use std::error::Error;
use std::time::Duration;

use auth_core::api_key::{
    ApiKey, ApiKeyAuthenticator, ApiKeys, CHECKSUM_LEN, Environment, KeyTier, NewKey, Pepper,
};
use auth_core::basic::{BasicAuthenticator, BasicUser, hash_password};
use auth_core::{Guard, Policy, SimpleRequest};

/// A boxed setup error.
pub type SetupError = Box<dyn Error + Send + Sync>;

/// The scope every fixture grants and every guard requires.
pub const SCOPE: &str = "reports:read";

/// The Basic user name of the fixture.
pub const BASIC_USER: &str = "alice";

/// The Basic password of the fixture.
pub const BASIC_PASSWORD: &str = "pw";

/// `base64("alice:pw")`, the Basic payload of the fixture.
pub const BASIC_PAYLOAD: &str = "YWxpY2U6cHc=";

/// A current-thread Tokio runtime (timers on, blocking pool available for
/// argon2's `spawn_blocking`).
pub fn runtime() -> Result<tokio::runtime::Runtime, SetupError> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// An in-memory key store holding one live main-tier key with [`SCOPE`].
pub async fn api_key_fixture() -> Result<(ApiKeys, ApiKey), SetupError> {
    let keys = ApiKeys::in_memory(Pepper::generate());
    let (key, _record) = keys
        .issue(
            NewKey::new("owner", Environment::Live)
                .scopes([SCOPE])
                .tier(KeyTier::Main),
        )
        .await?;
    Ok((keys, key))
}

/// A guard over `keys` that requires [`SCOPE`].
pub fn api_key_guard(keys: &ApiKeys) -> Result<Guard, SetupError> {
    Ok(Guard::builder(ApiKeyAuthenticator::new(keys.clone()))
        .realm("demo")
        .build()?
        .with_policy(Policy::scope(SCOPE)))
}

/// `key` with one character of its secret changed, so that its checksum no
/// longer matches.
pub fn tampered(key: &str) -> Result<String, SetupError> {
    let mut bytes = key.as_bytes().to_vec();
    let i = bytes
        .len()
        .checked_sub(CHECKSUM_LEN + 5)
        .ok_or("key too short")?;
    let slot = bytes.get_mut(i).ok_or("key too short")?;
    *slot = if *slot == b'a' { b'b' } else { b'a' };
    Ok(String::from_utf8(bytes)?)
}

/// A guard accepting Basic for [`BASIC_USER`] / [`BASIC_PASSWORD`] with
/// [`SCOPE`], whose verified-credential cache keeps entries for `cache_ttl`
/// (zero turns it off).
pub fn basic_guard(cache_ttl: Duration) -> Result<Guard, SetupError> {
    let user = BasicUser::new(BASIC_USER, hash_password(BASIC_PASSWORD)?).scopes([SCOPE]);
    let basic = BasicAuthenticator::builder()
        .user(user)
        .cache_ttl(cache_ttl)
        .build()?;
    Ok(Guard::builder(basic)
        .realm("demo")
        .build()?
        .with_policy(Policy::scope(SCOPE)))
}

/// A TLS `GET /v1/reports` carrying the fixture's Basic credential.
pub fn basic_request() -> SimpleRequest {
    SimpleRequest::get("/v1/reports")
        .tls(true)
        .header("authorization", format!("Basic {BASIC_PAYLOAD}"))
}
