#!/usr/bin/env bash
# Interop in real Envoy: requests signed by an independent RFC 9421 implementation (PyPI
# `http-message-signatures`) pass edgeguard; the same requests with the method, path, authority,
# a covered header or the body changed after signing, or simply sent twice, are refused.
# Uses examples/service-auth/{envoy.yaml,config.json} on free loopback ports, 2 workers.
# Needs: envoy, python3 with http-message-signatures + requests, the release wasm (scripts/build-wasm).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
wasm="${EG_WASM:-$root/target/wasm32-wasip1/release/edgeguard.wasm}"
work="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); admin=$(free_port)
sed -e "s/port_value: 10000/port_value: $port/" -e "s/port_value: 9901/port_value: $admin/" \
    -e "s#filename: target/wasm32-wasip1/release/edgeguard.wasm#filename: $wasm#" \
    "$root/examples/service-auth/envoy.yaml" > "$work/envoy.yaml"
envoy -c "$work/envoy.yaml" --disable-hot-restart --concurrency 2 -l warning >"$work/envoy.log" 2>&1 &
envoy_pid=$!
cleanup() { kill "$envoy_pid" 2>/dev/null || true; wait "$envoy_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 1 150); do
  if curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin/ready" 2>/dev/null | grep -q 200; then break; fi
  kill -0 "$envoy_pid" 2>/dev/null || { echo "envoy exited:"; tail -20 "$work/envoy.log"; exit 1; }
  sleep 0.2
done
python3 - "$port" <<'PY'
import secrets, sys, requests
from http_message_signatures import HTTPMessageSigner, algorithms
from http_message_signatures.resolvers import MappingKeyResolver

base = f"http://127.0.0.1:{sys.argv[1]}"
signer = HTTPMessageSigner(signature_algorithm=algorithms.HMAC_SHA256,
                           key_resolver=MappingKeyResolver(public_keys={}, private_keys={"call-assistant-2026": b"demo-signing-key-change-me"}))

def signed(method, path, body=None, headers=None, extra=()):
    req = requests.Request(method, base + path, data=body, headers=headers or {}).prepare()
    comps = ("@method", "@authority", "@path") + tuple(extra)
    signer.sign(req, key_id="call-assistant-2026", label="sig1", nonce=secrets.token_urlsafe(12),
                covered_component_ids=comps, body=body)
    return req

def send(req):
    r = requests.Session().send(req, timeout=5)
    return r.status_code, r.headers.get("x-echo-service-id", "-")

checks = []
def check(name, got, want):
    checks.append((name, got, want))
    print(f"{'ok  ' if got == want else 'FAIL'} {name}: got {got}, want {want}")

check("signed GET", send(signed("GET", "/internal/status")), (200, "call-assistant"))
check("signed POST with content-digest", send(signed("POST", "/internal/send", body=b'{"to":"a"}',
      headers={"content-type": "application/json"}, extra=("content-type",))), (200, "call-assistant"))
r = signed("GET", "/internal/status"); send(r)
check("replayed signature", send(r)[0], 401)
r = signed("GET", "/internal/status"); r.method = "DELETE"
check("method changed after signing", send(r)[0], 401)
r = signed("GET", "/internal/status"); r.url = base + "/internal/other"
check("path changed after signing", send(r)[0], 401)
r = signed("GET", "/internal/status"); r.headers["Host"] = "other.example"
check("authority changed after signing", send(r)[0], 401)
r = signed("POST", "/internal/send", body=b'{"to":"a"}', headers={"content-type": "application/json"}, extra=("content-type",))
r.headers["content-type"] = "text/plain"
check("covered header changed after signing", send(r)[0], 401)
r = signed("POST", "/internal/send", body=b'{"to":"a"}', headers={"content-type": "application/json"})
r.body = b'{"to":"b"}'
check("body changed after signing", send(r)[0], 401)
r = signed("GET", "/internal/status"); r.headers["x-service-id"] = "admin"
check("forged x-service-id is replaced by the verified one", send(r), (200, "call-assistant"))
failed = sum(1 for _, g, w in checks if g != w)
print(f"service-auth interop in Envoy: {len(checks) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
