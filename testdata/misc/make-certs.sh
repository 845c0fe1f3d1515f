#!/usr/bin/env bash
# Generate a throw-away CA, a server certificate and client certificates for mTLS tests.
#
#   testdata/misc/make-certs.sh OUT_DIR
#
# Writes into OUT_DIR (created if missing; nothing is committed):
#   ca.pem / ca.key                     self-signed test CA (EC P-256, 1 day)
#   server.pem / server.key             CN=localhost, DNS:localhost, IP:127.0.0.1, signed by the CA
#   client-prod.pem / client-prod.key   URI SAN spiffe://cluster.local/ns/prod/sa/orders
#   client-dev.pem / client-dev.key     URI SAN spiffe://cluster.local/ns/dev/sa/orders
#   client-dns.pem / client-dns.key     DNS SAN billing.internal.example.com (no URI SAN)
#   rogue-ca.pem, client-rogue.pem/.key a prod SPIFFE ID signed by a CA Envoy does not trust
# Needs only `openssl` (1.1.1 or 3.x). Keys are unencrypted: test use only.
set -euo pipefail

out="${1:?usage: make-certs.sh OUT_DIR}"
mkdir -p "$out"
cd "$out"

days=1
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca() { # name subject
    key "$1.key"
    openssl req -x509 -new -key "$1.key" -sha256 -days "$days" -subj "$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$1.pem"
}

leaf() { # name ca subject san eku
    key "$1.key"
    openssl req -new -key "$1.key" -subj "$3" -out "$1.csr"
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
        "$5" "$4" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial \
        -days "$days" -sha256 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}

ca ca "/CN=edgeguard test CA"
ca rogue-ca "/CN=edgeguard rogue CA"
leaf server ca "/CN=localhost" "DNS:localhost,IP:127.0.0.1" serverAuth
leaf client-prod ca "/CN=orders" "URI:spiffe://cluster.local/ns/prod/sa/orders" clientAuth
leaf client-dev ca "/CN=orders-dev" "URI:spiffe://cluster.local/ns/dev/sa/orders" clientAuth
leaf client-dns ca "/CN=billing" "DNS:billing.internal.example.com" clientAuth
leaf client-rogue rogue-ca "/CN=intruder" "URI:spiffe://cluster.local/ns/prod/sa/orders" clientAuth
rm -f ./*.srl
echo "certificates in $(pwd)"
