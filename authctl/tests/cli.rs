//! The real `authctl` binary on standalone files: usage and exit codes,
//! passwords never from the command line, PKCE and RFC 7638 known answers,
//! keys whose secrets never show, the PKI, development tokens, and bad
//! input answered with a message and the documented code, never a panic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

mod support;

use std::path::Path;

use auth_core::api_key::{ApiKeys, Pepper};
use auth_core::basic::{BasicAuthenticator, BasicUser};
use auth_core::store::FileKeyStore;
use auth_core::{Guard, SimpleRequest};
use base64::Engine as _;
use support::{authctl, authctl_in};

const OK: i32 = 0;
const FAILED: i32 = 1;
const USAGE: i32 = 2;
const REFUSED: i32 = 3;

const SUBCOMMANDS: &[&[&str]] = &[
    &["key", "new"],
    &["key", "rotate"],
    &["key", "revoke"],
    &["key", "list"],
    &["key", "pepper"],
    &["password", "hash"],
    &["pki", "init"],
    &["pki", "client"],
    &["pki", "crl"],
    &["pkce"],
    &["jwt", "mint"],
    &["jwt", "inspect"],
    &["jwks"],
];

#[test]
fn help_documents_the_exit_codes_and_usage_errors_exit_2() {
    let top = authctl(&["--help"], None).expect(OK);
    for code in [
        "0  done",
        "1  the operation failed",
        "2  usage error",
        "3  refused",
    ] {
        assert!(
            top.stdout.contains(code),
            "{code} in --help:\n{}",
            top.stdout
        );
    }
    for sub in SUBCOMMANDS {
        let mut args = sub.to_vec();
        args.push("--help");
        let help = authctl(&args, None).expect(OK);
        assert!(
            help.stdout.contains("Exit codes:") && help.stdout.contains("3  refused"),
            "{sub:?} --help lists the exit codes:\n{}",
            help.stdout
        );
    }
    let none = authctl(&[], None).expect(USAGE);
    assert!(none.stderr.contains("Usage: authctl"), "{}", none.stderr);
    let unknown = authctl(&["frobnicate"], None).expect(USAGE);
    assert!(
        unknown.stderr.contains("unrecognized subcommand"),
        "{}",
        unknown.stderr
    );
    assert!(unknown.stdout.is_empty());
    authctl(&["key", "destroy-all"], None).expect(USAGE);
    authctl(&["pkce", "--bogus"], None).expect(USAGE);
    // A key command that does not say where the keys are.
    let nowhere = authctl(&["key", "list"], None).expect(USAGE);
    assert!(nowhere.stderr.contains("--state-dir"), "{}", nowhere.stderr);
    // --keys without --pepper-file.
    authctl(&["key", "list", "--keys", "k.json"], None).expect(USAGE);
    authctl(&["key", "new", "--keys", "k", "--pepper-file", "p"], None).expect(USAGE); // no --owner
}

async fn password_verifies(phc: &str, password: &str) -> bool {
    let basic = BasicAuthenticator::builder()
        .user(BasicUser::new("carol", phc))
        .build()
        .unwrap();
    let guard = Guard::builder(basic).realm("t").build().unwrap();
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("carol:{password}"));
    let req = SimpleRequest::get("/")
        .tls(true)
        .header("authorization", format!("Basic {pair}"));
    guard.check(&req).await.is_ok()
}

#[tokio::test]
async fn password_hash_never_takes_the_password_from_argv_and_the_hash_verifies() {
    let secret = "hunter2-correct-horse";
    for args in [
        vec!["password", "hash", secret],
        vec!["password", "hash", "--password", secret],
        vec!["password", "hash", &format!("--password={secret}")],
        vec!["password", "hash", "--stdin", secret],
    ] {
        let run = authctl(&args, Some(b"something else\n")).expect(USAGE);
        assert!(run.stdout.is_empty(), "{args:?}: nothing hashed");
        assert!(
            !run.all().contains(secret),
            "{args:?}: the password is not echoed: {}",
            run.stderr
        );
        assert!(run.stderr.contains("never taken from the command line"));
    }

    let run = authctl(
        &["password", "hash"],
        Some(format!("{secret}\n").as_bytes()),
    )
    .expect(OK);
    let phc = run.out();
    assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
    assert_eq!(run.stdout.lines().count(), 1, "the hash alone on stdout");
    assert!(!run.all().contains(secret));
    assert!(password_verifies(phc, secret).await);
    assert!(!password_verifies(phc, "hunter2").await);

    // CRLF, non-ASCII, inner spaces kept; --stdin reads the same way.
    let pw = " Zoë's pass phrase ";
    let run = authctl(
        &["password", "hash", "--stdin"],
        Some(format!("{pw}\r\n").as_bytes()),
    )
    .expect(OK);
    assert!(password_verifies(run.out(), pw).await);
    // Two hashes of one password differ (random salt).
    let again = authctl(&["password", "hash"], Some(format!("{pw}\n").as_bytes())).expect(OK);
    assert_ne!(again.out(), run.out());

    let empty = authctl(&["password", "hash"], Some(b"\n")).expect(FAILED);
    assert!(empty.stderr.contains("empty password"), "{}", empty.stderr);
    let nothing = authctl(&["password", "hash"], None).expect(FAILED);
    assert!(nothing.stderr.contains("no password"), "{}", nothing.stderr);
    let long = "x".repeat(2000) + "\n";
    authctl(&["password", "hash"], Some(long.as_bytes())).expect(FAILED);
}

#[test]
fn pkce_gives_a_verifier_and_its_s256_challenge() {
    // RFC 7636 Appendix B.
    let run = authctl(
        &["pkce", "--verifier-stdin"],
        Some(b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk\n"),
    )
    .expect(OK);
    let v = run.json();
    assert_eq!(
        v["code_challenge"],
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    assert_eq!(v["code_challenge_method"], "S256");
    assert!(v.get("code_verifier").is_none());

    let a = authctl(&["pkce"], None).expect(OK).json();
    let b = authctl(&["pkce"], None).expect(OK).json();
    let verifier = a["code_verifier"].as_str().unwrap();
    assert!(auth_core::oauth::pkce::is_valid_verifier(verifier));
    assert_eq!(
        a["code_challenge"],
        auth_core::oauth::pkce::s256_challenge(verifier)
    );
    assert_ne!(a["code_verifier"], b["code_verifier"]);

    let bad = authctl(&["pkce", "--verifier-stdin"], Some(b"short\n")).expect(FAILED);
    assert!(bad.stderr.contains("code verifier"), "{}", bad.stderr);
}

/// `key <extra[0]> <store…> <extra[1..]…>`.
fn key_cmd<'a>(store: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["key"];
    a.extend_from_slice(&extra[..1]);
    a.extend_from_slice(store);
    a.extend_from_slice(&extra[1..]);
    a
}

/// Every secret `text` could leak: key texts, the pepper, the stored hashes.
fn assert_no_secret(text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(!text.contains(s.as_str()), "a secret leaked into:\n{text}");
    }
}

fn stored_hashes(file: &Path) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["hash"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn keys_in_standalone_files_are_printed_once_and_never_listed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keys = d.join("keys.json");
    let pepper = d.join("pepper");
    let (k, p) = (keys.to_str().unwrap(), pepper.to_str().unwrap());

    let none = authctl(
        &[
            "key",
            "new",
            "--keys",
            k,
            "--pepper-file",
            p,
            "--owner",
            "a",
        ],
        None,
    )
    .expect(FAILED);
    assert!(
        none.stderr.contains("authctl key pepper"),
        "{}",
        none.stderr
    );
    authctl(&["key", "pepper", "--pepper-file", p], None).expect(OK);
    #[cfg(unix)]
    assert_eq!(support::mode(&pepper), 0o600);
    authctl(&["key", "pepper", "--pepper-file", p], None).expect(REFUSED);
    let pepper_text = std::fs::read_to_string(&pepper).unwrap();

    let store = ["--keys", k, "--pepper-file", p];
    let main = authctl(
        &key_cmd(
            &store,
            &[
                "new",
                "--owner",
                "acme",
                "--scope",
                "reports:read,admin",
                "--tier",
                "main",
                "--env",
                "live",
                "--expires-in",
                "30d",
            ],
        ),
        None,
    )
    .expect(OK);
    let main_key = main.out().to_owned();
    assert_eq!(
        main.stdout,
        format!("{main_key}\n"),
        "the key alone on stdout"
    );
    assert!(main_key.starts_with("ask_live_"), "{main_key}");
    let std_key = authctl(
        &key_cmd(
            &store,
            &["new", "--owner", "beta", "--scope", "reports:read"],
        ),
        None,
    )
    .expect(OK)
    .out()
    .to_owned();
    assert!(std_key.starts_with("ask_test_"));
    let main_id = main_key.split('_').nth(2).unwrap().to_owned();
    let std_id = std_key.split('_').nth(2).unwrap().to_owned();
    #[cfg(unix)]
    assert_eq!(support::mode(&keys), 0o600);

    // What the file holds verifies through auth-core, as a server would.
    {
        let pep = Pepper::from_base64url(&pepper_text).unwrap();
        let api = ApiKeys::new(FileKeyStore::open(&keys).unwrap(), pep);
        let rec = api.verify(main_key.as_bytes()).await.unwrap();
        assert_eq!(rec.owner, "acme");
        assert_eq!(rec.scopes, ["reports:read", "admin"]);
        assert!(rec.expires_at.is_some());
        assert!(api.verify(std_key.as_bytes()).await.is_ok());
    }

    let mut secrets = vec![
        main_key.clone(),
        std_key.clone(),
        pepper_text.trim().to_owned(),
    ];
    secrets.extend(stored_hashes(&keys));

    let list = authctl(&key_cmd(&store, &["list"]), None).expect(OK);
    assert!(list.stdout.contains(&main_id) && list.stdout.contains("acme"));
    assert!(list.stdout.contains("main") && list.stdout.contains("live"));
    assert_no_secret(&list.all(), &secrets);
    let json = authctl(&key_cmd(&store, &["list", "--json"]), None).expect(OK);
    assert_no_secret(&json.all(), &secrets);
    let records = json.json();
    assert_eq!(records.as_array().unwrap().len(), 2);
    assert!(records[0].get("hash").is_none());

    // Rotate: the new key once on stdout; the old one in its grace period.
    let rotated = authctl(
        &key_cmd(&store, &["rotate", &std_id, "--grace", "1h"]),
        None,
    )
    .expect(OK);
    let new_key = rotated.out().to_owned();
    assert_eq!(rotated.stdout.lines().count(), 1);
    assert!(new_key.starts_with("ask_test_") && new_key != std_key);
    assert_no_secret(&rotated.stderr, &secrets);
    secrets.push(new_key.clone());

    // A key's text on the command line is refused, unechoed.
    let argv = authctl(&key_cmd(&store, &["revoke", &main_key]), None).expect(USAGE);
    assert!(!argv.all().contains(&main_key), "{}", argv.stderr);
    // By its text on stdin.
    let revoked = authctl(
        &key_cmd(&store, &["revoke", "--key-stdin"]),
        Some(format!("{main_key}\n").as_bytes()),
    )
    .expect(OK);
    assert_no_secret(&revoked.all(), &secrets);
    assert!(revoked.stderr.contains(&main_id));
    authctl(&key_cmd(&store, &["revoke", &main_id]), None).expect(OK); // already revoked: said, not an error
    authctl(&key_cmd(&store, &["rotate", &main_id]), None).expect(FAILED); // a revoked key is not rotated
    authctl(&key_cmd(&store, &["revoke", "AAAAAAAAAAAA"]), None).expect(FAILED); // no such key
    authctl(&key_cmd(&store, &["revoke", "not-an-id"]), None).expect(USAGE);
    authctl(
        &key_cmd(&store, &["revoke", "--key-stdin"]),
        Some(b"ask_test_nope\n"),
    )
    .expect(FAILED);

    let list = authctl(&key_cmd(&store, &["list", "--json"]), None).expect(OK);
    assert_no_secret(&list.all(), &secrets);
    let statuses: Vec<String> = list
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}={}",
                r["id"].as_str().unwrap(),
                r["status"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        statuses.contains(&format!("{main_id}=revoked")),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&format!("{std_id}=rotating")),
        "{statuses:?}"
    );
    assert_eq!(statuses.len(), 3);

    // A new key that cannot be printed is revoked: nobody has it.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let lost = std::process::Command::new(env!("CARGO_BIN_EXE_authctl"))
        .args(key_cmd(&store, &["new", "--owner", "lost"]))
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(lost.status.code(), Some(FAILED));
    let said = String::from_utf8_lossy(&lost.stderr);
    assert!(said.contains("was revoked"), "{said}");
    let list = authctl(&key_cmd(&store, &["list", "--json"]), None)
        .expect(OK)
        .json();
    let lost: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["owner"] == "lost")
        .collect();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0]["status"], "revoked");

    let pep = Pepper::from_base64url(&pepper_text).unwrap();
    let api = ApiKeys::new(FileKeyStore::open(&keys).unwrap(), pep);
    assert!(api.verify(main_key.as_bytes()).await.is_err(), "revoked");
    assert!(
        api.verify(std_key.as_bytes()).await.is_ok(),
        "in its grace period"
    );
    assert!(api.verify(new_key.as_bytes()).await.is_ok());
}

#[test]
fn bad_input_gets_a_message_and_the_documented_code() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = d.join("pepper");
    authctl(
        &["key", "pepper", "--pepper-file", p.to_str().unwrap()],
        None,
    )
    .expect(OK);
    let p = p.to_str().unwrap();

    // Missing files.
    let missing = d.join("missing.json");
    let m = missing.to_str().unwrap();
    let run = authctl(&["key", "list", "--keys", m, "--pepper-file", p], None).expect(FAILED);
    assert!(run.stderr.contains("missing.json"), "{}", run.stderr);
    assert!(!missing.exists(), "listing creates nothing");
    authctl(
        &[
            "key",
            "revoke",
            "AAAAAAAAAAAA",
            "--keys",
            m,
            "--pepper-file",
            p,
        ],
        None,
    )
    .expect(FAILED);
    let run = authctl(&["key", "list", "--state-dir", m], None).expect(FAILED);
    assert!(run.stderr.contains("no such directory"), "{}", run.stderr);
    let run = authctl(&["key", "list", "--state-dir", d.to_str().unwrap()], None).expect(FAILED);
    assert!(run.stderr.contains("pepper"), "{}", run.stderr);

    // A corrupt key store: refused, and left as it was.
    let corrupt = d.join("corrupt.json");
    std::fs::write(&corrupt, b"{\"version\": 1, \"keys\": [ {\"hash\": 7").unwrap();
    let c = corrupt.to_str().unwrap();
    for args in [
        vec!["key", "list", "--keys", c, "--pepper-file", p],
        vec![
            "key",
            "new",
            "--owner",
            "x",
            "--keys",
            c,
            "--pepper-file",
            p,
        ],
        vec![
            "key",
            "revoke",
            "AAAAAAAAAAAA",
            "--keys",
            c,
            "--pepper-file",
            p,
        ],
    ] {
        let run = authctl(&args, None).expect(FAILED);
        assert!(run.stderr.contains("corrupt.json"), "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    assert_eq!(
        std::fs::read(&corrupt).unwrap(),
        b"{\"version\": 1, \"keys\": [ {\"hash\": 7"
    );
    // A corrupt pepper: said so, without quoting it.
    let bad_pepper = d.join("bad-pepper");
    std::fs::write(&bad_pepper, "sEcReT!!pepper").unwrap();
    let run = authctl(
        &[
            "key",
            "new",
            "--owner",
            "x",
            "--keys",
            d.join("k.json").to_str().unwrap(),
            "--pepper-file",
            bad_pepper.to_str().unwrap(),
        ],
        None,
    )
    .expect(FAILED);
    assert!(run.stderr.contains("not a pepper"), "{}", run.stderr);
    assert!(!run.all().contains("sEcReT"));

    // PKI and JWT inputs that are missing or not what they should be.
    let junk = d.join("junk.pem");
    std::fs::write(&junk, "not a pem at all").unwrap();
    let j = junk.to_str().unwrap();
    authctl(
        &[
            "pki",
            "client",
            "--ca-cert",
            m,
            "--ca-key",
            m,
            "--spiffe",
            "spiffe://x/y",
        ],
        None,
    )
    .expect(FAILED);
    authctl_in(
        Some(d),
        &[
            "pki",
            "client",
            "--ca-cert",
            j,
            "--ca-key",
            j,
            "--spiffe",
            "spiffe://x/y",
        ],
        None,
    )
    .expect(FAILED);
    authctl(
        &[
            "pki",
            "client",
            "--state-dir",
            m,
            "--spiffe",
            "spiffe://x/y",
        ],
        None,
    )
    .expect(FAILED);
    authctl(&["pki", "crl", "--state-dir", m, "--revoke", "01"], None).expect(FAILED);
    authctl(&["jwt", "mint", "--dev", "--key", m, "--iss", "x"], None).expect(FAILED);
    authctl(&["jwt", "mint", "--dev", "--key", j, "--iss", "x"], None).expect(FAILED);
    authctl(&["jwt", "mint", "--dev", "--state-dir", m], None).expect(FAILED);
    authctl(&["jwks", j], None).expect(FAILED);
    authctl(&["jwks", m], None).expect(FAILED);
    for garbage in [
        &b""[..],
        b"a.b",
        b"%%%.%%%.%%%",
        b"e30.bm90IGpzb24.x",
        b"\xff\xfe",
    ] {
        authctl(&["jwt", "inspect"], Some(garbage)).expect(FAILED);
    }
    let huge = vec![b'a'; 100_000];
    authctl(&["jwt", "inspect"], Some(&huge)).expect(FAILED);
    authctl(&["jwt", "inspect", "--file", m], None).expect(FAILED);
    // A file where a directory should be.
    authctl(&["pki", "init", "--out-dir", j], None).expect(FAILED);
}

/// DER: a tag, a length, the contents.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    if bytes[0] & 0x80 != 0 {
        v.push(0);
    }
    v.extend_from_slice(bytes);
    der(0x02, &v)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[test]
fn jwks_kids_are_rfc7638_thumbprints_and_private_parts_never_show() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // RFC 7638 §3.1: the RSA key and its SHA-256 thumbprint.
    let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
    let b64u = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let rsa_public_key = der(
        0x30,
        &[der_uint(&b64u.decode(n).unwrap()), der_uint(&[1, 0, 1])].concat(),
    );
    let rsa_oid = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
    ];
    let alg_id = der(0x30, &[&rsa_oid[..], &[0x05, 0x00]].concat());
    let bits = der(0x03, &[&[0u8][..], &rsa_public_key].concat());
    let spki = der(0x30, &[alg_id, bits].concat());
    let rfc = d.join("rfc7638.pem");
    std::fs::write(&rfc, pem("PUBLIC KEY", &spki)).unwrap();

    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let ec_priv = d.join("ec.key");
    let ec_pub = d.join("ec.pub");
    std::fs::write(&ec_priv, ec.serialize_pem()).unwrap();
    std::fs::write(&ec_pub, ec.public_key_pem()).unwrap();
    let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let ed_priv = d.join("ed.key");
    std::fs::write(&ed_priv, ed.serialize_pem()).unwrap();

    let run = authctl(
        &[
            "jwks",
            rfc.to_str().unwrap(),
            ec_priv.to_str().unwrap(),
            ec_pub.to_str().unwrap(),
            ed_priv.to_str().unwrap(),
        ],
        None,
    )
    .expect(OK);
    let keys = run.json()["keys"].as_array().unwrap().clone();
    assert_eq!(
        keys.len(),
        3,
        "the EC key given twice is listed once: {keys:?}"
    );
    assert_eq!(
        keys[0]["kid"],
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    assert_eq!(keys[0]["n"], n);
    assert_eq!(keys[0]["e"], "AQAB");
    assert_eq!(keys[0]["alg"], "RS256");
    assert_eq!(keys[1]["kty"], "EC");
    assert_eq!(keys[1]["alg"], "ES256");
    assert_eq!(keys[2]["crv"], "Ed25519");
    for k in &keys {
        assert_eq!(k["use"], "sig");
        assert!(
            k.get("d").is_none() && k.get("k").is_none(),
            "no private part: {k}"
        );
    }
    let ps = authctl(&["jwks", "--rsa-alg", "PS256", rfc.to_str().unwrap()], None).expect(OK);
    assert_eq!(ps.json()["keys"][0]["alg"], "PS256");
}

#[test]
fn jwt_mint_refuses_without_dev_and_inspect_says_nothing_was_verified() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let key = d.join("ec.key");
    std::fs::write(&key, ec.serialize_pem()).unwrap();
    let k = key.to_str().unwrap();

    let refused = authctl(&["jwt", "mint", "--key", k, "--iss", "https://i"], None).expect(REFUSED);
    assert!(refused.stdout.is_empty(), "nothing on stdout");
    assert!(refused.stderr.contains("--dev"), "{}", refused.stderr);
    // Refused before any file is read.
    authctl(&["jwt", "mint", "--key", "/nonexistent"], None).expect(REFUSED);

    let run = authctl(
        &[
            "jwt",
            "mint",
            "--dev",
            "--key",
            k,
            "--iss",
            "https://i",
            "--aud",
            "api",
            "--scope",
            "a:read",
            "--scope",
            "b",
            "--sub",
            "u1",
            "--claim",
            "tenant=7",
            "--ttl",
            "5m",
        ],
        None,
    )
    .expect(OK);
    let token = run.out().to_owned();
    assert_eq!(run.stdout.lines().count(), 1);
    assert!(run.stderr.contains("DEVELOPMENT"), "{}", run.stderr);

    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_issuer(&["https://i"]);
    v.set_audience(&["api"]);
    let decoded = jsonwebtoken::decode::<serde_json::Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_ec_pem(ec.public_key_pem().as_bytes()).unwrap(),
        &v,
    )
    .unwrap();
    let c = decoded.claims;
    assert_eq!(c["scope"], "a:read b");
    assert_eq!(c["sub"], "u1");
    assert_eq!(c["tenant"], 7);
    assert_eq!(c["client_id"], "authctl");
    assert!(c["jti"].is_string() && c["iat"].is_u64());
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 300);
    assert_eq!(decoded.header.typ.as_deref(), Some("at+jwt"));
    let jwks = authctl(&["jwks", k], None).expect(OK).json();
    assert_eq!(
        decoded.header.kid.as_deref(),
        jwks["keys"][0]["kid"].as_str(),
        "kid = the key's thumbprint, as jwks says"
    );

    // Claims set by flags are not overridden, lifetimes are bounded.
    authctl(
        &[
            "jwt",
            "mint",
            "--dev",
            "--key",
            k,
            "--iss",
            "i",
            "--claim",
            "exp=9999999999",
        ],
        None,
    )
    .expect(USAGE);
    authctl(
        &[
            "jwt", "mint", "--dev", "--key", k, "--iss", "i", "--ttl", "2d",
        ],
        None,
    )
    .expect(USAGE);
    authctl(&["jwt", "mint", "--dev", "--key", k], None).expect(USAGE); // no --iss
    authctl(
        &[
            "jwt", "mint", "--dev", "--key", k, "--iss", "i", "--alg", "RS256",
        ],
        None,
    )
    .expect(USAGE);
    // HS256: a short secret is refused, a long one signs.
    let short = d.join("short");
    std::fs::write(&short, "0123456789\n").unwrap();
    let run = authctl(
        &[
            "jwt",
            "mint",
            "--dev",
            "--secret-file",
            short.to_str().unwrap(),
            "--iss",
            "i",
        ],
        None,
    )
    .expect(REFUSED);
    assert!(run.stdout.is_empty());
    assert!(!run.stderr.contains("0123456789"));
    let long = d.join("long");
    std::fs::write(&long, "0123456789abcdef0123456789abcdef\n").unwrap();
    let hs = authctl(
        &[
            "jwt",
            "mint",
            "--dev",
            "--secret-file",
            long.to_str().unwrap(),
            "--iss",
            "i",
        ],
        None,
    )
    .expect(OK);
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_issuer(&["i"]);
    v.validate_aud = false;
    jsonwebtoken::decode::<serde_json::Value>(
        hs.out(),
        &jsonwebtoken::DecodingKey::from_secret(b"0123456789abcdef0123456789abcdef").unwrap(),
        &v,
    )
    .unwrap();

    // Inspect: decoded, and said plainly to be unverified, on both streams.
    let run = authctl(
        &["jwt", "inspect"],
        Some(format!("Bearer {token}\n").as_bytes()),
    )
    .expect(OK);
    assert!(
        run.stderr.contains("NOTHING was verified"),
        "{}",
        run.stderr
    );
    let out = run.json();
    assert_eq!(out["verified"], false);
    assert!(
        out["warning"]
            .as_str()
            .unwrap()
            .contains("NOTHING was verified")
    );
    assert_eq!(out["claims"]["tenant"], 7);
    assert_eq!(out["header"]["alg"], "ES256");
    let signature = token.rsplit('.').next().unwrap();
    assert!(
        !run.stdout.contains(signature),
        "the signature is not printed"
    );
    // A forged token decodes the same way: nothing was checked.
    let forged = format!("{}.AAAA", token.rsplit_once('.').unwrap().0);
    let run = authctl(&["jwt", "inspect"], Some(forged.as_bytes())).expect(OK);
    assert_eq!(run.json()["claims"]["sub"], "u1");
    let file = d.join("token");
    std::fs::write(&file, &token).unwrap();
    authctl(&["jwt", "inspect", "--file", file.to_str().unwrap()], None).expect(OK);
    // On the command line: refused, unechoed.
    let run = authctl(&["jwt", "inspect", &token], None).expect(USAGE);
    assert!(!run.all().contains(&token));
}

#[test]
fn pki_makes_a_ca_client_certificates_and_crls_that_keep_their_entries() {
    use x509_parser::extensions::{GeneralName, ParsedExtension};

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca_dir = d.join("ca");
    std::fs::create_dir(&ca_dir).unwrap();
    let c = ca_dir.to_str().unwrap();
    let run = authctl(&["pki", "init", "--out-dir", c, "--name", "test CA"], None).expect(OK);
    assert_eq!(
        run.json()["ca_key"],
        ca_dir.join("ca.key").to_str().unwrap()
    );
    #[cfg(unix)]
    {
        assert_eq!(support::mode(&ca_dir.join("ca.key")), 0o600);
        assert_eq!(support::mode(&ca_dir.join("ca.pem")), 0o644);
    }
    let again = authctl(&["pki", "init", "--out-dir", c], None).expect(REFUSED);
    assert!(again.stderr.contains("exists"), "{}", again.stderr);

    let ca_cert = ca_dir.join("ca.pem");
    let ca_key = ca_dir.join("ca.key");
    let ca_args = [
        "--ca-cert",
        ca_cert.to_str().unwrap(),
        "--ca-key",
        ca_key.to_str().unwrap(),
    ];
    let out = d.join("out");
    std::fs::create_dir(&out).unwrap();
    let client = |spiffe: &str, extra: &[&str]| {
        let mut a = vec![
            "pki",
            "client",
            "--spiffe",
            spiffe,
            "--out-dir",
            out.to_str().unwrap(),
        ];
        a.extend_from_slice(&ca_args);
        a.extend_from_slice(extra);
        authctl(&a, None)
    };
    let billing = client("spiffe://demo.local/billing", &[]).expect(OK).json();
    let cert_path = out.join("billing.pem");
    assert_eq!(billing["cert"], cert_path.to_str().unwrap());
    #[cfg(unix)]
    assert_eq!(support::mode(&out.join("billing.key")), 0o600);
    client("spiffe://demo.local/billing", &[]).expect(REFUSED);
    let before = std::fs::read(&cert_path).unwrap();
    client("spiffe://demo.local/billing", &["--force"]).expect(OK);
    assert_ne!(
        std::fs::read(&cert_path).unwrap(),
        before,
        "replaced with --force"
    );
    let billing = client("spiffe://demo.local/billing", &["--force", "--days", "30"])
        .expect(OK)
        .json();
    client("https://demo.local/billing", &[]).expect(USAGE);
    client("spiffe://demo.local/", &[]).expect(USAGE);
    client("spiffe://demo.local/x", &["--name", "../escape"]).expect(USAGE);
    let ns = client(
        "spiffe://example.org/ns/prod/sa/api",
        &["--name", "api-prod"],
    )
    .expect(OK);
    assert!(out.join("api-prod.pem").exists());
    assert_eq!(
        ns.json()["spiffe_id"],
        "spiffe://example.org/ns/prod/sa/api"
    );

    // The certificate: the SPIFFE ID as its URI SAN, client auth, signed by the CA.
    let ca_pem = std::fs::read(&ca_cert).unwrap();
    let (_, ca_p) = x509_parser::pem::parse_x509_pem(&ca_pem).unwrap();
    let ca_x = ca_p.parse_x509().unwrap();
    let pem = std::fs::read(&cert_path).unwrap();
    let (_, p) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let cert = p.parse_x509().unwrap();
    cert.verify_signature(Some(ca_x.public_key())).unwrap();
    assert_eq!(cert.issuer(), ca_x.subject());
    let uris: Vec<String> = cert
        .iter_extensions()
        .filter_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => Some(
                san.general_names
                    .iter()
                    .filter_map(|g| match g {
                        GeneralName::URI(u) => Some((*u).to_owned()),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(uris, ["spiffe://demo.local/billing"]);
    let serial = billing["serial"].as_str().unwrap().to_owned();
    assert_eq!(cert.raw_serial_as_string().replace(':', ""), serial);

    // CRLs: entries kept from one to the next, numbers increasing.
    let crl = d.join("crl.pem");
    let crl_args = |extra: &[&str]| {
        let mut a = vec!["pki", "crl", "--out", crl.to_str().unwrap()];
        a.extend_from_slice(&ca_args);
        a.extend_from_slice(extra);
        authctl(&a, None)
    };
    let one = crl_args(&[
        "--revoke-cert",
        cert_path.to_str().unwrap(),
        "--reason",
        "key-compromise",
    ])
    .expect(OK)
    .json();
    assert_eq!(one["revoked"], serde_json::json!([serial]));
    assert_eq!(one["crl_number"], "01");
    let two = crl_args(&["--revoke", "0A:BC"]).expect(OK).json();
    assert_eq!(two["revoked"], serde_json::json!([serial, "0abc"]));
    assert_eq!(two["crl_number"], "02");
    let three = crl_args(&["--revoke", "abc"]).expect(OK).json();
    assert_eq!(three["added"], serde_json::json!([]), "already there");
    let crl_pem = std::fs::read(&crl).unwrap();
    let (_, crl_p) = x509_parser::pem::parse_x509_pem(&crl_pem).unwrap();
    let (_, parsed) = x509_parser::parse_x509_crl(&crl_p.contents).unwrap();
    parsed.verify_signature(ca_x.public_key()).unwrap();
    assert_eq!(parsed.iter_revoked_certificates().count(), 2);
    crl_args(&["--revoke", "xyz"]).expect(USAGE);

    // A certificate of another CA is not revoked by this one; a CRL that
    // is not this CA's is not silently replaced.
    let other = d.join("other");
    std::fs::create_dir(&other).unwrap();
    authctl(&["pki", "init", "--out-dir", other.to_str().unwrap()], None).expect(OK);
    let foreign = authctl(
        &[
            "pki",
            "client",
            "--ca-cert",
            other.join("ca.pem").to_str().unwrap(),
            "--ca-key",
            other.join("ca.key").to_str().unwrap(),
            "--spiffe",
            "spiffe://other/x",
            "--out-dir",
            other.to_str().unwrap(),
        ],
        None,
    )
    .expect(OK);
    let foreign_cert = foreign.json()["cert"].as_str().unwrap().to_owned();
    crl_args(&["--revoke-cert", &foreign_cert]).expect(FAILED);
    let other_crl = other.join("crl.pem");
    authctl(
        &[
            "pki",
            "crl",
            "--ca-cert",
            other.join("ca.pem").to_str().unwrap(),
            "--ca-key",
            other.join("ca.key").to_str().unwrap(),
            "--out",
            other_crl.to_str().unwrap(),
        ],
        None,
    )
    .expect(OK);
    let mut a = vec!["pki", "crl", "--out", other_crl.to_str().unwrap()];
    a.extend_from_slice(&ca_args);
    authctl(&a, None).expect(REFUSED);
    a.push("--force");
    authctl(&a, None).expect(OK);
    // No certificate outlives its CA.
    let short = d.join("short");
    std::fs::create_dir(&short).unwrap();
    authctl(
        &[
            "pki",
            "init",
            "--out-dir",
            short.to_str().unwrap(),
            "--days",
            "1",
        ],
        None,
    )
    .expect(OK);
    let leaf = authctl(
        &[
            "pki",
            "client",
            "--ca-cert",
            short.join("ca.pem").to_str().unwrap(),
            "--ca-key",
            short.join("ca.key").to_str().unwrap(),
            "--spiffe",
            "spiffe://short/x",
            "--days",
            "365",
            "--out-dir",
            short.to_str().unwrap(),
        ],
        None,
    )
    .expect(OK);
    let pem = std::fs::read(short.join("x.pem")).unwrap();
    let (_, p) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let not_after = p.parse_x509().unwrap().validity().not_after.timestamp();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(not_after <= now + 86_400, "{}", leaf.stdout);

    // A key that is not the CA certificate's.
    authctl(
        &[
            "pki",
            "client",
            "--ca-cert",
            ca_cert.to_str().unwrap(),
            "--ca-key",
            other.join("ca.key").to_str().unwrap(),
            "--spiffe",
            "spiffe://demo.local/z",
            "--out-dir",
            out.to_str().unwrap(),
        ],
        None,
    )
    .expect(FAILED);
    // A leaf certificate is no CA.
    authctl(
        &[
            "pki",
            "client",
            "--ca-cert",
            cert_path.to_str().unwrap(),
            "--ca-key",
            out.join("billing.key").to_str().unwrap(),
            "--spiffe",
            "spiffe://demo.local/z",
            "--out-dir",
            out.to_str().unwrap(),
        ],
        None,
    )
    .expect(FAILED);
}
