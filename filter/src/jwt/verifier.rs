//! The requirement tree (`provider_name`, `provider_and_audiences`, `requires_any`,
//! `requires_all`, `allow_missing`, `allow_missing_or_failed`) compiled once and evaluated per
//! request against a [`TokenChecker`] that verifies the tokens.

use crate::jwt::config::Requirement;
use crate::jwt::status::JwtStatus;
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
    /// Any child passes.
    Any(Vec<Node>),
    /// All children pass.
    All(Vec<Node>),
    /// No token passes; present tokens (any provider) must be valid.
    AllowMissing,
    /// Always passes; valid tokens are still used.
    AllowMissingOrFailed,
}

/// Result of evaluating a requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Satisfied.
    Ok,
    /// Refused with this status.
    Fail(JwtStatus),
    /// Waiting for keys.
    Pending,
}

/// Verifies the tokens a node asks about; implemented by the stage (and by tests).
pub trait TokenChecker {
    /// Verify the tokens of one provider (Missing when none).
    fn provider_tokens(&mut self, provider: usize, audiences: Option<&[String]>) -> Outcome;
    /// Verify tokens from every provider's locations, each by the provider its `iss` names.
    fn any_provider_tokens(&mut self) -> Outcome;
}

/// Compile a validated requirement; `map` resolves `requirement_name`.
pub fn compile(
    r: &Requirement,
    providers: &BTreeMap<String, usize>,
    map: &BTreeMap<String, Requirement>,
    depth: usize,
) -> Option<Node> {
    if depth > 16 {
        return None;
    }
    if let Some(p) = &r.provider_name {
        return Some(Node::Provider {
            provider: *providers.get(p)?,
            audiences: None,
        });
    }
    if let Some(pa) = &r.provider_and_audiences {
        return Some(Node::Provider {
            provider: *providers.get(&pa.provider_name)?,
            audiences: Some(pa.audiences.clone()),
        });
    }
    if let Some(list) = &r.requires_any {
        return Some(Node::Any(
            list.requirements
                .iter()
                .map(|c| compile(c, providers, map, depth + 1))
                .collect::<Option<Vec<_>>>()?,
        ));
    }
    if let Some(list) = &r.requires_all {
        return Some(Node::All(
            list.requirements
                .iter()
                .map(|c| compile(c, providers, map, depth + 1))
                .collect::<Option<Vec<_>>>()?,
        ));
    }
    if r.allow_missing.is_some() {
        return Some(Node::AllowMissing);
    }
    if r.allow_missing_or_failed.is_some() {
        return Some(Node::AllowMissingOrFailed);
    }
    if let Some(name) = &r.requirement_name {
        return compile(map.get(name)?, providers, map, depth + 1);
    }
    None
}

/// Evaluate a node.
pub fn evaluate(node: &Node, checker: &mut dyn TokenChecker) -> Outcome {
    match node {
        Node::Provider {
            provider,
            audiences,
        } => checker.provider_tokens(*provider, audiences.as_deref()),
        Node::AllowMissing => match checker.any_provider_tokens() {
            Outcome::Fail(JwtStatus::Missing) => Outcome::Ok,
            other => other,
        },
        Node::AllowMissingOrFailed => match checker.any_provider_tokens() {
            Outcome::Pending => Outcome::Pending,
            _ => Outcome::Ok,
        },
        Node::Any(children) => {
            let mut pending = false;
            let mut error: Option<JwtStatus> = None;
            for c in children {
                match evaluate(c, checker) {
                    Outcome::Ok => return Outcome::Ok,
                    Outcome::Pending => pending = true,
                    Outcome::Fail(JwtStatus::Missing) => {
                        error.get_or_insert(JwtStatus::Missing);
                    }
                    Outcome::Fail(s) => error = Some(s),
                }
            }
            if pending {
                Outcome::Pending
            } else {
                Outcome::Fail(error.unwrap_or(JwtStatus::Missing))
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
                1 => Outcome::Fail(JwtStatus::Expired),
                2 => Outcome::Fail(JwtStatus::Missing),
                _ => Outcome::Pending,
            }
        }
        fn any_provider_tokens(&mut self) -> Outcome {
            Outcome::Fail(JwtStatus::Missing)
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
            Outcome::Fail(JwtStatus::Expired),
            "a real error wins over missing"
        );
        assert_eq!(
            evaluate(&Node::Any(vec![p(2), p(2)]), f),
            Outcome::Fail(JwtStatus::Missing)
        );
        assert_eq!(
            evaluate(&Node::All(vec![p(0), p(1)]), f),
            Outcome::Fail(JwtStatus::Expired)
        );
        assert_eq!(evaluate(&Node::All(vec![p(0), p(3)]), f), Outcome::Pending);
        assert_eq!(evaluate(&Node::Any(vec![p(3), p(0)]), f), Outcome::Ok);
        assert_eq!(
            evaluate(&Node::Any(vec![p(2), Node::AllowMissing]), f),
            Outcome::Ok
        );
        assert_eq!(evaluate(&Node::AllowMissingOrFailed, f), Outcome::Ok);
    }
}
