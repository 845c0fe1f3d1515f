//! The request-policy stage: per-rule request limits and hygiene, mTLS peer identity, API key
//! authentication and CSRF defence, in that order (cheap refusals first; CSRF last because a
//! request carrying an API key or bearer token is exempt from it). It also strips incoming
//! copies of the identity headers edgeguard sets (`x-api-key-name`, `x-peer-identity`) from
//! every request that has them, whatever rule matched.

pub mod csrf;
pub mod limits;
pub mod mtls;

use crate::api_key::config::RuleApiKey;
use crate::api_key::{
    authorization_credential, ApiKeys, API_KEY_NAME_HEADER, DEFAULT_API_KEY_HEADER,
};
use crate::config::{Config, ConfigError};
use crate::decision::LocalReply;
use crate::engine::{RequestContext, Step};
use crate::events::{security_event, SecurityEventKind};
use crate::host::LogLevel;
use crate::request::RequestView;
use csrf::{Csrf, CsrfVerdict};
use limits::{BodyCheck, LimitViolation, Limits};
use mtls::{Mtls, PEER_IDENTITY_HEADER};
use serde_json::json;

/// Headers edgeguard sets for upstream; any copy sent by the client is removed.
pub const STRIPPED_IDENTITY_HEADERS: &[&str] = &[API_KEY_NAME_HEADER, PEER_IDENTITY_HEADER];

#[derive(Debug, Clone, Default)]
struct RulePolicy {
    limits: Option<Limits>,
    mtls: Option<Mtls>,
    api_key: Option<RuleApiKey>,
    csrf: Option<Csrf>,
}

/// The compiled stage.
#[derive(Debug, Default)]
pub struct RequestPolicy {
    rules: Vec<RulePolicy>,
    /// The compiled `api_keys` section, if any (also usable by a requirement tree).
    pub api_keys: Option<ApiKeys>,
}

impl RequestPolicy {
    /// Compile from the whole config (the `api_keys` section plus each rule's `limits`,
    /// `mtls`, `api_key`, `csrf`).
    pub fn compile(config: &Config) -> Result<RequestPolicy, ConfigError> {
        let api_keys = ApiKeys::compile(config)?;
        let rules = config
            .rules
            .iter()
            .map(|r| RulePolicy {
                limits: r.limits.as_ref().map(Limits::compile),
                mtls: r.mtls.as_ref().map(Mtls::compile),
                api_key: r.api_key.clone(),
                csrf: r.csrf.as_ref().map(Csrf::compile),
            })
            .collect();
        Ok(RequestPolicy { rules, api_keys })
    }

    /// Run the stage for one request.
    pub fn on_request(&self, ctx: &mut RequestContext<'_>) -> Step {
        let policy = ctx.rule.and_then(|i| self.rules.get(i));
        if let Some(limits) = policy.and_then(|p| p.limits.as_ref()) {
            if let Err(v) = limits.check_headers(ctx.req) {
                return reject_limit(ctx, &v);
            }
            match limits.check_body(ctx.req, ctx.body) {
                BodyCheck::Ok => {}
                // Nothing has been changed yet, so this stage can simply run again with the body.
                BodyCheck::NeedBody => return Step::NeedBody,
                BodyCheck::Violation(v) => return reject_limit(ctx, &v),
            }
        }
        for h in STRIPPED_IDENTITY_HEADERS {
            if ctx.req.header(h).is_some() {
                ctx.upstream.remove.push((*h).to_string());
            }
        }
        let Some(policy) = policy else {
            return Step::Next;
        };
        if let Some(mtls) = &policy.mtls {
            match mtls.check(&ctx.req.connection) {
                Ok(identity) => ctx
                    .upstream
                    .set
                    .push((PEER_IDENTITY_HEADER.to_string(), identity)),
                Err(f) => {
                    log_rejection(
                        ctx,
                        f.reason(),
                        ctx.req.connection.uri_sans.first().map(String::as_str),
                    );
                    return Step::Respond(f.reply());
                }
            }
        }
        if let Some(rule_key) = &policy.api_key {
            match &self.api_keys {
                Some(keys) => {
                    let step = keys.authenticate(ctx, rule_key.required);
                    if step != Step::Next {
                        return step;
                    }
                }
                // Config validation forbids this; fail closed anyway.
                None => {
                    return Step::Error(
                        "rule requires an API key but no api_keys section is compiled".into(),
                    )
                }
            }
        }
        if let Some(csrf) = &policy.csrf {
            let exempt = self.carries_unforgeable_credential(ctx.req);
            if let CsrfVerdict::Rejected { rejection, origin } = csrf.check(ctx.req, exempt) {
                security_event(
                    ctx,
                    SecurityEventKind::CsrfRejected,
                    rejection.reason(),
                    origin.as_deref(),
                );
                return Step::Respond(LocalReply::error(
                    403,
                    rejection.reason(),
                    rejection.message(),
                ));
            }
        }
        Step::Next
    }

    /// A bearer token or an API key (in the configured header, or `x-api-key` when there is no
    /// `api_keys` section, or `Authorization: <scheme>`): things a browser cannot attach to a
    /// cross-site request on its own, so CSRF does not apply.
    fn carries_unforgeable_credential(&self, req: &RequestView) -> bool {
        let bearer = req
            .header_values("authorization")
            .any(|v| authorization_credential(v, "Bearer").is_some());
        bearer
            || match &self.api_keys {
                Some(k) => k.is_presented(req),
                None => req.header(DEFAULT_API_KEY_HEADER).is_some(),
            }
    }
}

fn reject_limit(ctx: &RequestContext<'_>, v: &LimitViolation) -> Step {
    log_rejection(ctx, v.reason(), v.detail());
    Step::Respond(v.reply())
}

/// A detail line for a refusal (the engine's `denied` line carries the reason and status; this
/// one adds what was found), and a counter per reason.
fn log_rejection(ctx: &RequestContext<'_>, reason: &str, detail: Option<&str>) {
    ctx.host
        .count(&format!("edgeguard_request_policy_{reason}_total"), 1);
    crate::log::event(
        ctx.host,
        LogLevel::Info,
        "request_policy_rejected",
        &[
            ("rule", json!(ctx.rule_name)),
            ("reason", json!(reason)),
            ("detail", json!(detail)),
            ("client_ip", json!(ctx.client_ip.map(|i| i.to_string()))),
            ("request_id", json!(ctx.req.header("x-request-id"))),
        ],
    );
}
