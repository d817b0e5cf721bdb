//! The real `authctl` binary with `key … --redis URL`, beside a demo run
//! with `--redis URL` on the same real `redis-server` (started on a free
//! port of 127.0.0.1) and the same state directory (for the pepper): a key
//! it issues opens the running demo's routes its scopes allow, and no
//! other; a key it revokes is refused within seconds; `list` shows it
//! revoked and never a secret; a rotation works there too. And the usage
//! errors: `--redis` with a key file, without a pepper, with a password in
//! the URL.
//!
//! Without `redis-server` the Redis test is skipped with a loud line (and
//! fails under `CI=true`), as every Redis test of the workspace is.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

#[path = "../../auth-core/tests/support/redis_server.rs"]
mod redis_server;
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use auth_demo::Framework;
use support::demo::{args, get, http, key_id, run, start};
use support::{Run, authctl};

/// How long a revocation may take to reach the running demo. It reads the
/// key's record from Redis on every request, so it is at once; the margin
/// is for a slow machine.
const WITHIN: Duration = Duration::from_secs(5);

/// The line of `key list`'s table for key `id`.
fn row<'a>(table: &'a str, id: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_else(|| panic!("no row for {id} in:\n{table}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_from_authctl_on_redis_open_the_running_demo_and_a_revocation_is_refused() {
    if !redis_server::available() {
        return;
    }
    let redis_dir = tempfile::tempdir().unwrap();
    let redis = redis_server::Server::start(redis_dir.path(), &[]);
    let redis_url = redis.url();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let demo = start(&d, Framework::Axum, Some(&redis_url));
    let sd = d.to_str().unwrap().to_owned();
    let c = http();
    let url = |p: &str| format!("http://{}{p}", demo.http);
    // The keys in Redis, the pepper from the demo's state directory.
    let key_cmd = |cmd: &[&str]| {
        let mut a = args(&["key"]);
        a.extend(args(cmd));
        a.extend(args(&["--redis", &redis_url, "--state-dir", &sd]));
        a
    };

    let made = run(
        key_cmd(&["new", "--owner", "carol", "--scope", "reports:read"]),
        None,
    )
    .await
    .expect(0);
    let reader_key = made.out().to_owned();
    assert_eq!(made.stdout, format!("{reader_key}\n"), "the key alone");
    assert!(
        made.stderr
            .contains(&format!("into Redis at {redis_url} (key prefix auth)")),
        "{}",
        made.stderr
    );
    let reader_id = key_id(&reader_key);
    // In Redis only: the state directory's key file never had it.
    let file = std::fs::read_to_string(d.join("server/api-keys.json")).unwrap();
    assert!(!file.contains(&reader_id), "not written to the file");

    // The running demo knows it at once: 200 where its scopes allow, 403
    // where they do not.
    let (status, body) = get(&c, &url("/v1/whoami"), ("x-api-key", &reader_key)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["subject"], "carol");
    assert_eq!(body["method"], "api_key");
    assert_eq!(body["key_id"], reader_id);
    let bearer = format!("Bearer {reader_key}");
    let (status, body) = get(&c, &url("/v1/reports"), ("authorization", &bearer)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(&c, &url("/v1/admin"), ("x-api-key", &reader_key)).await;
    assert_eq!(status, 403, "{body}");

    let admin_key = run(
        key_cmd(&[
            "new",
            "--owner",
            "dave",
            "--tier",
            "main",
            "--scope",
            "reports:read,admin",
        ]),
        None,
    )
    .await
    .expect(0)
    .out()
    .to_owned();
    let (status, body) = get(&c, &url("/v1/admin"), ("x-api-key", &admin_key)).await;
    assert_eq!(status, 200, "{body}");

    // Listing: ours, and the demo's own keys it copied into Redis; never a
    // key or the pepper.
    let pepper = std::fs::read_to_string(d.join("server/pepper")).unwrap();
    let mut secrets = vec![
        reader_key.clone(),
        admin_key.clone(),
        pepper.trim().to_owned(),
    ];
    secrets.extend(demo.credentials.api_keys.values().cloned());
    let no_secret = |r: &Run, what: &str| {
        for s in &secrets {
            assert!(!r.all().contains(s.as_str()), "a secret in {what}");
        }
    };
    let list = run(key_cmd(&["list"]), None).await.expect(0);
    no_secret(&list, "key list");
    for owner in ["carol", "dave", "demo-customer"] {
        assert!(list.stdout.contains(owner), "{}", list.stdout);
    }
    assert!(row(&list.stdout, &reader_id).contains(" active "));
    assert!(
        list.stderr.contains(&format!("in Redis at {redis_url}")),
        "{}",
        list.stderr
    );

    // Revoked by authctl: refused by the running demo within seconds.
    let revoked = run(key_cmd(&["revoke", &reader_id]), None).await.expect(0);
    assert!(revoked.stdout.is_empty());
    assert!(
        revoked.stderr.contains("every server on this Redis"),
        "{}",
        revoked.stderr
    );
    no_secret(&revoked, "key revoke");
    let since = Instant::now();
    loop {
        let (status, body) = get(&c, &url("/v1/whoami"), ("x-api-key", &reader_key)).await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200, "{body}");
        assert!(since.elapsed() < WITHIN, "still accepted after {WITHIN:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        get(&c, &url("/v1/reports"), ("authorization", &bearer))
            .await
            .0,
        401
    );
    // The other key is untouched.
    assert_eq!(
        get(&c, &url("/v1/admin"), ("x-api-key", &admin_key))
            .await
            .0,
        200
    );

    // Listed as revoked, in the table and in JSON; still no secret. The
    // pepper may come from --pepper-file as well.
    let list = run(key_cmd(&["list"]), None).await.expect(0);
    no_secret(&list, "key list");
    assert!(
        row(&list.stdout, &reader_id).contains(" revoked "),
        "{}",
        list.stdout
    );
    let pepper_file = d.join("server/pepper");
    let json = run(
        args(&[
            "key",
            "list",
            "--json",
            "--redis",
            &redis_url,
            "--pepper-file",
            pepper_file.to_str().unwrap(),
        ]),
        None,
    )
    .await
    .expect(0);
    no_secret(&json, "key list --json");
    let records = json.json();
    let carol = records
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == reader_id)
        .unwrap();
    assert_eq!(carol["status"], "revoked");
    assert!(carol["revoked_at"].is_u64());
    assert_eq!(carol["owner"], "carol");

    // Revoking it again says so; a key that is not there is a failure.
    let again = run(key_cmd(&["revoke", &reader_id]), None).await.expect(0);
    assert!(again.stderr.contains("already revoked"), "{}", again.stderr);
    let none = run(key_cmd(&["revoke", "AAAAAAAAAAAA"]), None)
        .await
        .expect(1);
    assert!(none.stderr.contains("no key with id"), "{}", none.stderr);

    // Rotated with no grace, the key named by its text on stdin: the new
    // key opens, the old one is refused.
    let rotated = run(
        key_cmd(&["rotate", "--key-stdin", "--grace", "0s"]),
        Some(format!("{admin_key}\n").into_bytes()),
    )
    .await
    .expect(0);
    let new_key = rotated.out().to_owned();
    assert_ne!(new_key, admin_key);
    assert_eq!(
        get(&c, &url("/v1/admin"), ("x-api-key", &new_key)).await.0,
        200
    );
    assert_eq!(
        get(&c, &url("/v1/admin"), ("x-api-key", &admin_key))
            .await
            .0,
        401
    );
    demo.stop();
    drop(redis);
}

#[test]
fn redis_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pepper");
    let p = p.to_str().unwrap();
    let k = dir.path().join("keys.json");
    let k = k.to_str().unwrap();
    authctl(&["key", "pepper", "--pepper-file", p], None).expect(0);
    // Never reached: every run below stops before connecting.
    let url = "redis://127.0.0.1:9";

    // With a key file: a usage error naming both, whatever the command.
    for cmd in [
        &["new", "--owner", "carol"][..],
        &["list"],
        &["revoke", "AAAAAAAAAAAA"],
        &["rotate", "AAAAAAAAAAAA"],
    ] {
        let mut a = vec!["key"];
        a.extend(cmd);
        a.extend(["--redis", url, "--keys", k, "--pepper-file", p]);
        let both = authctl(&a, None).expect(2);
        assert!(both.stdout.is_empty());
        assert!(
            both.stderr.contains("--redis") && both.stderr.contains("--keys"),
            "{}",
            both.stderr
        );
    }
    assert!(!Path::new(k).exists(), "no key file made");
    // With the state directory's key file too.
    let sd = dir.path().to_str().unwrap();
    authctl(
        &[
            "key",
            "list",
            "--redis",
            url,
            "--state-dir",
            sd,
            "--keys",
            k,
        ],
        None,
    )
    .expect(2);

    // Without a pepper: the keys could not be hashed as the server does.
    let no_pepper = authctl(&["key", "list", "--redis", url], None).expect(2);
    assert!(
        no_pepper.stderr.contains("--state-dir") && no_pepper.stderr.contains("--pepper-file"),
        "{}",
        no_pepper.stderr
    );
    // --pepper-file alone says where the keys are not.
    let pepper_only = authctl(&["key", "list", "--pepper-file", p], None).expect(2);
    assert!(
        pepper_only.stderr.contains("--keys") && pepper_only.stderr.contains("--redis"),
        "{}",
        pepper_only.stderr
    );

    // A password in the URL: refused, not echoed.
    for secret_url in [
        "redis://:hunter2hunter2@127.0.0.1:6379",
        "redis://app:hunter2hunter2@127.0.0.1:6379/0",
    ] {
        let r = authctl(
            &["key", "list", "--redis", secret_url, "--pepper-file", p],
            None,
        )
        .expect(2);
        assert!(!r.all().contains("hunter2hunter2"), "{}", r.all());
        assert!(r.stderr.contains("password"), "{}", r.stderr);
    }
    // Not a URL.
    authctl(
        &[
            "key",
            "list",
            "--redis",
            "127.0.0.1:6379",
            "--pepper-file",
            p,
        ],
        None,
    )
    .expect(2);

    // Nothing listening there: the operation failed (1), promptly.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let nowhere = format!("redis://127.0.0.1:{port}");
    let since = Instant::now();
    let r = authctl(
        &["key", "list", "--redis", &nowhere, "--pepper-file", p],
        None,
    )
    .expect(1);
    assert!(since.elapsed() < Duration::from_secs(15));
    assert!(r.stderr.contains(&nowhere), "{}", r.stderr);
    assert!(r.stdout.is_empty());

    // Every key command's help names the option.
    for cmd in ["new", "rotate", "revoke", "list"] {
        let help = authctl(&["key", cmd, "--help"], None).expect(0);
        assert!(
            help.stdout.contains("--redis <URL>"),
            "{cmd}: {}",
            help.stdout
        );
    }
}
