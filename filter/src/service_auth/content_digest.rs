//! RFC 9530 `Content-Digest`: a dictionary of algorithm → byte sequence, checked against the
//! body actually received. Only `sha-256` and `sha-512` are accepted; other algorithms are
//! ignored, and a field with no accepted algorithm fails (we never pass an unchecked digest).

use super::structured_fields::{parse_dictionary, BareItem, Member};
use sha2::{Digest, Sha256, Sha512};

/// Why a `Content-Digest` did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestError {
    /// The header is not a valid structured dictionary of byte sequences.
    Malformed,
    /// Neither `sha-256` nor `sha-512` is present.
    NoSupportedAlgorithm,
    /// A supported digest does not match the body.
    Mismatch,
}

impl DigestError {
    /// The exact message for replies and logs.
    pub fn message(&self) -> &'static str {
        match self {
            DigestError::Malformed => "content-digest is not a valid structured dictionary",
            DigestError::NoSupportedAlgorithm => "content-digest has no sha-256 or sha-512 value",
            DigestError::Mismatch => "content-digest does not match the request body",
        }
    }
}

/// Verify a `Content-Digest` field value against `body`: every sha-256 / sha-512 member must
/// match, and at least one must be present.
pub fn verify(field_value: &str, body: &[u8]) -> Result<(), DigestError> {
    let dict = parse_dictionary(field_value).map_err(|_| DigestError::Malformed)?;
    let mut checked = 0;
    for (alg, member) in &dict {
        let Member::Item(item) = member else {
            return Err(DigestError::Malformed);
        };
        let BareItem::ByteSequence(expected) = &item.bare else {
            return Err(DigestError::Malformed);
        };
        let actual: Vec<u8> = match alg.as_str() {
            "sha-256" => Sha256::digest(body).to_vec(),
            "sha-512" => Sha512::digest(body).to_vec(),
            _ => continue,
        };
        // Digests are not secrets, but compare without early exit anyway.
        if !constant_time_eq(&actual, expected) {
            return Err(DigestError::Mismatch);
        }
        checked += 1;
    }
    if checked == 0 {
        return Err(DigestError::NoSupportedAlgorithm);
    }
    Ok(())
}

/// The `Content-Digest` value a signer sends for `body` (`sha-256=:...:` or `sha-512=:...:`).
pub fn header_value(body: &[u8], sha512: bool) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    if sha512 {
        format!("sha-512=:{}:", b64.encode(Sha512::digest(body)))
    } else {
        format!("sha-256=:{}:", b64.encode(Sha256::digest(body)))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9530 §2 / Appendix B: the body `{"hello": "world"}`.
    const BODY: &[u8] = br#"{"hello": "world"}"#;
    const SHA256: &str = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:";
    const SHA512: &str = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";

    #[test]
    fn rfc9530_examples_verify() {
        assert_eq!(verify(SHA256, BODY), Ok(()));
        assert_eq!(verify(SHA512, BODY), Ok(()));
        assert_eq!(verify(&format!("{SHA256}, {SHA512}"), BODY), Ok(()));
        assert_eq!(header_value(BODY, false), SHA256);
        assert_eq!(header_value(BODY, true), SHA512);
    }

    #[test]
    fn tampered_body_or_unknown_algorithms_fail() {
        assert_eq!(
            verify(SHA256, br#"{"hello": "world!"}"#),
            Err(DigestError::Mismatch)
        );
        assert_eq!(
            verify(&format!("{SHA256}, sha-512=:AAAA:"), BODY),
            Err(DigestError::Mismatch)
        );
        assert_eq!(
            verify("md5=:AAAA:", BODY),
            Err(DigestError::NoSupportedAlgorithm)
        );
        assert_eq!(verify("sha-256=abc", BODY), Err(DigestError::Malformed));
        assert_eq!(verify("sha-256=:%%:", BODY), Err(DigestError::Malformed));
    }
}
