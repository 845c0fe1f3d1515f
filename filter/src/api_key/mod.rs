//! API keys: a third credential beside JWTs and service credentials. A presented key is hashed
//! first (SHA-256 or HMAC-SHA256 with a pepper), the digest is looked up in a map, and the stored
//! digest is compared in constant time, so the work done does not depend on how much of a key an
//! attacker guessed. Unknown, expired and disabled keys are distinct in logs and metrics and
//! identical (one 401) to the client. Upstream sees the key's name in `x-api-key-name`, never the key.

pub mod config;
pub mod hash;
pub mod rfc3339;

use crate::config::{Config, ConfigError};
use crate::decision::LocalReply;
use crate::engine::{RequestContext, Step};
use crate::host::LogLevel;
use crate::request::RequestView;
use config::{ApiKeysConfig, KeyHashAlgorithm};
use hash::{digest_key, parse_digest_hex, KeyDigest};
use serde_json::json;
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// The header upstream services read the authenticated key's name from.
pub const API_KEY_NAME_HEADER: &str = "x-api-key-name";

/// The header an API key arrives in when there is no `api_keys` section (used by CSRF to
/// recognise requests a browser cannot forge).
pub const DEFAULT_API_KEY_HEADER: &str = "x-api-key";

/// Who an accepted API key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyIdentity {
    /// The key's configured name.
    pub name: String,
    /// The permissions it grants.
    pub permissions: Vec<String>,
}

/// Why an API key was not accepted. The client always gets the same 401; these are for logs
/// and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiKeyFailure {
    /// No key was presented.
    Missing,
    /// More than one key was presented (several headers, or header and Authorization).
    Ambiguous,
    /// The key matches no configured digest.
    Unknown,
    /// The key is configured but past its `expires_at`.
    Expired {
        /// Name of the key.
        name: String,
    },
    /// The key is configured with `enabled: false`.
    Disabled {
        /// Name of the key.
        name: String,
    },
}

/// The one message every rejected (presented but not accepted) key gets.
pub const INVALID_KEY_MESSAGE: &str = "invalid API key";
/// The message for a rule that requires a key when none was presented.
pub const MISSING_KEY_MESSAGE: &str = "API key required";

impl ApiKeyFailure {
    /// Machine reason for logs and metrics (`api_key_unknown`, ...).
    pub fn reason(&self) -> &'static str {
        match self {
            ApiKeyFailure::Missing => "api_key_missing",
            ApiKeyFailure::Ambiguous => "api_key_ambiguous",
            ApiKeyFailure::Unknown => "api_key_unknown",
            ApiKeyFailure::Expired { .. } => "api_key_expired",
            ApiKeyFailure::Disabled { .. } => "api_key_disabled",
        }
    }

    /// The message the client sees: the same for every presented-but-refused key.
    pub fn client_message(&self) -> &'static str {
        match self {
            ApiKeyFailure::Missing => MISSING_KEY_MESSAGE,
            _ => INVALID_KEY_MESSAGE,
        }
    }

    /// The key's name when it was recognised (expired, disabled), for logs.
    pub fn key_name(&self) -> Option<&str> {
        match self {
            ApiKeyFailure::Expired { name } | ApiKeyFailure::Disabled { name } => Some(name),
            _ => None,
        }
    }

    /// The 401 reply for this failure (same status, headers and body for every refused key).
    pub fn reply(&self) -> LocalReply {
        LocalReply::error(401, self.reason(), self.client_message())
            .header("www-authenticate", "ApiKey realm=\"edgeguard\"")
    }
}

#[derive(Clone)]
struct CompiledKey {
    name: String,
    digest: KeyDigest,
    permissions: Vec<String>,
    expires_at_nanos: Option<i128>,
    enabled: bool,
}

/// The compiled `api_keys` section.
#[derive(Clone)]
pub struct ApiKeys {
    header: String,
    scheme: Option<String>,
    pepper: Option<Vec<u8>>,
    forward_key: bool,
    by_digest: HashMap<KeyDigest, usize>,
    keys: Vec<CompiledKey>,
}

impl std::fmt::Debug for ApiKeys {
    // Never print digests or the pepper.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field("header", &self.header)
            .field("scheme", &self.scheme)
            .field("peppered", &self.pepper.is_some())
            .field(
                "keys",
                &self.keys.iter().map(|k| &k.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ApiKeys {
    /// Compile the config's `api_keys` section (None when absent). Reads the pepper from the
    /// environment now; a missing variable is a config error.
    pub fn compile(config: &Config) -> Result<Option<ApiKeys>, ConfigError> {
        match &config.api_keys {
            None => Ok(None),
            Some(c) => ApiKeys::from_section(c, "api_keys").map(Some),
        }
    }

    /// Compile one validated section found at `path`.
    pub fn from_section(c: &ApiKeysConfig, path: &str) -> Result<ApiKeys, ConfigError> {
        c.validate(path)?;
        let pepper = match (c.hash, &c.pepper) {
            (KeyHashAlgorithm::HmacSha256, Some(src)) => {
                let value = crate::environment::var(&src.env).ok_or_else(|| {
                    ConfigError::new(
                        format!("{path}.pepper.env"),
                        format!("environment variable {} is not set", src.env),
                    )
                })?;
                if value.is_empty() {
                    return Err(ConfigError::new(
                        format!("{path}.pepper.env"),
                        format!("environment variable {} is empty", src.env),
                    ));
                }
                Some(value.into_bytes())
            }
            _ => None,
        };
        let mut keys = Vec::with_capacity(c.keys.len());
        let mut by_digest = HashMap::with_capacity(c.keys.len());
        for (i, k) in c.keys.iter().enumerate() {
            let digest = parse_digest_hex(&k.hash).ok_or_else(|| {
                ConfigError::new(format!("{path}.keys[{i}].hash"), "must be 64 hex digits")
            })?;
            let expires_at_nanos = match &k.expires_at {
                Some(e) => Some(
                    rfc3339::parse_unix_nanos(e)
                        .map_err(|r| ConfigError::new(format!("{path}.keys[{i}].expires_at"), r))?,
                ),
                None => None,
            };
            by_digest.insert(digest, keys.len());
            keys.push(CompiledKey {
                name: k.name.clone(),
                digest,
                permissions: k.permissions.clone(),
                expires_at_nanos,
                enabled: k.enabled,
            });
        }
        Ok(ApiKeys {
            header: c.header.to_ascii_lowercase(),
            scheme: c.authorization_scheme.clone(),
            pepper,
            forward_key: c.forward_key,
            by_digest,
            keys,
        })
    }

    /// The header keys arrive in (lowercase).
    pub fn header_name(&self) -> &str {
        &self.header
    }

    /// The keys presented by this request, from the key header and (when configured)
    /// `Authorization: <scheme> <key>`.
    fn presented<'r>(&self, req: &'r RequestView) -> Vec<&'r str> {
        let mut found: Vec<&'r str> = Vec::new();
        for (name, value) in &req.headers {
            if *name == self.header {
                found.push(value.trim());
            } else if name == "authorization" {
                if let Some(key) = self
                    .scheme
                    .as_deref()
                    .and_then(|s| authorization_credential(value, s))
                {
                    found.push(key);
                }
            }
        }
        found
    }

    /// Does the request carry something in an API key position (valid or not)?
    pub fn is_presented(&self, req: &RequestView) -> bool {
        !self.presented(req).is_empty()
    }

    /// Check the request's API key. Constant-time with respect to the key value: the key is
    /// hashed first, the digest is looked up, and the stored digest is compared in constant time.
    pub fn verify(&self, ctx: &RequestContext<'_>) -> Result<ApiKeyIdentity, ApiKeyFailure> {
        let presented = self.presented(ctx.req);
        let key = match presented.as_slice() {
            [] => return Err(ApiKeyFailure::Missing),
            [one] => *one,
            _ => return Err(ApiKeyFailure::Ambiguous),
        };
        let digest = digest_key(key.as_bytes(), self.pepper.as_deref());
        let found = self.by_digest.get(&digest).and_then(|&i| self.keys.get(i));
        let Some(entry) = found else {
            return Err(ApiKeyFailure::Unknown);
        };
        if !bool::from(entry.digest.ct_eq(&digest)) {
            return Err(ApiKeyFailure::Unknown);
        }
        if !entry.enabled {
            return Err(ApiKeyFailure::Disabled {
                name: entry.name.clone(),
            });
        }
        if let Some(exp) = entry.expires_at_nanos {
            if i128::from(ctx.host.now_nanos()) >= exp {
                return Err(ApiKeyFailure::Expired {
                    name: entry.name.clone(),
                });
            }
        }
        Ok(ApiKeyIdentity {
            name: entry.name.clone(),
            permissions: entry.permissions.clone(),
        })
    }

    /// Record an accepted key: identity name and permissions, `x-api-key-name` upstream, and
    /// (unless `forward_key`) the key header removed from the upstream request.
    pub fn accept(&self, ctx: &mut RequestContext<'_>, id: ApiKeyIdentity) {
        ctx.upstream
            .set
            .push((API_KEY_NAME_HEADER.to_string(), id.name.clone()));
        if !self.forward_key {
            ctx.upstream.remove.push(self.header.clone());
            if let Some(scheme) = &self.scheme {
                if ctx
                    .req
                    .header_values("authorization")
                    .any(|v| authorization_credential(v, scheme).is_some())
                {
                    ctx.upstream.remove.push("authorization".to_string());
                }
            }
        }
        for p in id.permissions {
            if !ctx.identity.permissions.contains(&p) {
                ctx.identity.permissions.push(p);
            }
        }
        ctx.identity.api_key_name = Some(id.name);
        ctx.host.count("edgeguard_api_key_accepted_total", 1);
    }

    /// The rule-level check: verify, then accept or answer 401. A missing key passes when
    /// `required` is false (a presented key is still verified).
    pub fn authenticate(&self, ctx: &mut RequestContext<'_>, required: bool) -> Step {
        match self.verify(ctx) {
            Ok(id) => {
                self.accept(ctx, id);
                Step::Next
            }
            Err(ApiKeyFailure::Missing) if !required => Step::Next,
            Err(failure) => {
                log_rejection(ctx, &failure);
                Step::Respond(failure.reply())
            }
        }
    }
}

/// Log and count a refused key: the reason and, when recognised, the key's name; never the key.
pub fn log_rejection(ctx: &RequestContext<'_>, failure: &ApiKeyFailure) {
    ctx.host.count(
        &format!("edgeguard_api_key_rejected_{}_total", failure.reason()),
        1,
    );
    crate::log::event(
        ctx.host,
        LogLevel::Info,
        "api_key_rejected",
        &[
            ("rule", json!(ctx.rule_name)),
            ("reason", json!(failure.reason())),
            ("key_name", json!(failure.key_name())),
            ("client_ip", json!(ctx.client_ip.map(|i| i.to_string()))),
            ("request_id", json!(ctx.req.header("x-request-id"))),
        ],
    );
}

/// The credential of an `Authorization` value when its scheme is `scheme` (case-insensitive).
pub fn authorization_credential<'v>(value: &'v str, scheme: &str) -> Option<&'v str> {
    let value = value.trim();
    let (s, rest) = value.split_once([' ', '\t'])?;
    if s.eq_ignore_ascii_case(scheme) {
        let cred = rest.trim();
        (!cred.is_empty()).then_some(cred)
    } else {
        None
    }
}
