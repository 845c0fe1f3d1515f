//! Local rate limits shared across workers, rate-limit hint headers and brute-force lockout.
//!
//! # Policies
//! `rate_limit.policies[]` = `{name, quota, window_secs, key, hint_only, all_routes, slots}`;
//! a rule lists the policies that apply to it in `rate_limits` (and `all_routes` policies apply
//! to every request). Each policy is a GCRA ([`gcra`]) per key ([`key`]), stored in host shared
//! data so all Envoy workers count together, updated with compare-and-set and retried on
//! conflict ([`slots`]), so no update is lost under concurrency.
//!
//! Over quota: `429` with `Retry-After` and an RFC 9457 problem body of type `quota-exceeded`
//! listing the violated policies (`hint_only` policies are reported in the hints but never
//! block). Every request under a policy gets hint headers ([`hints`]). With several policies,
//! every one is counted; a request refused by one still used a unit of the others.
//!
//! # Memory bound
//! Shared-data keys cannot be deleted in proxy-wasm, so each policy owns a fixed table of
//! `slots` keys (default 4096) that keys are hashed into and reused once idle (see
//! [`slots`]). The number of keys is `Σ slots` over the policies plus the lockout table,
//! whatever the number of distinct clients; each key is ~16–24 bytes of name plus a 16-byte
//! value (lockout: up to 16 + 8 × `max_failures`). More live clients than slots makes some
//! clients share a counter (over-counting, never under-counting) and counts
//! `edgeguard_ratelimit_slot_shared_total`: size `slots` to the number of distinct clients
//! expected within one window. The fingerprint hash is keyed with a constant, so a client that
//! controls its key (a `header:` key) can aim at a victim's slots; IP keys are costlier to aim.
//!
//! # Lockout
//! See [`lockout`].

pub mod config;
pub mod gcra;
pub mod hints;
pub mod key;
pub mod lockout;
pub mod policy;
pub mod slots;

use crate::config::{Config, ConfigError};
use crate::decision::{HeaderMutations, LocalReply};
use crate::engine::{RequestContext, Step};
use crate::host::Host;
use crate::request::RequestView;
use config::HintFormat;
use hints::PolicyHint;
use lockout::Lockout;
use policy::Policy;
use std::net::IpAddr;

/// The problem type of an over-quota 429 (draft-ietf-httpapi-ratelimit-headers).
pub const QUOTA_EXCEEDED_TYPE: &str =
    "https://iana.org/assignments/http-problem-types#quota-exceeded";

/// Compiled `rate_limit` section.
#[derive(Debug, Default)]
pub struct RateLimiter {
    policies: Vec<Policy>,
    all_routes: Vec<usize>,
    per_rule: Vec<Vec<usize>>,
    hints: HintFormat,
    lockout: Option<Lockout>,
}

/// Per-request rate-limit state (the hint to send back).
#[derive(Debug, Default)]
pub struct RateLimitStream {
    hint_headers: Vec<(String, String)>,
}

impl RateLimiter {
    /// Compile from the whole config.
    pub fn compile(config: &Config) -> Result<RateLimiter, ConfigError> {
        let Some(section) = &config.rate_limit else {
            return Ok(RateLimiter::default());
        };
        let policies = policy::compile_policies(&section.policies, "rate_limit")?;
        let index = |name: &str| policies.iter().position(|p| p.name == name);
        let all_routes: Vec<usize> = (0..policies.len())
            .filter(|i| policies.get(*i).is_some_and(|p| p.all_routes))
            .collect();
        let mut per_rule = Vec::with_capacity(config.rules.len());
        for (r, rule) in config.rules.iter().enumerate() {
            section.validate_rule_refs(&rule.rate_limits, &format!("rules[{r}].rate_limits"))?;
            let mut list = all_routes.clone();
            for name in &rule.rate_limits {
                if let Some(i) = index(name) {
                    if !list.contains(&i) {
                        list.push(i);
                    }
                }
            }
            per_rule.push(list);
        }
        let lockout = match &section.lockout {
            Some(l) => Some(Lockout::compile(l, "rate_limit.lockout")?),
            None => None,
        };
        Ok(RateLimiter {
            policies,
            all_routes,
            per_rule,
            hints: section.hints,
            lockout,
        })
    }

    /// Count the request against its rule's policies.
    pub fn on_request(&self, ctx: &mut RequestContext<'_>, stream: &mut RateLimitStream) -> Step {
        let list = match ctx.rule {
            Some(r) => self.per_rule.get(r).unwrap_or(&self.all_routes),
            None => &self.all_routes,
        };
        if list.is_empty() {
            return Step::Next;
        }
        let mut hints = Vec::with_capacity(list.len());
        let mut violated: Vec<&str> = Vec::new();
        let mut retry_after = 0;
        for policy in list.iter().filter_map(|i| self.policies.get(*i)) {
            let key = policy
                .key
                .extract(ctx.req, ctx.client_ip, Some(ctx.identity), ctx.rule_name);
            let outcome = match policy.check(ctx.host, &key) {
                Ok(o) => o,
                Err(e) => return Step::Error(e.message().to_string()),
            };
            hints.push(PolicyHint {
                name: policy.name.clone(),
                quota: policy.gcra.quota,
                window_secs: policy.window_secs,
                remaining: outcome.remaining,
                reset_secs: outcome.reset_secs,
            });
            if !outcome.allowed {
                ctx.host.count("edgeguard_ratelimit_exceeded_total", 1);
                if !policy.hint_only {
                    violated.push(&policy.name);
                    retry_after = retry_after.max(outcome.retry_after_secs);
                }
            }
        }
        stream.hint_headers = hints::hint_headers(self.hints, &hints);
        if violated.is_empty() {
            return Step::Next;
        }
        let body = serde_json::json!({
            "type": QUOTA_EXCEEDED_TYPE,
            "title": "Request cannot be satisfied as assigned quota has been exceeded",
            "status": 429,
            "detail": format!("quota exceeded for policy {}", violated.join(", ")),
            "violated-policies": violated,
        });
        let mut reply = LocalReply::with_body(
            429,
            "rate_limited",
            "application/problem+json",
            body.to_string().into_bytes(),
        )
        .header("retry-after", retry_after.to_string());
        reply.headers.extend(stream.hint_headers.iter().cloned());
        Step::Respond(reply)
    }

    /// `RateLimit` / `X-RateLimit-*` hint headers for the response.
    pub fn response_headers(&self, stream: &RateLimitStream) -> HeaderMutations {
        HeaderMutations {
            set: stream.hint_headers.clone(),
            ..HeaderMutations::default()
        }
    }

    /// Refuse a locked-out client before authentication runs.
    pub fn check_lockout(&self, ctx: &mut RequestContext<'_>) -> Step {
        match &self.lockout {
            Some(l) => match l.check(ctx.req, ctx.client_ip, ctx.host) {
                Some(reply) => Step::Respond(reply),
                None => Step::Next,
            },
            None => Step::Next,
        }
    }

    /// The engine saw a denial: count it toward a lockout when it is an authentication failure.
    pub fn record_denial(
        &self,
        rule: &str,
        req: &RequestView,
        client_ip: Option<IpAddr>,
        reply: &LocalReply,
        host: &dyn Host,
    ) {
        let Some(l) = &self.lockout else { return };
        if !l.counts(reply.reason, reply.status) {
            return;
        }
        if let Err(e) = l.record_failure(rule, req, client_ip, host) {
            host.count("edgeguard_lockout_errors_total", 1);
            crate::log::event(
                host,
                crate::host::LogLevel::Error,
                "internal_error",
                &[("reason", serde_json::json!(e.message()))],
            );
        }
    }
}

#[cfg(test)]
mod tests;
