//! Service-to-service credentials: RFC 9421 HTTP Message Signatures (`hmac-sha256`,
//! `ed25519`, with RFC 9530 `Content-Digest` checked against the body) and the simple
//! `X-Service-Token` our users' services already send.
//!
//! [`ServiceAuth::on_request`] is the pipeline stage: it always strips incoming copies of the
//! identity header, and on rules with a `service_auth` field verifies the credential, forwards
//! the service id upstream and sets `identity.service_id`. [`ServiceAuth::verify`] is the same
//! check without side effects on the request, for the requirement tree.

pub mod config;
pub mod content_digest;
pub mod message_signature;
pub mod policy;
pub mod replay;
pub mod service_token;
pub mod structured_fields;

pub use message_signature::{sign_request, SignSpec, SigningKey};
pub use service_token::make_service_token;

use crate::config::{Config, ConfigError};
use crate::decision::LocalReply;
use crate::engine::{RequestContext, Step};
use crate::host::LogLevel;
use crate::request::RequestView;
use config::{
    CredentialKind, RuleServiceAuth, SecretEncoding, SignatureAlgorithm, SignaturePolicyConfig,
};
use content_digest::DigestError;
use message_signature::{ParsedSignature, SigError, VerifyKeys};
use policy::SignaturePolicy;
use replay::{ReplayCache, ReplayError};
use serde_json::json;
use service_token::{TokenError, TokenVerifier};

/// Default header carrying the verified service id upstream.
pub const DEFAULT_IDENTITY_HEADER: &str = "x-service-id";
/// Default header carrying a simple service token.
pub const DEFAULT_TOKEN_HEADER: &str = "x-service-token";
/// Default largest body buffered for a `Content-Digest` check.
pub const DEFAULT_MAX_BODY: u64 = 1024 * 1024;

/// Who a verified service credential says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceIdentity {
    /// The calling service's id.
    pub service_id: String,
    /// Which credential proved it.
    pub kind: CredentialKind,
    /// The signature key used (message signatures only).
    pub keyid: Option<String>,
}

/// Why a service credential was refused. Messages never contain secrets, tokens or
/// signatures; [`ServiceAuthFailure::class`] is the coarse reason named in the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceAuthFailure {
    /// Not a failure: the check needs the request body; call again once `ctx.body` is set.
    NeedBody,
    /// No credential of an accepted kind.
    Missing,
    /// The signature headers are malformed, a component is absent, or the bytes do not verify.
    Signature(SigError),
    /// No `keyid`, or one we do not know.
    UnknownKey,
    /// The `alg` parameter differs from the key's algorithm.
    AlgorithmMismatch,
    /// The signature does not cover a component the policy requires.
    MissingComponent(String),
    /// `created` is required and absent.
    MissingCreated,
    /// `nonce` is required and absent.
    MissingNonce,
    /// `tag` differs from the required one.
    TagMismatch,
    /// Older than the max age, or past `expires`.
    SignatureExpired,
    /// `created` is in the future.
    SignatureFromFuture,
    /// `Content-Digest` did not verify against the body.
    Digest(DigestError),
    /// The body is larger than `max_body_bytes`.
    BodyTooLarge,
    /// A service token was refused.
    Token(TokenError),
    /// The credential was used before.
    Replayed,
    /// Verified, but this service may not call this route.
    ServiceNotAllowed,
    /// We could not decide (replay cache unavailable or full): `failure_mode` applies.
    Internal(&'static str),
}

impl ServiceAuthFailure {
    /// Reason class for replies: `missing`, `signature_invalid`, `expired`, `replayed`,
    /// `unknown_key`, `forbidden`, `body_too_large`, `internal`.
    pub fn class(&self) -> &'static str {
        use ServiceAuthFailure as F;
        match self {
            F::NeedBody => "need_body",
            F::Missing => "missing",
            F::UnknownKey | F::Token(TokenError::UnknownService) => "unknown_key",
            F::SignatureExpired
            | F::SignatureFromFuture
            | F::Token(TokenError::Expired | TokenError::Future) => "expired",
            F::Replayed => "replayed",
            F::ServiceNotAllowed => "forbidden",
            F::BodyTooLarge => "body_too_large",
            F::Internal(_) => "internal",
            _ => "signature_invalid",
        }
    }

    /// Specific reason for logs and metrics (`edgeguard_denied_<reason>_total`).
    pub fn reason(&self) -> &'static str {
        use ServiceAuthFailure as F;
        match self {
            F::NeedBody => "service_auth_need_body",
            F::Missing => "service_auth_missing",
            F::Signature(SigError::BadSignature) => "service_signature_invalid",
            F::Signature(_) => "service_signature_malformed",
            F::UnknownKey => "service_signature_unknown_key",
            F::AlgorithmMismatch => "service_signature_alg_mismatch",
            F::MissingComponent(_) | F::MissingCreated | F::MissingNonce | F::TagMismatch => {
                "service_signature_policy"
            }
            F::SignatureExpired => "service_signature_expired",
            F::SignatureFromFuture => "service_signature_future",
            F::Digest(_) => "service_content_digest_invalid",
            F::BodyTooLarge => "service_auth_body_too_large",
            F::Token(e) => match e {
                TokenError::Malformed | TokenError::BadTimestamp => "service_token_malformed",
                TokenError::UnknownService => "service_token_unknown_service",
                TokenError::BadHex => "service_token_bad_hex",
                TokenError::BadSignature => "service_token_bad_signature",
                TokenError::WrongTarget => "service_token_wrong_target",
                TokenError::Expired => "service_token_expired",
                TokenError::Future => "service_token_future",
            },
            F::Replayed => "service_auth_replayed",
            F::ServiceNotAllowed => "service_not_allowed",
            F::Internal(_) => "service_auth_internal",
        }
    }

    /// HTTP status of the reply.
    pub fn status(&self) -> u16 {
        match self {
            ServiceAuthFailure::ServiceNotAllowed => 403,
            ServiceAuthFailure::BodyTooLarge => 413,
            ServiceAuthFailure::Internal(_) => 503,
            _ => 401,
        }
    }

    /// The exact message users see.
    pub fn message(&self) -> String {
        use ServiceAuthFailure as F;
        let detail = match self {
            F::NeedBody => "the request body is needed".to_string(),
            F::Missing => {
                "no service credential (Signature / Signature-Input or service token)".to_string()
            }
            F::Signature(e) => e.to_string(),
            F::UnknownKey => "signature keyid is missing or unknown".to_string(),
            F::AlgorithmMismatch => "signature alg does not match the key".to_string(),
            F::MissingComponent(c) => format!("signature must cover {c}"),
            F::MissingCreated => "signature must have a created parameter".to_string(),
            F::MissingNonce => "signature must have a nonce parameter".to_string(),
            F::TagMismatch => "signature tag is not the required one".to_string(),
            F::SignatureExpired => "signature has expired".to_string(),
            F::SignatureFromFuture => "signature created time is in the future".to_string(),
            F::Digest(e) => e.message().to_string(),
            F::BodyTooLarge => "request body is too large to verify".to_string(),
            F::Token(e) => e.message().to_string(),
            F::Replayed => ReplayError::Replayed.message().to_string(),
            F::ServiceNotAllowed => "this service may not call this route".to_string(),
            F::Internal(m) => (*m).to_string(),
        };
        format!("{}: {detail}", self.class())
    }

    /// The local reply for this failure.
    pub fn reply(&self) -> LocalReply {
        LocalReply::error(self.status(), self.reason(), &self.message())
    }
}

struct CompiledKey {
    keyid: String,
    alg: SignatureAlgorithm,
    service_id: String,
    verify: VerifyKeys,
    /// Section policy overlaid with the key's own.
    policy_config: SignaturePolicyConfig,
}

impl std::fmt::Debug for CompiledKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledKey")
            .field("keyid", &self.keyid)
            .field("alg", &self.alg)
            .field("service_id", &self.service_id)
            .finish_non_exhaustive()
    }
}

struct CompiledTokens {
    header: String,
    verifier: TokenVerifier,
    replay_protection: bool,
}

impl std::fmt::Debug for CompiledTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledTokens")
            .field("header", &self.header)
            .field("replay_protection", &self.replay_protection)
            .finish_non_exhaustive()
    }
}

/// A rule's compiled service-auth requirement (also what [`ServiceAuth::verify`] takes).
#[derive(Debug, Clone)]
pub struct RulePolicy {
    /// A credential must be present.
    pub required: bool,
    /// Accepted kinds.
    pub kinds: Vec<CredentialKind>,
    /// Allowed service ids (`None` = any).
    pub allowed_services: Option<Vec<String>>,
    /// Target name tokens must carry.
    pub target_service: Option<String>,
    /// Signature policy per key (same order as the section's keys).
    per_key: Vec<SignaturePolicy>,
}

/// Compiled `service_auth` section.
#[derive(Debug)]
pub struct ServiceAuth {
    /// False when the config has no `service_auth` section (then the stage does nothing).
    enabled: bool,
    identity_header: String,
    max_body: u64,
    keys: Vec<CompiledKey>,
    tokens: Option<CompiledTokens>,
    service_name: Option<String>,
    replay: ReplayCache,
    rules: Vec<Option<RulePolicy>>,
    /// Policies of the requirement trees' `service_auth` leaves.
    requirement_policies: Vec<RulePolicy>,
    default_policy: Option<RulePolicy>,
}

impl Default for ServiceAuth {
    fn default() -> Self {
        ServiceAuth {
            enabled: false,
            identity_header: DEFAULT_IDENTITY_HEADER.to_string(),
            max_body: DEFAULT_MAX_BODY,
            keys: Vec::new(),
            tokens: None,
            service_name: None,
            replay: ReplayCache::new(1, 1),
            rules: Vec::new(),
            requirement_policies: Vec::new(),
            default_policy: None,
        }
    }
}

/// The body comparison left after a signature covering `content-digest` verified at header
/// time (see [`ServiceAuth::verify_deferring_body`]); the `Content-Digest` value it holds is
/// authenticated by that signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingBodyCheck {
    content_digest: String,
    max_body: u64,
}

impl PendingBodyCheck {
    /// Compare the complete body with the signed digest (413 above `max_body_bytes`).
    pub fn check(&self, body: &[u8]) -> Result<(), ServiceAuthFailure> {
        if body.len() as u64 > self.max_body {
            return Err(ServiceAuthFailure::BodyTooLarge);
        }
        content_digest::verify(&self.content_digest, body).map_err(ServiceAuthFailure::Digest)
    }
}

/// Per-request service-auth state.
#[derive(Debug, Default)]
pub struct ServiceAuthStream {
    /// The verified identity, once verified.
    pub verified: Option<ServiceIdentity>,
    /// The body comparison still to do (signature already verified at header time).
    pub pending_body: Option<PendingBodyCheck>,
    /// Incoming identity headers were scheduled for removal (once per request).
    pub stripped: bool,
}

impl ServiceAuth {
    /// Compile from the whole config: resolve secrets (environment variables are read now)
    /// and check every rule's `service_auth` against the section.
    pub fn compile(config: &Config) -> Result<ServiceAuth, ConfigError> {
        let section = config.service_auth.as_ref();
        for (i, rule) in config.rules.iter().enumerate() {
            if let Some(r) = &rule.service_auth {
                r.validate(&format!("rules[{i}].service_auth"), section)?;
            }
        }
        let Some(section) = section else {
            return Ok(ServiceAuth::default());
        };
        section.validate("service_auth")?;
        let mut auth = ServiceAuth {
            enabled: true,
            identity_header: section
                .identity_header
                .clone()
                .unwrap_or_else(|| DEFAULT_IDENTITY_HEADER.to_string()),
            max_body: section.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY),
            service_name: section.service_name.clone(),
            replay: ReplayCache::new(
                section.replay_cache.shards,
                section.replay_cache.max_entries_per_shard,
            ),
            ..ServiceAuth::default()
        };
        for (keyid, key) in &section.keys {
            let path = format!("service_auth.keys.{keyid}");
            let verify = match key.alg {
                SignatureAlgorithm::HmacSha256 => VerifyKeys::HmacSha256(
                    key.secrets
                        .iter()
                        .enumerate()
                        .map(|(i, s)| {
                            s.resolve(&format!("{path}.secrets[{i}]"), SecretEncoding::Utf8)
                        })
                        .collect::<Result<_, _>>()?,
                ),
                SignatureAlgorithm::Ed25519 => {
                    let mut keys = Vec::new();
                    for (i, s) in key.public_keys.iter().enumerate() {
                        let p = format!("{path}.public_keys[{i}]");
                        let (text, enc) = s.resolve_text(&p)?;
                        let bytes = if text.contains("-----BEGIN") {
                            text.into_bytes()
                        } else {
                            config::decode_text(text.trim(), enc.unwrap_or(SecretEncoding::Base64))
                                .map_err(|e| ConfigError::new(&p, e))?
                        };
                        keys.push(
                            message_signature::ed25519_public_key(&bytes)
                                .map_err(|e| ConfigError::new(&p, e))?,
                        );
                    }
                    VerifyKeys::Ed25519(keys)
                }
            };
            let policy_config = match &key.policy {
                Some(p) => section.policy.overlay(p),
                None => section.policy.clone(),
            };
            auth.keys.push(CompiledKey {
                keyid: keyid.clone(),
                alg: key.alg,
                service_id: key.service_id.clone().unwrap_or_else(|| keyid.clone()),
                verify,
                policy_config,
            });
        }
        if let Some(t) = &section.service_tokens {
            let mut services = Vec::new();
            for (id, svc) in &t.services {
                let secrets = svc
                    .secrets
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        s.resolve(
                            &format!("service_auth.service_tokens.services.{id}.secrets[{i}]"),
                            SecretEncoding::Utf8,
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                services.push((id.clone(), secrets));
            }
            auth.tokens = Some(CompiledTokens {
                header: t
                    .header
                    .as_deref()
                    .unwrap_or(DEFAULT_TOKEN_HEADER)
                    .to_ascii_lowercase(),
                verifier: TokenVerifier {
                    services,
                    ttl: i64::try_from(t.ttl_seconds.unwrap_or(policy::DEFAULT_MAX_AGE))
                        .unwrap_or(i64::MAX / 4),
                    skew: i64::try_from(t.clock_skew_seconds.unwrap_or(policy::DEFAULT_SKEW))
                        .unwrap_or(i64::MAX / 4),
                },
                replay_protection: t.replay_protection,
            });
        }
        auth.default_policy =
            Some(auth.compile_rule_policy(&RuleServiceAuth::default(), "service_auth")?);
        for (i, rule) in config.rules.iter().enumerate() {
            let compiled = match &rule.service_auth {
                Some(r) => {
                    Some(auth.compile_usable_policy(r, &format!("rules[{i}].service_auth"))?)
                }
                None => None,
            };
            auth.rules.push(compiled);
        }
        Ok(auth)
    }

    /// [`ServiceAuth::compile_rule_policy`], refusing a policy no credential could satisfy.
    fn compile_usable_policy(
        &self,
        rule: &RuleServiceAuth,
        path: &str,
    ) -> Result<RulePolicy, ConfigError> {
        let p = self.compile_rule_policy(rule, path)?;
        if p.kinds.is_empty() {
            return Err(ConfigError::new(
                path,
                "service_auth has neither keys nor service_tokens configured",
            ));
        }
        if p.kinds.contains(&CredentialKind::ServiceToken) && p.target_service.is_none() {
            return Err(ConfigError::new(
                format!("{path}.target_service"),
                "service tokens need a target: set service_auth.service_name or this field",
            ));
        }
        Ok(p)
    }

    /// Compile a requirement tree's `service_auth` leaf found at `path` (validated against
    /// `section`); returns the index [`ServiceAuth::requirement_policy`] takes.
    pub fn add_requirement_policy(
        &mut self,
        leaf: &RuleServiceAuth,
        path: &str,
        section: Option<&config::ServiceAuthConfig>,
    ) -> Result<usize, ConfigError> {
        leaf.validate(path, section)?;
        let policy = self.compile_usable_policy(leaf, path)?;
        self.requirement_policies.push(policy);
        Ok(self.requirement_policies.len() - 1)
    }

    /// The policy of a requirement tree's `service_auth` leaf.
    pub fn requirement_policy(&self, index: usize) -> Option<&RulePolicy> {
        self.requirement_policies.get(index)
    }

    /// Compile a per-route requirement against this section (the requirement tree's
    /// `service_auth` leaf can call this with its own settings).
    pub fn compile_rule_policy(
        &self,
        rule: &RuleServiceAuth,
        path: &str,
    ) -> Result<RulePolicy, ConfigError> {
        let mut per_key = Vec::with_capacity(self.keys.len());
        for key in &self.keys {
            let merged = match &rule.policy {
                Some(p) => key.policy_config.overlay(p),
                None => key.policy_config.clone(),
            };
            per_key.push(SignaturePolicy::compile(
                &merged,
                &format!("{path}.policy"),
            )?);
        }
        let kinds = rule.kinds.clone().unwrap_or_else(|| {
            let mut k = Vec::new();
            if !self.keys.is_empty() {
                k.push(CredentialKind::MessageSignature);
            }
            if self.tokens.is_some() {
                k.push(CredentialKind::ServiceToken);
            }
            k
        });
        Ok(RulePolicy {
            required: rule.required.unwrap_or(true),
            kinds,
            allowed_services: rule.allowed_services.clone(),
            target_service: rule
                .target_service
                .clone()
                .or_else(|| self.service_name.clone()),
            per_key,
        })
    }

    /// The compiled requirement of rule `index`, if that rule has `service_auth`.
    pub fn rule_policy(&self, index: usize) -> Option<&RulePolicy> {
        self.rules.get(index).and_then(Option::as_ref)
    }

    /// The section-wide requirement (required, every configured kind, section policy).
    pub fn default_policy(&self) -> Option<&RulePolicy> {
        self.default_policy.as_ref()
    }

    /// The header the verified service id is forwarded in.
    pub fn identity_header(&self) -> &str {
        &self.identity_header
    }

    /// Verify the request's service credential under `policy` (no change to the request;
    /// replay entries are recorded on success). A message signature is preferred when both
    /// kinds are present. `Err(NeedBody)` asks to be called again with the body.
    pub fn verify(
        &self,
        ctx: &RequestContext<'_>,
        policy: &RulePolicy,
    ) -> Result<ServiceIdentity, ServiceAuthFailure> {
        self.verify_inner(ctx, policy, false).map(|(id, _)| id)
    }

    /// Like [`ServiceAuth::verify`], but never asks for the body: when the signature covers
    /// `content-digest` and the body has not arrived, the signature (which authenticates the
    /// `Content-Digest` header) is verified now and the body comparison is returned as a
    /// [`PendingBodyCheck`] to run when the body is complete. This is the shape proxy-wasm in
    /// Envoy needs: request headers can only be changed before they are released, and a
    /// filter that pauses its headers receives no body callbacks until it resumes.
    pub fn verify_deferring_body(
        &self,
        ctx: &RequestContext<'_>,
        policy: &RulePolicy,
    ) -> Result<(ServiceIdentity, Option<PendingBodyCheck>), ServiceAuthFailure> {
        self.verify_inner(ctx, policy, true)
    }

    fn verify_inner(
        &self,
        ctx: &RequestContext<'_>,
        policy: &RulePolicy,
        defer_body: bool,
    ) -> Result<(ServiceIdentity, Option<PendingBodyCheck>), ServiceAuthFailure> {
        let req = ctx.req;
        let sig_ok = policy.kinds.contains(&CredentialKind::MessageSignature);
        let tok_ok = policy.kinds.contains(&CredentialKind::ServiceToken);
        let (identity, pending) = if sig_ok && req.header("signature-input").is_some() {
            self.verify_signature(ctx, policy, defer_body)?
        } else if let (true, Some(tokens)) = (tok_ok, &self.tokens) {
            match req.header(&tokens.header) {
                Some(token) => (self.verify_token(ctx, policy, tokens, token)?, None),
                None => return Err(ServiceAuthFailure::Missing),
            }
        } else {
            return Err(ServiceAuthFailure::Missing);
        };
        if let Some(allowed) = &policy.allowed_services {
            if !allowed.contains(&identity.service_id) {
                return Err(ServiceAuthFailure::ServiceNotAllowed);
            }
        }
        Ok((identity, pending))
    }

    fn verify_token(
        &self,
        ctx: &RequestContext<'_>,
        policy: &RulePolicy,
        tokens: &CompiledTokens,
        token: &str,
    ) -> Result<ServiceIdentity, ServiceAuthFailure> {
        let now = secs(ctx);
        let Some(target) = policy.target_service.as_deref() else {
            return Err(ServiceAuthFailure::Internal(
                "no service_name configured for service tokens",
            ));
        };
        let verified = tokens
            .verifier
            .verify(token, target, now)
            .map_err(ServiceAuthFailure::Token)?;
        if tokens.replay_protection {
            let until = verified
                .issued_at
                .saturating_add(tokens.verifier.ttl)
                .saturating_add(tokens.verifier.skew);
            self.admit(ctx, "token", token.trim().as_bytes(), until)?;
        }
        Ok(ServiceIdentity {
            service_id: verified.service_id,
            kind: CredentialKind::ServiceToken,
            keyid: None,
        })
    }

    fn verify_signature(
        &self,
        ctx: &RequestContext<'_>,
        policy: &RulePolicy,
        defer_body: bool,
    ) -> Result<(ServiceIdentity, Option<PendingBodyCheck>), ServiceAuthFailure> {
        let req = ctx.req;
        let input = join_field(req, "signature-input");
        let signature = join_field(req, "signature");
        let parsed = message_signature::parse_signatures(&input, &signature)
            .map_err(ServiceAuthFailure::Signature)?;
        let mut first_error = None;
        for sig in &parsed {
            let Some(index) = sig
                .keyid
                .as_deref()
                .and_then(|id| self.keys.iter().position(|k| k.keyid == id))
            else {
                continue;
            };
            let (Some(key), Some(pol)) = (self.keys.get(index), policy.per_key.get(index)) else {
                continue;
            };
            match self.check_one(ctx, key, pol, sig, defer_body) {
                Ok(id) => return Ok(id),
                Err(ServiceAuthFailure::NeedBody) => return Err(ServiceAuthFailure::NeedBody),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(ServiceAuthFailure::UnknownKey))
    }

    fn check_one(
        &self,
        ctx: &RequestContext<'_>,
        key: &CompiledKey,
        pol: &SignaturePolicy,
        sig: &ParsedSignature,
        defer_body: bool,
    ) -> Result<(ServiceIdentity, Option<PendingBodyCheck>), ServiceAuthFailure> {
        use ServiceAuthFailure as F;
        let req = ctx.req;
        if let Some(alg) = &sig.alg {
            if alg != key.alg.name() {
                return Err(F::AlgorithmMismatch);
            }
        }
        for required in &pol.required {
            if !sig.components.iter().any(|c| c.satisfies(required)) {
                return Err(F::MissingComponent(required.serialize()));
            }
        }
        let covers_digest = sig.components.iter().any(|c| c.name == "content-digest");
        if pol.require_content_digest && has_body(req) && !covers_digest {
            return Err(F::MissingComponent("\"content-digest\"".to_string()));
        }
        if let Some(tag) = &pol.required_tag {
            if sig.tag.as_ref() != Some(tag) {
                return Err(F::TagMismatch);
            }
        }
        if pol.require_created && sig.created.is_none() {
            return Err(F::MissingCreated);
        }
        if pol.require_nonce && sig.nonce.is_none() {
            return Err(F::MissingNonce);
        }
        let now = secs(ctx);
        if let Some(created) = sig.created {
            if created > now.saturating_add(pol.skew) {
                return Err(F::SignatureFromFuture);
            }
            if now.saturating_sub(created) > pol.max_age.saturating_add(pol.skew) {
                return Err(F::SignatureExpired);
            }
        }
        if let Some(expires) = sig.expires {
            if now > expires.saturating_add(pol.skew) {
                return Err(F::SignatureExpired);
            }
        }
        if covers_digest {
            match ctx.body {
                None => {
                    if declared_length(req).is_some_and(|l| l > self.max_body) {
                        return Err(F::BodyTooLarge);
                    }
                    if !defer_body {
                        return Err(F::NeedBody);
                    }
                }
                Some(body) if body.len() as u64 > self.max_body => return Err(F::BodyTooLarge),
                Some(_) => {}
            }
        }
        let base = message_signature::signature_base(req, &sig.components, &sig.signature_params)
            .map_err(F::Signature)?;
        if !key.verify.verify(base.as_bytes(), &sig.signature) {
            return Err(F::Signature(SigError::BadSignature));
        }
        let mut pending = None;
        if covers_digest {
            let check = PendingBodyCheck {
                content_digest: join_field(req, "content-digest"),
                max_body: self.max_body,
            };
            match ctx.body {
                Some(body) => check.check(body)?,
                None => pending = Some(check),
            }
        }
        if pol.replay_protection {
            let mut until = match sig.created {
                Some(c) => c.saturating_add(pol.max_age).saturating_add(pol.skew),
                None => now.saturating_add(pol.max_age).saturating_add(pol.skew),
            };
            if let Some(e) = sig.expires {
                until = until.min(e.saturating_add(pol.skew));
            }
            let id: &[u8] = match &sig.nonce {
                Some(n) => n.as_bytes(),
                None => &sig.signature,
            };
            self.admit(ctx, &key.keyid, id, until)?;
        }
        Ok((
            ServiceIdentity {
                service_id: key.service_id.clone(),
                kind: CredentialKind::MessageSignature,
                keyid: Some(key.keyid.clone()),
            },
            pending,
        ))
    }

    fn admit(
        &self,
        ctx: &RequestContext<'_>,
        scope: &str,
        id: &[u8],
        until: i64,
    ) -> Result<(), ServiceAuthFailure> {
        let until = u64::try_from(until).unwrap_or(0);
        self.replay
            .check_and_insert(ctx.host, scope, id, until)
            .map_err(|e| match e {
                ReplayError::Replayed => {
                    crate::events::security_event(
                        ctx,
                        crate::events::SecurityEventKind::ServiceCredentialReplay,
                        "service_auth_replayed",
                        Some(scope),
                    );
                    ServiceAuthFailure::Replayed
                }
                other => ServiceAuthFailure::Internal(other.message()),
            })
    }

    /// The pipeline stage (when the section is configured): strip incoming identity headers; on rules with `service_auth`,
    /// verify, forward the identity, or answer 401/403/413.
    pub fn on_request(&self, ctx: &mut RequestContext<'_>, stream: &mut ServiceAuthStream) -> Step {
        if !self.enabled {
            return Step::Next;
        }
        if !stream.stripped {
            stream.stripped = true;
            ctx.upstream.remove.push(self.identity_header.clone());
        }
        // Second pass, body arrived: only the digest comparison is left (for a credential
        // verified here or by a requirement tree's `service_auth` leaf).
        if let Some(pending) = stream.pending_body.as_ref() {
            let Some(body) = ctx.body else {
                return Step::NeedBody;
            };
            return match pending.check(body) {
                Ok(()) => {
                    stream.pending_body = None;
                    Step::Next
                }
                Err(e) => self.reject(ctx, e),
            };
        }
        if stream.verified.is_some() {
            // A requirement tree verified the credential already.
            return Step::Next;
        }
        let Some(policy) = ctx.rule.and_then(|i| self.rule_policy(i)) else {
            return Step::Next;
        };
        // The signature (which covers the Content-Digest header) is verified now and the
        // identity decided now, so header changes are known before the body is awaited.
        match self.verify_deferring_body(ctx, policy) {
            Ok((identity, pending)) => {
                self.accept(ctx, stream, identity, pending);
                if stream.pending_body.is_some() {
                    Step::NeedBody
                } else {
                    Step::Next
                }
            }
            Err(ServiceAuthFailure::NeedBody) => Step::NeedBody,
            Err(ServiceAuthFailure::Missing) if !policy.required => {
                ctx.host.count("edgeguard_service_auth_absent_total", 1);
                Step::Next
            }
            Err(e) => self.reject(ctx, e),
        }
    }

    /// Record a verified credential: metrics, a debug line, the identity header upstream,
    /// `identity.service_id`, and the body comparison still to do (if any).
    pub fn accept(
        &self,
        ctx: &mut RequestContext<'_>,
        stream: &mut ServiceAuthStream,
        identity: ServiceIdentity,
        pending: Option<PendingBodyCheck>,
    ) {
        let kind = match identity.kind {
            CredentialKind::MessageSignature => "signature",
            CredentialKind::ServiceToken => "token",
        };
        ctx.host
            .count(&format!("edgeguard_service_auth_ok_{kind}_total"), 1);
        crate::log::event(
            ctx.host,
            LogLevel::Debug,
            "service_authenticated",
            &[
                ("rule", json!(ctx.rule_name)),
                ("service_id", json!(identity.service_id)),
                ("kind", json!(kind)),
                ("keyid", json!(identity.keyid)),
            ],
        );
        ctx.upstream
            .set
            .push((self.identity_header.clone(), identity.service_id.clone()));
        ctx.identity.service_id = Some(identity.service_id.clone());
        stream.verified = Some(identity);
        stream.pending_body = pending;
    }

    /// Count a refused credential and build the step (`Internal` → `failure_mode`).
    pub fn refuse(&self, ctx: &RequestContext<'_>, e: ServiceAuthFailure) -> Step {
        // Per reason class; the engine also counts `edgeguard_denied_<reason>_total`.
        ctx.host
            .count(&format!("edgeguard_service_auth_{}_total", e.class()), 1);
        match e {
            ServiceAuthFailure::Internal(m) => Step::Error(m.to_string()),
            other => Step::Respond(other.reply()),
        }
    }

    fn reject(&self, ctx: &mut RequestContext<'_>, e: ServiceAuthFailure) -> Step {
        if ctx
            .upstream
            .set
            .iter()
            .any(|(k, _)| *k == self.identity_header)
        {
            // A body check failed after the identity was decided: take it back.
            ctx.upstream.set.retain(|(k, _)| *k != self.identity_header);
            ctx.identity.service_id = None;
        }
        self.refuse(ctx, e)
    }
}

fn secs(ctx: &RequestContext<'_>) -> i64 {
    i64::try_from(ctx.host.now_secs()).unwrap_or(i64::MAX / 4)
}

/// All lines of a field joined with `, ` (how a structured field spread over lines parses).
fn join_field(req: &RequestView, name: &str) -> String {
    req.header_values(name).collect::<Vec<_>>().join(", ")
}

fn declared_length(req: &RequestView) -> Option<u64> {
    req.header("content-length")?.trim().parse().ok()
}

/// Whether the request (probably) has a body: a non-zero `content-length`, any
/// `transfer-encoding`, or a POST/PUT/PATCH without `content-length` (HTTP/2 may omit it).
/// Errs towards "yes", which only makes the policy ask for `content-digest`.
fn has_body(req: &RequestView) -> bool {
    match req.header("content-length") {
        Some(v) => v.trim().parse::<u64>().map_or(true, |n| n > 0),
        None => {
            req.header("transfer-encoding").is_some()
                || matches!(req.method.as_str(), "POST" | "PUT" | "PATCH")
        }
    }
}

#[cfg(test)]
mod tests;
