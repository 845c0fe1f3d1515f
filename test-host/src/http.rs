//! Plain HTTP request/response values shared by every backend (in-process host, real Envoy,
//! workerd), so a test file means the same thing whichever backend runs it.

/// A request as a client sends it to the proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path with query, as sent on the request line (`/a/b?x=1`), not normalized.
    pub path: String,
    /// `:authority` / `Host`.
    pub authority: String,
    /// `http` or `https` as the proxy should see it.
    pub scheme: String,
    /// Header fields in order; names as given (backends lowercase them where the wire does).
    pub headers: Vec<(String, String)>,
    /// Full body.
    pub body: Vec<u8>,
    /// Sizes at which to split `body` into chunks (the last chunk takes the rest); empty = one chunk.
    pub chunk_sizes: Vec<usize>,
}

/// A response as the client receives it, or as a scripted upstream returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header fields in order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Full body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An upstream answer and how it is delivered: the body in chunks of these sizes (empty = one
/// piece) and trailers after the body (empty = none). Every backend must give a filter the same
/// outcome whatever the delivery; the delivery exists to test that.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptedResponse {
    /// What to answer.
    pub response: HttpResponse,
    /// Body chunk sizes (the last chunk takes the rest); empty = one chunk.
    pub chunk_sizes: Vec<usize>,
    /// Trailers sent after the body.
    pub trailers: Vec<(String, String)>,
}

impl From<HttpResponse> for ScriptedResponse {
    fn from(response: HttpResponse) -> ScriptedResponse {
        ScriptedResponse {
            response,
            ..ScriptedResponse::default()
        }
    }
}

/// Split `body` into chunks of the given sizes; the remainder (if any) is the last chunk.
pub fn split_chunks<'a>(body: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = body;
    for &n in sizes {
        if rest.is_empty() {
            break;
        }
        let n = n.clamp(1, rest.len());
        let (a, b) = rest.split_at(n);
        out.push(a);
        rest = b;
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest);
    }
    out
}
