"""The body of a delivery: the event and its alert as they were right after that event, rendered
once when the outbox row is written, so every retry sends the very same bytes."""

from __future__ import annotations

from typing import Any

import orjson

from tryvoha.alerts.model import Alert, Event
from tryvoha.alerts.state import alert_after
from tryvoha.alerts.wire import alert_doc, event_doc


def render(event: Event, base: Alert) -> bytes:
    """`{"event": …, "alert": …}`: the shape the operator API answers with."""
    doc: dict[str, Any] = {"event": event_doc(event), "alert": alert_doc(alert_after(event, base))}
    return orjson.dumps(doc)
