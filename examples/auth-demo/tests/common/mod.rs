//! Starting the `auth-demo` binary as a child process, as a newcomer runs it.

#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `auth-demo` process and its bound addresses.
pub(crate) struct Demo {
    pub(crate) child: Child,
    pub(crate) http: String,
    pub(crate) https: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `auth-demo --framework <framework>` on free ports and the state
/// directory `state`, with `extra` flags, and waits for its ready file.
pub(crate) fn start(framework: &str, state: &Path, extra: &[&str]) -> Demo {
    let ready = state.join(format!("ready-{framework}.json"));
    let _ = std::fs::remove_file(&ready);
    let mut child = Command::new(env!("CARGO_BIN_EXE_auth-demo"))
        .args([
            "--framework",
            framework,
            "--http",
            "127.0.0.1:0",
            "--https",
            "127.0.0.1:0",
        ])
        .arg("--state-dir")
        .arg(state)
        .arg("--ready-file")
        .arg(&ready)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        if let Some(t) = std::fs::read_to_string(&ready)
            .ok()
            .filter(|t| !t.is_empty())
        {
            break t;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut log = String::new();
            use std::io::Read;
            let _ = child.stderr.take().unwrap().read_to_string(&mut log);
            panic!("auth-demo exited with {status}:\n{log}");
        }
        assert!(Instant::now() < deadline, "no ready file");
        std::thread::sleep(Duration::from_millis(50));
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    Demo {
        child,
        http: v["http"].as_str().unwrap().to_owned(),
        https: v["https"].as_str().unwrap().to_owned(),
    }
}
