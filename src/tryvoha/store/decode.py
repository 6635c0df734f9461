"""Reading a row of the log back into an `Event`, or saying exactly which column cannot be read.

A row is readable when every column decodes into the domain's types and lies within the ranges
of `tryvoha.alerts.ranges`: the same rules the store applies before it writes. The common case
costs one constructor and the range checks; only a failing row is taken apart column by column
to name the culprit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from tryvoha.alerts import ranges
from tryvoha.alerts.model import AlertStatus, Detail, Event, EventKind, Threat
from tryvoha.alerts.ranges import OutOfRange, check_event
from tryvoha.store.timeutil import from_us


class UnreadableEvent(ValueError):
    """A row of the log that does not decode; `column` and `reason` say why."""

    def __init__(self, event_id: object, column: str, reason: str) -> None:
        self.event_id = event_id
        self.column = column
        self.reason = reason
        super().__init__(f"event {event_id}: column {column}: {reason}")


def details_from_text(text: str) -> tuple[Detail, ...]:
    return tuple(Detail(d) for d in text.split(",")) if text else ()


def decode_event(row: Any) -> Event:
    """The event a row holds (`row` has the events table's columns as attributes)."""
    try:
        event = Event(
            id=row.id,
            kind=EventKind(row.kind),
            alert_id=row.alert_id,
            region_id=row.region_id,
            threat=Threat(row.threat),
            status=AlertStatus(row.status),
            occurred_at=from_us(row.occurred_at),
            recorded_at=from_us(row.recorded_at),
            originator=row.originator,
            details=details_from_text(row.details),
            notes=row.notes,
            source=row.source,
            idempotency_key=row.idempotency_key,
            reason=row.reason,
            correction=row.correction,
            proposal_id=row.proposal_id,
            proposed_by=row.proposed_by,
            deadline=None if row.deadline is None else from_us(row.deadline),
        )
        check_event(event)
    except OutOfRange as problem:
        raise UnreadableEvent(row.id, problem.field, problem.message) from None
    except Exception:
        raise diagnose(row) from None
    return event


def diagnose(row: Any) -> UnreadableEvent:
    """The first column of `row` that cannot be read, as an `UnreadableEvent`."""
    found = problems(row)
    return found[0] if found else UnreadableEvent(_id(row), "?", "the row does not decode")


def problems(row: Any) -> list[UnreadableEvent]:
    """Every column of `row` that does not decode or lies outside its range, in column order."""
    found = []
    for column, read in _READERS.items():
        try:
            value = read(getattr(row, column))
            check = _RANGES.get(column)
            if check is not None and value is not None:
                check(value, column)
        except OutOfRange as problem:
            found.append(UnreadableEvent(_id(row), column, problem.message))
        except Exception as exc:
            found.append(UnreadableEvent(_id(row), column, _reason(exc)))
    return found


def _id(row: Any) -> object:
    return getattr(row, "id", "?")


def _integer(value: object) -> int:
    if type(value) is not int:
        raise TypeError(f"{_show(value)} is not an integer")
    return value


def _text(value: object) -> str:
    if isinstance(value, bytes):
        raise ValueError(f"bytes that are not UTF-8 text: {value[:40]!r}")
    if type(value) is not str:
        raise TypeError(f"{_show(value)} is not text")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _optional_integer(value: object) -> int | None:
    return None if value is None else _integer(value)


def _optional_time(value: object) -> datetime | None:
    return None if value is None else _time(value)


def _time(value: object) -> datetime:
    number = _integer(value)
    try:
        return from_us(number)
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"{number} µs since 1970 is not a time between years 1 and 9999") from None


def _word(kind: type[StrEnum]) -> Callable[[object], object]:
    def read(value: object) -> object:
        try:
            return kind(_text(value))
        except ValueError:
            known = ", ".join(k.value for k in kind)
            raise ValueError(f"{_show(value)} is not one of {known}") from None

    return read


def _details(value: object) -> object:
    text = _text(value)
    for name in text.split(",") if text else ():
        _word(Detail)(name)
    return text


_READERS: dict[str, Callable[[object], object]] = {
    "id": _integer,
    "kind": _word(EventKind),
    "alert_id": _integer,
    "region_id": _text,
    "threat": _word(Threat),
    "status": _word(AlertStatus),
    "details": _details,
    "notes": _optional_text,
    "occurred_at": _time,
    "recorded_at": _time,
    "originator": _text,
    "source": _text,
    "idempotency_key": _optional_text,
    "reason": _optional_text,
    "correction": _optional_text,
    "proposal_id": _optional_integer,
    "proposed_by": _optional_text,
    "deadline": _optional_time,
}
COLUMNS = tuple(_READERS)
_RANGES: dict[str, Callable[[Any, str], object]] = {
    "id": ranges.check_id,
    "alert_id": ranges.check_id,
    "region_id": lambda v, c: ranges.check_text(v, c, ranges.MAX_REGION_ID),
    "notes": lambda v, c: ranges.check_notes(v, c),
    "occurred_at": ranges.check_time,
    "recorded_at": ranges.check_time,
    "originator": lambda v, c: ranges.check_text(v, c, ranges.MAX_ORIGINATOR),
    "source": lambda v, c: ranges.check_text(v, c, ranges.MAX_SOURCE),
    "idempotency_key": lambda v, c: ranges.check_text(v, c, ranges.MAX_KEY),
    "reason": lambda v, c: ranges.check_reason(v, c),
    "correction": lambda v, c: ranges.check_text(v, c, ranges.MAX_CORRECTION),
    "proposal_id": ranges.check_id,
    "proposed_by": lambda v, c: ranges.check_text(v, c, ranges.MAX_ORIGINATOR),
    "deadline": ranges.check_time,
}


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
