"""Every surface renders an event before the event is committed.

The log is forever and every reader folds all of it: an event some surface cannot render (a time
no client can parse, text JSON cannot carry) would break that surface for good. So the hub's
writer renders each event with each surface's own code first, and commits only what all of them
rendered. The operator answer is the webhook payload (the same `{"event", "alert"}` document), so
those bytes are returned and reused as the answer and the idempotency record: nothing is rendered
twice on the way to the client.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from tryvoha.alerts.model import CLOSING_KINDS, Alert, Event, EventKind
from tryvoha.alerts.state import alert_after
from tryvoha.alerts.wire import event_doc
from tryvoha.channels.mqtt import MqttPublisher
from tryvoha.channels.streams.broadcaster import Entry
from tryvoha.channels.webhooks import payload
from tryvoha.compat import alerts_in_ua as aiu
from tryvoha.compat import ukrainealarm as ua
from tryvoha.compat import webhooks as compat_webhooks
from tryvoha.compat.ids import crosswalk
from tryvoha.history.engine import declared_row, ended_row, region_index

if TYPE_CHECKING:
    from tryvoha.hub import Hub


class Unrenderable(Exception):
    """A surface could not render the event; the text names the surface and why."""

    def __init__(self, surface: str, exc: Exception) -> None:
        reason = str(exc) or type(exc).__name__
        super().__init__(f"{surface}: {reason[:200]}")
        self.surface = surface


class SurfaceRenderer:
    """Renders one event on every surface that carries events, with those surfaces' own code."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.cw = crosswalk(hub.catalogue)
        self.regions = region_index(hub.catalogue)
        self.mqtt = MqttPublisher(hub)
        """Never started: only its topic rule is used."""

    def render(self, event: Event, before: Alert | None) -> bytes:
        """The operator answer (= webhook payload) for `event`; `Unrenderable` if any surface
        fails. `before` is the alert before the event (None for a declaration). A proposal's
        events reach no public surface: only the operator API shows them."""
        if not event.is_public:
            return _on("operator API", _operator_doc, event)
        answer = _on("operator answer and webhook payload", payload.render, event, before)
        alert = alert_after(event, before)
        _on("streams (SSE and WebSocket frames)", Entry, event)  # their data is MQTT's payload
        _on("MQTT", self._mqtt_topic, event)
        _on("ukrainealarm webhooks", compat_webhooks.payloads, self.hub, event)
        _on("alerts.in.ua API", self._alerts_in_ua, alert)
        _on("ukrainealarm API", self._ukrainealarm, alert, event.recorded_at)
        _on("statistics", self._statistics, event)
        return answer

    def _mqtt_topic(self, event: Event) -> None:
        topic = self.mqtt.event_topic(event).encode()
        if b"\x00" in topic or b"+" in topic or b"#" in topic or len(topic) > 65_535:
            raise ValueError(f"not a publishable topic: {topic[:80]!r}")

    def _alerts_in_ua(self, alert: Alert) -> None:
        for target in self.cw.targets(alert.region_id, self.cw.uid_of)[:1]:
            orjson.dumps(aiu.alert_object(self.cw, alert, target, threats=True))

    def _ukrainealarm(self, alert: Alert, now: datetime) -> None:
        for target in self.cw.targets(alert.region_id, self.cw.ua_id_of)[:1]:
            doc: dict[str, Any] = ua.alarm(self.cw, alert, target, now)
            if alert.is_open:
                doc["active"] = ua.active_entry(self.cw, alert, target)
            orjson.dumps(doc)

    def _statistics(self, event: Event) -> None:
        if event.kind is EventKind.DECLARED:
            declared_row(self.regions, event)
        elif event.kind in CLOSING_KINDS:
            ended_row(event)


def _operator_doc(event: Event) -> bytes:
    return orjson.dumps({"event": event_doc(event)})


def _on(surface: str, render: Callable[..., Any], *args: Any) -> Any:
    try:
        return render(*args)
    except Exception as exc:
        raise Unrenderable(surface, exc) from exc
