// Harness around the example worker for the shared declarative suite (testdata/cases, run by
// `edgeguard test --backend workerd`). It changes nothing the engine sees: it removes the
// harness's own request headers, fixes the clock the file asks for, tags the origin request
// with the case id, then calls the real worker (examples/cloudflare-worker/src/worker.js).
//   x-edgeguard-test-case: ID    case id, put back on the request to the origin (ORIGIN)
//   x-edgeguard-test-now: MS     Date.now() for this request (the file's clock)
//   x-edgeguard-test-control: probe | metrics   compile the engine / read its counters
// After each case it logs `edgeguard-test: end ID`, so the runner knows the case's log lines
// are complete (console lines of one isolate are written in order).
import worker from "src/worker.js";
import { engineFor } from "src/guard.js";

const CASE = "x-edgeguard-test-case";
const NOW = "x-edgeguard-test-now";
const CONTROL = "x-edgeguard-test-control";
const realNow = Date.now.bind(Date);
let fixedNow = null;
Date.now = () => (fixedNow === null ? realNow() : fixedNow);

function control(kind, env) {
  try {
    const engine = engineFor(env.EDGEGUARD_CONFIG, env);
    if (kind === "metrics") return Response.json(engine.metrics());
    return Response.json({ ok: true });
  } catch (e) {
    return Response.json({ ok: false, error: String(e && e.message ? e.message : e) });
  }
}

export default {
  async fetch(request, env, ctx) {
    const kind = request.headers.get(CONTROL);
    if (kind) return control(kind, env);
    const id = request.headers.get(CASE) || "";
    const now = Number(request.headers.get(NOW));
    fixedNow = Number.isFinite(now) && now > 0 ? now : null;
    const headers = new Headers(request.headers);
    headers.delete(CASE);
    headers.delete(NOW);
    const clean = new Request(request, { headers });
    const origin = {
      fetch(req) {
        const h = new Headers(req.headers);
        h.set(CASE, id);
        return env.ORIGIN.fetch(new Request(req, { headers: h }));
      },
    };
    try {
      return await worker.fetch(clean, { ...env, ORIGIN: origin }, ctx);
    } finally {
      console.log(`edgeguard-test: end ${id}`);
    }
  },
};
