// Startup and per-request engine cost of the JS build in V8 (Node 20): compile the wasm,
// instantiate it with the wasm-bindgen glue, build an Engine from a config (medians of 20 fresh
// instances), then time onRequest+onResponse for an allowed and a denied request (engine and
// JS<->wasm crossing only, no HTTP).
//   node startup.mjs [config.json]
import { readFileSync, mkdtempSync, copyFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.join(here, "..", "examples", "cloudflare-worker", "pkg");
const configPath = process.argv[2] || path.join(here, "configs", "routes.json");
const config = readFileSync(configPath, "utf8");

// Node has no workerd-style `.wasm` module imports: load the glue with the module injected.
const dir = mkdtempSync(path.join(tmpdir(), "edgeguard-startup-"));
copyFileSync(path.join(pkg, "edgeguard_bg.wasm"), path.join(dir, "edgeguard_bg.wasm"));
const glue = readFileSync(path.join(pkg, "edgeguard.js"), "utf8").replace(
  'import wasmModule from "./edgeguard_bg.wasm";',
  "const wasmModule = globalThis.__edgeguardModule;",
);
writeFileSync(path.join(dir, "edgeguard.mjs"), glue);
const bytes = readFileSync(path.join(dir, "edgeguard_bg.wasm"));

const compile = [], instantiate = [], engine = [];
for (let i = 0; i < 20; i++) {
  let t = performance.now();
  globalThis.__edgeguardModule = new WebAssembly.Module(bytes);
  compile.push(performance.now() - t);
  t = performance.now();
  const { Engine } = await import(`${path.join(dir, "edgeguard.mjs")}?i=${i}`);
  instantiate.push(performance.now() - t);
  const log = console.log;
  console.log = () => {};
  t = performance.now();
  const e = new Engine(config);
  engine.push(performance.now() - t);
  console.log = log;
  e.free();
}
const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1].toFixed(2);
console.log(`wasm ${bytes.length} bytes, config ${path.basename(configPath)}, node ${process.version}`);
console.log(`compile ${median(compile)} ms, instantiate+glue ${median(instantiate)} ms, new Engine ${median(engine)} ms (medians of 20)`);

const { Engine } = await import(`${path.join(dir, "edgeguard.mjs")}?bench`);
const quiet = console.log, quietWarn = console.warn;
const e = new Engine(config);
const headers = [["host", "api.example.com"], ["user-agent", "bench"], ["accept", "*/*"], ["x-request-id", "r-1"]];
function once(url) {
  const s = e.newStream();
  const r = e.onRequest(s, { method: "GET", url, headers, clientIp: "203.0.113.7", now: Date.now() });
  if (r.action === "continue") {
    e.onResponse(s, { status: 200, headers: [["content-type", "application/json"], ["content-length", "2"]], now: Date.now() });
  }
  s.free();
}
for (const [label, url] of [["allowed", "https://api.example.com/api/v1/items?x=1"], ["denied (400)", "https://api.example.com/a%zz"]]) {
  console.log = () => {};
  console.warn = () => {};
  const n = 20000;
  for (let i = 0; i < 2000; i++) once(url);
  const t = performance.now();
  for (let i = 0; i < n; i++) once(url);
  const us = ((performance.now() - t) * 1000) / n;
  console.log = quiet;
  console.warn = quietWarn;
  console.log(`${label}: ${us.toFixed(1)} us per request (onRequest${label === "allowed" ? " + onResponse" : ""}, ${n} iterations, log lines discarded)`);
}
