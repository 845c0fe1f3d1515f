//! Authorization after authentication: required claims (`type: access`, roles), required
//! permissions (token `permissions` array / space-delimited `scope`, or a configured claim,
//! plus permissions other credentials granted) and revoked `jti`s. Refusals are 403
//! `{"error":"permission denied",...}` naming at most the missing permission.

use crate::decision::LocalReply;
use crate::jwt::config::{ClaimCondition, RequireClaims, RequirePermissions};
use serde_json::Value;

/// Compiled per-rule authorization.
#[derive(Debug, Clone, Default)]
pub struct RuleAuthz {
    claims: Vec<(Vec<String>, Vec<Value>)>,
    permissions: Vec<String>,
    permission_claim: Option<Vec<String>>,
}

/// Read a claim by dotted path (`a.b` = `{"a":{"b":..}}`); a literal key containing dots
/// wins over the nested reading.
pub fn claim<'a>(payload: &'a Value, name: &str) -> Option<&'a Value> {
    if let Some(v) = payload.get(name) {
        return Some(v);
    }
    let mut cur = payload;
    for part in name.split('.') {
        cur = cur.get(part)?;
    }
    Some(cur)
}

fn claim_path(name: &str) -> Vec<String> {
    vec![name.to_string()]
}

/// Permissions a token grants through `claim` (array of strings or space-delimited string).
pub fn permissions_in(payload: &Value, claim_name: &str) -> Vec<String> {
    match claim(payload, claim_name) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// Default permission sources: `permissions` (array) and `scope` (space-delimited).
pub fn default_permissions(payload: &Value) -> Vec<String> {
    let mut p = permissions_in(payload, "permissions");
    p.extend(permissions_in(payload, "scope"));
    p
}

/// Why authorization refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Denial {
    /// A required claim is absent or has another value (not detailed to the client).
    Claims,
    /// This permission is not granted.
    Permission(String),
    /// The token's `jti` is revoked.
    Revoked,
}

impl Denial {
    /// The 403 reply.
    pub fn reply(&self) -> LocalReply {
        let (reason, body) = match self {
            Denial::Claims => (
                "jwt_permission_denied",
                serde_json::json!({"error": "permission denied", "status": 403}),
            ),
            Denial::Permission(p) => (
                "jwt_permission_denied",
                serde_json::json!({"error": "permission denied", "status": 403, "required_permission": p}),
            ),
            Denial::Revoked => (
                "jwt_revoked",
                serde_json::json!({"error": "permission denied", "status": 403, "detail": "token revoked"}),
            ),
        };
        LocalReply::with_body(
            403,
            reason,
            "application/json",
            body.to_string().into_bytes(),
        )
    }
}

impl RuleAuthz {
    /// Compile a rule's `require_claims` / `require_permissions`.
    pub fn compile(
        claims: Option<&RequireClaims>,
        perms: Option<&RequirePermissions>,
    ) -> RuleAuthz {
        RuleAuthz {
            claims: claims
                .map(|c| {
                    c.0.iter()
                        .map(|(k, cond)| {
                            let allowed = match cond {
                                ClaimCondition::OneOf(v) => v.clone(),
                                ClaimCondition::Equals(v) => vec![v.clone()],
                            };
                            (claim_path(k), allowed)
                        })
                        .collect()
                })
                .unwrap_or_default(),
            permissions: perms.map(|p| p.all.clone()).unwrap_or_default(),
            permission_claim: perms.and_then(|p| p.claim.clone()).map(|c| vec![c]),
        }
    }

    /// The rule's `require_permissions.all` list.
    pub fn required_permissions(&self) -> &[String] {
        &self.permissions
    }

    /// Anything to check?
    pub fn is_empty(&self) -> bool {
        self.claims.is_empty() && self.permissions.is_empty()
    }

    /// Whether claims are required (a token must have verified).
    pub fn needs_token(&self) -> bool {
        !self.claims.is_empty()
    }

    /// Check verified payloads (any one may satisfy the claims) and granted permissions.
    pub fn check(&self, payloads: &[&Value], other_permissions: &[String]) -> Result<(), Denial> {
        if !self.claims.is_empty() {
            let ok = payloads.iter().any(|p| {
                self.claims.iter().all(|(path, allowed)| {
                    let name = path.first().map(String::as_str).unwrap_or_default();
                    match claim(p, name) {
                        Some(Value::Array(items)) => items.iter().any(|i| allowed.contains(i)),
                        Some(v) => allowed.contains(v),
                        None => false,
                    }
                })
            });
            if !ok {
                return Err(Denial::Claims);
            }
        }
        if !self.permissions.is_empty() {
            let mut granted: Vec<String> = other_permissions.to_vec();
            for p in payloads {
                match &self.permission_claim {
                    Some(c) => granted.extend(permissions_in(
                        p,
                        c.first().map(String::as_str).unwrap_or_default(),
                    )),
                    None => granted.extend(default_permissions(p)),
                }
            }
            if let Some(missing) = self.permissions.iter().find(|p| !granted.contains(p)) {
                return Err(Denial::Permission(missing.clone()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_permissions_and_nested_paths() {
        let claims: RequireClaims =
            serde_json::from_value(json!({"type": "access", "org.role": ["admin", "dev"]}))
                .unwrap();
        let perms: RequirePermissions =
            serde_json::from_value(json!({"all": ["messages:read", "tool:execute"]})).unwrap();
        let a = RuleAuthz::compile(Some(&claims), Some(&perms));
        let good = json!({"type": "access", "org": {"role": "dev"},
                          "permissions": ["messages:read"], "scope": "tool:execute openid"});
        assert_eq!(a.check(&[&good], &[]), Ok(()));
        let refresh = json!({"type": "refresh", "org": {"role": "dev"}, "permissions": ["messages:read", "tool:execute"]});
        assert_eq!(a.check(&[&refresh], &[]), Err(Denial::Claims));
        let missing = json!({"type": "access", "org": {"role": ["x", "admin"]}, "permissions": ["messages:read"]});
        assert_eq!(
            a.check(&[&missing], &[]),
            Err(Denial::Permission("tool:execute".into()))
        );
        assert_eq!(a.check(&[&missing], &["tool:execute".into()]), Ok(()));
        assert_eq!(a.check(&[], &[]), Err(Denial::Claims));
        let body = String::from_utf8(Denial::Permission("a:b".into()).reply().body).unwrap();
        assert_eq!(
            body,
            r#"{"error":"permission denied","required_permission":"a:b","status":403}"#
        );
    }
}
