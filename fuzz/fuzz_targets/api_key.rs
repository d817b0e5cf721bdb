//! API keys: the key format (`api_key::parse`) and `ApiKeys::verify`
//! against a store holding a valid, a revoked and a rotated-out key; and,
//! for input starting with `{`, a stored `KeyRecord` (the JSON a
//! `FileKeyStore` keeps) and `KeyHash` hex.
#![no_main]

use auth_core::api_key::{self, CHECKSUM_LEN, Environment, ID_LEN, KeyHash, KeyRecord, SECRET_LEN};
use auth_core_fuzz::{api_key_text, api_keys, block_on, checksum};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.first() == Some(&b'{') {
        record(data);
        return;
    }
    for prefix in ["ask", "acme"] {
        if let Ok(parts) = api_key::parse(data, prefix) {
            let text = std::str::from_utf8(data).expect("a parsed key is UTF-8");
            let env = match parts.environment {
                Environment::Live => "live",
                Environment::Test => "test",
            };
            assert_eq!(
                text.len(),
                prefix.len() + env.len() + ID_LEN + SECRET_LEN + CHECKSUM_LEN + 3
            );
            assert!(text.starts_with(&format!("{prefix}_{env}_{}_", parts.id)));
            assert_eq!(parts.id.len(), ID_LEN);
            assert!(parts.id.bytes().all(|b| b.is_ascii_alphanumeric()));
            let (body, sum) = text.split_at(text.len() - CHECKSUM_LEN);
            assert_eq!(checksum(body.as_bytes()), sum);
        }
    }
    let keys = api_keys();
    let known = (0..3).find(|i| api_key_text(*i).as_bytes() == data);
    match block_on(keys.verify(data)) {
        Ok(record) => {
            assert_eq!(known, Some(0), "only the valid key verifies");
            assert_eq!(record.owner, "fuzz");
        }
        Err(e) => {
            assert_ne!(known, Some(0), "the valid key was refused: {e:?}");
            assert_eq!(e.status(), 401, "{e:?}");
        }
    }
    assert_eq!(keys.hash(data), keys.hash(data));
});

fn record(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(h) = KeyHash::from_hex(text)
    {
        assert_eq!(KeyHash::from_hex(&h.to_hex()), Some(h));
    }
    if let Ok(rec) = serde_json::from_slice::<KeyRecord>(data) {
        let json = serde_json::to_vec(&rec).expect("a record serialises");
        let back: KeyRecord = serde_json::from_slice(&json).expect("and reads back");
        assert_eq!(back, rec);
    }
    if let Ok(hash) = serde_json::from_slice::<KeyHash>(data) {
        let json = serde_json::to_vec(&hash).expect("a hash serialises");
        assert_eq!(serde_json::from_slice::<KeyHash>(&json).ok(), Some(hash));
    }
}
