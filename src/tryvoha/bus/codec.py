"""The one wire form of a committed event between processes (worker sockets, JetStream).

Lossless: times in integer microseconds, every field including the source and the idempotency
key, so a node that folds decoded events holds exactly the writer's state. The first byte names
the format, so the form can grow (a signature, say) while a node that meets a format it does not
know refuses it loudly instead of folding a guess.

Format 1: the byte 0x01, then a JSON array of the thirteen `Event` fields in declaration order
(enums as their values, `details` as a list of values, times as µs since the Unix epoch).
A decoded event must also be within the ranges the log holds (`alerts.ranges.check_event`):
ids from 1, times 2000–2100, texts without control characters or lone surrogates.
"""

from __future__ import annotations

import orjson

from tryvoha.alerts.model import AlertStatus, Detail, Event, EventKind, Threat
from tryvoha.alerts.ranges import OutOfRange, check_event
from tryvoha.store.timeutil import from_us, to_us

FORMAT_V1 = 1
FORMATS = (FORMAT_V1,)
_V1 = bytes((FORMAT_V1,))
_V1_FIELDS = 13


class CodecError(ValueError):
    """A message that is not an event this node can read; it must not be folded."""


def encode_event(event: Event) -> bytes:
    """`CodecError` for an event no node could read back (the domain lets none into the log)."""
    try:
        return _V1 + orjson.dumps(
            [
                event.id,
                event.kind.value,
                event.alert_id,
                event.region_id,
                event.threat.value,
                event.status.value,
                to_us(event.occurred_at),
                to_us(event.recorded_at),
                event.originator,
                [d.value for d in event.details],
                event.notes,
                event.source,
                event.idempotency_key,
            ]
        )
    except orjson.JSONEncodeError as exc:
        raise CodecError(
            f"event {event.id} cannot be encoded: {_unencodable(event, exc)}"
        ) from None


def _unencodable(event: Event, exc: Exception) -> str:
    for name in ("region_id", "originator", "notes", "source", "idempotency_key"):
        value = getattr(event, name)
        if isinstance(value, str):
            try:
                value.encode()
            except UnicodeEncodeError:
                return f"{name} is not valid UTF-8 (a lone surrogate)"
    return str(exc)


def decode_event(data: bytes | bytearray | memoryview) -> Event:
    """The event `encode_event` wrote; `CodecError` names what is wrong with anything else."""
    data = bytes(data)
    if not data:
        raise CodecError("empty event message")
    version = data[0]
    if version != FORMAT_V1:
        known = ", ".join(str(v) for v in FORMATS)
        raise CodecError(
            f"event format {version} is unknown here (this node reads format {known}); "
            "upgrade this node before it follows a newer writer"
        )
    try:
        fields = orjson.loads(data[1:])
    except orjson.JSONDecodeError as exc:
        raise CodecError(f"event format 1 with an unreadable body: {exc}") from None
    if not isinstance(fields, list) or len(fields) != _V1_FIELDS:
        raise CodecError(f"event format 1 must be a list of {_V1_FIELDS} fields")
    (eid, kind, alert_id, region, threat, status, occ, rec, orig, details, notes, source, key) = (
        fields
    )
    if not isinstance(details, list):
        raise CodecError("event field details must be a list")
    try:
        event = Event(
            id=_int(eid, "id"),
            kind=EventKind(kind),
            alert_id=_int(alert_id, "alert_id"),
            region_id=_str(region, "region_id"),
            threat=Threat(threat),
            status=AlertStatus(status),
            occurred_at=from_us(_int(occ, "occurred_at")),
            recorded_at=from_us(_int(rec, "recorded_at")),
            originator=_str(orig, "originator"),
            details=tuple(Detail(d) for d in details),
            notes=None if notes is None else _str(notes, "notes"),
            source=_str(source, "source"),
            idempotency_key=None if key is None else _str(key, "idempotency_key"),
        )
        check_event(event)  # what the store would refuse to write is never folded either
    except CodecError:
        raise
    except OutOfRange as exc:
        raise CodecError(f"event format 1 with a field out of range: {exc.message}") from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise CodecError(f"event format 1 with an invalid field: {exc}") from None
    return event


def _int(value: object, name: str) -> int:
    if type(value) is not int:
        raise CodecError(f"event field {name} must be an integer")
    return value


def _str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise CodecError(f"event field {name} must be a string")
    return value
