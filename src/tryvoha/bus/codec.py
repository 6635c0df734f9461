"""The one wire form of a committed event between processes (worker sockets, JetStream).

Lossless: times in integer microseconds, every field including the source and the idempotency
key, so a node that folds decoded events holds exactly the writer's state. The first byte names
the format, so the form can grow (a signature, say) while a node that meets a format it does not
know refuses it loudly instead of folding a guess.

Format 2 (written): the byte 0x02, then a JSON array of the eighteen `Event` fields in
declaration order (enums as their values, `details` as a list of values, times as µs since the
Unix epoch, absent optional fields as null). Format 1 (read, as a stream written before may hold
it): the byte 0x01 and the first thirteen, from `id` to `idempotency_key`. A decoded event must
also be within the ranges the log holds (`alerts.ranges.check_event`): ids from 1, times
2000–2100, texts without control characters or lone surrogates.
"""

from __future__ import annotations

import orjson

from tryvoha.alerts.model import AlertStatus, Detail, Event, EventKind, Threat
from tryvoha.alerts.ranges import OutOfRange, check_event
from tryvoha.store.timeutil import from_us, to_us

FORMAT_V1 = 1
FORMAT_V2 = 2
FORMATS = (FORMAT_V1, FORMAT_V2)
_V2 = bytes((FORMAT_V2,))
_FIELDS = {FORMAT_V1: 13, FORMAT_V2: 18}


class CodecError(ValueError):
    """A message that is not an event this node can read; it must not be folded."""


def encode_event(event: Event) -> bytes:
    """`CodecError` for an event no node could read back (the domain lets none into the log)."""
    try:
        return _V2 + orjson.dumps(
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
                event.reason,
                event.correction,
                event.proposal_id,
                event.proposed_by,
                None if event.deadline is None else to_us(event.deadline),
            ]
        )
    except orjson.JSONEncodeError as exc:
        raise CodecError(
            f"event {event.id} cannot be encoded: {_unencodable(event, exc)}"
        ) from None


def _unencodable(event: Event, exc: Exception) -> str:
    names = ("region_id", "originator", "notes", "source", "idempotency_key", "reason")
    for name in (*names, "correction", "proposed_by"):
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
    if version not in FORMATS:
        known = " and ".join(str(v) for v in FORMATS)
        raise CodecError(
            f"event format {version} is unknown here (this node reads formats {known}); "
            "upgrade this node before it follows a newer writer"
        )
    try:
        fields = orjson.loads(data[1:])
    except orjson.JSONDecodeError as exc:
        raise CodecError(f"event format {version} with an unreadable body: {exc}") from None
    count = _FIELDS[version]
    if not isinstance(fields, list) or len(fields) != count:
        raise CodecError(f"event format {version} must be a list of {count} fields")
    (eid, kind, alert_id, region, threat, status, occ, rec, orig, details, notes, source, key) = (
        fields[:13]
    )
    reason, correction, proposal_id, proposed_by, deadline = fields[13:] or (None,) * 5
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
            reason=None if reason is None else _str(reason, "reason"),
            correction=None if correction is None else _str(correction, "correction"),
            proposal_id=None if proposal_id is None else _int(proposal_id, "proposal_id"),
            proposed_by=None if proposed_by is None else _str(proposed_by, "proposed_by"),
            deadline=None if deadline is None else from_us(_int(deadline, "deadline")),
        )
        check_event(event)  # what the store would refuse to write is never folded either
    except CodecError:
        raise
    except OutOfRange as exc:
        raise CodecError(
            f"event format {version} with a field out of range: {exc.message}"
        ) from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise CodecError(f"event format {version} with an invalid field: {exc}") from None
    return event


def _int(value: object, name: str) -> int:
    if type(value) is not int:
        raise CodecError(f"event field {name} must be an integer")
    return value


def _str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise CodecError(f"event field {name} must be a string")
    return value
