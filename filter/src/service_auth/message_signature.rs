//! RFC 9421 HTTP Message Signatures for requests: parsing `Signature-Input` / `Signature`,
//! building the signature base (§2.5) from derived components and header fields, and the
//! `hmac-sha256` / `ed25519` algorithms (verify and sign). Policy (which components, how old)
//! lives in [`super::policy`]; this module only says what was signed and whether it verifies.

use super::content_digest;
use super::structured_fields::{self as sf, BareItem, InnerList, Item, Member, Parameters};
use crate::request::RequestView;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Most signatures in one request that we look at (more are ignored).
pub const MAX_SIGNATURES: usize = 8;
/// Most components one signature may cover.
pub const MAX_COMPONENTS: usize = 64;

/// Why a signature could not be parsed, built or verified. Messages name components (which
/// come from the request's own `Signature-Input`), never keys, secrets or signature bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SigError {
    /// `Signature-Input` is not a dictionary of inner lists of strings.
    MalformedInput,
    /// `Signature` is not a dictionary of byte sequences.
    MalformedSignature,
    /// A `Signature-Input` label has no `Signature` with the same label.
    MissingSignatureForLabel,
    /// A signature parameter has the wrong type (`created` must be an integer, ...).
    BadParameter(&'static str),
    /// Too many components in one signature.
    TooManyComponents,
    /// A component is listed twice.
    DuplicateComponent(String),
    /// A component name or parameter we do not support for requests.
    UnsupportedComponent(String),
    /// A covered component is not present in the request.
    ComponentAbsent(String),
    /// A covered `;sf` / `;key` field is not a valid structured field.
    ComponentNotStructured(String),
    /// The signature bytes do not verify with any of the key's secrets.
    BadSignature,
    /// A signing request without the body needed for `content-digest`.
    BodyNeededForDigest,
}

impl std::fmt::Display for SigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SigError::MalformedInput => write!(f, "Signature-Input is malformed"),
            SigError::MalformedSignature => write!(f, "Signature is malformed"),
            SigError::MissingSignatureForLabel => {
                write!(f, "Signature-Input label has no matching Signature")
            }
            SigError::BadParameter(p) => write!(f, "signature parameter {p} has the wrong type"),
            SigError::TooManyComponents => write!(f, "signature covers too many components"),
            SigError::DuplicateComponent(c) => write!(f, "component {c} is covered twice"),
            SigError::UnsupportedComponent(c) => write!(f, "component {c} is not supported"),
            SigError::ComponentAbsent(c) => {
                write!(f, "covered component {c} is not in the request")
            }
            SigError::ComponentNotStructured(c) => {
                write!(f, "covered component {c} is not a valid structured field")
            }
            SigError::BadSignature => write!(f, "signature does not verify"),
            SigError::BodyNeededForDigest => {
                write!(f, "content-digest is covered but no body was given")
            }
        }
    }
}

impl std::error::Error for SigError {}

/// A component identifier: a lowercase name (`@method`, `content-type`) and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentId {
    /// Field name (lowercase) or derived component name (`@...`).
    pub name: String,
    /// Parameters (`sf`, `key`, `bs`, `name`).
    pub params: Parameters,
}

impl ComponentId {
    /// A component without parameters.
    pub fn plain(name: &str) -> ComponentId {
        ComponentId {
            name: name.to_string(),
            params: Vec::new(),
        }
    }

    /// Parse the config / CLI spelling: `@method`, `content-digest`, `@query-param;name="id"`
    /// (or the quoted wire form `"@method"`).
    pub fn parse_config(text: &str) -> Result<ComponentId, String> {
        let text = text.trim();
        let item = if text.starts_with('"') {
            sf::parse_item(text).map_err(|e| e.to_string())?
        } else {
            let (name, params) = match text.find(';') {
                Some(i) => (text.get(..i).unwrap_or(""), text.get(i..).unwrap_or("")),
                None => (text, ""),
            };
            Item {
                bare: BareItem::String(name.to_string()),
                params: sf::parse_parameters(params).map_err(|e| e.to_string())?,
            }
        };
        let id = ComponentId::from_item(&item).map_err(|e| e.to_string())?;
        id.check_supported().map_err(|e| e.to_string())?;
        Ok(id)
    }

    fn from_item(item: &Item) -> Result<ComponentId, SigError> {
        let BareItem::String(name) = &item.bare else {
            return Err(SigError::MalformedInput);
        };
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(SigError::MalformedInput);
        }
        Ok(ComponentId {
            name: name.clone(),
            params: item.params.clone(),
        })
    }

    /// The identifier as it appears in the signature base: `"@query-param";name="id"`.
    pub fn serialize(&self) -> String {
        let mut out = String::new();
        sf::write_string(&mut out, &self.name);
        sf::write_parameters(&mut out, &self.params);
        out
    }

    fn has(&self, key: &str) -> bool {
        sf::param(&self.params, key).is_some()
    }

    /// Reject parameters and names that make no sense for a request we receive.
    fn check_supported(&self) -> Result<(), SigError> {
        let unsupported = || SigError::UnsupportedComponent(self.serialize());
        if self.name.starts_with('@') {
            let allowed: &[&str] = if self.name == "@query-param" {
                &["name"]
            } else {
                &[]
            };
            if self
                .params
                .iter()
                .any(|(k, _)| !allowed.contains(&k.as_str()))
            {
                return Err(unsupported());
            }
            match self.name.as_str() {
                "@method" | "@target-uri" | "@authority" | "@scheme" | "@request-target"
                | "@path" | "@query" => Ok(()),
                "@query-param" => match sf::param(&self.params, "name") {
                    Some(BareItem::String(_)) => Ok(()),
                    _ => Err(unsupported()),
                },
                _ => Err(unsupported()),
            }
        } else {
            for (k, v) in &self.params {
                let ok = match k.as_str() {
                    "sf" | "bs" => *v == BareItem::Boolean(true),
                    "key" => matches!(v, BareItem::String(_)),
                    _ => false, // `req` / `tr` / unknown: not for requests
                };
                if !ok {
                    return Err(unsupported());
                }
            }
            let exclusive = [self.has("sf"), self.has("bs"), self.has("key")];
            if exclusive.iter().filter(|x| **x).count() > 1
                && !(self.has("sf") && self.has("key") && !self.has("bs"))
            {
                return Err(unsupported());
            }
            Ok(())
        }
    }

    /// Whether this covered component satisfies a required one (same name; the required
    /// one's parameters, if any, must all be present with equal values).
    pub fn satisfies(&self, required: &ComponentId) -> bool {
        self.name == required.name
            && required
                .params
                .iter()
                .all(|(k, v)| sf::param(&self.params, k) == Some(v))
    }
}

/// One parsed signature: what it covers, its parameters, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSignature {
    /// Dictionary label (`sig1`).
    pub label: String,
    /// Covered components, in order.
    pub components: Vec<ComponentId>,
    /// `created` (Unix seconds).
    pub created: Option<i64>,
    /// `expires` (Unix seconds).
    pub expires: Option<i64>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// `alg`.
    pub alg: Option<String>,
    /// `keyid`.
    pub keyid: Option<String>,
    /// `tag`.
    pub tag: Option<String>,
    /// The `@signature-params` value: the inner list re-serialized canonically.
    pub signature_params: String,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

/// Parse the request's `Signature-Input` and `Signature` field values (all lines joined
/// with `, `). Returns at most [`MAX_SIGNATURES`] signatures, in `Signature-Input` order.
pub fn parse_signatures(
    signature_input: &str,
    signature: &str,
) -> Result<Vec<ParsedSignature>, SigError> {
    let inputs = sf::parse_dictionary(signature_input).map_err(|_| SigError::MalformedInput)?;
    let sigs = sf::parse_dictionary(signature).map_err(|_| SigError::MalformedSignature)?;
    if inputs.is_empty() {
        return Err(SigError::MalformedInput);
    }
    let mut out = Vec::new();
    for (label, member) in inputs.iter().take(MAX_SIGNATURES) {
        let Member::InnerList(list) = member else {
            return Err(SigError::MalformedInput);
        };
        let Some((_, sig_member)) = sigs.iter().find(|(l, _)| l == label) else {
            return Err(SigError::MissingSignatureForLabel);
        };
        let Member::Item(Item {
            bare: BareItem::ByteSequence(bytes),
            ..
        }) = sig_member
        else {
            return Err(SigError::MalformedSignature);
        };
        out.push(parse_one(label, list, bytes.clone())?);
    }
    Ok(out)
}

fn parse_one(
    label: &str,
    list: &InnerList,
    signature: Vec<u8>,
) -> Result<ParsedSignature, SigError> {
    if list.items.len() > MAX_COMPONENTS {
        return Err(SigError::TooManyComponents);
    }
    let mut components: Vec<ComponentId> = Vec::with_capacity(list.items.len());
    for item in &list.items {
        let id = ComponentId::from_item(item)?;
        if components.contains(&id) {
            return Err(SigError::DuplicateComponent(id.serialize()));
        }
        components.push(id);
    }
    let int = |key: &'static str| match sf::param(&list.params, key) {
        None => Ok(None),
        Some(BareItem::Integer(i)) => Ok(Some(*i)),
        Some(_) => Err(SigError::BadParameter(key)),
    };
    let string = |key: &'static str| match sf::param(&list.params, key) {
        None => Ok(None),
        Some(BareItem::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(SigError::BadParameter(key)),
    };
    let mut signature_params = String::new();
    sf::write_inner_list(&mut signature_params, list);
    Ok(ParsedSignature {
        label: label.to_string(),
        components,
        created: int("created")?,
        expires: int("expires")?,
        nonce: string("nonce")?,
        alg: string("alg")?,
        keyid: string("keyid")?,
        tag: string("tag")?,
        signature_params,
        signature,
    })
}

/// Build the signature base (RFC 9421 §2.5) for `components` and the `@signature-params`
/// value `signature_params`.
pub fn signature_base(
    req: &RequestView,
    components: &[ComponentId],
    signature_params: &str,
) -> Result<String, SigError> {
    let mut base = String::with_capacity(256);
    for c in components {
        c.check_supported()?;
        let value = component_value(req, c)?;
        base.push_str(&c.serialize());
        base.push_str(": ");
        base.push_str(&value);
        base.push('\n');
    }
    base.push_str("\"@signature-params\": ");
    base.push_str(signature_params);
    Ok(base)
}

/// The value of one component for a request.
pub fn component_value(req: &RequestView, c: &ComponentId) -> Result<String, SigError> {
    let absent = || SigError::ComponentAbsent(c.serialize());
    let (path, query) = match req.raw_path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (req.raw_path.as_str(), None),
    };
    let path = path.split('#').next().unwrap_or(path);
    let query = query.map(|q| q.split('#').next().unwrap_or(q));
    Ok(match c.name.as_str() {
        "@method" => req.method.clone(),
        "@scheme" => req.scheme.to_ascii_lowercase(),
        "@authority" => normalized_authority(&req.scheme, &req.authority),
        "@target-uri" => format!(
            "{}://{}{}",
            req.scheme.to_ascii_lowercase(),
            req.authority,
            req.raw_path
        ),
        "@request-target" => req.raw_path.clone(),
        "@path" => {
            if path.is_empty() {
                "/".to_string()
            } else {
                path.to_string()
            }
        }
        "@query" => format!("?{}", query.unwrap_or("")),
        "@query-param" => {
            let Some(BareItem::String(wanted)) = sf::param(&c.params, "name") else {
                return Err(SigError::UnsupportedComponent(c.serialize()));
            };
            let wanted = form_decode(wanted);
            let mut found = None;
            for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                if form_decode(k) == wanted {
                    if found.is_some() {
                        // Ambiguous: RFC 9421 §2.2.8 says such a parameter must not be signed.
                        return Err(SigError::UnsupportedComponent(c.serialize()));
                    }
                    found = Some(form_encode(&form_decode(v)));
                }
            }
            found.ok_or_else(absent)?
        }
        name if name.starts_with('@') => return Err(SigError::UnsupportedComponent(c.serialize())),
        name => {
            let lines: Vec<&str> = req
                .headers
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.trim_matches(|ch| ch == ' ' || ch == '\t'))
                .collect();
            if lines.is_empty() {
                return Err(absent());
            }
            if c.has("bs") {
                let b64 = base64::engine::general_purpose::STANDARD;
                lines
                    .iter()
                    .map(|l| format!(":{}:", b64.encode(l.as_bytes())))
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                let joined = lines.join(", ");
                if let Some(BareItem::String(key)) = sf::param(&c.params, "key") {
                    let dict = sf::parse_dictionary(&joined)
                        .map_err(|_| SigError::ComponentNotStructured(c.serialize()))?;
                    let member = dict
                        .iter()
                        .find(|(k, _)| k == key)
                        .map(|(_, m)| m)
                        .ok_or_else(absent)?;
                    let mut out = String::new();
                    sf::write_member(&mut out, member);
                    out
                } else if c.has("sf") {
                    reserialize_structured(name, &joined)
                        .ok_or_else(|| SigError::ComponentNotStructured(c.serialize()))?
                } else {
                    joined
                }
            }
        }
    })
}

/// Fields known to be lists or items rather than dictionaries; anything else is tried as a
/// dictionary, then a list, then an item.
fn reserialize_structured(name: &str, value: &str) -> Option<String> {
    const LISTS: &[&str] = &["accept-ch", "cache-status", "proxy-status", "example-list"];
    if !LISTS.contains(&name) {
        if let Ok(d) = sf::parse_dictionary(value) {
            return Some(sf::serialize_dictionary(&d));
        }
    }
    if let Ok(l) = sf::parse_list(value) {
        return Some(sf::serialize_list(&l));
    }
    sf::parse_item(value).ok().map(|i| {
        let mut out = String::new();
        sf::write_item(&mut out, &i);
        out
    })
}

/// `@authority`: lowercase, default port removed (RFC 9421 §2.2.3, RFC 9110 §4.2.3).
fn normalized_authority(scheme: &str, authority: &str) -> String {
    let lower = authority.to_ascii_lowercase();
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => "",
    };
    match lower.strip_suffix(default_port) {
        Some(host) if !default_port.is_empty() => host.to_string(),
        _ => lower,
    }
}

/// application/x-www-form-urlencoded decoding of a name or value (`+` is a space).
fn form_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| {
                    std::str::from_utf8(h)
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                });
                if let Some(v) = hex {
                    out.push(v);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            _ => out.push(b),
        }
        i += 1;
    }
    out
}

/// Percent-encode with the application/x-www-form-urlencoded set (space as `%20`), as RFC
/// 9421 §2.2.8 asks for `@query-param` values.
fn form_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Verification material for one key.
#[derive(Debug, Clone)]
pub enum VerifyKeys {
    /// HMAC-SHA256 shared secrets (any may match).
    HmacSha256(Vec<Vec<u8>>),
    /// Ed25519 public keys (any may match).
    Ed25519(Vec<ed25519_dalek::VerifyingKey>),
}

impl VerifyKeys {
    /// Check `signature` over `base`. HMAC comparison is constant-time.
    pub fn verify(&self, base: &[u8], signature: &[u8]) -> bool {
        match self {
            VerifyKeys::HmacSha256(secrets) => {
                let mut ok = false;
                for secret in secrets {
                    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
                        continue;
                    };
                    mac.update(base);
                    // Check every secret (no early exit), so timing does not reveal which.
                    ok |= mac.verify_slice(signature).is_ok();
                }
                ok
            }
            VerifyKeys::Ed25519(keys) => {
                let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
                    return false;
                };
                keys.iter().any(|k| k.verify_strict(base, &sig).is_ok())
            }
        }
    }
}

/// Parse an Ed25519 public key: 32 raw bytes, or a PEM / DER SubjectPublicKeyInfo.
pub fn ed25519_public_key(bytes: &[u8]) -> Result<ed25519_dalek::VerifyingKey, String> {
    let text = std::str::from_utf8(bytes).unwrap_or("");
    let der: Vec<u8> = if text.contains("-----BEGIN PUBLIC KEY-----") {
        let body: String = text
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        super::config::decode_base64_any(body.trim()).ok_or("invalid PEM base64")?
    } else {
        bytes.to_vec()
    };
    const SPKI_PREFIX: [u8; 12] = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    let raw = match der.len() {
        32 => der.as_slice(),
        44 if der.starts_with(&SPKI_PREFIX) => der.get(12..).unwrap_or_default(),
        _ => return Err("an Ed25519 public key is 32 bytes (or a 44-byte SPKI)".into()),
    };
    let arr: [u8; 32] = raw.try_into().map_err(|_| "bad key length".to_string())?;
    ed25519_dalek::VerifyingKey::from_bytes(&arr).map_err(|_| "not a valid Ed25519 point".into())
}

/// Signing material.
#[derive(Clone)]
pub enum SigningKey {
    /// HMAC-SHA256 shared secret.
    HmacSha256(Vec<u8>),
    /// Ed25519 private key seed (32 bytes).
    Ed25519([u8; 32]),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SigningKey::HmacSha256(_) => write!(f, "HmacSha256(<redacted>)"),
            SigningKey::Ed25519(_) => write!(f, "Ed25519(<redacted>)"),
        }
    }
}

impl SigningKey {
    fn alg(&self) -> &'static str {
        match self {
            SigningKey::HmacSha256(_) => "hmac-sha256",
            SigningKey::Ed25519(_) => "ed25519",
        }
    }

    fn sign(&self, base: &[u8]) -> Vec<u8> {
        match self {
            SigningKey::HmacSha256(secret) => match Hmac::<Sha256>::new_from_slice(secret) {
                Ok(mut mac) => {
                    mac.update(base);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
            SigningKey::Ed25519(seed) => {
                use ed25519_dalek::Signer as _;
                ed25519_dalek::SigningKey::from_bytes(seed)
                    .sign(base)
                    .to_bytes()
                    .to_vec()
            }
        }
    }
}

/// What to sign: the parameters of one signature (used by `edgeguard sign` and tests).
#[derive(Debug, Clone)]
pub struct SignSpec {
    /// Dictionary label (`sig1`).
    pub label: String,
    /// `keyid` parameter.
    pub keyid: String,
    /// The key.
    pub key: SigningKey,
    /// Components in config spelling (`@method`, `content-digest`, `@query-param;name="a"`).
    pub components: Vec<String>,
    /// `created` (Unix seconds).
    pub created: Option<i64>,
    /// `expires` (Unix seconds).
    pub expires: Option<i64>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// `tag`.
    pub tag: Option<String>,
    /// Whether to send the `alg` parameter.
    pub include_alg: bool,
}

/// Sign a request: returns the headers to add (`content-digest` when it is covered and
/// missing, then `signature-input` and `signature`).
pub fn sign_request(
    req: &RequestView,
    body: Option<&[u8]>,
    spec: &SignSpec,
) -> Result<Vec<(String, String)>, String> {
    let components = spec
        .components
        .iter()
        .map(|c| ComponentId::parse_config(c))
        .collect::<Result<Vec<_>, _>>()?;
    let mut req = req.clone();
    let mut added = Vec::new();
    if components.iter().any(|c| c.name == "content-digest")
        && req.header("content-digest").is_none()
    {
        let body = body.ok_or_else(|| SigError::BodyNeededForDigest.to_string())?;
        let value = content_digest::header_value(body, false);
        req.headers
            .push(("content-digest".to_string(), value.clone()));
        added.push(("content-digest".to_string(), value));
    }
    let mut params: Parameters = Vec::new();
    if let Some(c) = spec.created {
        params.push(("created".into(), BareItem::Integer(c)));
    }
    if let Some(e) = spec.expires {
        params.push(("expires".into(), BareItem::Integer(e)));
    }
    if let Some(n) = &spec.nonce {
        params.push(("nonce".into(), BareItem::String(n.clone())));
    }
    if spec.include_alg {
        params.push(("alg".into(), BareItem::String(spec.key.alg().into())));
    }
    params.push(("keyid".into(), BareItem::String(spec.keyid.clone())));
    if let Some(t) = &spec.tag {
        params.push(("tag".into(), BareItem::String(t.clone())));
    }
    let list = InnerList {
        items: components
            .iter()
            .map(|c| Item {
                bare: BareItem::String(c.name.clone()),
                params: c.params.clone(),
            })
            .collect(),
        params,
    };
    let mut sig_params = String::new();
    sf::write_inner_list(&mut sig_params, &list);
    let base = signature_base(&req, &components, &sig_params).map_err(|e| e.to_string())?;
    let signature = spec.key.sign(base.as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD;
    added.push((
        "signature-input".to_string(),
        format!("{}={}", spec.label, sig_params),
    ));
    added.push((
        "signature".to_string(),
        format!("{}=:{}:", spec.label, b64.encode(signature)),
    ));
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::ConnectionInfo;

    fn req(method: &str, path: &str, headers: &[(&str, &str)]) -> RequestView {
        RequestView::new(
            method,
            "https",
            "example.com",
            path,
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ConnectionInfo::default(),
        )
        .unwrap()
    }

    fn value(r: &RequestView, c: &str) -> Result<String, SigError> {
        component_value(r, &ComponentId::parse_config(c).unwrap())
    }

    /// RFC 9421 §2.2 examples (derived components of `POST /path?param=value&foo=bar&baz=bat%2Dman`).
    #[test]
    fn derived_components_match_rfc_examples() {
        let r = RequestView::new(
            "POST",
            "https",
            "www.example.com",
            "/path?param=value&foo=bar&baz=bat%2Dman",
            vec![],
            ConnectionInfo::default(),
        )
        .unwrap();
        assert_eq!(value(&r, "@method").unwrap(), "POST");
        assert_eq!(
            value(&r, "@target-uri").unwrap(),
            "https://www.example.com/path?param=value&foo=bar&baz=bat%2Dman"
        );
        assert_eq!(value(&r, "@authority").unwrap(), "www.example.com");
        assert_eq!(value(&r, "@scheme").unwrap(), "https");
        assert_eq!(
            value(&r, "@request-target").unwrap(),
            "/path?param=value&foo=bar&baz=bat%2Dman"
        );
        assert_eq!(value(&r, "@path").unwrap(), "/path");
        assert_eq!(
            value(&r, "@query").unwrap(),
            "?param=value&foo=bar&baz=bat%2Dman"
        );
        assert_eq!(value(&r, "@query-param;name=\"baz\"").unwrap(), "bat-man");
        assert_eq!(value(&r, "@query-param;name=\"param\"").unwrap(), "value");
        assert!(matches!(
            value(&r, "@query-param;name=\"nope\""),
            Err(SigError::ComponentAbsent(_))
        ));
    }

    /// RFC 9421 §2.2.8: `?var=this%20is%20a%20big%0Avalue&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something`.
    #[test]
    fn query_param_reencoding_matches_rfc() {
        let r = req(
            "GET",
            "/parameters?var=this%20is%20a%20big%0Avalue&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something",
            &[],
        );
        assert_eq!(
            value(&r, "@query-param;name=\"var\"").unwrap(),
            "this%20is%20a%20big%0Avalue"
        );
        assert_eq!(
            value(&r, "@query-param;name=\"bar\"").unwrap(),
            "with%20plus%20whitespace"
        );
        assert_eq!(
            value(&r, "@query-param;name=\"fa%C3%A7ade%22%3A%20\"").unwrap(),
            "something"
        );
        let c = ComponentId::parse_config("@query-param;name=\"var\"").unwrap();
        assert_eq!(c.serialize(), "\"@query-param\";name=\"var\"");
    }

    #[test]
    fn empty_query_and_authority_normalization() {
        let r = RequestView::new(
            "GET",
            "HTTPS",
            "Example.COM:443",
            "/a",
            vec![],
            ConnectionInfo::default(),
        )
        .unwrap();
        assert_eq!(value(&r, "@query").unwrap(), "?");
        assert_eq!(value(&r, "@authority").unwrap(), "example.com");
        assert_eq!(value(&r, "@scheme").unwrap(), "https");
    }

    /// RFC 9421 §2.1 examples of header field values.
    #[test]
    fn header_fields_plain_sf_key_bs() {
        let r = req(
            "GET",
            "/",
            &[
                ("Cache-Control", "max-age=60"),
                ("Cache-Control", "   must-revalidate"),
                ("Example-Dict", " a=1,    b=2;x=1;y=2,   c=(a   b   c)  "),
                ("X-Empty-Header", ""),
                ("Example-Header", "value, with, lots"),
                ("Example-Header", "of, commas"),
            ],
        );
        assert_eq!(
            value(&r, "cache-control").unwrap(),
            "max-age=60, must-revalidate"
        );
        assert_eq!(value(&r, "x-empty-header").unwrap(), "");
        assert_eq!(
            value(&r, "example-dict").unwrap(),
            "a=1,    b=2;x=1;y=2,   c=(a   b   c)"
        );
        assert_eq!(
            value(&r, "example-dict;sf").unwrap(),
            "a=1, b=2;x=1;y=2, c=(a b c)"
        );
        assert_eq!(value(&r, "example-dict;key=\"a\"").unwrap(), "1");
        assert_eq!(value(&r, "example-dict;key=\"b\"").unwrap(), "2;x=1;y=2");
        assert_eq!(value(&r, "example-dict;key=\"c\"").unwrap(), "(a b c)");
        assert_eq!(
            value(&r, "example-header;bs").unwrap(),
            ":dmFsdWUsIHdpdGgsIGxvdHM=:, :b2YsIGNvbW1hcw==:"
        );
        assert!(matches!(
            value(&r, "absent"),
            Err(SigError::ComponentAbsent(_))
        ));
    }

    #[test]
    fn unsupported_components_are_rejected() {
        for c in [
            "@status",
            "@method;sf",
            "content-type;req",
            "content-type;tr",
            "content-type;sf;bs",
            "@query-param",
            "@query-param;name=1",
        ] {
            assert!(ComponentId::parse_config(c).is_err(), "accepted {c}");
        }
    }

    #[test]
    fn parse_rejects_missing_labels_bad_types_and_duplicates() {
        assert_eq!(
            parse_signatures("a=(\"@method\")", "b=:AA==:"),
            Err(SigError::MissingSignatureForLabel)
        );
        assert_eq!(
            parse_signatures("a=(\"@method\");created=\"1\"", "a=:AA==:"),
            Err(SigError::BadParameter("created"))
        );
        assert!(matches!(
            parse_signatures("a=(\"@method\" \"@method\")", "a=:AA==:"),
            Err(SigError::DuplicateComponent(_))
        ));
        assert_eq!(
            parse_signatures("a=(@method)", "a=:AA==:"),
            Err(SigError::MalformedInput)
        );
        assert_eq!(
            parse_signatures("a=(\"@method\")", "a=\"x\""),
            Err(SigError::MalformedSignature)
        );
        assert_eq!(
            parse_signatures("a=(\"Content-Type\")", "a=:AA==:"),
            Err(SigError::MalformedInput)
        );
    }

    #[test]
    fn sign_then_verify_round_trip_both_algorithms() {
        let r = req("POST", "/foo?x=1", &[("content-type", "application/json")]);
        for key in [
            SigningKey::HmacSha256(b"secret-secret-secret".to_vec()),
            SigningKey::Ed25519([7u8; 32]),
        ] {
            let spec = SignSpec {
                label: "sig1".into(),
                keyid: "k1".into(),
                key: key.clone(),
                components: vec![
                    "@method".into(),
                    "@authority".into(),
                    "@path".into(),
                    "@query-param;name=\"x\"".into(),
                    "content-digest".into(),
                ],
                created: Some(100),
                expires: Some(400),
                nonce: Some("n1".into()),
                tag: Some("svc".into()),
                include_alg: true,
            };
            let added = sign_request(&r, Some(b"{}"), &spec).unwrap();
            assert_eq!(added.len(), 3);
            let mut signed = r.clone();
            signed.headers.extend(added.iter().cloned());
            let parsed = parse_signatures(
                signed.header("signature-input").unwrap(),
                signed.header("signature").unwrap(),
            )
            .unwrap();
            let p = &parsed[0];
            assert_eq!(p.keyid.as_deref(), Some("k1"));
            assert_eq!(p.created, Some(100));
            assert_eq!(p.nonce.as_deref(), Some("n1"));
            let base = signature_base(&signed, &p.components, &p.signature_params).unwrap();
            let keys = match &key {
                SigningKey::HmacSha256(s) => VerifyKeys::HmacSha256(vec![s.clone()]),
                SigningKey::Ed25519(seed) => VerifyKeys::Ed25519(vec![
                    ed25519_dalek::SigningKey::from_bytes(seed).verifying_key(),
                ]),
            };
            assert!(keys.verify(base.as_bytes(), &p.signature));
            let mut tampered = signed.clone();
            tampered.method = "PUT".into();
            let base2 = signature_base(&tampered, &p.components, &p.signature_params).unwrap();
            assert!(!keys.verify(base2.as_bytes(), &p.signature));
        }
    }
}
