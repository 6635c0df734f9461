"""Settings of the compatible APIs (`Settings.compat`, from `TRYVOHA_COMPAT_*` variables).

Limits are requests per key per window; 0 turns a limit off. The defaults are the upstream
services' published limits where they have one (alerts.in.ua: 12/min hard, history 2/min;
siren.pp.ua keyless: 200 per 5 min per IP) and a polling-friendly 60/min per ukrainealarm key.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class CompatConfig:
    prefix: str = ""
    """Path prefix of the alerts.in.ua surface ("" = `/v1`, `/v2` at the host root)."""
    aiu_per_minute: int = 12
    aiu_history_per_minute: int = 2
    ua_per_minute: int = 60
    keyless: bool = True
    """Serve `/api/v3` to clients that send no key (Home Assistant's `uasiren`)."""
    keyless_per_5min: int = 200
    key_cache_seconds: float = 10.0
    """How long a key's check is reused; a revoked key stops working within this time."""
    webhook_delivery: bool = True
