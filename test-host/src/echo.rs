//! The echo upstream: a small HTTP/1.1 server on loopback that Envoy forwards to in e2e tests.
//!
//! Per request it answers what the test scripted for that request's case id (request header
//! `x-edgeguard-case: <id>`), or what was scripted for its path (static bodies such as a JWKS),
//! else a 200 JSON echo of the request (`{"method","path","headers","body"}`). It records every
//! request it received, by case id, so tests can check what reached the upstream. It stops when
//! dropped.

use crate::envoy::wire::{read_request, write_delivery, WireRequest};
use crate::http::HttpResponse;
use std::collections::HashMap;
use std::io::BufReader;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The request header that names the test case a request belongs to.
pub const CASE_HEADER: &str = "x-edgeguard-case";

/// At most this many requests are kept; older ones are dropped first.
pub const MAX_RECORDED_REQUESTS: usize = 10_000;

/// Pause between the chunks of a chunked answer, so the proxy reads each one separately.
pub const CHUNK_PAUSE: Duration = Duration::from_millis(15);

/// At most this many connections are served at once; more wait in the accept queue.
pub const MAX_CONNECTIONS: usize = 256;

/// A scripted answer: the response, its body chunk sizes and trailers.
pub use crate::http::ScriptedResponse;

/// A request the upstream received, with the case id it carried (`""` when none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceivedRequest {
    /// Value of `x-edgeguard-case`, or empty.
    pub case_id: String,
    /// Method, path (as received), headers (names lowercased) and de-chunked body.
    pub request: WireRequest,
}

#[derive(Default)]
struct EchoState {
    by_case: Mutex<HashMap<String, ScriptedResponse>>,
    by_path: Mutex<HashMap<String, ScriptedResponse>>,
    received: Mutex<Vec<ReceivedRequest>>,
    stop: AtomicBool,
    connections: AtomicUsize,
}

/// A running echo upstream on `127.0.0.1:<free port>`; stops (and joins its threads) on drop.
pub struct EchoUpstream {
    addr: SocketAddr,
    state: Arc<EchoState>,
    accept_thread: Option<JoinHandle<()>>,
}

impl EchoUpstream {
    /// Bind `127.0.0.1:0` (a free port) and start serving in background threads.
    pub fn start() -> anyhow::Result<EchoUpstream> {
        EchoUpstream::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Bind `addr` (e.g. the demo's fixed `127.0.0.1:10001`) and start serving.
    pub fn start_on(addr: SocketAddr) -> anyhow::Result<EchoUpstream> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(EchoState::default());
        let accept_state = Arc::clone(&state);
        let accept_thread = std::thread::Builder::new()
            .name(format!("echo-accept-{}", addr.port()))
            .spawn(move || accept_loop(listener, accept_state))?;
        Ok(EchoUpstream {
            addr,
            state,
            accept_thread: Some(accept_thread),
        })
    }

    /// Where the upstream listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answer requests carrying `x-edgeguard-case: case_id` with `response`.
    pub fn script(&self, case_id: &str, response: HttpResponse) {
        self.script_chunked(case_id, response, Vec::new());
    }

    /// Like [`EchoUpstream::script`], writing the body in chunks of the given sizes.
    pub fn script_chunked(&self, case_id: &str, response: HttpResponse, chunk_sizes: Vec<usize>) {
        self.script_delivery(
            case_id,
            ScriptedResponse {
                response,
                chunk_sizes,
                trailers: Vec::new(),
            },
        );
    }

    /// Answer `case_id` with `answer`: its body in chunks (`transfer-encoding: chunked`, one
    /// flushed write per chunk with a short pause between, so the proxy sees them as separate
    /// reads) and its trailers after the last chunk.
    pub fn script_delivery(&self, case_id: &str, answer: ScriptedResponse) {
        lock(&self.state.by_case).insert(case_id.to_string(), answer);
    }

    /// Answer every request whose path (query ignored) starts with `path` with `response`,
    /// whatever its case id (the longest such prefix wins): static documents such as a JWKS
    /// fetched by the filter's http_call.
    pub fn serve_path(&self, path: &str, response: HttpResponse) {
        lock(&self.state.by_path).insert(path.to_string(), ScriptedResponse::from(response));
    }

    /// Requests received with `x-edgeguard-case: case_id`, oldest first.
    pub fn requests(&self, case_id: &str) -> Vec<WireRequest> {
        lock(&self.state.received)
            .iter()
            .filter(|r| r.case_id == case_id)
            .map(|r| r.request.clone())
            .collect()
    }

    /// Every request received, oldest first.
    pub fn all_requests(&self) -> Vec<ReceivedRequest> {
        lock(&self.state.received).clone()
    }
}

impl Drop for EchoUpstream {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(500));
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

/// Lock a mutex, recovering the data if a connection thread panicked while holding it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn longest_prefix(
    by_path: &HashMap<String, ScriptedResponse>,
    path: &str,
) -> Option<ScriptedResponse> {
    by_path
        .iter()
        .filter(|(p, _)| path.starts_with(p.as_str()))
        .max_by_key(|(p, _)| p.len())
        .map(|(_, r)| r.clone())
}

fn accept_loop(listener: TcpListener, state: Arc<EchoState>) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    for conn in listener.incoming() {
        if state.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(conn) = conn else { continue };
        workers.retain(|w| !w.is_finished());
        if state.connections.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            // Over the bound: refuse this connection (the peer sees a reset).
            continue;
        }
        state.connections.fetch_add(1, Ordering::SeqCst);
        let conn_state = Arc::clone(&state);
        let spawned = std::thread::Builder::new()
            .name("echo-conn".into())
            .spawn(move || {
                serve_connection(conn, &conn_state);
                conn_state.connections.fetch_sub(1, Ordering::SeqCst);
            });
        match spawned {
            Ok(h) => workers.push(h),
            Err(_) => {
                state.connections.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
    for w in workers {
        let _ = w.join();
    }
}

fn serve_connection(conn: TcpStream, state: &EchoState) {
    // A short read timeout lets idle keep-alive connections notice `stop`.
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    let _ = conn.set_nodelay(true);
    let Ok(mut writer) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    loop {
        if state.stop.load(Ordering::SeqCst) {
            return;
        }
        // Wait for the next request without consuming it, so a timeout never splits a message.
        match std::io::BufRead::fill_buf(&mut reader) {
            Ok([]) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
        // Inside a message: allow a slow sender (chunked uploads) more time.
        let _ = reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(10)));
        let req = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            _ => return,
        };
        let _ = reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(200)));
        let case_id = req.header(CASE_HEADER).unwrap_or("").to_string();
        let path_only = req.path.split('?').next().unwrap_or("").to_string();
        let scripted = lock(&state.by_case)
            .get(&case_id)
            .cloned()
            .or_else(|| longest_prefix(&lock(&state.by_path), &path_only));
        let answer = scripted.unwrap_or_else(|| ScriptedResponse::from(echo_response(&req)));
        {
            let mut received = lock(&state.received);
            if received.len() >= MAX_RECORDED_REQUESTS {
                received.remove(0);
            }
            received.push(ReceivedRequest {
                case_id,
                request: req.clone(),
            });
        }
        if write_delivery(&mut writer, &answer, CHUNK_PAUSE).is_err() {
            return;
        }
        if req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            return;
        }
    }
}

/// The default answer: a JSON description of the request as received.
fn echo_response(req: &WireRequest) -> HttpResponse {
    let headers: Vec<serde_json::Value> = req
        .headers
        .iter()
        .map(|(k, v)| serde_json::json!([k, v]))
        .collect();
    let body = serde_json::json!({
        "method": req.method,
        "path": req.path,
        "headers": headers,
        "body": String::from_utf8_lossy(&req.body),
    });
    HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envoy::client::send_to;
    use crate::http::HttpRequest;

    fn get(path: &str, case: Option<&str>) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            path: path.into(),
            authority: "test".into(),
            headers: case
                .map(|c| vec![(CASE_HEADER.to_string(), c.to_string())])
                .unwrap_or_default(),
            ..HttpRequest::default()
        }
    }

    #[test]
    fn echoes_unscripted_requests_and_records_them() {
        let echo = EchoUpstream::start().unwrap();
        let resp = send_to(echo.addr(), &get("/hello?x=1", Some("c1"))).unwrap();
        assert_eq!(resp.status, 200);
        let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(v["path"], "/hello?x=1");
        assert_eq!(v["method"], "GET");
        let got = echo.requests("c1");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].header(CASE_HEADER), Some("c1"));
        assert!(echo.requests("other").is_empty());
    }

    #[test]
    fn answers_scripted_case_and_path() {
        let echo = EchoUpstream::start().unwrap();
        echo.script_chunked(
            "c2",
            HttpResponse {
                status: 418,
                headers: vec![("x-s".into(), "1".into())],
                body: b"teapot-body".to_vec(),
            },
            vec![3, 3],
        );
        echo.serve_path(
            "/jwks.json",
            HttpResponse {
                status: 200,
                headers: vec![],
                body: b"{\"keys\":[]}".to_vec(),
            },
        );
        let r = send_to(echo.addr(), &get("/any", Some("c2"))).unwrap();
        assert_eq!(r.status, 418);
        assert_eq!(r.header("x-s"), Some("1"));
        assert_eq!(r.body, b"teapot-body");
        let r = send_to(echo.addr(), &get("/jwks.json?v=2", None)).unwrap();
        assert_eq!(r.body, b"{\"keys\":[]}");
        assert_eq!(echo.all_requests().len(), 2);
    }

    #[test]
    fn records_chunked_request_bodies() {
        let echo = EchoUpstream::start().unwrap();
        let req = HttpRequest {
            method: "POST".into(),
            body: b"0123456789".to_vec(),
            chunk_sizes: vec![1, 4],
            ..get("/up", Some("c3"))
        };
        let r = send_to(echo.addr(), &req).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(echo.requests("c3")[0].body, b"0123456789");
    }
}
