//! `edgeguard`: run, test and benchmark proxy-wasm modules locally.

fn main() {
    eprintln!("edgeguard: no commands yet");
    std::process::exit(2);
}
