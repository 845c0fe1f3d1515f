//! Security events: one structured log line (`{"event":"security_event","kind":...}`) and a
//! metric for the things a security team wants to be alerted about — attempts to use admin-level
//! permissions without them, lockouts, revoked-token use, replayed service credentials, CSRF
//! rejections. Events carry the rule, reason, client IP, subject (if known) and `x-request-id`;
//! callers must never pass a credential as the reason.

use crate::config::ConfigError;
use crate::engine::RequestContext;
use crate::host::{Host, LogLevel};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use std::net::IpAddr;

/// The permissions treated as admin-level when none are configured.
pub const DEFAULT_PRIVILEGED_PERMISSIONS: &[&str] = &["system:config", "user:manage"];

/// The `security_events` section.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityEventsConfig {
    /// Permissions whose denial is a `privilege_escalation_attempt`
    /// (default `["system:config", "user:manage"]`).
    #[serde(default)]
    pub privileged_permissions: Option<Vec<String>>,
}

impl SecurityEventsConfig {
    /// Validate at `path` (`security_events`).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        for (i, p) in self.privileged_permissions.iter().flatten().enumerate() {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConfigError::new(
                    format!("{path}.privileged_permissions[{i}]"),
                    "must be a non-empty permission name without spaces",
                ));
            }
        }
        Ok(())
    }
}

/// Is `permission` admin-level under this config (the configured list, or the defaults)?
pub fn is_privileged(config: Option<&SecurityEventsConfig>, permission: &str) -> bool {
    match config.and_then(|c| c.privileged_permissions.as_ref()) {
        Some(list) => list.iter().any(|p| p == permission),
        None => DEFAULT_PRIVILEGED_PERMISSIONS.contains(&permission),
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecurityEventKind {
    /// A permission was denied on a rule that requires an admin-level permission.
    PrivilegeEscalationAttempt,
    /// A source or subject was locked out after repeated failures.
    Lockout,
    /// A token whose `jti` is revoked was presented.
    RevokedTokenUse,
    /// A service credential (token or signature) was seen again within its validity window.
    ServiceCredentialReplay,
    /// A state-changing request was refused by the CSRF check.
    CsrfRejected,
}

impl SecurityEventKind {
    /// The name in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityEventKind::PrivilegeEscalationAttempt => "privilege_escalation_attempt",
            SecurityEventKind::Lockout => "lockout",
            SecurityEventKind::RevokedTokenUse => "revoked_token_use",
            SecurityEventKind::ServiceCredentialReplay => "service_credential_replay",
            SecurityEventKind::CsrfRejected => "csrf_rejected",
        }
    }
}

/// The fields of one event, for callers that have no [`RequestContext`] at hand.
#[derive(Debug, Clone, Default)]
pub struct EventFields<'a> {
    /// Rule name (`-` when none).
    pub rule: &'a str,
    /// Why (a machine reason such as `missing_permission`, never a credential).
    pub reason: &'a str,
    /// Client IP.
    pub client_ip: Option<IpAddr>,
    /// Verified or claimed subject (`sub`), if known.
    pub subject: Option<&'a str>,
    /// Verified service id, if any.
    pub service_id: Option<&'a str>,
    /// Name of the API key used, if any.
    pub api_key_name: Option<&'a str>,
    /// The request's `x-request-id`.
    pub request_id: Option<&'a str>,
    /// A non-secret detail (e.g. the denied permission, the refused origin).
    pub detail: Option<&'a str>,
}

/// Emit a security event: a warn-level `security_event` log line and the counters
/// `edgeguard_security_events_total` and `edgeguard_security_event_<kind>_total`.
pub fn emit(host: &dyn Host, kind: SecurityEventKind, f: &EventFields<'_>) {
    host.count("edgeguard_security_events_total", 1);
    host.count(
        &format!("edgeguard_security_event_{}_total", kind.as_str()),
        1,
    );
    crate::log::event(
        host,
        LogLevel::Warn,
        "security_event",
        &[
            ("kind", json!(kind.as_str())),
            ("rule", json!(f.rule)),
            ("reason", json!(f.reason)),
            ("client_ip", json!(f.client_ip.map(|i| i.to_string()))),
            ("subject", json!(f.subject)),
            ("service_id", json!(f.service_id)),
            ("api_key_name", json!(f.api_key_name)),
            ("request_id", json!(f.request_id)),
            ("detail", json!(f.detail)),
        ],
    );
}

/// Emit a security event for the request in `ctx` (rule, client IP, identity, request id
/// taken from it). `reason` and `detail` must not contain credentials.
pub fn security_event(
    ctx: &RequestContext<'_>,
    kind: SecurityEventKind,
    reason: &str,
    detail: Option<&str>,
) {
    emit(
        ctx.host,
        kind,
        &EventFields {
            rule: ctx.rule_name,
            reason,
            client_ip: ctx.client_ip,
            subject: ctx.identity.subject.as_deref(),
            service_id: ctx.identity.service_id.as_deref(),
            api_key_name: ctx.identity.api_key_name.as_deref(),
            request_id: ctx.req.header("x-request-id"),
            detail,
        },
    );
}

/// For the permission check, on a permission denial: emit `privilege_escalation_attempt` when
/// the rule requires an admin-level permission under `config` (`required` is the rule's whole
/// `require_permissions` list, not only the missing one). Returns whether it did.
pub fn permission_denied<S: AsRef<str>>(
    ctx: &RequestContext<'_>,
    config: Option<&SecurityEventsConfig>,
    required: &[S],
) -> bool {
    let privileged: Vec<&str> = required
        .iter()
        .map(AsRef::as_ref)
        .filter(|p| is_privileged(config, p))
        .collect();
    if privileged.is_empty() {
        return false;
    }
    security_event(
        ctx,
        SecurityEventKind::PrivilegeEscalationAttempt,
        "permission_denied_on_privileged_rule",
        Some(&privileged.join(" ")),
    );
    true
}
