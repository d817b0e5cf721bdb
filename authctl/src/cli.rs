//! The command line: subcommands and flags (clap derive), and dispatch.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::Console;
use crate::error::{CliError, CliResult, EXIT_CODES};

/// What parsing gave instead of a command.
pub(crate) enum Early {
    /// `--help` or `--version`: print this on standard output, exit 0.
    Printed(String),
    /// A usage error.
    Error(CliError),
}

pub(crate) fn parse<I, T>(args: I) -> Result<Cli, Early>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    use clap::error::ErrorKind;
    Cli::try_parse_from(args).map_err(|e| match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            Early::Printed(e.render().to_string())
        }
        _ => Early::Error(CliError::clap(e.render().to_string())),
    })
}

/// auth-stack's command-line tool: API keys, password hashes, a dev PKI,
/// PKCE, development JWTs and JWKS.
///
/// Results (a key, a hash, a certificate's paths, a token, a document) go to
/// standard output; everything said to you goes to standard error. No
/// secret is ever taken from the command line, and none is printed except
/// the one a command exists to make, once.
#[derive(Parser, Debug)]
#[command(
    name = "authctl",
    version,
    after_help = EXIT_CODES,
    propagate_version = true,
    disable_help_subcommand = true
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// API keys: issue, rotate, revoke, list (only hashes are stored).
    #[command(subcommand, after_help = EXIT_CODES)]
    Key(KeyCommand),
    /// Password hashes (argon2id PHC strings) for Basic users and clients.
    #[command(subcommand, after_help = EXIT_CODES)]
    Password(PasswordCommand),
    /// A development PKI: a CA, client certificates with SPIFFE IDs, a CRL.
    #[command(subcommand, after_help = EXIT_CODES)]
    Pki(PkiCommand),
    /// A PKCE (RFC 7636) code verifier and its S256 challenge, as JSON.
    #[command(after_help = EXIT_CODES)]
    Pkce(PkceArgs),
    /// Development JWTs: mint one (with --dev), or inspect one (unverified).
    #[command(subcommand, after_help = EXIT_CODES)]
    Jwt(JwtCommand),
    /// A JWKS (JSON Web Key Set) from PEM keys, with RFC 7638 thumbprints
    /// as key ids. Only public parameters are written.
    #[command(after_help = EXIT_CODES)]
    Jwks(JwksArgs),
}

// ---------------------------------------------------------------- key

/// Where the keys are: the demo's state directory, two files, or Redis
/// (with the pepper from the state directory or a file).
#[derive(Args, Debug, Clone)]
pub(crate) struct KeyStoreArgs {
    /// The demo's state directory: keys in DIR/server/api-keys.json, the
    /// pepper in DIR/server/pepper (with --redis, only the pepper).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["keys", "pepper_file"])]
    pub(crate) state_dir: Option<PathBuf>,
    /// The key store file (JSON of key hashes and metadata).
    #[arg(
        long,
        value_name = "FILE",
        requires = "pepper_file",
        conflicts_with = "redis"
    )]
    pub(crate) keys: Option<PathBuf>,
    /// The file holding the pepper, the server secret keys are hashed with
    /// (unpadded base64url; make one with `authctl key pepper`). With
    /// --keys FILE, or with --redis URL.
    #[arg(long, value_name = "FILE")]
    pub(crate) pepper_file: Option<PathBuf>,
    /// The keys in the Redis at URL (redis://host:port[/db]), where the demo
    /// run with `--redis URL` keeps them (key prefix `auth`), instead of a
    /// file: changes reach every server on that Redis at once. The pepper
    /// comes from --state-dir DIR (the demo's) or --pepper-file FILE. No
    /// user or password in the URL: no secret is taken from the command
    /// line.
    #[arg(long, value_name = "URL")]
    pub(crate) redis: Option<String>,
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// Issues a key: prints it once (standard output, the key alone) and
    /// stores only its hash and metadata.
    #[command(after_help = EXIT_CODES)]
    New(KeyNewArgs),
    /// Issues a replacement for a key (same owner, scopes, tier,
    /// environment) and prints it once; the old key keeps working for the
    /// grace period.
    #[command(after_help = EXIT_CODES)]
    Rotate(KeyRotateArgs),
    /// Revokes a key: refused at once by every process that reads the store
    /// (a running server within a few seconds).
    #[command(after_help = EXIT_CODES)]
    Revoke(KeyRevokeArgs),
    /// Lists the keys' metadata (never a key, never a hash).
    #[command(after_help = EXIT_CODES)]
    List(KeyListArgs),
    /// Creates a new pepper file (0600) for a standalone key store.
    #[command(after_help = EXIT_CODES)]
    Pepper(KeyPepperArgs),
}

/// A key tier.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub(crate) enum Tier {
    /// Every scope, including account management.
    Main,
    /// Kept from account management.
    Standard,
}

/// A key environment.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub(crate) enum Env {
    /// Production keys (`ask_live_…`).
    Live,
    /// Testing keys (`ask_test_…`).
    Test,
}

#[derive(Args, Debug)]
pub(crate) struct KeyNewArgs {
    #[command(flatten)]
    pub(crate) store: KeyStoreArgs,
    /// Who the key belongs to (the identity's subject).
    #[arg(long)]
    pub(crate) owner: String,
    /// A scope the key grants; repeat the flag or separate with commas.
    #[arg(long = "scope", value_name = "SCOPE", value_delimiter = ',')]
    pub(crate) scopes: Vec<String>,
    /// Main or standard.
    #[arg(long, value_enum, default_value = "standard")]
    pub(crate) tier: Tier,
    /// Live or test.
    #[arg(long = "env", value_enum, default_value = "test")]
    pub(crate) environment: Env,
    /// When the key stops working, from now: e.g. 3600s, 90m, 12h, 30d.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) expires_in: Option<std::time::Duration>,
}

/// A key named by its public id, or by its text on standard input.
#[derive(Args, Debug)]
pub(crate) struct KeyRef {
    /// The key's public id (12 characters, as `key list` shows it).
    #[arg(value_name = "ID", required_unless_present = "key_stdin")]
    pub(crate) id: Option<String>,
    /// Read the key's text from standard input and use its id (a key is
    /// never taken from the command line).
    #[arg(long, conflicts_with = "id")]
    pub(crate) key_stdin: bool,
}

#[derive(Args, Debug)]
pub(crate) struct KeyRotateArgs {
    #[command(flatten)]
    pub(crate) store: KeyStoreArgs,
    #[command(flatten)]
    pub(crate) key: KeyRef,
    /// How long the old key keeps working: e.g. 0s, 12h, 7d.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub(crate) grace: std::time::Duration,
}

#[derive(Args, Debug)]
pub(crate) struct KeyRevokeArgs {
    #[command(flatten)]
    pub(crate) store: KeyStoreArgs,
    #[command(flatten)]
    pub(crate) key: KeyRef,
}

#[derive(Args, Debug)]
pub(crate) struct KeyListArgs {
    #[command(flatten)]
    pub(crate) store: KeyStoreArgs,
    /// JSON (one array of records) instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args, Debug)]
pub(crate) struct KeyPepperArgs {
    /// Where to write the new pepper; an existing file is never replaced.
    #[arg(long, value_name = "FILE")]
    pub(crate) pepper_file: PathBuf,
}

// ---------------------------------------------------------------- password

#[derive(Subcommand, Debug)]
enum PasswordCommand {
    /// Hashes a password as an argon2id PHC string (on standard output).
    ///
    /// The password is typed at a prompt with the echo off (twice) when
    /// standard input is a terminal, else read as one line from standard
    /// input. It is never taken from the command line, where other users
    /// and the shell history would see it.
    #[command(after_help = EXIT_CODES)]
    Hash(PasswordHashArgs),
}

#[derive(Args, Debug)]
pub(crate) struct PasswordHashArgs {
    /// Read one line from standard input even if it is a terminal (no
    /// prompt, no confirmation).
    #[arg(long)]
    pub(crate) stdin: bool,
    /// Anything else: refused without being echoed, since it could be the
    /// password.
    #[arg(
        hide = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 0..
    )]
    pub(crate) rest: Vec<OsString>,
}

// ---------------------------------------------------------------- pki

/// The CA that signs: the demo's, or two files.
#[derive(Args, Debug, Clone)]
pub(crate) struct CaArgs {
    /// The demo's state directory: the CA in DIR/ca.pem and DIR/ca.key.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["ca_cert", "ca_key"])]
    pub(crate) state_dir: Option<PathBuf>,
    /// The CA certificate (PEM).
    #[arg(long, value_name = "FILE", requires = "ca_key")]
    pub(crate) ca_cert: Option<PathBuf>,
    /// The CA's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "ca_cert")]
    pub(crate) ca_key: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum PkiCommand {
    /// Creates a development CA: ca.pem and ca.key (0600) in a directory.
    #[command(after_help = EXIT_CODES)]
    Init(PkiInitArgs),
    /// Issues a client certificate with a SPIFFE ID (URI SAN), signed by
    /// the CA: NAME.pem and NAME.key (0600).
    #[command(after_help = EXIT_CODES)]
    Client(PkiClientArgs),
    /// Writes a new CRL signed by the CA: the entries of the CRL already
    /// there (if it is this CA's), plus the certificates revoked now.
    #[command(after_help = EXIT_CODES)]
    Crl(PkiCrlArgs),
}

#[derive(Args, Debug)]
pub(crate) struct PkiInitArgs {
    /// Where to write ca.pem and ca.key.
    #[arg(long, value_name = "DIR", required_unless_present = "state_dir")]
    pub(crate) out_dir: Option<PathBuf>,
    /// Same as --out-dir (the demo's state directory layout).
    #[arg(long, value_name = "DIR", conflicts_with = "out_dir")]
    pub(crate) state_dir: Option<PathBuf>,
    /// The CA's common name.
    #[arg(long, default_value = "authctl dev CA")]
    pub(crate) name: String,
    /// How long the CA is valid, in days.
    #[arg(long, default_value_t = 3650, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub(crate) days: u32,
}

#[derive(Args, Debug)]
pub(crate) struct PkiClientArgs {
    #[command(flatten)]
    pub(crate) ca: CaArgs,
    /// The SPIFFE ID, e.g. spiffe://demo.local/billing.
    #[arg(long, value_name = "URI")]
    pub(crate) spiffe: String,
    /// The files' base name and the certificate's common name (default: the
    /// SPIFFE ID's last path segment).
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Where to write NAME.pem and NAME.key.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(crate) out_dir: PathBuf,
    /// How long the certificate is valid, in days.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub(crate) days: u32,
    /// Replace NAME.pem and NAME.key if they exist.
    #[arg(long)]
    pub(crate) force: bool,
}

/// Why a certificate is revoked (RFC 5280 §5.3.1).
#[derive(ValueEnum, Clone, Copy, Debug)]
pub(crate) enum Reason {
    /// keyCompromise.
    KeyCompromise,
    /// affiliationChanged.
    AffiliationChanged,
    /// superseded.
    Superseded,
    /// cessationOfOperation.
    CessationOfOperation,
}

#[derive(Args, Debug)]
pub(crate) struct PkiCrlArgs {
    #[command(flatten)]
    pub(crate) ca: CaArgs,
    /// Where to write the CRL (default with --state-dir: DIR/crl.pem, the
    /// file the demo loads and reloads).
    #[arg(long, value_name = "FILE", required_unless_present = "state_dir")]
    pub(crate) out: Option<PathBuf>,
    /// Revoke the certificate with this serial number (hex, colons
    /// allowed); repeatable.
    #[arg(long = "revoke", value_name = "SERIAL")]
    pub(crate) serials: Vec<String>,
    /// Revoke this certificate (PEM); repeatable.
    #[arg(long = "revoke-cert", value_name = "FILE")]
    pub(crate) certs: Vec<PathBuf>,
    /// The reason recorded for the certificates revoked now.
    #[arg(long, value_enum)]
    pub(crate) reason: Option<Reason>,
    /// Days until the CRL's nextUpdate.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub(crate) days: u32,
    /// Replace a CRL that cannot be read or is not this CA's, dropping its
    /// entries.
    #[arg(long)]
    pub(crate) force: bool,
}

// ---------------------------------------------------------------- pkce

#[derive(Args, Debug)]
pub(crate) struct PkceArgs {
    /// Read the verifier from standard input instead of making one, and
    /// print its challenge.
    #[arg(long)]
    pub(crate) verifier_stdin: bool,
}

// ---------------------------------------------------------------- jwt

#[derive(Subcommand, Debug)]
enum JwtCommand {
    /// Mints a development token signed with a local key. Refuses to run
    /// without --dev.
    #[command(after_help = EXIT_CODES)]
    Mint(Box<JwtMintArgs>),
    /// Decodes a token's header and claims WITHOUT verifying anything (not
    /// the signature, issuer, audience or expiry). The token is read from
    /// standard input or --file, never from the command line.
    #[command(after_help = EXIT_CODES)]
    Inspect(JwtInspectArgs),
}

/// A signing algorithm.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alg {
    /// ECDSA P-256 SHA-256.
    #[value(name = "ES256")]
    Es256,
    /// ECDSA P-384 SHA-384.
    #[value(name = "ES384")]
    Es384,
    /// RSASSA-PKCS1-v1_5 SHA-256.
    #[value(name = "RS256")]
    Rs256,
    /// RSASSA-PSS SHA-256.
    #[value(name = "PS256")]
    Ps256,
    /// Ed25519.
    #[value(name = "EdDSA")]
    EdDsa,
    /// HMAC SHA-256 (a shared secret).
    #[value(name = "HS256")]
    Hs256,
}

#[derive(Args, Debug)]
pub(crate) struct JwtMintArgs {
    /// Acknowledge that this makes a development token. Without it, nothing
    /// is done (exit 3).
    #[arg(long)]
    pub(crate) dev: bool,
    /// The demo's state directory: its issuer (of the current run), its
    /// ES256/RS256 keys, its HS256 internal issuer's secret.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["key", "secret_file"])]
    pub(crate) state_dir: Option<PathBuf>,
    /// A PKCS#8 PEM private key (EC P-256/P-384, RSA, Ed25519).
    #[arg(long, value_name = "FILE", conflicts_with = "secret_file")]
    pub(crate) key: Option<PathBuf>,
    /// A file holding an HS256 secret (raw bytes, a trailing newline
    /// dropped; at least 32 bytes).
    #[arg(long, value_name = "FILE")]
    pub(crate) secret_file: Option<PathBuf>,
    /// The algorithm (default: from the key; ES256 with --state-dir).
    #[arg(long, value_enum)]
    pub(crate) alg: Option<Alg>,
    /// `iss` (default with --state-dir: the demo's issuer, or
    /// urn:demo:internal for HS256).
    #[arg(long)]
    pub(crate) iss: Option<String>,
    /// `aud`; repeatable (default with --state-dir: demo-api).
    #[arg(long)]
    pub(crate) aud: Vec<String>,
    /// `sub`.
    #[arg(long, default_value = "authctl-dev")]
    pub(crate) sub: String,
    /// `client_id`.
    #[arg(long, default_value = "authctl")]
    pub(crate) client_id: String,
    /// A scope, into the space-separated `scope` claim; repeatable.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub(crate) scopes: Vec<String>,
    /// Lifetime: e.g. 600s, 15m, 1h (at most 24h).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub(crate) ttl: std::time::Duration,
    /// The header's `typ`.
    #[arg(long, default_value = "at+jwt")]
    pub(crate) typ: String,
    /// The header's `kid` (default: the key's RFC 7638 thumbprint; none for
    /// HS256).
    #[arg(long)]
    pub(crate) kid: Option<String>,
    /// An extra claim, NAME=VALUE (VALUE as JSON if it parses, else a
    /// string); repeatable.
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    pub(crate) claims: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct JwtInspectArgs {
    /// Read the token from this file instead of standard input.
    #[arg(long, value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
    /// Anything else: refused without being echoed (it could be a token).
    #[arg(
        hide = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 0..
    )]
    pub(crate) rest: Vec<OsString>,
}

// ---------------------------------------------------------------- jwks

#[derive(Args, Debug)]
pub(crate) struct JwksArgs {
    /// PEM files: public keys (PUBLIC KEY), private keys (PRIVATE KEY; only
    /// their public half is written) or certificates.
    #[arg(value_name = "PEM", required_unless_present = "state_dir")]
    pub(crate) files: Vec<PathBuf>,
    /// Add the demo's two signing keys (ES256, RS256) from its state
    /// directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// The algorithm to name for RSA keys.
    #[arg(long, value_enum, default_value = "RS256")]
    pub(crate) rsa_alg: Alg,
}

/// Parses `3600`, `3600s`, `90m`, `12h`, `30d`.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 3600s, 90m, 12h, 30d)"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    n.checked_mul(scale)
        .filter(|s| *s <= 100 * 365 * 86_400)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long (at most 100 years)"))
}

/// Runs the parsed command.
pub(crate) fn dispatch(cli: Cli, console: &mut Console<'_>) -> CliResult {
    match cli.command {
        Command::Key(KeyCommand::New(a)) => crate::keys::new(&a, console),
        Command::Key(KeyCommand::Rotate(a)) => crate::keys::rotate(&a, console),
        Command::Key(KeyCommand::Revoke(a)) => crate::keys::revoke(&a, console),
        Command::Key(KeyCommand::List(a)) => crate::keys::list(&a, console),
        Command::Key(KeyCommand::Pepper(a)) => crate::keys::pepper(&a, console),
        Command::Password(PasswordCommand::Hash(a)) => crate::password::hash(&a, console),
        Command::Pki(PkiCommand::Init(a)) => crate::pki::init(&a, console),
        Command::Pki(PkiCommand::Client(a)) => crate::pki::client(&a, console),
        Command::Pki(PkiCommand::Crl(a)) => crate::pki::crl(&a, console),
        Command::Pkce(a) => crate::password::pkce(&a, console),
        Command::Jwt(JwtCommand::Mint(a)) => crate::jwt::mint(&a, console),
        Command::Jwt(JwtCommand::Inspect(a)) => crate::jwt::inspect(&a, console),
        Command::Jwks(a) => crate::jwt::jwks(&a, console),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let s = std::time::Duration::from_secs;
        assert_eq!(parse_duration("3600").unwrap(), s(3600));
        assert_eq!(parse_duration("90m").unwrap(), s(5400));
        assert_eq!(parse_duration("12h").unwrap(), s(43_200));
        assert_eq!(parse_duration("7d").unwrap(), s(604_800));
        for bad in ["", "d", "-1s", "1w", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
