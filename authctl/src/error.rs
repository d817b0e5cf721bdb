//! Exit codes and the one error type.

/// The exit codes of `authctl` (also listed in every `--help`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Exit {
    /// `0`: done.
    Ok = 0,
    /// `1`: the operation failed (a missing or unreadable file, a corrupt
    /// key store, no such key, a key that cannot be parsed).
    Failed = 1,
    /// `2`: usage error (unknown subcommand or flag, a missing argument, a
    /// secret passed on the command line).
    Usage = 2,
    /// `3`: refused for safety (`jwt mint` without `--dev`, replacing an
    /// existing key, certificate or CA, a weak HMAC secret).
    Refused = 3,
}

impl Exit {
    /// The numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// The exit codes, as `--help` shows them.
pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  done
  1  the operation failed (missing or unreadable file, corrupt key store, no such key)
  2  usage error (unknown subcommand or flag, missing argument, a secret on the command line)
  3  refused for safety (jwt mint without --dev, replacing an existing file, a weak secret)";

/// Why a command stopped: the exit code and a message for standard error
/// (never holding a secret).
#[derive(Debug)]
pub(crate) struct CliError {
    exit: Exit,
    message: String,
    /// Shown as it is (clap's own messages), without `authctl: `.
    verbatim: bool,
}

impl CliError {
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self::new(Exit::Failed, message)
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    pub(crate) fn refused(message: impl Into<String>) -> Self {
        Self::new(Exit::Refused, message)
    }

    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            verbatim: false,
        }
    }

    /// A usage error rendered by clap.
    pub(crate) fn clap(message: impl Into<String>) -> Self {
        Self {
            verbatim: true,
            ..Self::usage(message)
        }
    }

    pub(crate) fn exit(&self) -> Exit {
        self.exit
    }

    /// The message, prefixed with `authctl: ` unless clap wrote it.
    pub(crate) fn message(&self) -> String {
        let m = self.message.trim_end();
        if self.verbatim {
            m.to_owned()
        } else {
            format!("authctl: {m}")
        }
    }
}

/// The result of a command.
pub(crate) type CliResult<T = ()> = Result<T, CliError>;

/// Writes to the console; a closed standard output is a failure.
pub(crate) fn io_out(e: std::io::Error) -> CliError {
    CliError::failed(format!("cannot write the output: {e}"))
}
