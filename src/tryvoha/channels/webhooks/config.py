"""Timing and limits of webhook delivery (`Settings.webhooks`, from `TRYVOHA_WEBHOOK_*`)."""

from __future__ import annotations

from dataclasses import dataclass

from tryvoha.netguard import AddressPolicy, IPNetwork, Resolver, system_resolve

MAX_PER_TOKEN_RANGE = (1, 10_000)


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """Retry delays grow as `backoff_base * 2**(attempt-1)` up to `backoff_max`, each with jitter
    (a random half of the delay), and a delivery is retried until acknowledged or `give_up_after`
    seconds have passed since its event was committed (three days by default, so a receiver that
    is down for a day loses nothing)."""

    backoff_base: float = 1.0
    backoff_max: float = 3600.0
    give_up_after: float = 72 * 3600.0
    timeout: float = 10.0
    """Whole-request deadline: connect, send, and read the receiver's answer."""
    max_response_bytes: int = 64 * 1024
    """The receiver's answer is read up to this size; the rest is not waited for."""
    poll_interval: float = 1.0
    """How often the log follower looks for events it was not woken for (e.g. other writers)."""
    batch: int = 500
    """Events the follower turns into outbox rows per transaction."""
    allow_networks: tuple[IPNetwork, ...] = ()
    """Non-public networks receivers may live in (`TRYVOHA_WEBHOOK_ALLOW_NETWORKS`, e.g.
    `10.0.0.0/8,fd00::/8`); everything else that is not a public address is refused."""
    max_per_token: int = 20
    """Subscriptions one token may hold (`TRYVOHA_WEBHOOK_MAX_PER_TOKEN`)."""
    resolve: Resolver = system_resolve
    """How names become addresses, at subscription and on every connection."""

    @property
    def policy(self) -> AddressPolicy:
        return AddressPolicy(self.allow_networks, self.resolve)
