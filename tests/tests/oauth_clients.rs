//! OAuth 2.0 clients nobody here wrote, against the demo on both adapters:
//! Authlib (authorization code with PKCE logging in with Basic on the TLS
//! listener, client credentials, refresh with rotation and reuse
//! detection), headless Chromium on the login-and-consent page, and the
//! `oauth2` crate. `./scripts/test.sh` installs Authlib, Selenium and
//! Debian's chromium and chromedriver.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

use auth_conformance::{Pair, python_with, require_tool};
use auth_demo::Running;

/// Runs `scripts/oauth_clients.py MODE` against one adapter; returns what
/// it printed (one JSON line). Its asserts fail the test.
fn run_script(
    python: &Path,
    mode: &str,
    demo: &Running,
    env: &[(&str, PathBuf)],
) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/oauth_clients.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(mode)
        .arg(&demo.state_dir)
        .arg(format!("http://{}", demo.http))
        .arg(format!("https://{}", demo.https))
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{mode}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(out.stdout.trim_ascii()).unwrap()
}

#[test]
fn authlib_runs_every_grant_against_both_adapters() {
    let Some(python) = python_with(&["authlib", "requests"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    for demo in [&pair.axum, &pair.actix] {
        let seen = run_script(&python, "authlib", demo, &[]);
        assert_eq!(seen["code_flow"], 200);
        assert_eq!(seen["refresh_reuse"], "invalid_grant");
        assert_eq!(seen["code_reuse"], 401);
        assert_eq!(seen["public"], "reports:read");
        assert_eq!(
            (seen["service"].as_u64(), seen["opaque"].as_u64()),
            (Some(200), Some(200))
        );
    }
}

#[test]
fn the_login_page_works_in_headless_chromium() {
    let Some(python) = python_with(&["authlib", "requests", "selenium"]) else {
        return;
    };
    let (Some(chromium), Some(driver)) = (require_tool("chromium"), require_tool("chromedriver"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    for demo in [&pair.axum, &pair.actix] {
        let seen = run_script(
            &python,
            "browser",
            demo,
            &[
                ("CHROMIUM", chromium.clone()),
                ("CHROMEDRIVER", driver.clone()),
            ],
        );
        assert_eq!(seen["browser"], "bob");
    }
}
