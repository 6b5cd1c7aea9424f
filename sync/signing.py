"""HMAC-SHA256 signatures shared by the plugin and the daemon.

One scheme for both directions (the plugin's completion webhook and manifest replies, the
daemon's manifest requests), so the PHP side (``plugin/Pingyi/lib/Signer.php``) and this
module are tested against the same vectors:

    signature = hex(HMAC-SHA256(secret, f"{timestamp}.{payload}"))

``timestamp`` is Unix seconds as a decimal string; ``payload`` is the raw body (webhook,
manifest reply) or the query string without the signature (manifest request). Headers:
``X-Pingyi-Timestamp`` and ``X-Pingyi-Signature: sha256=<hex>``.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Pingyi-Timestamp"
SIGNATURE_HEADER = "X-Pingyi-Signature"
DEFAULT_REPLAY_SECONDS = 300


class SignatureError(ValueError):
    """The signature is missing, wrong, or outside the replay window. The message names
    which, and never includes the secret, the body or the expected signature."""


def sign(secret: bytes, timestamp: int, payload: bytes) -> str:
    mac = hmac.new(secret, str(timestamp).encode("ascii") + b"." + payload, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: bytes,
    timestamp: str | None,
    signature: str | None,
    payload: bytes,
    *,
    now: float | None = None,
    replay_seconds: int = DEFAULT_REPLAY_SECONDS,
) -> int:
    """Check a signature; returns the timestamp. Raises ``SignatureError``."""
    if not timestamp or not signature:
        raise SignatureError("unsigned request: timestamp or signature header missing")
    try:
        ts = int(timestamp)
    except ValueError:
        raise SignatureError("malformed timestamp") from None
    current = time.time() if now is None else now
    if abs(current - ts) > replay_seconds:
        raise SignatureError(
            f"timestamp outside the {replay_seconds} s replay window (clock skew or a replay)"
        )
    if not hmac.compare_digest(sign(secret, ts, payload), signature.strip()):
        raise SignatureError("bad signature (wrong shared secret or altered body)")
    return ts
