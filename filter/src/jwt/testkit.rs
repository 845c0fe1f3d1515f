//! Test-only helpers: key pairs for every algorithm, their JWKS, and a signer for tokens with
//! arbitrary claims (jwt-simple signs; the claims are set field by field).

use ct_codecs::{Base64UrlSafeNoPadding, Encoder};
use jwt_simple::prelude::*;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// Every key the tests sign with.
pub struct Keys {
    pub hs256: HS256Key,
    pub hs384: HS384Key,
    pub hs512: HS512Key,
    pub hmac_secret: Vec<u8>,
    pub rsa: RS256KeyPair,
    pub rs384: RS384KeyPair,
    pub rs512: RS512KeyPair,
    pub ps256: PS256KeyPair,
    pub ps384: PS384KeyPair,
    pub ps512: PS512KeyPair,
    pub es256: ES256KeyPair,
    pub es384: ES384KeyPair,
    pub ed: Ed25519KeyPair,
}

pub fn b64(bytes: &[u8]) -> String {
    Base64UrlSafeNoPadding::encode_to_string(bytes).unwrap()
}

/// Keys generated once per test process.
pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let secret: Vec<u8> = (0u8..64)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect();
        let rsa = RS256KeyPair::generate(2048).unwrap();
        let der = rsa.to_der().unwrap();
        Keys {
            hs256: HS256Key::from_bytes(&secret),
            hs384: HS384Key::from_bytes(&secret),
            hs512: HS512Key::from_bytes(&secret),
            hmac_secret: secret,
            rs384: RS384KeyPair::from_der(&der).unwrap(),
            rs512: RS512KeyPair::from_der(&der).unwrap(),
            ps256: PS256KeyPair::from_der(&der).unwrap(),
            ps384: PS384KeyPair::from_der(&der).unwrap(),
            ps512: PS512KeyPair::from_der(&der).unwrap(),
            rsa,
            es256: ES256KeyPair::generate(),
            es384: ES384KeyPair::generate(),
            ed: Ed25519KeyPair::generate(),
        }
    })
}

/// The JWKS holding every public key, with kids `hmac`, `rsa`, `p256`, `p384`, `ed`.
pub fn jwks_json() -> Value {
    let k = keys();
    let rsa = k.rsa.public_key().to_components();
    let p256 = k.es256.public_key().public_key().to_bytes_uncompressed();
    let p384 = k.es384.public_key().public_key().to_bytes_uncompressed();
    let (x256, y256) = p256[1..].split_at(32);
    let (x384, y384) = p384[1..].split_at(48);
    json!({"keys": [
        {"kty": "oct", "kid": "hmac", "k": b64(&k.hmac_secret)},
        {"kty": "RSA", "kid": "rsa", "n": b64(&rsa.n), "e": b64(&rsa.e)},
        {"kty": "EC", "kid": "p256", "crv": "P-256", "x": b64(x256), "y": b64(y256)},
        {"kty": "EC", "kid": "p384", "crv": "P-384", "x": b64(x384), "y": b64(y384)},
        {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(&k.ed.public_key().to_bytes())},
    ]})
}

/// The kid of the JWKS key for an algorithm.
pub fn kid_for(alg: &str) -> &'static str {
    match alg {
        "HS256" | "HS384" | "HS512" => "hmac",
        "ES256" => "p256",
        "ES384" => "p384",
        "EdDSA" => "ed",
        _ => "rsa",
    }
}

fn to_claims(payload: &Value) -> JWTClaims<Map<String, Value>> {
    let mut custom = payload.as_object().cloned().unwrap_or_default();
    let mut c = Claims::with_custom_claims(Map::new(), Duration::from_secs(0));
    c.issued_at = custom
        .remove("iat")
        .and_then(|v| v.as_u64())
        .map(UnixTimeStamp::from_secs);
    c.expires_at = custom
        .remove("exp")
        .and_then(|v| v.as_u64())
        .map(UnixTimeStamp::from_secs);
    c.invalid_before = custom
        .remove("nbf")
        .and_then(|v| v.as_u64())
        .map(UnixTimeStamp::from_secs);
    c.issuer = custom
        .remove("iss")
        .and_then(|v| v.as_str().map(str::to_string));
    c.subject = custom
        .remove("sub")
        .and_then(|v| v.as_str().map(str::to_string));
    c.jwt_id = custom
        .remove("jti")
        .and_then(|v| v.as_str().map(str::to_string));
    c.audiences = match custom.remove("aud") {
        Some(Value::String(s)) => Some(Audiences::AsString(s)),
        Some(Value::Array(a)) => Some(Audiences::AsSet(
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        )),
        _ => None,
    };
    c.custom = custom;
    c
}

/// Sign `payload` (a JSON object; `iat`/`exp`/`nbf` integers) with `alg`, header kid `kid`.
pub fn sign(alg: &str, kid: Option<&str>, payload: &Value) -> String {
    let k = keys();
    let c = to_claims(payload);
    macro_rules! s {
        ($key:expr) => {{
            let key = match kid {
                Some(id) => $key.clone().with_key_id(id),
                None => $key.clone(),
            };
            key.authenticate(c).unwrap()
        }};
    }
    macro_rules! a {
        ($key:expr) => {{
            let key = $key;
            let key = match kid {
                Some(id) => key.with_key_id(id),
                None => key,
            };
            key.sign(c).unwrap()
        }};
    }
    match alg {
        "HS256" => s!(k.hs256),
        "HS384" => s!(k.hs384),
        "HS512" => s!(k.hs512),
        "RS256" => a!(k.rsa.clone()),
        "RS384" => a!(k.rs384.clone()),
        "RS512" => a!(k.rs512.clone()),
        "PS256" => a!(k.ps256.clone()),
        "PS384" => a!(k.ps384.clone()),
        "PS512" => a!(k.ps512.clone()),
        "ES256" => a!(ES256KeyPair::from_bytes(&k.es256.to_bytes()).unwrap()),
        "ES384" => a!(ES384KeyPair::from_bytes(&k.es384.to_bytes()).unwrap()),
        "EdDSA" => a!(k.ed.clone()),
        other => panic!("unknown alg {other}"),
    }
}

/// Sign with the default kid for the algorithm.
pub fn sign_std(alg: &str, payload: &Value) -> String {
    sign(alg, Some(kid_for(alg)), payload)
}

/// An HS256 token over raw header and payload JSON text (for malformed-claim cases).
pub fn hs256_raw(header: &str, payload: &str) -> String {
    let signing_input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let tag = hmac_sha256::HMAC::mac(signing_input.as_bytes(), &keys().hmac_secret);
    format!("{signing_input}.{}", b64(&tag))
}

/// An EdDSA token over raw header and payload JSON text (for header cases jwt-simple cannot
/// produce, such as `crit`).
pub fn eddsa_raw(header: &str, payload: &str) -> String {
    let signing_input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = keys()
        .ed
        .key_pair()
        .as_ref()
        .sk
        .sign(signing_input.as_bytes(), None);
    format!("{signing_input}.{}", b64(sig.as_ref()))
}

/// Every algorithm the filter supports.
pub const ALGS: [&str; 12] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];
