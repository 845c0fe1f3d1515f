//! The workerd backend: each test file starts a real workerd (Cloudflare's runtime, npm
//! `workerd`) with the JS build of the engine (`examples/cloudflare-worker`, built by
//! `scripts/build-js`) loaded with the file's plugin config, in front of a scripted origin
//! worker bound by a service binding (no network). The file's `env.vars` become text bindings
//! (secrets referenced as `{"env": "NAME"}`).
//!
//! Harness (`js-tests/suite/`): `edge.js` wraps the real example worker; it strips the
//! harness's own headers (case id, clock) before the engine sees the request, fixes `Date.now()`
//! to the file's clock (so `env.time` and `advance_ms` work), and logs an end marker after each
//! case so its log lines are complete. `origin.js` answers each case with the scripted upstream
//! response and reports what reached it.
//!
//! The client IP reaches the worker as `cf-connecting-ip` (as on Cloudflare): `127.0.0.1` (the
//! test client, as on the other backends) or the case's `source_address`.
//!
//! Not available here (such files/cases need `skip: { workerd: "..." }`): `mtls`,
//! scripted `http_calls`, the `http_calls` count, several VMs (`workers` is one isolate), log
//! levels (the JS build logs every level), and stream resets.

use super::backend::{Backend, Observed, PluginSetup, Session};
use crate::envoy::client::send_to;
use crate::http::{HttpRequest, HttpResponse};
use crate::proxy::UpstreamRequest;
use crate::state::ConnectionProps;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long workerd may take to compile the module and answer its first request.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for a case's end marker in workerd's output after its response.
const LOG_TIMEOUT: Duration = Duration::from_secs(5);
const CASE_HEADER: &str = "x-edgeguard-test-case";
const NOW_HEADER: &str = "x-edgeguard-test-now";
const CONTROL_HEADER: &str = "x-edgeguard-test-control";
const END_MARKER: &str = "edgeguard-test: end ";

/// What to tell a user who has no workerd or no JS build.
pub const INSTALL_HINT: &str =
    "workerd backend needs scripts/install-js-tools (npm workerd in js-tests/) and scripts/build-js";

/// The workerd binary: `$WORKERD_BIN`, else `js-tests/node_modules/.bin/workerd`.
pub fn workerd_binary() -> PathBuf {
    match std::env::var_os("WORKERD_BIN") {
        Some(p) => PathBuf::from(p),
        None => crate::paths::workspace_root().join("js-tests/node_modules/.bin/workerd"),
    }
}

/// The built JS bundle folder: `$EDGEGUARD_JS_PKG`, else `examples/cloudflare-worker/pkg`.
pub fn js_pkg_dir() -> PathBuf {
    match std::env::var_os("EDGEGUARD_JS_PKG") {
        Some(p) => PathBuf::from(p),
        None => crate::paths::workspace_root().join("examples/cloudflare-worker/pkg"),
    }
}

/// `Ok` when workerd and the JS build are there; the error says what is missing.
pub fn available() -> Result<(), String> {
    let bin = workerd_binary();
    if !bin.exists() {
        return Err(format!("{} not found; {INSTALL_HINT}", bin.display()));
    }
    let wasm = js_pkg_dir().join("edgeguard_bg.wasm");
    if !wasm.exists() {
        return Err(format!("{} not found; {INSTALL_HINT}", wasm.display()));
    }
    Ok(())
}

/// Runs test files against real workerd.
#[derive(Default)]
pub struct WorkerdBackend;

impl WorkerdBackend {
    /// A new backend (workerd is started per file).
    pub fn new() -> WorkerdBackend {
        WorkerdBackend
    }
}

/// One running workerd, killed (and its directory removed) on drop.
struct Workerd {
    child: Child,
    dir: PathBuf,
    log: PathBuf,
    edge: SocketAddr,
    origin: SocketAddr,
}

impl Drop for Workerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Workerd {
    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A harness control request to `addr` (`probe`, `metrics`, `script`, `received`).
    fn control(
        &self,
        addr: SocketAddr,
        kind: &str,
        case: Option<&str>,
        body: Vec<u8>,
    ) -> Result<HttpResponse, String> {
        let mut headers = vec![(CONTROL_HEADER.to_string(), kind.to_string())];
        if let Some(c) = case {
            headers.push((CASE_HEADER.to_string(), c.to_string()));
        }
        let req = HttpRequest {
            method: if body.is_empty() { "GET" } else { "POST" }.into(),
            // The edge socket takes absolute-form request lines (`style = proxy`).
            path: if addr == self.edge {
                "http://harness/".into()
            } else {
                "/".into()
            },
            authority: "harness".into(),
            scheme: "http".into(),
            headers,
            body,
            chunk_sizes: Vec::new(),
        };
        send_to(addr, &req).map_err(|e| format!("workerd {kind}: {e:#}"))
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn work_dir() -> Result<PathBuf, String> {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "edgeguard-workerd-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("vars")).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

fn link(target: &Path, at: &Path) -> Result<(), String> {
    std::os::unix::fs::symlink(target, at)
        .map_err(|e| format!("symlink {} -> {}: {e}", at.display(), target.display()))
}

/// A capnp text literal (the names used here are plain; escape anyway).
fn capnp_str(s: &str) -> String {
    format!("{s:?}")
}

/// The workerd config for one file: the harness edge (example worker + engine) and the origin.
fn capnp_config(edge_port: u16, origin_port: u16, vars: &[(String, String)]) -> String {
    let mut bindings = vec![
        "(name = \"EDGEGUARD_CONFIG\", text = embed \"plugin-config\")".to_string(),
        "(name = \"ORIGIN\", service = \"origin\")".to_string(),
    ];
    for (i, (name, _)) in vars.iter().enumerate() {
        bindings.push(format!(
            "(name = {}, text = embed \"vars/{i}\")",
            capnp_str(name)
        ));
    }
    format!(
        r#"# Generated by edgeguard test --backend workerd (one test file).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "edge", worker = .edge),
    (name = "origin", worker = .origin),
  ],
  sockets = [
    (name = "edge", address = "127.0.0.1:{edge_port}", http = (style = proxy), service = "edge"),
    (name = "origin", address = "127.0.0.1:{origin_port}", http = (), service = "origin"),
  ],
);

const edge :Workerd.Worker = (
  modules = [
    (name = "edge.js", esModule = embed "edge.js"),
    (name = "src/worker.js", esModule = embed "src/worker.js"),
    (name = "src/guard.js", esModule = embed "src/guard.js"),
    (name = "config.json", json = embed "config.json"),
    (name = "pkg/edgeguard.js", esModule = embed "pkg/edgeguard.js"),
    (name = "pkg/edgeguard_bg.wasm", wasm = embed "pkg/edgeguard_bg.wasm"),
  ],
  compatibilityDate = "2025-09-01",
  bindings = [
    {}
  ],
  globalOutbound = "origin",
);

const origin :Workerd.Worker = (
  modules = [(name = "origin.js", esModule = embed "origin.js")],
  compatibilityDate = "2025-09-01",
);
"#,
        bindings.join(",\n    ")
    )
}

/// Start workerd with `-` stdin closed, output into `log`; killed if this thread dies.
fn spawn_workerd(config: &Path, log: &Path) -> Result<Child, String> {
    let bin = workerd_binary();
    let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err_file = log_file
        .try_clone()
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let mut cmd = Command::new(&bin);
    cmd.arg("serve")
        .arg(config)
        .arg("--verbose")
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(err_file);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    cmd.spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))
}

impl Backend for WorkerdBackend {
    fn name(&self) -> &str {
        "workerd"
    }

    fn start(&mut self, setup: &PluginSetup) -> Result<Box<dyn Session>, String> {
        available()?;
        if setup.wasm != crate::paths::filter_wasm() {
            return Err(format!(
                "the workerd backend runs only edgeguard's JS build, not {}; skip this file on workerd",
                setup.wasm.display()
            ));
        }
        if !setup.callouts.is_empty() {
            return Err(
                "the workerd backend cannot script http_calls; skip this file on workerd".into(),
            );
        }
        let root = crate::paths::workspace_root();
        let example = root.join("examples/cloudflare-worker");
        let dir = work_dir()?;
        link(&root.join("js-tests/suite/edge.js"), &dir.join("edge.js"))?;
        link(
            &root.join("js-tests/suite/origin.js"),
            &dir.join("origin.js"),
        )?;
        link(&example.join("src"), &dir.join("src"))?;
        link(&example.join("config.json"), &dir.join("config.json"))?;
        link(&js_pkg_dir(), &dir.join("pkg"))?;
        let write = |name: &str, bytes: &[u8]| {
            std::fs::write(dir.join(name), bytes).map_err(|e| format!("{name}: {e}"))
        };
        write("plugin-config", &setup.config)?;
        for (i, (_, value)) in setup.env.iter().enumerate() {
            write(&format!("vars/{i}"), value.as_bytes())?;
        }
        let (edge_port, origin_port) = (free_port()?, free_port()?);
        let config = dir.join("config.capnp");
        write(
            "config.capnp",
            capnp_config(edge_port, origin_port, &setup.env).as_bytes(),
        )?;
        let log = dir.join("workerd.log");
        let child = match spawn_workerd(&config, &log) {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let mut wd = Workerd {
            child,
            dir,
            log,
            edge: SocketAddr::from(([127, 0, 0, 1], edge_port)),
            origin: SocketAddr::from(([127, 0, 0, 1], origin_port)),
        };
        // Ready when the edge answers; the probe also compiles the engine (config load).
        let deadline = Instant::now() + START_TIMEOUT;
        let probe = loop {
            if let Ok(Some(status)) = wd.child.try_wait() {
                return Err(format!(
                    "workerd exited with {status} before serving\n--- workerd output ---\n{}",
                    wd.output()
                ));
            }
            match wd.control(wd.edge, "probe", None, Vec::new()) {
                Ok(r) => break r,
                Err(e) if Instant::now() > deadline => {
                    let out = wd.output();
                    return Err(format!(
                        "workerd not ready after {START_TIMEOUT:?}: {e}\n{out}"
                    ));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(25)),
            }
        };
        let v: serde_json::Value = serde_json::from_slice(&probe.body)
            .map_err(|e| format!("workerd probe answered {}: {e}", probe.status))?;
        if v["ok"] != serde_json::Value::Bool(true) {
            let error = v["error"].as_str().unwrap_or("unknown load error");
            return Err(format!(
                "{error}\n{}",
                engine_lines(&wd.output()).join("\n")
            ));
        }
        Ok(Box::new(WorkerdSession {
            wd,
            next_case: 0,
            now_ms: setup.start_time_nanos / 1_000_000,
        }))
    }
}

struct WorkerdSession {
    wd: Workerd,
    next_case: u64,
    now_ms: u64,
}

/// The isolate's console lines (engine logs), without the harness's end markers.
fn engine_lines(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|l| !l.starts_with(END_MARKER) && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// The IP of `ip:port` / `[v6]:port` / a bare IP.
fn ip_of(address: &str) -> String {
    match address.parse::<SocketAddr>() {
        Ok(a) => a.ip().to_string(),
        Err(_) => address.to_string(),
    }
}

fn b64_of(v: &serde_json::Value) -> Vec<u8> {
    B64.decode(v.as_str().unwrap_or_default())
        .unwrap_or_default()
}

impl Session for WorkerdSession {
    fn send(
        &mut self,
        request: &HttpRequest,
        connection: Option<&ConnectionProps>,
        upstream: &HttpResponse,
    ) -> Result<Observed, String> {
        let mut req = request.clone();
        // The client IP reaches a worker as `cf-connecting-ip` (set by Cloudflare's edge); the
        // test client is 127.0.0.1, as it is for the other backends, unless the case says else.
        let mut client_ip = "127.0.0.1".to_string();
        if let Some(c) = connection {
            if c.mtls {
                return Err(
                    "the workerd backend has no mTLS connection facts; skip this case on workerd"
                        .into(),
                );
            }
            if !c.source_address.is_empty() {
                client_ip = ip_of(&c.source_address);
            }
        }
        if !req
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("cf-connecting-ip"))
        {
            req.headers.push(("cf-connecting-ip".into(), client_ip));
        }
        self.next_case += 1;
        let case = format!("case-{}", self.next_case);
        let script = serde_json::json!({
            "status": upstream.status,
            "headers": upstream.headers.iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("content-length")
                    && !k.eq_ignore_ascii_case("transfer-encoding"))
                .collect::<Vec<_>>(),
            "body": B64.encode(&upstream.body),
        });
        self.wd.control(
            self.wd.origin,
            "script",
            Some(&case),
            script.to_string().into_bytes(),
        )?;
        // Absolute form, so the worker's `request.url` has the case's scheme and authority.
        req.path = format!("{}://{}{}", req.scheme, req.authority, req.path);
        req.headers.push((CASE_HEADER.into(), case.clone()));
        req.headers
            .push((NOW_HEADER.into(), self.now_ms.to_string()));
        let response = send_to(self.wd.edge, &req).map_err(|e| format!("{e:#}"))?;
        let got = self
            .wd
            .control(self.wd.origin, "received", Some(&case), Vec::new())?;
        let got: serde_json::Value = serde_json::from_slice(&got.body)
            .map_err(|e| format!("origin received answer: {e}"))?;
        let upstream = got.as_object().map(|w| {
            let mut headers = vec![
                (
                    ":path".to_string(),
                    w["path"].as_str().unwrap_or("").to_string(),
                ),
                (
                    ":method".to_string(),
                    w["method"].as_str().unwrap_or("").to_string(),
                ),
            ];
            for pair in w["headers"].as_array().into_iter().flatten() {
                if let (Some(k), Some(v)) = (pair[0].as_str(), pair[1].as_str()) {
                    headers.push((k.to_string(), v.to_string()));
                }
            }
            UpstreamRequest {
                headers,
                body: b64_of(&w["body"]),
                trailers: Vec::new(),
            }
        });
        let mut errors = Vec::new();
        let marker = format!("{END_MARKER}{case}");
        let deadline = Instant::now() + LOG_TIMEOUT;
        while !self.wd.output().lines().any(|l| l == marker) {
            if Instant::now() > deadline {
                errors.push(format!("no {marker:?} line in workerd output"));
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(Observed {
            response,
            trailers: Vec::new(),
            upstream,
            reset: false,
            http_calls: None,
            errors,
        })
    }

    fn advance(&mut self, millis: u64) -> Result<(), String> {
        self.now_ms = self.now_ms.saturating_add(millis);
        Ok(())
    }

    fn logs(&mut self) -> Vec<String> {
        engine_lines(&self.wd.output())
    }

    fn metric(&mut self, name: &str) -> Option<i64> {
        let r = self
            .wd
            .control(self.wd.edge, "metrics", None, Vec::new())
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
        // Counters exist in the JS build once first counted: absent means 0.
        Some(v.get(name).and_then(|n| n.as_i64()).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_binds_every_var_and_the_origin() {
        let c = capnp_config(1, 2, &[("A_KEY".into(), "secret".into())]);
        assert!(c.contains("(name = \"A_KEY\", text = embed \"vars/0\")"));
        assert!(c.contains("(name = \"ORIGIN\", service = \"origin\")"));
        assert!(c.contains("address = \"127.0.0.1:1\""));
        assert!(
            !c.contains("secret"),
            "values are embedded from files, not inlined"
        );
    }

    #[test]
    fn client_ip_from_source_address() {
        assert_eq!(ip_of("10.0.0.7:5555"), "10.0.0.7");
        assert_eq!(ip_of("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(ip_of("192.0.2.1"), "192.0.2.1");
    }
}
