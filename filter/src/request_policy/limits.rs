//! Request limits and hygiene per rule: allowed methods (405 with `Allow`), URL length (414),
//! header count and size (431), encoded traversal left in the raw path (400), allowed request
//! content types (415) and body size (413).

use crate::config::ConfigError;
use crate::decision::LocalReply;
use crate::request::RequestView;
use schemars::JsonSchema;
use serde::Deserialize;

/// Per-rule limits. Every field is optional; an absent field is not checked.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleLimits {
    /// Methods allowed on this rule (others get 405 with `Allow`); empty = any.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Maximum length of the request target (`:path` with query), in bytes (414).
    #[serde(default)]
    pub max_url_length: Option<usize>,
    /// Maximum number of request header fields, pseudo-headers excluded (431).
    #[serde(default)]
    pub max_header_count: Option<usize>,
    /// Maximum total size of request header names and values, in bytes (431).
    #[serde(default)]
    pub max_header_bytes: Option<usize>,
    /// Reject (400) raw paths with encoded traversal: `%2e%2e` segments, `%2f`, `%5c` or `\`,
    /// `%00` or NUL, and double-encoded forms (`%252e`, ...).
    #[serde(default)]
    pub reject_encoded_traversal: bool,
    /// Media types a request body may have (`application/json`, `multipart/form-data`,
    /// `text/*`); a request with a body and another or no type gets 415. Empty = any.
    #[serde(default)]
    pub content_types: Vec<String>,
    /// Maximum request body size in bytes (413). Uses `content-length` when present; otherwise
    /// the body is buffered and measured.
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// With `max_body_bytes`: answer 411 to a request that may carry a body (any method but
    /// GET, HEAD, OPTIONS, TRACE) and has no `content-length`, instead of buffering the body to
    /// measure it. Needed in Envoy today: a proxy-wasm filter cannot receive the body while it
    /// holds the headers (see testdata/misc/README.md).
    #[serde(default)]
    pub require_content_length: bool,
}

impl RuleLimits {
    /// Validate at `path` (`rules[N].limits`).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        for (i, m) in self.methods.iter().enumerate() {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(ConfigError::new(
                    format!("{path}.methods[{i}]"),
                    format!("{m:?} is not an upper-case HTTP method"),
                ));
            }
        }
        for (name, v) in [
            ("max_url_length", self.max_url_length),
            ("max_header_count", self.max_header_count),
            ("max_header_bytes", self.max_header_bytes),
        ] {
            if v == Some(0) {
                return Err(ConfigError::new(
                    format!("{path}.{name}"),
                    "must be greater than 0",
                ));
            }
        }
        for (i, t) in self.content_types.iter().enumerate() {
            let ok = t.split_once('/').is_some_and(|(a, b)| {
                crate::api_key::config::is_header_token(a)
                    && a != "*"
                    && (b == "*" || crate::api_key::config::is_header_token(b))
            });
            if !ok {
                return Err(ConfigError::new(
                    format!("{path}.content_types[{i}]"),
                    format!("{t:?} is not a media type such as application/json or text/*"),
                ));
            }
        }
        Ok(())
    }
}

/// Why a request broke a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitViolation {
    /// The method is not in `methods`.
    MethodNotAllowed {
        /// The `Allow` header value.
        allow: String,
    },
    /// The request target is longer than `max_url_length`.
    UriTooLong,
    /// More header fields than `max_header_count`.
    TooManyHeaders,
    /// Header names and values larger than `max_header_bytes`.
    HeadersTooLarge,
    /// Encoded traversal in the raw path; the pattern found, for logs.
    EncodedTraversal(&'static str),
    /// A body whose media type is not in `content_types` (or has none).
    UnsupportedMediaType,
    /// A body larger than `max_body_bytes`.
    BodyTooLarge,
    /// A `content-length` that is not a number, or several that disagree.
    BadContentLength,
    /// No `content-length` on a rule with `require_content_length`.
    LengthRequired,
}

impl LimitViolation {
    /// Machine reason for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            LimitViolation::MethodNotAllowed { .. } => "method_not_allowed",
            LimitViolation::UriTooLong => "uri_too_long",
            LimitViolation::TooManyHeaders => "too_many_headers",
            LimitViolation::HeadersTooLarge => "headers_too_large",
            LimitViolation::EncodedTraversal(_) => "encoded_traversal",
            LimitViolation::UnsupportedMediaType => "unsupported_media_type",
            LimitViolation::BodyTooLarge => "body_too_large",
            LimitViolation::BadContentLength => "bad_content_length",
            LimitViolation::LengthRequired => "length_required",
        }
    }

    /// A non-secret detail for the log line (the traversal pattern found).
    pub fn detail(&self) -> Option<&'static str> {
        match self {
            LimitViolation::EncodedTraversal(p) => Some(p),
            _ => None,
        }
    }

    /// The local reply.
    pub fn reply(&self) -> LocalReply {
        let r = self.reason();
        match self {
            LimitViolation::MethodNotAllowed { allow } => {
                LocalReply::error(405, r, "method not allowed").header("allow", allow.clone())
            }
            LimitViolation::UriTooLong => LocalReply::error(414, r, "request URL too long"),
            LimitViolation::TooManyHeaders => {
                LocalReply::error(431, r, "too many request header fields")
            }
            LimitViolation::HeadersTooLarge => {
                LocalReply::error(431, r, "request header fields too large")
            }
            LimitViolation::EncodedTraversal(_) => {
                LocalReply::error(400, r, "request path contains encoded traversal")
            }
            LimitViolation::UnsupportedMediaType => {
                LocalReply::error(415, r, "unsupported request content type")
            }
            LimitViolation::BodyTooLarge => LocalReply::error(413, r, "request body too large"),
            LimitViolation::BadContentLength => {
                LocalReply::error(400, r, "invalid content-length header")
            }
            LimitViolation::LengthRequired => {
                LocalReply::error(411, r, "content-length header required")
            }
        }
    }
}

/// The result of the body-size check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyCheck {
    /// Within the limit (or no limit).
    Ok,
    /// The size is unknown until the body is buffered.
    NeedBody,
    /// Over the limit or malformed.
    Violation(LimitViolation),
}

/// Compiled per-rule limits.
#[derive(Debug, Clone)]
pub struct Limits {
    c: RuleLimits,
    allow: String,
    content_types: Vec<String>,
}

impl Limits {
    /// Compile validated settings.
    pub fn compile(c: &RuleLimits) -> Limits {
        Limits {
            allow: c.methods.join(", "),
            content_types: c
                .content_types
                .iter()
                .map(|t| t.to_ascii_lowercase())
                .collect(),
            c: c.clone(),
        }
    }

    /// Does this rule limit the body size (so the body may have to be buffered)?
    pub fn limits_body(&self) -> bool {
        self.c.max_body_bytes.is_some()
    }

    /// Every check that needs only the headers, cheapest first.
    pub fn check_headers(&self, req: &RequestView) -> Result<(), LimitViolation> {
        if !self.c.methods.is_empty() && !self.c.methods.contains(&req.method) {
            return Err(LimitViolation::MethodNotAllowed {
                allow: self.allow.clone(),
            });
        }
        if self
            .c
            .max_url_length
            .is_some_and(|m| req.raw_path.len() > m)
        {
            return Err(LimitViolation::UriTooLong);
        }
        if self
            .c
            .max_header_count
            .is_some_and(|m| req.headers.len() > m)
        {
            return Err(LimitViolation::TooManyHeaders);
        }
        if let Some(max) = self.c.max_header_bytes {
            let total: usize = req.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
            if total > max {
                return Err(LimitViolation::HeadersTooLarge);
            }
        }
        if self.c.reject_encoded_traversal {
            if let Some(p) = encoded_traversal(&req.raw_path) {
                return Err(LimitViolation::EncodedTraversal(p));
            }
        }
        if !self.content_types.is_empty() && declares_body(req) {
            let media = req.header("content-type").map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
            let ok = media.is_some_and(|m| {
                self.content_types
                    .iter()
                    .any(|allowed| match allowed.strip_suffix("/*") {
                        Some(top) => m
                            .split_once('/')
                            .is_some_and(|(t, s)| t == top && !s.is_empty()),
                        None => *allowed == m,
                    })
            });
            if !ok {
                return Err(LimitViolation::UnsupportedMediaType);
            }
        }
        Ok(())
    }

    /// The body-size check; `body` is the buffered body once available.
    pub fn check_body(&self, req: &RequestView, body: Option<&[u8]>) -> BodyCheck {
        let Some(max) = self.c.max_body_bytes else {
            return BodyCheck::Ok;
        };
        if let Some(b) = body {
            return if b.len() as u64 > max {
                BodyCheck::Violation(LimitViolation::BodyTooLarge)
            } else {
                BodyCheck::Ok
            };
        }
        match content_length(req) {
            Err(v) => BodyCheck::Violation(v),
            Ok(Some(n)) if n > max => BodyCheck::Violation(LimitViolation::BodyTooLarge),
            Ok(Some(_)) => BodyCheck::Ok,
            Ok(None)
                if self.c.require_content_length
                    && !matches!(req.method.as_str(), "GET" | "HEAD" | "OPTIONS" | "TRACE") =>
            {
                BodyCheck::Violation(LimitViolation::LengthRequired)
            }
            Ok(None) => BodyCheck::NeedBody,
        }
    }
}

/// The declared body length: None without `content-length`; an error if malformed or if
/// several values disagree.
fn content_length(req: &RequestView) -> Result<Option<u64>, LimitViolation> {
    let mut found: Option<u64> = None;
    for v in req.header_values("content-length") {
        for part in v.split(',') {
            let part = part.trim();
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(LimitViolation::BadContentLength);
            }
            let n: u64 = part.parse().map_err(|_| LimitViolation::BadContentLength)?;
            match found {
                Some(prev) if prev != n => return Err(LimitViolation::BadContentLength),
                _ => found = Some(n),
            }
        }
    }
    Ok(found)
}

/// Does the request say it has a body (non-zero `content-length`, `transfer-encoding`, or a
/// `content-type`)?
fn declares_body(req: &RequestView) -> bool {
    req.header("transfer-encoding").is_some()
        || req.header("content-type").is_some()
        || matches!(content_length(req), Ok(Some(n)) if n > 0)
}

/// The encoded-traversal pattern in the path part of a raw request target, if any.
pub fn encoded_traversal(raw_path: &str) -> Option<&'static str> {
    let path = raw_path.split(['?', '#']).next().unwrap_or("");
    let lower = path.to_ascii_lowercase();
    if lower.contains('\0') || lower.contains("%00") {
        return Some("nul");
    }
    if lower.contains('\\') || lower.contains("%5c") {
        return Some("backslash");
    }
    if lower.contains("%2f") {
        return Some("encoded_slash");
    }
    if ["%252e", "%252f", "%255c", "%2500"]
        .iter()
        .any(|p| lower.contains(p))
    {
        return Some("double_encoding");
    }
    let dot_dot = lower
        .split('/')
        .any(|seg| seg.contains("%2e") && seg.replace("%2e", ".") == "..");
    if dot_dot {
        return Some("encoded_dot_segment");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_patterns() {
        for (p, want) in [
            ("/a/%2e%2e/b", Some("encoded_dot_segment")),
            ("/a/%2E%2E/b", Some("encoded_dot_segment")),
            ("/a/.%2e/b", Some("encoded_dot_segment")),
            ("/a/%2e./b", Some("encoded_dot_segment")),
            ("/a/%2e%2e", Some("encoded_dot_segment")),
            ("/a%2fb", Some("encoded_slash")),
            ("/a/..%2Fetc", Some("encoded_slash")),
            ("/a\\b", Some("backslash")),
            ("/a%5Cb", Some("backslash")),
            ("/a%00.json", Some("nul")),
            ("/a\0b", Some("nul")),
            ("/a/%252e%252e/b", Some("double_encoding")),
            ("/a/%2e%2e%2e/b", None),
            ("/a/%2ehidden", None),
            ("/files/v1.2/x", None),
            ("/a/b?next=%2e%2e%2f", None),
            ("/caf%C3%A9", None),
        ] {
            assert_eq!(encoded_traversal(p), want, "{p}");
        }
    }

    #[test]
    fn content_length_parsing() {
        let req = |vals: &[&str]| RequestView {
            headers: vals
                .iter()
                .map(|v| ("content-length".to_string(), v.to_string()))
                .collect(),
            ..RequestView::default()
        };
        assert_eq!(content_length(&req(&[])), Ok(None));
        assert_eq!(content_length(&req(&["12"])), Ok(Some(12)));
        assert_eq!(content_length(&req(&["12", "12"])), Ok(Some(12)));
        assert_eq!(content_length(&req(&["12, 12"])), Ok(Some(12)));
        for bad in [
            &["12", "13"][..],
            &["-1"],
            &["1e3"],
            &[""],
            &["99999999999999999999999"],
        ] {
            assert_eq!(
                content_length(&req(bad)),
                Err(LimitViolation::BadContentLength),
                "{bad:?}"
            );
        }
    }
}
