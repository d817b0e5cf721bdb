//! Keyed hashing (HMAC-SHA-256) shared by the API key store and the Basic cache.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// HMAC-SHA-256 keyed with `key`, of any length: hmac's own constructor
/// hashes a key longer than the 64-byte block first and zero-pads a shorter
/// one (RFC 2104), so its outputs are those of the hand-padded key this
/// used to build (see the tests).
pub(crate) fn keyed(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length: this never fails.
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
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
    use sha2::Digest;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The construction `keyed` used before it called hmac's
    /// `new_from_slice`: the key hashed when longer than the block, then
    /// zero-padded to the block by hand.
    fn keyed_by_hand(key: &[u8]) -> Hmac<Sha256> {
        let mut block = [0u8; 64];
        if key.len() > block.len() {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        <Hmac<Sha256> as KeyInit>::new(&block.into())
    }

    #[test]
    fn matches_rfc4231_test_case_2() {
        // RFC 4231 §4.3: key = "Jefe" (4 bytes, far below the block).
        let mut m = keyed(b"Jefe");
        m.update(b"what do ya want for nothing?");
        assert_eq!(
            hex(&m.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn same_outputs_as_the_hand_padded_key() {
        // Stored API-key hashes and cache tags stay valid: every key length
        // around the block size (and past it) gives the same MAC as before.
        for len in (0..=200).chain([1000]) {
            let key: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let parts: [&[u8]; 2] = [b"kid", b"secret"];
            assert_eq!(
                tag(&keyed(&key), &parts),
                tag(&keyed_by_hand(&key), &parts),
                "key length {len}"
            );
        }
    }

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
