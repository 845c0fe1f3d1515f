// Tests of the fetch-handler glue (examples/cloudflare-worker/src/guard.js) with a scripted
// engine, so the paths the current policy cannot reach yet (needBody, JWKS-style fetches,
// masked bodies, replacement responses) run in workerd too. Global fetch goes to the origin
// worker (globalOutbound). GET / runs every scenario and answers [{name, ok, error}].
import { guard } from "src/guard.js";

/** An engine double: answers from a script, records calls. */
function scripted(script) {
  const calls = [];
  const next = (name, ...args) => {
    calls.push([name, ...args]);
    const step = script[name];
    return typeof step === "function" ? step(...args) : step;
  };
  return {
    calls,
    newStream: () => ({ free: () => calls.push(["free"]) }),
    onRequest: (_s, req) => next("onRequest", req),
    onRequestBody: (_s, body) => next("onRequestBody", new TextDecoder().decode(body)),
    onFetchResponse: (token, resp, body) => next("onFetchResponse", token, resp.status, new TextDecoder().decode(body)),
    resume: () => next("resume"),
    onResponse: (_s, resp) => next("onResponse", resp.status),
    onResponseBody: (_s, body) => next("onResponseBody", new TextDecoder().decode(body)),
  };
}

const CONTINUE = { action: "continue", removeHeaders: [], setHeaders: [], addHeaders: [], rule: "r" };
const PASS_RESPONSE = { removeHeaders: [], setHeaders: [], addHeaders: [], needBody: false };
const enc = (s) => new TextEncoder().encode(s);

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

const scenarios = {
  async "needBody: the body is read once, judged, and still forwarded"(env) {
    const e = scripted({
      onRequest: { action: "needBody" },
      onRequestBody: (body) => (check(body === "payload", `engine saw ${body}`), CONTINUE),
      onResponse: PASS_RESPONSE,
    });
    const res = await guard(e, new Request("http://edge/api", { method: "POST", body: "payload" }), (r) => env.ORIGIN.fetch(r));
    const echo = await res.json();
    check(echo.body === "payload", `origin got ${echo.body}`);
  },

  async "fetch: engine requests are fetched, answered by token, then resumed"(env) {
    const e = scripted({
      onRequest: { action: "fetch", requests: [{ token: 7, method: "GET", url: "http://idp/jwks", headers: [["accept", "application/json"]], timeoutMs: 2000 }] },
      onFetchResponse: true,
      resume: CONTINUE,
      onResponse: PASS_RESPONSE,
    });
    const res = await guard(e, new Request("http://edge/api/x"), (r) => env.ORIGIN.fetch(r));
    check(res.status === 200, `status ${res.status}`);
    const answered = e.calls.find((c) => c[0] === "onFetchResponse");
    check(answered && answered[1] === 7 && answered[2] === 200, JSON.stringify(answered));
    check(JSON.parse(answered[3]).url === "http://idp/jwks", "fetched the wrong URL");
  },

  async "fetch with nothing left to wait for fails closed with 503"(env) {
    const e = scripted({ onRequest: { action: "fetch", requests: [] } });
    const res = await guard(e, new Request("http://edge/api/x"), (r) => env.ORIGIN.fetch(r));
    check(res.status === 503, `status ${res.status}`);
  },

  async "endless fetch rounds are cut off and fail closed"(env) {
    let token = 0;
    const again = () => ({ action: "fetch", requests: [{ token: ++token, method: "GET", url: "http://idp/k", headers: [], timeoutMs: 1000 }] });
    const e = scripted({ onRequest: again, onFetchResponse: true, resume: again });
    const res = await guard(e, new Request("http://edge/api/x"), (r) => env.ORIGIN.fetch(r));
    check(res.status === 503, `status ${res.status}`);
    check(token <= 9, `${token} fetches`);
  },

  async "respond: a local reply is sent and the origin is not called"() {
    const e = scripted({ onRequest: { action: "respond", status: 401, headers: [["www-authenticate", "Bearer"]], reason: "jwt_missing", body: enc('{"error":"x","status":401}') } });
    const res = await guard(e, new Request("http://edge/api/x"), () => { throw new Error("origin called"); });
    check(res.status === 401 && res.headers.get("www-authenticate") === "Bearer", `status ${res.status}`);
    check((await res.text()) === '{"error":"x","status":401}', "body");
  },

  async "request header changes reach the origin (remove, set, add)"(env) {
    const e = scripted({
      onRequest: { action: "continue", removeHeaders: ["x-drop"], setHeaders: [["x-user", "u1"]], addHeaders: [["x-multi", "b"]], rule: "r" },
      onResponse: PASS_RESPONSE,
    });
    const req = new Request("http://edge/api/x", { headers: { "x-drop": "1", "x-user": "spoofed", "x-multi": "a" } });
    const echo = await (await guard(e, req, (r) => env.ORIGIN.fetch(r))).json();
    check(echo.headers["x-drop"] === undefined, "x-drop kept");
    check(echo.headers["x-user"] === "u1", `x-user ${echo.headers["x-user"]}`);
    check(echo.headers["x-multi"] === "a, b", `x-multi ${echo.headers["x-multi"]}`);
  },

  async "response: headers changed and the body replaced (masking)"(env) {
    const e = scripted({
      onRequest: CONTINUE,
      onResponse: { removeHeaders: ["server"], setHeaders: [["x-content-type-options", "nosniff"]], addHeaders: [], needBody: true },
      onResponseBody: (body) => (check(body.includes("ada@example.com"), "engine did not see the body"), { action: "replace", body: enc('{"email":"a***@example.com"}') }),
    });
    const direct = await env.ORIGIN.fetch("http://origin/sensitive");
    check(direct.headers.get("server") === "origin/1.0", "origin sends no server header");
    const res = await guard(e, new Request("http://edge/sensitive"), (r) => env.ORIGIN.fetch(r));
    check(res.headers.get("server") === null && res.headers.get("x-content-type-options") === "nosniff", "headers");
    check((await res.text()) === '{"email":"a***@example.com"}', "body not replaced");
  },

  async "response: an unmaskable body becomes a replacement response"(env) {
    const e = scripted({
      onRequest: CONTINUE,
      onResponse: { ...PASS_RESPONSE, needBody: true },
      onResponseBody: { action: "respond", status: 502, headers: [["content-type", "application/json"]], reason: "masking_failed", body: enc('{"error":"m","status":502}') },
    });
    const res = await guard(e, new Request("http://edge/sensitive"), (r) => env.ORIGIN.fetch(r));
    check(res.status === 502, `status ${res.status}`);
    check(!(await res.text()).includes("ada@"), "original body leaked");
  },

  async "an exception inside the engine fails closed and the stream is freed"(env) {
    const e = scripted({ onRequest: () => { throw new Error("boom"); } });
    const res = await guard(e, new Request("http://edge/api/x"), (r) => env.ORIGIN.fetch(r));
    check(res.status === 503, `status ${res.status}`);
    check(e.calls.some((c) => c[0] === "free"), "stream not freed");
  },
};

export default {
  async fetch(_request, env) {
    const results = [];
    for (const [name, run] of Object.entries(scenarios)) {
      try {
        await run(env);
        results.push({ name, ok: true });
      } catch (e) {
        results.push({ name, ok: false, error: String(e && e.stack ? e.stack : e) });
      }
    }
    return Response.json(results);
  },
};
