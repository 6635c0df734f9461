"""HMAC-SHA256 signatures of webhook bodies, bound to a timestamp so a captured request cannot be
replayed later: `X-Tryvoha-Signature: t=<unix seconds>,v1=<hex>` over `f"{t}." + raw body`."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "X-Tryvoha-Signature"
SECRET_PREFIX = "whsec_"
MAX_TIMESTAMP_DIGITS = 15
"""Unix seconds have 10 digits until 2286; a `t=` longer than this is not a time (and `int()`
refuses strings over 4300 digits with an error rather than an answer)."""


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={signature(secret, t, body)}"


def verify(
    secret: str, header: str, body: bytes, tolerance: int = 300, now: int | None = None
) -> bool:
    """What a receiver does: the header parses, the time is recent, and some v1 matches."""
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v.strip() for k, v in parts if k.strip() == "t"]
    candidates = [v.strip() for k, v in parts if k.strip() == "v1"]
    if len(stamps) != 1 or not candidates or not _is_timestamp(stamps[0]):
        return False
    t = int(stamps[0])
    if abs((int(time.time()) if now is None else now) - t) > tolerance:
        return False
    expected = signature(secret, t, body)
    return any(hmac.compare_digest(expected, c) for c in candidates)


def _is_timestamp(text: str) -> bool:
    """ASCII digits only (`int()` also reads other scripts' digits and `_`), and not too many."""
    return 0 < len(text) <= MAX_TIMESTAMP_DIGITS and text.isascii() and text.isdigit()
