"""Operator commands and the rules that turn a valid one into an event.

`decide` is pure: given the state, the catalogue, the actor and the clock it returns the draft of
the one event to append, or raises `Rejected` naming the problem. Nothing is written on rejection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tryvoha.alerts import ranges
from tryvoha.alerts.model import Alert, AlertStatus, Detail, Event, EventKind, Threat
from tryvoha.alerts.ranges import MAX_FUTURE, OutOfRange
from tryvoha.alerts.state import AlertState
from tryvoha.regions import Catalogue


class Rejected(Exception):
    """A command that breaks a rule; `http_status` and `code` say which, `message` says why."""

    def __init__(self, http_status: int, code: str, message: str, **extra: object) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, object]:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}

    @classmethod
    def out_of_range(cls, problem: OutOfRange) -> Rejected:
        return cls(422, problem.code, problem.message, field=problem.field)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who issues a command: the originator name recorded in the log and what it may touch.

    `scopes` are region ids; a scope covers the region and all its descendants. `None` means
    everywhere (the CLI run by the hub's administrator).
    """

    originator: str
    scopes: tuple[str, ...] | None = None
    drills_only: bool = False


@dataclass(frozen=True, slots=True)
class Declare:
    region_id: str
    threat: Threat
    status: AlertStatus = AlertStatus.ACTUAL
    details: tuple[Detail, ...] = ()
    notes: str | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AlertRef:
    """Names an open alert either by id or by region, threat and status."""

    alert_id: int | None = None
    region_id: str | None = None
    threat: Threat | None = None
    status: AlertStatus = AlertStatus.ACTUAL


@dataclass(frozen=True, slots=True)
class Update:
    ref: AlertRef
    details: tuple[Detail, ...] | None = None
    notes: str | None = None
    clear_notes: bool = False
    occurred_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class End:
    ref: AlertRef
    occurred_at: datetime | None = None


Command = Declare | Update | End


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
    idempotency_key: str | None = field(default=None)

    def to_event(self, event_id: int, recorded_at: datetime, alert_id: int | None = None) -> Event:
        """The event this draft becomes at `event_id`; a declaration's alert takes that id."""
        if alert_id is None:
            alert_id = event_id if self.kind is EventKind.DECLARED else self.alert_id
        assert alert_id is not None
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
        )


def decide(
    state: AlertState, catalogue: Catalogue, actor: Actor, command: Command, now: datetime
) -> EventDraft:
    """Validate `command` against the state and return the event it produces."""
    try:
        return _decide(state, catalogue, actor, command, now)
    except OutOfRange as problem:
        raise Rejected.out_of_range(problem) from None


def _decide(
    state: AlertState, catalogue: Catalogue, actor: Actor, command: Command, now: datetime
) -> EventDraft:
    _check_ref(command)
    occurred_at = _check_time(command.occurred_at, now)
    ranges.check_text(actor.originator, "originator", ranges.MAX_ORIGINATOR)
    if isinstance(command, Declare):
        ranges.check_text(command.region_id, "region_id", ranges.MAX_REGION_ID)
        _check_region(catalogue, command.region_id)
        _check_allowed(catalogue, actor, command.region_id, command.status)
        _check_details(command.threat, command.details)
        _check_notes(command.notes)
        _check_order(state, command.region_id, occurred_at)
        existing = state.open_alert(command.region_id, command.threat, command.status)
        if existing is not None:
            raise Rejected(
                409,
                "alert_already_open",
                f"alert {existing.id} ({command.threat}, {command.status}) is already open for "
                f"region {command.region_id} since {existing.started_at.isoformat()}",
                open_alert_id=existing.id,
            )
        return EventDraft(
            kind=EventKind.DECLARED,
            region_id=command.region_id,
            threat=command.threat,
            status=command.status,
            occurred_at=occurred_at,
            originator=actor.originator,
            details=_unique(command.details),
            notes=command.notes or None,
        )
    alert = _find_open(state, catalogue, command.ref)
    _check_allowed(catalogue, actor, alert.region_id, alert.status)
    _check_order(state, alert.region_id, occurred_at)
    if occurred_at < alert.started_at:
        raise Rejected(
            422,
            "time_before_alert_start",
            f"occurred_at {occurred_at.isoformat()} is before alert {alert.id} started "
            f"({alert.started_at.isoformat()})",
        )
    if isinstance(command, Update):
        details = alert.details if command.details is None else _unique(command.details)
        _check_details(alert.threat, details)
        _check_notes(command.notes)
        notes = None if command.clear_notes else (command.notes or alert.notes)
        if details == alert.details and notes == alert.notes:
            raise Rejected(422, "nothing_to_update", "the update changes neither details nor notes")
        kind = EventKind.UPDATED
    else:
        details, notes, kind = alert.details, alert.notes, EventKind.ENDED
    return EventDraft(
        kind=kind,
        region_id=alert.region_id,
        threat=alert.threat,
        status=alert.status,
        occurred_at=occurred_at,
        originator=actor.originator,
        details=details,
        notes=notes,
        alert_id=alert.id,
    )


def _unique(details: tuple[Detail, ...]) -> tuple[Detail, ...]:
    return tuple(sorted(set(details), key=list(Detail).index))


def _check_words(command: Command) -> None:
    """Threats, statuses and details are the domain's own words, never free text."""
    if isinstance(command, Declare):
        words = [(command.threat, Threat, "threat"), (command.status, AlertStatus, "status")]
        details: tuple[Detail, ...] | None = command.details
    else:
        ref = command.ref
        words = [(ref.status, AlertStatus, "status")]
        if ref.threat is not None:
            words.append((ref.threat, Threat, "threat"))
        details = command.details if isinstance(command, Update) else None
    words += [(d, Detail, "details") for d in details or ()]
    for value, kind, name in words:
        if not isinstance(value, kind):
            known = ", ".join(k.value for k in kind)
            message = f"{name}: {str(value)[:40]!r} is not one of {known}"
            raise Rejected(422, f"unknown_{kind.__name__.lower()}", message, field=name)


def _check_ref(command: Command) -> None:
    _check_words(command)
    if isinstance(command, Declare):
        return
    ref = command.ref
    if ref.alert_id is not None:
        ranges.check_id(ref.alert_id, "alert_id")
    if ref.region_id is not None:
        ranges.check_text(ref.region_id, "region_id", ranges.MAX_REGION_ID)


def _check_time(occurred_at: datetime | None, now: datetime) -> datetime:
    """The operator time (now if omitted): with an offset, from 2000 on, at most 5 min ahead."""
    if occurred_at is None:
        return now
    ranges.check_time(occurred_at, "occurred_at")
    if occurred_at > now + MAX_FUTURE:
        raise Rejected(
            422,
            "time_in_future",
            f"occurred_at {occurred_at.isoformat()} is more than 5 minutes ahead of the hub's "
            f"clock ({now.isoformat()})",
            field="occurred_at",
        )
    return occurred_at


def _check_region(catalogue: Catalogue, region_id: str) -> None:
    if region_id not in catalogue:
        raise Rejected(404, "unknown_region", f"no region with id {region_id!r}")


def _check_allowed(catalogue: Catalogue, actor: Actor, region_id: str, status: AlertStatus) -> None:
    if actor.drills_only and status is AlertStatus.ACTUAL:
        raise Rejected(
            403, "drills_only", "this token may only declare exercise or test alerts, not actual"
        )
    if actor.scopes is None:
        return
    if not any(catalogue.is_within(region_id, scope) for scope in actor.scopes):
        raise Rejected(
            403,
            "region_out_of_scope",
            f"region {region_id} is outside this token's regions: {', '.join(actor.scopes)}",
        )


def _check_details(threat: Threat, details: tuple[Detail, ...]) -> None:
    if details and threat is not Threat.AIR_RAID:
        raise Rejected(
            422, "details_not_allowed", f"threat details apply to air_raid only, not {threat}"
        )


def _check_notes(notes: str | None) -> None:
    ranges.check_notes(notes)


def _check_order(state: AlertState, region_id: str, occurred_at: datetime) -> None:
    last = state.last_event_at.get(region_id)
    if last is not None and occurred_at < last:
        raise Rejected(
            422,
            "time_before_last_event",
            f"occurred_at {occurred_at.isoformat()} is older than region {region_id}'s last event "
            f"({last.isoformat()})",
        )


def _find_open(state: AlertState, catalogue: Catalogue, ref: AlertRef) -> Alert:
    if ref.alert_id is not None:
        alert = state.open_alerts.get(ref.alert_id)
        if alert is None:
            raise Rejected(409, "alert_not_open", f"alert {ref.alert_id} is not open")
        return alert
    if ref.region_id is None or ref.threat is None:
        raise Rejected(422, "alert_not_named", "name the alert by id, or by region and threat")
    _check_region(catalogue, ref.region_id)
    alert = state.open_alert(ref.region_id, ref.threat, ref.status)
    if alert is None:
        raise Rejected(
            409,
            "alert_not_open",
            f"no open {ref.status} {ref.threat} alert for region {ref.region_id}",
        )
    return alert
