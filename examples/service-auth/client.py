#!/usr/bin/env python3
"""Call a route behind edgeguard as the `call-assistant` service, two ways:
an RFC 9421 message signature (http-message-signatures) or a simple X-Service-Token.

  pip install requests http-message-signatures
  python3 client.py signature POST http://127.0.0.1:10000/internal/send '{"to": "a@b.c"}'
  python3 client.py token GET http://127.0.0.1:10000/internal/status
"""

import datetime
import hashlib
import hmac
import os
import secrets
import sys

import requests
from http_message_signatures import HTTPMessageSigner, algorithms
from http_message_signatures.resolvers import MappingKeyResolver

KEY_ID = "call-assistant-2026"
SIGNING_KEY = os.environ.get("CALL_ASSISTANT_SIGNING_KEY", "demo-signing-key-change-me").encode()
TOKEN_SECRET = os.environ.get("CALL_ASSISTANT_TOKEN_SECRET", "demo-token-secret-change-me").encode()


def signed(method: str, url: str, body: bytes | None) -> requests.PreparedRequest:
    req = requests.Request(method, url, data=body,
                           headers={"Content-Type": "application/json"} if body else {}).prepare()
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.HMAC_SHA256,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={KEY_ID: SIGNING_KEY}),
    )
    # With a body, `body=` adds Content-Digest and covers it (edgeguard requires that).
    signer.sign(req, key_id=KEY_ID, label="sig1", nonce=secrets.token_urlsafe(16),
                covered_component_ids=("@method", "@authority", "@path", "@query"), body=body)
    return req


def service_token(target: str) -> str:
    # The format the services already use; the timestamp is datetime.utcnow().isoformat().
    ts = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None).isoformat()
    message = f"call-assistant:{target}:{ts}"
    sig = hmac.new(TOKEN_SECRET, message.encode(), hashlib.sha256).hexdigest()
    return f"{message}:{sig}"


def main() -> int:
    kind, method, url = sys.argv[1:4]
    body = sys.argv[4].encode() if len(sys.argv) > 4 else None
    if kind == "signature":
        prepared = signed(method, url, body)
    elif kind == "token":
        prepared = requests.Request(method, url, data=body,
                                    headers={"X-Service-Token": service_token("email-router")}).prepare()
    else:
        print("kind must be signature or token", file=sys.stderr)
        return 2
    resp = requests.Session().send(prepared, timeout=5)
    print(resp.status_code, resp.headers.get("x-echo-service-id", "-"), resp.text.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
