//! Keyed hashing (HMAC-SHA-256) shared by the API key store and the Basic cache.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// HMAC-SHA-256 keyed with `key`, built without a fallible constructor: per
/// RFC 2104 a key longer than the 64-byte block is hashed first, and a
/// shorter one is zero-padded, which is what this does by hand.
pub(crate) fn keyed(key: &[u8]) -> Hmac<Sha256> {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        let digest = Sha256::digest(key);
        for (slot, b) in block.iter_mut().zip(digest.iter()) {
            *slot = *b;
        }
    } else {
        for (slot, b) in block.iter_mut().zip(key.iter()) {
            *slot = *b;
        }
    }
    <Hmac<Sha256> as KeyInit>::new(&block.into())
}

#[cfg_attr(not(feature = "basic"), allow(dead_code))] // used by the Basic cache
/// The 32-byte MAC of `parts`, each prefixed by its length so that
/// `("ab", "c")` and `("a", "bc")` differ.
pub(crate) fn tag(mac: &Hmac<Sha256>, parts: &[&[u8]]) -> [u8; 32] {
    let mut m = mac.clone();
    for p in parts {
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc4231_test_case_1_and_6() {
        // RFC 4231 §4.2: key = 0x0b * 20, data = "Hi There".
        let mut m = keyed(&[0x0b; 20]);
        m.update(b"Hi There");
        let out = m.finalize().into_bytes();
        assert_eq!(
            out.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // RFC 4231 §4.7: a 131-byte key (longer than the block) is hashed first.
        let mut m = keyed(&[0xaa; 131]);
        m.update(b"Test Using Larger Than Block-Size Key - Hash Key First");
        let out = m.finalize().into_bytes();
        assert_eq!(
            out.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn tag_is_length_prefixed() {
        let m = keyed(b"k");
        assert_ne!(tag(&m, &[b"ab", b"c"]), tag(&m, &[b"a", b"bc"]));
    }
}
