//! JWKS → verification keys (RSA, EC P-256/P-384, oct, OKP Ed25519), rejecting weak keys:
//! RSA moduli under 2048 bits and HMAC secrets shorter than 32 bytes (SHA-256's size; HS384/512
//! additionally need 48/64 bytes, checked per token).

use crate::jwt::config::DataSource;
use ct_codecs::{Base64, Base64UrlSafeNoPadding, Decoder};
use jwt_simple::prelude::*;
use serde_json::Value;

/// Why a JWKS document is unusable as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksError {
    /// Not JSON.
    InvalidJson,
    /// No `keys` member.
    NoKeys,
    /// `keys` is not an array.
    KeysNotArray,
    /// No key could be used; the reasons of the first rejected keys.
    NoValidKeys(String),
    /// A key was rejected (only for local JWKS, where every key must load).
    BadKey(usize, String),
}

impl JwksError {
    /// User-facing message (Envoy's wording where it has one).
    pub fn message(&self) -> String {
        match self {
            JwksError::InvalidJson => "Jwks is an invalid JSON".into(),
            JwksError::NoKeys => "Jwks does not have [keys] field".into(),
            JwksError::KeysNotArray => "[keys] in Jwks is not an array".into(),
            JwksError::NoValidKeys(why) => {
                format!("Jwks doesn't have any valid public key ({why})")
            }
            JwksError::BadKey(i, why) => format!("keys[{i}]: {why}"),
        }
    }
}

/// One verification key. The key material is public (or a shared secret for `oct`) and is
/// never logged.
pub struct Jwk {
    /// `kid`, if any.
    pub kid: Option<String>,
    /// `alg`, if the JWK pins one.
    pub alg: Option<String>,
    /// The key, ready for each algorithm it may serve.
    pub material: KeyMaterial,
    /// False when the JWK says it is not for verifying signatures (`use` other than `sig`, or
    /// `key_ops` without `verify`, RFC 7517 4.2/4.3): such a key loads but never verifies.
    pub for_signatures: bool,
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("kty", &self.material.kty())
            .finish()
    }
}

/// The key per family; each holds the jwt-simple key objects for the algorithms it serves.
pub enum KeyMaterial {
    /// RSA public key for RS256/384/512 and PS256/384/512.
    Rsa(Box<crate::jwt::rsa::RsaKey>),
    /// P-256 public key (ES256), with its precomputed table ([`crate::jwt::ec`]).
    P256(Box<crate::jwt::ec::p256::VerifyingKey>),
    /// P-384 public key (ES384), with its precomputed table ([`crate::jwt::ec`]).
    P384(Box<crate::jwt::ec::p384::VerifyingKey>),
    /// HMAC secret (raw bytes kept to check its length per algorithm).
    Oct(Vec<u8>),
    /// Ed25519 public key (EdDSA).
    Ed25519(Box<Ed25519PublicKey>),
}

impl KeyMaterial {
    /// JWK `kty`.
    pub fn kty(&self) -> &'static str {
        match self {
            KeyMaterial::Rsa(_) => "RSA",
            KeyMaterial::P256(_) | KeyMaterial::P384(_) => "EC",
            KeyMaterial::Oct(_) => "oct",
            KeyMaterial::Ed25519(_) => "OKP",
        }
    }
}

/// A parsed key set.
#[derive(Debug, Default)]
pub struct Jwks {
    /// Usable keys, in document order.
    pub keys: Vec<Jwk>,
    /// Keys skipped (index, reason).
    pub rejected: Vec<(usize, String)>,
}

/// The JWKS text of a local source (inline string, or inline bytes in base64).
pub fn local_jwks_text(ds: &DataSource) -> Result<String, String> {
    if let Some(s) = &ds.inline_string {
        return Ok(s.clone());
    }
    if let Some(b) = &ds.inline_bytes {
        let bytes = Base64::decode_to_vec(b, None)
            .map_err(|_| "inline_bytes is not valid base64".to_string())?;
        return String::from_utf8(bytes).map_err(|_| "inline_bytes is not UTF-8".to_string());
    }
    Err("one of inline_string or inline_bytes is required".into())
}

/// Decode base64url with or without padding (as Envoy accepts both).
pub fn b64url(s: &str) -> Option<Vec<u8>> {
    let trimmed = s.trim_end_matches('=');
    if s.len() - trimmed.len() > 2 {
        return None;
    }
    Base64UrlSafeNoPadding::decode_to_vec(trimmed, None).ok()
}

fn str_field<'a>(key: &'a Value, name: &str) -> Result<Option<&'a str>, String> {
    match key.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("[{name}] field is not a string")),
    }
}

fn required_b64(key: &Value, name: &str, what: &str) -> Result<Vec<u8>, String> {
    let s = str_field(key, name)?.ok_or_else(|| format!("[{name}] field is missing for {what}"))?;
    b64url(s).ok_or_else(|| format!("[{name}] field is an invalid Base64 for {what}"))
}

fn rsa_key(n: &[u8], e: &[u8]) -> Result<crate::jwt::rsa::RsaKey, String> {
    let n = {
        let first = n.iter().position(|b| *b != 0).unwrap_or(n.len());
        n.get(first..).unwrap_or_default()
    };
    let bits = n.len() * 8 - n.first().map(|b| b.leading_zeros() as usize).unwrap_or(0);
    if bits < 2048 {
        return Err(format!(
            "RSA key is too weak: {bits} bits, at least 2048 required"
        ));
    }
    crate::jwt::rsa::RsaKey::from_components(n, e)
}

/// Parse one JWK object.
pub fn parse_jwk(key: &Value) -> Result<Jwk, String> {
    if !key.is_object() {
        return Err("key is not a JSON object".into());
    }
    let kty = match key.get("kty") {
        None => return Err("[kty] is missing in [keys]".into()),
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err("[kty] is bad in [keys]".into()),
    };
    let kid = str_field(key, "kid")?.map(str::to_string);
    let alg = str_field(key, "alg")?.map(str::to_string);
    let for_signatures = str_field(key, "use")?.is_none_or(|u| u == "sig")
        && match key.get("key_ops") {
            None => true,
            Some(Value::Array(ops)) => ops.iter().any(|o| o.as_str() == Some("verify")),
            Some(_) => return Err("[key_ops] is not an array".into()),
        };
    let alg_ref = alg.as_deref();
    let material = match kty {
        "RSA" => {
            if let Some(a) = alg_ref {
                if !(a.starts_with("RS") || a.starts_with("PS")) {
                    return Err("[alg] is not started with [RS] or [PS] for an RSA key".into());
                }
            }
            let n = required_b64(key, "n", "a RSA key")?;
            let e = required_b64(key, "e", "a RSA key")?;
            KeyMaterial::Rsa(Box::new(rsa_key(&n, &e)?))
        }
        "EC" => {
            if let Some(a) = alg_ref {
                if !a.starts_with("ES") {
                    return Err("[alg] is not started with [ES] for an EC key".into());
                }
            }
            let crv = str_field(key, "crv")?;
            let crv = match (crv, alg_ref) {
                (Some(c), _) => c,
                (None, Some("ES256")) => "P-256",
                (None, Some("ES384")) => "P-384",
                _ => return Err("[crv] or [alg] field is not supported for an EC key".into()),
            };
            let expected_alg = match crv {
                "P-256" => "ES256",
                "P-384" => "ES384",
                _ => return Err("[crv] or [alg] field is not supported for an EC key".into()),
            };
            if alg_ref.is_some_and(|a| a != expected_alg) {
                return Err(
                    "[crv] field specified is not compatible with [alg] for an EC key".into(),
                );
            }
            let x = required_b64(key, "x", "an EC key")?;
            let y = required_b64(key, "y", "an EC key")?;
            let size = if crv == "P-256" { 32 } else { 48 };
            if x.len() != size || y.len() != size {
                return Err("Jwks EC [x] and [y] fields have a parse error.".into());
            }
            let mut sec1 = Vec::with_capacity(1 + 2 * size);
            sec1.push(4u8);
            sec1.extend_from_slice(&x);
            sec1.extend_from_slice(&y);
            let bad = || "Jwks EC [x] and [y] fields have a parse error.".to_string();
            if crv == "P-256" {
                KeyMaterial::P256(Box::new(
                    crate::jwt::ec::p256::VerifyingKey::from_sec1(&sec1).ok_or_else(bad)?,
                ))
            } else {
                KeyMaterial::P384(Box::new(
                    crate::jwt::ec::p384::VerifyingKey::from_sec1(&sec1).ok_or_else(bad)?,
                ))
            }
        }
        "oct" => {
            if let Some(a) = alg_ref {
                if !a.starts_with("HS") {
                    return Err("[alg] does not start with [HS] for an HMAC key".into());
                }
            }
            let k = required_b64(key, "k", "an HMAC key")?;
            let needed = match alg_ref {
                Some("HS384") => 48,
                Some("HS512") => 64,
                _ => 32,
            };
            if k.len() < needed {
                return Err(format!(
                    "HMAC key is too weak: {} bytes, at least {needed} required",
                    k.len()
                ));
            }
            KeyMaterial::Oct(k)
        }
        "OKP" => {
            if alg_ref.is_some_and(|a| a != "EdDSA") {
                return Err("[alg] is not [EdDSA] for an OKP key".into());
            }
            match str_field(key, "crv")? {
                None => return Err("[crv] field is missing for an OKP key".into()),
                Some("Ed25519") => {}
                Some(_) => return Err("[crv] field is not supported for an OKP key".into()),
            }
            let x = required_b64(key, "x", "an OKP key")?;
            if x.len() != 32 {
                return Err("Jwks OKP [x] field is wrong length.".into());
            }
            KeyMaterial::Ed25519(Box::new(
                Ed25519PublicKey::from_bytes(&x)
                    .map_err(|_| "Jwks OKP [x] field is wrong length.".to_string())?,
            ))
        }
        _ => return Err("[kty] is not supported in [keys]".into()),
    };
    Ok(Jwk {
        kid,
        alg,
        material,
        for_signatures,
    })
}

impl Jwks {
    /// Parse a JWKS document; unusable keys are skipped and listed in `rejected`. A document
    /// that is a single JWK (no `keys`) is not accepted, as in Envoy.
    pub fn parse(text: &str) -> Result<Jwks, JwksError> {
        let doc: Value = serde_json::from_str(text).map_err(|_| JwksError::InvalidJson)?;
        let keys = match doc.get("keys") {
            None => return Err(JwksError::NoKeys),
            Some(Value::Array(k)) => k,
            Some(_) => return Err(JwksError::KeysNotArray),
        };
        let mut jwks = Jwks::default();
        for (i, key) in keys.iter().enumerate() {
            match parse_jwk(key) {
                Ok(k) => jwks.keys.push(k),
                Err(why) => jwks.rejected.push((i, why)),
            }
        }
        if jwks.keys.is_empty() {
            let why = jwks
                .rejected
                .first()
                .map(|(i, w)| format!("keys[{i}]: {w}"))
                .unwrap_or_else(|| "[keys] is empty".into());
            return Err(JwksError::NoValidKeys(why));
        }
        Ok(jwks)
    }

    /// Parse and require every key to load (local JWKS: a bad key is a config error).
    pub fn parse_strict(text: &str) -> Result<Jwks, JwksError> {
        let jwks = Jwks::parse(text)?;
        if let Some((i, why)) = jwks.rejected.first() {
            return Err(JwksError::BadKey(*i, why.clone()));
        }
        Ok(jwks)
    }

    /// Whether some key carries this `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_weak_and_mismatched_keys() {
        let short_hmac = r#"{"keys":[{"kty":"oct","k":"c2hvcnQ"}]}"#;
        let err = Jwks::parse(short_hmac).unwrap_err().message();
        assert!(err.contains("HMAC key is too weak: 5 bytes"), "{err}");
        let rsa_1024 = format!(
            r#"{{"keys":[{{"kty":"RSA","n":"{}","e":"AQAB"}}]}}"#,
            "w".repeat(171)
        );
        let err = Jwks::parse(&rsa_1024).unwrap_err().message();
        assert!(err.contains("RSA key is too weak"), "{err}");
        let bad_alg = r#"{"keys":[{"kty":"oct","alg":"RS256","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}"#;
        assert!(Jwks::parse(bad_alg)
            .unwrap_err()
            .message()
            .contains("[alg] does not start with [HS]"));
        assert_eq!(Jwks::parse("nope").unwrap_err(), JwksError::InvalidJson);
        assert_eq!(Jwks::parse("{}").unwrap_err(), JwksError::NoKeys);
        assert_eq!(
            Jwks::parse(r#"{"keys":1}"#).unwrap_err(),
            JwksError::KeysNotArray
        );
    }

    #[test]
    fn good_keys_load_and_bad_ones_are_listed() {
        let doc = r#"{"keys":[
          {"kty":"oct","kid":"h","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"},
          {"kty":"OKP","crv":"Ed25519","kid":"e","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
          {"kty":"EC","crv":"P-256","kid":"p","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
          {"kty":"XYZ"}]}"#;
        let jwks = Jwks::parse(doc).unwrap();
        assert_eq!(jwks.keys.len(), 3);
        assert_eq!(
            jwks.rejected,
            vec![(3, "[kty] is not supported in [keys]".to_string())]
        );
        assert!(jwks.has_kid("e"));
        assert!(Jwks::parse_strict(doc).is_err());
    }
}
