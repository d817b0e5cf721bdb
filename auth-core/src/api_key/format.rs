//! The self-identifying key format.
//!
//! `ask_live_<id>_<secret><checksum>`:
//!
//! | part | form | why |
//! | --- | --- | --- |
//! | prefix | `[a-z]{2,8}`, default `ask` | secret scanners match on it |
//! | environment | `live` or `test` | a test key is never mistaken for a live one |
//! | id | 12 base62 characters | public key id: logs, dashboards, revocation |
//! | secret | 43 base62 characters (256 bits from the OS CSPRNG) | the secret |
//! | checksum | 6 base62 characters, CRC-32 of everything before it | a scanner can tell a real key from a lookalike offline, and a typo is refused without a lookup |

use rand::RngExt as _;
use rand::distr::Alphanumeric;

use crate::secret::Secret;

/// Length of the public key id.
pub const ID_LEN: usize = 12;
/// Length of the secret part: 43 base62 characters carry 256.03 bits.
pub const SECRET_LEN: usize = 43;
/// Length of the checksum.
pub const CHECKSUM_LEN: usize = 6;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Where a key may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Production.
    Live,
    /// Testing and development.
    Test,
}

impl Environment {
    /// `live` or `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "live" => Some(Self::Live),
            "test" => Some(Self::Test),
            _ => None,
        }
    }
}

/// A freshly issued API key. The only place the plaintext exists: show it to
/// its owner once, then drop it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey(Secret);

impl ApiKey {
    /// The key text, to hand to its owner.
    pub fn expose(&self) -> &str {
        // Built from ASCII only.
        self.0.expose_str().unwrap_or_default()
    }

    pub(crate) fn as_secret(&self) -> &Secret {
        &self.0
    }
}

/// The public parts of a well-formed key.
#[derive(Debug, PartialEq, Eq)]
pub struct KeyParts<'a> {
    /// The environment.
    pub environment: Environment,
    /// The public key id.
    pub id: &'a str,
}

/// Why a presented key is not well formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// Not `prefix_env_id_secretchecksum`.
    Malformed,
    /// Well formed, but the checksum does not match.
    BadChecksum,
}

pub(crate) fn valid_prefix(prefix: &str) -> bool {
    (2..=8).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_lowercase())
}

pub(crate) fn generate(prefix: &str, env: Environment) -> (ApiKey, String) {
    let id = random_base62(ID_LEN);
    let secret = random_base62(SECRET_LEN);
    let mut text = String::with_capacity(prefix.len() + 6 + ID_LEN + SECRET_LEN + CHECKSUM_LEN + 2);
    text.push_str(prefix);
    text.push('_');
    text.push_str(env.as_str());
    text.push('_');
    text.push_str(&id);
    text.push('_');
    text.push_str(&secret);
    let sum = checksum(text.as_bytes());
    text.push_str(&sum);
    (ApiKey(Secret::from(text)), id)
}

fn random_base62(len: usize) -> String {
    // Alphanumeric draws uniformly from the 62 characters by rejection sampling.
    crate::secret::os_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn checksum_bytes(data: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut n = crc32fast::hash(data);
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        let digit = usize::try_from(n % 62).unwrap_or(0);
        *slot = BASE62.get(digit).copied().unwrap_or(b'0');
        n /= 62;
    }
    out
}

fn checksum(data: &[u8]) -> String {
    checksum_bytes(data)
        .iter()
        .map(|b| char::from(*b))
        .collect()
}

/// Whether `token` starts like a key with this prefix (`ask_`).
pub(crate) fn has_prefix(token: &[u8], prefix: &str) -> bool {
    token.len() > prefix.len()
        && token.starts_with(prefix.as_bytes())
        && token.get(prefix.len()) == Some(&b'_')
}

/// Parses and checksums a presented key, without any lookup.
pub fn parse<'a>(token: &'a [u8], prefix: &str) -> Result<KeyParts<'a>, FormatError> {
    // Split as bytes: every part but the prefix must be ASCII alphanumeric
    // and the prefix must equal `prefix`, so a token that is not UTF-8 is
    // malformed all the same, without a separate pass over it.
    let mut parts = token.splitn(4, |b| *b == b'_');
    let (Some(p), Some(env), Some(id), Some(tail)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(FormatError::Malformed);
    };
    let environment = std::str::from_utf8(env)
        .ok()
        .and_then(Environment::parse)
        .ok_or(FormatError::Malformed)?;
    let alnum = |s: &[u8]| s.iter().all(u8::is_ascii_alphanumeric);
    if p != prefix.as_bytes()
        || id.len() != ID_LEN
        || tail.len() != SECRET_LEN + CHECKSUM_LEN
        || !alnum(id)
        || !alnum(tail)
    {
        return Err(FormatError::Malformed);
    }
    // ASCII alphanumerics only: always UTF-8.
    let id = std::str::from_utf8(id).map_err(|_| FormatError::Malformed)?;
    let (body, sum) = token.split_at(token.len() - CHECKSUM_LEN);
    // The checksum is public; no need for a constant-time comparison.
    if checksum_bytes(body) != sum {
        return Err(FormatError::BadChecksum);
    }
    Ok(KeyParts { environment, id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse() {
        for env in [Environment::Live, Environment::Test] {
            let (key, id) = generate("ask", env);
            let text = key.expose();
            assert_eq!(
                text.len(),
                3 + 1 + 4 + 1 + ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN
            );
            let parts = parse(text.as_bytes(), "ask").unwrap();
            assert_eq!(parts.environment, env);
            assert_eq!(parts.id, id);
        }
    }

    #[test]
    fn keys_are_distinct() {
        let a = generate("ask", Environment::Live).0;
        let b = generate("ask", Environment::Live).0;
        assert_ne!(a, b);
    }

    #[test]
    fn tampering_is_detected() {
        let (key, _) = generate("ask", Environment::Live);
        let mut bytes = key.expose().as_bytes().to_vec();
        // Flip one character of the secret.
        let i = bytes.len() - CHECKSUM_LEN - 5;
        bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
        assert_eq!(parse(&bytes, "ask"), Err(FormatError::BadChecksum));
        assert_eq!(parse(b"ask_live_short", "ask"), Err(FormatError::Malformed));
        assert_eq!(
            parse(key.expose().as_bytes(), "xyz"),
            Err(FormatError::Malformed)
        );
        let prod = key.expose().replacen("_live_", "_prod_", 1);
        assert_eq!(parse(prod.as_bytes(), "ask"), Err(FormatError::Malformed));
        assert_eq!(parse(&[0xff, 0xfe], "ask"), Err(FormatError::Malformed));
        // Bytes that are not UTF-8 anywhere in the key: malformed, not a
        // bad checksum.
        for at in [1, 5, 12, bytes.len() - 1] {
            let mut bad = key.expose().as_bytes().to_vec();
            bad[at] = 0xff;
            assert_eq!(parse(&bad, "ask"), Err(FormatError::Malformed), "at {at}");
        }
        // A separator inside the id, or one missing.
        let text = key.expose();
        let extra = format!("{}_{}", &text[..20], &text[21..]);
        assert_eq!(parse(extra.as_bytes(), "ask"), Err(FormatError::Malformed));
        assert_eq!(parse(b"ask_live", "ask"), Err(FormatError::Malformed));
        // Each part checked on its own, before the checksum: a wrong length
        // or a character outside [A-Za-z0-9] is malformed, not a bad sum.
        let id_at = "ask_live_".len();
        let punct = format!("{}-{}", &text[..id_at], &text[id_at + 1..]);
        assert_eq!(parse(punct.as_bytes(), "ask"), Err(FormatError::Malformed));
        let secret_at = id_at + ID_LEN + 1;
        let punct = format!("{}-{}", &text[..secret_at], &text[secret_at + 1..]);
        assert_eq!(parse(punct.as_bytes(), "ask"), Err(FormatError::Malformed));
        let short = format!("{}{}", &text[..secret_at], &text[secret_at + 1..]);
        assert_eq!(parse(short.as_bytes(), "ask"), Err(FormatError::Malformed));
        let long_id = format!("{}x{}", &text[..id_at], &text[id_at..]);
        assert_eq!(
            parse(long_id.as_bytes(), "ask"),
            Err(FormatError::Malformed)
        );
    }

    #[test]
    fn the_prefix_is_recognised_only_with_its_separator() {
        assert!(has_prefix(b"ask_live_x", "ask"));
        assert!(has_prefix(b"ask_", "ask"), "the prefix and its separator");
        // Nothing after the prefix, a longer word, another prefix, a JWT.
        assert!(!has_prefix(b"ask", "ask"));
        assert!(!has_prefix(b"askx_live", "ask"));
        assert!(!has_prefix(b"as_live_x", "ask"));
        assert!(!has_prefix(b"xsk_live_x", "ask"));
        assert!(!has_prefix(b"eyJhbGciOiJFUzI1NiJ9.e30.sig", "ask"));
        assert!(!has_prefix(b"", "ask"));
    }

    #[test]
    fn checksum_is_fixed_width_base62() {
        assert_eq!(checksum(b""), "000000");
        // CRC-32 of "123456789" is 0xCBF43926 (the standard check value).
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        let s = checksum(b"123456789");
        assert_eq!(s.len(), CHECKSUM_LEN);
        // 0xCBF43926 = 3421780262 = base62 "3jZRME"
        assert_eq!(s, "3jZRME");
    }
}
