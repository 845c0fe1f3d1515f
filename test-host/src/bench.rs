//! `edgeguard bench`: run a test file's requests N times in-process and report per-request
//! time (median, p99), wasmtime fuel per request, the VM's linear-memory high-water mark,
//! and (with `--streams`) memory per open stream. Budgets fail the run; the
//! `service-extensions` profile applies Google Service Extensions' published limits.

use crate::http::HttpResponse;
use crate::proxy::{FixedUpstream, Proxy};
use crate::state::ConnectionProps;
use crate::testfile::{self, inprocess::options_for};
use crate::vm::{CompiledModule, VmLimits};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Command-line arguments of `edgeguard bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// The test file whose requests are measured (expectations are not checked).
    pub file: PathBuf,
    /// How many times to send the file's requests.
    #[arg(long, default_value_t = 1000)]
    pub iterations: usize,
    /// Hold this many streams open at once to measure memory per stream.
    #[arg(long)]
    pub streams: Option<usize>,
    /// Fail when a request uses more fuel than this.
    #[arg(long)]
    pub max_fuel: Option<u64>,
    /// Fail when the VM's linear memory grows past this many bytes.
    #[arg(long)]
    pub max_memory: Option<u64>,
    /// Limits of an edge platform: `service-extensions` (~1 ms CPU per callback, 16 MiB per
    /// VM with 1000 concurrent streams, no http_call/timers/metrics/shared data).
    #[arg(long, value_parser = ["service-extensions"])]
    pub profile: Option<String>,
}

/// What a bench run measured.
#[derive(Debug, Clone, Default)]
pub struct BenchReport {
    /// File measured.
    pub file: String,
    /// Requests sent (iterations × requests in the file).
    pub requests: usize,
    /// Median per-request wall time, ns.
    pub median_nanos: u64,
    /// 99th percentile per-request wall time, ns.
    pub p99_nanos: u64,
    /// Median fuel per request.
    pub median_fuel: u64,
    /// Most fuel one request used.
    pub max_fuel: u64,
    /// Most fuel one callback used, and which.
    pub max_callback_fuel: (u64, String),
    /// Longest callback after warm-up, ns.
    pub max_callback_nanos: u64,
    /// 99th percentile callback wall time after warm-up, ns.
    pub p99_callback_nanos: u64,
    /// Linear-memory high-water mark, bytes.
    pub peak_memory: usize,
    /// With `--streams`: (streams, memory with them open, bytes per stream).
    pub streams: Option<(usize, usize, usize)>,
    /// Budget and profile failures (empty = pass).
    pub budget_failures: Vec<String>,
    /// Profile name, if any.
    pub profile: Option<String>,
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(idx).copied().unwrap_or(0)
}

fn us(n: u64) -> String {
    format!("{:.1} µs", n as f64 / 1000.0)
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "bench {}: {} requests", self.file, self.requests)?;
        writeln!(
            f,
            "  time per request: median {}, p99 {}",
            us(self.median_nanos),
            us(self.p99_nanos)
        )?;
        writeln!(
            f,
            "  fuel per request: median {}, max {}",
            self.median_fuel, self.max_fuel
        )?;
        writeln!(
            f,
            "  max fuel in one callback: {} ({}); callback time p99 {}, max {}",
            self.max_callback_fuel.0,
            self.max_callback_fuel.1,
            us(self.p99_callback_nanos),
            us(self.max_callback_nanos)
        )?;
        writeln!(
            f,
            "  VM linear memory high-water mark: {} bytes ({:.2} MiB)",
            self.peak_memory,
            self.peak_memory as f64 / 1048576.0
        )?;
        if let Some((n, mem, per)) = self.streams {
            writeln!(
                f,
                "  {n} streams open: linear memory {mem} bytes, ~{per} bytes per stream"
            )?;
        }
        if let Some(p) = &self.profile {
            writeln!(f, "  profile: {p}")?;
        }
        if self.budget_failures.is_empty() {
            write!(f, "  budgets: pass")
        } else {
            writeln!(f, "  budgets: FAIL")?;
            let lines: Vec<String> = self
                .budget_failures
                .iter()
                .map(|b| format!("    - {b}"))
                .collect();
            write!(f, "{}", lines.join("\n"))
        }
    }
}

/// Run a benchmark.
pub fn run(args: &BenchArgs) -> Result<BenchReport, String> {
    let file = testfile::load(&args.file)?;
    let dir = args
        .file
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .to_path_buf();
    let setup = testfile::setup_for(&file, &dir)?;
    let se = args.profile.as_deref() == Some("service-extensions");
    let mut max_memory = args.max_memory;
    let mut streams = args.streams;
    if se {
        max_memory = Some(max_memory.unwrap_or(16 * 1024 * 1024).min(16 * 1024 * 1024));
        streams = Some(streams.unwrap_or(1000));
    }
    let module =
        Arc::new(CompiledModule::from_file(&setup.wasm, setup.strict).map_err(|e| e.to_string())?);
    let mut opts = options_for(&setup, VmLimits::default());
    opts.workers = 1;
    if se {
        opts.forbidden = vec!["http_call", "timers", "metrics", "shared_data"];
    }
    let mut proxy = Proxy::new(module, opts).map_err(|e| e.to_string())?;
    let default_up = file
        .upstream
        .as_ref()
        .map(testfile::response_of)
        .unwrap_or_else(testfile::default_upstream);
    let cases: Vec<(crate::http::HttpRequest, HttpResponse)> = file
        .requests
        .iter()
        .map(|c| {
            (
                testfile::request_of(c),
                c.upstream
                    .as_ref()
                    .map(testfile::response_of)
                    .unwrap_or_else(|| default_up.clone()),
            )
        })
        .collect();
    if cases.is_empty() {
        return Err(format!("{}: no requests to measure", args.file.display()));
    }
    let mut report = BenchReport {
        file: args.file.display().to_string(),
        profile: args.profile.clone(),
        ..Default::default()
    };
    // Warm-up: one pass, not measured.
    for (req, up) in &cases {
        let mut u = FixedUpstream(up.clone());
        proxy.send(req, &mut u).map_err(|e| e.to_string())?;
    }
    if let Some(vm) = proxy.vm_mut(0) {
        vm.reset_stats(true);
    }
    let mut times = Vec::with_capacity(args.iterations * cases.len());
    let mut fuels = Vec::with_capacity(times.capacity());
    let mut errors = Vec::new();
    for _ in 0..args.iterations {
        for (req, up) in &cases {
            let mut u = FixedUpstream(up.clone());
            let t = Instant::now();
            let out = proxy.send(req, &mut u).map_err(|e| e.to_string())?;
            times.push(t.elapsed().as_nanos() as u64);
            fuels.push(out.fuel);
            if let Some(e) = out.errors.first() {
                if errors.len() < 3 {
                    errors.push(e.to_string());
                }
            }
        }
    }
    times.sort_unstable();
    fuels.sort_unstable();
    report.requests = times.len();
    report.median_nanos = percentile(&times, 0.5);
    report.p99_nanos = percentile(&times, 0.99);
    report.median_fuel = percentile(&fuels, 0.5);
    report.max_fuel = fuels.last().copied().unwrap_or(0);
    if let Some(n) = streams {
        let before = proxy.vm_mut(0).map(|v| v.memory_size()).unwrap_or(0);
        let mut open = Vec::with_capacity(n);
        for i in 0..n {
            let (req, _) = &cases[i % cases.len()];
            open.push(
                proxy
                    .begin(req, ConnectionProps::default())
                    .map_err(|e| e.to_string())?,
            );
        }
        let during = proxy.vm_mut(0).map(|v| v.memory_size()).unwrap_or(0);
        for o in open {
            let mut u = FixedUpstream(default_up.clone());
            let _ = proxy.complete(o, &mut u);
        }
        report.streams = Some((n, during, during.saturating_sub(before) / n.max(1)));
    }
    if let Some(vm) = proxy.vm(0) {
        report.peak_memory = vm.peak_memory;
        report.max_callback_fuel = (vm.max_callback_fuel, vm.max_fuel_callback.to_string());
        report.max_callback_nanos = vm.max_callback_nanos;
        let mut cb = vm.callback_nanos.clone().unwrap_or_default();
        cb.sort_unstable();
        report.p99_callback_nanos = percentile(&cb, 0.99);
        for v in &vm.state().profile_violations {
            report.budget_failures.push(format!("profile: {v}"));
        }
    }
    for e in errors {
        report.budget_failures.push(format!("host error: {e}"));
    }
    if let Some(max) = args.max_fuel {
        if report.max_fuel > max {
            report.budget_failures.push(format!(
                "fuel: a request used {} > --max-fuel {max}",
                report.max_fuel
            ));
        }
    }
    if let Some(max) = max_memory {
        if report.peak_memory as u64 > max {
            report.budget_failures.push(format!(
                "memory: high-water mark {} bytes > {max}",
                report.peak_memory
            ));
        }
    }
    // p99, not max: one scheduler hiccup on a busy machine must not fail the run.
    if se && report.p99_callback_nanos > 1_000_000 {
        report.budget_failures.push(format!(
            "cpu: callback time p99 {} > ~1 ms (Service Extensions' per-callback budget)",
            us(report.p99_callback_nanos)
        ));
    }
    Ok(report)
}
