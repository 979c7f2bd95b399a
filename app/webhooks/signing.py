"""Standard Webhooks signatures: ``v1,`` + base64(HMAC-SHA256(secret, "id.timestamp.body"))."""

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def secret_key(secret: str) -> bytes:
    """The key bytes of a ``whsec_…`` secret (ValueError if it is not one)."""
    if not secret.startswith(PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    key = base64.b64decode(secret[len(PREFIX) :], validate=True)
    if len(key) < 16:
        raise ValueError("a webhook secret holds at least 16 bytes")
    return key


def headers(secret: str, msg_id: str, timestamp_s: int, body: bytes) -> dict[str, str]:
    signed = f"{msg_id}.{timestamp_s}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }
