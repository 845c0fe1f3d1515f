//! How API keys are stored: SHA-256, or HMAC-SHA256 under a pepper, as lowercase hex. The
//! config holds only these digests; a presented key is hashed the same way and looked up.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// A key digest (SHA-256 or HMAC-SHA256 output).
pub type KeyDigest = [u8; 32];

/// Digest of `key`: HMAC-SHA256 keyed with `pepper` when given, plain SHA-256 otherwise.
pub fn digest_key(key: &[u8], pepper: Option<&[u8]>) -> KeyDigest {
    match pepper {
        Some(p) => match Hmac::<Sha256>::new_from_slice(p) {
            Ok(mut mac) => {
                mac.update(key);
                mac.finalize().into_bytes().into()
            }
            // HMAC accepts keys of any length; this arm is unreachable in practice, and falls
            // back to a digest that no configured key can equal (it mixes in a domain tag).
            Err(_) => {
                Sha256::digest([b"edgeguard-invalid-pepper:".as_slice(), key].concat()).into()
            }
        },
        None => Sha256::digest(key).into(),
    }
}

/// The hashed form of `key` for the config (`edgeguard hash-key`): lowercase hex of
/// [`digest_key`].
pub fn hash_key(key: &str, pepper: Option<&[u8]>) -> String {
    to_hex(&digest_key(key.as_bytes(), pepper))
}

/// Lowercase hex of bytes.
pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

/// Parse 64 hex digits (either case) into a digest.
pub fn parse_digest_hex(hex: &str) -> Option<KeyDigest> {
    let b = hex.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let hi = hex_val(*pair.first()?)?;
        let lo = hex_val(*pair.get(1)?)?;
        *o = hi << 4 | lo;
    }
    Some(out)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_coreutils() {
        // `printf test-key-123 | sha256sum`
        assert_eq!(
            hash_key("test-key-123", None),
            "625faa3fbbc3d2bd9d6ee7678d04cc5339cb33dc68d9b58451853d60046e226a"
        );
    }

    #[test]
    fn hmac_matches_openssl() {
        // `printf test-key-123 | openssl dgst -sha256 -hmac pepper-1`
        assert_eq!(
            hash_key("test-key-123", Some(b"pepper-1")),
            "8fc9b560df7178ae44abed2712a794f0dff8bce008d5b8dc2e962ceba9741d7b"
        );
    }

    #[test]
    fn hex_round_trip_and_rejects() {
        let d = digest_key(b"k", None);
        assert_eq!(parse_digest_hex(&to_hex(&d)), Some(d));
        assert_eq!(parse_digest_hex(&to_hex(&d).to_ascii_uppercase()), Some(d));
        assert_eq!(parse_digest_hex("abc"), None);
        assert_eq!(parse_digest_hex(&"g".repeat(64)), None);
        assert_eq!(parse_digest_hex(&"é".repeat(32)), None);
    }
}
