// Runs the edgeguard wasm-bindgen build in real workerd: starts workerd (config.capnp: edge
// workers in front of an origin worker bound by a service binding, no network) on free
// 127.0.0.1 ports, waits until every socket answers, sends the cases, always stops workerd, and
// prints how many cases ran. Exit code 0 only if all passed.
//   node run.mjs            run the cases
//   node run.mjs --bench    also measure startup and requests/s with wrk (allowed, denied,
//                           masked response)
// Build first: scripts/build-js.
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const workerdBin = path.join(here, "node_modules", ".bin", "workerd");
const pkg = path.join(here, "..", "examples", "cloudflare-worker", "pkg", "edgeguard_bg.wasm");
const SOCKETS = ["edge", "edge-report", "edge-bad", "plain", "guard-tests", "edge-mask", "edge-nosecret"];
const READY_DEADLINE_MS = 15000;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** One HTTP/1.1 request with the path sent byte for byte (no URL normalization). */
function request(port, method, rawPath, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, method, path: rawPath, headers, agent: false, timeout: 5000 },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
        );
      },
    );
    req.on("timeout", () => req.destroy(new Error(`timeout: ${method} ${rawPath}`)));
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function waitReady(ports, child) {
  const deadline = Date.now() + READY_DEADLINE_MS;
  for (const port of ports) {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`workerd exited with ${child.exitCode}`);
      try {
        await request(port, "GET", "/__ready");
        break;
      } catch {
        if (Date.now() > deadline) throw new Error(`workerd not ready on ${port} after ${READY_DEADLINE_MS} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
}

function startWorkerd(ports) {
  const args = ["serve", path.join(here, "config.capnp"), "--verbose"];
  SOCKETS.forEach((name, i) => args.push("--socket-addr", `${name}=127.0.0.1:${ports[i]}`));
  const child = spawn(workerdBin, args, { stdio: ["ignore", "pipe", "pipe"] });
  const output = { text: "" };
  // Keep only the tail: benchmarks log a line per denial.
  const keep = (d) => {
    output.text += d;
    if (output.text.length > 1 << 20) output.text = output.text.slice(-(1 << 19));
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const stop = () => {
    if (child.exitCode === null) child.kill("SIGKILL");
  };
  process.on("exit", stop);
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => { stop(); process.exit(130); });
  return { child, output, stop };
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

function json(res) {
  try {
    return JSON.parse(res.body);
  } catch {
    throw new Error(`not JSON (status ${res.status}): ${res.body.slice(0, 200)}`);
  }
}

/** Cases: [name, async (ports, output) => void]. */
function cases() {
  const list = [];
  const add = (name, fn) => list.push([name, fn]);

  const routed = (raw, rule) =>
    add(`routing ${raw} -> rule ${rule}`, async ({ edge }) => {
      const res = await request(edge, "GET", raw);
      assert(res.status === 200, `status ${res.status}: ${res.body}`);
      const echo = json(res);
      assert(echo.origin === true, "did not reach the origin");
      assert(echo.headers["x-edgeguard-rule"] === rule, `rule ${echo.headers["x-edgeguard-rule"]}, want ${rule}`);
    });
  routed("/admin/users", "admin");
  routed("/x/../%61dmin", "admin");
  routed("/%61%64%6D%69%6E/panel", "admin");
  routed("//admin", "admin");
  routed("/./admin/.", "admin");
  routed("/api/v1/items?x=1", "api");
  routed("/public/index.html", "-");

  for (const raw of ["/a%zz", "/admin%2", "/api/%G0"]) {
    add(`bad percent-encoding ${raw} -> 400 JSON`, async ({ edge }) => {
      const res = await request(edge, "GET", raw);
      assert(res.status === 400, `status ${res.status}`);
      assert(res.headers["content-type"] === "application/json", `content-type ${res.headers["content-type"]}`);
      const body = json(res);
      assert(body.error === "request path has invalid percent-encoding" && body.status === 400, res.body);
      assert(body.origin === undefined, "origin answered");
    });
  }

  add("report mode lets a would-be 400 through and logs would_deny", async ({ report }, output) => {
    const res = await request(report, "GET", "/a%zz");
    assert(res.status === 200 && json(res).origin === true, `status ${res.status}: ${res.body}`);
    await eventually(() => /"event":"would_deny".*"reason":"bad_request"/.test(output.text), "no would_deny log line");
  });

  add("denial is logged as a structured event", async ({ edge }, output) => {
    await request(edge, "GET", "/logged%zz");
    await eventually(() => /"event":"denied"[^\n]*"path":"\/logged%zz"/.test(output.text), "no denied log line");
  });

  add("config load error -> 503 for every request, error text logged", async ({ bad }, output) => {
    const res = await request(bad, "GET", "/admin");
    assert(res.status === 503, `status ${res.status}`);
    assert(json(res).error === "edgeguard configuration invalid", res.body);
    await eventually(
      () => output.text.includes('config error at rules[0].match.prefix: must start with \\"/\\"'),
      "config error not logged",
    );
  });

  add("a config naming a secret binding the worker lacks: 503, load error names the field", async ({ nosecret }, output) => {
    const res = await request(nosecret, "GET", "/records");
    assert(res.status === 503, `status ${res.status}`);
    assert(json(res).error === "edgeguard configuration invalid", res.body);
    await eventually(
      () => output.text.includes('config error at masking.hash_key: environment variable \\"EDGEGUARD_MASK_KEY\\" is not set'),
      "missing-secret error not logged",
    );
  });

  add("startup log says state is per isolate", async (_ports, output) => {
    await eventually(() => /"event":"config_loaded"[^\n]*"state_scope":"isolate"/.test(output.text), "no startup line");
  });

  add("POST body and headers reach the origin unchanged", async ({ edge }) => {
    const res = await request(edge, "POST", "/api/items", {
      headers: { "content-type": "text/plain", "x-trace": "t1" },
      body: "hello edge",
    });
    const echo = json(res);
    assert(echo.method === "POST" && echo.body === "hello edge", res.body);
    assert(echo.headers["x-trace"] === "t1", "header lost");
  });

  add("masking: a few-KiB JSON comes back with every email hashed under the secret binding", async ({ mask }) => {
    const res = await request(mask, "GET", "/records");
    assert(res.status === 200, `status ${res.status}: ${res.body.slice(0, 200)}`);
    const items = json(res).items;
    assert(items.length === 40 && items[3].sku === "SKU-23757", "record shape changed");
    const emails = items.filter((it) => "email" in it).map((it) => it.email);
    assert(emails.length === 20, `${emails.length} emails`);
    // hash strategy: "h:" + 16 hex digits of HMAC-SHA256(hash_key, value); the key is the
    // EDGEGUARD_MASK_KEY text binding in config.capnp, which the config references by env.
    const want = (v) => "h:" + createHmac("sha256", "workerd-test-mask-key-0123456789").update(v).digest("hex").slice(0, 16);
    assert(emails[0] === want("buyer0@example.com"), `email 0 masked as ${emails[0]}`);
    assert(emails[19] === want("buyer38@example.com"), `email 19 masked as ${emails[19]}`);
    assert(!res.body.includes("@example.com"), "raw email in body");
  });

  add("origin response headers pass through", async ({ edge }) => {
    const res = await request(edge, "GET", "/api/x");
    assert(res.headers["x-origin"] === "yes", JSON.stringify(res.headers));
  });

  return list;
}

async function eventually(check, message) {
  const deadline = Date.now() + 3000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(message);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** wrk, run asynchronously: a blocking call would stop us draining workerd's log pipe, and
 *  workerd (logging every denial) would stall on a full pipe. */
function wrk(port, rawPath, seconds) {
  return new Promise((resolve, reject) => {
    const child = spawn("wrk", ["-t1", "-c16", `-d${seconds}s`, `http://127.0.0.1:${port}${rawPath}`]);
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("close", () => {
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
      const lat = /Latency\s+(\S+)/.exec(out);
      const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
      resolve({ rps: rps ? Number(rps[1]) : NaN, latency: lat ? lat[1] : "?", non2xx: non2xx ? Number(non2xx[1]) : 0 });
    });
  });
}

async function main() {
  const bench = process.argv.includes("--bench");
  if (!existsSync(workerdBin)) throw new Error("workerd missing: run `npm ci` in js-tests/");
  if (!existsSync(pkg)) throw new Error("wasm build missing: run scripts/build-js");
  const portList = [];
  for (const _ of SOCKETS) portList.push(await freePort());
  const ports = {
    edge: portList[0],
    report: portList[1],
    bad: portList[2],
    plain: portList[3],
    guardTests: portList[4],
    mask: portList[5],
    nosecret: portList[6],
  };
  const t0 = process.hrtime.bigint();
  const wd = startWorkerd(portList);
  let passed = 0;
  let failed = 0;
  try {
    await waitReady(portList, wd.child);
    const readyMs = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(`workerd ready on ${portList.join(", ")} after ${readyMs.toFixed(0)} ms`);
    // The glue's own scenarios run inside workerd in one request; each counts as a case.
    const glue = json(await request(ports.guardTests, "GET", "/"));
    for (const r of glue) {
      if (r.ok) passed++;
      else failed++;
      console.log(`${r.ok ? "PASS" : "FAIL"} guard.js: ${r.name}${r.ok ? "" : ": " + r.error}`);
    }
    for (const [name, fn] of cases()) {
      try {
        await fn(ports, wd.output);
        passed++;
        console.log(`PASS ${name}`);
      } catch (e) {
        failed++;
        console.log(`FAIL ${name}: ${e.message}`);
      }
    }
    if (bench) {
      const secs = Number(process.env.BENCH_SECONDS || 10);
      console.log(`bench: wrk -t1 -c16 -d${secs}s, workerd serving ${SOCKETS.length} sockets, 2-core machine shared`);
      for (const [label, p, raw] of [
        ["baseline, no edgeguard (GET /api/x -> origin)", ports.plain, "/api/x"],
        ["allowed (GET /api/x -> origin)", ports.edge, "/api/x"],
        ["denied (GET /a%zz -> 400)", ports.edge, "/a%zz"],
        ["masked response (GET /records: 7 KiB JSON, 20 of 380 fields hashed)", ports.mask, "/records"],
      ]) {
        const r = await wrk(p, raw, secs);
        console.log(`bench ${label}: ${r.rps.toFixed(0)} req/s, avg latency ${r.latency}, non-2xx ${r.non2xx}`);
      }
    }
  } finally {
    wd.stop();
  }
  console.log(`workerd: ${passed + failed} cases ran, ${passed} passed, ${failed} failed`);
  if (failed > 0) {
    console.log("--- workerd output ---\n" + wd.output.text.slice(-4000));
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(`error: ${e.message}`);
  process.exitCode = 1;
});
