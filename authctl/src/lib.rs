//! `authctl`: the auth-stack command-line tool.
//!
//! It works on the demo's state directory (`--state-dir DIR`) or on
//! standalone files, and beside a running server:
//!
//! - `key new | rotate | revoke | list | pepper`: API keys in a key store
//!   file, through auth-core's [`FileKeyStore`](auth_core::store::FileKeyStore)
//!   and [`ApiKeys`](auth_core::api_key::ApiKeys), so another process's
//!   change (a server's revocation, a key it issued) is never undone. A key
//!   is printed once, on standard output and alone; only its hash is kept.
//!   With `--redis URL`, the same over the Redis key store of a demo run
//!   with `--redis URL` (pepper from its state directory).
//! - `password hash`: an argon2id PHC string, the password read from a
//!   prompt without echo or from standard input, never from the command line.
//! - `pki init | client | crl`: a dev CA, client certificates with SPIFFE
//!   URI SANs, a CRL (rcgen); private keys written 0600.
//! - `pkce`: a verifier and its S256 challenge.
//! - `jwt mint --dev`: a development token signed with a local key;
//!   `jwt inspect`: header and claims, decoded and NOT verified.
//! - `jwks`: a JWKS from PEM keys, with RFC 7638 thumbprints as `kid`s.
//!
//! Exit codes: [`Exit`].
//!
//! The binary is a thin `main` over [`run`], which takes the arguments and
//! the console, so that everything here can be tested without a process.

mod cli;
mod error;
mod files;
mod jwt;
mod keys;
mod password;
mod pki;
mod state;
mod terminal;

use std::ffi::OsString;
use std::io::{BufRead, Write};

pub use error::Exit;

/// What a command reads and writes: standard input (and whether it is a
/// terminal), standard output (only the result: a key, a hash, a
/// document) and standard error (everything said to the user).
pub struct Console<'a> {
    /// Standard input.
    pub stdin: &'a mut dyn BufRead,
    /// Whether standard input is a terminal: a password is then prompted
    /// for with the echo off.
    pub stdin_is_terminal: bool,
    /// Standard output.
    pub stdout: &'a mut dyn Write,
    /// Standard error.
    pub stderr: &'a mut dyn Write,
}

/// Runs `authctl` with `args` (the program name first) and returns the
/// exit code.
pub fn run<I, T>(args: I, console: &mut Console<'_>) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::parse(args) {
        Ok(cli) => cli,
        Err(cli::Early::Printed(text)) => {
            let _ = console.stdout.write_all(text.as_bytes());
            return Exit::Ok;
        }
        Err(cli::Early::Error(e)) => {
            let _ = writeln!(console.stderr, "{}", e.message());
            return e.exit();
        }
    };
    match cli::dispatch(cli, console) {
        Ok(()) => match console.stdout.flush() {
            Ok(()) => Exit::Ok,
            Err(e) => {
                let _ = writeln!(console.stderr, "authctl: cannot write the output: {e}");
                Exit::Failed
            }
        },
        Err(e) => {
            let _ = writeln!(console.stderr, "{}", e.message());
            e.exit()
        }
    }
}
