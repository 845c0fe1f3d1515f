# workerd config for the edgeguard JS tests: four edge workers (enforce, report mode, a bad
# config, masking) in front of one origin worker bound by a service binding, so no network is used.
# Socket addresses are placeholders; run.mjs overrides them with --socket-addr NAME=127.0.0.1:PORT.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "edge", worker = .edge),
    (name = "edge-report", worker = .edgeReport),
    (name = "edge-bad", worker = .edgeBad),
    (name = "edge-mask", worker = .edgeMask),
    (name = "edge-nosecret", worker = .edgeNoSecret),
    (name = "origin", worker = .origin),
    (name = "plain", worker = .plain),
    (name = "guard-tests", worker = .guardTests),
  ],
  sockets = [
    (name = "edge", address = "127.0.0.1:0", http = (), service = "edge"),
    (name = "edge-report", address = "127.0.0.1:0", http = (), service = "edge-report"),
    (name = "edge-bad", address = "127.0.0.1:0", http = (), service = "edge-bad"),
    (name = "edge-mask", address = "127.0.0.1:0", http = (), service = "edge-mask"),
    (name = "edge-nosecret", address = "127.0.0.1:0", http = (), service = "edge-nosecret"),
    (name = "plain", address = "127.0.0.1:0", http = (), service = "plain"),
    (name = "guard-tests", address = "127.0.0.1:0", http = (), service = "guard-tests"),
  ],
);

const edgeModules :List(Workerd.Worker.Module) = [
  (name = "src/worker.js", esModule = embed "../examples/cloudflare-worker/src/worker.js"),
  (name = "src/guard.js", esModule = embed "../examples/cloudflare-worker/src/guard.js"),
  (name = "config.json", json = embed "../examples/cloudflare-worker/config.json"),
  (name = "pkg/edgeguard.js", esModule = embed "../examples/cloudflare-worker/pkg/edgeguard.js"),
  (name = "pkg/edgeguard_bg.wasm", wasm = embed "../examples/cloudflare-worker/pkg/edgeguard_bg.wasm"),
];

const edge :Workerd.Worker = (
  modules = .edgeModules,
  compatibilityDate = "2025-09-01",
  bindings = [
    (name = "EDGEGUARD_CONFIG", text = embed "configs/routes.json"),
    (name = "EDGEGUARD_EXPOSE_RULE", text = "1"),
    (name = "ORIGIN", service = "origin"),
  ],
);

const edgeReport :Workerd.Worker = (
  modules = .edgeModules,
  compatibilityDate = "2025-09-01",
  bindings = [
    (name = "EDGEGUARD_CONFIG", text = embed "configs/report.json"),
    (name = "EDGEGUARD_EXPOSE_RULE", text = "1"),
    (name = "ORIGIN", service = "origin"),
  ],
);

const edgeBad :Workerd.Worker = (
  modules = .edgeModules,
  compatibilityDate = "2025-09-01",
  bindings = [
    (name = "EDGEGUARD_CONFIG", text = embed "configs/bad.json"),
    (name = "ORIGIN", service = "origin"),
  ],
);

# Masks `email` (HMAC under a secret binding) and `card_number` in JSON from /records (the
# masked-response benchmark). The config names the key as {"env": "EDGEGUARD_MASK_KEY"}.
const edgeMask :Workerd.Worker = (
  modules = .edgeModules,
  compatibilityDate = "2025-09-01",
  bindings = [
    (name = "EDGEGUARD_CONFIG", text = embed "configs/masking.json"),
    (name = "EDGEGUARD_MASK_KEY", text = "workerd-test-mask-key-0123456789"),
    (name = "ORIGIN", service = "origin"),
  ],
);

# The same config without the secret binding: must refuse to load.
const edgeNoSecret :Workerd.Worker = (
  modules = .edgeModules,
  compatibilityDate = "2025-09-01",
  bindings = [
    (name = "EDGEGUARD_CONFIG", text = embed "configs/masking.json"),
    (name = "ORIGIN", service = "origin"),
  ],
);

const origin :Workerd.Worker = (
  modules = [(name = "origin.js", esModule = embed "origin.js")],
  compatibilityDate = "2025-09-01",
);

# Benchmark baseline: forwards to the origin without edgeguard.
const plain :Workerd.Worker = (
  modules = [(name = "plain.js", esModule = embed "plain.js")],
  compatibilityDate = "2025-09-01",
  bindings = [(name = "ORIGIN", service = "origin")],
);

# The fetch-handler glue against a scripted engine (see guard-tests.js); global fetch (the
# engine's JWKS-style requests) goes to the origin worker.
const guardTests :Workerd.Worker = (
  modules = [
    (name = "guard-tests.js", esModule = embed "guard-tests.js"),
    (name = "src/guard.js", esModule = embed "../examples/cloudflare-worker/src/guard.js"),
    (name = "pkg/edgeguard.js", esModule = embed "../examples/cloudflare-worker/pkg/edgeguard.js"),
    (name = "pkg/edgeguard_bg.wasm", wasm = embed "../examples/cloudflare-worker/pkg/edgeguard_bg.wasm"),
  ],
  compatibilityDate = "2025-09-01",
  bindings = [(name = "ORIGIN", service = "origin")],
  globalOutbound = "origin",
);
