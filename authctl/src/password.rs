//! `authctl password hash` and `authctl pkce`.

use auth_core::Secret;
use auth_core::basic::{MAX_PASSWORD_LEN, hash_password};
use auth_core::oauth::pkce;

use crate::cli::{PasswordHashArgs, PkceArgs};
use crate::error::{CliError, CliResult, io_out};
use crate::{Console, terminal};

/// `password hash`.
pub(crate) fn hash(args: &PasswordHashArgs, console: &mut Console<'_>) -> CliResult {
    if !args.rest.is_empty() {
        // Not echoed: it may well be the password.
        return Err(CliError::usage(
            "`password hash` takes no arguments: a password is never taken from the command \
             line, where other users and the shell history see it (if that was one, consider \
             it exposed). Type it at the prompt, or pipe it on standard input",
        ));
    }
    let password = if console.stdin_is_terminal && !args.stdin {
        let first = prompt(console, "Password: ")?;
        let again = prompt(console, "Again: ")?;
        if first.expose() != again.expose() {
            return Err(CliError::failed(
                "the two passwords differ; nothing was hashed",
            ));
        }
        first
    } else {
        let mut line = String::new();
        let n = console
            .stdin
            .read_line(&mut line)
            .map_err(|e| CliError::failed(format!("cannot read standard input: {e}")))?;
        if n == 0 {
            return Err(CliError::failed("no password on standard input"));
        }
        strip_newline(line)
    };
    let text = password
        .expose_str()
        .ok_or_else(|| CliError::failed("the password is not UTF-8"))?;
    if text.is_empty() {
        return Err(CliError::failed("empty password; nothing was hashed"));
    }
    if text.len() > MAX_PASSWORD_LEN {
        return Err(CliError::failed(format!(
            "the password is longer than {MAX_PASSWORD_LEN} bytes"
        )));
    }
    let phc = hash_password(text).map_err(|e| CliError::failed(e.to_string()))?;
    writeln!(console.stdout, "{phc}").map_err(io_out)?;
    let _ = writeln!(
        console.stderr,
        "argon2id PHC string written to standard output (RFC 8265 OpaqueString preparation, \
         random salt, argon2's default cost)"
    );
    Ok(())
}

fn prompt(console: &mut Console<'_>, text: &str) -> CliResult<Secret> {
    let line = terminal::read_hidden(text, console.stdin, console.stderr).map_err(|e| {
        CliError::failed(format!("cannot read the password from the terminal: {e}"))
    })?;
    Ok(strip_newline(line))
}

/// The line without its line ending, kept in a [`Secret`] (zeroized on
/// drop).
fn strip_newline(mut line: String) -> Secret {
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    Secret::new(line.into_bytes())
}

/// `pkce`.
pub(crate) fn pkce(args: &PkceArgs, console: &mut Console<'_>) -> CliResult {
    let out = if args.verifier_stdin {
        let mut line = String::new();
        console
            .stdin
            .read_line(&mut line)
            .map_err(|e| CliError::failed(format!("cannot read standard input: {e}")))?;
        let verifier = line.trim();
        if !pkce::is_valid_verifier(verifier) {
            return Err(CliError::failed(
                "standard input does not hold a code verifier (43 to 128 of A-Z a-z 0-9 - . _ ~, RFC 7636 §4.1)",
            ));
        }
        serde_json::json!({
            "code_challenge": pkce::s256_challenge(verifier),
            "code_challenge_method": "S256",
        })
    } else {
        let verifier = pkce::new_verifier();
        serde_json::json!({
            "code_verifier": verifier,
            "code_challenge": pkce::s256_challenge(&verifier),
            "code_challenge_method": "S256",
        })
    };
    writeln!(console.stdout, "{out:#}").map_err(io_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_are_dropped_and_nothing_else() {
        let s = |t: &str| strip_newline(t.to_owned()).expose().to_vec();
        assert_eq!(s("pw\n"), b"pw");
        assert_eq!(s("pw\r\n"), b"pw");
        assert_eq!(s(" pw \n"), b" pw ");
        assert_eq!(s("pw"), b"pw");
    }
}
