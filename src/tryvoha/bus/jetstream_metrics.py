"""Telemetry of the log's JetStream copy: how far the writer's relay and each edge's feed have got.

Registered in the hub's one registry, so `/metrics` shows them beside delivery latency.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from tryvoha.metrics import registry

relay_position = Gauge(
    "tryvoha_relay_position",
    "Last log id the relay knows to be in the stream (the stream's sequence equals the log id).",
    ["stream"],
    registry=registry,
)
relay_lag = Gauge(
    "tryvoha_relay_lag_events",
    "Committed events not yet acknowledged by the stream.",
    ["stream"],
    registry=registry,
)
relay_errors = Counter(
    "tryvoha_relay_errors_total",
    "Relay failures by kind (unreachable, refused, diverged, ...); each is retried.",
    ["stream", "kind"],
    registry=registry,
)
relay_last_error = Gauge(
    "tryvoha_relay_last_error_timestamp_seconds",
    "Unix time of the relay's last failure (0: none since start).",
    ["stream"],
    registry=registry,
)
relay_republished = Counter(
    "tryvoha_relay_republished_total",
    "Events published again because the stream was found behind the relay (lost or recreated).",
    ["stream"],
    registry=registry,
)
feed_applied = Gauge(
    "tryvoha_feed_last_applied_id",
    "Last log id this node took from the stream.",
    ["stream"],
    registry=registry,
)
feed_lag_events = Gauge(
    "tryvoha_feed_lag_events",
    "Events in the stream this node has not taken yet (as last seen).",
    ["stream"],
    registry=registry,
)
feed_lag_seconds = Gauge(
    "tryvoha_feed_lag_seconds",
    "Seconds since this node last knew it held everything the stream had.",
    ["stream"],
    registry=registry,
)
feed_stale = Gauge(
    "tryvoha_feed_stale",
    "1 while this node cannot confirm it is following the stream live.",
    ["stream"],
    registry=registry,
)
feed_resets = Counter(
    "tryvoha_feed_resets_total",
    "Consumers re-created from the last applied id, by reason (gap, heartbeat, reconnect, ...).",
    ["stream", "reason"],
    registry=registry,
)
