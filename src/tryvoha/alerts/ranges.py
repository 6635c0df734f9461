"""The documented range of every value that enters the hub, in one place.

What the hub commits must read back and render on every surface: JSON for JavaScript clients,
XML, PostgreSQL text, datetimes converted to UTC. The ranges below are narrow enough for all of
them and wide enough for every real alert (the record starts in 2022). Commands, imports, query
parameters and the store's reading of its own rows all check against these; the README's API
section says the same in words.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tryvoha.alerts.model import Event

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
"""No time before this is accepted anywhere: commands, imports, queries, the log."""
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Times must be before this (queries may look ahead, commands at most `MAX_FUTURE`)."""
MAX_FUTURE = timedelta(minutes=5)
"""Clocks drift; an operator time further ahead of the hub's clock is a mistake, not drift."""
MAX_ID = 2**53 - 1
"""Log ids and alert ids run 1 … 2^53−1: every JSON client (JavaScript too) reads them exactly."""
MAX_NOTES = 2000
"""Characters of an alert's notes."""
MAX_REASON = 500
"""Characters of the reason for a retraction or a rejection (at least one that is not blank)."""
MAX_CORRECTION = 1000
"""Characters of the correction text the hub makes for a retraction."""
MAX_KEY = 200
"""Characters of an Idempotency-Key (printable ASCII)."""
MAX_REGION_ID = 32
MAX_REGIONS = 100
"""Regions of one multi-region declaration (all committed, or none)."""
MAX_ORIGINATOR = 200
MAX_SOURCE = 64

NOTES_RULE = (
    "at most 2000 characters of text; no control characters (newline and tab are allowed), "
    "no lone surrogates, no U+FFFE or U+FFFF"
)
KEY_RULE = "1 to 200 printable ASCII characters (space to '~')"
REASON_RULE = (
    "1 to 500 characters, not all blank; no control characters (newline and tab are allowed), "
    "no lone surrogates, no U+FFFE or U+FFFF"
)

NOTES_PATTERN = "^[^\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f\\ufffe\\uffff]*$"
"""The notes rule as a JSON Schema pattern (lone surrogates cannot be sent in UTF-8 JSON)."""
_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_KEY = re.compile("[\x20-\x7e]{1,200}")


class OutOfRange(ValueError):
    """A value outside its documented range: `field` names it, `code` and the text say why."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code
        self.message = message


def check_time(value: datetime, field: str, latest: datetime = LATEST) -> datetime:
    """`value` if it carries an offset and lies in [EARLIEST, latest); else `OutOfRange`."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise OutOfRange(
            field, "time_without_zone", f"{field} must carry a UTC offset, e.g. 'Z' or '+02:00'"
        )
    if value < EARLIEST or value >= latest:
        raise OutOfRange(
            field,
            "time_out_of_range",
            f"{field} {value.isoformat()} is outside the range the hub accepts: "
            f"{_iso(EARLIEST)} (inclusive) to {_iso(latest)} (exclusive)",
        )
    return value


def check_notes(notes: str | None, field: str = "notes") -> None:
    if notes is None:
        return
    if len(notes) > MAX_NOTES:
        message = f"{field} are limited to {MAX_NOTES} characters, not {len(notes)}"
        raise OutOfRange(field, "notes_too_long", message)
    found = _FORBIDDEN.search(notes)
    if found is not None:
        raise OutOfRange(
            field,
            "notes_invalid",
            f"{field} may not hold U+{ord(found.group()):04X} (character {found.start() + 1}): "
            f"{NOTES_RULE}",
        )


def check_reason(reason: str | None, field: str = "reason") -> str:
    """A retraction's or rejection's reason: required, 1–500 characters, the notes' rules."""
    if reason is None or not isinstance(reason, str) or not reason.strip():
        raise OutOfRange(field, "reason_missing", f"a {field} is required: {REASON_RULE}")
    if len(reason) > MAX_REASON:
        message = f"{field} is limited to {MAX_REASON} characters, not {len(reason)}"
        raise OutOfRange(field, "reason_too_long", message)
    found = _FORBIDDEN.search(reason)
    if found is not None:
        raise OutOfRange(
            field,
            "reason_invalid",
            f"{field} may not hold U+{ord(found.group()):04X} (character {found.start() + 1}): "
            f"{REASON_RULE}",
        )
    return reason


def check_key(key: str, field: str = "Idempotency-Key") -> None:
    if _KEY.fullmatch(key) is None:
        raise OutOfRange(field, "invalid_idempotency_key", f"{field} must be {KEY_RULE}")


def check_id(value: int, field: str, minimum: int = 1) -> int:
    if type(value) is not int or not minimum <= value <= MAX_ID:
        raise OutOfRange(
            field, "id_out_of_range", f"{field} must be an integer from {minimum} to {MAX_ID}"
        )
    return value


def check_text(value: str, field: str, limit: int) -> None:
    """Names and labels (originator, source, keys): bounded, and free of control characters."""
    if len(value) > limit:
        raise OutOfRange(field, "text_too_long", f"{field} is limited to {limit} characters")
    found = _FORBIDDEN.search(value)
    if found is not None:
        raise OutOfRange(field, "text_invalid", f"{field} may not hold U+{ord(found.group()):04X}")


def check_event(event: Event) -> None:
    """Everything an event holds is within range: what the store writes and what it reads back.
    (How times relate to the clock and to each other is a rule of commands, not of reading.)"""
    check_id(event.id, "id")
    check_id(event.alert_id, "alert_id")
    check_time(event.recorded_at, "recorded_at")
    check_time(event.occurred_at, "occurred_at")
    check_text(event.region_id, "region_id", MAX_REGION_ID)
    check_notes(event.notes)
    check_text(event.originator, "originator", MAX_ORIGINATOR)
    check_text(event.source, "source", MAX_SOURCE)
    if event.idempotency_key is not None:
        check_text(event.idempotency_key, "idempotency_key", MAX_KEY)
    if event.reason is not None:
        check_reason(event.reason)
    if event.correction is not None:
        check_text(event.correction, "correction", MAX_CORRECTION)
    if event.proposal_id is not None:
        check_id(event.proposal_id, "proposal_id")
    if event.proposed_by is not None:
        check_text(event.proposed_by, "proposed_by", MAX_ORIGINATOR)
    if event.deadline is not None:
        check_time(event.deadline, "deadline")


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
