//! Runs the real `authctl` binary.

#![allow(dead_code)] // each test file uses its own part

pub(crate) mod demo;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// What a run gave back.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Asserts the exit code, showing the output if it differs.
    #[track_caller]
    pub(crate) fn expect(self, code: i32) -> Self {
        assert_eq!(self.code, code, "exit code; output: {self:#?}");
        assert!(
            !self.stderr.contains("panicked"),
            "authctl panicked: {}",
            self.stderr
        );
        self
    }

    /// Standard output, trimmed.
    pub(crate) fn out(&self) -> &str {
        self.stdout.trim()
    }

    /// Standard output as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// Both streams, to look for what must not be there.
    pub(crate) fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs `authctl args…` with `stdin` (empty if none), no terminal.
pub(crate) fn authctl(args: &[&str], stdin: Option<&[u8]>) -> Run {
    authctl_in(None, args, stdin)
}

/// The same, in directory `dir`.
pub(crate) fn authctl_in(dir: Option<&Path>, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_authctl"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().expect("authctl starts");
    {
        let mut input = child.stdin.take().expect("stdin");
        if let Some(bytes) = stdin {
            // authctl may exit before reading it all (a usage error, a
            // bounded read): a broken pipe here is not a failure.
            let _ = input.write_all(bytes);
        }
    }
    let out = child.wait_with_output().expect("authctl runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The file's permission bits.
#[cfg(unix)]
pub(crate) fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
