"""The fold of the log: the only way alert state is computed.

`AlertState.apply` takes one committed event and moves the state on; `fold` applies a whole log.
Folding the full log and keeping the state incrementally give the same `canonical()` bytes.
The state holds the open alerts and the proposals (pending ones, and the latest decided ones so a
late approval is told what became of its proposal).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

import orjson

from tryvoha.alerts.model import (
    CLOSING_KINDS,
    PROPOSAL_KINDS,
    Alert,
    AlertStatus,
    Event,
    EventKind,
    Proposal,
    ProposalState,
    Threat,
)

OpenKey = tuple[str, Threat, AlertStatus]
"""An open alert is unique per region, threat and status: a drill never blocks a real alert."""
DECIDED_KEPT = 1000
"""Decided proposals kept in the state (the newest decided); pending ones are always kept."""


class LogOrderError(ValueError):
    """An event does not follow the state it is applied to (a gap or a replayed id)."""


@dataclass(slots=True)
class AlertState:
    last_event_id: int = 0
    last_recorded_at: datetime | None = None
    """When the last public event was recorded: proposals change nothing anyone can see."""
    open_alerts: dict[int, Alert] = field(default_factory=dict)
    open_by_key: dict[OpenKey, int] = field(default_factory=dict)
    last_event_at: dict[str, datetime] = field(default_factory=dict)
    """Per region, the latest operator time of a live public event: the next may not go back."""
    proposals: dict[int, Proposal] = field(default_factory=dict)
    pending_by_key: dict[OpenKey, int] = field(default_factory=dict)
    """Per region, threat and status, the pending proposal that holds it."""
    decided: deque[int] = field(default_factory=deque)
    """Ids of the decided proposals kept, oldest decision first."""

    def copy(self) -> AlertState:
        """An independent state to move on without touching this one (alerts and proposals
        are immutable, so the containers are all that is copied)."""
        return AlertState(
            self.last_event_id,
            self.last_recorded_at,
            dict(self.open_alerts),
            dict(self.open_by_key),
            dict(self.last_event_at),
            dict(self.proposals),
            dict(self.pending_by_key),
            deque(self.decided),
        )

    def apply(self, event: Event) -> Alert | None:
        """Apply one committed event; the alert as it is after it (None for a proposal's)."""
        if event.id != self.last_event_id + 1:
            raise LogOrderError(f"event {event.id} does not follow {self.last_event_id}")
        alert = None
        if event.kind in PROPOSAL_KINDS:
            self._apply_proposal(event)
        else:
            alert = self._apply_alert(event)
            if event.is_live:
                seen = self.last_event_at.get(event.region_id)
                if seen is None or event.occurred_at > seen:
                    self.last_event_at[event.region_id] = event.occurred_at
            self.last_recorded_at = event.recorded_at
        self.last_event_id = event.id
        return alert

    def _apply_alert(self, event: Event) -> Alert:
        previous = None
        if event.kind is not EventKind.DECLARED:
            previous = self.open_alerts.get(event.alert_id)
            if previous is None:
                # Imported history arrives as declared+ended pairs; an ended event without an
                # open alert can only come from a corrupted log.
                raise LogOrderError(f"event {event.id} changes alert {event.alert_id}, not open")
        elif event.proposal_id is not None:
            self._apply_proposal(event)
        alert = alert_after(event, previous)
        key = (alert.region_id, alert.threat, alert.status)
        if alert.is_open:
            self.open_alerts[alert.id] = alert
            self.open_by_key[key] = alert.id
        else:
            self.open_alerts.pop(alert.id, None)
            if self.open_by_key.get(key) == alert.id:
                del self.open_by_key[key]
        return alert

    def _apply_proposal(self, event: Event) -> None:
        if event.proposal_id is None:
            raise LogOrderError(f"event {event.id} ({event.kind}) names no proposal")
        before = self.proposals.get(event.proposal_id)
        after = proposal_after(event, before)
        self.proposals[after.id] = after
        key = (event.region_id, event.threat, event.status)
        if after.is_pending:
            self.pending_by_key[key] = after.id
            return
        if self.pending_by_key.get(key) == after.id:
            del self.pending_by_key[key]
        if before is not None and before.is_pending:
            self.decided.append(after.id)
            while len(self.decided) > DECIDED_KEPT:
                self.proposals.pop(self.decided.popleft(), None)

    def open_alert(self, region_id: str, threat: Threat, status: AlertStatus) -> Alert | None:
        alert_id = self.open_by_key.get((region_id, threat, status))
        return None if alert_id is None else self.open_alerts[alert_id]

    def pending_proposal(
        self, region_id: str, threat: Threat, status: AlertStatus
    ) -> Proposal | None:
        proposal_id = self.pending_by_key.get((region_id, threat, status))
        return None if proposal_id is None else self.proposals[proposal_id]

    def canonical(self) -> bytes:
        """A byte-exact rendering of the state, to prove that replay rebuilds the same thing."""
        alerts = [_alert_doc(a) for a in sorted(self.open_alerts.values(), key=lambda a: a.id)]
        proposals = [_proposal_doc(p) for _, p in sorted(self.proposals.items())]
        doc = {
            "last_event_id": self.last_event_id,
            "last_recorded_at": _iso(self.last_recorded_at),
            "open_alerts": alerts,
            "last_event_at": {k: _iso(v) for k, v in sorted(self.last_event_at.items())},
            "proposals": proposals,
            "decided": list(self.decided),
        }
        return orjson.dumps(doc)


def declared_alert(event: Event) -> Alert:
    """The alert as a declaration creates it."""
    return Alert(
        id=event.alert_id,
        region_id=event.region_id,
        threat=event.threat,
        status=event.status,
        started_at=event.occurred_at,
        originator=event.originator,
        details=event.details,
        notes=event.notes,
        source=event.source,
        last_event_id=event.id,
        proposed_by=event.proposed_by,
    )


def alert_after(event: Event, before: Alert | None) -> Alert:
    """The alert as `event` leaves it. `before` is the alert before the event (None for a
    declaration); only what never changes is taken from it, the rest comes from the event."""
    if event.kind is EventKind.DECLARED:
        return declared_alert(event)
    if event.kind in PROPOSAL_KINDS:
        raise LogOrderError(f"event {event.id} ({event.kind}) is part of a proposal, no alert")
    if before is None:
        raise LogOrderError(f"event {event.id} changes alert {event.alert_id}, unknown")
    ended = event.kind in CLOSING_KINDS
    return replace(
        before,
        details=event.details,
        notes=event.notes,
        updated_at=event.occurred_at,
        last_event_id=event.id,
        ended_at=event.occurred_at if ended else None,
        ended_by=event.originator if ended else None,
        retracted=event.kind is EventKind.RETRACTED,
    )


_DECIDING = {
    EventKind.DECLARED: ProposalState.APPROVED,
    EventKind.REJECTED: ProposalState.REJECTED,
    EventKind.EXPIRED: ProposalState.EXPIRED,
}


def proposal_after(event: Event, before: Proposal | None) -> Proposal:
    """The proposal as `event` leaves it: a `proposed` event starts one (its first region) or
    adds a region; a declaration approved from it, a `rejected` or an `expired` event decides it,
    one event per region, all in one transaction."""
    if event.kind is EventKind.PROPOSED:
        if before is None:
            if event.proposal_id != event.id or event.deadline is None:
                raise LogOrderError(f"event {event.id} starts no proposal it names")
            return Proposal(
                id=event.id,
                region_ids=(event.region_id,),
                event_ids=(event.id,),
                threat=event.threat,
                status=event.status,
                proposed_by=event.originator,
                proposed_at=event.occurred_at,
                recorded_at=event.recorded_at,
                deadline=event.deadline,
                details=event.details,
                notes=event.notes,
            )
        if not before.is_pending or event.originator != before.proposed_by:
            raise LogOrderError(f"event {event.id} adds a region to proposal {before.id}")
        return replace(
            before,
            region_ids=(*before.region_ids, event.region_id),
            event_ids=(*before.event_ids, event.id),
        )
    if before is None:
        raise LogOrderError(f"event {event.id} decides proposal {event.proposal_id}, unknown")
    if event.region_id not in before.region_ids:
        raise LogOrderError(f"event {event.id}: region {event.region_id} is not in the proposal")
    state = _DECIDING[event.kind]
    continues = before.state is state and before.decided_by == event.originator
    if not before.is_pending and not continues:
        raise LogOrderError(f"event {event.id}: proposal {before.id} is already {before.state}")
    alert_ids = before.alert_ids
    if event.kind is EventKind.DECLARED:
        alert_ids = (*alert_ids, event.alert_id)
    return replace(
        before,
        state=state,
        decided_by=event.originator,
        decided_at=event.occurred_at if before.is_pending else before.decided_at,
        reason=event.reason if before.is_pending else before.reason,
        alert_ids=alert_ids,
    )


def fold(events: Iterable[Event], state: AlertState | None = None) -> AlertState:
    """Fold events (in log order) into a state, a new empty one by default."""
    state = state if state is not None else AlertState()
    for event in events:
        state.apply(event)
    return state


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _alert_doc(alert: Alert) -> dict[str, object]:
    return {
        "id": alert.id,
        "region_id": alert.region_id,
        "threat": alert.threat.value,
        "status": alert.status.value,
        "started_at": _iso(alert.started_at),
        "updated_at": _iso(alert.updated_at),
        "originator": alert.originator,
        "details": [d.value for d in alert.details],
        "notes": alert.notes,
        "source": alert.source,
        "last_event_id": alert.last_event_id,
        "proposed_by": alert.proposed_by,
    }


def _proposal_doc(proposal: Proposal) -> dict[str, object]:
    return {
        "id": proposal.id,
        "region_ids": list(proposal.region_ids),
        "event_ids": list(proposal.event_ids),
        "threat": proposal.threat.value,
        "status": proposal.status.value,
        "details": [d.value for d in proposal.details],
        "notes": proposal.notes,
        "proposed_by": proposal.proposed_by,
        "proposed_at": _iso(proposal.proposed_at),
        "recorded_at": _iso(proposal.recorded_at),
        "deadline": _iso(proposal.deadline),
        "state": proposal.state.value,
        "decided_by": proposal.decided_by,
        "decided_at": _iso(proposal.decided_at),
        "reason": proposal.reason,
        "alert_ids": list(proposal.alert_ids),
    }
