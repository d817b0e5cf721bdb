//! The conformance suite: every case goes to auth-tower/axum and to
//! auth-actix/actix-web over real HTTP (and TLS), and both must answer the
//! same status, `WWW-Authenticate` fields and body, byte for byte, and what
//! DEMO.md says.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use auth_conformance::{Listener, Pair, basic};
use unicode_normalization::UnicodeNormalization;

const BEARER: &str = r#"Bearer realm="demo""#;
const BASIC: &str = r#"Basic realm="demo", charset="UTF-8""#;
const INVALID_TOKEN: &str = r#"Bearer realm="demo", error="invalid_token""#;
const INVALID_REQUEST: &str = r#"Bearer realm="demo", error="invalid_request""#;
const API_KEY: &str = r#"ApiKey realm="demo", header="X-API-Key""#;

fn scope(s: &str) -> String {
    format!(r#"Bearer realm="demo", error="insufficient_scope", scope="{s}""#)
}

struct Case {
    name: &'static str,
    listener: Listener,
    method: &'static str,
    target: String,
    headers: Vec<(&'static str, String)>,
    status: u16,
    challenges: Vec<String>,
    /// A piece the body must contain.
    body_has: Option<&'static str>,
}

fn case(name: &'static str, listener: Listener, target: &str) -> Case {
    Case {
        name,
        listener,
        method: "GET",
        target: target.to_owned(),
        headers: Vec::new(),
        status: 200,
        challenges: Vec::new(),
        body_has: None,
    }
}

impl Case {
    fn method(mut self, m: &'static str) -> Self {
        self.method = m;
        self
    }
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }
    fn expect(mut self, status: u16, challenges: &[&str]) -> Self {
        self.status = status;
        self.challenges = challenges.iter().map(|c| (*c).to_owned()).collect();
        self
    }
    fn expect_scope(mut self, s: &str) -> Self {
        self.status = 403;
        self.challenges = vec![scope(s)];
        self
    }
    fn body_has(mut self, piece: &'static str) -> Self {
        self.body_has = Some(piece);
        self
    }
}

fn cases(pair: &Pair) -> Vec<Case> {
    use Listener::{Plain, Tls};
    let c = pair.credentials();
    let key = |n: &str| c.api_key(n).to_owned();
    let pw = |u: &str| c.password(u).to_owned();
    let main = key("main");
    // One character of the secret changed: the checksum no longer matches.
    let tampered = {
        let mut b = main.clone().into_bytes();
        let i = b.len() - 10;
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    let zoe_nfc = "zo\u{eb}";
    let zoe_nfd: String = zoe_nfc.nfd().collect();
    assert_ne!(zoe_nfd, zoe_nfc, "the NFD form must differ in bytes");
    vec![
        // --- open routes
        case("healthz is open", Plain, "/healthz").body_has(r#""status":"ok""#),
        case("unknown route is a 404 problem", Plain, "/nope").expect(404, &[]),
        case("wrong method is a 405", Plain, "/v1/admin")
            .method("DELETE")
            .expect(405, &[]),
        // --- no credential
        case("no credential, plain: Bearer only", Plain, "/v1/whoami").expect(401, &[BEARER]),
        case("no credential, TLS: Bearer and Basic", Tls, "/v1/whoami")
            .expect(401, &[BEARER, BASIC]),
        case("unsupported scheme gets the challenges", Tls, "/v1/whoami")
            .header("authorization", "Digest username=\"x\"")
            .expect(401, &[BEARER, BASIC]),
        // --- API keys
        case("main key on admin", Plain, "/v1/admin")
            .bearer(&main)
            .body_has(r#""method":"api_key""#),
        case("main key via X-API-Key", Plain, "/v1/admin").header("x-api-key", &main),
        case("main key on TLS", Tls, "/v1/admin").bearer(&main),
        case("scheme is case-insensitive (lower)", Plain, "/v1/admin")
            .header("authorization", format!("bearer {main}")),
        case("scheme is case-insensitive (upper)", Plain, "/v1/admin")
            .header("authorization", format!("BEARER {main}")),
        case("standard key lacks admin", Plain, "/v1/admin")
            .bearer(&key("standard"))
            .expect_scope("admin"),
        case("standard key reads reports", Plain, "/v1/reports").bearer(&key("standard")),
        case("standard key writes reports", Plain, "/v1/reports")
            .method("POST")
            .bearer(&key("standard")),
        case("expired key (Bearer)", Plain, "/v1/whoami")
            .bearer(&key("expired"))
            .expect(401, &[INVALID_TOKEN])
            .body_has("expired"),
        case("revoked key (Bearer)", Plain, "/v1/whoami")
            .bearer(&key("revoked"))
            .expect(401, &[INVALID_TOKEN])
            .body_has("revoked"),
        case("expired key (X-API-Key)", Plain, "/v1/whoami")
            .header("x-api-key", key("expired"))
            .expect(401, &[API_KEY]),
        case("revoked key (X-API-Key)", Plain, "/v1/whoami")
            .header("x-api-key", key("revoked"))
            .expect(401, &[API_KEY]),
        case("rotated_old inside its grace window", Plain, "/v1/whoami")
            .bearer(&key("rotated_old")),
        case("rotated_new", Plain, "/v1/reports").bearer(&key("rotated_new")),
        case("tampered key fails its checksum", Plain, "/v1/whoami")
            .bearer(&tampered)
            .expect(401, &[INVALID_TOKEN]),
        case("unknown X-API-Key", Plain, "/v1/whoami")
            .header("x-api-key", "nope")
            .expect(401, &[API_KEY]),
        case("X-API-Key with a space", Plain, "/v1/whoami")
            .header("x-api-key", "a b")
            .expect(401, &[API_KEY]),
        case("unknown opaque bearer token", Plain, "/v1/whoami")
            .bearer("opaque-token-123")
            .expect(401, &[INVALID_TOKEN]),
        case("bearer token outside RFC 6750 syntax", Plain, "/v1/whoami")
            .bearer("abc,def")
            .expect(401, &[INVALID_TOKEN]),
        case("Bearer with no token", Plain, "/v1/whoami")
            .header("authorization", "Bearer")
            .expect(401, &[INVALID_TOKEN]),
        case("empty Authorization", Plain, "/v1/whoami")
            .header("authorization", "")
            .expect(400, &[INVALID_REQUEST]),
        // --- credentials in the query string
        case(
            "?api_key= is refused",
            Plain,
            &format!("/v1/whoami?api_key={main}"),
        )
        .expect(400, &[INVALID_REQUEST])
        .body_has("header"),
        case(
            "?access_token= is refused",
            Plain,
            "/v1/whoami?access_token=x",
        )
        .expect(400, &[INVALID_REQUEST])
        .body_has("header"),
        case("?key= is refused", Plain, "/v1/whoami?key=x").expect(400, &[INVALID_REQUEST]),
        case(
            "percent-encoded api%5Fkey is refused",
            Plain,
            "/v1/whoami?api%5Fkey=x",
        )
        .expect(400, &[INVALID_REQUEST]),
        case(
            "query key refused even with a valid header",
            Plain,
            "/v1/admin?api_key=x",
        )
        .bearer(&main)
        .expect(400, &[INVALID_REQUEST]),
        // --- two credentials
        case("X-API-Key and Authorization", Plain, "/v1/whoami")
            .bearer(&main)
            .header("x-api-key", &main)
            .expect(400, &[INVALID_REQUEST]),
        case("two Authorization headers", Plain, "/v1/whoami")
            .bearer(&main)
            .bearer(&main)
            .expect(400, &[INVALID_REQUEST]),
        case("two X-API-Key headers", Plain, "/v1/whoami")
            .header("x-api-key", &main)
            .header("x-api-key", &main)
            .expect(400, &[INVALID_REQUEST]),
        case("Basic and X-API-Key", Tls, "/v1/whoami")
            .header("authorization", basic("alice", &pw("alice")))
            .header("x-api-key", &main)
            .expect(400, &[INVALID_REQUEST]),
        // --- Basic
        case("alice reads reports", Tls, "/v1/reports")
            .header("authorization", basic("alice", &pw("alice")))
            .body_has(r#""method":"basic""#),
        case("alice writes reports", Tls, "/v1/reports")
            .method("POST")
            .header("authorization", basic("alice", &pw("alice"))),
        case("bob may not write", Tls, "/v1/reports")
            .method("POST")
            .header("authorization", basic("bob", &pw("bob")))
            .expect_scope("reports:write"),
        case("alice is no admin", Tls, "/v1/admin")
            .header("authorization", basic("alice", &pw("alice")))
            .expect_scope("admin"),
        case("basic scheme lower-case", Tls, "/v1/whoami").header(
            "authorization",
            basic("alice", &pw("alice")).replacen("Basic", "basic", 1),
        ),
        case("wrong password", Tls, "/v1/whoami")
            .header("authorization", basic("alice", "wrong"))
            .expect(401, &[BASIC]),
        case("unknown user", Tls, "/v1/whoami")
            .header("authorization", basic("mallory", "x"))
            .expect(401, &[BASIC]),
        case("malformed base64", Tls, "/v1/whoami")
            .header("authorization", "Basic !!!not-base64")
            .expect(401, &[BASIC]),
        case("no colon", Tls, "/v1/whoami")
            .header("authorization", "Basic YWxpY2U=")
            .expect(401, &[BASIC]),
        case("control character in user-id", Tls, "/v1/whoami")
            .header("authorization", basic("ali\u{1}ce", "x"))
            .expect(401, &[BASIC]),
        case("user name in NFD matches NFC", Tls, "/v1/whoami")
            .header("authorization", basic(&zoe_nfd, &pw(zoe_nfc)))
            .body_has(r#""subject":"zo"#),
        case(
            "Basic on plaintext: 401, TLS required, no Basic challenge",
            Plain,
            "/v1/whoami",
        )
        .header("authorization", basic("alice", &pw("alice")))
        .expect(401, &[BEARER])
        .body_has("TLS"),
        case(
            "X-Forwarded-Proto from an untrusted peer changes nothing",
            Plain,
            "/v1/whoami",
        )
        .header("authorization", basic("alice", &pw("alice")))
        .header("x-forwarded-proto", "https")
        .expect(401, &[BEARER]),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_answers_the_same_on_both_adapters() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let cases = cases(&pair);
    assert!(cases.len() >= 40, "the suite holds {} cases", cases.len());
    let secrets: Vec<String> = pair
        .credentials()
        .api_keys
        .values()
        .cloned()
        .chain(
            pair.credentials()
                .basic_users
                .values()
                .map(|u| u.password.clone()),
        )
        .collect();
    let mut failures = Vec::new();
    for c in &cases {
        let headers: Vec<(&str, &str)> = c.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let answer = pair.send(c.listener, c.method, &c.target, &headers).await;
        let body = String::from_utf8_lossy(&answer.body).into_owned();
        let mut problems = Vec::new();
        if answer.status != c.status {
            problems.push(format!("status {} (want {})", answer.status, c.status));
        }
        if answer.challenges != c.challenges {
            problems.push(format!(
                "challenges {:?} (want {:?})",
                answer.challenges, c.challenges
            ));
        }
        if let Some(piece) = c.body_has.filter(|p| !body.contains(p)) {
            problems.push(format!("body {body:?} lacks {piece:?}"));
        }
        if answer.status >= 400 && answer.status != 404 && answer.status != 405 {
            let json = answer.json();
            for field in ["type", "title", "detail"] {
                if !json[field].is_string() {
                    problems.push(format!("problem body lacks {field}: {body}"));
                }
            }
            if json["status"] != answer.status {
                problems.push(format!("problem status {} in {body}", json["status"]));
            }
            if answer.content_type.as_deref() != Some("application/problem+json") {
                problems.push(format!("content-type {:?}", answer.content_type));
            }
        }
        if answer.status < 500 {
            for s in &secrets {
                if body.contains(s.as_str()) {
                    problems.push("the body echoes a credential".to_owned());
                }
            }
        } else {
            problems.push("a 5xx for client input".to_owned());
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}", c.name, problems.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_body_has_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let main = pair.credentials().api_key("main").to_owned();
    let a = pair
        .send(
            Listener::Plain,
            "GET",
            "/v1/whoami",
            &[("x-api-key", &main)],
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type.as_deref(), Some("application/json"));
    let json = a.json();
    assert_eq!(json["subject"], "demo-customer");
    assert_eq!(json["method"], "api_key");
    assert_eq!(
        json["scopes"],
        serde_json::json!(["admin", "reports:read", "reports:write"])
    );
    // The key id is the public part of the key, never the key.
    let key_id = json["key_id"].as_str().unwrap();
    assert_eq!(key_id.len(), 12);
    assert!(main.contains(key_id));
    assert!(json.get("client_id").is_none());
}
