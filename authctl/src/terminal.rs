//! A password typed at the terminal, with the echo off.

use std::io::{BufRead, Write};

/// Prompts on standard error and reads one line from `input` (the
/// terminal on standard input) with the terminal's echo switched off, then
/// switched back on whatever happened. A typed newline is still shown, so
/// the next prompt starts on a line of its own.
#[cfg(unix)]
pub(crate) fn read_hidden(
    prompt: &str,
    input: &mut dyn BufRead,
    stderr: &mut dyn Write,
) -> std::io::Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    // The descriptor only: the caller holds the lock on standard input and
    // reads through it.
    let stdin = std::io::stdin();
    let original = tcgetattr(&stdin)?;
    let mut silent = original.clone();
    silent.local_modes.remove(LocalModes::ECHO);
    silent.local_modes.insert(LocalModes::ECHONL);
    // The echo goes off before the prompt shows (as getpass does): what is
    // typed once the prompt is there is never shown, and anything typed
    // ahead of it is discarded.
    tcsetattr(&stdin, OptionalActions::Flush, &silent)?;
    let mut line = String::new();
    let read = write!(stderr, "{prompt}")
        .and_then(|()| stderr.flush())
        .and_then(|()| input.read_line(&mut line));
    let restored = tcsetattr(&stdin, OptionalActions::Now, &original);
    read?;
    restored?;
    Ok(line)
}

/// No hidden prompt off Unix: the password must come on standard input.
#[cfg(not(unix))]
pub(crate) fn read_hidden(
    _prompt: &str,
    _input: &mut dyn BufRead,
    _stderr: &mut dyn Write,
) -> std::io::Result<String> {
    Err(std::io::Error::other(
        "no hidden prompt on this platform: pipe the password on standard input",
    ))
}
