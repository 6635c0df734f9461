"""The canonical byte form of an event: what the hub signs, once per event, for every channel.

A fixed header of big-endian integers, then length-prefixed UTF-8 strings (layout and test
vectors in docs/signatures.md). Why binary and not canonical JSON: a siren controller verifies the
bytes it was sent and then reads the fields *from those verified bytes* with a few lines of C, no
JSON parser and no re-serialisation; every field has exactly one encoding, so there is nothing to
canonicalise. JSON clients get the same bytes (base64) beside the event, or rebuild them from the
event document (times are whole milliseconds, as the JSON carries them).

    offset size field
    0      8    magic "TRYVEVT1" (format and version; domain separation)
    8      8    log_id        u64
    16     8    alert_id      u64
    24     8    occurred_at   i64 milliseconds since 1970-01-01T00:00:00Z
    32     8    recorded_at   i64 ms
    40     8    expires_at    i64 ms
    48     1    flags         bit 0: notes present; other bits zero
    49     …    hub, kind, region_id, threat, status, details, originator, source[, notes]:
                each a u16 byte length and that many bytes of UTF-8
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from tryvoha.alerts.model import Event

MAGIC = b"TRYVEVT1"
HEADER = struct.Struct(">8sQQqqqB")
LENGTH = struct.Struct(">H")
NOTES_PRESENT = 0x01
MAX_BYTES = 16 * 1024
"""No valid event encodes larger (notes are at most 2,000 characters); decoders refuse more."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STRING_FIELDS = (
    "hub",
    "kind",
    "region_id",
    "threat",
    "status",
    "details",
    "originator",
    "source",
)
DOC_FIELDS = frozenset(
    {
        "id",
        "kind",
        "alert_id",
        "region_id",
        "threat",
        "details",
        "status",
        "notes",
        "occurred_at",
        "recorded_at",
        "originator",
        "source",
    }
)
"""The keys of an event document (`tryvoha.alerts.wire.event_doc`): all of them are signed."""


class MalformedSignedEvent(ValueError):
    """The bytes are not a version-1 signed event."""


@dataclass(frozen=True, slots=True)
class SignedEvent:
    """Every field a receiver acts on, exactly as signed. Times are ms since the epoch, UTC;
    `details` is the comma-joined detail values in event order ("" for none)."""

    hub: str
    log_id: int
    alert_id: int
    kind: str
    region_id: str
    threat: str
    status: str
    details: str
    originator: str
    source: str
    notes: str | None
    occurred_at: int
    recorded_at: int
    expires_at: int

    # Building --------------------------------------------------------------------------------

    @classmethod
    def of(cls, event: Event, hub: str, ttl: timedelta) -> SignedEvent:
        """The signed form of a committed event: it expires `ttl` after the hub recorded it."""
        recorded = ms(event.recorded_at)
        return cls(
            hub=hub,
            log_id=event.id,
            alert_id=event.alert_id,
            kind=event.kind.value,
            region_id=event.region_id,
            threat=event.threat.value,
            status=event.status.value,
            details=",".join(d.value for d in event.details),
            originator=event.originator,
            source=event.source,
            notes=event.notes,
            occurred_at=ms(event.occurred_at),
            recorded_at=recorded,
            expires_at=recorded + ttl // timedelta(milliseconds=1),
        )

    @classmethod
    def from_doc(cls, doc: dict[str, Any], hub: str, expires_at: str) -> SignedEvent:
        """Rebuild from an event document (`GET /api/v1/log`, a webhook body's `event`) and the
        expiry the signature carries. Raises `MalformedSignedEvent` on a field of a wrong type."""
        try:
            details = doc["details"]
            if not isinstance(details, list) or not all(isinstance(d, str) for d in details):
                raise TypeError("details")
            named = {
                "log_id": doc["id"],
                "alert_id": doc["alert_id"],
                "kind": doc["kind"],
                "region_id": doc["region_id"],
                "threat": doc["threat"],
                "status": doc["status"],
                "originator": doc["originator"],
                "source": doc["source"],
            }
            for name, value in named.items():
                wanted = int if name in ("log_id", "alert_id") else str
                if not isinstance(value, wanted) or isinstance(value, bool):
                    raise TypeError(name)
            notes = doc.get("notes")
            if notes is not None and not isinstance(notes, str):
                raise TypeError("notes")
            return cls(
                hub=hub,
                details=",".join(details),
                notes=notes,
                occurred_at=parse_ms(doc["occurred_at"]),
                recorded_at=parse_ms(doc["recorded_at"]),
                expires_at=parse_ms(expires_at),
                **named,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedSignedEvent(f"event document: bad or missing field {exc}") from exc

    # Bytes -----------------------------------------------------------------------------------

    def encode(self) -> bytes:
        flags = 0 if self.notes is None else NOTES_PRESENT
        head = HEADER.pack(
            MAGIC,
            self.log_id,
            self.alert_id,
            self.occurred_at,
            self.recorded_at,
            self.expires_at,
            flags,
        )
        strings = [getattr(self, name) for name in STRING_FIELDS]
        if self.notes is not None:
            strings.append(self.notes)
        parts = [head]
        for text in strings:
            raw = text.encode()
            parts.append(LENGTH.pack(len(raw)))
            parts.append(raw)
        out = b"".join(parts)
        if len(out) > MAX_BYTES:
            raise MalformedSignedEvent(f"event {self.log_id} encodes to {len(out)} bytes")
        return out

    @classmethod
    def decode(cls, data: bytes) -> SignedEvent:
        """Strict: the magic, no unknown flag, every string whole and UTF-8, nothing left over."""
        if len(data) > MAX_BYTES:
            raise MalformedSignedEvent(f"{len(data)} bytes is more than any signed event")
        if len(data) < HEADER.size:
            raise MalformedSignedEvent("too short for a signed event")
        magic, log_id, alert_id, occurred, recorded, expires, flags = HEADER.unpack_from(data)
        if magic != MAGIC:
            raise MalformedSignedEvent(f"not a version-1 signed event (magic {magic!r})")
        if flags & ~NOTES_PRESENT:
            raise MalformedSignedEvent(f"unknown flags {flags:#04x}")
        count = len(STRING_FIELDS) + (1 if flags & NOTES_PRESENT else 0)
        pos = HEADER.size
        strings: list[str] = []
        for _ in range(count):
            if pos + LENGTH.size > len(data):
                raise MalformedSignedEvent("truncated")
            (size,) = LENGTH.unpack_from(data, pos)
            pos += LENGTH.size
            if pos + size > len(data):
                raise MalformedSignedEvent("truncated")
            try:
                strings.append(data[pos : pos + size].decode())
            except UnicodeDecodeError as exc:
                raise MalformedSignedEvent("a string is not UTF-8") from exc
            pos += size
        if pos != len(data):
            raise MalformedSignedEvent(f"{len(data) - pos} bytes after the last field")
        named = dict(zip(STRING_FIELDS, strings, strict=False))
        return cls(
            log_id=log_id,
            alert_id=alert_id,
            occurred_at=occurred,
            recorded_at=recorded,
            expires_at=expires,
            notes=strings[len(STRING_FIELDS)] if flags & NOTES_PRESENT else None,
            **named,
        )

    # Reading ---------------------------------------------------------------------------------

    def differences(self, doc: dict[str, Any]) -> list[str]:
        """Names of the fields in which an event document says something else than the signed
        bytes, or that are not signed at all (empty when the document is exactly what was
        signed)."""
        extra = sorted(set(doc) - DOC_FIELDS)
        if extra:
            return [f"{name} (not signed)" for name in extra]
        try:
            rebuilt = SignedEvent.from_doc(doc, self.hub, iso_ms(self.expires_at))
        except MalformedSignedEvent:
            return ["document"]
        return [f.name for f in fields(self) if getattr(rebuilt, f.name) != getattr(self, f.name)]


def ms(value: datetime) -> int:
    """Whole milliseconds since the epoch, truncated as the JSON documents show them."""
    return (value - EPOCH) // timedelta(milliseconds=1)


def iso_ms(value: int) -> str:
    """The JSON form of a millisecond time: `2026-11-21T09:16:17.616Z`."""
    moment = EPOCH + timedelta(milliseconds=value)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_ms(text: object) -> int:
    if not isinstance(text, str):
        raise TypeError("time")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"time without a zone: {text!r}")
    return ms(moment)
