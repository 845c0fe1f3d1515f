#!/usr/bin/env bash
# End-to-end checks in real Envoy for API keys (HMAC pepper from the VM environment), CSRF,
# and request limits/hygiene (including a chunked body measured after buffering).
#
#   testdata/misc/run-envoy-request-policy.sh [path/to/edgeguard.wasm]
#
# Needs `envoy`, `curl`, `python3`. Binds 127.0.0.1 only; stops Envoy on exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
wasm="${1:-${CARGO_TARGET_DIR:-$root/target}/wasm32-wasip1/release/edgeguard.wasm}"
[ -f "$wasm" ] || { echo "no filter at $wasm (run scripts/build-wasm)"; exit 2; }

work="$(mktemp -d)"
envoy_pid=""
cleanup() {
    if [ -n "$envoy_pid" ]; then kill "$envoy_pid" 2>/dev/null || true; wait "$envoy_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
admin=$(free_port); port=$(free_port)
sed -e "s#@WASM@#$wasm#g" -e "s#@ADMIN_PORT@#$admin#g" -e "s#@PORT@#$port#g" \
    "$here/envoy-request-policy.yaml" >"$work/envoy.yaml"
envoy -c "$work/envoy.yaml" --disable-hot-restart --concurrency 1 -l warning >"$work/envoy.log" 2>&1 &
envoy_pid=$!
for _ in $(seq 1 100); do
    if curl -fs "http://127.0.0.1:$admin/ready" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$envoy_pid" 2>/dev/null; then cat "$work/envoy.log"; echo "envoy exited"; exit 1; fi
    sleep 0.1
done
curl -fs "http://127.0.0.1:$admin/ready" >/dev/null || { cat "$work/envoy.log"; echo "envoy not ready"; exit 1; }

fails=0
# check NAME WANT_STATUS WANT_BODY_SUBSTRING(or -) WANT_HEADER_LINE(or -) -- curl args...
check() {
    local name=$1 want=$2 want_body=$3 want_header=$4; shift 5
    local got; got=$(curl -s -o "$work/b" -D "$work/h" -w '%{http_code}' --max-time 5 "$@" || true)
    tr -d '\r' <"$work/h" >"$work/h2" 2>/dev/null || true
    local ok=1
    [ "$got" = "$want" ] || ok=0
    if [ "$want_body" != - ] && ! grep -qF -- "$want_body" "$work/b"; then ok=0; fi
    if [ "$want_header" != - ] && ! grep -qiFx -- "$want_header" "$work/h2"; then ok=0; fi
    if [ $ok = 1 ]; then echo "PASS $name ($got)"; else
        echo "FAIL $name: status $got (want $want); body: $(head -c 200 "$work/b")"; fails=$((fails + 1)); fi
}
u="http://127.0.0.1:$port"
check "api key accepted, name upstream, key stripped" 200 - "x-echo-api-key-name: ci-bot" -- \
    -H 'x-api-key: eg_live_ci_0001' -H 'x-api-key-name: forged' "$u/api/messages"
check "api key via Authorization: ApiKey" 200 - "x-echo-api-key-name: ci-bot" -- \
    -H 'authorization: ApiKey eg_live_ci_0001' "$u/api/messages"
check "unknown key" 401 '{"error":"invalid API key","status":401}' - -- -H 'x-api-key: nope' "$u/api/x"
check "expired key, same reply" 401 '{"error":"invalid API key","status":401}' - -- -H 'x-api-key: eg_live_old_0002' "$u/api/x"
check "disabled key, same reply" 401 '{"error":"invalid API key","status":401}' - -- -H 'x-api-key: eg_live_off_0003' "$u/api/x"
check "missing key" 401 "API key required" - -- "$u/api/x"
check "forged key name stripped on open rule" 200 - - -- -H 'x-api-key-name: forged' "$u/other"
if grep -qi '^x-echo-api-key-name: forged' "$work/h2"; then echo "FAIL forged name reached upstream"; fails=$((fails + 1)); fi
check "api key itself not forwarded" 200 - - -- -H 'x-api-key: eg_live_ci_0001' "$u/api/messages"
if grep -qi '^x-echo-api-key: ' "$work/h2"; then echo "FAIL the key reached upstream"; fails=$((fails + 1)); fi
check "csrf: cross-site form post" 403 "cross-site request rejected" - -- -X POST \
    -H 'origin: https://evil.example' -H 'sec-fetch-site: cross-site' -H 'sec-fetch-mode: navigate' \
    -H 'content-type: application/x-www-form-urlencoded' --data 'email=x@evil.example' "$u/account/email"
check "csrf: allowed origin" 200 - - -- -X POST -H 'origin: https://app.example.com' \
    -H 'sec-fetch-site: same-site' --data 'a=1' "$u/account/email"
check "csrf: bearer exempt" 200 - - -- -X POST -H 'origin: https://evil.example' \
    -H 'sec-fetch-site: cross-site' -H 'authorization: Bearer x.y.z' --data 'a=1' "$u/account/email"
check "limits: 405 with Allow" 405 - "allow: POST, PUT" -- -X DELETE "$u/upload/1"
check "limits: 415" 415 "unsupported request content type" - -- -X POST -H 'content-type: text/plain' --data 'x' "$u/upload"
check "limits: 413 from content-length" 413 "request body too large" - -- -X POST \
    -H 'content-type: application/json' --data '{"aaaaaaaaaaaaaaaaaaaa":1}' "$u/upload"
check "limits: chunked body without content-length is 411" 411 "content-length header required" - -- -X POST \
    -H 'content-type: application/json' -H 'transfer-encoding: chunked' --data '{"a":1}' "$u/upload"
# Envoy's own normalize_path already resolved the %2e%2e segment: upstream gets a clean path.
check "hygiene: %2e%2e resolved by Envoy before the filter" 200 - "x-echo-path: /files/a/x" -- \
    --path-as-is "$u/files/a/b/%2e%2e/x"
check "hygiene: encoded backslash" 400 "encoded traversal" - -- --path-as-is "$u/files/a%5c..%5cb"
# Envoy's own codec refuses %00 in the path (400, empty body) before the filter runs.
check "hygiene: encoded NUL (refused by Envoy itself)" 400 - - -- --path-as-is "$u/files/a.txt%00.png"
check "hygiene: encoded slash" 400 "encoded traversal" - -- --path-as-is "$u/files/a%2fb"
check "hygiene: 414" 414 - - -- "$u/files/$(printf 'a%.0s' $(seq 1 80))"
check "hygiene: 431" 431 - - -- -H a:1 -H b:1 -H c:1 -H d:1 -H e:1 -H f:1 -H g:1 -H h:1 -H i:1 -H j:1 -H k:1 -H l:1 "$u/files/x"
if [ "$fails" -ne 0 ]; then echo "--- envoy log"; tail -30 "$work/envoy.log"; echo "$fails check(s) failed"; exit 1; fi
echo "all request-policy checks passed"
