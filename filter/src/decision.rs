//! What the engine tells the adapter to do. [`LocalReply`] is the one place local responses
//! are built, so every 4xx/5xx edgeguard sends has the same JSON shape and headers.

/// Header changes to apply to a request (before it goes upstream) or a response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMutations {
    /// Remove every value of these headers (lowercase names). Applied first.
    pub remove: Vec<String>,
    /// Set (replace) these headers.
    pub set: Vec<(String, String)>,
    /// Append these header values.
    pub add: Vec<(String, String)>,
}

impl HeaderMutations {
    /// True when there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.set.is_empty() && self.add.is_empty()
    }

    /// Append all of `other`'s changes after ours.
    pub fn extend(&mut self, other: HeaderMutations) {
        self.remove.extend(other.remove);
        self.set.extend(other.set);
        self.add.extend(other.add);
    }

    /// Apply to a header list in place (names compared case-insensitively).
    pub fn apply_to(&self, headers: &mut Vec<(String, String)>) {
        headers.retain(|(k, _)| !self.remove.iter().any(|r| r.eq_ignore_ascii_case(k)));
        for (k, v) in &self.set {
            headers.retain(|(h, _)| !h.eq_ignore_ascii_case(k));
            headers.push((k.clone(), v.clone()));
        }
        for (k, v) in &self.add {
            headers.push((k.clone(), v.clone()));
        }
    }
}

/// A response produced by edgeguard itself instead of the upstream's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    /// HTTP status.
    pub status: u16,
    /// Machine-readable reason for logs and metrics (`jwt_missing`, `host_not_allowed`, ...).
    pub reason: &'static str,
    /// Extra response headers (e.g. `WWW-Authenticate`, `Retry-After`, `Location`).
    pub headers: Vec<(String, String)>,
    /// Response body bytes.
    pub body: Vec<u8>,
}

impl LocalReply {
    /// The standard edgeguard error reply: `{"error": message, "status": status}` as JSON.
    pub fn error(status: u16, reason: &'static str, message: &str) -> LocalReply {
        let body = serde_json::json!({ "error": message, "status": status });
        LocalReply {
            status,
            reason,
            headers: vec![("content-type".to_string(), "application/json".to_string())],
            body: body.to_string().into_bytes(),
        }
    }

    /// A reply with a caller-built body and content type (e.g. problem+json, plain text).
    pub fn with_body(
        status: u16,
        reason: &'static str,
        content_type: &str,
        body: Vec<u8>,
    ) -> LocalReply {
        LocalReply {
            status,
            reason,
            headers: vec![("content-type".to_string(), content_type.to_string())],
            body,
        }
    }

    /// Add a header to the reply.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> LocalReply {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// What to do with a request after a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestAction {
    /// Send it upstream after applying these request-header mutations.
    Continue(HeaderMutations),
    /// Answer it locally; the stream ends here.
    Respond(LocalReply),
    /// A check needs the request body: buffer it and call `on_request_body`.
    NeedBody,
    /// Waiting for an outside answer (e.g. a JWKS fetch); the adapter pauses the stream and
    /// calls the engine again when the answer arrives.
    Pause,
}

/// What to do with response headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseHeadersAction {
    /// Response-header mutations to apply now.
    pub mutations: HeaderMutations,
    /// The body must be buffered and passed to `on_response_body` (masking).
    pub buffer_body: bool,
    /// Replace the whole response with this local reply now, before the headers go out (a
    /// compressed or declared-oversize body that cannot be masked). Hosts that cannot answer
    /// at header time may instead keep `buffer_body` and get the same reply from
    /// `on_response_body`.
    pub reply: Option<LocalReply>,
}

/// What to do with (a chunk of) the response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseBodyAction {
    /// Pass the body as it is.
    Continue,
    /// Keep buffering; more is coming.
    Buffer,
    /// Replace the whole buffered body with this.
    Replace(Vec<u8>),
    /// Replace the response with a local reply (e.g. oversized body that cannot be masked).
    Respond(LocalReply),
}
