//! The security-event helpers other modules call: fields, metrics, privileged permissions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use edgeguard::config::Config;
use edgeguard::decision::HeaderMutations;
use edgeguard::engine::{Identity, RequestContext};
use edgeguard::events::{self, EventFields, SecurityEventKind};
use edgeguard::host::memory::MemoryHost;
use edgeguard::host::LogLevel;

fn with_ctx<T>(
    host: &MemoryHost,
    identity: Identity,
    f: impl FnOnce(&RequestContext<'_>) -> T,
) -> T {
    let view = req(
        "POST",
        "/admin/config",
        &[
            ("x-request-id", "req-42"),
            ("authorization", "Bearer secret.token.here"),
        ],
    );
    let mut identity = identity;
    let mut upstream = HeaderMutations::default();
    let ctx = RequestContext {
        req: &view,
        rule: Some(0),
        rule_name: "admin",
        host,
        client_ip: Some("198.51.100.4".parse().unwrap()),
        identity: &mut identity,
        upstream: &mut upstream,
        body: None,
    };
    f(&ctx)
}

#[test]
fn every_kind_has_a_log_line_and_counters() {
    let host = MemoryHost::at(NOW);
    let kinds = [
        (
            SecurityEventKind::PrivilegeEscalationAttempt,
            "privilege_escalation_attempt",
        ),
        (SecurityEventKind::Lockout, "lockout"),
        (SecurityEventKind::RevokedTokenUse, "revoked_token_use"),
        (
            SecurityEventKind::ServiceCredentialReplay,
            "service_credential_replay",
        ),
        (SecurityEventKind::CsrfRejected, "csrf_rejected"),
    ];
    let identity = Identity {
        subject: Some("user-17".into()),
        ..Identity::default()
    };
    with_ctx(&host, identity, |ctx| {
        for (k, _) in kinds {
            events::security_event(ctx, k, "some_reason", Some("detail-x"));
        }
    });
    assert_eq!(host.metric("edgeguard_security_events_total"), 5);
    let lines = events(&host, "security_event");
    for ((_, name), line) in kinds.iter().zip(&lines) {
        assert_eq!(
            host.metric(&format!("edgeguard_security_event_{name}_total")),
            1
        );
        assert_eq!(line["kind"], *name);
        assert_eq!(line["rule"], "admin");
        assert_eq!(line["reason"], "some_reason");
        assert_eq!(line["client_ip"], "198.51.100.4");
        assert_eq!(line["subject"], "user-17");
        assert_eq!(line["request_id"], "req-42");
        assert_eq!(line["detail"], "detail-x");
    }
    assert!(host.logs.borrow().iter().all(|(l, _)| *l == LogLevel::Warn));
    assert!(!host.log_text().contains("secret.token"));
}

#[test]
fn permission_denied_reports_only_privileged_permissions() {
    let host = MemoryHost::at(NOW);
    // Defaults: system:config and user:manage.
    let fired = with_ctx(&host, Identity::default(), |ctx| {
        (
            events::permission_denied(ctx, None, &["messages:read"]),
            events::permission_denied(
                ctx,
                None,
                &["audit:view".to_string(), "system:config".to_string()],
            ),
        )
    });
    assert_eq!(fired, (false, true));
    let lines = events(&host, "security_event");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["kind"], "privilege_escalation_attempt");
    assert_eq!(lines[0]["reason"], "permission_denied_on_privileged_rule");
    assert_eq!(lines[0]["detail"], "system:config");

    let config =
        Config::from_json(br#"{"security_events": {"privileged_permissions": ["audit:view"]}}"#)
            .unwrap();
    let se = config.security_events.as_ref();
    assert!(events::is_privileged(se, "audit:view"));
    assert!(!events::is_privileged(se, "system:config"));
    assert!(events::is_privileged(None, "user:manage"));
}

#[test]
fn emit_without_a_context() {
    let host = MemoryHost::at(NOW);
    events::emit(
        &host,
        SecurityEventKind::Lockout,
        &EventFields {
            rule: "login",
            reason: "too_many_failures",
            client_ip: Some("192.0.2.1".parse().unwrap()),
            ..EventFields::default()
        },
    );
    let line = &events(&host, "security_event")[0];
    assert_eq!(line["kind"], "lockout");
    assert_eq!(line["client_ip"], "192.0.2.1");
    assert!(line.get("subject").is_none());
    assert_eq!(host.metric("edgeguard_security_event_lockout_total"), 1);
}

#[test]
fn config_error() {
    let err =
        Config::from_json(br#"{"security_events": {"privileged_permissions": [""]}}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "config error at security_events.privileged_permissions[0]: must be a non-empty permission name without spaces"
    );
}
