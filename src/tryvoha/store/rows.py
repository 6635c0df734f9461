"""An event as a row of the `events` table: the one place its columns are written from."""

from __future__ import annotations

from typing import Any

from tryvoha.alerts.model import Detail, Event
from tryvoha.store.timeutil import to_us


def details_text(details: tuple[Detail, ...]) -> str:
    return ",".join(d.value for d in details)


def event_row(e: Event) -> dict[str, Any]:
    """Every column of the event's row, `id` included (a repair rewrites a row by its id)."""
    return {
        "id": e.id,
        "kind": e.kind.value,
        "alert_id": e.alert_id,
        "region_id": e.region_id,
        "threat": e.threat.value,
        "status": e.status.value,
        "details": details_text(e.details),
        "notes": e.notes,
        "occurred_at": to_us(e.occurred_at),
        "recorded_at": to_us(e.recorded_at),
        "originator": e.originator,
        "source": e.source,
        "idempotency_key": e.idempotency_key,
        "reason": e.reason,
        "correction": e.correction,
        "proposal_id": e.proposal_id,
        "proposed_by": e.proposed_by,
        "deadline": None if e.deadline is None else to_us(e.deadline),
    }
