"""Finding and repairing rows of the log that cannot be read back (`tryvoha log check|repair`).

The hub refuses to start on such a row rather than skip it: skipping would change the fold and
every id after it. A repair never deletes: each unreadable row is copied as it was into
`event_quarantine` (with what was wrong and what changed) and rewritten in place into the nearest
readable form that keeps the fold valid:

- times that are not readable or out of range become the row's `recorded_at` (itself, when bad,
  the previous event's), so the event stays where it was in the log;
- unknown details are dropped; notes, names and keys lose the characters they may not hold and
  are cut to their limits;
- an update or end takes the region, threat and status of the alert it changes; a declaration
  whose threat or status is unknown becomes a `test` alert (of `air_raid` when the threat is
  unknown), so a row the hub cannot interpret never raises a public alarm;
- an unknown kind becomes `declared` when the row declares its own alert, else `updated` when
  its alert is open.

The alerts projection rows of every repaired alert are then derived again from its events.
Rows are read with their text as bytes on SQLite, so text that is not even UTF-8 is found too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import orjson
from sqlalchemy import cast, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.types import LargeBinary

from tryvoha.alerts import ranges
from tryvoha.alerts.model import (
    PROPOSAL_KINDS,
    Alert,
    AlertStatus,
    Detail,
    Event,
    EventKind,
    Threat,
)
from tryvoha.alerts.state import AlertState, LogOrderError, alert_after
from tryvoha.store.decode import COLUMNS, UnreadableEvent, decode_event, problems
from tryvoha.store.rows import event_row
from tryvoha.store.schema import alerts, event_quarantine, events
from tryvoha.store.timeutil import from_us, to_us

TEXT_COLUMNS: tuple[str, ...] = ("kind", "region_id", "threat", "status", "details", "notes")
TEXT_COLUMNS += ("originator", "source", "idempotency_key", "reason", "correction", "proposed_by")
_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
CHUNK = 20_000


@dataclass(slots=True)
class Repair:
    """What `repair` did (or would do) to one row."""

    event_id: int
    problem: str
    changes: list[str] = field(default_factory=list)
    original: dict[str, Any] = field(default_factory=dict)
    event: Event | None = None
    """The rewritten event; None when the row cannot be repaired automatically."""


class Irreparable(Exception):
    """A row whose meaning cannot be recovered from the rest of the log."""


def scan(engine: Engine, after_id: int = 0) -> Iterator[SimpleNamespace]:
    """Every row of the log after `after_id`, in order, as raw values (text as bytes on SQLite,
    decoded here, so a row that is not UTF-8 does not stop the reading)."""
    sqlite = engine.dialect.name == "sqlite"
    columns = [
        cast(events.c[name], LargeBinary).label(name)
        if sqlite and name in TEXT_COLUMNS
        else events.c[name]
        for name in COLUMNS
    ]
    while True:
        query = select(*columns).where(events.c.id > after_id).order_by(events.c.id).limit(CHUNK)
        with engine.connect() as conn:
            rows = [SimpleNamespace(**_text_of(row._asdict())) for row in conn.execute(query)]
        yield from rows
        if len(rows) < CHUNK:
            return
        after_id = rows[-1].id


def first_unreadable(engine: Engine, after_id: int = 0) -> UnreadableEvent | None:
    for row in scan(engine, after_id):
        try:
            decode_event(row)
        except UnreadableEvent as problem:
            return problem
    return None


def unreadable(engine: Engine) -> list[UnreadableEvent]:
    """Every column of every row of the log that does not read back, in log order."""
    found = []
    for row in scan(engine):
        try:
            decode_event(row)
        except UnreadableEvent as problem:
            found.extend(problems(row) or [problem])
    return found


def repair(engine: Engine, dry_run: bool = False) -> list[Repair]:
    """Rewrite every unreadable row (see the module's rules); with `dry_run`, only say how.

    Repairs are written in one transaction, and only when every unreadable row can be repaired:
    otherwise nothing is written, and the last repair returned (`event` None) says why not.
    `LogOrderError` when a readable row does not follow the log (a gap, a change to an alert
    that is not open): that is not a row to rewrite but a log to restore from a backup."""
    state = AlertState()
    repairs: list[Repair] = []
    for row in scan(engine):
        try:
            event = decode_event(row)
        except UnreadableEvent as problem:
            found = problems(row) or [problem]
            text = "; ".join(f"column {p.column}: {p.reason}" for p in found)
            fix = Repair(_id_of(row), f"event {problem.event_id}: {text}", original=_original(row))
            repairs.append(fix)
            try:
                event = _rewrite(row, state, fix)
                state.apply(event)
            except (Irreparable, LogOrderError, ranges.OutOfRange) as exc:
                fix.changes.append(f"cannot be repaired automatically: {exc}")
                return repairs
            fix.event = event
            continue
        state.apply(event)
    if dry_run or not repairs:
        return repairs
    now = to_us(datetime.now(UTC))
    with engine.begin() as conn:
        for fix in repairs:
            assert fix.event is not None
            conn.execute(
                insert(event_quarantine).values(
                    event_id=fix.event_id,
                    original=orjson.dumps(fix.original).decode(),
                    problem=fix.problem,
                    changes="\n".join(fix.changes),
                    quarantined_at=now,
                )
            )
            conn.execute(
                update(events).where(events.c.id == fix.event_id).values(**event_row(fix.event))
            )
        for alert_id in sorted({fix.event.alert_id for fix in repairs if fix.event}):
            _project_again(conn, alert_id)
    return repairs


def _rewrite(row: SimpleNamespace, state: AlertState, fix: Repair) -> Event:
    """The nearest readable event to `row`, given the state of the log before it."""
    changes = fix.changes
    event_id = _readable(row, "id")
    if event_id is None or not 1 <= event_id <= ranges.MAX_ID:
        raise Irreparable("its id is not a log id")
    alert_id = _readable(row, "alert_id")
    kind = _readable(row, "kind")
    if kind is None:
        if alert_id == event_id:
            kind = EventKind.DECLARED
        elif alert_id in state.open_alerts:
            kind = EventKind.UPDATED
        else:
            raise Irreparable(f"unknown kind, and alert {alert_id} is not open")
        changes.append(f"kind {_show(row.kind)} → {kind.value}")
    if kind in PROPOSAL_KINDS:
        raise Irreparable(f"it is part of a proposal ({kind.value}); restore it from a backup")
    if kind is EventKind.DECLARED and alert_id != event_id:
        changes.append(f"alert_id {_show(row.alert_id)} → {event_id} (a declaration's own id)")
        alert_id = event_id
    elif alert_id is None:
        raise Irreparable("its alert_id is not readable")
    before = state.open_alerts.get(alert_id) if kind is not EventKind.DECLARED else None
    if kind is not EventKind.DECLARED and before is None:
        raise Irreparable(f"it changes alert {alert_id}, which is not open")
    region_id, threat, status = _identity(row, before, changes)
    details = _details(row, changes)
    recorded_at = _recorded_at(row, state, changes)
    occurred_at = _readable(row, "occurred_at")
    if occurred_at is None or not ranges.EARLIEST <= occurred_at < ranges.LATEST:
        changes.append(f"occurred_at {_show_time(row.occurred_at)} → recorded_at")
        occurred_at = recorded_at
    event = Event(
        id=event_id,
        kind=kind,
        alert_id=alert_id,
        region_id=region_id,
        threat=threat,
        status=status,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        originator=_clean(row, "originator", ranges.MAX_ORIGINATOR, changes) or "unknown",
        details=details,
        notes=_clean(row, "notes", ranges.MAX_NOTES, changes),
        source=_clean(row, "source", ranges.MAX_SOURCE, changes) or "live",
        idempotency_key=_clean(row, "idempotency_key", ranges.MAX_KEY, changes),
        reason=_clean(row, "reason", ranges.MAX_REASON, changes),
        correction=_clean(row, "correction", ranges.MAX_CORRECTION, changes),
        proposal_id=_readable(row, "proposal_id"),
        proposed_by=_clean(row, "proposed_by", ranges.MAX_ORIGINATOR, changes),
    )
    if event.reason is not None and not event.reason.strip():
        event = replace(event, reason=None)
    if kind is EventKind.RETRACTED and event.reason is None:
        changes.append(f"reason {_show(row.reason)} → a note that it was not readable")
        event = replace(event, reason="(the reason could not be read back; repaired)")
    ranges.check_event(event)
    return event


def _identity(
    row: SimpleNamespace, before: Alert | None, changes: list[str]
) -> tuple[str, Threat, AlertStatus]:
    """Region, threat and status: an alert's own for a change to it, else the row's (made safe)."""
    if before is not None:
        for name, value in (
            ("region_id", before.region_id),
            ("threat", before.threat),
            ("status", before.status),
        ):
            if _readable(row, name) != value:
                changes.append(f"{name} {_show(getattr(row, name))} → {value} (its alert's)")
        return before.region_id, before.threat, before.status
    region_id = _readable(row, "region_id")
    if region_id is None or _FORBIDDEN.search(region_id) or len(region_id) > ranges.MAX_REGION_ID:
        raise Irreparable("the region of a declaration is not readable")
    threat, status = _readable(row, "threat"), _readable(row, "status")
    if threat is None or status is None:
        if threat is None:
            changes.append(f"threat {_show(row.threat)} → air_raid")
            threat = Threat.AIR_RAID
        if status is not AlertStatus.TEST:
            changes.append(f"status {_show(row.status)} → test (never shown as a real alert)")
            status = AlertStatus.TEST
    return region_id, threat, status


def _details(row: SimpleNamespace, changes: list[str]) -> tuple[Detail, ...]:
    text = row.details if isinstance(row.details, str) else ""
    kept = []
    for name in text.split(",") if text else ():
        try:
            kept.append(Detail(name))
        except ValueError:
            changes.append(f"details: dropped {name[:40]!r}")
    if not isinstance(row.details, str):
        changes.append(f"details {_show(row.details)} → none")
    return tuple(kept)


def _recorded_at(row: SimpleNamespace, state: AlertState, changes: list[str]) -> datetime:
    value: datetime | None = _readable(row, "recorded_at")
    if value is not None and ranges.EARLIEST <= value < ranges.LATEST:
        return value
    fallback = state.last_recorded_at or ranges.EARLIEST
    changes.append(f"recorded_at {_show_time(row.recorded_at)} → {fallback.isoformat()}")
    return fallback


def _clean(row: SimpleNamespace, name: str, limit: int, changes: list[str]) -> str | None:
    value = getattr(row, name)
    if value is None:
        return None
    text = bytes(value).decode(errors="replace") if isinstance(value, bytes) else str(value)
    cleaned = _FORBIDDEN.sub("", text)[:limit]
    if cleaned != value:
        changes.append(f"{name}: removed characters it may not hold, kept {len(cleaned)}")
    return cleaned or None


def _readable(row: SimpleNamespace, name: str) -> Any:
    """The column decoded as the domain reads it, or None when it cannot be."""
    value = getattr(row, name)
    try:
        if name in ("id", "alert_id"):
            return value if type(value) is int else None
        if name == "proposal_id":
            return value if type(value) is int and 1 <= value <= ranges.MAX_ID else None
        if name in ("occurred_at", "recorded_at", "deadline"):
            return from_us(value) if type(value) is int else None
        if not isinstance(value, str):
            return None
        return {"kind": EventKind, "threat": Threat, "status": AlertStatus}.get(name, str)(value)
    except (ValueError, OverflowError, OSError):
        return None


def _project_again(conn: Connection, alert_id: int) -> None:
    """The alerts projection row of `alert_id`, derived again from its events."""
    query = select(events).where(events.c.alert_id == alert_id).order_by(events.c.id)
    alert = None
    for row in conn.execute(query):
        event = decode_event(row)
        alert = alert_after(event, alert)
    if alert is None:
        return
    values = {
        "region_id": alert.region_id,
        "threat": alert.threat.value,
        "status": alert.status.value,
        "started_at": to_us(alert.started_at),
        "ended_at": None if alert.ended_at is None else to_us(alert.ended_at),
        "updated_at": None if alert.updated_at is None else to_us(alert.updated_at),
        "originator": alert.originator,
        "ended_by": alert.ended_by,
        "details": ",".join(d.value for d in alert.details),
        "notes": alert.notes,
        "source": alert.source,
        "last_event_id": alert.last_event_id,
        "retracted": alert.retracted,
        "proposed_by": alert.proposed_by,
    }
    done = conn.execute(update(alerts).where(alerts.c.id == alert_id).values(**values))
    if done.rowcount == 0:
        conn.execute(insert(alerts).values(id=alert_id, **values))


def _text_of(raw: dict[str, Any]) -> dict[str, Any]:
    for name in TEXT_COLUMNS:
        value = raw[name]
        if isinstance(value, bytes | bytearray | memoryview):
            data = bytes(value)
            try:
                raw[name] = data.decode()
            except UnicodeDecodeError:
                raw[name] = data  # read as "not text" by the decoder, which names it
    return raw


def _original(row: SimpleNamespace) -> dict[str, Any]:
    """The row as it was, as JSON can hold it (bytes as hex)."""
    out: dict[str, Any] = {}
    for name in COLUMNS:
        value = getattr(row, name)
        if isinstance(value, bytes):
            value = {"hex": bytes(value).hex()}
        elif isinstance(value, str):
            value = value.encode(errors="replace").decode()
        elif not (value is None or isinstance(value, int | float)):
            value = repr(value)
        out[name] = value
    return out


def _id_of(row: SimpleNamespace) -> int:
    return row.id if type(row.id) is int else -1


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _show_time(value: object) -> str:
    if type(value) is int:
        try:
            return from_us(value).isoformat()
        except (ValueError, OverflowError, OSError):
            return f"{value} µs"
    return _show(value)
