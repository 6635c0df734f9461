"""Every node's health: what it is, how far its copy of the log goes, and whether it is stale.

One document for the writer, a standby and an edge, so a load balancer or an operator asks every
node the same question (`GET /api/v1/health`): 200 while the node's answers are current, 503
while they may be old (an edge whose feed is disconnected, or behind by more than `max_lag`
seconds). The writer is the log, so it is never stale; it reports its relay to JetStream.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from tryvoha.alerts.wire import iso
from tryvoha.bus.feed import FeedHealth, LogFollowerFeed
from tryvoha.bus.relay import RelayStatus


def _when(unix: float | None) -> str | None:
    return None if unix is None else iso(datetime.fromtimestamp(unix, UTC))


def writer_health(role: str, last_id: int, relay: RelayStatus | None) -> dict[str, Any]:
    """The writer (or a standby that holds the log): current by definition."""
    doc: dict[str, Any] = {
        "role": role,
        "stale": False,
        "reason": None,
        "last_applied_id": last_id,
        "stream_last_seq": None,
        "lag_events": 0,
        "lag_seconds": 0.0,
        "stale_since": None,
        "nats": None,
    }
    if relay is not None:
        doc["stream_last_seq"] = relay.position
        doc["nats"] = {
            "connected": relay.connected,
            "relay_lag_events": max(0, last_id - relay.position),  # the relay may not know yet
            "last_error": relay.last_error,
            "last_error_at": _when(relay.last_error_at),
        }
    return doc


class EdgeHealth:
    """An edge's health over its feed. A node that has not caught up with the stream once since
    it started is stale however young its lag: it may be folding a long log, and a load balancer
    must not send it readers before it holds what the others hold."""

    def __init__(self, feed: LogFollowerFeed, max_lag: float) -> None:
        self.feed = feed
        self.max_lag = max_lag
        self.caught_up = False

    def doc(self) -> dict[str, Any]:
        health = self.feed.health()
        if health.fresh and health.lag_events == 0 and health.stream_last_seq is not None:
            self.caught_up = True
        return edge_health(health, self.max_lag, caught_up=self.caught_up)


def edge_health(
    feed: FeedHealth, max_lag: float, *, caught_up: bool = True, now: float | None = None
) -> dict[str, Any]:
    """An edge: stale while its feed is, before it first caught up, or while it is behind for
    longer than `max_lag` s."""
    now = time.time() if now is None else now
    reason = None
    if feed.resync_needed:
        reason = f"the stream cannot continue this node's log: {feed.resync_needed}"
    elif not feed.connected:
        reason = "not connected to NATS"
    elif not feed.fresh:
        reason = "no word from the stream (consumer lost or server restarting)"
    elif not caught_up:
        reason = f"catching up since start: {feed.lag_events} events behind"
    elif feed.lag_events > 0 and feed.lag_seconds > max_lag:
        reason = f"{feed.lag_events} events behind for {feed.lag_seconds:.1f} s"
    stale_since = feed.stale_since
    if reason is not None and stale_since is None:
        stale_since = now - feed.lag_seconds
    return {
        "role": "edge",
        "stale": reason is not None,
        "reason": reason,
        "last_applied_id": feed.last_applied_id,
        "stream_last_seq": feed.stream_last_seq,
        "lag_events": feed.lag_events,
        "lag_seconds": round(feed.lag_seconds, 3),
        "stale_since": _when(stale_since) if reason is not None else None,
        "nats": {"connected": feed.connected, "resets": feed.resets, "epoch": feed.epoch},
    }
