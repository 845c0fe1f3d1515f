//! The policy engine: compiled once from the config, then asked about each request.
//!
//! Request path, in order: match rule → host allowlist / HTTPS redirect / CORS preflight
//! (`headers`) → authentication (`jwt` requirement tree, `service_auth`) → authorization
//! (claims, permissions) → rate limits → continue. Response path: security headers, cookies,
//! CORS and rate-limit hints (`headers`, `rate_limit`) → body masking (`masking`).
//! In `mode: report` every decision is computed, logged and counted, and nothing is applied.

use crate::config::{Config, ConfigError, FailureMode, Mode};
use crate::decision::{
    HeaderMutations, LocalReply, RequestAction, ResponseBodyAction, ResponseHeadersAction,
};
use crate::headers::HeadersPolicy;
use crate::host::{Host, LogLevel};
use crate::jwt::verifier::LeafCompiler;
use crate::jwt::{Credentials, JwtAuthn, JwtStream};
use crate::masking::{Masker, MaskingStream};
use crate::rate_limit::{RateLimitStream, RateLimiter};
use crate::request::{RequestError, RequestView};
use crate::request_policy::RequestPolicy;
use crate::rules::RuleSet;
use crate::service_auth::config::RuleServiceAuth;
use crate::service_auth::{ServiceAuth, ServiceAuthStream};
use serde_json::json;
use std::net::IpAddr;

/// What a pipeline stage decided about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Go on to the next stage.
    Next,
    /// Answer locally (a policy decision).
    Respond(LocalReply),
    /// This stage needs the request body before it can decide.
    NeedBody,
    /// This stage waits for an outside answer (e.g. JWKS fetch).
    Pause,
    /// An internal error (not the client's fault); `failure_mode` decides what happens.
    Error(String),
}

/// Who the request was authenticated as; filled by the authentication stages, read by
/// authorization, rate limiting (`claim:`/`service` keys) and logs.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// Verified JWT payloads, by provider name.
    pub jwt_claims: Vec<(String, std::rc::Rc<serde_json::Value>)>,
    /// Subject (`sub`) of the first verified token.
    pub subject: Option<String>,
    /// Verified service id (service auth).
    pub service_id: Option<String>,
    /// Name of the API key used.
    pub api_key_name: Option<String>,
    /// Permissions granted by any credential.
    pub permissions: Vec<String>,
}

/// Everything a stage may look at and change for one request.
pub struct RequestContext<'a> {
    /// The request.
    pub req: &'a RequestView,
    /// Index of the matched rule, if any.
    pub rule: Option<usize>,
    /// Name of the matched rule (`-` when none) for logs.
    pub rule_name: &'a str,
    /// The host (clock, shared data, calls, metrics, logs).
    pub host: &'a dyn Host,
    /// Client IP as decided by the trusted-proxy settings.
    pub client_ip: Option<IpAddr>,
    /// Who the request is, as far as verified.
    pub identity: &'a mut Identity,
    /// Changes to the request before it goes upstream.
    pub upstream: &'a mut HeaderMutations,
    /// The buffered request body, once a stage asked for it.
    pub body: Option<&'a [u8]>,
}

/// Per-request state the engine keeps between callbacks.
#[derive(Debug, Default)]
pub struct Stream {
    started: bool,
    /// Index of the matched rule.
    pub rule: Option<usize>,
    /// Verified identity.
    pub identity: Identity,
    /// Client IP.
    pub client_ip: Option<IpAddr>,
    /// The request as seen at headers time (kept for response-side decisions and resumes).
    pub request: Option<RequestView>,
    upstream: HeaderMutations,
    body: Vec<u8>,
    body_complete: bool,
    stage: usize,
    /// JWT stage state.
    pub jwt: JwtStream,
    /// Service-auth stage state.
    pub service_auth: ServiceAuthStream,
    /// Rate-limit stage state.
    pub rate_limit: RateLimitStream,
    /// Masking state.
    pub masking: MaskingStream,
    /// The local reply we sent, if any (its response still passes the response path).
    pub replied: Option<&'static str>,
}

/// The compiled policy.
#[derive(Debug)]
pub struct Engine {
    metrics_enabled: bool,
    mode: Mode,
    failure_mode: FailureMode,
    rules: RuleSet,
    /// Security headers, hosts, HTTPS, CORS.
    pub headers: HeadersPolicy,
    /// Request limits/hygiene, mTLS peer identity, API keys, CSRF.
    pub request_policy: RequestPolicy,
    /// JWT authentication and claim/permission authorization.
    pub jwt: JwtAuthn,
    /// Service credentials.
    pub service_auth: ServiceAuth,
    /// Rate limits and lockout.
    pub rate_limit: RateLimiter,
    /// Body masking.
    pub masking: Masker,
    /// Some stage reads the client IP (rate limits, lockout, request policy, API keys,
    /// permission events); otherwise it is only worked out when a denial is logged.
    needs_client_ip: bool,
    /// Some rule checks the mTLS peer certificate.
    needs_peer_certificate: bool,
    /// Some response-side stage may act (security headers, CORS, rate-limit hints, masking).
    wants_response_headers: bool,
}

/// How the requirement trees reach the service-auth and API-key sections while they compile.
struct RequirementLeaves<'a> {
    config: &'a Config,
    service_auth: &'a mut ServiceAuth,
    api_keys: bool,
}

impl LeafCompiler for RequirementLeaves<'_> {
    fn service_auth(&mut self, leaf: &RuleServiceAuth, path: &str) -> Result<usize, ConfigError> {
        self.service_auth
            .add_requirement_policy(leaf, path, self.config.service_auth.as_ref())
    }

    fn api_key(&mut self, path: &str) -> Result<(), ConfigError> {
        if self.api_keys {
            Ok(())
        } else {
            Err(ConfigError::new(
                path,
                "a requirement names an API key but there is no api_keys section",
            ))
        }
    }
}

const STAGE_HEADERS: usize = 0;
const STAGE_REQUEST_POLICY: usize = 1;
const STAGE_JWT: usize = 2;
const STAGE_SERVICE: usize = 3;
const STAGE_RATE: usize = 4;
const STAGE_DONE: usize = 5;

impl Engine {
    /// Parse, validate and compile a JSON config.
    pub fn from_json(bytes: &[u8]) -> Result<Engine, ConfigError> {
        Engine::new(&Config::from_json(bytes)?)
    }

    /// Compile a validated config.
    pub fn new(config: &Config) -> Result<Engine, ConfigError> {
        let rules = RuleSet::compile(&config.rules)?;
        let headers = HeadersPolicy::compile(config)?;
        let request_policy = RequestPolicy::compile(config)?;
        let mut service_auth = ServiceAuth::compile(config)?;
        // The requirement trees may name the other credentials: compile their leaves into
        // the sections that verify them.
        let jwt = JwtAuthn::compile(
            config,
            &mut RequirementLeaves {
                config,
                service_auth: &mut service_auth,
                api_keys: request_policy.api_keys.is_some(),
            },
        )?;
        Ok(Engine {
            metrics_enabled: config.metrics.enabled,
            mode: config.mode,
            failure_mode: config.failure_mode,
            rules,
            headers,
            request_policy,
            jwt,
            service_auth,
            rate_limit: RateLimiter::compile(config)?,
            masking: Masker::compile(config)?,
            needs_client_ip: config.rate_limit.is_some()
                || config.api_keys.is_some()
                || config.rules.iter().any(|r| {
                    r.limits.is_some()
                        || r.mtls.is_some()
                        || r.api_key.is_some()
                        || r.csrf.is_some()
                        || r.require_permissions.is_some()
                        || !r.rate_limits.is_empty()
                }),
            needs_peer_certificate: config.rules.iter().any(|r| r.mtls.is_some()),
            wants_response_headers: config.headers.is_some()
                || config.rate_limit.is_some()
                || config.masking.is_some()
                || config.rules.iter().any(|r| {
                    r.headers.is_some() || r.masking.is_some() || !r.rate_limits.is_empty()
                }),
        })
    }

    /// Whether the adapter must read the peer certificate (mTLS, SANs) for each request; when
    /// false, [`crate::request::ConnectionInfo`]'s TLS fields are never looked at.
    pub fn needs_peer_certificate(&self) -> bool {
        self.needs_peer_certificate
    }

    /// Whether [`Engine::on_response_headers`] can change anything; when false the adapter may
    /// skip reading the response headers.
    pub fn wants_response_headers(&self) -> bool {
        self.wants_response_headers
    }

    /// The client IP for logs and stages: worked out at request start when a stage needs it,
    /// otherwise only now (a denial), so that most requests never ask the host.
    fn client_ip_of(&self, stream: &Stream, req: &RequestView) -> Option<IpAddr> {
        if self.needs_client_ip {
            stream.client_ip
        } else {
            self.headers.client_ip(req)
        }
    }

    /// Whether the adapter should define and increment metrics (`metrics.enabled`).
    pub fn metrics_enabled(&self) -> bool {
        self.metrics_enabled
    }

    /// Whether [`Engine::on_tick`] has work, so the adapter asks the host for a timer only
    /// then (hosts such as Service Extensions offer none).
    pub fn needs_tick(&self) -> bool {
        self.jwt.fetches_remotely()
    }

    /// The configured mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Name of the rule at `index` (as in logs), for adapters that report the matched rule.
    pub fn rule_name(&self, index: usize) -> Option<&str> {
        self.rules.get(index).map(|r| r.name.as_str())
    }

    /// Request headers arrived. `req` is the adapter's view of them.
    pub fn on_request_headers(
        &self,
        stream: &mut Stream,
        req: RequestView,
        host: &dyn Host,
    ) -> RequestAction {
        if !stream.started {
            stream.started = true;
            host.count("edgeguard_requests_total", 1);
            stream.rule = self.rules.find(&req);
            // Which rule a request routed to, at debug level: lets tests prove routing on
            // the normalized path without a policy that denies.
            if host.log_enabled(LogLevel::Debug) {
                crate::log::event(
                    host,
                    LogLevel::Debug,
                    "route",
                    &[
                        (
                            "rule",
                            json!(stream
                                .rule
                                .and_then(|i| self.rules.get(i))
                                .map(|r| r.name.as_str())
                                .unwrap_or("-")),
                        ),
                        ("path", json!(req.path)),
                    ],
                );
            }
            if self.needs_client_ip {
                stream.client_ip = self.headers.client_ip(&req);
            }
            stream.request = Some(req);
        }
        self.run(stream, host)
    }

    /// The request could not be parsed into a [`RequestView`] (bad path): a 400 through the
    /// same deny path as every policy decision (so `mode: report` lets it through and counts it).
    pub fn on_malformed_request(
        &self,
        stream: &mut Stream,
        method: &str,
        raw_path: &str,
        err: RequestError,
        host: &dyn Host,
    ) -> RequestAction {
        host.count("edgeguard_requests_total", 1);
        let view = RequestView {
            method: method.to_string(),
            raw_path: raw_path.to_string(),
            path: raw_path.to_string(),
            ..RequestView::default()
        };
        let reply = LocalReply::error(400, "bad_request", err.message());
        let action = self.deny(&view, None, None, reply, host);
        stream.replied = Some("bad_request");
        stream.started = true;
        if self.mode == Mode::Report {
            stream.request = Some(view);
            return RequestAction::Continue(HeaderMutations::default());
        }
        action
    }

    /// The request body (complete or so far); only called after a stage asked for it.
    pub fn on_request_body(
        &self,
        stream: &mut Stream,
        body: &[u8],
        end_of_stream: bool,
        host: &dyn Host,
    ) -> RequestAction {
        stream.body.extend_from_slice(body);
        if !end_of_stream {
            return RequestAction::NeedBody;
        }
        stream.body_complete = true;
        self.run(stream, host)
    }

    /// The request-header changes decided so far, handed over once (later decisions return
    /// only what was added since). Adapters call it on `NeedBody`: in Envoy request headers
    /// can only be changed before they are released, which happens before the body arrives.
    pub fn take_request_mutations(&self, stream: &mut Stream) -> HeaderMutations {
        std::mem::take(&mut stream.upstream)
    }

    /// Resume a paused request (e.g. after JWKS arrived or failed).
    pub fn resume(&self, stream: &mut Stream, host: &dyn Host) -> RequestAction {
        self.run(stream, host)
    }

    fn run(&self, stream: &mut Stream, host: &dyn Host) -> RequestAction {
        let Some(req) = stream.request.take() else {
            return RequestAction::Continue(HeaderMutations::default());
        };
        let rule_name = stream
            .rule
            .and_then(|i| self.rules.get(i))
            .map(|r| r.name.as_str())
            .unwrap_or("-");
        let mut ctx = RequestContext {
            req: &req,
            rule: stream.rule,
            rule_name,
            host,
            client_ip: stream.client_ip,
            identity: &mut stream.identity,
            upstream: &mut stream.upstream,
            body: if stream.body_complete {
                Some(&stream.body)
            } else {
                None
            },
        };
        let mut outcome = Step::Next;
        while stream.stage < STAGE_DONE {
            let step = match stream.stage {
                STAGE_HEADERS => match self.headers.on_request(&mut ctx) {
                    Step::Next => self.rate_limit.check_lockout(&mut ctx),
                    other => other,
                },
                STAGE_REQUEST_POLICY => self.request_policy.on_request(&mut ctx),
                STAGE_JWT => self.jwt.on_request(
                    &mut ctx,
                    &mut stream.jwt,
                    Credentials {
                        service_auth: &self.service_auth,
                        service_stream: &mut stream.service_auth,
                        api_keys: self.request_policy.api_keys.as_ref(),
                    },
                ),
                STAGE_SERVICE => self
                    .service_auth
                    .on_request(&mut ctx, &mut stream.service_auth),
                STAGE_RATE => self.rate_limit.on_request(&mut ctx, &mut stream.rate_limit),
                _ => Step::Next,
            };
            if step != Step::Next {
                outcome = step;
                break;
            }
            stream.stage += 1;
        }
        if stream.stage >= STAGE_DONE {
            self.masking.on_request(&mut ctx, &mut stream.masking);
        }
        let action = match outcome {
            Step::Next => RequestAction::Continue(std::mem::take(ctx.upstream)),
            Step::NeedBody => {
                stream.request = Some(req);
                return RequestAction::NeedBody;
            }
            Step::Pause => {
                stream.request = Some(req);
                return RequestAction::Pause;
            }
            Step::Respond(reply) => {
                let ip = self.client_ip_of(stream, &req);
                self.deny(&req, stream.rule, ip, reply, host)
            }
            Step::Error(msg) => {
                crate::log::event(
                    host,
                    LogLevel::Error,
                    "internal_error",
                    &[
                        ("rule", json!(rule_name)),
                        ("reason", json!(msg)),
                        (
                            "failure_mode",
                            json!(format!("{:?}", self.failure_mode).to_lowercase()),
                        ),
                    ],
                );
                host.count("edgeguard_internal_errors_total", 1);
                match self.failure_mode {
                    FailureMode::Open => RequestAction::Continue(HeaderMutations::default()),
                    FailureMode::Closed => self.deny(
                        &req,
                        stream.rule,
                        self.client_ip_of(stream, &req),
                        LocalReply::error(
                            503,
                            "internal_error",
                            "edgeguard could not evaluate the request",
                        ),
                        host,
                    ),
                }
            }
        };
        if let RequestAction::Respond(r) = &action {
            stream.replied = Some(r.reason);
        }
        stream.request = Some(req);
        if self.mode == Mode::Report {
            return RequestAction::Continue(HeaderMutations::default());
        }
        action
    }

    fn deny(
        &self,
        req: &RequestView,
        rule_index: Option<usize>,
        client_ip: Option<IpAddr>,
        mut reply: LocalReply,
        host: &dyn Host,
    ) -> RequestAction {
        let rule = rule_index
            .and_then(|i| self.rules.get(i))
            .map(|r| r.name.as_str())
            .unwrap_or("-");
        let reported = self.mode == Mode::Report;
        let (event, counter) = if reported {
            ("would_deny", "edgeguard_reported")
        } else if reply.status < 400 {
            // Redirects and CORS preflights answered at the edge are not denials.
            ("answered", "edgeguard_answered")
        } else {
            ("denied", "edgeguard_denied")
        };
        host.count(&format!("{counter}_total"), 1);
        host.count(&format!("{counter}_{}_total", reply.reason), 1);
        crate::log::event(
            host,
            if reported || reply.status < 400 {
                LogLevel::Info
            } else {
                LogLevel::Warn
            },
            event,
            &[
                ("rule", json!(rule)),
                ("reason", json!(reply.reason)),
                ("status", json!(reply.status)),
                ("client_ip", json!(client_ip.map(|i| i.to_string()))),
                ("method", json!(req.method)),
                ("path", json!(req.path)),
                ("request_id", json!(req.header("x-request-id"))),
            ],
        );
        self.rate_limit
            .record_denial(rule, req, client_ip, &reply, host);
        self.headers
            .decorate_local_reply(req, rule_index, &mut reply);
        RequestAction::Respond(reply)
    }

    /// Response headers arrived (also called for our own local replies by hosts that pass
    /// them through the response path; those are already decorated and are left alone).
    pub fn on_response_headers(
        &self,
        stream: &mut Stream,
        headers: &[(String, String)],
        host: &dyn Host,
    ) -> ResponseHeadersAction {
        if stream.replied.is_some() && self.mode == Mode::Enforce {
            return ResponseHeadersAction::default();
        }
        let Some(req) = stream.request.as_ref() else {
            return ResponseHeadersAction::default();
        };
        let mut mutations = self.headers.on_response_headers(req, stream.rule, headers);
        mutations.extend(self.rate_limit.response_headers(&stream.rate_limit));
        let buffer_body = self.masking.on_response_headers(
            req,
            stream.rule,
            headers,
            &mut stream.masking,
            &mut mutations,
            host,
        );
        if self.mode == Mode::Report {
            if !mutations.is_empty() {
                host.count("edgeguard_reported_response_changes_total", 1);
            }
            return ResponseHeadersAction::default();
        }
        let reply = self
            .masking
            .header_reply(&mut stream.masking, host)
            .map(|mut reply| {
                self.headers
                    .decorate_local_reply(req, stream.rule, &mut reply);
                reply
            });
        ResponseHeadersAction {
            mutations,
            buffer_body,
            reply,
        }
    }

    /// The response body is still arriving and `buffered` bytes are held: `Buffer` to keep
    /// going, or the oversize fallback once the masking limit is passed (`Respond` to block,
    /// `Continue` to let the body through unmasked). Hosts that hold the body themselves
    /// call this for every chunk and `on_response_body` once, with the whole body, at the end.
    pub fn on_response_body_progress(
        &self,
        stream: &mut Stream,
        buffered: usize,
        host: &dyn Host,
    ) -> ResponseBodyAction {
        if self.mode == Mode::Report {
            return ResponseBodyAction::Continue;
        }
        let Some(req) = stream.request.as_ref() else {
            return ResponseBodyAction::Continue;
        };
        match self
            .masking
            .on_response_body_progress(&mut stream.masking, buffered, host)
        {
            ResponseBodyAction::Respond(mut reply) => {
                self.headers
                    .decorate_local_reply(req, stream.rule, &mut reply);
                ResponseBodyAction::Respond(reply)
            }
            other => other,
        }
    }

    /// Response body chunk; `end_of_stream` on the last one (or called with an empty chunk
    /// from the trailers callback, so enforcement never depends on the body's end flag).
    pub fn on_response_body(
        &self,
        stream: &mut Stream,
        chunk: &[u8],
        end_of_stream: bool,
        host: &dyn Host,
    ) -> ResponseBodyAction {
        if self.mode == Mode::Report {
            return ResponseBodyAction::Continue;
        }
        let Some(req) = stream.request.as_ref() else {
            return ResponseBodyAction::Continue;
        };
        match self
            .masking
            .on_response_body(&mut stream.masking, chunk, end_of_stream, host)
        {
            ResponseBodyAction::Respond(mut reply) => {
                self.headers
                    .decorate_local_reply(req, stream.rule, &mut reply);
                ResponseBodyAction::Respond(reply)
            }
            other => other,
        }
    }

    /// An outbound call answered (`status` 0 = failed/timeout). Returns true if it was ours.
    pub fn on_http_call_response(
        &self,
        token: u32,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
        host: &dyn Host,
    ) -> bool {
        self.jwt
            .on_http_call_response(token, status, headers, body, host)
    }

    /// Periodic work (JWKS refresh, cache sweeps); hosts call it from their timer. Returns
    /// true when paused requests should be resumed (they may be waiting on keys another
    /// worker fetched, or on a fetch that timed out).
    pub fn on_tick(&self, host: &dyn Host) -> bool {
        self.jwt.on_tick(host)
    }
}
