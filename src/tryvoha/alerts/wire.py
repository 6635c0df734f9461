"""The JSON shapes of events and alerts, shared by the API, streams, webhooks and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tryvoha.alerts.model import Alert, Event


def iso(value: datetime | None) -> str | None:
    """UTC, ISO 8601 with `Z` and milliseconds: what JavaScript and most clients parse.

    A naive datetime is refused: `astimezone` would read it in the machine's zone, so the same
    value would be a different instant on each host. Every time the hub holds is aware.
    """
    if value is None:
        return None
    if value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()}: a time on the wire needs a zone")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_doc(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind.value,
        "alert_id": event.alert_id,
        "region_id": event.region_id,
        "threat": event.threat.value,
        "details": [d.value for d in event.details],
        "status": event.status.value,
        "notes": event.notes,
        "occurred_at": iso(event.occurred_at),
        "recorded_at": iso(event.recorded_at),
        "originator": event.originator,
        "source": event.source,
    }


def alert_doc(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "region_id": alert.region_id,
        "threat": alert.threat.value,
        "details": [d.value for d in alert.details],
        "status": alert.status.value,
        "notes": alert.notes,
        "started_at": iso(alert.started_at),
        "ended_at": iso(alert.ended_at),
        "updated_at": iso(alert.updated_at),
        "originator": alert.originator,
        "ended_by": alert.ended_by,
        "source": alert.source,
        "last_event_id": alert.last_event_id,
    }
