//! The demo's state directory, as `examples/auth-demo/src/state.rs` lays
//! it out (DEMO.md "The state directory"):
//!
//! ```text
//! credentials.json        issuer, JWT key files and kids, the HS256 secret, ...
//! ca.pem ca.key           the demo CA
//! crl.pem                 the CRL the TLS listener loads (and reloads)
//! jwt-es256.pem ...       signing keys (PKCS#8)
//! server/pepper           the API key pepper
//! server/api-keys.json    API key hashes and metadata
//! ```
//!
//! Only the parts `authctl` uses are read; unknown fields are ignored.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{CliError, CliResult};
use crate::files;

/// The key store file, in a state directory.
pub(crate) fn keys_file(dir: &Path) -> PathBuf {
    dir.join("server").join("api-keys.json")
}

/// The pepper file, in a state directory.
pub(crate) fn pepper_file(dir: &Path) -> PathBuf {
    dir.join("server").join("pepper")
}

/// The CA certificate and key, in a state directory.
pub(crate) fn ca_files(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("ca.pem"), dir.join("ca.key"))
}

/// The CRL the demo loads.
pub(crate) fn crl_file(dir: &Path) -> PathBuf {
    dir.join("crl.pem")
}

/// What `authctl` reads from `credentials.json`.
#[derive(Deserialize)]
pub(crate) struct Credentials {
    /// The issuer of the demo's current run.
    pub(crate) issuer: String,
    pub(crate) jwt: Jwt,
}

#[derive(Deserialize)]
pub(crate) struct Jwt {
    pub(crate) audience: String,
    pub(crate) es256: SigningKey,
    pub(crate) rs256: SigningKey,
    pub(crate) internal_hs256: Internal,
}

#[derive(Deserialize)]
pub(crate) struct SigningKey {
    /// Relative to the state directory.
    pub(crate) private_key: String,
}

#[derive(Deserialize)]
pub(crate) struct Internal {
    pub(crate) issuer: String,
    pub(crate) secret_b64url: String,
}

impl Credentials {
    /// Reads `DIR/credentials.json`.
    pub(crate) fn load(dir: &Path) -> CliResult<Self> {
        files::require_dir(dir, "the state directory")?;
        let path = dir.join("credentials.json");
        let bytes = files::read(&path)?;
        // serde_json's message names a line and column, never the content.
        serde_json::from_slice(&bytes).map_err(|e| {
            CliError::failed(format!(
                "{}: not the demo's credentials file: {e}",
                path.display()
            ))
        })
    }
}
