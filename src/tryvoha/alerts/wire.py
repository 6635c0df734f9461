"""The JSON shapes of events, alerts and proposals, shared by the API, streams, webhooks and the
CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

from tryvoha.alerts.model import Alert, Event, Proposal


@overload
def iso(value: datetime) -> str: ...
@overload
def iso(value: None) -> None: ...
@overload
def iso(value: datetime | None) -> str | None: ...
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
    """The last five fields are present only when the event carries them (a retraction's reason
    and correction, an approved declaration's proposal and proposer, a proposal's deadline):
    documents of every other event are exactly what they always were, and so are their
    signatures."""
    doc: dict[str, Any] = {
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
    if event.reason is not None:
        doc["reason"] = event.reason
    if event.correction is not None:
        doc["correction"] = event.correction
    if event.proposal_id is not None:
        doc["proposal_id"] = event.proposal_id
    if event.proposed_by is not None:
        doc["proposed_by"] = event.proposed_by
    if event.deadline is not None:
        doc["deadline"] = iso(event.deadline)
    return doc


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
        "retracted": alert.retracted,
        "proposed_by": alert.proposed_by,
        "source": alert.source,
        "last_event_id": alert.last_event_id,
    }


def proposal_doc(proposal: Proposal) -> dict[str, Any]:
    """A proposal as operators see it (`/api/v1/proposals`); never shown to the public."""
    return {
        "id": proposal.id,
        "state": proposal.state.value,
        "region_ids": list(proposal.region_ids),
        "threat": proposal.threat.value,
        "details": [d.value for d in proposal.details],
        "status": proposal.status.value,
        "notes": proposal.notes,
        "proposed_by": proposal.proposed_by,
        "proposed_at": iso(proposal.proposed_at),
        "recorded_at": iso(proposal.recorded_at),
        "expires_at": iso(proposal.deadline),
        "event_ids": list(proposal.event_ids),
        "decided_by": proposal.decided_by,
        "decided_at": iso(proposal.decided_at),
        "reason": proposal.reason,
        "alert_ids": list(proposal.alert_ids),
    }
