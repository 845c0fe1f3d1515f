//! The demo (`scripts/demo`): build the filter, run it in real Envoy with the demo policy in
//! front of the echo upstream, send the scripted requests of `envoy/demo/requests.yaml`, and
//! print a table of what happened. Optionally leave Envoy running for the user to curl.

use crate::echo::{EchoUpstream, CASE_HEADER};
use crate::envoy::{bootstrap, EnvoyInstance};
use crate::http::{HttpRequest, HttpResponse};
use anyhow::{bail, Context};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Options of the demo command.
#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// Leave Envoy running on 127.0.0.1:10000 (admin :9901, upstream :10001) until Ctrl-C.
    pub keep_running: bool,
    /// Use this module instead of building the filter.
    pub wasm: Option<PathBuf>,
    /// Use this plugin config instead of `envoy/demo/config.json`.
    pub config: Option<PathBuf>,
}

/// One scripted demo request (an entry of `requests.yaml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoRequest {
    /// What the row shows.
    pub label: String,
    /// `METHOD /path?query`.
    pub request: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    #[serde(default)]
    pub body: Option<String>,
    /// Send the body chunked at these sizes.
    #[serde(default)]
    pub chunks: Vec<usize>,
    /// What the upstream answers for this request (default: JSON echo of the request).
    #[serde(default)]
    pub upstream: Option<DemoUpstream>,
    /// What should happen.
    #[serde(default)]
    pub expect: DemoExpect,
    /// Response headers to show in the table.
    #[serde(default)]
    pub show_headers: Vec<String>,
}

/// A scripted upstream answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoUpstream {
    /// Status code.
    #[serde(default = "ok_status")]
    pub status: u16,
    /// Headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Body.
    #[serde(default)]
    pub body: String,
}

fn ok_status() -> u16 {
    200
}

/// Whether edgeguard let the request reach the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The upstream received it.
    Allowed,
    /// edgeguard answered; the upstream never saw it.
    Blocked,
}

/// Expectations for one demo request; unset fields are not checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoExpect {
    /// Allowed or blocked.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// Status the client sees.
    #[serde(default)]
    pub status: Option<u16>,
    /// Response headers that must be present (name, or `name: value`).
    #[serde(default)]
    pub headers_present: Vec<String>,
    /// Response headers that must be absent.
    #[serde(default)]
    pub headers_absent: Vec<String>,
    /// Substrings the response body must contain.
    #[serde(default)]
    pub body_contains: Vec<String>,
    /// Substrings the response body must not contain (e.g. a masked value).
    #[serde(default)]
    pub body_not_contains: Vec<String>,
}

/// What happened to one demo request.
#[derive(Debug, Clone)]
pub struct DemoResult {
    /// The request as configured.
    pub request: DemoRequest,
    /// What the client got.
    pub response: HttpResponse,
    /// Whether the upstream saw it.
    pub outcome: Outcome,
    /// Expectation failures (empty = as expected).
    pub failures: Vec<String>,
}

/// The demo's directory (`envoy/demo`).
pub fn demo_dir() -> PathBuf {
    crate::paths::workspace_root().join("envoy/demo")
}

/// Load `requests.yaml`.
pub fn load_requests(path: &Path) -> anyhow::Result<Vec<DemoRequest>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Run the demo: see the module docs. Fails if a request did not behave as `requests.yaml`
/// says.
pub fn run(opts: DemoOptions) -> anyhow::Result<()> {
    let dir = demo_dir();
    let wasm = match &opts.wasm {
        Some(w) => w.clone(),
        None => {
            println!("building the filter (cargo build --release --target wasm32-wasip1 -p edgeguard)...");
            crate::paths::build_filter_wasm()?
        }
    };
    let config_path = opts
        .config
        .clone()
        .unwrap_or_else(|| dir.join("config.json"));
    let plugin_config = std::fs::read_to_string(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    if let Err(e) = edgeguard::config::Config::from_json(plugin_config.as_bytes()) {
        bail!("{}: {e}", config_path.display());
    }
    let requests = load_requests(&dir.join("requests.yaml"))?;
    crate::envoy::envoy_binary()?;

    let echo = if opts.keep_running {
        EchoUpstream::start_on("127.0.0.1:10001".parse()?)
            .context("the demo upstream needs 127.0.0.1:10001 free")?
    } else {
        EchoUpstream::start()?
    };
    let mut boot = bootstrap::load_file(&dir.join("envoy.yaml"))?;
    bootstrap::set_wasm_path(&mut boot, &wasm);
    bootstrap::set_plugin_config(&mut boot, &plugin_config);
    if !opts.keep_running {
        bootstrap::use_free_ports(&mut boot, echo.addr());
    }
    println!("starting Envoy (2 workers) with {}", config_path.display());
    let mut envoy = EnvoyInstance::start_bootstrap(&boot, 2, "info")?;

    let mut results = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        results.push(send_one(&envoy, &echo, i, r)?);
    }
    print_table(&results);
    let failed = results.iter().filter(|r| !r.failures.is_empty()).count();
    let stats = envoy.stats().unwrap_or_default();
    let mut metrics: Vec<(&String, &u64)> = stats
        .iter()
        .filter(|(k, _)| k.starts_with("wasmcustom.edgeguard_"))
        .collect();
    metrics.sort();
    println!("\nfilter metrics (admin /stats):");
    for (k, v) in metrics {
        println!("  {k}: {v}");
    }

    if opts.keep_running {
        let l = envoy.listener_addr();
        println!(
            "\nEnvoy is running: listener http://{l}, admin http://{}",
            envoy.admin_addr()
        );
        println!("try:");
        println!("  curl -i http://{l}/api/items");
        println!("  curl -i http://{l}/api/%zz");
        println!("  curl -i --path-as-is http://{l}/x/../admin/users");
        println!("  curl -i -H 'x-api-key: demo-admin-key' http://{l}/admin/users");
        println!(
            "  curl -s http://{}/stats | grep wasmcustom",
            envoy.admin_addr()
        );
        println!("Ctrl-C stops Envoy and the upstream.");
        let status = envoy.wait()?;
        println!("Envoy exited: {status}");
    }
    if failed > 0 {
        bail!(
            "{failed} of {} demo requests did not behave as expected",
            results.len()
        );
    }
    println!("\nall {} demo requests behaved as expected", results.len());
    Ok(())
}

fn send_one(
    envoy: &EnvoyInstance,
    echo: &EchoUpstream,
    index: usize,
    r: &DemoRequest,
) -> anyhow::Result<DemoResult> {
    let case = format!("demo-{index}");
    let (method, path) = r
        .request
        .split_once(' ')
        .with_context(|| format!("request {:?}: expected \"METHOD /path\"", r.request))?;
    if let Some(up) = &r.upstream {
        echo.script(
            &case,
            HttpResponse {
                status: up.status,
                headers: up.headers.clone().into_iter().collect(),
                body: up.body.clone().into_bytes(),
            },
        );
    }
    let mut headers: Vec<(String, String)> = r.headers.clone().into_iter().collect();
    headers.push((CASE_HEADER.to_string(), case.clone()));
    let req = HttpRequest {
        method: method.to_string(),
        path: path.trim().to_string(),
        authority: "demo.local".into(),
        scheme: "http".into(),
        headers,
        body: r.body.clone().unwrap_or_default().into_bytes(),
        chunk_sizes: r.chunks.clone(),
    };
    let response = envoy.send(&req)?;
    let outcome = if echo.requests(&case).is_empty() {
        Outcome::Blocked
    } else {
        Outcome::Allowed
    };
    let failures = check(&r.expect, &response, outcome);
    Ok(DemoResult {
        request: r.clone(),
        response,
        outcome,
        failures,
    })
}

/// Compare a response with the expectations; one message per mismatch.
pub fn check(expect: &DemoExpect, resp: &HttpResponse, outcome: Outcome) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(o) = expect.outcome {
        if o != outcome {
            out.push(format!("expected {o:?}, was {outcome:?}"));
        }
    }
    if let Some(s) = expect.status {
        if s != resp.status {
            out.push(format!("expected status {s}, got {}", resp.status));
        }
    }
    for h in &expect.headers_present {
        let ok = match h.split_once(':') {
            Some((k, v)) => resp.header(k.trim()) == Some(v.trim()),
            None => resp.header(h).is_some(),
        };
        if !ok {
            out.push(format!("missing header {h}"));
        }
    }
    for h in &expect.headers_absent {
        if resp.header(h).is_some() {
            out.push(format!("unexpected header {h}"));
        }
    }
    let body = String::from_utf8_lossy(&resp.body);
    for s in &expect.body_contains {
        if !body.contains(s.as_str()) {
            out.push(format!("body lacks {s:?}"));
        }
    }
    for s in &expect.body_not_contains {
        if body.contains(s.as_str()) {
            out.push(format!("body contains {s:?}"));
        }
    }
    out
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let cut: String = s.chars().take(n.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// Print the results as a table.
pub fn print_table(results: &[DemoResult]) {
    println!();
    println!(
        "{:<3} {:<30} {:>6}  {:<8} {:<4} what / notable headers",
        "#", "request", "status", "outcome", "ok"
    );
    println!("{}", "-".repeat(100));
    for (i, r) in results.iter().enumerate() {
        let outcome = match r.outcome {
            Outcome::Allowed => "allowed",
            Outcome::Blocked => "BLOCKED",
        };
        let ok = if r.failures.is_empty() { "ok" } else { "FAIL" };
        println!(
            "{:<3} {:<30} {:>6}  {:<8} {:<4} {}",
            i + 1,
            shorten(&r.request.request, 30),
            r.response.status,
            outcome,
            ok,
            r.request.label
        );
        let notable: Vec<String> = r
            .request
            .show_headers
            .iter()
            .chain(r.request.expect.headers_present.iter())
            .filter_map(|h| {
                let name = h.split(':').next().unwrap_or(h).trim();
                r.response.header(name).map(|v| format!("{name}: {v}"))
            })
            .collect();
        if !notable.is_empty() {
            println!("{:<55}{}", "", shorten(&notable.join("; "), 90));
        }
        if r.outcome == Outcome::Blocked {
            println!(
                "{:<55}reply: {}",
                "",
                shorten(&String::from_utf8_lossy(&r.response.body), 90)
            );
        }
        for f in &r.failures {
            println!("{:<55}!! {f}", "");
        }
    }
}
