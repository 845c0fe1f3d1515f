//! A blocking HTTP/1.1 client for loopback: one connection per request (`connection: close`),
//! used to talk to Envoy's listener and admin interface and to the echo upstream.

use crate::envoy::wire::{read_response_with_trailers, write_request};
use crate::http::{HttpRequest, HttpResponse};
use anyhow::Context;
use std::io::BufReader;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a single request may take before it fails (connect, write and read each).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Send `req` to `addr` and read the whole response. A body with `chunk_sizes` goes out with
/// `transfer-encoding: chunked`, one flushed write per chunk.
pub fn send_to(addr: SocketAddr, req: &HttpRequest) -> anyhow::Result<HttpResponse> {
    send_to_with_trailers(addr, req).map(|(resp, _)| resp)
}

/// [`send_to`], also returning the response's trailer fields (chunked responses only).
pub fn send_to_with_trailers(
    addr: SocketAddr,
    req: &HttpRequest,
) -> anyhow::Result<(HttpResponse, Vec<(String, String)>)> {
    let stream = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    write_request(&mut writer, req).with_context(|| format!("sending to {addr}"))?;
    let method = if req.method.is_empty() {
        "GET"
    } else {
        req.method.as_str()
    };
    read_response_with_trailers(&mut BufReader::new(stream), method)
        .with_context(|| format!("reading the response from {addr}"))
}

/// `GET path` on `addr` (used for Envoy's admin interface).
pub fn get(addr: SocketAddr, path: &str) -> anyhow::Result<HttpResponse> {
    send_to(
        addr,
        &HttpRequest {
            method: "GET".into(),
            path: path.into(),
            authority: addr.to_string(),
            ..HttpRequest::default()
        },
    )
}
