"""The canonical byte form of an event: what the hub signs, once per event, for every channel.

A fixed header of big-endian integers, then length-prefixed UTF-8 strings (layout and test
vectors in docs/signatures.md). Why binary and not canonical JSON: a siren controller verifies the
bytes it was sent and then reads the fields *from those verified bytes* with a few lines of C, no
JSON parser and no re-serialisation; every field has exactly one encoding, so there is nothing to
canonicalise. JSON clients get the same bytes (base64) beside the event, or rebuild them from the
event document (times are whole milliseconds, as the JSON carries them).

Layout 1, for every event that carries none of the fields of layout 2:

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

Layout 2, for an event that carries a retraction's reason and correction, or a proposal's
reference (an approved declaration names its proposal and proposer):

    0      8    magic "TRYVEVT2"
    8      40   log_id, alert_id, occurred_at, recorded_at, expires_at, as in layout 1
    48     8    proposal_id   u64, 0 unless flag bit 4
    56     8    deadline      i64 ms, 0 unless flag bit 5
    64     1    flags         bit 0 notes, 1 reason, 2 correction, 3 proposed_by, 4 proposal_id,
                              5 deadline; other bits zero; at least one of bits 1-5 set
    65     …    hub, kind, region_id, threat, status, details, originator, source, then those of
                notes, reason, correction, proposed_by that are present, in that order

An event's layout follows from its fields alone, so each event still has exactly one encoding;
events of layout 1 are signed byte for byte as before, and devices that read only layout 1 keep
working for them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from tryvoha.alerts.model import Event

MAGIC = b"TRYVEVT1"
MAGIC_V2 = b"TRYVEVT2"
HEADER = struct.Struct(">8sQQqqqB")
HEADER_V2 = struct.Struct(">8sQQqqqQqB")
LENGTH = struct.Struct(">H")
NOTES_PRESENT = 0x01
REASON_PRESENT = 0x02
CORRECTION_PRESENT = 0x04
PROPOSED_BY_PRESENT = 0x08
PROPOSAL_PRESENT = 0x10
DEADLINE_PRESENT = 0x20
V2_FLAGS = 0x3F
V2_FIELDS = 0x3E
"""The flags of layout 2's own fields: an event with none of them is encoded in layout 1."""
OPTIONAL_STRINGS = (
    ("notes", NOTES_PRESENT),
    ("reason", REASON_PRESENT),
    ("correction", CORRECTION_PRESENT),
    ("proposed_by", PROPOSED_BY_PRESENT),
)
MAX_BYTES = 16 * 1024
"""No valid event encodes larger (notes are at most 2,000 characters, a reason 500, a correction
1,000); decoders refuse more."""
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
        "reason",
        "correction",
        "proposal_id",
        "proposed_by",
        "deadline",
    }
)
"""The keys of an event document (`tryvoha.alerts.wire.event_doc`): all of them are signed."""


class MalformedSignedEvent(ValueError):
    """The bytes are not a signed event of layout 1 or 2."""


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
    reason: str | None = None
    correction: str | None = None
    proposal_id: int | None = None
    proposed_by: str | None = None
    deadline: int | None = None
    """ms, as the other times."""

    @property
    def layout(self) -> int:
        """2 when the event carries any field of layout 2, else 1."""
        extra = (self.reason, self.correction, self.proposal_id, self.proposed_by, self.deadline)
        return 1 if all(value is None for value in extra) else 2

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
            reason=event.reason,
            correction=event.correction,
            proposal_id=event.proposal_id,
            proposed_by=event.proposed_by,
            deadline=None if event.deadline is None else ms(event.deadline),
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
            optional: dict[str, Any] = {}
            for name in ("notes", "reason", "correction", "proposed_by"):
                value = doc.get(name)
                if value is not None and not isinstance(value, str):
                    raise TypeError(name)
                optional[name] = value
            proposal_id = doc.get("proposal_id")
            if proposal_id is not None and (
                not isinstance(proposal_id, int) or isinstance(proposal_id, bool)
            ):
                raise TypeError("proposal_id")
            deadline = doc.get("deadline")
            return cls(
                hub=hub,
                details=",".join(details),
                occurred_at=parse_ms(doc["occurred_at"]),
                recorded_at=parse_ms(doc["recorded_at"]),
                expires_at=parse_ms(expires_at),
                proposal_id=proposal_id,
                deadline=None if deadline is None else parse_ms(deadline),
                **optional,
                **named,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedSignedEvent(f"event document: bad or missing field {exc}") from exc

    # Bytes -----------------------------------------------------------------------------------

    def encode(self) -> bytes:
        flags = 0
        strings = [getattr(self, name) for name in STRING_FIELDS]
        for name, bit in OPTIONAL_STRINGS:
            value = getattr(self, name)
            if value is not None:
                flags |= bit
                strings.append(value)
        times = (self.log_id, self.alert_id, self.occurred_at, self.recorded_at, self.expires_at)
        if self.layout == 1:
            head = HEADER.pack(MAGIC, *times, flags)
        else:
            flags |= PROPOSAL_PRESENT if self.proposal_id is not None else 0
            flags |= DEADLINE_PRESENT if self.deadline is not None else 0
            head = HEADER_V2.pack(
                MAGIC_V2, *times, self.proposal_id or 0, self.deadline or 0, flags
            )
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
        """Strict: the magic, no unknown flag, every string whole and UTF-8, nothing left over,
        and (layout 2) no field that layout 1 could have carried alone, no value without its
        flag: one encoding per event."""
        if len(data) > MAX_BYTES:
            raise MalformedSignedEvent(f"{len(data)} bytes is more than any signed event")
        if len(data) < HEADER.size:
            raise MalformedSignedEvent("too short for a signed event")
        proposal_id = deadline = None
        if data[:8] == MAGIC_V2:
            if len(data) < HEADER_V2.size:
                raise MalformedSignedEvent("too short for a signed event")
            head = HEADER_V2.unpack_from(data)
            magic, log_id, alert_id, occurred, recorded, expires, proposal, until, flags = head
            if flags & ~V2_FLAGS:
                raise MalformedSignedEvent(f"unknown flags {flags:#04x}")
            if not flags & V2_FIELDS:
                raise MalformedSignedEvent("a layout-2 event with no field of layout 2")
            if (proposal and not flags & PROPOSAL_PRESENT) or (
                until and not flags & DEADLINE_PRESENT
            ):
                raise MalformedSignedEvent("a value in the header without its flag")
            proposal_id = proposal if flags & PROPOSAL_PRESENT else None
            deadline = until if flags & DEADLINE_PRESENT else None
            pos = HEADER_V2.size
        else:
            magic, log_id, alert_id, occurred, recorded, expires, flags = HEADER.unpack_from(data)
            if magic != MAGIC:
                raise MalformedSignedEvent(f"not a signed event (magic {magic!r})")
            if flags & ~NOTES_PRESENT:
                raise MalformedSignedEvent(f"unknown flags {flags:#04x}")
            pos = HEADER.size
        present = [name for name, bit in OPTIONAL_STRINGS if flags & bit]
        count = len(STRING_FIELDS) + len(present)
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
        # In the order of STRING_FIELDS, then the present ones of OPTIONAL_STRINGS.
        hub, kind, region_id, threat, status, details, originator, source = strings[
            : len(STRING_FIELDS)
        ]
        optional: dict[str, str | None] = {name: None for name, _ in OPTIONAL_STRINGS}
        optional.update(zip(present, strings[len(STRING_FIELDS) :], strict=True))
        return cls(
            hub=hub,
            log_id=log_id,
            alert_id=alert_id,
            kind=kind,
            region_id=region_id,
            threat=threat,
            status=status,
            details=details,
            originator=originator,
            source=source,
            notes=optional["notes"],
            occurred_at=occurred,
            recorded_at=recorded,
            expires_at=expires,
            reason=optional["reason"],
            correction=optional["correction"],
            proposal_id=proposal_id,
            proposed_by=optional["proposed_by"],
            deadline=deadline,
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
