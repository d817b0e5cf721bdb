//! API keys on Redis: two hashes under one hash tag.

use std::sync::{Arc, LazyLock};

use ::redis::Script;

use super::{Redis, bad_record, hashed};
use crate::authenticate::BoxFuture;
use crate::error::StoreError;
use crate::store::{FoundKey, KeyHash, KeyRecord, KeyStore};

/// KEYS: records, ids. ARGV: key hash, id hash, record.
static INSERT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1
    or redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return 1
",
    )
});

/// KEYS: records, ids. ARGV: id hash.
static FIND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local h = redis.call('HGET', KEYS[2], ARGV[1])
if not h then return false end
local r = redis.call('HGET', KEYS[1], h)
if not r then return false end
return {h, r}
",
    )
});

/// KEYS: records. ARGV: key hash, current record, new record.
static COMPARE_AND_SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
",
    )
});

/// API key records on Redis, as JSON: a hash of records by key hash
/// (`<prefix>:{keys}:rec`, field: the key's keyed hash in hex) and an index
/// from key id to key hash (`<prefix>:{keys}:ids`, field: the SHA-256 of
/// the id). Both share the hash tag `{keys}`, so
/// [`insert_if_absent`](KeyStore::insert_if_absent) checks the hash and the
/// id in one script, and [`list`](KeyStore::list) is one `HVALS` that works
/// on a cluster as well (all keys of a service live on one slot: fine for
/// the thousands of keys a service has, not for millions).
///
/// [`get`](KeyStore::get) and [`find`](KeyStore::find) are one round trip
/// each, per request; [`list`](KeyStore::list) reads every record, for
/// admin tools, not requests.
/// [`compare_and_set`](KeyStore::compare_and_set) compares the stored
/// JSON with `current` as this crate encodes it, so a record written by
/// another program must have been written the same way to be changed.
///
/// Records are kept until removed, as in the other key stores. Always
/// fails closed: a key store that cannot answer must not let a key in, nor
/// lose a revocation.
#[derive(Clone, Debug)]
pub struct RedisKeyStore {
    redis: Redis,
    records: String,
    ids: String,
}

impl RedisKeyStore {
    pub(super) fn new(redis: Redis) -> Self {
        let records = format!("{}:rec", redis.key("keys"));
        let ids = format!("{}:ids", redis.key("keys"));
        Self {
            redis,
            records,
            ids,
        }
    }
}

fn encode(record: &KeyRecord, what: &'static str) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| bad_record(what, e))
}

fn decode(json: &str, what: &'static str) -> Result<KeyRecord, StoreError> {
    serde_json::from_str(json).map_err(|e| bad_record(what, e))
}

fn id_field(id: &str) -> String {
    hashed(&[id.as_bytes()])
}

impl KeyStore for RedisKeyStore {
    fn get<'a>(
        &'a self,
        hash: &'a KeyHash,
    ) -> BoxFuture<'a, Result<Option<Arc<KeyRecord>>, StoreError>> {
        Box::pin(async move {
            let mut cmd = ::redis::cmd("HGET");
            cmd.arg(&self.records).arg(hash.to_hex());
            let found: Option<String> = self.redis.query("redis: keys.get", &cmd).await?;
            found
                .map(|json| decode(&json, "redis: keys.get (bad record)").map(Arc::new))
                .transpose()
        })
    }

    fn find<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<FoundKey>, StoreError>> {
        Box::pin(async move {
            let mut inv = FIND.prepare_invoke();
            inv.key(&self.records).key(&self.ids).arg(id_field(id));
            let found: Option<(String, String)> = self.redis.eval("redis: keys.find", &inv).await?;
            let Some((hex, json)) = found else {
                return Ok(None);
            };
            let hash = KeyHash::from_hex(&hex)
                .ok_or_else(|| StoreError::new("redis: keys.find (bad key hash)", None))?;
            let record = decode(&json, "redis: keys.find (bad record)")?;
            // The index is keyed by a hash of the id: make sure of the id.
            Ok((record.id == id).then(|| (hash, Arc::new(record))))
        })
    }

    fn insert_if_absent(
        &self,
        hash: KeyHash,
        record: KeyRecord,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            let json = encode(&record, "redis: keys.insert_if_absent (encoding)")?;
            let mut inv = INSERT.prepare_invoke();
            inv.key(&self.records)
                .key(&self.ids)
                .arg(hash.to_hex())
                .arg(id_field(&record.id))
                .arg(json);
            let inserted: i64 = self
                .redis
                .eval("redis: keys.insert_if_absent", &inv)
                .await?;
            Ok(inserted == 1)
        })
    }

    fn compare_and_set<'a>(
        &'a self,
        hash: &'a KeyHash,
        current: &'a KeyRecord,
        new: KeyRecord,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            if new.id != current.id {
                // The id of a record never changes under it.
                return Ok(false);
            }
            let current = encode(current, "redis: keys.compare_and_set (encoding)")?;
            let new = encode(&new, "redis: keys.compare_and_set (encoding)")?;
            let mut inv = COMPARE_AND_SET.prepare_invoke();
            inv.key(&self.records)
                .arg(hash.to_hex())
                .arg(current)
                .arg(new);
            let set: i64 = self.redis.eval("redis: keys.compare_and_set", &inv).await?;
            Ok(set == 1)
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, StoreError>> {
        Box::pin(async move {
            let mut cmd = ::redis::cmd("HVALS");
            cmd.arg(&self.records);
            let all: Vec<String> = self.redis.query("redis: keys.list", &cmd).await?;
            let mut records = all
                .iter()
                .map(|json| decode(json, "redis: keys.list (bad record)"))
                .collect::<Result<Vec<_>, _>>()?;
            records.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(records)
        })
    }
}
