//! Minimal HTTP/1.1 wire reading and writing over blocking sockets, shared by the client that
//! talks to Envoy and the echo upstream Envoy talks to. Enough of RFC 9112 for loopback tests:
//! request/status lines, header fields, `content-length` and `chunked` bodies.

use crate::http::{split_chunks, ScriptedResponse};
use anyhow::{bail, Context};
use std::io::{BufRead, Read, Write};
use std::time::Duration;

/// Largest head (start line + headers) or body we accept, so a broken peer cannot exhaust memory.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// A request as read off the wire (what the echo upstream received).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WireRequest {
    /// Request method.
    pub method: String,
    /// Request target as sent (path and query).
    pub path: String,
    /// Header fields in order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body, de-chunked.
    pub body: Vec<u8>,
}

impl WireRequest {
    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Read one line ending in CRLF (or LF); `None` on a clean EOF before any byte.
fn read_line(r: &mut impl BufRead) -> anyhow::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = r.by_ref().take(64 * 1024).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        bail!("HTTP line too long or truncated");
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// Read header fields up to the empty line; names lowercased.
fn read_headers(r: &mut impl BufRead) -> anyhow::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    let mut total = 0usize;
    loop {
        let line = read_line(r)?.context("connection closed inside the header block")?;
        if line.is_empty() {
            return Ok(headers);
        }
        total += line.len();
        if total > MAX_MESSAGE_BYTES {
            bail!("header block too large");
        }
        let (name, value) = line
            .split_once(':')
            .with_context(|| format!("malformed header line {line:?}"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn is_chunked(headers: &[(String, String)]) -> bool {
    header(headers, "transfer-encoding")
        .map(|v| v.to_ascii_lowercase().contains("chunked"))
        .unwrap_or(false)
}

/// Read a chunked body; trailer fields go to `trailers` (names lowercased).
fn read_chunked(
    r: &mut impl BufRead,
    trailers: &mut Vec<(String, String)>,
) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(r)?.context("connection closed inside a chunked body")?;
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16)
            .with_context(|| format!("bad chunk size {size_hex:?}"))?;
        if size == 0 {
            // Trailers until the empty line.
            while let Some(l) = read_line(r)? {
                if l.is_empty() {
                    break;
                }
                if let Some((name, value)) = l.split_once(':') {
                    trailers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
                }
            }
            return Ok(body);
        }
        if body.len() + size > MAX_MESSAGE_BYTES {
            bail!("body too large");
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        let _ = read_line(r)?;
    }
}

/// Read a body framed by `content-length` or `chunked`; `None` framing → empty body.
fn read_framed_body(
    r: &mut impl BufRead,
    headers: &[(String, String)],
    trailers: &mut Vec<(String, String)>,
) -> anyhow::Result<Option<Vec<u8>>> {
    if is_chunked(headers) {
        return Ok(Some(read_chunked(r, trailers)?));
    }
    if let Some(len) = header(headers, "content-length") {
        let len: usize = len
            .parse()
            .with_context(|| format!("bad content-length {len:?}"))?;
        if len > MAX_MESSAGE_BYTES {
            bail!("body too large");
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body)?;
        return Ok(Some(body));
    }
    Ok(None)
}

/// Read one request; `Ok(None)` when the peer closed the connection between requests.
pub fn read_request(r: &mut impl BufRead) -> anyhow::Result<Option<WireRequest>> {
    let Some(line) = read_line(r)? else {
        return Ok(None);
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        bail!("malformed request line {line:?}");
    };
    let (method, path) = (method.to_string(), path.to_string());
    let headers = read_headers(r)?;
    let body = read_framed_body(r, &headers, &mut Vec::new())?.unwrap_or_default();
    Ok(Some(WireRequest {
        method,
        path,
        headers,
        body,
    }))
}

/// Read one response; the body ends by framing or, without framing, at EOF.
pub fn read_response(
    r: &mut impl BufRead,
    request_method: &str,
) -> anyhow::Result<crate::http::HttpResponse> {
    read_response_with_trailers(r, request_method).map(|(resp, _)| resp)
}

/// [`read_response`], also returning the trailer fields of a chunked body.
pub fn read_response_with_trailers(
    r: &mut impl BufRead,
    request_method: &str,
) -> anyhow::Result<(crate::http::HttpResponse, Vec<(String, String)>)> {
    let line = read_line(r)?.context("connection closed before a response")?;
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("malformed status line {line:?}"))?;
    let headers = read_headers(r)?;
    let no_body = request_method.eq_ignore_ascii_case("HEAD")
        || status == 204
        || status == 304
        || (100..200).contains(&status);
    let mut trailers = Vec::new();
    let body = if no_body {
        Vec::new()
    } else {
        match read_framed_body(r, &headers, &mut trailers)? {
            Some(b) => b,
            None => {
                let mut b = Vec::new();
                r.take(MAX_MESSAGE_BYTES as u64).read_to_end(&mut b)?;
                b
            }
        }
    };
    Ok((
        crate::http::HttpResponse {
            status,
            headers,
            body,
        },
        trailers,
    ))
}

/// How a body goes on the wire.
struct Framing<'a> {
    /// Chunk sizes; empty = one `content-length` body (unless there are trailers).
    chunk_sizes: &'a [usize],
    /// Trailer fields after the last chunk (forces `chunked`).
    trailers: &'a [(String, String)],
    /// Sleep between chunks, so the peer reads them separately.
    pause: Duration,
    /// Send `content-length: 0` for an empty body.
    always_length: bool,
}

/// Write a body: one `content-length` body when there are no chunk sizes and no trailers, else
/// `chunked` with one flushed write per chunk (so the peer sees the pieces arrive separately)
/// and the trailers after the last one.
fn write_body(
    w: &mut impl Write,
    head: &mut String,
    body: &[u8],
    framing: &Framing<'_>,
) -> anyhow::Result<()> {
    let Framing {
        chunk_sizes,
        trailers,
        pause,
        always_length,
    } = *framing;
    if chunk_sizes.is_empty() && trailers.is_empty() {
        if always_length || !body.is_empty() {
            head.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut out = head.as_bytes().to_vec();
        out.extend_from_slice(body);
        w.write_all(&out)?;
        w.flush()?;
        return Ok(());
    }
    head.push_str("transfer-encoding: chunked\r\n\r\n");
    w.write_all(head.as_bytes())?;
    w.flush()?;
    for (i, chunk) in split_chunks(body, chunk_sizes).into_iter().enumerate() {
        if chunk.is_empty() {
            continue;
        }
        if i > 0 && !pause.is_zero() {
            std::thread::sleep(pause);
        }
        let mut out = format!("{:x}\r\n", chunk.len()).into_bytes();
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
        w.write_all(&out)?;
        w.flush()?;
    }
    if !trailers.is_empty() && !pause.is_zero() {
        std::thread::sleep(pause);
    }
    let mut end = String::from("0\r\n");
    for (k, v) in trailers {
        end.push_str(&format!("{k}: {v}\r\n"));
    }
    end.push_str("\r\n");
    w.write_all(end.as_bytes())?;
    w.flush()?;
    Ok(())
}

fn skip_framing_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("transfer-encoding")
}

/// Write a request (`connection: close` unless the caller set a `connection` header).
pub fn write_request(w: &mut impl Write, req: &crate::http::HttpRequest) -> anyhow::Result<()> {
    let method = if req.method.is_empty() {
        "GET"
    } else {
        &req.method
    };
    let path = if req.path.is_empty() { "/" } else { &req.path };
    let authority = if req.authority.is_empty() {
        "localhost"
    } else {
        &req.authority
    };
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {authority}\r\n");
    let mut has_connection = false;
    for (k, v) in &req.headers {
        if k.eq_ignore_ascii_case("host") || skip_framing_header(k) {
            continue;
        }
        has_connection |= k.eq_ignore_ascii_case("connection");
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if req.scheme.eq_ignore_ascii_case("https")
        && !req
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("x-forwarded-proto"))
    {
        head.push_str("x-forwarded-proto: https\r\n");
    }
    if !has_connection {
        head.push_str("connection: close\r\n");
    }
    let needs_length = matches!(method, "POST" | "PUT" | "PATCH");
    let framing = Framing {
        chunk_sizes: &req.chunk_sizes,
        trailers: &[],
        pause: Duration::ZERO,
        always_length: needs_length,
    };
    write_body(w, &mut head, &req.body, &framing)
}

/// Write a response; `chunk_sizes` non-empty → chunked with one write per chunk.
pub fn write_response(
    w: &mut impl Write,
    resp: &crate::http::HttpResponse,
    chunk_sizes: &[usize],
) -> anyhow::Result<()> {
    let answer = ScriptedResponse {
        response: resp.clone(),
        chunk_sizes: chunk_sizes.to_vec(),
        trailers: Vec::new(),
    };
    write_delivery(w, &answer, Duration::ZERO)
}

/// Write a scripted answer: chunked when it has chunk sizes or trailers, one flushed write
/// per chunk with `pause` before each later chunk and before the trailers.
pub fn write_delivery(
    w: &mut impl Write,
    answer: &ScriptedResponse,
    pause: Duration,
) -> anyhow::Result<()> {
    let resp = &answer.response;
    let status = if resp.status == 0 { 200 } else { resp.status };
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
    for (k, v) in &resp.headers {
        if skip_framing_header(k) {
            continue;
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let framing = Framing {
        chunk_sizes: &answer.chunk_sizes,
        trailers: &answer.trailers,
        pause,
        always_length: true,
    };
    write_body(w, &mut head, &resp.body, &framing)
}

/// A reason phrase for the status line (cosmetic; HTTP/1.1 clients ignore it).
fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{HttpRequest, HttpResponse};
    use std::io::BufReader;

    #[test]
    fn chunked_request_round_trips() {
        let req = HttpRequest {
            method: "POST".into(),
            path: "/p?q=1".into(),
            authority: "example.com".into(),
            headers: vec![("X-A".into(), "1".into())],
            body: b"hello world".to_vec(),
            chunk_sizes: vec![3, 4],
            ..HttpRequest::default()
        };
        let mut buf = Vec::new();
        write_request(&mut buf, &req).unwrap();
        let got = read_request(&mut BufReader::new(&buf[..]))
            .unwrap()
            .unwrap();
        assert_eq!(got.method, "POST");
        assert_eq!(got.path, "/p?q=1");
        assert_eq!(got.header("x-a"), Some("1"));
        assert_eq!(got.header("host"), Some("example.com"));
        assert_eq!(got.body, b"hello world");
    }

    #[test]
    fn response_round_trips_with_and_without_chunks() {
        let resp = HttpResponse {
            status: 201,
            headers: vec![("x-b".into(), "2".into())],
            body: b"{\"a\":1}".to_vec(),
        };
        for chunks in [vec![], vec![2, 2]] {
            let mut buf = Vec::new();
            write_response(&mut buf, &resp, &chunks).unwrap();
            let got = read_response(&mut BufReader::new(&buf[..]), "GET").unwrap();
            assert_eq!(got.status, 201);
            assert_eq!(got.header("x-b"), Some("2"));
            assert_eq!(got.body, resp.body);
        }
    }

    #[test]
    fn chunked_response_carries_trailers() {
        let answer = ScriptedResponse {
            response: HttpResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: b"{\"a\":1}".to_vec(),
            },
            chunk_sizes: vec![2],
            trailers: vec![("x-checksum".into(), "abc".into())],
        };
        let mut buf = Vec::new();
        write_delivery(&mut buf, &answer, Duration::ZERO).unwrap();
        let text = String::from_utf8_lossy(&buf);
        assert!(text.contains("transfer-encoding: chunked"));
        assert!(!text.contains("content-length"));
        assert!(text.ends_with("0\r\nx-checksum: abc\r\n\r\n"));
        let (got, trailers) =
            read_response_with_trailers(&mut BufReader::new(&buf[..]), "GET").unwrap();
        assert_eq!(got.body, answer.response.body);
        assert_eq!(trailers, answer.trailers);
        // Trailers alone (no chunk sizes) still force chunked framing.
        let answer = ScriptedResponse {
            chunk_sizes: Vec::new(),
            ..answer
        };
        let mut buf = Vec::new();
        write_delivery(&mut buf, &answer, Duration::ZERO).unwrap();
        let (got, trailers) =
            read_response_with_trailers(&mut BufReader::new(&buf[..]), "GET").unwrap();
        assert_eq!(got.body, answer.response.body);
        assert_eq!(trailers.len(), 1);
    }

    #[test]
    fn truncated_body_is_an_error() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc";
        assert!(read_response(&mut BufReader::new(&raw[..]), "GET").is_err());
    }
}
