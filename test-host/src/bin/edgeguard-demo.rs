//! `edgeguard-demo [--keep-running] [--wasm FILE] [--config FILE]`: the demo until the main
//! `edgeguard demo` subcommand exists.

use edgeguard_test_host::demo::{run, DemoOptions};
use std::path::PathBuf;

const USAGE: &str = "usage: edgeguard demo [--keep-running] [--wasm FILE] [--config FILE]\n\
  Builds the filter, runs it in real Envoy with envoy/demo/config.json in front of an echo\n\
  upstream, sends envoy/demo/requests.yaml and prints what happened.\n\
  --keep-running  leave Envoy on 127.0.0.1:10000 (admin :9901) until Ctrl-C\n\
  --wasm FILE     use this module instead of building the filter\n\
  --config FILE   use this plugin config instead of envoy/demo/config.json";

fn main() {
    let mut opts = DemoOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--keep-running" => opts.keep_running = true,
            "--wasm" => opts.wasm = args.next().map(PathBuf::from),
            "--config" => opts.config = args.next().map(PathBuf::from),
            "demo" => {}
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => {
                eprintln!("unknown argument {other:?}\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    if let Err(e) = run(opts) {
        eprintln!("demo failed: {e:#}");
        std::process::exit(1);
    }
}
