//! The requirement tree (`provider_name`, `provider_and_audiences`, `requires_any`,
//! `requires_all`, `allow_missing`, `allow_missing_or_failed`) compiled once and evaluated per
//! request against a [`TokenChecker`] that verifies the credentials.
//!
//! Beyond Envoy's JWT-only tree, edgeguard has two more leaves, so credentials can be combined:
//! `{"service_auth": {...}}` (a verified service credential: message signature or service
//! token) and `{"api_key": {}}` (a valid API key). `requires_any` then reads "a user token or
//! a service credential", `requires_all` "a service credential and a user token".

use crate::api_key::ApiKeyFailure;
use crate::config::ConfigError;
use crate::jwt::config::Requirement;
use crate::jwt::status::JwtStatus;
use crate::service_auth::config::RuleServiceAuth;
use crate::service_auth::ServiceAuthFailure;
use std::collections::BTreeMap;

/// A compiled requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// Tokens of this provider (index) must be present and all valid.
    Provider {
        /// Provider index.
        provider: usize,
        /// Audiences overriding the provider's.
        audiences: Option<Vec<String>>,
    },
    /// A service credential verified under the service-auth policy with this index.
    ServiceAuth(usize),
    /// A valid API key.
    ApiKey,
    /// Any child passes.
    Any(Vec<Node>),
    /// All children pass.
    All(Vec<Node>),
    /// No token passes; present tokens (any provider) must be valid.
    AllowMissing,
    /// Always passes; valid tokens are still used.
    AllowMissingOrFailed,
}

impl Node {
    /// Whether any leaf of this tree is a `service_auth` leaf.
    pub fn uses_service_auth(&self) -> bool {
        match self {
            Node::ServiceAuth(_) => true,
            Node::Any(c) | Node::All(c) => c.iter().any(Node::uses_service_auth),
            _ => false,
        }
    }
}

/// Why a requirement failed: the failure of the credential that decides the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthFailure {
    /// A JWT failure (Envoy's status, Envoy's reply).
    Jwt(JwtStatus),
    /// A service credential failure.
    Service(ServiceAuthFailure),
    /// An API key failure.
    ApiKey(ApiKeyFailure),
}

impl AuthFailure {
    /// No credential of this kind was presented (a real error wins over this in `requires_any`).
    pub fn is_missing(&self) -> bool {
        matches!(
            self,
            AuthFailure::Jwt(JwtStatus::Missing)
                | AuthFailure::Service(ServiceAuthFailure::Missing)
                | AuthFailure::ApiKey(ApiKeyFailure::Missing)
        )
    }
}

impl From<JwtStatus> for AuthFailure {
    fn from(s: JwtStatus) -> Self {
        AuthFailure::Jwt(s)
    }
}

/// Result of evaluating a requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Satisfied.
    Ok,
    /// Refused with this failure.
    Fail(AuthFailure),
    /// Waiting for keys.
    Pending,
}

/// Verifies the credentials a node asks about; implemented by the stage (and by tests).
pub trait TokenChecker {
    /// Verify the tokens of one provider (Missing when none).
    fn provider_tokens(&mut self, provider: usize, audiences: Option<&[String]>) -> Outcome;
    /// Verify tokens from every provider's locations, each by the provider its `iss` names.
    fn any_provider_tokens(&mut self) -> Outcome;
    /// Verify the service credential under service-auth policy `policy` (an index from
    /// [`LeafCompiler::service_auth`]).
    fn service_credential(&mut self, policy: usize) -> Outcome;
    /// Verify the API key.
    fn api_key(&mut self) -> Outcome;
}

/// Compiles the non-JWT leaves while the tree is compiled (the service-auth and API-key
/// sections are compiled elsewhere; this is how the tree reaches them).
pub trait LeafCompiler {
    /// Compile a `service_auth` leaf found at `path`; returns its policy index.
    fn service_auth(&mut self, leaf: &RuleServiceAuth, path: &str) -> Result<usize, ConfigError>;
    /// Check that an `api_key` leaf at `path` can work (an `api_keys` section exists).
    fn api_key(&mut self, path: &str) -> Result<(), ConfigError>;
}

/// What a tree refers to while it is compiled.
pub struct CompileEnv<'a> {
    /// Provider name → index.
    pub providers: &'a BTreeMap<String, usize>,
    /// `jwt_authn.requirement_map`.
    pub map: &'a BTreeMap<String, Requirement>,
    /// The other credential sections.
    pub leaves: &'a mut dyn LeafCompiler,
}

/// Compile a validated requirement found at `path`; `env.map` resolves `requirement_name`.
pub fn compile(
    r: &Requirement,
    env: &mut CompileEnv<'_>,
    path: &str,
    depth: usize,
) -> Result<Node, ConfigError> {
    let unknown =
        |what: &str, name: &str| ConfigError::new(path, format!("unknown {what} {name:?}"));
    if depth > 16 {
        return Err(ConfigError::new(
            path,
            "requirements nest more than 16 levels deep",
        ));
    }
    if let Some(p) = &r.provider_name {
        return Ok(Node::Provider {
            provider: *env.providers.get(p).ok_or_else(|| unknown("provider", p))?,
            audiences: None,
        });
    }
    if let Some(pa) = &r.provider_and_audiences {
        return Ok(Node::Provider {
            provider: *env
                .providers
                .get(&pa.provider_name)
                .ok_or_else(|| unknown("provider", &pa.provider_name))?,
            audiences: Some(pa.audiences.clone()),
        });
    }
    for (key, list, any) in [
        ("requires_any", &r.requires_any, true),
        ("requires_all", &r.requires_all, false),
    ] {
        if let Some(list) = list {
            let children = list
                .requirements
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    compile(
                        c,
                        env,
                        &format!("{path}.{key}.requirements[{i}]"),
                        depth + 1,
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(if any {
                Node::Any(children)
            } else {
                Node::All(children)
            });
        }
    }
    if r.allow_missing.is_some() {
        return Ok(Node::AllowMissing);
    }
    if r.allow_missing_or_failed.is_some() {
        return Ok(Node::AllowMissingOrFailed);
    }
    if let Some(leaf) = &r.service_auth {
        let index = env
            .leaves
            .service_auth(leaf, &format!("{path}.service_auth"))?;
        return Ok(Node::ServiceAuth(index));
    }
    if r.api_key.is_some() {
        env.leaves.api_key(&format!("{path}.api_key"))?;
        return Ok(Node::ApiKey);
    }
    if let Some(name) = &r.requirement_name {
        let target = env
            .map
            .get(name)
            .ok_or_else(|| unknown("requirement", name))?;
        return compile(
            target,
            env,
            &format!("jwt_authn.requirement_map.{name}"),
            depth + 1,
        );
    }
    Err(ConfigError::new(path, "empty requirement"))
}

/// Evaluate a node.
pub fn evaluate(node: &Node, checker: &mut dyn TokenChecker) -> Outcome {
    match node {
        Node::Provider {
            provider,
            audiences,
        } => checker.provider_tokens(*provider, audiences.as_deref()),
        Node::ServiceAuth(policy) => checker.service_credential(*policy),
        Node::ApiKey => checker.api_key(),
        Node::AllowMissing => match checker.any_provider_tokens() {
            Outcome::Fail(AuthFailure::Jwt(JwtStatus::Missing)) => Outcome::Ok,
            other => other,
        },
        Node::AllowMissingOrFailed => match checker.any_provider_tokens() {
            Outcome::Pending => Outcome::Pending,
            _ => Outcome::Ok,
        },
        Node::Any(children) => {
            let mut pending = false;
            // The first "missing" is kept unless a real error comes; the last real error wins.
            let mut error: Option<AuthFailure> = None;
            for c in children {
                match evaluate(c, checker) {
                    Outcome::Ok => return Outcome::Ok,
                    Outcome::Pending => pending = true,
                    Outcome::Fail(f) if f.is_missing() => {
                        error.get_or_insert(f);
                    }
                    Outcome::Fail(f) => error = Some(f),
                }
            }
            if pending {
                Outcome::Pending
            } else {
                Outcome::Fail(error.unwrap_or(AuthFailure::Jwt(JwtStatus::Missing)))
            }
        }
        Node::All(children) => {
            let mut pending = false;
            for c in children {
                match evaluate(c, checker) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Provider 0 has a good token, 1 a bad one, 2 none, 3 is waiting for keys.
    struct Fake;
    impl TokenChecker for Fake {
        fn provider_tokens(&mut self, p: usize, _: Option<&[String]>) -> Outcome {
            match p {
                0 => Outcome::Ok,
                1 => Outcome::Fail(JwtStatus::Expired.into()),
                2 => Outcome::Fail(JwtStatus::Missing.into()),
                _ => Outcome::Pending,
            }
        }
        fn any_provider_tokens(&mut self) -> Outcome {
            Outcome::Fail(JwtStatus::Missing.into())
        }
        /// Policy 0 verifies, policy 1 finds no credential, policy 2 a bad signature.
        fn service_credential(&mut self, policy: usize) -> Outcome {
            match policy {
                0 => Outcome::Ok,
                1 => Outcome::Fail(AuthFailure::Service(ServiceAuthFailure::Missing)),
                _ => Outcome::Fail(AuthFailure::Service(ServiceAuthFailure::UnknownKey)),
            }
        }
        fn api_key(&mut self) -> Outcome {
            Outcome::Fail(AuthFailure::ApiKey(ApiKeyFailure::Missing))
        }
    }

    fn p(i: usize) -> Node {
        Node::Provider {
            provider: i,
            audiences: None,
        }
    }

    #[test]
    fn any_all_and_allow_missing() {
        let f = &mut Fake;
        assert_eq!(evaluate(&Node::Any(vec![p(1), p(0)]), f), Outcome::Ok);
        assert_eq!(
            evaluate(&Node::Any(vec![p(1), p(2)]), f),
            Outcome::Fail(JwtStatus::Expired.into()),
            "a real error wins over missing"
        );
        assert_eq!(
            evaluate(&Node::Any(vec![p(2), p(2)]), f),
            Outcome::Fail(JwtStatus::Missing.into())
        );
        assert_eq!(
            evaluate(&Node::All(vec![p(0), p(1)]), f),
            Outcome::Fail(JwtStatus::Expired.into())
        );
        assert_eq!(evaluate(&Node::All(vec![p(0), p(3)]), f), Outcome::Pending);
        assert_eq!(evaluate(&Node::Any(vec![p(3), p(0)]), f), Outcome::Ok);
        assert_eq!(
            evaluate(&Node::Any(vec![p(2), Node::AllowMissing]), f),
            Outcome::Ok
        );
        assert_eq!(evaluate(&Node::AllowMissingOrFailed, f), Outcome::Ok);
    }

    #[test]
    fn credential_leaves_combine_with_providers() {
        let f = &mut Fake;
        let svc_ok = Node::ServiceAuth(0);
        let svc_missing = Node::ServiceAuth(1);
        let svc_bad = Node::ServiceAuth(2);
        assert_eq!(
            evaluate(&Node::Any(vec![p(2), svc_ok.clone()]), f),
            Outcome::Ok
        );
        assert_eq!(
            evaluate(&Node::All(vec![svc_ok.clone(), p(1)]), f),
            Outcome::Fail(JwtStatus::Expired.into()),
            "requires_all: the token must verify too"
        );
        assert_eq!(evaluate(&Node::All(vec![svc_ok, p(0)]), f), Outcome::Ok);
        assert_eq!(
            evaluate(&Node::Any(vec![p(2), svc_missing.clone(), Node::ApiKey]), f),
            Outcome::Fail(JwtStatus::Missing.into()),
            "nothing presented: the first missing credential decides the reply"
        );
        assert_eq!(
            evaluate(&Node::Any(vec![p(2), svc_bad, Node::ApiKey]), f),
            Outcome::Fail(AuthFailure::Service(ServiceAuthFailure::UnknownKey)),
            "a presented but bad credential wins over missing ones"
        );
        assert_eq!(
            evaluate(&Node::Any(vec![svc_missing, p(3)]), f),
            Outcome::Pending
        );
        assert!(
            Node::Any(vec![Node::ApiKey, Node::All(vec![Node::ServiceAuth(0)])])
                .uses_service_auth()
        );
        assert!(!Node::All(vec![Node::ApiKey, p(0)]).uses_service_auth());
    }
}
