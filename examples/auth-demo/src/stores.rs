//! Where the demo keeps its state: in this process, or, with `--redis URL`,
//! in Redis, so that several demo processes act as one service (a key,
//! token or refresh-token family revoked through one is refused by all, and
//! `/v1/limited` counts across them).
//!
//! Every Redis store fails closed: while Redis cannot answer, a request
//! that needs it gets `503` with `Retry-After`, never a `200` it should not
//! get nor a `401` for a valid credential, and the stores reconnect by
//! themselves when Redis is back.

use std::sync::Arc;

use auth_core::api_key::ApiKeys;
use auth_core::store::redis::Redis;
use auth_core::store::{
    CounterStore, GrantStore, KeyStore, MemoryRateLimits, MemoryRevocations, RateLimitStore,
    RevocationStore, TokenStore,
};

use crate::DemoError;

/// How many partitions the in-process rate limiter keeps per quota.
const RATE_PARTITIONS: usize = 100_000;

/// The stores the demo's methods and its authorization server share.
pub(crate) struct Stores {
    pub(crate) revocations: Arc<dyn RevocationStore>,
    pub(crate) rate_limits: Arc<dyn RateLimitStore>,
    /// Shared only: in process, each component keeps its own default.
    pub(crate) shared: Option<SharedStores>,
}

/// The stores that exist only when state is shared.
pub(crate) struct SharedStores {
    pub(crate) keys: Arc<dyn KeyStore>,
    pub(crate) counters: Arc<dyn CounterStore>,
    pub(crate) tokens: Arc<dyn TokenStore>,
    pub(crate) grants: Arc<dyn GrantStore>,
    /// Stops the thread the Redis connection is driven on.
    pub(crate) stop: crate::Stop,
}

impl Stores {
    /// Everything in this process.
    pub(crate) fn in_process() -> Self {
        Self {
            revocations: Arc::new(MemoryRevocations::new()),
            rate_limits: Arc::new(MemoryRateLimits::new(RATE_PARTITIONS)),
            shared: None,
        }
    }

    /// Everything in the Redis at `url`. The connection is made, and its
    /// background task runs, on a small runtime of its own that lives as
    /// long as the demo, so that it does not depend on which adapter's
    /// runtime serves.
    pub(crate) fn redis(url: &str) -> Result<Self, DemoError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| DemoError::msg(e.to_string()))?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let url = url.to_owned();
        std::thread::Builder::new()
            .name("auth-demo-redis".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let connected = Redis::connect(&url).await;
                    let ok = connected.is_ok();
                    let _ = ready_tx.send(connected);
                    if ok {
                        let _ = stop_rx.await;
                    }
                });
            })
            .map_err(|e| DemoError::msg(e.to_string()))?;
        let redis = ready_rx
            .recv()
            .map_err(|_| DemoError::msg("the Redis thread stopped"))?
            .map_err(|e| DemoError::msg(format!("--redis: {e}")))?;
        Ok(Self {
            revocations: Arc::new(redis.revocations()),
            rate_limits: Arc::new(redis.rate_limits()),
            shared: Some(SharedStores {
                keys: Arc::new(redis.key_store()),
                counters: Arc::new(redis.counters()),
                tokens: Arc::new(redis.tokens()),
                grants: Arc::new(redis.grants()),
                stop: Box::new(move || {
                    let _ = stop_tx.send(());
                }),
            }),
        })
    }
}

/// The demo's API keys in the shared store: every key of the state
/// directory's file is copied in unless Redis has it already (so a key
/// another process revoked stays revoked), and the keys are then checked
/// against Redis alone.
pub(crate) async fn share_keys(
    file: &ApiKeys,
    shared: Arc<dyn KeyStore>,
) -> Result<ApiKeys, DemoError> {
    let store_err = |e: auth_core::StoreError| DemoError::msg(format!("--redis: {e}"));
    for record in file.store().list().await.map_err(store_err)? {
        if let Some((hash, found)) = file.store().find(&record.id).await.map_err(store_err)? {
            shared
                .insert_if_absent(hash, (*found).clone())
                .await
                .map_err(store_err)?;
        }
    }
    Ok(file.with_other_store(shared))
}
