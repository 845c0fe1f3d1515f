//! `edgeguard`: check configs, run one request, run test files and benchmark proxy-wasm
//! modules locally.

use clap::{Parser, Subcommand};
use edgeguard_test_host::http::HttpRequest;
use edgeguard_test_host::proxy::{FixedUpstream, Proxy, ProxyOptions};
use edgeguard_test_host::state::{LogLevel, PluginSettings};
use edgeguard_test_host::testfile::{self, InProcessBackend, Summary};
use edgeguard_test_host::{bench, paths, CompiledModule};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// edgeguard: a WebAssembly edge security filter; this tool checks its configs and runs,
/// tests and benchmarks proxy-wasm modules in an Envoy-like in-process host.
#[derive(Parser)]
#[command(name = "edgeguard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a filter configuration with the filter's own validator; errors name the JSON path.
    CheckConfig {
        /// The configuration file (JSON).
        config: PathBuf,
    },
    /// Send one request through a module and print the decision, headers and body.
    Run(RunArgs),
    /// Run declarative test files (YAML; directories are expanded).
    Test {
        /// Test files or directories.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where to run them.
        #[arg(long, default_value = "inprocess", value_parser = ["inprocess", "envoy", "workerd"])]
        backend: String,
        /// Print only failures and the summary.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Measure per-request time, fuel and memory of a test file's requests in-process.
    Bench(bench::BenchArgs),
    /// Print the hashed form of an API key for `api_keys.keys[].hash` (SHA-256 hex, or
    /// HMAC-SHA256 with the pepper from an environment variable).
    HashKey {
        /// The API key (prefer --key-env so it stays out of your shell history).
        #[arg(required_unless_present = "key_env")]
        key: Option<String>,
        /// Read the key from this environment variable.
        #[arg(long)]
        key_env: Option<String>,
        /// Environment variable holding the pepper (for `hash: hmac_sha256`).
        #[arg(long)]
        pepper_env: Option<String>,
    },
    /// Produce service credentials for a request: an RFC 9421 message signature
    /// (`signature`) or a simple service token (`token`); prints the headers to send.
    Sign(SignArgs),
    /// Build the filter, run it in real Envoy with the demo config and print what a scripted
    /// set of requests got.
    Demo {
        /// Leave Envoy running (127.0.0.1:10000, admin :9901) until Ctrl-C.
        #[arg(long)]
        keep_running: bool,
        /// Use this module instead of building the filter.
        #[arg(long)]
        wasm: Option<PathBuf>,
        /// Use this plugin config instead of `envoy/demo/config.json`.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct SignArgs {
    /// `signature` (RFC 9421) or `token` (service_id:target:timestamp:hmac).
    #[arg(value_parser = ["signature", "token"])]
    kind: String,
    /// Signature: the key id (`keyid`). Token: the calling service id.
    #[arg(long)]
    key_id: String,
    /// Environment variable holding the secret (HMAC bytes as UTF-8; ed25519: base64 32-byte seed).
    #[arg(long)]
    secret_env: String,
    /// Signature algorithm.
    #[arg(long, default_value = "hmac-sha256", value_parser = ["hmac-sha256", "ed25519"])]
    alg: String,
    /// Token: the target service name.
    #[arg(long)]
    target: Option<String>,
    /// The request line: `METHOD /path?query`.
    #[arg(long, default_value = "GET /")]
    request: String,
    /// Host / :authority.
    #[arg(long, default_value = "example.com")]
    authority: String,
    /// Scheme as the edge sees it.
    #[arg(long, default_value = "https")]
    scheme: String,
    /// A request header `name: value` (repeatable; covered if listed in --components).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Request body (adds and covers `content-digest`).
    #[arg(long)]
    body: Option<String>,
    /// Covered components (default: @method @authority @path, plus content-digest with a body).
    #[arg(long, num_args = 1..)]
    components: Vec<String>,
    /// `created` in Unix seconds (default: now).
    #[arg(long)]
    created: Option<i64>,
    /// `nonce` parameter.
    #[arg(long)]
    nonce: Option<String>,
    /// `tag` parameter.
    #[arg(long)]
    tag: Option<String>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The proxy-wasm module (default: the built edgeguard filter).
    #[arg(long)]
    wasm: Option<PathBuf>,
    /// Plugin configuration file (JSON); default `{}`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The request line: `METHOD /path?query`.
    #[arg(long, default_value = "GET /")]
    request: String,
    /// A request header `name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Request body.
    #[arg(long)]
    body: Option<String>,
    /// Host / :authority.
    #[arg(long, default_value = "example.com")]
    authority: String,
    /// Status the upstream answers with.
    #[arg(long, default_value_t = 200)]
    upstream_status: u16,
    /// Body the upstream answers with.
    #[arg(long, default_value = "{\"upstream\":\"ok\"}")]
    upstream_body: String,
    /// Also print module logs at this level and above.
    #[arg(long, default_value = "info")]
    log_level: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config } => check_config(&config),
        Command::Run(args) => run(args),
        Command::Test {
            files,
            backend,
            quiet,
        } => test(&files, &backend, quiet),
        Command::HashKey {
            key,
            key_env,
            pepper_env,
        } => hash_key(key, key_env, pepper_env),
        Command::Sign(args) => sign(&args),
        Command::Demo {
            keep_running,
            wasm,
            config,
        } => {
            let opts = edgeguard_test_host::demo::DemoOptions {
                keep_running,
                wasm,
                config,
            };
            match edgeguard_test_host::demo::run(opts) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("edgeguard demo: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Bench(args) => match bench::run(&args) {
            Ok(report) => {
                println!("{report}");
                if report.budget_failures.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("edgeguard bench: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn env_value(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
}

fn hash_key(key: Option<String>, key_env: Option<String>, pepper_env: Option<String>) -> ExitCode {
    let key = match (key, key_env) {
        (Some(k), _) => Ok(k),
        (None, Some(var)) => env_value(&var),
        (None, None) => Err("give the key or --key-env".to_string()),
    };
    let pepper = pepper_env.map(|v| env_value(&v)).transpose();
    match (key, pepper) {
        (Ok(key), Ok(pepper)) => {
            println!(
                "{}",
                edgeguard::api_key::hash::hash_key(&key, pepper.as_deref().map(str::as_bytes))
            );
            ExitCode::SUCCESS
        }
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("edgeguard hash-key: {e}");
            ExitCode::from(2)
        }
    }
}

fn sign(args: &SignArgs) -> ExitCode {
    match sign_headers(args) {
        Ok(headers) => {
            for (k, v) in headers {
                println!("{k}: {v}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("edgeguard sign: {e}");
            ExitCode::from(2)
        }
    }
}

fn sign_headers(args: &SignArgs) -> Result<Vec<(String, String)>, String> {
    use edgeguard::service_auth::{
        make_service_token, service_token, sign_request, SignSpec, SigningKey,
    };
    let secret = env_value(&args.secret_env)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?;
    if args.kind == "token" {
        let target = args.target.as_deref().ok_or("a token needs --target")?;
        let ts = service_token::python_utc_isoformat(now.as_nanos() as u64);
        return Ok(vec![(
            "x-service-token".into(),
            make_service_token(&args.key_id, target, &ts, secret.as_bytes()),
        )]);
    }
    let key = if args.alg == "ed25519" {
        use base64::Engine as _;
        let seed = base64::engine::general_purpose::STANDARD
            .decode(secret.trim())
            .map_err(|e| format!("ed25519 seed is not base64: {e}"))?;
        SigningKey::Ed25519(
            seed.try_into()
                .map_err(|_| "ed25519 seed must be 32 bytes")?,
        )
    } else {
        SigningKey::HmacSha256(secret.into_bytes())
    };
    let (method, path) = args
        .request
        .split_once(' ')
        .ok_or("--request must be 'METHOD /path'")?;
    let mut headers = Vec::new();
    for h in &args.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| format!("header {h:?} is not 'name: value'"))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let view = edgeguard::request::RequestView::new(
        method,
        &args.scheme,
        &args.authority,
        path,
        headers,
        edgeguard::request::ConnectionInfo::default(),
    )
    .map_err(|e| e.message().to_string())?;
    let mut components = args.components.clone();
    if components.is_empty() {
        components = vec!["@method".into(), "@authority".into(), "@path".into()];
        if args.body.is_some() {
            components.push("content-digest".into());
        }
    }
    let spec = SignSpec {
        label: "sig1".into(),
        keyid: args.key_id.clone(),
        key,
        components,
        created: Some(args.created.unwrap_or(now.as_secs() as i64)),
        expires: None,
        nonce: args.nonce.clone(),
        tag: args.tag.clone(),
        include_alg: true,
    };
    sign_request(&view, args.body.as_deref().map(str::as_bytes), &spec)
}

fn check_config(path: &std::path::Path) -> ExitCode {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot read {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    match edgeguard::engine::Engine::from_json(&bytes) {
        Ok(_) => {
            println!("{}: config OK", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

fn parse_level(s: &str) -> LogLevel {
    match s {
        "trace" => LogLevel::Trace,
        "debug" => LogLevel::Debug,
        "warn" => LogLevel::Warn,
        "error" => LogLevel::Error,
        "critical" => LogLevel::Critical,
        _ => LogLevel::Info,
    }
}

fn run(args: RunArgs) -> ExitCode {
    let wasm = args.wasm.unwrap_or_else(paths::filter_wasm);
    let config = match &args.config {
        Some(p) => match std::fs::read(p) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("cannot read {}: {e}", p.display());
                return ExitCode::from(2);
            }
        },
        None => b"{}".to_vec(),
    };
    let module = match CompiledModule::from_file(&wasm, true) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let (method, path) = match args.request.split_once(' ') {
        Some((m, p)) => (m.to_string(), p.trim().to_string()),
        None => ("GET".to_string(), args.request.clone()),
    };
    let mut headers = Vec::new();
    for h in &args.headers {
        match h.split_once(':') {
            Some((k, v)) => headers.push((k.trim().to_string(), v.trim().to_string())),
            None => {
                eprintln!("bad header {h:?}: expected `name: value`");
                return ExitCode::from(2);
            }
        }
    }
    let opts = ProxyOptions {
        settings: PluginSettings {
            plugin_config: config,
            log_level: parse_level(&args.log_level),
            ..Default::default()
        },
        ..Default::default()
    };
    let shared = Arc::new(edgeguard_test_host::state::SharedHost::default());
    let mut proxy = match Proxy::with_shared(module, opts, shared.clone()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            for l in shared.logs_snapshot() {
                eprintln!("log [{:?}] {}", l.level, l.message);
            }
            return ExitCode::FAILURE;
        }
    };
    let req = HttpRequest {
        method,
        path,
        authority: args.authority.clone(),
        scheme: "http".into(),
        headers,
        body: args.body.unwrap_or_default().into_bytes(),
        chunk_sizes: Vec::new(),
    };
    let mut up = FixedUpstream(edgeguard_test_host::http::HttpResponse {
        status: args.upstream_status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: args.upstream_body.into_bytes(),
    });
    let out = match proxy.send(&req, &mut up) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match (&out.local_reply, &out.upstream) {
        (Some(r), _) => println!(
            "decision: local reply {} ({})",
            r.status,
            if r.details.is_empty() {
                "-"
            } else {
                &r.details
            }
        ),
        (None, Some(_)) => println!("decision: forwarded upstream"),
        (None, None) if out.reset => println!("decision: stream reset"),
        (None, None) => println!("decision: failed (503)"),
    }
    if let Some(u) = &out.upstream {
        println!("upstream request headers:");
        for (k, v) in &u.headers {
            println!("  {k}: {v}");
        }
    }
    println!("response: {}", out.response.status);
    for (k, v) in &out.response.headers {
        println!("  {k}: {v}");
    }
    println!();
    println!("{}", String::from_utf8_lossy(&out.response.body));
    for l in proxy.shared().logs_snapshot() {
        eprintln!("log [{:?}] {}", l.level, l.message);
    }
    for e in &out.errors {
        eprintln!("host error: {e}");
    }
    if out.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn test(files: &[PathBuf], backend: &str, quiet: bool) -> ExitCode {
    let mut inprocess = InProcessBackend::new();
    let mut envoy = testfile::EnvoyBackend::new();
    let mut workerd = testfile::WorkerdBackend::new();
    let be: &mut dyn testfile::Backend = match backend {
        "inprocess" => &mut inprocess,
        "envoy" => &mut envoy,
        "workerd" => &mut workerd,
        other => {
            eprintln!("edgeguard test: backend {other:?} is not available in this build yet");
            return ExitCode::from(2);
        }
    };
    let mut reports = Vec::new();
    for path in testfile::collect_files(files) {
        let r = testfile::run_file(&path, be);
        let failed = r
            .cases
            .iter()
            .any(|c| matches!(c.outcome, testfile::CaseOutcome::Failed(_)));
        if !quiet || failed {
            print!("{}", r.render());
        }
        reports.push(r);
    }
    let s = Summary::of(&reports);
    let requests: usize = reports.iter().map(|r| r.cases.len()).sum();
    println!(
        "files: {}, cases: {requests}, skipped: {}",
        s.files, s.skipped
    );
    println!("{s}");
    if s.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
