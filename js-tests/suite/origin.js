// Scripted origin for the shared declarative suite: the runner stores each case's upstream
// answer here first (control requests), the edge's request for that case (tagged with
// x-edgeguard-test-case) gets it, and the runner then reads back what reached the origin.
//   x-edgeguard-test-control: script    body {status, headers, body (base64)} for the case
//   x-edgeguard-test-control: received  what the case's request looked like (or null)
// Requests without a case id (engine fetches, e.g. JWKS) are not scripted on this backend: 502.
const CASE = "x-edgeguard-test-case";
const CONTROL = "x-edgeguard-test-control";
const scripts = new Map();
const received = new Map();

const b64 = (bytes) => {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
};
const unb64 = (text) => Uint8Array.from(atob(text || ""), (c) => c.charCodeAt(0));
const NO_BODY = new Set([101, 204, 205, 304]);

export default {
  async fetch(request) {
    const id = request.headers.get(CASE);
    const kind = request.headers.get(CONTROL);
    if (kind === "script" && id) {
      scripts.set(id, await request.json());
      return new Response("stored");
    }
    if (kind === "received" && id) {
      const r = received.get(id) ?? null;
      received.delete(id);
      scripts.delete(id);
      return Response.json(r);
    }
    if (!id) {
      return new Response("engine fetches (http_calls) are not scripted on the workerd backend", { status: 502 });
    }
    const url = new URL(request.url);
    const headers = [...request.headers].filter(([k]) => k !== CASE);
    const body = new Uint8Array(await request.arrayBuffer());
    received.set(id, { method: request.method, path: url.pathname + url.search, headers, body: b64(body) });
    const s = scripts.get(id) ?? { status: 200, headers: [], body: "" };
    const bytes = unb64(s.body);
    return new Response(NO_BODY.has(s.status) || bytes.length === 0 ? null : bytes, {
      status: s.status,
      headers: s.headers,
    });
  },
};
