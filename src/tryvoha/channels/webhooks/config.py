"""Timing and limits of webhook delivery, overridable by `TRYVOHA_WEBHOOK_*` variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return default if value is None else float(value)


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """Retry delays grow as `backoff_base * 2**(attempt-1)` up to `backoff_max`, each with jitter
    (a random half of the delay), and a delivery is retried until acknowledged or `give_up_after`
    seconds have passed since its event was committed (three days by default, so a receiver that
    is down for a day loses nothing)."""

    backoff_base: float = field(
        default_factory=lambda: _env_float("TRYVOHA_WEBHOOK_BACKOFF_BASE", 1.0)
    )
    backoff_max: float = field(
        default_factory=lambda: _env_float("TRYVOHA_WEBHOOK_BACKOFF_MAX", 3600.0)
    )
    give_up_after: float = field(
        default_factory=lambda: _env_float("TRYVOHA_WEBHOOK_GIVE_UP_AFTER", 72 * 3600.0)
    )
    timeout: float = field(default_factory=lambda: _env_float("TRYVOHA_WEBHOOK_TIMEOUT", 10.0))
    """Whole-request deadline: connect, send, and read the receiver's answer."""
    max_response_bytes: int = 64 * 1024
    """The receiver's answer is read up to this size; the rest is not waited for."""
    poll_interval: float = 1.0
    """How often the log follower looks for events it was not woken for (e.g. other writers)."""
    batch: int = 500
    """Events the follower turns into outbox rows per transaction."""
