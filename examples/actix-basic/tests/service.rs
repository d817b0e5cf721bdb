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

/// GET `path` on `run` as `user`.
async fn get_as(run: &Running, path: &str, user: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(run.url(path))
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap()
}

/// PUT `body` to `path` on `run` as `user`.
async fn put_as(
    run: &Running,
    path: &str,
    user: &str,
    password: &str,
    body: &serde_json::Value,
) -> reqwest::Response {
    reqwest::Client::new()
        .put(run.url(path))
        .basic_auth(user, Some(password))
        .json(body)
        .send()
        .await
        .unwrap()
}

const BASIC: &str = "Basic realm=\"actix-basic\", charset=\"UTF-8\"";

#[tokio::test]
async fn store_users_log_in_and_refusals_carry_the_basic_challenge() {
    let run = start(env!("CARGO_BIN_EXE_actix-basic"), &[], &[]);
    let http = reqwest::Client::new();
    let alice = run.vars["ALICE_PASSWORD"].clone();
    let admin = run.vars["ADMIN_PASSWORD"].clone();
    let url = |path: &str| run.url(path);

    // Allowed: alice, from the store, over loopback plaintext.
    let res = get_as(&run, "/v1/reports", "alice", &alice).await;
    assert_eq!(res.status(), 200);
    let res = get_as(&run, "/v1/whoami", "alice", &alice).await;
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["subject"], "alice");
    assert_eq!(body["method"], "basic");

    // Refused: no credentials, a wrong password, an unknown user.
    for req in [
        http.get(url("/v1/reports")),
        http.get(url("/v1/reports"))
            .basic_auth("alice", Some("wrong")),
        http.get(url("/v1/reports"))
            .basic_auth("carol", Some(&alice)),
    ] {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(header(&res, "www-authenticate"), BASIC);
    }

    // Users added at run time: admins only.
    let bob = serde_json::json!({"password": "a long passphrase"});
    let res = put_as(&run, "/v1/users/bob", "alice", &alice, &bob).await;
    assert_eq!(res.status(), 403);
    let res = get_as(&run, "/v1/whoami", "bob", "any password").await;
    assert_eq!(res.status(), 401, "bob does not exist yet");
    let res = put_as(&run, "/v1/users/bob", "admin", &admin, &bob).await;
    assert_eq!(res.status(), 204);
    let res = get_as(&run, "/v1/whoami", "bob", "a long passphrase").await;
    assert_eq!(res.status(), 200);
    let res = get_as(&run, "/v1/reports", "bob", "a long passphrase").await;
    assert_eq!(res.status(), 403);
    let problem: serde_json::Value = res.json().await.unwrap();
    assert_eq!(problem["status"], 403);

    // Five wrong passwords lock alice from this address, even with the
    // right one; admin is not affected.
    for i in 0..4 {
        let res = get_as(&run, "/v1/reports", "alice", &format!("wrong-{i}")).await;
        assert_eq!(res.status(), 401);
    }
    let res = get_as(&run, "/v1/reports", "alice", &alice).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = header(&res, "retry-after").parse().unwrap();
    assert!((1..=900).contains(&retry));
    let res = get_as(&run, "/v1/whoami", "admin", &admin).await;
    assert_eq!(res.status(), 200);
}
