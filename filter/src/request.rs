//! The request as the engine sees it: method, scheme, authority, the normalized path, headers
//! and connection facts. Adapters build it from host callbacks; the engine never asks the host.

use std::net::IpAddr;

/// An immutable view of one request's headers and connection.
#[derive(Debug, Clone, Default)]
pub struct RequestView {
    /// `:method`.
    pub method: String,
    /// `:scheme` as the proxy received it (`http` / `https`).
    pub scheme: String,
    /// `:authority` (host, maybe with port).
    pub authority: String,
    /// `:path` exactly as received, with query.
    pub raw_path: String,
    /// Normalized path used for routing (no query); see [`normalize_path`].
    pub path: String,
    /// Query string without `?`, if any.
    pub query: Option<String>,
    /// Regular header fields, names lowercased, in order, pseudo-headers excluded.
    pub headers: Vec<(String, String)>,
    /// Connection facts reported by the host. With [`RequestView::with_source_loader`] the
    /// source address is not in here but read from the host on first use ([`Self::source_ip`]).
    pub connection: ConnectionInfo,
    /// Reads the source address from the host, once, when something asks for it.
    pub(crate) source_loader: Option<fn() -> Option<IpAddr>>,
    pub(crate) source_loaded: std::cell::OnceCell<Option<IpAddr>>,
}

/// What the host knows about the downstream connection.
#[derive(Debug, Clone, Default)]
pub struct ConnectionInfo {
    /// Peer address of the downstream connection (`source.address`), without port.
    pub source_ip: Option<IpAddr>,
    /// Whether the connection is mutual TLS (`connection.mtls`).
    pub mtls: bool,
    /// Peer certificate URI SANs.
    pub uri_sans: Vec<String>,
    /// Peer certificate DNS SANs.
    pub dns_sans: Vec<String>,
}

/// Why a request could not be turned into a [`RequestView`] (the engine answers 400).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// `:path` is not an origin-form path (`/...`).
    PathNotAbsolute,
    /// A `%` not followed by two hex digits.
    BadPercentEncoding,
}

impl RequestError {
    /// The message for the 400 reply and the log.
    pub fn message(&self) -> &'static str {
        match self {
            RequestError::PathNotAbsolute => "request path must start with \"/\"",
            RequestError::BadPercentEncoding => "request path has invalid percent-encoding",
        }
    }
}

impl RequestView {
    /// Build a view from pseudo-headers, regular headers (any case) and connection info.
    pub fn new(
        method: &str,
        scheme: &str,
        authority: &str,
        raw_path: &str,
        headers: Vec<(String, String)>,
        connection: ConnectionInfo,
    ) -> Result<RequestView, RequestError> {
        let (path_part, query) = split_query(raw_path);
        let path = normalize_path(path_part)?;
        let mut headers = headers;
        headers.retain(|(k, _)| !k.starts_with(':'));
        for (k, _) in &mut headers {
            // Envoy hands names over lowercased already; only other hosts pay for this.
            if k.bytes().any(|b| b.is_ascii_uppercase()) {
                k.make_ascii_lowercase();
            }
        }
        Ok(RequestView {
            method: method.to_string(),
            scheme: scheme.to_string(),
            authority: authority.to_string(),
            raw_path: raw_path.to_string(),
            path,
            query: query.map(str::to_string),
            headers,
            connection,
            source_loader: None,
            source_loaded: std::cell::OnceCell::new(),
        })
    }

    /// Build a view from a host's whole header map (pseudo-headers included), moving the
    /// strings instead of copying them. On a bad path, the error comes back with `:method` and
    /// `:path` for the 400.
    pub fn from_header_map(
        mut headers: Vec<(String, String)>,
        connection: ConnectionInfo,
    ) -> Result<RequestView, (RequestError, String, String)> {
        let (mut method, mut scheme, mut authority, mut raw_path) = (None, None, None, None);
        for (k, v) in &mut headers {
            let slot = match k.as_str() {
                ":method" => &mut method,
                ":scheme" => &mut scheme,
                ":authority" => &mut authority,
                ":path" => &mut raw_path,
                _ => continue,
            };
            // First value wins, as a lookup by name would find it.
            if slot.is_none() {
                *slot = Some(std::mem::take(v));
            }
        }
        let (method, scheme, authority, raw_path) = (
            method.unwrap_or_default(),
            scheme.unwrap_or_default(),
            authority.unwrap_or_default(),
            raw_path.unwrap_or_default(),
        );
        let (path_part, query) = split_query(&raw_path);
        let path = match normalize_path(path_part) {
            Ok(p) => p,
            Err(e) => return Err((e, method, raw_path)),
        };
        let query = query.map(str::to_string);
        headers.retain(|(k, _)| !k.starts_with(':'));
        for (k, _) in &mut headers {
            if k.bytes().any(|b| b.is_ascii_uppercase()) {
                k.make_ascii_lowercase();
            }
        }
        Ok(RequestView {
            method,
            scheme,
            authority,
            raw_path,
            path,
            query,
            headers,
            connection,
            source_loader: None,
            source_loaded: std::cell::OnceCell::new(),
        })
    }

    /// Read the source address through `loader` on first use instead of up front (it costs
    /// the proxy-wasm adapter a host call per request, and most policies never look at it).
    pub fn with_source_loader(mut self, loader: fn() -> Option<IpAddr>) -> RequestView {
        self.source_loader = Some(loader);
        self
    }

    /// Peer address of the downstream connection (`source.address`), without port.
    pub fn source_ip(&self) -> Option<IpAddr> {
        match self.source_loader {
            Some(load) => *self.source_loaded.get_or_init(load),
            None => self.connection.source_ip,
        }
    }

    /// First value of a header (name lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// All values of a header (name lowercase), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The host part of `:authority`, lowercased, without port.
    pub fn host(&self) -> String {
        host_without_port(&self.authority).to_ascii_lowercase()
    }

    /// First value of a query parameter, raw (not percent-decoded).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.as_deref()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
        })
    }
}

/// The host of an authority, without `:port` (IPv6 literals keep their brackets).
pub fn host_without_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(i) => &authority[..=i],
            None => authority,
        };
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    }
}

fn split_query(raw: &str) -> (&str, Option<&str>) {
    let raw = raw.split('#').next().unwrap_or(raw);
    match raw.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (raw, None),
    }
}

/// Normalize a path the way Envoy's `normalize_path` + `merge_slashes` do, so a rule on
/// `/admin` also catches `/%61dmin`, `//admin` and `/x/../admin`:
/// decode percent-encoded unreserved characters (RFC 3986 §2.3), uppercase the hex of the
/// remaining escapes (so `%2f` and `%2F` compare equal; encoded slashes stay encoded),
/// merge repeated slashes and remove dot segments (RFC 3986 §5.2.4, never above the root).
pub fn normalize_path(path: &str) -> Result<String, RequestError> {
    if path == "*" {
        return Ok("*".to_string());
    }
    if !path.starts_with('/') {
        return Err(RequestError::PathNotAbsolute);
    }
    let decoded = decode_unreserved(path)?;
    let mut segments: Vec<&str> = Vec::new();
    let trailing_slash =
        decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    Ok(out)
}

fn decode_unreserved(path: &str) -> Result<String, RequestError> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .ok_or(RequestError::BadPercentEncoding)?;
            let hi = hex_val(hex[0]).ok_or(RequestError::BadPercentEncoding)?;
            let lo = hex_val(hex[1]).ok_or(RequestError::BadPercentEncoding)?;
            let c = hi * 16 + lo;
            if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                out.push(c as char);
            } else {
                out.push('%');
                out.push(hex[0].to_ascii_uppercase() as char);
                out.push(hex[1].to_ascii_uppercase() as char);
            }
            i += 3;
        } else {
            // Safe: we only split at ASCII boundaries, so push the char that starts here.
            let ch_len = utf8_len(b);
            out.push_str(path.get(i..i + ch_len).unwrap_or("\u{FFFD}"));
            i += ch_len;
        }
    }
    Ok(out)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_closes_admin_bypasses() {
        for p in [
            "/admin",
            "/%61dmin",
            "/%61%64%6D%69%6E",
            "//admin",
            "/x/../admin",
            "/./admin",
            "/admin/.",
            "/../admin",
        ] {
            let n = normalize_path(p).unwrap();
            assert!(n == "/admin" || n == "/admin/", "{p} -> {n}");
        }
    }

    #[test]
    fn encoded_slash_and_reserved_stay_encoded_uppercased() {
        assert_eq!(normalize_path("/a%2fb").unwrap(), "/a%2Fb");
        assert_eq!(normalize_path("/a%3Fb").unwrap(), "/a%3Fb");
    }

    #[test]
    fn dot_segments_never_climb_above_root() {
        assert_eq!(normalize_path("/../../etc/passwd").unwrap(), "/etc/passwd");
        assert_eq!(normalize_path("/a/b/../../..").unwrap(), "/");
        assert_eq!(normalize_path("/").unwrap(), "/");
        assert_eq!(normalize_path("/a/b/").unwrap(), "/a/b/");
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(
            normalize_path("/a%zz"),
            Err(RequestError::BadPercentEncoding)
        );
        assert_eq!(
            normalize_path("/a%2"),
            Err(RequestError::BadPercentEncoding)
        );
        assert_eq!(normalize_path("a"), Err(RequestError::PathNotAbsolute));
        assert_eq!(normalize_path("/é/%C3%A9").unwrap(), "/é/%C3%A9");
    }

    #[test]
    fn view_splits_query_and_lowercases_headers() {
        let v = RequestView::new(
            "GET",
            "https",
            "Example.com:8443",
            "/a//b?x=1&access_token=t",
            vec![("X-Foo".into(), "1".into()), (":path".into(), "/".into())],
            ConnectionInfo::default(),
        )
        .unwrap();
        assert_eq!(v.path, "/a/b");
        assert_eq!(v.query_param("access_token"), Some("t"));
        assert_eq!(v.header("x-foo"), Some("1"));
        assert_eq!(v.headers.len(), 1);
        assert_eq!(v.host(), "example.com");
        assert_eq!(host_without_port("[::1]:80"), "[::1]");
    }
}
