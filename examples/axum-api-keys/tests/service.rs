//! The example binary as a newcomer runs it: started on a free port, its
//! printed keys used by reqwest.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

#[path = "../../support/harness.rs"]
mod harness;

use harness::{Running, header, start};

/// GET `path` on `run` with `key` in `X-API-Key`.
async fn get_with_key(run: &Running, path: &str, key: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(run.url(path))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn keys_scopes_and_tier_quotas() {
    let run = start(env!("CARGO_BIN_EXE_axum-api-keys"), &[], &[]);
    let http = reqwest::Client::new();
    let main_key = &run.vars["MAIN_KEY"];
    let standard_key = &run.vars["STANDARD_KEY"];
    assert!(main_key.starts_with("ask_test_"));
    let get = |path: &str| http.get(run.url(path));

    // Allowed: either header, the identity in the body, the tier's quota
    // in the fields.
    let res = get_with_key(&run, "/v1/reports", main_key).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "ratelimit-policy"), "\"main\";q=60;w=60");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["subject"], "acme-main");
    assert_eq!(body["roles"], serde_json::json!(["api_key:main"]));
    let res = get("/v1/admin").bearer_auth(main_key).send().await.unwrap();
    assert_eq!(res.status(), 200);

    // Refused: no key, a made-up key, a scope the key lacks.
    let res = get("/v1/reports").send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(header(&res, "www-authenticate").starts_with("Bearer"));
    let res = get_with_key(&run, "/v1/reports", "ask_test_nope").await;
    assert_eq!(res.status(), 401);
    // Sent in `X-API-Key`: the answer names that header.
    let challenge = header(&res, "www-authenticate");
    assert!(challenge.starts_with("ApiKey "), "{challenge}");
    assert!(challenge.contains("header=\"X-API-Key\""), "{challenge}");
    let res = get_with_key(&run, "/v1/admin", standard_key).await;
    assert_eq!(res.status(), 403);
    let challenge = header(&res, "www-authenticate");
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert!(challenge.contains("scope=\"admin\""), "{challenge}");

    // The standard tier: 5 a minute for this key. The 403 above came
    // before the limits stage and used none of them.
    for left in (0..5).rev() {
        let res = get_with_key(&run, "/v1/reports", standard_key).await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "ratelimit-policy"), "\"standard\";q=5;w=60");
        let field = header(&res, "ratelimit");
        assert!(field.contains(&format!(";r={left};")), "{field}");
    }
    let res = get_with_key(&run, "/v1/reports", standard_key).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = header(&res, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry));
    // The main key has its own partition and quota.
    let res = get_with_key(&run, "/v1/reports", main_key).await;
    assert_eq!(res.status(), 200);
    // Unauthenticated routes stay open.
    assert_eq!(get("/healthz").send().await.unwrap().status(), 200);
}
