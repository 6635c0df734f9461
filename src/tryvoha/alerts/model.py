"""The words of the alert domain: threats, statuses, events and alerts.

Plain frozen dataclasses and enums, no I/O: every other layer speaks in these types. An
`EventDraft` is an event before the log numbers it: the rules (`commands.decide`) make drafts, the
store (`assign`) turns them into events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Threat(StrEnum):
    """What the alert warns of."""

    AIR_RAID = "air_raid"
    ARTILLERY_SHELLING = "artillery_shelling"
    URBAN_FIGHTS = "urban_fights"
    CHEMICAL = "chemical"
    NUCLEAR = "nuclear"


class Detail(StrEnum):
    """What kind of air threat; only meaningful for `Threat.AIR_RAID`."""

    DRONES = "drones"
    CRUISE_MISSILE = "cruise_missile"
    BALLISTIC_MISSILE = "ballistic_missile"
    GUIDED_BOMBS = "guided_bombs"
    AVIATION = "aviation"


class AlertStatus(StrEnum):
    """Whether an alert is real. Exercise and test alerts never change the public real status."""

    ACTUAL = "actual"
    EXERCISE = "exercise"
    TEST = "test"


class EventKind(StrEnum):
    """What an event does. The first four change alerts and are public; the last three record
    the life of a proposal (a declaration waiting for a second operator) and are never public."""

    DECLARED = "declared"
    UPDATED = "updated"
    ENDED = "ended"
    RETRACTED = "retracted"
    """Ended because it was issued in error; carries the reason and a ready correction text."""
    PROPOSED = "proposed"
    """One region of a proposal: in the log, but no alert, and nowhere outside the operator API."""
    REJECTED = "rejected"
    EXPIRED = "expired"


PUBLIC_KINDS = frozenset(
    {EventKind.DECLARED, EventKind.UPDATED, EventKind.ENDED, EventKind.RETRACTED}
)
"""The kinds anyone may see: on public channels, in the public log and in history."""
CLOSING_KINDS = frozenset({EventKind.ENDED, EventKind.RETRACTED})
PROPOSAL_KINDS = frozenset({EventKind.PROPOSED, EventKind.REJECTED, EventKind.EXPIRED})


class RegionStatus(StrEnum):
    """`active`: the region or an ancestor has an open alert; `partial`: only a descendant has."""

    ACTIVE = "active"
    PARTIAL = "partial"
    NONE = "none"


LIVE_SOURCE = "live"
"""Source of events declared through the operator API or CLI; anything else is history."""


@dataclass(frozen=True, slots=True)
class Event:
    """One committed change to one alert; `id` is its place in the log (1, 2, 3, … no gaps).

    `alert_id` is the log id of the event that declared the alert, so an alert's id never changes.
    `occurred_at` is the time the operator gave, `recorded_at` the time the hub committed it.
    `details` and `notes` hold the alert's values after this event.

    The last five fields are set by some kinds only (None otherwise): `reason` (retracted,
    rejected) is the operator's, `correction` (retracted) the bilingual text the hub made for
    the public; `proposal_id` names the proposal an event belongs to or (on a declaration) was
    approved from, `proposed_by` the proposer of an approved declaration, `deadline` (proposed)
    the moment the proposal expires.
    """

    id: int
    kind: EventKind
    alert_id: int
    region_id: str
    threat: Threat
    status: AlertStatus
    occurred_at: datetime
    recorded_at: datetime
    originator: str
    details: tuple[Detail, ...] = ()
    notes: str | None = None
    source: str = LIVE_SOURCE
    idempotency_key: str | None = None
    reason: str | None = None
    correction: str | None = None
    proposal_id: int | None = None
    proposed_by: str | None = None
    deadline: datetime | None = None

    @property
    def is_live(self) -> bool:
        """Imported or replayed history is never announced as happening now."""
        return self.source == LIVE_SOURCE

    @property
    def is_public(self) -> bool:
        """May be shown outside the operator API (public log, history); proposals never are."""
        return self.kind in PUBLIC_KINDS

    @property
    def is_broadcast(self) -> bool:
        """Goes out on the live channels (streams, webhooks, MQTT, CAP, compatible webhooks):
        public, and happening now. The one rule every channel relies on, through the bus."""
        return self.kind in PUBLIC_KINDS and self.source == LIVE_SOURCE


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event before the log gives it an id (and, for a declaration, the alert its id)."""

    kind: EventKind
    region_id: str
    threat: Threat
    status: AlertStatus
    occurred_at: datetime
    originator: str
    details: tuple[Detail, ...] = ()
    notes: str | None = None
    alert_id: int | None = None
    source: str = "live"
    idempotency_key: str | None = None
    reason: str | None = None
    correction: str | None = None
    proposal_id: int | None = None
    """For a `proposed` draft None means "the first event of this batch" (a new proposal)."""
    proposed_by: str | None = None
    deadline: datetime | None = None

    def to_event(
        self,
        event_id: int,
        recorded_at: datetime,
        alert_id: int | None = None,
        batch_start: int | None = None,
    ) -> Event:
        """The event this draft becomes at `event_id`: a declaration's alert and a proposed
        region take that id as `alert_id`; a new proposal the id of its batch's first event."""
        if alert_id is None:
            own = self.kind in (EventKind.DECLARED, EventKind.PROPOSED)
            alert_id = event_id if own else self.alert_id
        assert alert_id is not None
        proposal_id = self.proposal_id
        if proposal_id is None and self.kind is EventKind.PROPOSED:
            proposal_id = event_id if batch_start is None else batch_start
        return Event(
            id=event_id,
            kind=self.kind,
            alert_id=alert_id,
            region_id=self.region_id,
            threat=self.threat,
            status=self.status,
            occurred_at=self.occurred_at,
            recorded_at=recorded_at,
            originator=self.originator,
            details=self.details,
            notes=self.notes,
            source=self.source,
            idempotency_key=self.idempotency_key,
            reason=self.reason,
            correction=self.correction,
            proposal_id=proposal_id,
            proposed_by=self.proposed_by,
            deadline=self.deadline,
        )


def assign(drafts: Sequence[EventDraft], next_id: int, recorded_at: datetime) -> list[Event]:
    """The events a batch of drafts becomes from log id `next_id` on, with no gap. (Imported
    history names the alerts it declares in the batch with negative ids: -k is the k-th.)"""
    events: list[Event] = []
    pending_alert: dict[int, int] = {}
    for offset, draft in enumerate(drafts):
        event_id = next_id + offset
        alert_id = None
        if draft.kind is EventKind.DECLARED and draft.alert_id is not None:
            pending_alert[draft.alert_id] = event_id
        elif draft.alert_id is not None and draft.alert_id < 0:
            alert_id = pending_alert[draft.alert_id]
        events.append(draft.to_event(event_id, recorded_at, alert_id, batch_start=next_id))
    return events


@dataclass(frozen=True, slots=True)
class Alert:
    """One region, one threat, from a start to an end (`ended_at is None` while open).

    `retracted`: it was ended because it had been issued in error. `proposed_by`: the operator
    who proposed it, when a second one (`originator`) approved it."""

    id: int
    region_id: str
    threat: Threat
    status: AlertStatus
    started_at: datetime
    originator: str
    details: tuple[Detail, ...] = ()
    notes: str | None = None
    ended_at: datetime | None = None
    updated_at: datetime | None = None
    source: str = LIVE_SOURCE
    last_event_id: int = 0
    ended_by: str | None = field(default=None)
    retracted: bool = False
    proposed_by: str | None = None

    @property
    def is_open(self) -> bool:
        return self.ended_at is None


class ProposalState(StrEnum):
    """Where a proposal stands: waiting, or decided one of three ways."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Proposal:
    """A declaration waiting for a second operator: one threat, status, details and notes for
    one or more regions. `id` is the log id of its first `proposed` event; `event_ids` are the
    `proposed` events, one per region, in the order of `region_ids`. Decided: `decided_by` and
    `decided_at` (the approver, the rejecter or "hub" for an expiry), `reason` (a rejection's)
    and `alert_ids` (the alerts an approval declared)."""

    id: int
    region_ids: tuple[str, ...]
    event_ids: tuple[int, ...]
    threat: Threat
    status: AlertStatus
    proposed_by: str
    proposed_at: datetime
    recorded_at: datetime
    deadline: datetime
    details: tuple[Detail, ...] = ()
    notes: str | None = None
    state: ProposalState = ProposalState.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    alert_ids: tuple[int, ...] = ()

    @property
    def is_pending(self) -> bool:
        return self.state is ProposalState.PENDING
