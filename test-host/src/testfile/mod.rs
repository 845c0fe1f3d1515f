//! Declarative YAML test files and their runner (format: `testdata/cases/README.md`).
//!
//! [`run_file`] runs one file on any [`Backend`]; [`run_paths`] expands directories;
//! [`Summary`] prints the final `edgeguard test: N passed, M failed` line.

pub mod backend;
pub mod envoy_backend;
pub mod expect;
pub mod inprocess;
pub mod model;
pub mod workerd_backend;

pub use backend::{Backend, Observed, PluginSetup, Session};
pub use envoy_backend::EnvoyBackend;
pub use inprocess::InProcessBackend;
pub use workerd_backend::WorkerdBackend;

use crate::http::{HttpRequest, HttpResponse, ScriptedResponse};
use crate::proxy::{CalloutOutcome, CalloutScript};
use crate::state::{ConnectionProps, LogLevel};
use model::{CaseSpec, ResponseSpec, TestFile};
use std::fmt;
use std::path::{Path, PathBuf};

/// How one case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseOutcome {
    /// Every expectation held.
    Passed,
    /// These expectations failed (one line each).
    Failed(Vec<String>),
    /// Not run on this backend, with the reason the file gives.
    Skipped(String),
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// Case name (with `#n` for repeats).
    pub name: String,
    /// Outcome.
    pub outcome: CaseOutcome,
}

/// One file's results.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// Path.
    pub path: PathBuf,
    /// File name or its `name:`.
    pub name: String,
    /// Case results in order.
    pub cases: Vec<CaseResult>,
}

/// Totals over files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Files run.
    pub files: usize,
    /// Cases passed.
    pub passed: usize,
    /// Cases failed.
    pub failed: usize,
    /// Cases skipped.
    pub skipped: usize,
}

impl Summary {
    /// Totals of `reports`.
    pub fn of(reports: &[FileReport]) -> Summary {
        let mut s = Summary {
            files: reports.len(),
            ..Default::default()
        };
        for c in reports.iter().flat_map(|r| &r.cases) {
            match c.outcome {
                CaseOutcome::Passed => s.passed += 1,
                CaseOutcome::Failed(_) => s.failed += 1,
                CaseOutcome::Skipped(_) => s.skipped += 1,
            }
        }
        s
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "edgeguard test: {} passed, {} failed",
            self.passed, self.failed
        )
    }
}

impl FileReport {
    /// Human-readable per-case lines.
    pub fn render(&self) -> String {
        let mut out = format!("{} ({})\n", self.name, self.path.display());
        for c in &self.cases {
            match &c.outcome {
                CaseOutcome::Passed => out.push_str(&format!("  ok    {}\n", c.name)),
                CaseOutcome::Skipped(r) => out.push_str(&format!("  skip  {} ({r})\n", c.name)),
                CaseOutcome::Failed(f) => {
                    out.push_str(&format!("  FAIL  {}\n", c.name));
                    for line in f {
                        out.push_str(&format!("        - {line}\n"));
                    }
                }
            }
        }
        out
    }
}

/// Expand directories into their `*.yaml`/`*.yml` files (sorted); files pass through.
pub fn collect_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            files
                .retain(|f| matches!(f.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")));
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// Parse a test file.
pub fn load(path: &Path) -> Result<TestFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut file: TestFile =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let specs = file
        .upstream
        .iter_mut()
        .chain(file.requests.iter_mut().filter_map(|c| c.upstream.as_mut()));
    for spec in specs {
        if let Some(name) = spec.body_file.take() {
            if spec.body.is_some() || spec.body_json.is_some() {
                return Err(format!(
                    "{}: body_file {name:?} together with body or body_json",
                    path.display()
                ));
            }
            let body_path = dir.join(&name);
            spec.body = Some(std::fs::read_to_string(&body_path).map_err(|e| {
                format!("{}: body_file {}: {e}", path.display(), body_path.display())
            })?);
        }
    }
    Ok(file)
}

/// Days since 1970-01-01 for a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parse `2026-01-01T00:00:00Z` (UTC) or Unix seconds into ns since the epoch.
pub fn parse_time(v: &serde_yaml::Value) -> Result<u64, String> {
    if let Some(n) = v.as_u64() {
        return Ok(n.saturating_mul(1_000_000_000));
    }
    let s = v
        .as_str()
        .ok_or("env.time: expected RFC 3339 UTC text or Unix seconds")?;
    let bad = || format!("env.time: {s:?} is not YYYY-MM-DDTHH:MM:SSZ");
    let s2 = s.strip_suffix('Z').ok_or_else(bad)?;
    let (date, time) = s2.split_once('T').ok_or_else(bad)?;
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let t: Vec<i64> = time
        .split(':')
        .map(|x| x.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let (&[y, mo, da], &[h, mi, se]) = (d.as_slice(), t.as_slice()) else {
        return Err(bad());
    };
    let secs = days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + se;
    u64::try_from(secs)
        .map(|s| s * 1_000_000_000)
        .map_err(|_| bad())
}

/// The HTTP response a response spec describes.
pub fn response_of(spec: &ResponseSpec) -> HttpResponse {
    let mut headers = spec.headers.pairs();
    let body = match (&spec.body_json, &spec.body) {
        (Some(j), _) => {
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                headers.push(("content-type".into(), "application/json".into()));
            }
            serde_json::to_vec(j).unwrap_or_default()
        }
        (None, Some(b)) => b.clone().into_bytes(),
        (None, None) => Vec::new(),
    };
    HttpResponse {
        status: spec.status.unwrap_or(200),
        headers,
        body,
    }
}

/// The upstream answer a response spec describes, with its delivery (chunks, trailers).
/// A body sent in one piece carries `content-length`, as the echo upstream writes it on the
/// wire, so both backends show the filter the same headers.
pub fn scripted_of(spec: &ResponseSpec) -> ScriptedResponse {
    let mut response = response_of(spec);
    let trailers = spec.trailers.pairs();
    let framed = response.headers.iter().any(|(k, _)| {
        k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
    });
    if spec.chunks.is_empty() && trailers.is_empty() && !framed {
        response
            .headers
            .push(("content-length".into(), response.body.len().to_string()));
    }
    ScriptedResponse {
        response,
        chunk_sizes: spec.chunks.clone(),
        trailers,
    }
}

/// The default upstream answer: 200, `content-type: application/json`, `{"upstream":"ok"}`.
pub fn default_upstream() -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"upstream":"ok"}"#.to_vec(),
    }
}

/// Build the request a case sends.
pub fn request_of(case: &CaseSpec) -> HttpRequest {
    let r = &case.request;
    let mut headers = r.headers.pairs();
    let body = match (&r.body_json, &r.body) {
        (Some(j), _) => {
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                headers.push(("content-type".into(), "application/json".into()));
            }
            serde_json::to_vec(j).unwrap_or_default()
        }
        (None, Some(b)) => b.clone().into_bytes(),
        (None, None) => Vec::new(),
    };
    HttpRequest {
        method: r.method.clone().unwrap_or_else(|| "GET".into()),
        path: r.path.clone(),
        authority: r.authority.clone().unwrap_or_else(|| "example.com".into()),
        scheme: r.scheme.clone().unwrap_or_else(|| "http".into()),
        headers,
        body,
        chunk_sizes: r.chunks.clone(),
    }
}

/// Resolve a file's plugin and environment into a [`PluginSetup`].
pub fn setup_for(file: &TestFile, dir: &Path) -> Result<PluginSetup, String> {
    let wasm = match &file.plugin.wasm {
        Some(w) if w == "module:sdk-probe" => crate::paths::build_sdk_probe()?,
        Some(w) if w.starts_with("module:") => {
            return Err(format!(
                "plugin.wasm: unknown built-in module {w:?} (known: module:sdk-probe)"
            ))
        }
        Some(w) => dir.join(w),
        None => crate::paths::filter_wasm(),
    };
    let config = match (&file.plugin.config, &file.plugin.config_file) {
        (Some(_), Some(_)) => return Err("plugin: give config or config_file, not both".into()),
        (Some(serde_yaml::Value::String(s)), None) => s.clone().into_bytes(),
        (Some(v), None) => serde_json::to_vec(v).map_err(|e| format!("plugin.config: {e}"))?,
        (None, Some(f)) => {
            let p = dir.join(f);
            std::fs::read(&p).map_err(|e| format!("plugin.config_file {}: {e}", p.display()))?
        }
        (None, None) => b"{}".to_vec(),
    };
    let mut callouts = Vec::new();
    for (i, c) in file.http_calls.iter().enumerate() {
        if c.response
            .as_ref()
            .is_some_and(|r| !r.chunks.is_empty() || !r.trailers.pairs().is_empty())
        {
            return Err(format!(
                "http_calls[{i}].response: chunks and trailers apply to upstream answers only"
            ));
        }
        let outcome = match (&c.response, c.outcome.as_deref()) {
            (Some(r), None) => CalloutOutcome::Response(response_of(r)),
            (None, Some("timeout")) => CalloutOutcome::Timeout,
            (None, Some("reset")) => CalloutOutcome::Reset,
            (None, Some("connect_failure")) => CalloutOutcome::ConnectFailure,
            _ => {
                return Err(format!(
                    "http_calls[{i}]: give either response or outcome (timeout, reset, connect_failure)"
                ))
            }
        };
        callouts.push(CalloutScript {
            cluster: c.cluster.clone(),
            path_prefix: c.path_prefix.clone(),
            outcome,
            times: c.times,
        });
    }
    let start = match &file.env.time {
        Some(t) => parse_time(t)?,
        None => crate::proxy::ProxyOptions::default().start_time_nanos,
    };
    Ok(PluginSetup {
        wasm,
        config,
        plugin_name: file
            .plugin
            .name
            .clone()
            .unwrap_or_else(|| "edgeguard".into()),
        // Envoy's examples and our Envoy backend name the root context after the plugin.
        root_id: file
            .plugin
            .root_id
            .clone()
            .unwrap_or_else(|| "edgeguard".into()),
        workers: file.env.workers.unwrap_or(1),
        env: file
            .env
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        log_level: file.env.log_level.unwrap_or(LogLevel::Info),
        strict: file.env.strict.unwrap_or(true),
        failure_policy: file.env.failure_policy.unwrap_or_default(),
        start_time_nanos: start,
        callouts,
    })
}

fn file_name(path: &Path, file: &TestFile) -> String {
    file.name.clone().unwrap_or_else(|| {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    })
}

/// Run one test file on `backend`.
pub fn run_file(path: &Path, backend: &mut dyn Backend) -> FileReport {
    let mut report = FileReport {
        path: path.to_path_buf(),
        name: path.display().to_string(),
        cases: Vec::new(),
    };
    let file = match load(path) {
        Ok(f) => f,
        Err(e) => {
            report.cases.push(CaseResult {
                name: "(parse)".into(),
                outcome: CaseOutcome::Failed(vec![e]),
            });
            return report;
        }
    };
    report.name = file_name(path, &file);
    let bname = backend.name().to_string();
    if let Some(reason) = file.skip.get(&bname) {
        for c in &file.requests {
            report.cases.push(CaseResult {
                name: c.name.clone(),
                outcome: CaseOutcome::Skipped(reason.clone()),
            });
        }
        if file.expect_load_failure.is_some() {
            report.cases.push(CaseResult {
                name: "load failure".into(),
                outcome: CaseOutcome::Skipped(reason.clone()),
            });
        }
        return report;
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let setup = match setup_for(&file, dir) {
        Ok(s) => s,
        Err(e) => {
            report.cases.push(CaseResult {
                name: "(setup)".into(),
                outcome: CaseOutcome::Failed(vec![e]),
            });
            return report;
        }
    };
    let started = backend.start(&setup);
    if let Some(lf) = &file.expect_load_failure {
        let outcome = match &started {
            Ok(_) => CaseOutcome::Failed(vec![
                "expected the plugin to refuse to load, but it started".into(),
            ]),
            Err(msg) => {
                let missing: Vec<String> = lf
                    .contains
                    .iter()
                    .filter(|c| !msg.contains(c.as_str()))
                    .map(|c| format!("load error does not contain {c:?}: {msg}"))
                    .collect();
                if missing.is_empty() {
                    CaseOutcome::Passed
                } else {
                    CaseOutcome::Failed(missing)
                }
            }
        };
        report.cases.push(CaseResult {
            name: "load failure".into(),
            outcome,
        });
        return report;
    }
    let mut session = match started {
        Ok(s) => s,
        Err(e) => {
            report.cases.push(CaseResult {
                name: "(start)".into(),
                outcome: CaseOutcome::Failed(vec![e]),
            });
            return report;
        }
    };
    let default_up = file
        .upstream
        .as_ref()
        .map(scripted_of)
        .unwrap_or_else(|| ScriptedResponse::from(default_upstream()));
    for case in &file.requests {
        let repeat = case.repeat.unwrap_or(1).max(1);
        for i in 0..repeat {
            let name = if repeat > 1 {
                format!("{} #{}", case.name, i + 1)
            } else {
                case.name.clone()
            };
            if let Some(reason) = case.skip.get(&bname) {
                report.cases.push(CaseResult {
                    name,
                    outcome: CaseOutcome::Skipped(reason.clone()),
                });
                continue;
            }
            let outcome = run_case(session.as_mut(), case, &default_up, i == 0);
            report.cases.push(CaseResult { name, outcome });
        }
    }
    report
}

fn run_case(
    session: &mut dyn Session,
    case: &CaseSpec,
    default_up: &ScriptedResponse,
    first: bool,
) -> CaseOutcome {
    let mut fails = Vec::new();
    if let (Some(ms), true) = (case.advance_ms, first) {
        if let Err(e) = session.advance(ms) {
            fails.push(format!("advance_ms: {e}"));
        }
    }
    let up = case
        .upstream
        .as_ref()
        .map(scripted_of)
        .unwrap_or_else(|| default_up.clone());
    let req = request_of(case);
    let r = &case.request;
    let conn = if r.source_address.is_some()
        || r.mtls.is_some()
        || r.peer_uri_san.is_some()
        || r.peer_dns_san.is_some()
    {
        let mut c = ConnectionProps::default();
        if let Some(a) = &r.source_address {
            c.source_address = a.clone();
        }
        c.mtls = r.mtls.unwrap_or(false);
        c.uri_san_peer = r.peer_uri_san.clone();
        c.dns_san_peer = r.peer_dns_san.clone();
        Some(c)
    } else {
        None
    };
    let logs_before = session.logs().len();
    let observed = match session.send_scripted(&req, conn.as_ref(), &up) {
        Ok(o) => o,
        Err(e) => return CaseOutcome::Failed(vec![format!("send failed: {e}")]),
    };
    for e in &observed.errors {
        fails.push(format!("host: {e}"));
    }
    expect::check_observed(&observed, &case.expect, &mut fails);
    if let Some(l) = &case.expect.logs {
        let lines: Vec<String> = session.logs().into_iter().skip(logs_before).collect();
        expect::check_logs(&lines, l, &mut fails);
    }
    for (name, want) in &case.expect.metrics {
        match session.metric(name) {
            Some(v) if v == *want => {}
            got => fails.push(format!("metric {name}: expected {want}, got {got:?}")),
        }
    }
    if fails.is_empty() {
        CaseOutcome::Passed
    } else {
        CaseOutcome::Failed(fails)
    }
}

/// Run every file (directories expanded) on `backend`.
pub fn run_paths(paths: &[PathBuf], backend: &mut dyn Backend) -> Vec<FileReport> {
    collect_files(paths)
        .iter()
        .map(|p| run_file(p, backend))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_file_is_read_relative_to_the_test_file() {
        let root = crate::paths::workspace_root();
        let file = load(&root.join("testdata/bench/masking/mask_1024.yaml")).unwrap();
        let doc = std::fs::read_to_string(root.join("testdata/bench/masking/doc_1024.json"));
        let body = file.upstream.and_then(|u| u.body);
        assert_eq!(body, Some(doc.unwrap()));

        let dir = std::env::temp_dir().join(format!("eg-body-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("t.yaml");
        std::fs::write(
            &bad,
            "plugin: {config: {}}\nupstream: {body_file: missing.json}\nrequests: []\n",
        )
        .unwrap();
        let err = load(&bad).unwrap_err();
        assert!(
            err.contains("body_file") && err.contains("missing.json"),
            "{err}"
        );
        std::fs::write(
            &bad,
            "plugin: {config: {}}\nupstream: {body: x, body_file: t.yaml}\nrequests: []\n",
        )
        .unwrap();
        assert!(load(&bad).unwrap_err().contains("together with body"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parses_rfc3339_utc() {
        let v = serde_yaml::Value::String("2026-01-01T00:00:00Z".into());
        assert_eq!(parse_time(&v), Ok(1_767_225_600_000_000_000));
        assert!(parse_time(&serde_yaml::Value::String("yesterday".into())).is_err());
    }
}
