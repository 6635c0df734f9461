"""Timing and limits of webhook delivery, overridable by `TRYVOHA_WEBHOOK_*` variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from tryvoha.netguard import AddressPolicy, IPNetwork, Resolver, parse_networks, system_resolve

ALLOW_NETWORKS_ENV = "TRYVOHA_WEBHOOK_ALLOW_NETWORKS"
MAX_PER_TOKEN_ENV = "TRYVOHA_WEBHOOK_MAX_PER_TOKEN"
MAX_PER_TOKEN_RANGE = (1, 10_000)


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a number of seconds") from None
    if not number > 0 or number == float("inf"):
        raise ValueError(f"{name}: {value!r} must be a positive number of seconds")
    return number


def _env_max_per_token() -> int:
    low, high = MAX_PER_TOKEN_RANGE
    value = os.environ.get(MAX_PER_TOKEN_ENV)
    if value is None or not value.strip():
        return 20
    if not value.strip().isdigit() or not low <= int(value) <= high:
        raise ValueError(f"{MAX_PER_TOKEN_ENV}: {value!r} is not a whole number {low}–{high}")
    return int(value)


def _env_allow_networks() -> tuple[IPNetwork, ...]:
    return parse_networks(os.environ.get(ALLOW_NETWORKS_ENV, ""), ALLOW_NETWORKS_ENV)


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
    allow_networks: tuple[IPNetwork, ...] = field(default_factory=_env_allow_networks)
    """Non-public networks receivers may live in (`TRYVOHA_WEBHOOK_ALLOW_NETWORKS`, e.g.
    `10.0.0.0/8,fd00::/8`); everything else that is not a public address is refused."""
    max_per_token: int = field(default_factory=_env_max_per_token)
    """Subscriptions one token may hold (`TRYVOHA_WEBHOOK_MAX_PER_TOKEN`)."""
    resolve: Resolver = system_resolve
    """How names become addresses, at subscription and on every connection."""

    @property
    def policy(self) -> AddressPolicy:
        return AddressPolicy(self.allow_networks, self.resolve)


def config_of(app: Any) -> WebhookConfig:
    """The app's webhook configuration (`app.state.webhook_config`), read from the environment
    the first time when nobody set one; both webhook mechanisms use it."""
    config: WebhookConfig | None = getattr(app.state, "webhook_config", None)
    if config is None:
        config = app.state.webhook_config = WebhookConfig()
    return config
