//! `authctl key …`: API keys through auth-core's `ApiKeys`, never by
//! rewriting the store behind its back.
//!
//! - Over a `FileKeyStore`: each write locks `<file>.lock`, folds in what
//!   another process (a running server) wrote, the more restrictive value
//!   winning, so nobody's change is undone.
//! - With `--redis URL`, over the `RedisKeyStore` a demo run with
//!   `--redis URL` uses (`examples/auth-demo/src/stores.rs`: the default key
//!   prefix `auth`), with the pepper of its state directory: each change is
//!   one compare-and-set on Redis, seen by every server there at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_core::api_key::{
    ApiKeys, DEFAULT_PREFIX, Environment, ID_LEN, KeyRecord, KeyTier, NewKey, Pepper,
};
use auth_core::store::FileKeyStore;
use auth_core::store::redis::Redis;

use crate::cli::{
    Env, KeyListArgs, KeyNewArgs, KeyPepperArgs, KeyRef, KeyRevokeArgs, KeyRotateArgs,
    KeyStoreArgs, Tier,
};
use crate::error::{CliError, CliResult, io_out};
use crate::{Console, files, state};

/// An open key store.
struct Store {
    keys: ApiKeys,
    place: Place,
}

/// Where an open key store's keys are, as messages name it.
enum Place {
    File(PathBuf),
    /// The URL without its query, and the key prefix.
    Redis {
        url: String,
        prefix: String,
    },
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Redis { url, prefix } => write!(f, "Redis at {url} (key prefix {prefix})"),
        }
    }
}

/// Whether the key store file must already exist.
#[derive(PartialEq, Eq)]
enum Existing {
    Required,
    Optional,
}

fn runtime() -> CliResult<tokio::runtime::Runtime> {
    // I/O and timers: the Redis connection needs both.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("cannot start: {e}")))
}

fn open(args: &KeyStoreArgs, existing: Existing, rt: &tokio::runtime::Runtime) -> CliResult<Store> {
    let from_state_dir = args.state_dir.is_some();
    let (path, pepper_path) = match (&args.redis, &args.state_dir, &args.keys, &args.pepper_file) {
        (Some(url), Some(dir), None, None) => {
            files::require_dir(dir, "the state directory")?;
            return open_redis(url, &state::pepper_file(dir), true, rt);
        }
        (Some(url), None, None, Some(pepper)) => return open_redis(url, pepper, false, rt),
        (Some(_), None, None, None) => {
            return Err(CliError::usage(
                "--redis needs the pepper its keys are hashed with: --state-dir DIR (the \
                 demo's), or --pepper-file FILE",
            ));
        }
        (Some(_), ..) => {
            return Err(CliError::usage(
                "--redis keeps the keys in Redis: not with --keys FILE",
            ));
        }
        (None, Some(dir), None, None) => {
            files::require_dir(dir, "the state directory")?;
            (state::keys_file(dir), state::pepper_file(dir))
        }
        (None, None, Some(keys), Some(pepper)) => (keys.clone(), pepper.clone()),
        (None, None, None, Some(_)) => {
            return Err(CliError::usage(
                "--pepper-file needs --keys FILE (a key store file) or --redis URL",
            ));
        }
        _ => {
            return Err(CliError::usage(
                "say where the keys are: --state-dir DIR, or --keys FILE --pepper-file FILE \
                 (or --redis URL with --state-dir DIR or --pepper-file FILE)",
            ));
        }
    };
    let pepper = read_pepper(&pepper_path, from_state_dir)?;
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            return Err(CliError::failed(format!("{}: not a file", path.display())));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if existing == Existing::Required {
                return Err(CliError::failed(format!(
                    "{}: no such key store (no key was ever issued there)",
                    path.display()
                )));
            }
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            if let Some(parent) = parent {
                files::require_dir(parent, "the key store's directory")?;
            }
        }
        Err(e) => return Err(files::read_error(&path, &e)),
    }
    let store = FileKeyStore::open(&path)
        .map_err(|e| CliError::failed(format!("key store: {e} (the file was left as it is)")))?;
    Ok(Store {
        keys: ApiKeys::new(store, pepper),
        place: Place::File(path),
    })
}

/// The keys in the Redis at `url`, as the demo keeps them there: the same
/// `Redis::connect` and key store (default prefix), hashed with `pepper_path`'s
/// pepper.
fn open_redis(
    url: &str,
    pepper_path: &Path,
    from_state_dir: bool,
    rt: &tokio::runtime::Runtime,
) -> CliResult<Store> {
    let shown = redis_url_shown(url)?;
    let pepper = read_pepper(pepper_path, from_state_dir)?;
    // The error names what failed, never the URL.
    let redis = rt
        .block_on(Redis::connect(url))
        .map_err(|e| CliError::failed(format!("--redis {shown}: {e}")))?;
    let place = Place::Redis {
        url: shown,
        prefix: redis.prefix().to_owned(),
    };
    Ok(Store {
        keys: ApiKeys::with_store(Arc::new(redis.key_store()), pepper),
        place,
    })
}

/// The Redis URL as messages show it (without a query), after refusing
/// one that holds a user or password: a secret is never taken from the
/// command line. Nothing of a refused URL is echoed.
fn redis_url_shown(url: &str) -> CliResult<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(CliError::usage(
            "--redis: not a Redis URL (redis://host:port[/db])",
        ));
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.split_once('?').map_or("", |(_, q)| q);
    let credentials = authority.contains('@')
        || query
            .split('&')
            .any(|p| p.starts_with("pass") || p.starts_with("user"));
    if credentials {
        return Err(CliError::usage(
            "--redis: the URL holds a user or password; a secret is never taken from the \
             command line (other users and the shell history see it). Consider that password \
             exposed. authctl reaches a Redis without a password only (e.g. on loopback)",
        ));
    }
    let path = tail.split(['?', '#']).next().unwrap_or_default();
    Ok(format!("{scheme}://{authority}{path}"))
}

fn read_pepper(pepper_path: &Path, from_state_dir: bool) -> CliResult<Pepper> {
    let pepper_text = files::read_text(pepper_path).map_err(|e| {
        if from_state_dir {
            CliError::new(
                e.exit(),
                format!(
                    "{} (has the demo been started once on this state directory?)",
                    e.message().trim_start_matches("authctl: ")
                ),
            )
        } else if e.exit() == crate::Exit::Failed && !pepper_path.exists() {
            CliError::failed(format!(
                "{}: no such pepper file (make one with `authctl key pepper --pepper-file {}`)",
                pepper_path.display(),
                pepper_path.display()
            ))
        } else {
            e
        }
    })?;
    // The decoder's message could quote part of the pepper: not shown.
    Pepper::from_base64url(&pepper_text).map_err(|_| {
        CliError::failed(format!(
            "{}: not a pepper (at least 32 bytes, unpadded base64url)",
            pepper_path.display()
        ))
    })
}

fn store_error(e: &auth_core::StoreError) -> CliError {
    CliError::failed(format!("key store: {e}"))
}

/// `key new`.
pub(crate) fn new(args: &KeyNewArgs, console: &mut Console<'_>) -> CliResult {
    if args.owner.trim().is_empty() {
        return Err(CliError::usage("--owner must not be empty"));
    }
    let scopes: Vec<&str> = args
        .scopes
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(bad) = scopes.iter().find(|s| !valid_scope(s)) {
        return Err(CliError::usage(format!(
            "scope {bad:?}: a scope is printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3)"
        )));
    }
    let rt = runtime()?;
    let store = open(&args.store, Existing::Optional, &rt)?;
    let mut new = NewKey::new(args.owner.clone(), environment(args.environment))
        .scopes(scopes.iter().copied())
        .tier(tier(args.tier));
    if let Some(d) = args.expires_in {
        let at = SystemTime::now()
            .checked_add(d)
            .ok_or_else(|| CliError::usage("--expires-in is too long"))?;
        new = new.expires_at(at);
    }
    let (key, record) = rt
        .block_on(store.keys.issue(new))
        .map_err(|e| store_error(&e))?;
    print_once(&rt, &store, &key, &record, console)?;
    let _ = writeln!(
        console.stderr,
        "issued key {} for {} ({}) into {}\n\
         The key is printed above, once; only its hash is stored. Keep it now.",
        record.id,
        record.owner,
        describe(&record),
        store.place
    );
    Ok(())
}

/// `key rotate`.
pub(crate) fn rotate(args: &KeyRotateArgs, console: &mut Console<'_>) -> CliResult {
    let id = key_id(&args.key, console)?;
    let rt = runtime()?;
    let store = open(&args.store, Existing::Required, &rt)?;
    let old = find(&rt, &store, &id)?;
    if old.revoked_at.is_some() {
        return Err(CliError::failed(format!(
            "key {id} is revoked: a revoked key is not rotated (issue a new one with `authctl key new`)"
        )));
    }
    let (key, record) = rt
        .block_on(store.keys.rotate(&id, args.grace))
        .map_err(|e| store_error(&e))?
        .ok_or_else(|| no_such_key(&id, &store))?;
    print_once(&rt, &store, &key, &record, console)?;
    let _ = writeln!(
        console.stderr,
        "rotated key {id}: new key {} ({}); the old key keeps working for {} s.\n\
         The new key is printed above, once; only its hash is stored. Keep it now.",
        record.id,
        describe(&record),
        args.grace.as_secs()
    );
    Ok(())
}

/// `key revoke`.
pub(crate) fn revoke(args: &KeyRevokeArgs, console: &mut Console<'_>) -> CliResult {
    let id = key_id(&args.key, console)?;
    let rt = runtime()?;
    let store = open(&args.store, Existing::Required, &rt)?;
    let old = find(&rt, &store, &id)?;
    if let Some(at) = old.revoked_at {
        let _ = writeln!(
            console.stderr,
            "key {id} ({}) was already revoked at {}",
            old.owner,
            timestamp(at)
        );
        return Ok(());
    }
    let revoked = rt
        .block_on(store.keys.revoke(&id))
        .map_err(|e| store_error(&e))?;
    if !revoked {
        return Err(no_such_key(&id, &store));
    }
    let _ = match &store.place {
        Place::File(path) => writeln!(
            console.stderr,
            "revoked key {id} ({}) in {}; a running server on this file refuses it within {} s",
            old.owner,
            path.display(),
            auth_core::store::RELOAD_EVERY.as_secs() + 1
        ),
        Place::Redis { .. } => writeln!(
            console.stderr,
            "revoked key {id} ({}) in {}; every server on this Redis refuses it from now on",
            old.owner, store.place
        ),
    };
    Ok(())
}

/// `key list`.
pub(crate) fn list(args: &KeyListArgs, console: &mut Console<'_>) -> CliResult {
    let rt = runtime()?;
    let store = open(&args.store, Existing::Required, &rt)?;
    let records = rt
        .block_on(store.keys.store().list())
        .map_err(|e| store_error(&e))?;
    let now = unix_now();
    if args.json {
        let mut out = Vec::with_capacity(records.len());
        for r in &records {
            let mut v = serde_json::to_value(r)
                .map_err(|e| CliError::failed(format!("cannot encode a record: {e}")))?;
            if let Some(obj) = v.as_object_mut() {
                obj.insert("status".to_owned(), status(r, now).into());
            }
            out.push(v);
        }
        let text = serde_json::to_string_pretty(&out)
            .map_err(|e| CliError::failed(format!("cannot encode the records: {e}")))?;
        writeln!(console.stdout, "{text}").map_err(io_out)?;
        return Ok(());
    }
    let mut rows = vec![[
        "ID".to_owned(),
        "OWNER".to_owned(),
        "TIER".to_owned(),
        "ENV".to_owned(),
        "STATUS".to_owned(),
        "SCOPES".to_owned(),
        "CREATED".to_owned(),
        "EXPIRES".to_owned(),
        "LAST USED".to_owned(),
    ]];
    for r in &records {
        rows.push([
            r.id.clone(),
            r.owner.clone(),
            tier_name(r.tier).to_owned(),
            r.environment.as_str().to_owned(),
            status(r, now).to_owned(),
            if r.scopes.is_empty() {
                "-".to_owned()
            } else {
                r.scopes.join(",")
            },
            timestamp(r.created_at),
            r.expires_at.map_or_else(|| "never".to_owned(), timestamp),
            r.last_used_at.map_or_else(|| "-".to_owned(), timestamp),
        ]);
    }
    let mut widths = [0usize; 9];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        writeln!(console.stdout, "{}", line.trim_end()).map_err(io_out)?;
    }
    let hint = match store.place {
        // The demo copies its state directory's keys in when it starts.
        Place::Redis { .. } if records.is_empty() => {
            " (has a demo been started with --redis on this Redis?)"
        }
        _ => "",
    };
    let _ = writeln!(
        console.stderr,
        "{} key(s) in {}{hint}",
        records.len(),
        store.place
    );
    Ok(())
}

/// `key pepper`.
pub(crate) fn pepper(args: &KeyPepperArgs, console: &mut Console<'_>) -> CliResult {
    let path = &args.pepper_file;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        files::require_dir(parent, "the pepper file's directory")?;
    }
    files::refuse_existing(
        &[path.as_path()],
        ": a new pepper would make every key hashed with the old one unusable",
    )?;
    let pepper = Pepper::generate().to_base64url();
    files::write(path, pepper.expose(), files::PRIVATE, files::Replace::Never)?;
    let _ = writeln!(
        console.stderr,
        "wrote a new pepper (32 random bytes, mode 0600) to {}",
        path.display()
    );
    Ok(())
}

/// Prints a new key, its only showing. If it cannot be printed, nobody
/// has it: it is revoked rather than left working unseen.
fn print_once(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    key: &auth_core::api_key::ApiKey,
    record: &KeyRecord,
    console: &mut Console<'_>,
) -> CliResult {
    let printed =
        writeln!(console.stdout, "{}", key.expose()).and_then(|()| console.stdout.flush());
    let Err(e) = printed else {
        return Ok(());
    };
    let undone = rt.block_on(store.keys.revoke(&record.id));
    Err(CliError::failed(match undone {
        Ok(_) => format!(
            "cannot print the new key ({e}); key {} was revoked, since nobody has it",
            record.id
        ),
        Err(r) => format!(
            "cannot print the new key ({e}), and revoking it failed ({r}): revoke key {} yourself",
            record.id
        ),
    }))
}

fn find(rt: &tokio::runtime::Runtime, store: &Store, id: &str) -> CliResult<KeyRecord> {
    rt.block_on(store.keys.store().find(id))
        .map_err(|e| store_error(&e))?
        .map(|(_, r)| (*r).clone())
        .ok_or_else(|| no_such_key(id, store))
}

fn no_such_key(id: &str, store: &Store) -> CliError {
    CliError::failed(format!("no key with id {id} in {}", store.place))
}

/// The key id named on the command line, or taken from a key's text on
/// standard input. A key's text on the command line is refused, unechoed.
fn key_id(key: &KeyRef, console: &mut Console<'_>) -> CliResult<String> {
    if key.key_stdin {
        let mut line = String::new();
        console
            .stdin
            .read_line(&mut line)
            .map_err(|e| CliError::failed(format!("cannot read standard input: {e}")))?;
        let text = line.trim();
        let parts = auth_core::api_key::parse(text.as_bytes(), DEFAULT_PREFIX)
            .map_err(|_| CliError::failed("standard input does not hold a well-formed API key"))?;
        return Ok(parts.id.to_owned());
    }
    let id = key.id.as_deref().unwrap_or_default();
    if id.len() > ID_LEN && id.contains('_') {
        return Err(CliError::usage(
            "that looks like an API key, not a key id: a key is never taken from the command \
             line (consider this one exposed). Give its id (see `authctl key list`), or its \
             text on standard input with --key-stdin",
        ));
    }
    if id.len() != ID_LEN || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(CliError::usage(format!(
            "{id:?} is not a key id ({ID_LEN} letters and digits, as `authctl key list` shows)"
        )));
    }
    Ok(id.to_owned())
}

/// RFC 6749 §3.3 scope-token characters.
fn valid_scope(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

fn environment(e: Env) -> Environment {
    match e {
        Env::Live => Environment::Live,
        Env::Test => Environment::Test,
    }
}

fn tier(t: Tier) -> KeyTier {
    match t {
        Tier::Main => KeyTier::Main,
        Tier::Standard => KeyTier::Standard,
    }
}

fn tier_name(t: KeyTier) -> &'static str {
    match t {
        KeyTier::Main => "main",
        KeyTier::Standard => "standard",
    }
}

fn status(r: &KeyRecord, now: u64) -> &'static str {
    if r.revoked_at.is_some() {
        "revoked"
    } else if r.expires_at.is_some_and(|e| e <= now) {
        if r.replaced_by.is_some() {
            "rotated-out"
        } else {
            "expired"
        }
    } else if r.replaced_by.is_some() {
        "rotating"
    } else {
        "active"
    }
}

fn describe(r: &KeyRecord) -> String {
    let scopes = if r.scopes.is_empty() {
        "no scopes".to_owned()
    } else {
        format!("scopes {}", r.scopes.join(" "))
    };
    let expires = r.expires_at.map_or_else(
        || "no expiry".to_owned(),
        |e| format!("expires {}", timestamp(e)),
    );
    format!(
        "{}, {}, {scopes}, {expires}",
        tier_name(r.tier),
        r.environment.as_str()
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// RFC 3339, UTC.
pub(crate) fn timestamp(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("@{unix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_times() {
        assert!(valid_scope("reports:read"));
        assert!(!valid_scope("a b"));
        assert!(!valid_scope("a\"b"));
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn redis_urls_are_shown_without_secrets() {
        assert_eq!(
            redis_url_shown("redis://127.0.0.1:6379").unwrap(),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(
            redis_url_shown("redis://localhost:6379/2?protocol=resp3").unwrap(),
            "redis://localhost:6379/2"
        );
        for secret in [
            "redis://:hunter2@127.0.0.1:6379",
            "redis://app:hunter2@127.0.0.1:6379/0",
            "redis+unix:///run/redis.sock?pass=hunter2",
        ] {
            let e = redis_url_shown(secret).unwrap_err();
            assert_eq!(e.exit(), crate::Exit::Usage, "{secret}");
            assert!(!e.message().contains("hunter2"), "{secret}");
        }
        assert_eq!(
            redis_url_shown("127.0.0.1:6379").unwrap_err().exit(),
            crate::Exit::Usage
        );
    }
}
