//! Authorization codes and refresh-token families on Redis, each
//! [`GrantStore`] method one Lua script over one key.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use ::redis::Script;

use super::{Redis, b64, bad_record, hashed, ttl_ms, unix_ms};
use crate::authenticate::BoxFuture;
use crate::error::StoreError;
use crate::store::{
    CodeGrant, Family, GrantStore, Issued, MAX_LIVE_PER_FAMILY, Redemption, Rotation,
    SPENT_REMEMBERED,
};

/// How long the tombstone of a family revoked before it started lasts: as
/// long as its code could still be redeemed (as in [`MemoryGrants`]).
///
/// [`MemoryGrants`]: crate::store::MemoryGrants
const TOMBSTONE: Duration = Duration::from_secs(15 * 60);

/// A code is a hash with `g` (the grant, as JSON, until it is redeemed)
/// and `fam` (its family, kept to answer a second use); both are set, so
/// a code put again is replaced whole. (No `DEL` first: Redis checks
/// `maxmemory` on a script's first write, which must be one that adds.)
static PUT_CODE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('HSET', KEYS[1], 'g', ARGV[1], 'fam', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
",
    )
});

static REDEEM_CODE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local g = redis.call('HGET', KEYS[1], 'g')
if g then
  redis.call('HDEL', KEYS[1], 'g')
  return {'fresh', g}
end
local fam = redis.call('HGET', KEYS[1], 'fam')
if fam then return {'spent', fam} end
return {'unknown'}
",
    )
});

/// Shared by the family scripts. A family is a hash with `f` (the family,
/// as JSON; absent once revoked), `c` (its client id), `cur` (the current
/// refresh-token hash), `sp` (spent hashes, oldest first, space-separated),
/// `iss` (issued access tokens, one `<exp> <json>` per line) and `r` (set
/// once revoked, or for a tombstone). Times are the server's (`TIME`).
const FAMILY_LIB: &str = r"
local function now_secs()
  return tonumber(redis.call('TIME')[1])
end
local function live_issued(s, now)
  local out = {}
  if s then
    for e in string.gmatch(s, '[^\n]+') do
      local sp = string.find(e, ' ', 1, true)
      if sp and tonumber(string.sub(e, 1, sp - 1)) > now then out[#out + 1] = e end
    end
  end
  return out
end
local function spent_has(s, h)
  if not s then return false end
  for x in string.gmatch(s, '%S+') do
    if x == h then return true end
  end
  return false
end
local function revoke(k, now, tag)
  local live = live_issued(redis.call('HGET', k, 'iss'), now)
  -- The marker first: a hash emptied by HDEL is deleted, expiry and all.
  redis.call('HSET', k, 'r', '1')
  redis.call('HDEL', k, 'f', 'c', 'cur', 'sp', 'iss')
  local out = {tag}
  for _, e in ipairs(live) do
    out[#out + 1] = string.sub(e, string.find(e, ' ', 1, true) + 1)
  end
  return out
end
";

static START_FAMILY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'f', ARGV[1], 'c', ARGV[2], 'iss', ARGV[4])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'cur', ARGV[3]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return 1
",
    )
});

/// ARGV: client id, presented, next, issued entry, live cap, spent kept.
static ROTATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{FAMILY_LIB}{}",
        r"
local k = KEYS[1]
local f = redis.call('HGET', k, 'f')
if not f or redis.call('HGET', k, 'c') ~= ARGV[1] then return {'invalid'} end
local now = now_secs()
if redis.call('HGET', k, 'cur') == ARGV[2] then
  local live = live_issued(redis.call('HGET', k, 'iss'), now)
  if #live >= tonumber(ARGV[5]) then
    redis.call('HSET', k, 'iss', table.concat(live, '\n'))
    return {'invalid'}
  end
  local spent = {}
  local s = redis.call('HGET', k, 'sp')
  if s then
    for x in string.gmatch(s, '%S+') do spent[#spent + 1] = x end
  end
  spent[#spent + 1] = ARGV[2]
  while #spent > tonumber(ARGV[6]) do table.remove(spent, 1) end
  live[#live + 1] = ARGV[4]
  redis.call('HSET', k, 'cur', ARGV[3], 'sp', table.concat(spent, ' '),
    'iss', table.concat(live, '\n'))
  return {'rotated', f}
end
if spent_has(redis.call('HGET', k, 'sp'), ARGV[2]) then
  return revoke(k, now, 'reused')
end
return {'invalid'}
"
    ))
});

/// ARGV: presented (or empty), tombstone lifetime in ms.
static REVOKE_FAMILY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{FAMILY_LIB}{}",
        r"
local k = KEYS[1]
local p = ARGV[1]
if redis.call('EXISTS', k) == 1 then
  if p ~= '' and not (redis.call('HGET', k, 'cur') == p
      or spent_has(redis.call('HGET', k, 'sp'), p)) then
    return {'issued'}
  end
  return revoke(k, now_secs(), 'issued')
end
if p ~= '' then return {'issued'} end
redis.call('HSET', k, 'r', '1')
redis.call('PEXPIRE', k, ARGV[2])
return {'issued'}
"
    ))
});

/// Authorization codes and refresh-token families on Redis, with the
/// semantics of [`MemoryGrants`](crate::store::MemoryGrants): a code is
/// [`Fresh`](Redemption::Fresh) once, then
/// [`Spent`](Redemption::Spent) until it expires; a family rotates its
/// refresh token, remembers the last [`SPENT_REMEMBERED`] spent ones, is
/// revoked when one of them comes back, holds at most
/// [`MAX_LIVE_PER_FAMILY`] live access tokens, and leaves a tombstone (15
/// minutes) when revoked before it started. Each method is one Lua script
/// over one key (`{code:…}` or `{fam:…}`), which expires with the code or
/// the family.
///
/// Only hashes of codes and refresh tokens reach Redis; they are compared
/// there as strings (hashes of random tokens: their timing tells nothing).
///
/// Always fails closed: a grant store that cannot answer must not issue
/// tokens, nor forget a revocation. There is no capacity of its own (the
/// Redis server's memory is the bound; see the module's security
/// considerations on eviction).
#[derive(Clone, Debug)]
pub struct RedisGrants {
    redis: Redis,
}

impl RedisGrants {
    pub(super) fn new(redis: Redis) -> Self {
        Self { redis }
    }

    fn code_key(&self, hash: &[u8; 32]) -> String {
        self.redis.key(&format!("code:{}", b64(hash)))
    }

    fn family_key(&self, id: &str) -> String {
        self.redis.key(&format!("fam:{}", hashed(&[id.as_bytes()])))
    }
}

/// `<exp> <json>`: the line a family keeps per issued access token.
fn issued_entry(issued: &Issued) -> Result<String, StoreError> {
    let json = serde_json::to_string(issued)
        .map_err(|e| bad_record("redis: grants (encoding an access token)", e))?;
    Ok(format!("{} {json}", issued.exp))
}

fn issued_list(lines: &[String]) -> Result<Vec<Issued>, StoreError> {
    lines
        .iter()
        .map(|json| {
            serde_json::from_str(json)
                .map_err(|e| bad_record("redis: grants (bad access token)", e))
        })
        .collect()
}

fn unexpected(what: &'static str) -> StoreError {
    StoreError::new(what, None)
}

impl GrantStore for RedisGrants {
    fn put_code(
        &self,
        hash: [u8; 32],
        grant: CodeGrant,
        until: SystemTime,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let json = serde_json::to_string(&grant)
                .map_err(|e| bad_record("redis: grants.put_code (encoding)", e))?;
            let mut inv = PUT_CODE.prepare_invoke();
            inv.key(self.code_key(&hash))
                .arg(json)
                .arg(&grant.family)
                .arg(unix_ms(until).max(1));
            self.redis
                .eval::<i64>("redis: grants.put_code", &inv)
                .await
                .map(drop)
        })
    }

    fn redeem_code<'a>(
        &'a self,
        hash: &'a [u8; 32],
    ) -> BoxFuture<'a, Result<Redemption, StoreError>> {
        Box::pin(async move {
            let mut inv = REDEEM_CODE.prepare_invoke();
            inv.key(self.code_key(hash));
            let answer: Vec<String> = self.redis.eval("redis: grants.redeem_code", &inv).await?;
            match answer.as_slice() {
                [tag, grant] if tag == "fresh" => serde_json::from_str(grant)
                    .map(Redemption::Fresh)
                    .map_err(|e| bad_record("redis: grants.redeem_code (bad record)", e)),
                [tag, family] if tag == "spent" => Ok(Redemption::Spent {
                    family: family.clone(),
                }),
                [tag] if tag == "unknown" => Ok(Redemption::Unknown),
                _ => Err(unexpected("redis: grants.redeem_code (unexpected answer)")),
            }
        })
    }

    fn start_family<'a>(
        &'a self,
        id: &'a str,
        family: Family,
        refresh: Option<[u8; 32]>,
        first: Issued,
        until: SystemTime,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let json = serde_json::to_string(&family)
                .map_err(|e| bad_record("redis: grants.start_family (encoding)", e))?;
            let mut inv = START_FAMILY.prepare_invoke();
            inv.key(self.family_key(id))
                .arg(json)
                .arg(&family.client_id)
                .arg(refresh.as_ref().map(|h| b64(h)).unwrap_or_default())
                .arg(issued_entry(&first)?)
                .arg(unix_ms(until).max(1));
            let started: i64 = self.redis.eval("redis: grants.start_family", &inv).await?;
            Ok(started == 1)
        })
    }

    fn family<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Family>, StoreError>> {
        Box::pin(async move {
            let mut cmd = ::redis::cmd("HGET");
            cmd.arg(self.family_key(id)).arg("f");
            let found: Option<String> = self.redis.query("redis: grants.family", &cmd).await?;
            found
                .map(|json| {
                    serde_json::from_str(&json)
                        .map_err(|e| bad_record("redis: grants.family (bad record)", e))
                })
                .transpose()
        })
    }

    fn rotate<'a>(
        &'a self,
        id: &'a str,
        client_id: &'a str,
        presented: [u8; 32],
        next: [u8; 32],
        issued: Issued,
    ) -> BoxFuture<'a, Result<Rotation, StoreError>> {
        Box::pin(async move {
            let mut inv = ROTATE.prepare_invoke();
            inv.key(self.family_key(id))
                .arg(client_id)
                .arg(b64(&presented))
                .arg(b64(&next))
                .arg(issued_entry(&issued)?)
                .arg(MAX_LIVE_PER_FAMILY)
                .arg(SPENT_REMEMBERED);
            let answer: Vec<String> = self.redis.eval("redis: grants.rotate", &inv).await?;
            match answer.split_first() {
                Some((tag, [family])) if tag == "rotated" => serde_json::from_str(family)
                    .map(Rotation::Rotated)
                    .map_err(|e| bad_record("redis: grants.rotate (bad record)", e)),
                Some((tag, live)) if tag == "reused" => issued_list(live).map(Rotation::Reused),
                Some((tag, [])) if tag == "invalid" => Ok(Rotation::Invalid),
                _ => Err(unexpected("redis: grants.rotate (unexpected answer)")),
            }
        })
    }

    fn revoke_family<'a>(
        &'a self,
        id: &'a str,
        presented: Option<[u8; 32]>,
    ) -> BoxFuture<'a, Result<Vec<Issued>, StoreError>> {
        Box::pin(async move {
            let mut inv = REVOKE_FAMILY.prepare_invoke();
            inv.key(self.family_key(id))
                .arg(presented.as_ref().map(|h| b64(h)).unwrap_or_default())
                .arg(ttl_ms(TOMBSTONE));
            let answer: Vec<String> = self.redis.eval("redis: grants.revoke_family", &inv).await?;
            match answer.split_first() {
                Some((tag, live)) if tag == "issued" => issued_list(live),
                _ => Err(unexpected(
                    "redis: grants.revoke_family (unexpected answer)",
                )),
            }
        })
    }
}
