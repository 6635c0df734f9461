"""Operator commands and the rules that turn a valid one into events.

`decide` is pure: given the state, the catalogue, the actor, the clock and the approval policy it
returns the drafts of the events to append (one, or one per region of a multi-region request, all
in one transaction), or raises `Rejected` naming the problem. Nothing is written on rejection.
`expirations` is pure too: the events that close the proposals whose time ran out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from tryvoha.alerts import ranges
from tryvoha.alerts.approval import ApprovalPolicy
from tryvoha.alerts.correction import correction_text
from tryvoha.alerts.model import (
    Alert,
    AlertStatus,
    Detail,
    EventDraft,
    EventKind,
    Proposal,
    ProposalState,
    Threat,
)
from tryvoha.alerts.ranges import MAX_FUTURE, OutOfRange
from tryvoha.alerts.state import AlertState
from tryvoha.regions import Catalogue

HUB_ORIGINATOR = "hub"
"""Originator of the events the hub makes by itself (a proposal's expiry)."""
DEFAULT_POLICY = ApprovalPolicy()


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
    everywhere (the CLI run by the hub's administrator). `credential` is the hash of the operator
    token the command came with, if any: the writer checks it is still valid just before the
    transaction that would commit the command, so a token revoked meanwhile writes nothing.
    """

    originator: str
    scopes: tuple[str, ...] | None = None
    drills_only: bool = False
    credential: str | None = None


@dataclass(frozen=True, slots=True)
class Declare:
    region_id: str
    threat: Threat
    status: AlertStatus = AlertStatus.ACTUAL
    details: tuple[Detail, ...] = ()
    notes: str | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeclareMany:
    """One threat, status, details and notes for up to 100 regions at once: all or none."""

    region_ids: tuple[str, ...]
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


@dataclass(frozen=True, slots=True)
class Retract:
    """End an open alert because it was issued in error; the hub adds the public correction."""

    ref: AlertRef
    reason: str
    occurred_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Approve:
    """Send a proposal out: a different operator with scope over its whole area."""

    proposal_id: int


@dataclass(frozen=True, slots=True)
class Reject:
    """Drop a proposal: its proposer, or an operator who could approve it."""

    proposal_id: int
    reason: str


Command = Declare | DeclareMany | Update | End | Retract | Approve | Reject


def decide(
    state: AlertState,
    catalogue: Catalogue,
    actor: Actor,
    command: Command,
    now: datetime,
    policy: ApprovalPolicy = DEFAULT_POLICY,
) -> tuple[EventDraft, ...]:
    """Validate `command` against the state and return the events it produces, in order."""
    try:
        return _decide(state, catalogue, actor, command, now, policy)
    except OutOfRange as problem:
        raise Rejected.out_of_range(problem) from None


def expirations(state: AlertState, now: datetime) -> tuple[EventDraft, ...]:
    """The `expired` events of every pending proposal whose deadline is not after `now`, one per
    region, at the deadline itself (when it expired), by the hub."""
    drafts: list[EventDraft] = []
    for proposal in sorted(state.proposals.values(), key=lambda p: p.id):
        if not proposal.is_pending or proposal.deadline > now:
            continue
        drafts.extend(
            _proposal_draft(proposal, EventKind.EXPIRED, index, HUB_ORIGINATOR, proposal.deadline)
            for index in range(len(proposal.region_ids))
        )
    return tuple(drafts)


def may_decide(catalogue: Catalogue, actor: Actor, proposal: Proposal) -> bool:
    """Whether `actor` could approve `proposal` (its tokens cover the whole area, actual mode),
    leaving aside that the proposer never approves their own."""
    if actor.drills_only and proposal.status is AlertStatus.ACTUAL:
        return False
    return actor.scopes is None or all(
        any(catalogue.is_within(region_id, scope) for scope in actor.scopes)
        for region_id in proposal.region_ids
    )


def _decide(
    state: AlertState,
    catalogue: Catalogue,
    actor: Actor,
    command: Command,
    now: datetime,
    policy: ApprovalPolicy,
) -> tuple[EventDraft, ...]:
    _check_ref(command)
    if isinstance(command, Approve | Reject):
        ranges.check_text(actor.originator, "originator", ranges.MAX_ORIGINATOR)
        return _decide_proposal(state, catalogue, actor, command, now)
    occurred_at = _check_time(command.occurred_at, now)
    ranges.check_text(actor.originator, "originator", ranges.MAX_ORIGINATOR)
    if isinstance(command, Declare | DeclareMany):
        return _declare(state, catalogue, actor, command, occurred_at, now, policy)
    if isinstance(command, Retract):
        ranges.check_reason(command.reason)
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
    reason = correction = None
    if isinstance(command, Update):
        details = alert.details if command.details is None else _unique(command.details)
        _check_details(alert.threat, details)
        _check_notes(command.notes)
        notes = None if command.clear_notes else (command.notes or alert.notes)
        if details == alert.details and notes == alert.notes:
            raise Rejected(422, "nothing_to_update", "the update changes neither details nor notes")
        kind = EventKind.UPDATED
    elif isinstance(command, Retract):
        details, notes, kind = alert.details, alert.notes, EventKind.RETRACTED
        reason, correction = command.reason, correction_text(catalogue, alert)
    else:
        details, notes, kind = alert.details, alert.notes, EventKind.ENDED
    draft = EventDraft(
        kind=kind,
        region_id=alert.region_id,
        threat=alert.threat,
        status=alert.status,
        occurred_at=occurred_at,
        originator=actor.originator,
        details=details,
        notes=notes,
        alert_id=alert.id,
        reason=reason,
        correction=correction,
    )
    return (draft,)


def _declare(
    state: AlertState,
    catalogue: Catalogue,
    actor: Actor,
    command: Declare | DeclareMany,
    occurred_at: datetime,
    now: datetime,
    policy: ApprovalPolicy,
) -> tuple[EventDraft, ...]:
    """A declaration for one region or several: every region passes every rule, or the request
    is refused naming the first that does not. A declaration the approval policy catches becomes
    a proposal (one `proposed` event per region)."""
    if isinstance(command, Declare):
        regions: tuple[str, ...] = (command.region_id,)
    else:
        regions = _check_batch(catalogue, command.region_ids)
    for region_id in regions:
        with _naming(region_id):
            ranges.check_text(region_id, "region_id", ranges.MAX_REGION_ID)
            _check_region(catalogue, region_id)
            _check_allowed(catalogue, actor, region_id, command.status)
    _check_details(command.threat, command.details)
    _check_notes(command.notes)
    for region_id in regions:
        with _naming(region_id):
            _check_order(state, region_id, occurred_at)
            _check_free(state, region_id, command.threat, command.status)
    why = policy.why(catalogue, regions, command.threat, command.status)
    first = EventDraft(
        EventKind.DECLARED,
        region_id=regions[0],
        threat=command.threat,
        status=command.status,
        occurred_at=occurred_at,
        originator=actor.originator,
        details=_unique(command.details),
        notes=command.notes or None,
    )
    if why is None:
        return tuple(replace(first, region_id=r) for r in regions)
    deadline = now + policy.ttl
    return tuple(
        replace(first, kind=EventKind.PROPOSED, region_id=r, deadline=deadline) for r in regions
    )


def _check_batch(catalogue: Catalogue, region_ids: Sequence[str]) -> tuple[str, ...]:
    """1 to 100 regions, each once, none inside another of the same request."""
    regions = tuple(region_ids)
    if not 1 <= len(regions) <= ranges.MAX_REGIONS:
        raise Rejected(
            422,
            "region_count_out_of_range",
            f"region_ids holds 1 to {ranges.MAX_REGIONS} regions, not {len(regions)}",
            field="region_ids",
        )
    seen: set[str] = set()
    for region_id in regions:
        if not isinstance(region_id, str):
            raise Rejected(422, "invalid_region_id", "region_ids holds region ids (text)")
        if region_id in seen:
            raise Rejected(
                422,
                "duplicate_region",
                f"region {region_id[:40]!r} is named twice in region_ids",
                field="region_ids",
                region_id=region_id,
            )
        seen.add(region_id)
    for region_id in regions:
        if region_id not in catalogue:
            continue  # named as unknown by the rules that follow
        for ancestor in catalogue.ancestors(region_id):
            if ancestor.id in seen:
                raise Rejected(
                    422,
                    "regions_overlap",
                    f"region {region_id} lies inside {ancestor.id}, also in region_ids: an "
                    "alert for the larger region already covers it",
                    field="region_ids",
                    region_id=region_id,
                    inside=ancestor.id,
                )
    return regions


class _naming:
    """Adds the region a batch's refusal is about to its answer (`region_id`)."""

    def __init__(self, region_id: str) -> None:
        self.region_id = region_id

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, Rejected):
            exc.extra.setdefault("region_id", self.region_id)
        elif isinstance(exc, OutOfRange):
            raise Rejected(
                422, exc.code, exc.message, field=exc.field, region_id=self.region_id[:40]
            ) from None


def _check_free(state: AlertState, region_id: str, threat: Threat, status: AlertStatus) -> None:
    """No open alert and no pending proposal holds the region for this threat and status."""
    existing = state.open_alert(region_id, threat, status)
    if existing is not None:
        raise Rejected(
            409,
            "alert_already_open",
            f"alert {existing.id} ({threat}, {status}) is already open for region {region_id} "
            f"since {existing.started_at.isoformat()}",
            open_alert_id=existing.id,
        )
    pending = state.pending_proposal(region_id, threat, status)
    if pending is not None:
        raise Rejected(
            409,
            "proposal_pending",
            f"proposal {pending.id} ({threat}, {status}) for region {region_id}, by "
            f"{pending.proposed_by}, waits for a second operator until "
            f"{pending.deadline.isoformat()}: approve or reject it",
            proposal_id=pending.id,
        )


def _decide_proposal(
    state: AlertState, catalogue: Catalogue, actor: Actor, command: Approve | Reject, now: datetime
) -> tuple[EventDraft, ...]:
    proposal = state.proposals.get(command.proposal_id)
    if proposal is None:
        raise Rejected(404, "unknown_proposal", f"no proposal with id {command.proposal_id}")
    is_proposer = actor.originator == proposal.proposed_by
    if not may_decide(catalogue, actor, proposal) and not (
        isinstance(command, Reject) and is_proposer
    ):
        raise Rejected(
            403,
            "proposal_out_of_scope",
            f"proposal {proposal.id} covers {', '.join(proposal.region_ids)}; this token's "
            f"regions ({', '.join(actor.scopes or ())}) do not cover all of it"
            + (" in actual mode (it may only send drills)" if actor.drills_only else ""),
        )
    if isinstance(command, Approve) and is_proposer:
        raise Rejected(
            403,
            "approval_by_proposer",
            f"proposal {proposal.id} was made by {proposal.proposed_by}: a different operator "
            "must approve it",
        )
    _check_undecided(proposal, now)
    if isinstance(command, Reject):
        reason = ranges.check_reason(command.reason)
        return tuple(
            replace(
                _proposal_draft(proposal, EventKind.REJECTED, i, actor.originator, now),
                reason=reason,
            )
            for i in range(len(proposal.region_ids))
        )
    for region_id in proposal.region_ids:
        with _naming(region_id):
            _check_order(state, region_id, now)
            existing = state.open_alert(region_id, proposal.threat, proposal.status)
            if existing is not None:
                raise Rejected(
                    409,
                    "alert_already_open",
                    f"alert {existing.id} is already open for region {region_id}",
                    open_alert_id=existing.id,
                )
    return tuple(
        EventDraft(
            kind=EventKind.DECLARED,
            region_id=region_id,
            threat=proposal.threat,
            status=proposal.status,
            occurred_at=now,
            originator=actor.originator,
            details=proposal.details,
            notes=proposal.notes,
            proposal_id=proposal.id,
            proposed_by=proposal.proposed_by,
        )
        for region_id in proposal.region_ids
    )


def _check_undecided(proposal: Proposal, now: datetime) -> None:
    if proposal.state is ProposalState.EXPIRED or (
        proposal.is_pending and proposal.deadline <= now
    ):
        raise Rejected(
            409,
            "proposal_expired",
            f"proposal {proposal.id} expired at {proposal.deadline.isoformat()} without a second "
            "operator; declare again if the alert is still needed",
            proposal_id=proposal.id,
        )
    if not proposal.is_pending:
        raise Rejected(
            409,
            "proposal_decided",
            f"proposal {proposal.id} was already {proposal.state.value} by {proposal.decided_by}",
            proposal_id=proposal.id,
            state=proposal.state.value,
        )


def _proposal_draft(
    proposal: Proposal, kind: EventKind, index: int, originator: str, at: datetime
) -> EventDraft:
    """A `rejected` or `expired` event for the proposal's `index`-th region."""
    return EventDraft(
        kind=kind,
        region_id=proposal.region_ids[index],
        threat=proposal.threat,
        status=proposal.status,
        occurred_at=at,
        originator=originator,
        details=proposal.details,
        notes=proposal.notes,
        alert_id=proposal.event_ids[index],
        proposal_id=proposal.id,
    )


def _unique(details: tuple[Detail, ...]) -> tuple[Detail, ...]:
    return tuple(sorted(set(details), key=list(Detail).index))


def _check_words(command: Command) -> None:
    """Threats, statuses and details are the domain's own words, never free text."""
    if isinstance(command, Approve | Reject):
        return
    if isinstance(command, Declare | DeclareMany):
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
    if isinstance(command, Approve | Reject):
        ranges.check_id(command.proposal_id, "proposal_id")
        return
    if isinstance(command, Declare | DeclareMany):
        return
    ref = command.ref
    if ref.alert_id is not None:
        ranges.check_id(ref.alert_id, "alert_id")
    if ref.region_id is not None:
        ranges.check_text(ref.region_id, "region_id", ranges.MAX_REGION_ID)


def _check_time(occurred_at: datetime | None, now: datetime) -> datetime:
    """The operator time (now if omitted): with an offset, from 2000 on, at most 5 min ahead;
    in UTC, as the log gives it back, so the state folded live and after a restart agree."""
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
    return occurred_at.astimezone(UTC)


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
