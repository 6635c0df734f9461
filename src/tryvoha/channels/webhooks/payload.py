"""The body of a delivery: the event and its alert as they were right after that event, rendered
once when the outbox row is written, so every retry sends the very same bytes."""

from __future__ import annotations

from typing import Any

import orjson

from tryvoha.alerts.model import Alert, Event, EventKind
from tryvoha.alerts.wire import alert_doc, event_doc


def alert_after(event: Event, base: Alert) -> Alert:
    """The alert right after `event`. `base` is any version of the alert (only what never
    changes is taken from it); the rest comes from the event, the same rule the fold applies."""
    ended = event.kind is EventKind.ENDED
    return Alert(
        id=base.id,
        region_id=base.region_id,
        threat=base.threat,
        status=base.status,
        started_at=base.started_at,
        originator=base.originator,
        details=event.details,
        notes=event.notes,
        ended_at=event.occurred_at if ended else None,
        updated_at=None if event.kind is EventKind.DECLARED else event.occurred_at,
        source=base.source,
        last_event_id=event.id,
        ended_by=event.originator if ended else None,
    )


def render(event: Event, base: Alert) -> bytes:
    """`{"event": …, "alert": …}`: the shape the operator API answers with."""
    doc: dict[str, Any] = {"event": event_doc(event), "alert": alert_doc(alert_after(event, base))}
    return orjson.dumps(doc)
