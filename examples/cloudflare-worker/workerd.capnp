# Local run of this example in workerd (Cloudflare's open-source runtime), no network:
#   ../../scripts/build-js
#   ../../js-tests/node_modules/.bin/workerd serve workerd.capnp --socket-addr http=127.0.0.1:8787
# The origin is js-tests/origin.js (echoes the request as JSON), bound as ORIGIN.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "edge", worker = .edge),
    (name = "origin", worker = .origin),
  ],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "edge")],
);

const edge :Workerd.Worker = (
  modules = [
    (name = "src/worker.js", esModule = embed "src/worker.js"),
    (name = "src/guard.js", esModule = embed "src/guard.js"),
    (name = "config.json", json = embed "config.json"),
    (name = "pkg/edgeguard.js", esModule = embed "pkg/edgeguard.js"),
    (name = "pkg/edgeguard_bg.wasm", wasm = embed "pkg/edgeguard_bg.wasm"),
  ],
  compatibilityDate = "2025-09-01",
  bindings = [
    (name = "ORIGIN", service = "origin"),
    # Shows the matched rule to the origin as x-edgeguard-rule (demo only).
    (name = "EDGEGUARD_EXPOSE_RULE", text = "1"),
  ],
);

const origin :Workerd.Worker = (
  modules = [(name = "origin.js", esModule = embed "../../js-tests/origin.js")],
  compatibilityDate = "2025-09-01",
);
