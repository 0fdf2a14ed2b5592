"""How a delivery is signed, and how a receiver checks it (Stripe's scheme, docs/api-additions.md).

    Registry-Timestamp: <unix seconds of this attempt>
    Registry-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

The timestamp is inside the signed text, so a receiver that refuses old timestamps also refuses
replays of a captured request; the `v1=` prefix leaves room for another scheme (a receiver then
accepts either during a change of secret or algorithm).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Final

SCHEME: Final = "v1"
SECRET_PREFIX: Final = "whsec_"
#: How old a timestamp a receiver should still accept, by default.
TOLERANCE_S: Final = 300


def new_secret() -> str:
    """256 random bits; the prefix makes a leaked secret easy to recognise (secret scanners)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `Registry-Signature` header's value for one attempt."""
    signed = timestamp.encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    header: str,
    *,
    tolerance_s: float = TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """What a receiver does: the timestamp is recent and one `v1=` signature in the header (a
    comma-separated list) matches, compared in constant time."""
    try:
        age = (time.time() if now is None else now) - int(timestamp)
    except ValueError:
        return False
    if abs(age) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate.strip()) for candidate in header.split(","))
