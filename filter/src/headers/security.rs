//! Security response headers: the defaults, merging of section and rule overrides, and
//! applying them to an upstream response or one of edgeguard's own replies.

use super::config::{
    check_header_name, check_header_value, CspConfig, HeaderAction, HeaderRule, HstsConfig,
    SecurityHeadersConfig,
};
use crate::config::ConfigError;
use crate::decision::HeaderMutations;

/// Default `Content-Security-Policy`, strict and meant for APIs: nothing may load
/// (`default-src 'none'`), no `<base>` rewriting, no form posts, no framing. HTML applications
/// must configure their own policy (e.g. `default-src 'self'; object-src 'none'; base-uri
/// 'self'; frame-ancestors 'none'`).
pub const DEFAULT_CSP: &str =
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Default `Permissions-Policy`: the powerful browser features are disabled for every origin.
pub const DEFAULT_PERMISSIONS_POLICY: &str = "accelerometer=(), autoplay=(), camera=(), \
     display-capture=(), encrypted-media=(), fullscreen=(), geolocation=(), gyroscope=(), \
     magnetometer=(), microphone=(), midi=(), payment=(), picture-in-picture=(), \
     publickey-credentials-get=(), screen-wake-lock=(), sync-xhr=(), usb=(), xr-spatial-tracking=()";

/// Default HSTS lifetime: one year, the minimum the preload list accepts.
pub const DEFAULT_HSTS_MAX_AGE: u64 = 31_536_000;

/// (header name, config field name, field getter, default value) of a plain header.
type SimpleHeader = (
    &'static str,
    &'static str,
    fn(&SecurityHeadersConfig) -> Option<&HeaderRule>,
    &'static str,
);

/// One compiled header rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderOp {
    /// Lowercase header name.
    pub name: String,
    /// What to do.
    pub action: HeaderAction,
    /// Value for `set` / `if_absent`.
    pub value: String,
}

/// The compiled security headers of the section or of one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderSet {
    /// Headers for every response.
    pub ops: Vec<HeaderOp>,
    /// `Strict-Transport-Security`, for HTTPS responses only (RFC 6797 §7.2: never over HTTP).
    pub hsts: Option<HeaderOp>,
}

impl HeaderSet {
    /// Merge `over` (a rule's overrides) onto `base` (the section) onto the defaults, validate
    /// and compile. Errors are reported at `path`.
    pub fn compile(
        base: &SecurityHeadersConfig,
        over: Option<&SecurityHeadersConfig>,
        path: &str,
    ) -> Result<HeaderSet, ConfigError> {
        let pick = |f: fn(&SecurityHeadersConfig) -> Option<&HeaderRule>| {
            merge_rule(f(base), over.and_then(f))
        };
        let mut set = HeaderSet {
            hsts: compile_hsts(
                base.strict_transport_security.as_ref(),
                over.and_then(|o| o.strict_transport_security.as_ref()),
                &format!("{path}.strict_transport_security"),
            )?,
            ..HeaderSet::default()
        };
        set.push(compile_csp(
            base.content_security_policy.as_ref(),
            over.and_then(|o| o.content_security_policy.as_ref()),
            &format!("{path}.content_security_policy"),
        )?);
        let simple: [SimpleHeader; 7] = [
            (
                "x-content-type-options",
                "x_content_type_options",
                |c| c.x_content_type_options.as_ref(),
                "nosniff",
            ),
            (
                "x-frame-options",
                "x_frame_options",
                |c| c.x_frame_options.as_ref(),
                "DENY",
            ),
            (
                "referrer-policy",
                "referrer_policy",
                |c| c.referrer_policy.as_ref(),
                "strict-origin-when-cross-origin",
            ),
            (
                "permissions-policy",
                "permissions_policy",
                |c| c.permissions_policy.as_ref(),
                DEFAULT_PERMISSIONS_POLICY,
            ),
            (
                "cross-origin-opener-policy",
                "cross_origin_opener_policy",
                |c| c.cross_origin_opener_policy.as_ref(),
                "same-origin",
            ),
            (
                "cross-origin-resource-policy",
                "cross_origin_resource_policy",
                |c| c.cross_origin_resource_policy.as_ref(),
                "same-origin",
            ),
            (
                "x-xss-protection",
                "x_xss_protection",
                |c| c.x_xss_protection.as_ref(),
                "0",
            ),
        ];
        for (name, field, getter, default) in simple {
            let rule = pick(getter);
            let value = rule.value.unwrap_or_else(|| default.to_string());
            check_header_value(&value, &format!("{path}.{field}.value"))?;
            set.push(HeaderOp {
                name: name.to_string(),
                action: rule.action.unwrap_or(HeaderAction::Set),
                value,
            });
        }
        let extras = base
            .extra
            .iter()
            .enumerate()
            .map(|(i, e)| (i, e, "extra"))
            .chain(
                over.into_iter()
                    .flat_map(|o| o.extra.iter().enumerate().map(|(i, e)| (i, e, "extra"))),
            );
        for (i, e, field) in extras {
            let at = format!("{path}.{field}[{i}]");
            check_header_name(&e.name, &format!("{at}.name"))?;
            let action = e.action.unwrap_or(HeaderAction::Set);
            let value = match (&e.value, action) {
                (Some(v), _) => v.clone(),
                (None, HeaderAction::Remove) => String::new(),
                (None, _) => {
                    return Err(ConfigError::new(
                        format!("{at}.value"),
                        "is required unless action is remove",
                    ))
                }
            };
            check_header_value(&value, &format!("{at}.value"))?;
            let name = e.name.to_ascii_lowercase();
            set.ops.retain(|op| op.name != name);
            set.push(HeaderOp {
                name,
                action,
                value,
            });
        }
        Ok(set)
    }

    fn push(&mut self, op: HeaderOp) {
        self.ops.push(op);
    }

    /// The mutations for a response whose headers are `present` (names any case). `https`
    /// says whether the response goes out over TLS (HSTS is sent only then).
    pub fn mutations(&self, present: &[(String, String)], https: bool) -> HeaderMutations {
        let mut m = HeaderMutations::default();
        let has = |name: &str| present.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
        let hsts = self.hsts.as_ref().filter(|_| https);
        for op in self.ops.iter().chain(hsts) {
            match op.action {
                HeaderAction::Set => m.set.push((op.name.clone(), op.value.clone())),
                HeaderAction::IfAbsent => {
                    if !has(&op.name) {
                        m.set.push((op.name.clone(), op.value.clone()));
                    }
                }
                HeaderAction::Remove => m.remove.push(op.name.clone()),
            }
        }
        if !https {
            // An upstream's HSTS over plain HTTP is ignored by browsers and leaks intent; drop it.
            if self.hsts.is_some() {
                m.remove.push("strict-transport-security".to_string());
            }
        }
        m
    }
}

fn merge_rule(base: Option<&HeaderRule>, over: Option<&HeaderRule>) -> HeaderRule {
    HeaderRule {
        action: over.and_then(|o| o.action).or(base.and_then(|b| b.action)),
        value: over
            .and_then(|o| o.value.clone())
            .or(base.and_then(|b| b.value.clone())),
    }
}

fn compile_csp(
    base: Option<&CspConfig>,
    over: Option<&CspConfig>,
    path: &str,
) -> Result<HeaderOp, ConfigError> {
    let action = over
        .and_then(|o| o.action)
        .or(base.and_then(|b| b.action))
        .unwrap_or(HeaderAction::Set);
    let value = over
        .and_then(|o| o.value.clone())
        .or(base.and_then(|b| b.value.clone()))
        .unwrap_or_else(|| DEFAULT_CSP.to_string());
    let report_only = over
        .and_then(|o| o.report_only)
        .or(base.and_then(|b| b.report_only))
        .unwrap_or(false);
    check_header_value(&value, &format!("{path}.value"))?;
    if action != HeaderAction::Remove && value.trim().is_empty() {
        return Err(ConfigError::new(
            format!("{path}.value"),
            "must not be empty (use action remove to send none)",
        ));
    }
    Ok(HeaderOp {
        name: if report_only {
            "content-security-policy-report-only"
        } else {
            "content-security-policy"
        }
        .to_string(),
        action,
        value,
    })
}

fn compile_hsts(
    base: Option<&HstsConfig>,
    over: Option<&HstsConfig>,
    path: &str,
) -> Result<Option<HeaderOp>, ConfigError> {
    let action = over
        .and_then(|o| o.action)
        .or(base.and_then(|b| b.action))
        .unwrap_or(HeaderAction::Set);
    let max_age = over
        .and_then(|o| o.max_age)
        .or(base.and_then(|b| b.max_age))
        .unwrap_or(DEFAULT_HSTS_MAX_AGE);
    let subdomains = over
        .and_then(|o| o.include_subdomains)
        .or(base.and_then(|b| b.include_subdomains))
        .unwrap_or(true);
    let preload = over
        .and_then(|o| o.preload)
        .or(base.and_then(|b| b.preload))
        .unwrap_or(false);
    if preload && action != HeaderAction::Remove {
        // The hstspreload.org submission rules.
        if max_age < DEFAULT_HSTS_MAX_AGE {
            return Err(ConfigError::new(
                format!("{path}.max_age"),
                format!("preload requires max_age of at least {DEFAULT_HSTS_MAX_AGE} (one year)"),
            ));
        }
        if !subdomains {
            return Err(ConfigError::new(
                format!("{path}.include_subdomains"),
                "preload requires include_subdomains: true",
            ));
        }
    }
    let mut value = format!("max-age={max_age}");
    if subdomains {
        value.push_str("; includeSubDomains");
    }
    if preload {
        value.push_str("; preload");
    }
    Ok(Some(HeaderOp {
        name: "strict-transport-security".to_string(),
        action,
        value,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> SecurityHeadersConfig {
        serde_json::from_str(json).unwrap()
    }

    fn value<'a>(m: &'a HeaderMutations, name: &str) -> Option<&'a str> {
        m.set
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn defaults_are_the_observatory_a_plus_set() {
        let set = HeaderSet::compile(&cfg("{}"), None, "headers.security").unwrap();
        let m = set.mutations(&[], true);
        assert_eq!(
            value(&m, "strict-transport-security"),
            Some("max-age=31536000; includeSubDomains")
        );
        assert_eq!(value(&m, "content-security-policy"), Some(DEFAULT_CSP));
        assert_eq!(value(&m, "x-content-type-options"), Some("nosniff"));
        assert_eq!(value(&m, "x-frame-options"), Some("DENY"));
        assert_eq!(
            value(&m, "referrer-policy"),
            Some("strict-origin-when-cross-origin")
        );
        assert!(value(&m, "permissions-policy")
            .unwrap()
            .contains("camera=()"));
        assert_eq!(value(&m, "cross-origin-opener-policy"), Some("same-origin"));
        assert_eq!(
            value(&m, "cross-origin-resource-policy"),
            Some("same-origin")
        );
        assert_eq!(value(&m, "x-xss-protection"), Some("0"));
        assert!(DEFAULT_CSP.contains("frame-ancestors 'none'"));
        assert!(DEFAULT_CSP.starts_with("default-src 'none'"));
    }

    #[test]
    fn hsts_only_over_https_and_upstream_hsts_dropped_on_http() {
        let set = HeaderSet::compile(&cfg("{}"), None, "h").unwrap();
        let m = set.mutations(&[], false);
        assert_eq!(value(&m, "strict-transport-security"), None);
        assert!(m.remove.contains(&"strict-transport-security".to_string()));
    }

    #[test]
    fn if_absent_keeps_the_upstream_value() {
        let set = HeaderSet::compile(
            &cfg(r#"{"x_frame_options":{"action":"if_absent"}}"#),
            None,
            "h",
        )
        .unwrap();
        let m = set.mutations(&[("X-Frame-Options".into(), "SAMEORIGIN".into())], true);
        assert_eq!(value(&m, "x-frame-options"), None);
        assert!(!m.remove.contains(&"x-frame-options".to_string()));
        let m = set.mutations(&[], true);
        assert_eq!(value(&m, "x-frame-options"), Some("DENY"));
    }

    #[test]
    fn remove_action_removes() {
        let set = HeaderSet::compile(
            &cfg(r#"{"permissions_policy":{"action":"remove"}}"#),
            None,
            "h",
        )
        .unwrap();
        let m = set.mutations(&[], true);
        assert_eq!(value(&m, "permissions-policy"), None);
        assert!(m.remove.contains(&"permissions-policy".to_string()));
    }

    #[test]
    fn csp_report_only_uses_the_report_only_header() {
        let set = HeaderSet::compile(
            &cfg(
                r#"{"content_security_policy":{"report_only":true,"value":"default-src 'self'"}}"#,
            ),
            None,
            "h",
        )
        .unwrap();
        let m = set.mutations(&[], true);
        assert_eq!(value(&m, "content-security-policy"), None);
        assert_eq!(
            value(&m, "content-security-policy-report-only"),
            Some("default-src 'self'")
        );
    }

    #[test]
    fn preload_is_validated_against_the_preload_rules() {
        let e = HeaderSet::compile(
            &cfg(r#"{"strict_transport_security":{"preload":true,"max_age":600}}"#),
            None,
            "headers.security",
        )
        .unwrap_err();
        assert_eq!(e.path, "headers.security.strict_transport_security.max_age");
        let e = HeaderSet::compile(
            &cfg(r#"{"strict_transport_security":{"preload":true,"include_subdomains":false}}"#),
            None,
            "headers.security",
        )
        .unwrap_err();
        assert_eq!(
            e.path,
            "headers.security.strict_transport_security.include_subdomains"
        );
        let ok = HeaderSet::compile(
            &cfg(r#"{"strict_transport_security":{"preload":true}}"#),
            None,
            "h",
        )
        .unwrap();
        assert_eq!(
            ok.hsts.unwrap().value,
            "max-age=31536000; includeSubDomains; preload"
        );
    }

    #[test]
    fn rule_overrides_merge_field_by_field() {
        let base = cfg(
            r#"{"x_frame_options":{"value":"SAMEORIGIN"},"referrer_policy":{"value":"no-referrer"}}"#,
        );
        let over = cfg(r#"{"x_frame_options":{"action":"if_absent"}}"#);
        let set = HeaderSet::compile(&base, Some(&over), "rules[0].headers.security").unwrap();
        let xfo = set
            .ops
            .iter()
            .find(|o| o.name == "x-frame-options")
            .unwrap();
        assert_eq!(xfo.action, HeaderAction::IfAbsent);
        assert_eq!(xfo.value, "SAMEORIGIN");
        let rp = set
            .ops
            .iter()
            .find(|o| o.name == "referrer-policy")
            .unwrap();
        assert_eq!(rp.value, "no-referrer");
    }

    #[test]
    fn extra_headers_and_bad_values_are_checked() {
        let set = HeaderSet::compile(
            &cfg(r#"{"extra":[{"name":"Cross-Origin-Embedder-Policy","value":"require-corp"}]}"#),
            None,
            "h",
        )
        .unwrap();
        let m = set.mutations(&[], true);
        assert_eq!(
            value(&m, "cross-origin-embedder-policy"),
            Some("require-corp")
        );
        let e = HeaderSet::compile(&cfg(r#"{"extra":[{"name":"X-A"}]}"#), None, "h").unwrap_err();
        assert_eq!(e.path, "h.extra[0].value");
        let e = HeaderSet::compile(&cfg(r#"{"referrer_policy":{"value":"a\r\nb"}}"#), None, "h")
            .unwrap_err();
        assert_eq!(e.path, "h.referrer_policy.value");
        let e = HeaderSet::compile(
            &cfg(r#"{"extra":[{"name":"bad name","value":"x"}]}"#),
            None,
            "h",
        )
        .unwrap_err();
        assert_eq!(e.path, "h.extra[0].name");
    }
}
