"""Delivery telemetry in Prometheus' text format (`/metrics`).

Every channel reports, per event, the time from the commit to the moment it handed the event to
the network; gauges count connected subscribers and the webhook backlog.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from tryvoha.alerts.model import Event

registry = CollectorRegistry(auto_describe=True)
mqtt_registry = CollectorRegistry(auto_describe=True)
"""The MQTT channel's own figures, shown only by a hub that publishes to MQTT (`--mqtt`)."""

delivery_latency = Histogram(
    "tryvoha_delivery_latency_seconds",
    "Time from an event's commit to its hand-over to the network, per channel.",
    ["channel"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=registry,
)
subscribers = Gauge(
    "tryvoha_subscribers",
    "Connected live subscribers, per channel.",
    ["channel"],
    registry=registry,
)
webhook_backlog = Gauge(
    "tryvoha_webhook_backlog", "Webhook deliveries waiting in the outbox.", registry=registry
)
events_committed = Counter(
    "tryvoha_events_committed_total", "Events appended to the log.", ["source"], registry=registry
)
commit_batch = Histogram(
    "tryvoha_commit_batch_commands",
    "Operator commands per durable transaction (group commit).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    registry=registry,
)
dropped_subscribers = Counter(
    "tryvoha_dropped_subscribers_total",
    "Subscribers dropped for falling too far behind, per channel.",
    ["channel"],
    registry=registry,
)


def observe_handover(channel: str, event: Event) -> None:
    """Record that `event` went out on `channel` just now (once per event, not per subscriber)."""
    delivery_latency.labels(channel).observe(max(0.0, time.time() - event.recorded_at.timestamp()))


def render(mqtt: bool = False) -> bytes:
    """Every figure of this process; the MQTT ones only when MQTT is configured, so a hub
    without it shows no `tryvoha_mqtt_connected 0` that reads like a broken connection."""
    text = generate_latest(registry)
    return text + generate_latest(mqtt_registry) if mqtt else text
