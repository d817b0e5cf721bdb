//! Tokens minted by PyJWT (a client nobody here wrote) with the demo's keys
//! are accepted on both adapters; PyJWT's `alg=none` token is refused.
//! `./scripts/test.sh` installs PyJWT into `.venv`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::path::PathBuf;
use std::process::Command;

use auth_conformance::{Listener, Pair, python_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyjwt_tokens_are_accepted_and_its_none_token_refused() {
    let Some(python) = python_with(&["jwt", "cryptography"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/mint_token.py");
    let mint = |kind: &str| {
        let out = Command::new(&python)
            .arg(&script)
            .arg(dir.path())
            .arg(kind)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    for kind in ["es256", "rs256", "hs256"] {
        let t = mint(kind);
        let a = pair
            .send(
                Listener::Plain,
                "GET",
                "/v1/reports",
                &[("authorization", &format!("Bearer {t}"))],
            )
            .await;
        assert_eq!(
            a.status,
            200,
            "{kind}: {}",
            String::from_utf8_lossy(&a.body)
        );
        assert_eq!(a.json()["subject"], "pyjwt-user");
    }
    let none = mint("none");
    assert!(
        none.ends_with('.'),
        "PyJWT's none token has an empty signature"
    );
    let a = pair
        .send(
            Listener::Plain,
            "GET",
            "/v1/reports",
            &[("authorization", &format!("Bearer {none}"))],
        )
        .await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.challenges,
        [r#"Bearer realm="demo", error="invalid_token""#]
    );
}
