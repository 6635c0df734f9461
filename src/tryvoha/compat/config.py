"""Settings of the compatible APIs, from `TRYVOHA_COMPAT_*` environment variables.

Limits are requests per key per window; 0 turns a limit off. The defaults are the upstream
services' published limits where they have one (alerts.in.ua: 12/min hard, history 2/min;
siren.pp.ua keyless: 200 per 5 min per IP) and a polling-friendly 60/min per ukrainealarm key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value is None or not value.strip() else int(value)


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _prefix() -> str:
    value = os.environ.get("TRYVOHA_COMPAT_PREFIX", "").strip().rstrip("/")
    return "" if not value else "/" + value.lstrip("/")


@dataclass(slots=True)
class CompatConfig:
    prefix: str = field(default_factory=_prefix)
    """Path prefix of the alerts.in.ua surface ("" = `/v1`, `/v2` at the host root)."""
    aiu_per_minute: int = field(default_factory=lambda: _int("TRYVOHA_COMPAT_AIU_PER_MIN", 12))
    aiu_history_per_minute: int = field(
        default_factory=lambda: _int("TRYVOHA_COMPAT_AIU_HISTORY_PER_MIN", 2)
    )
    ua_per_minute: int = field(default_factory=lambda: _int("TRYVOHA_COMPAT_UA_PER_MIN", 60))
    keyless: bool = field(default_factory=lambda: _bool("TRYVOHA_COMPAT_KEYLESS", True))
    """Serve `/api/v3` to clients that send no key (Home Assistant's `uasiren`)."""
    keyless_per_5min: int = field(
        default_factory=lambda: _int("TRYVOHA_COMPAT_KEYLESS_PER_5MIN", 200)
    )
    key_cache_seconds: float = 10.0
    """How long a key's check is reused; a revoked key stops working within this time."""
    webhook_delivery: bool = field(
        default_factory=lambda: _bool("TRYVOHA_COMPAT_WEBHOOK_DELIVERY", True)
    )
