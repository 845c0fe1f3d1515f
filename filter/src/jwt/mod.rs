//! JWT authentication compatible with Envoy's `jwt_authn` (same config, statuses, replies),
//! plus claim/permission authorization and revoked `jti`s.
//!
//! Which requirement applies: an edgeguard rule's own `requires` wins; otherwise
//! `jwt_authn.rules` decide (first match, as in Envoy); otherwise no JWT is required.
//! Incoming copies of every header edgeguard sets from claims are always removed first.

pub mod authenticator;
pub mod authz;
pub mod cache;
pub mod config;
pub mod ec;
pub mod extractor;
pub mod jwks;
pub mod remote;
pub mod route;
pub mod rsa;
pub mod status;
pub mod verifier;

#[cfg(test)]
mod corpus;
#[cfg(test)]
mod requirement_tests;
#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod wycheproof_tests;

use crate::api_key::{ApiKeyFailure, ApiKeyIdentity, ApiKeys};
use crate::config::{Config, ConfigError};
use crate::decision::LocalReply;
use crate::engine::{RequestContext, Step};
use crate::host::Host;
use crate::request::RequestView;
use crate::service_auth::{
    PendingBodyCheck, ServiceAuth, ServiceAuthFailure, ServiceAuthStream, ServiceIdentity,
};
use authenticator::{ClaimPolicy, ParsedJwt};
use authz::{Denial, RuleAuthz};
use cache::TokenCache;
use extractor::{Extractor, FoundToken};
use jwks::Jwks;
use remote::{KeysState, RemoteKeys};
use serde_json::Value;
use status::JwtStatus;
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;
use verifier::{AuthFailure, Node, Outcome, TokenChecker};

/// Where a provider's keys come from.
#[derive(Debug)]
enum KeySource {
    Local(Rc<Jwks>),
    Remote(Box<RemoteKeys>),
}

/// A compiled provider.
#[derive(Debug)]
struct Provider {
    name: String,
    policy: ClaimPolicy,
    extractor: Extractor,
    keys: KeySource,
    forward: bool,
    forward_payload_header: Option<String>,
    pad_forward_payload_header: bool,
    claim_to_headers: Vec<(String, String)>,
    cache: TokenCache,
}

/// Compiled `jwt_authn` section and per-rule requirements.
#[derive(Debug, Default)]
pub struct JwtAuthn {
    providers: Vec<Provider>,
    jwt_rules: Vec<(route::JwtRoute, Option<Node>)>,
    rule_requirements: Vec<Option<Node>>,
    rule_authz: Vec<RuleAuthz>,
    bypass_cors_preflight: bool,
    strip_failure_response: bool,
    revoked_jti: HashSet<String>,
    stripped_headers: Vec<String>,
    security_events: Option<crate::events::SecurityEventsConfig>,
}

/// Per-request state of the authentication stage: which requirement is pending on a JWKS
/// fetch, and the results of the non-JWT leaves. Those are kept because a tree is evaluated
/// again after a pause, and a service credential must not be seen as its own replay.
#[derive(Debug, Default)]
pub struct JwtStream {
    started: bool,
    waiting_since: Option<u64>,
    kid_refetch_since: Option<u64>,
    service_results: BTreeMap<usize, ServiceLeafResult>,
    api_key_result: Option<Result<ApiKeyIdentity, ApiKeyFailure>>,
}

type ServiceLeafResult = Result<(ServiceIdentity, Option<PendingBodyCheck>), ServiceAuthFailure>;

/// The other credential checks a requirement tree can use, compiled by their own sections.
pub struct Credentials<'a> {
    /// Service credentials (message signatures, service tokens).
    pub service_auth: &'a ServiceAuth,
    /// The service-auth stage's state for this request (a verified identity is recorded there).
    pub service_stream: &'a mut ServiceAuthStream,
    /// API keys, when the config has an `api_keys` section.
    pub api_keys: Option<&'a ApiKeys>,
}

/// One token that verified, kept until the whole requirement passed.
#[derive(Debug)]
struct Verified {
    provider: usize,
    jwt: Rc<ParsedJwt>,
    header: Option<String>,
}

/// Envoy's `WWW-Authenticate` realm: the original URI, path cut at 256 bytes.
fn realm(req: &RequestView) -> String {
    let scheme = req.header("x-forwarded-proto").unwrap_or(&req.scheme);
    let mut end = req.raw_path.len().min(256);
    while !req.raw_path.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{scheme}://{}{}",
        req.authority,
        req.raw_path.get(..end).unwrap_or_default()
    )
}

/// The failure reply Envoy's jwt_authn sends (text body = status message).
pub fn failure_reply(status: JwtStatus, req: &RequestView, strip: bool) -> LocalReply {
    if strip {
        return LocalReply {
            status: status.http_status(),
            reason: status.reason(),
            headers: Vec::new(),
            body: Vec::new(),
        };
    }
    let mut value = format!("Bearer realm=\"{}\"", realm(req));
    if status != JwtStatus::Missing {
        value.push_str(", error=\"invalid_token\"");
    }
    LocalReply::with_body(
        status.http_status(),
        status.reason(),
        "text/plain",
        status.message().as_bytes().to_vec(),
    )
    .header("www-authenticate", value)
}

fn claim_header_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Some(u.to_string())
            } else {
                n.as_f64().map(|f| format!("{f:.6}"))
            }
        }
        _ => None,
    }
}

fn is_cors_preflight(req: &RequestView) -> bool {
    req.method == "OPTIONS"
        && req.header("origin").is_some_and(|v| !v.is_empty())
        && req
            .header("access-control-request-method")
            .is_some_and(|v| !v.is_empty())
}

struct Checker<'a, 'c> {
    authn: &'a JwtAuthn,
    ctx: &'a RequestContext<'c>,
    req: &'a RequestView,
    host: &'a dyn Host,
    now: u64,
    stream: &'a mut JwtStream,
    service_auth: &'a ServiceAuth,
    api_keys: Option<&'a ApiKeys>,
    verified: Vec<Verified>,
}

impl Checker<'_, '_> {
    fn verify_token(
        &mut self,
        provider: usize,
        found: &FoundToken,
        audiences: Option<&[String]>,
    ) -> Outcome {
        let Some(p) = self.authn.providers.get(provider) else {
            return Outcome::Fail(JwtStatus::UnknownIssuer.into());
        };
        let token = found.token.as_str();
        let (jwt, hit) = match p.cache.get(token) {
            Some(j) => (j, true),
            None => match authenticator::parse(token) {
                Ok(j) => (Rc::new(j), false),
                Err(s) => return Outcome::Fail(s.into()),
            },
        };
        if !p.policy.issuer_allowed(&jwt.iss) {
            return Outcome::Fail(JwtStatus::UnknownIssuer.into());
        }
        if let Err(s) = p.policy.check(&jwt, audiences, self.now) {
            return Outcome::Fail(s.into());
        }
        if hit {
            self.host.count("edgeguard_jwt_cache_hit_total", 1);
            self.verified.push(Verified {
                provider,
                jwt,
                header: found.header.clone(),
            });
            return Outcome::Ok;
        }
        let now_ns = self.host.now_nanos();
        let keys = match &p.keys {
            KeySource::Local(k) => k.clone(),
            KeySource::Remote(r) => {
                match r.keys(self.host, self.stream.waiting_since.unwrap_or(now_ns)) {
                    KeysState::Ready(k) => k,
                    KeysState::Pending => return Outcome::Pending,
                    KeysState::Failed => return Outcome::Fail(JwtStatus::JwksFetchFail.into()),
                }
            }
        };
        match authenticator::verify_signature(token, jwt.alg, jwt.kid.as_deref(), &keys) {
            Ok(()) => {
                p.cache.insert(token, jwt.clone(), self.now);
                self.verified.push(Verified {
                    provider,
                    jwt,
                    header: found.header.clone(),
                });
                Outcome::Ok
            }
            Err(JwtStatus::KidAlgMismatch) => {
                if let (KeySource::Remote(r), Some(kid)) = (&p.keys, &jwt.kid) {
                    if !keys.has_kid(kid) {
                        match self.stream.kid_refetch_since {
                            None => {
                                if r.refetch_for_unknown_kid(self.host) {
                                    self.stream.kid_refetch_since = Some(now_ns);
                                    return Outcome::Pending;
                                }
                            }
                            Some(since) => {
                                if !r.settled_since(self.host, since) {
                                    return Outcome::Pending;
                                }
                            }
                        }
                    }
                }
                Outcome::Fail(JwtStatus::KidAlgMismatch.into())
            }
            Err(s) => Outcome::Fail(s.into()),
        }
    }

    /// Verify tokens last-found first, as Envoy does; the first failure decides.
    fn verify_all(
        &mut self,
        tokens: Vec<(usize, FoundToken)>,
        audiences: Option<&[String]>,
    ) -> Outcome {
        if tokens.is_empty() {
            return Outcome::Fail(JwtStatus::Missing.into());
        }
        let mut pending = false;
        for (provider, t) in tokens.iter().rev() {
            match self.verify_token(*provider, t, audiences) {
                Outcome::Ok => {}
                Outcome::Pending => pending = true,
                fail => return fail,
            }
        }
        if pending {
            Outcome::Pending
        } else {
            Outcome::Ok
        }
    }
}

impl TokenChecker for Checker<'_, '_> {
    fn provider_tokens(&mut self, provider: usize, audiences: Option<&[String]>) -> Outcome {
        let Some(p) = self.authn.providers.get(provider) else {
            return Outcome::Fail(JwtStatus::Missing.into());
        };
        let tokens = p
            .extractor
            .extract(self.req)
            .into_iter()
            .map(|t| (provider, t))
            .collect();
        self.verify_all(tokens, audiences)
    }

    fn any_provider_tokens(&mut self) -> Outcome {
        let mut seen: Vec<FoundToken> = Vec::new();
        for p in &self.authn.providers {
            for t in p.extractor.extract(self.req) {
                if !seen.iter().any(|s| s.token == t.token) {
                    seen.push(t);
                }
            }
        }
        let mut tokens = Vec::new();
        for t in seen {
            let iss = authenticator::parse(&t.token)
                .map(|j| j.iss)
                .unwrap_or_default();
            let by_issuer = self
                .authn
                .providers
                .iter()
                .position(|p| p.policy.issuer.as_deref() == Some(iss.as_str()))
                .or_else(|| {
                    self.authn
                        .providers
                        .iter()
                        .position(|p| p.policy.issuer.is_none())
                });
            match by_issuer {
                Some(i) => tokens.push((i, t)),
                None => {
                    if authenticator::parse(&t.token).is_err() {
                        // Let the first provider report the parse error.
                        tokens.push((0, t));
                    } else {
                        return Outcome::Fail(JwtStatus::UnknownIssuer.into());
                    }
                }
            }
        }
        self.verify_all(tokens, None)
    }

    fn service_credential(&mut self, policy: usize) -> Outcome {
        let auth = self.service_auth;
        let ctx = self.ctx;
        let result = self
            .stream
            .service_results
            .entry(policy)
            .or_insert_with(|| match auth.requirement_policy(policy) {
                Some(p) => auth.verify_deferring_body(ctx, p),
                None => Err(ServiceAuthFailure::Internal(
                    "service_auth requirement is not compiled",
                )),
            });
        match result {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Fail(AuthFailure::Service(e.clone())),
        }
    }

    fn api_key(&mut self) -> Outcome {
        let keys = self.api_keys;
        let ctx = self.ctx;
        let result = self
            .stream
            .api_key_result
            .get_or_insert_with(|| match keys {
                Some(k) => k.verify(ctx),
                None => Err(ApiKeyFailure::Missing),
            });
        match result {
            Ok(_) => Outcome::Ok,
            Err(f) => Outcome::Fail(AuthFailure::ApiKey(f.clone())),
        }
    }
}

impl JwtAuthn {
    /// Compile from the whole config (the section plus the rules' requirements); `leaves`
    /// compiles the requirement tree's `service_auth` / `api_key` leaves.
    pub fn compile(
        config: &Config,
        leaves: &mut dyn verifier::LeafCompiler,
    ) -> Result<JwtAuthn, ConfigError> {
        let section = config.jwt_authn.clone().unwrap_or_default();
        let mut authn = JwtAuthn {
            bypass_cors_preflight: section.bypass_cors_preflight,
            strip_failure_response: section.strip_failure_response,
            revoked_jti: section.revoked_jti.iter().cloned().collect(),
            security_events: config.security_events.clone(),
            ..Default::default()
        };
        let mut index = BTreeMap::new();
        for (name, p) in &section.providers {
            let path = format!("jwt_authn.providers.{name}");
            let keys = if let Some(r) = &p.remote_jwks {
                KeySource::Remote(Box::new(RemoteKeys::new(name, r)))
            } else if let Some(ds) = &p.local_jwks {
                let text = jwks::local_jwks_text(ds)
                    .map_err(|e| ConfigError::new(format!("{path}.local_jwks"), e))?;
                let parsed = Jwks::parse_strict(&text).map_err(|e| {
                    ConfigError::new(format!("{path}.local_jwks.inline_string"), e.message())
                })?;
                KeySource::Local(Rc::new(parsed))
            } else {
                return Err(ConfigError::new(
                    path,
                    "one of local_jwks or remote_jwks is required",
                ));
            };
            let cache_cfg = p.jwt_cache_config.clone().unwrap_or_default();
            for h in p
                .claim_to_headers
                .iter()
                .map(|c| c.header_name.to_ascii_lowercase())
                .chain(
                    p.forward_payload_header
                        .iter()
                        .map(|h| h.to_ascii_lowercase()),
                )
            {
                if !authn.stripped_headers.contains(&h) {
                    authn.stripped_headers.push(h);
                }
            }
            index.insert(name.clone(), authn.providers.len());
            authn.providers.push(Provider {
                name: name.clone(),
                policy: ClaimPolicy::compile(p),
                extractor: Extractor::for_provider(p),
                keys,
                forward: p.forward,
                forward_payload_header: p
                    .forward_payload_header
                    .clone()
                    .filter(|h| !h.is_empty())
                    .map(|h| h.to_ascii_lowercase()),
                pad_forward_payload_header: p.pad_forward_payload_header,
                claim_to_headers: p
                    .claim_to_headers
                    .iter()
                    .map(|c| (c.header_name.to_ascii_lowercase(), c.claim_name.clone()))
                    .collect(),
                cache: TokenCache::new(
                    cache_cfg.jwt_cache_size.unwrap_or(100) as usize,
                    cache_cfg.jwt_max_token_size.unwrap_or(4096) as usize,
                ),
            });
        }
        let mut env = verifier::CompileEnv {
            providers: &index,
            map: &section.requirement_map,
            leaves,
        };
        for (i, r) in section.rules.iter().enumerate() {
            let path = format!("jwt_authn.rules[{i}]");
            let matcher = route::JwtRoute::compile(&r.route).ok_or_else(|| {
                ConfigError::new(format!("{path}.match"), "route could not be compiled")
            })?;
            let node = match (&r.requires, &r.requirement_name) {
                (Some(req), _) => Some(verifier::compile(
                    req,
                    &mut env,
                    &format!("{path}.requires"),
                    0,
                )?),
                (None, Some(name)) => {
                    let req = section.requirement_map.get(name).ok_or_else(|| {
                        ConfigError::new(format!("{path}.requirement_name"), "unknown requirement")
                    })?;
                    Some(verifier::compile(
                        req,
                        &mut env,
                        &format!("jwt_authn.requirement_map.{name}"),
                        0,
                    )?)
                }
                (None, None) => None,
            };
            authn.jwt_rules.push((matcher, node));
        }
        for (i, rule) in config.rules.iter().enumerate() {
            let path = format!("rules[{i}]");
            let node = match &rule.requires {
                Some(req) => {
                    let req_path = format!("{path}.requires");
                    if req.names_jwt() && config.jwt_authn.is_none() {
                        return Err(ConfigError::new(
                            req_path,
                            "needs a jwt_authn section with providers",
                        ));
                    }
                    section.validate_requirement(req, &req_path, true)?;
                    let node = verifier::compile(req, &mut env, &req_path, 0)?;
                    if node.uses_service_auth() && rule.service_auth.is_some() {
                        return Err(ConfigError::new(
                            format!("{path}.service_auth"),
                            "set service_auth either here or as a leaf of requires, not both",
                        ));
                    }
                    Some(node)
                }
                None => None,
            };
            if rule.require_claims.is_some() && config.jwt_authn.is_none() {
                return Err(ConfigError::new(
                    format!("{path}.require_claims"),
                    "needs a jwt_authn section with providers",
                ));
            }
            if let Some(p) = &rule.require_permissions {
                if p.all.is_empty() {
                    return Err(ConfigError::new(
                        format!("{path}.require_permissions.all"),
                        "must not be empty",
                    ));
                }
            }
            authn.rule_requirements.push(node);
            authn.rule_authz.push(RuleAuthz::compile(
                rule.require_claims.as_ref(),
                rule.require_permissions.as_ref(),
            ));
        }
        Ok(authn)
    }

    fn requirement_for(&self, ctx: &RequestContext<'_>) -> Option<&Node> {
        if let Some(Some(node)) = ctx.rule.and_then(|i| self.rule_requirements.get(i)) {
            return Some(node);
        }
        self.jwt_rules
            .iter()
            .find(|(m, _)| m.matches(ctx.req))
            .and_then(|(_, n)| n.as_ref())
    }

    /// Authenticate (the requirement tree, with JWTs and the other credentials it names) and
    /// authorize the request for its rule.
    pub fn on_request(
        &self,
        ctx: &mut RequestContext<'_>,
        stream: &mut JwtStream,
        creds: Credentials<'_>,
    ) -> Step {
        if !stream.started {
            stream.started = true;
            ctx.upstream
                .remove
                .extend(self.stripped_headers.iter().cloned());
        }
        if self.bypass_cors_preflight && is_cors_preflight(ctx.req) {
            return Step::Next;
        }
        let authz = ctx.rule.and_then(|i| self.rule_authz.get(i));
        let node = self.requirement_for(ctx);
        let mut verified = Vec::new();
        if let Some(node) = node {
            let view: &RequestContext<'_> = ctx;
            let mut checker = Checker {
                authn: self,
                ctx: view,
                req: view.req,
                host: view.host,
                now: view.host.now_secs(),
                stream,
                service_auth: creds.service_auth,
                api_keys: creds.api_keys,
                verified: Vec::new(),
            };
            match verifier::evaluate(node, &mut checker) {
                Outcome::Ok => verified = checker.verified,
                Outcome::Pending => {
                    if stream.waiting_since.is_none() {
                        stream.waiting_since = Some(ctx.host.now_nanos());
                    }
                    return Step::Pause;
                }
                Outcome::Fail(f) => return self.refuse(ctx, f, creds.service_auth),
            }
            self.accept_other_credentials(ctx, stream, creds);
        }
        if let Some(revoked) = verified.iter().find(|v| {
            v.jwt
                .jti
                .as_ref()
                .is_some_and(|j| self.revoked_jti.contains(j))
        }) {
            // The jti is an identifier, not a secret: it goes into the event's detail.
            crate::events::emit(
                ctx.host,
                crate::events::SecurityEventKind::RevokedTokenUse,
                &crate::events::EventFields {
                    rule: ctx.rule_name,
                    reason: "jwt_revoked",
                    client_ip: ctx.client_ip,
                    subject: Some(revoked.jwt.sub.as_str()).filter(|s| !s.is_empty()),
                    request_id: ctx.req.header("x-request-id"),
                    detail: revoked.jwt.jti.as_deref(),
                    ..Default::default()
                },
            );
            return Step::Respond(Denial::Revoked.reply());
        }
        let other_permissions = ctx.identity.permissions.clone();
        self.apply_verified(ctx, &verified);
        if let Some(a) = authz.filter(|a| !a.is_empty()) {
            let payloads: Vec<&Value> = ctx.identity.jwt_claims.iter().map(|(_, v)| &**v).collect();
            if a.needs_token() && payloads.is_empty() {
                return Step::Respond(failure_reply(
                    JwtStatus::Missing,
                    ctx.req,
                    self.strip_failure_response,
                ));
            }
            if let Err(d) = a.check(&payloads, &other_permissions) {
                if matches!(d, Denial::Permission(_)) {
                    crate::events::permission_denied(
                        ctx,
                        self.security_events.as_ref(),
                        a.required_permissions(),
                    );
                }
                return Step::Respond(d.reply());
            }
        }
        Step::Next
    }

    /// The reply for a failed requirement, from the credential that decided it.
    fn refuse(&self, ctx: &RequestContext<'_>, f: AuthFailure, service: &ServiceAuth) -> Step {
        match f {
            AuthFailure::Jwt(s) => {
                ctx.host.count("edgeguard_jwt_denied_total", 1);
                Step::Respond(failure_reply(s, ctx.req, self.strip_failure_response))
            }
            AuthFailure::Service(e) => service.refuse(ctx, e),
            AuthFailure::ApiKey(e) => {
                crate::api_key::log_rejection(ctx, &e);
                Step::Respond(e.reply())
            }
        }
    }

    /// A satisfied requirement: record the service identity and API key it verified (JWTs are
    /// applied by [`JwtAuthn::apply_verified`]).
    fn accept_other_credentials(
        &self,
        ctx: &mut RequestContext<'_>,
        stream: &mut JwtStream,
        creds: Credentials<'_>,
    ) {
        let service = std::mem::take(&mut stream.service_results)
            .into_values()
            .find_map(Result::ok);
        if let Some((identity, pending)) = service {
            creds
                .service_auth
                .accept(ctx, creds.service_stream, identity, pending);
        }
        if let (Some(Ok(id)), Some(keys)) = (stream.api_key_result.take(), creds.api_keys) {
            keys.accept(ctx, id);
        }
    }

    fn apply_verified(&self, ctx: &mut RequestContext<'_>, verified: &[Verified]) {
        for v in verified {
            let Some(p) = self.providers.get(v.provider) else {
                continue;
            };
            if let Some(h) = &p.forward_payload_header {
                let mut payload = v.jwt.payload_b64.clone();
                if p.pad_forward_payload_header {
                    while payload.len() % 4 != 0 {
                        payload.push('=');
                    }
                }
                ctx.upstream.set.push((h.clone(), payload));
            }
            for (header, claim) in &p.claim_to_headers {
                if let Some(value) =
                    authz::claim(&v.jwt.payload, claim).and_then(claim_header_value)
                {
                    ctx.upstream.set.push((header.clone(), value));
                }
            }
            if !p.forward {
                if let Some(h) = &v.header {
                    if !ctx.upstream.remove.contains(h) {
                        ctx.upstream.remove.push(h.clone());
                    }
                }
            }
            if ctx.identity.subject.is_none() && !v.jwt.sub.is_empty() {
                ctx.identity.subject = Some(v.jwt.sub.clone());
            }
            for perm in &v.jwt.permissions {
                if !ctx.identity.permissions.contains(perm) {
                    ctx.identity.permissions.push(perm.clone());
                }
            }
            ctx.identity
                .jwt_claims
                .push((p.name.clone(), Rc::clone(&v.jwt.payload)));
        }
    }

    /// A JWKS fetch answered; true if the call was ours.
    pub fn on_http_call_response(
        &self,
        token: u32,
        status: u16,
        _headers: &[(String, String)],
        body: &[u8],
        host: &dyn Host,
    ) -> bool {
        self.providers.iter().any(|p| match &p.keys {
            KeySource::Remote(r) => r.on_http_call_response(token, status, body, host),
            KeySource::Local(_) => false,
        })
    }

    /// Whether some provider fetches its JWKS remotely (and so needs the timer).
    pub fn fetches_remotely(&self) -> bool {
        self.providers
            .iter()
            .any(|p| matches!(p.keys, KeySource::Remote(_)))
    }

    /// Timer: refresh JWKS before they expire and adopt keys other workers fetched. Returns
    /// true when paused requests should be retried (some provider fetches remotely).
    pub fn on_tick(&self, host: &dyn Host) -> bool {
        let mut remote = false;
        for p in &self.providers {
            if let KeySource::Remote(r) = &p.keys {
                r.on_tick(host);
                remote = true;
            }
        }
        remote
    }
}
