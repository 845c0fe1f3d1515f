//! One token: parse it the way Envoy's `jwt_verify_lib` does (same checks, same order, same
//! statuses), check issuer, time, audiences, subject and lifetime against a provider, and
//! verify the signature against a JWKS. The key must be of the token's algorithm family (no
//! RS256→HS256 confusion, no `alg: none`). Signature backends, chosen by measurement against the
//! 1 ms-per-request budget in V8 (BENCHMARKS.md): HS* and EdDSA jwt-simple; RS*/PS* ring
//! (jwt-simple on the wasm-bindgen build), see [`crate::jwt::rsa`]; ES256/ES384 table-based
//! ECDSA over the curve crates' arithmetic, see [`crate::jwt::ec`].

use crate::jwt::config::{JwtProvider, StringMatcher};
use crate::jwt::jwks::{b64url, Jwks, KeyMaterial};
use crate::jwt::status::JwtStatus;
use jwt_simple::prelude::*;
use serde_json::{Map, Value};
use std::rc::Rc;

/// Algorithms a token may name (Envoy's implemented set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Alg {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    ES512,
    EdDSA,
}

impl Alg {
    /// From the header's `alg`.
    pub fn from_name(s: &str) -> Option<Alg> {
        Some(match s {
            "HS256" => Alg::HS256,
            "HS384" => Alg::HS384,
            "HS512" => Alg::HS512,
            "RS256" => Alg::RS256,
            "RS384" => Alg::RS384,
            "RS512" => Alg::RS512,
            "PS256" => Alg::PS256,
            "PS384" => Alg::PS384,
            "PS512" => Alg::PS512,
            "ES256" => Alg::ES256,
            "ES384" => Alg::ES384,
            "ES512" => Alg::ES512,
            "EdDSA" => Alg::EdDSA,
            _ => return None,
        })
    }

    /// The header name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::ES512 => "ES512",
            Alg::EdDSA => "EdDSA",
        }
    }
}

/// A token that parsed; claims are not yet trusted until the signature verified.
#[derive(Debug, Clone)]
pub struct ParsedJwt {
    /// Header `alg`.
    pub alg: Alg,
    /// Header `kid`.
    pub kid: Option<String>,
    /// `iss` (empty when absent).
    pub iss: String,
    /// `sub` (empty when absent).
    pub sub: String,
    /// `iat` (0 when absent).
    pub iat: u64,
    /// `nbf` (0 when absent).
    pub nbf: u64,
    /// `exp` (0 when absent).
    pub exp: u64,
    /// `jti`.
    pub jti: Option<String>,
    /// `aud` as a list.
    pub audiences: Vec<String>,
    /// The payload object, shared with the request's identity (a cache hit copies no claims).
    pub payload: Rc<Value>,
    /// Permissions the payload grants by default (`permissions` array, `scope` words), worked
    /// out once per token rather than on every cache hit.
    pub permissions: Vec<String>,
    /// The payload exactly as base64url in the token (for `forward_payload_header`).
    pub payload_b64: String,
}

fn int_claim(
    obj: &Map<String, Value>,
    name: &str,
    not_int: JwtStatus,
    range: JwtStatus,
) -> Result<u64, JwtStatus> {
    match obj.get(name) {
        None => Ok(0),
        Some(Value::Number(n)) => {
            if let Some(u) = n.as_u64() {
                if u > i64::MAX as u64 {
                    return Err(range);
                }
                Ok(u)
            } else if n.as_i64().is_some() {
                Err(range)
            } else {
                match n.as_f64() {
                    Some(f) if (0.0..9.2e18).contains(&f) && f.fract() == 0.0 => Ok(f as u64),
                    _ => Err(range),
                }
            }
        }
        Some(_) => Err(not_int),
    }
}

fn string_claim(
    obj: &Map<String, Value>,
    name: &str,
    err: JwtStatus,
) -> Result<Option<String>, JwtStatus> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(err),
    }
}

/// The JWS layer of a compact token: header fields and the decoded payload, before any claim
/// is read. Published JWS vectors (Wycheproof) are checked at this layer, since their payloads
/// are not claim sets.
#[derive(Debug, Clone)]
pub struct JwsParts<'a> {
    /// Header `alg`.
    pub alg: Alg,
    /// Header `kid`.
    pub kid: Option<String>,
    /// The payload as base64url, exactly as in the token.
    pub payload_b64: &'a str,
    /// The payload decoded.
    pub payload: Vec<u8>,
    /// The signature as base64url (decoded by the caller, after the claims, in Envoy's order).
    pub signature_b64: &'a str,
}

/// Split a compact token and read its header, in the order Envoy reports the failures.
pub fn parse_jws(token: &str) -> Result<JwsParts<'_>, JwtStatus> {
    if token.bytes().filter(|b| *b == b'.').count() != 2 {
        return Err(JwtStatus::BadFormat);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(JwtStatus::BadFormat);
    };
    if h.is_empty() || p.is_empty() || s.is_empty() {
        return Err(JwtStatus::BadFormat);
    }
    let header_bytes = b64url(h).ok_or(JwtStatus::HeaderBadBase64)?;
    let header: Value =
        serde_json::from_slice(&header_bytes).map_err(|_| JwtStatus::HeaderBadJson)?;
    let Value::Object(header) = header else {
        return Err(JwtStatus::HeaderBadJson);
    };
    let alg = match header.get("alg") {
        Some(Value::String(a)) => Alg::from_name(a).ok_or(JwtStatus::HeaderNotImplementedAlg)?,
        _ => return Err(JwtStatus::HeaderBadAlg),
    };
    let kid = string_claim(&header, "kid", JwtStatus::HeaderBadKid)?;
    let payload = b64url(p).ok_or(JwtStatus::PayloadBadBase64)?;
    Ok(JwsParts {
        alg,
        kid,
        payload_b64: p,
        payload,
        signature_b64: s,
    })
}

/// Parse a compact JWS token with Envoy's checks and statuses, in Envoy's order; nothing in it
/// is trusted until the signature verified.
pub fn parse(token: &str) -> Result<ParsedJwt, JwtStatus> {
    let JwsParts {
        alg,
        kid,
        payload_b64,
        payload: payload_bytes,
        signature_b64: s,
    } = parse_jws(token)?;
    let payload: Value =
        serde_json::from_slice(&payload_bytes).map_err(|_| JwtStatus::PayloadBadJson)?;
    let Value::Object(obj) = &payload else {
        return Err(JwtStatus::PayloadBadJson);
    };
    let iss = string_claim(obj, "iss", JwtStatus::IssNotString)?.unwrap_or_default();
    let sub = string_claim(obj, "sub", JwtStatus::SubNotString)?.unwrap_or_default();
    let iat = int_claim(
        obj,
        "iat",
        JwtStatus::IatNotInteger,
        JwtStatus::IatOutOfRange,
    )?;
    let nbf = int_claim(
        obj,
        "nbf",
        JwtStatus::NbfNotInteger,
        JwtStatus::NbfOutOfRange,
    )?;
    let exp = int_claim(
        obj,
        "exp",
        JwtStatus::ExpNotInteger,
        JwtStatus::ExpOutOfRange,
    )?;
    let jti = string_claim(obj, "jti", JwtStatus::JtiNotString)?;
    let audiences = match obj.get("aud") {
        None => Vec::new(),
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or(JwtStatus::AudNotString)?,
        Some(_) => return Err(JwtStatus::AudNotString),
    };
    if b64url(s).is_none() {
        return Err(JwtStatus::SignatureBadBase64);
    }
    let permissions = crate::jwt::authz::default_permissions(&payload);
    Ok(ParsedJwt {
        alg,
        kid,
        iss,
        sub,
        iat,
        nbf,
        exp,
        jti,
        audiences,
        payload: Rc::new(payload),
        permissions,
        payload_b64: payload_b64.to_string(),
    })
}

/// A provider's claim policy, compiled.
#[derive(Debug, Clone)]
pub struct ClaimPolicy {
    /// Required issuer (None = any).
    pub issuer: Option<String>,
    /// Allowed audiences, sanitized (empty = any).
    pub audiences: Vec<String>,
    /// Allowed subjects.
    pub subjects: Option<SubjectMatcher>,
    /// Refuse tokens without `exp`.
    pub require_expiration: bool,
    /// Longest `exp - iat`, seconds.
    pub max_lifetime: Option<u64>,
    /// Clock skew, seconds.
    pub clock_skew: u64,
}

/// A compiled `StringMatcher` for `sub`.
#[derive(Debug, Clone)]
pub struct SubjectMatcher {
    kind: MatchKind,
    ignore_case: bool,
}

#[derive(Debug, Clone)]
enum MatchKind {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    Regex(regex_lite::Regex),
}

impl SubjectMatcher {
    /// Compile a validated matcher; None if it cannot compile.
    pub fn compile(m: &StringMatcher) -> Option<SubjectMatcher> {
        let lc = |s: &String| {
            if m.ignore_case {
                s.to_ascii_lowercase()
            } else {
                s.clone()
            }
        };
        let kind = if let Some(s) = &m.exact {
            MatchKind::Exact(lc(s))
        } else if let Some(s) = &m.prefix {
            MatchKind::Prefix(lc(s))
        } else if let Some(s) = &m.suffix {
            MatchKind::Suffix(lc(s))
        } else if let Some(s) = &m.contains {
            MatchKind::Contains(lc(s))
        } else if let Some(r) = &m.safe_regex {
            MatchKind::Regex(regex_lite::Regex::new(&format!("^(?:{})$", r.regex)).ok()?)
        } else {
            return None;
        };
        Some(SubjectMatcher {
            kind,
            ignore_case: m.ignore_case,
        })
    }

    /// Does `value` match?
    pub fn matches(&self, value: &str) -> bool {
        let v = if self.ignore_case {
            std::borrow::Cow::Owned(value.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(value)
        };
        match &self.kind {
            MatchKind::Exact(s) => *v == **s,
            MatchKind::Prefix(s) => v.starts_with(s.as_str()),
            MatchKind::Suffix(s) => v.ends_with(s.as_str()),
            MatchKind::Contains(s) => v.contains(s.as_str()),
            MatchKind::Regex(r) => r.is_match(value),
        }
    }
}

/// Envoy's audience comparison drops an `http://`/`https://` scheme and a trailing `/`.
pub fn sanitize_audience(a: &str) -> &str {
    let a = a
        .strip_prefix("http://")
        .or_else(|| a.strip_prefix("https://"))
        .unwrap_or(a);
    a.strip_suffix('/').unwrap_or(a)
}

impl ClaimPolicy {
    /// Compile from a provider.
    pub fn compile(p: &JwtProvider) -> ClaimPolicy {
        ClaimPolicy {
            issuer: p.issuer.clone().filter(|i| !i.is_empty()),
            audiences: p
                .audiences
                .iter()
                .map(|a| sanitize_audience(a).to_string())
                .collect(),
            subjects: p.subjects.as_ref().and_then(SubjectMatcher::compile),
            require_expiration: p.require_expiration,
            max_lifetime: p.max_lifetime.map(|d| d.secs()),
            clock_skew: match p.clock_skew_seconds {
                Some(s) if s > 0 => u64::from(s),
                _ => 60,
            },
        }
    }

    /// Does this provider accept the token's issuer?
    pub fn issuer_allowed(&self, iss: &str) -> bool {
        self.issuer.as_deref().is_none_or(|i| i == iss)
    }

    /// Time, audience, subject and lifetime checks, in Envoy's order. `audiences` overrides
    /// the provider's (from `provider_and_audiences`).
    pub fn check(
        &self,
        jwt: &ParsedJwt,
        audiences: Option<&[String]>,
        now: u64,
    ) -> Result<(), JwtStatus> {
        if now.saturating_add(self.clock_skew) < jwt.nbf {
            return Err(JwtStatus::NotYetValid);
        }
        if jwt.exp != 0 && now > jwt.exp.saturating_add(self.clock_skew) {
            return Err(JwtStatus::Expired);
        }
        let allowed = audiences.unwrap_or(&self.audiences);
        if !allowed.is_empty()
            && !jwt.audiences.iter().any(|a| {
                allowed
                    .iter()
                    .any(|x| sanitize_audience(x) == sanitize_audience(a))
            })
        {
            return Err(JwtStatus::AudienceNotAllowed);
        }
        if let Some(s) = &self.subjects {
            if !s.matches(&jwt.sub) {
                return Err(JwtStatus::VerificationFail);
            }
        }
        // Lifetime, after the audience as in Envoy (differential corpus): a missing `exp` fails
        // verification (not "expired"); `max_lifetime` bounds how far `exp` is ahead of now,
        // whatever `iat` says, and a token without `exp` has no bounded lifetime.
        if self.require_expiration && jwt.exp == 0 {
            return Err(JwtStatus::VerificationFail);
        }
        if let Some(max) = self.max_lifetime {
            if jwt.exp == 0 || jwt.exp.saturating_sub(now) > max {
                return Err(JwtStatus::VerificationFail);
            }
        }
        Ok(())
    }
}

/// `header.payload` and the decoded signature of a compact token (None if malformed; the
/// caller has parsed the token already, so that does not happen in practice).
pub(crate) fn signing_input_and_signature(token: &str) -> Option<(&str, Vec<u8>)> {
    let (input, sig) = token.rsplit_once('.')?;
    Some((input, b64url(sig)?))
}

/// Whether the token's signature is the key's HMAC tag over `header.payload` (jwt-simple
/// computes the tag; compared in constant time). The token was parsed already, so jwt-simple is
/// not asked to parse it again: that re-parse also refused `typ` values other than JWT and any
/// `crit`, which Envoy ignores (differential corpus) and so do the other algorithms here.
fn mac_matches(key: &impl MACLike, token: &str) -> bool {
    signing_input_and_signature(token).is_some_and(|(input, sig)| {
        ct_codecs::verify(&key.authentication_tag(input.as_bytes()), &sig)
    })
}

/// Verify with one key; None when the key cannot serve this algorithm.
fn verify_with(material: &KeyMaterial, alg: Alg, token: &str) -> Option<bool> {
    let ok = match (material, alg) {
        (KeyMaterial::Rsa(k), _) => return k.verify(alg, token),
        (KeyMaterial::P256(k), Alg::ES256) => signing_input_and_signature(token)
            .is_some_and(|(input, sig)| k.verify(input.as_bytes(), &sig)),
        (KeyMaterial::P384(k), Alg::ES384) => signing_input_and_signature(token)
            .is_some_and(|(input, sig)| k.verify(input.as_bytes(), &sig)),
        (KeyMaterial::P256(_) | KeyMaterial::P384(_), Alg::ES256 | Alg::ES384 | Alg::ES512) => {
            false
        }
        (KeyMaterial::Oct(k), Alg::HS256) => {
            k.len() >= 32 && mac_matches(&HS256Key::from_bytes(k), token)
        }
        (KeyMaterial::Oct(k), Alg::HS384) => {
            k.len() >= 48 && mac_matches(&HS384Key::from_bytes(k), token)
        }
        (KeyMaterial::Oct(k), Alg::HS512) => {
            k.len() >= 64 && mac_matches(&HS512Key::from_bytes(k), token)
        }
        (KeyMaterial::Ed25519(k), Alg::EdDSA) => {
            signing_input_and_signature(token).is_some_and(|(input, sig)| {
                ed25519_compact::Signature::from_slice(&sig)
                    .is_ok_and(|sig| k.public_key().as_ref().verify(input, &sig).is_ok())
            })
        }
        _ => return None,
    };
    Some(ok)
}

/// Verify the signature against a key set, selecting keys as Envoy does: a key whose `kid`
/// differs from the token's (both set) or whose pinned `alg` differs is skipped; if no key
/// is left the status is "Jwks doesn't have key to match kid or alg from Jwt". Unlike Envoy,
/// a key is only ever used for an algorithm of its own family.
pub fn verify_signature(
    token: &str,
    alg: Alg,
    kid: Option<&str>,
    jwks: &Jwks,
) -> Result<(), JwtStatus> {
    if alg == Alg::EdDSA {
        let sig = token
            .rsplit('.')
            .next()
            .and_then(b64url)
            .unwrap_or_default();
        if sig.len() != 64
            && jwks
                .keys
                .iter()
                .any(|k| matches!(k.material, KeyMaterial::Ed25519(_)))
        {
            return Err(JwtStatus::Ed25519SignatureWrongLength);
        }
    }
    let mut matched = false;
    for key in &jwks.keys {
        if let (Some(tk), Some(kk)) = (kid, key.kid.as_deref()) {
            if tk != kk {
                continue;
            }
        }
        if key.alg.as_deref().is_some_and(|a| a != alg.name()) || !key.for_signatures {
            continue;
        }
        matched = true;
        if verify_with(&key.material, alg, token) == Some(true) {
            return Ok(());
        }
    }
    Err(if matched {
        JwtStatus::VerificationFail
    } else {
        JwtStatus::KidAlgMismatch
    })
}
