//! Matchers for jwt_authn's own `rules[].match` (Envoy `RouteMatch`: prefix | path |
//! safe_regex, plus header matchers). Paths are the engine's normalized path.

use crate::jwt::authenticator::SubjectMatcher;
use crate::jwt::config::{HeaderMatcher, JwtRouteMatch, StringMatcher};
use crate::request::RequestView;

#[derive(Debug, Clone)]
enum PathKind {
    Prefix(String),
    Exact(String),
    Regex(regex_lite::Regex),
}

#[derive(Debug, Clone)]
struct CompiledHeader {
    name: String,
    value: Option<SubjectMatcher>,
    present: Option<bool>,
    invert: bool,
}

/// A compiled jwt_authn route match.
#[derive(Debug, Clone)]
pub struct JwtRoute {
    path: PathKind,
    case_sensitive: bool,
    headers: Vec<CompiledHeader>,
}

fn header_value_matcher(h: &HeaderMatcher) -> Option<SubjectMatcher> {
    let sm = if let Some(m) = &h.string_match {
        m.clone()
    } else if let Some(v) = &h.exact_match {
        StringMatcher {
            exact: Some(v.clone()),
            ..Default::default()
        }
    } else if let Some(v) = &h.prefix_match {
        StringMatcher {
            prefix: Some(v.clone()),
            ..Default::default()
        }
    } else if let Some(v) = &h.suffix_match {
        StringMatcher {
            suffix: Some(v.clone()),
            ..Default::default()
        }
    } else {
        return None;
    };
    SubjectMatcher::compile(&sm)
}

impl JwtRoute {
    /// Compile a validated match; None if a regex does not compile.
    pub fn compile(m: &JwtRouteMatch) -> Option<JwtRoute> {
        let case_sensitive = m.case_sensitive.unwrap_or(true);
        let fold = |s: &String| {
            if case_sensitive {
                s.clone()
            } else {
                s.to_ascii_lowercase()
            }
        };
        let path = if let Some(p) = &m.prefix {
            PathKind::Prefix(fold(p))
        } else if let Some(p) = &m.path {
            PathKind::Exact(fold(p))
        } else {
            let r = m.safe_regex.as_ref()?;
            PathKind::Regex(regex_lite::Regex::new(&format!("^(?:{})$", r.regex)).ok()?)
        };
        Some(JwtRoute {
            path,
            case_sensitive,
            headers: m
                .headers
                .iter()
                .map(|h| CompiledHeader {
                    name: h.name.to_ascii_lowercase(),
                    value: header_value_matcher(h),
                    present: h.present_match,
                    invert: h.invert_match,
                })
                .collect(),
        })
    }

    /// Does the request fit?
    pub fn matches(&self, req: &RequestView) -> bool {
        let path = if self.case_sensitive {
            std::borrow::Cow::Borrowed(req.path.as_str())
        } else {
            std::borrow::Cow::Owned(req.path.to_ascii_lowercase())
        };
        let ok = match &self.path {
            PathKind::Prefix(p) => path.starts_with(p.as_str()),
            PathKind::Exact(p) => *path == **p,
            PathKind::Regex(r) => r.is_match(&req.path),
        };
        ok && self.headers.iter().all(|h| {
            let hit = match (&h.value, h.present) {
                (Some(m), _) => req.header_values(&h.name).any(|v| m.matches(v)),
                (None, Some(false)) => req.header(&h.name).is_none(),
                (None, _) => req.header(&h.name).is_some(),
            };
            hit != h.invert
        })
    }
}
