//! A demo started in process beside the real `authctl`, and a client for it.

use std::path::Path;
use std::time::Duration;

use auth_demo::{DemoConfig, Framework, Running};

use super::{Run, authctl};

/// The demo on free ports of 127.0.0.1 with state in `dir`, its keys in the
/// Redis at `redis` if given.
pub(crate) fn start(dir: &Path, framework: Framework, redis: Option<&str>) -> Running {
    auth_demo::spawn(DemoConfig {
        framework,
        http: "127.0.0.1:0".parse().unwrap(),
        https: "127.0.0.1:0".parse().unwrap(),
        state_dir: dir.to_path_buf(),
        redis: redis.map(str::to_owned),
        ..DemoConfig::default()
    })
    .unwrap_or_else(|e| panic!("demo: {e}"))
}

/// `authctl` off the async runtime's threads.
pub(crate) async fn run(args: Vec<String>, stdin: Option<Vec<u8>>) -> Run {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        authctl(&args, stdin.as_deref())
    })
    .await
    .unwrap()
}

pub(crate) fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub(crate) async fn get(
    c: &reqwest::Client,
    url: &str,
    header: (&str, &str),
) -> (u16, serde_json::Value) {
    let res = c.get(url).header(header.0, header.1).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

/// The id part of an API key (`prefix_env_id_secret…`).
pub(crate) fn key_id(key: &str) -> String {
    key.split('_').nth(2).unwrap().to_owned()
}
