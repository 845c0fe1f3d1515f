#!/usr/bin/env python3
"""Sign one HTTP request with an independent RFC 9421 implementation, the PyPI library
`http-message-signatures` (pip install http-message-signatures requests), and print the
signed request as JSON: {"method", "url", "headers": [[name, value], ...], "body"}.

Used by edgeguard's interop test (filter/src/service_auth/tests.rs) and by the real-Envoy
interop, and as an example client. Exit status 3 means a dependency is missing.

Example:
  sign_with_python.py --alg hmac-sha256 --key-id svc-a --secret 'my shared secret' \
      --method POST --url 'https://api.example.com/orders?id=7' --body '{"a":1}' \
      --components @method,@authority,@path,content-digest --nonce n-1
"""

import argparse
import base64
import datetime
import json
import sys

try:
    import requests
    from http_message_signatures import HTTPMessageSigner, algorithms
    from http_message_signatures.resolvers import MappingKeyResolver
except ImportError as exc:  # pragma: no cover - reported to the caller
    print(f"missing dependency: {exc}", file=sys.stderr)
    sys.exit(3)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--alg", choices=["hmac-sha256", "ed25519"], default="hmac-sha256")
    p.add_argument("--key-id", required=True)
    p.add_argument("--secret", help="hmac-sha256: the shared secret as UTF-8 text")
    p.add_argument("--secret-b64", help="hmac-sha256: the shared secret, base64")
    p.add_argument("--private-key-pem", help="ed25519: path of a PKCS#8 PEM private key")
    p.add_argument("--method", default="GET")
    p.add_argument("--url", required=True)
    p.add_argument("--header", action="append", default=[], help="'Name: value' (repeatable)")
    p.add_argument("--body", default=None, help="request body (UTF-8 text)")
    p.add_argument("--components", default="@method,@authority,@path",
                   help="comma-separated covered components; content-digest is added when a body is given")
    p.add_argument("--created", type=int, default=None, help="Unix seconds (default: now)")
    p.add_argument("--expires", type=int, default=None)
    p.add_argument("--nonce", default=None)
    p.add_argument("--tag", default=None)
    p.add_argument("--label", default="sig1")
    p.add_argument("--no-alg", action="store_true", help="omit the alg parameter")
    a = p.parse_args()

    if a.alg == "hmac-sha256":
        if a.secret_b64:
            key = base64.b64decode(a.secret_b64)
        elif a.secret is not None:
            key = a.secret.encode()
        else:
            p.error("hmac-sha256 needs --secret or --secret-b64")
        algorithm = algorithms.HMAC_SHA256
    else:
        if not a.private_key_pem:
            p.error("ed25519 needs --private-key-pem")
        with open(a.private_key_pem, "rb") as f:
            key = f.read()
        algorithm = algorithms.ED25519

    headers = {}
    for h in a.header:
        name, _, value = h.partition(":")
        headers[name.strip()] = value.strip()
    body = a.body.encode() if a.body is not None else None
    req = requests.Request(a.method, a.url, headers=headers, data=body).prepare()

    signer = HTTPMessageSigner(
        signature_algorithm=algorithm,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={a.key_id: key}),
    )
    created = (datetime.datetime.fromtimestamp(a.created, tz=datetime.timezone.utc)
               if a.created is not None else None)
    expires = (datetime.datetime.fromtimestamp(a.expires, tz=datetime.timezone.utc)
               if a.expires is not None else None)
    components = [c for c in a.components.split(",") if c and c != "content-digest"]
    signer.sign(
        req,
        key_id=a.key_id,
        created=created,
        expires=expires,
        nonce=a.nonce,
        label=a.label,
        tag=a.tag,
        include_alg=not a.no_alg,
        covered_component_ids=components,
        body=body,
    )
    out = {
        "method": req.method,
        "url": req.url,
        "headers": [[k, v] for k, v in req.headers.items()],
        "body": body.decode() if body is not None else None,
    }
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
