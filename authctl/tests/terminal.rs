//! `password hash` on a real terminal (a pseudo-terminal): it prompts on
//! standard error, asks twice, and the password typed is never echoed.

#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

/// Reads `from` on a thread, sending what comes.
fn pump(mut from: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 512];
        loop {
            match from.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(chunk[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// Collects from `rx` into `seen` until it ends with `needle`.
fn wait_for(rx: &mpsc::Receiver<Vec<u8>>, seen: &mut Vec<u8>, needle: &str) {
    let start = Instant::now();
    while !String::from_utf8_lossy(seen).ends_with(needle) {
        let left = Duration::from_secs(20).saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(bytes) => seen.extend(bytes),
            Err(_) => panic!(
                "no {needle:?} prompt; stderr so far: {}",
                String::from_utf8_lossy(seen)
            ),
        }
    }
}

/// Runs `authctl password hash` on a new terminal, types `first` and
/// `second` at its prompts; its exit code, stdout, and what the terminal
/// showed of the typing.
fn typed(first: &str, second: &str) -> (i32, String, String) {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let terminal = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_authctl"))
        .args(["password", "hash"])
        .stdin(Stdio::from(terminal))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(master);
    // What the terminal echoes back (ends when the child has gone).
    let echoed = pump(master.try_clone().unwrap());
    let errors = pump(child.stderr.take().unwrap());
    let mut stderr = Vec::new();
    wait_for(&errors, &mut stderr, "Password: ");
    master.write_all(format!("{first}\n").as_bytes()).unwrap();
    wait_for(&errors, &mut stderr, "Again: ");
    master.write_all(format!("{second}\n").as_bytes()).unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let code = child.wait().unwrap().code().unwrap_or(-1);
    drop(master);
    let mut shown = Vec::new();
    while let Ok(bytes) = echoed.recv_timeout(Duration::from_millis(500)) {
        shown.extend(bytes);
    }
    (code, stdout, String::from_utf8_lossy(&shown).into_owned())
}

#[test]
fn password_hash_prompts_twice_on_a_terminal_and_never_echoes() {
    let (code, stdout, shown) = typed("tty-typed-secret", "tty-typed-secret");
    assert_eq!(code, 0, "stdout: {stdout}");
    assert!(stdout.trim().starts_with("$argon2id$v=19$"), "{stdout}");
    assert!(
        !shown.contains("tty-typed-secret"),
        "the terminal showed the password: {shown:?}"
    );

    let (code, stdout, shown) = typed("one-secret", "another-secret");
    assert_eq!(code, 1, "two different passwords are refused");
    assert!(stdout.is_empty());
    assert!(!shown.contains("secret"), "{shown:?}");
}
