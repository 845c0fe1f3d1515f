//! Where things are: the workspace, the built filter module, the test data.

use std::path::PathBuf;

/// The workspace root (parent of `test-host/`).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// The cargo target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => workspace_root().join("target"),
    }
}

/// The built proxy-wasm filter: `$EDGEGUARD_WASM`, else
/// `target/wasm32-wasip1/release/edgeguard.wasm` (built by `scripts/build-wasm`).
pub fn filter_wasm() -> PathBuf {
    match std::env::var_os("EDGEGUARD_WASM") {
        Some(p) => PathBuf::from(p),
        None => target_dir().join("wasm32-wasip1/release/edgeguard.wasm"),
    }
}

/// Build the filter for `wasm32-wasip1` in release mode (no-op when up to date) and return its path.
pub fn build_filter_wasm() -> anyhow::Result<PathBuf> {
    if std::env::var_os("EDGEGUARD_WASM").is_none() {
        let status =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(workspace_root())
                .args([
                    "build",
                    "--release",
                    "--target",
                    "wasm32-wasip1",
                    "-p",
                    "edgeguard",
                ])
                .status()?;
        anyhow::ensure!(
            status.success(),
            "building the filter for wasm32-wasip1 failed"
        );
    }
    let path = filter_wasm();
    anyhow::ensure!(
        path.exists(),
        "filter module not found at {}",
        path.display()
    );
    Ok(path)
}

/// Where the SDK probe module's own cargo target lives (it is not a workspace member).
fn sdk_probe_target() -> PathBuf {
    target_dir().join("sdk-probe")
}

/// The probe module written with the proxy-wasm Rust SDK (`test-host/tests/modules/sdk-probe`),
/// built for `wasm32-wasip1` on first use in this process; test files name it
/// `wasm: "module:sdk-probe"`.
pub fn build_sdk_probe() -> Result<PathBuf, String> {
    static BUILT: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let manifest = workspace_root().join("test-host/tests/modules/sdk-probe/Cargo.toml");
            let out = std::process::Command::new(
                std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
            )
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip1",
                "--manifest-path",
            ])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(sdk_probe_target())
            .output()
            .map_err(|e| format!("running cargo to build the SDK probe: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "building the SDK probe ({}) failed:\n{}",
                    manifest.display(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(sdk_probe_target().join("wasm32-wasip1/release/sdk_probe.wasm"))
        })
        .clone()
}

/// The shared declarative test files.
pub fn testdata() -> PathBuf {
    workspace_root().join("testdata")
}

/// The shared declarative test suite, `testdata/cases/`.
pub fn cases_dir() -> PathBuf {
    workspace_root().join("testdata/cases")
}
