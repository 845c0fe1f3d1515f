// edgeguard around a fetch handler: ask the engine about the request, forward it to the origin
// with the engine's header changes (or answer locally), then let the engine process the
// response (security headers, masking). Fails closed: any unexpected state or exception is a 503.
import { Engine } from "../pkg/edgeguard.js";

const MAX_ROUNDS = 8; // needBody/fetch round trips per request before giving up (fail closed)

// Per isolate: the compiled engine (or the config error) and the fetches in flight.
let compiled = null; // { source, engine, error }
const inflight = new Map(); // token -> Promise<void>

/**
 * The isolate's engine for this config text; throws the config error (cached). `env` (the
 * worker's bindings) supplies the secrets the config names as `{"env": "NAME"}`.
 */
export function engineFor(configSource, env = {}) {
  const source = typeof configSource === "string" ? configSource : JSON.stringify(configSource ?? {});
  if (!compiled || compiled.source !== source) {
    try {
      compiled = { source, engine: new Engine(source, env), error: null };
    } catch (e) {
      compiled = { source, engine: null, error: String(e && e.message ? e.message : e) };
    }
  }
  if (compiled.error) throw new Error(compiled.error);
  return compiled.engine;
}

function jsonError(status, message) {
  return new Response(JSON.stringify({ error: message, status }), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function applyMutations(headers, m) {
  for (const name of m.removeHeaders || []) headers.delete(name);
  for (const [k, v] of m.setHeaders || []) headers.set(k, v);
  for (const [k, v] of m.addHeaders || []) headers.append(k, v);
}

function isEmpty(m) {
  return !m.removeHeaders?.length && !m.setHeaders?.length && !m.addHeaders?.length;
}

function localReply(r) {
  return new Response(r.body, { status: r.status, headers: r.headers });
}

/** Start one engine fetch (e.g. JWKS); its answer goes to the engine whoever awaits it. */
function startFetch(engine, req) {
  const done = (async () => {
    let status = 0;
    let headers = [];
    let body = new Uint8Array(0);
    try {
      const resp = await fetch(req.url, {
        method: req.method,
        headers: req.headers,
        body: req.body,
        signal: AbortSignal.timeout(Math.max(1, req.timeoutMs || 5000)),
      });
      status = resp.status;
      headers = [...resp.headers];
      body = new Uint8Array(await resp.arrayBuffer());
    } catch (e) {
      console.error(JSON.stringify({ event: "fetch_failed", url: req.url, error: String(e) }));
    }
    engine.onFetchResponse(req.token, { status, headers, now: Date.now() }, body);
  })().finally(() => inflight.delete(req.token));
  inflight.set(req.token, done);
  return done;
}

/**
 * Handle `request` with `engine`, sending allowed requests to `origin(request)`.
 * `options.exposeRule`: put the matched rule name on the upstream request as
 * `x-edgeguard-rule` (debugging and tests only).
 */
export async function guard(engine, request, origin, options = {}) {
  const stream = engine.newStream();
  try {
    let r = engine.onRequest(stream, {
      method: request.method,
      url: request.url,
      headers: [...request.headers],
      clientIp: request.headers.get("cf-connecting-ip"),
      now: Date.now(),
    });
    let body = null;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      if (r.action === "needBody") {
        body = new Uint8Array(await request.arrayBuffer());
        r = engine.onRequestBody(stream, body, Date.now());
      } else if (r.action === "fetch") {
        const waits = r.requests.length
          ? r.requests.map((req) => startFetch(engine, req))
          : [...inflight.values()];
        if (waits.length === 0) break; // nothing will ever answer: fail closed below
        await (r.requests.length ? Promise.all(waits) : Promise.race(waits));
        r = engine.resume(stream, Date.now());
      } else {
        break;
      }
    }
    if (r.action === "respond") return localReply(r);
    if (r.action !== "continue") {
      console.error(JSON.stringify({ event: "internal_error", reason: `unfinished action ${r.action}` }));
      return jsonError(503, "edgeguard could not evaluate the request");
    }

    let upstream = request;
    if (body !== null || options.exposeRule || !isEmpty(r)) {
      const upstreamHeaders = new Headers(request.headers);
      applyMutations(upstreamHeaders, r);
      if (options.exposeRule) upstreamHeaders.set("x-edgeguard-rule", r.rule);
      const hasBody = request.method !== "GET" && request.method !== "HEAD";
      upstream = new Request(request.url, {
        method: request.method,
        headers: upstreamHeaders,
        body: hasBody ? (body ?? request.body) : undefined,
        redirect: "manual",
      });
    }
    const resp = await origin(upstream);

    const out = engine.onResponse(stream, {
      status: resp.status,
      headers: [...resp.headers],
      now: Date.now(),
    });
    if (!out.needBody && isEmpty(out)) return resp;
    const headers = new Headers(resp.headers);
    applyMutations(headers, out);
    const init = { status: resp.status, statusText: resp.statusText, headers };
    if (!out.needBody) return new Response(resp.body, init);

    const original = new Uint8Array(await resp.arrayBuffer());
    const b = engine.onResponseBody(stream, original, Date.now());
    if (b.action === "respond") return localReply(b);
    if (b.action === "replace") {
      headers.delete("content-length");
      return new Response(b.body, init);
    }
    return new Response(original, init);
  } catch (e) {
    console.error(JSON.stringify({ event: "internal_error", reason: String(e && e.message ? e.message : e) }));
    return jsonError(503, "edgeguard could not evaluate the request");
  } finally {
    stream.free();
  }
}
