"""store/decode.py: a row of the log back into an Event, or the column that cannot be read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from tryvoha.alerts.model import AlertStatus, Detail, Event, EventKind, Threat
from tryvoha.store.decode import COLUMNS, UnreadableEvent, decode_event, diagnose, problems
from tryvoha.store.timeutil import to_us

T0 = datetime(2024, 3, 1, 2, 30, tzinfo=UTC)
RETRACTED = Event(
    id=7,
    kind=EventKind.RETRACTED,
    alert_id=5,
    region_id="UA80",
    threat=Threat.AIR_RAID,
    status=AlertStatus.EXERCISE,
    occurred_at=T0,
    recorded_at=T0 + timedelta(microseconds=1),
    originator="token:dispatch",
    details=(Detail.DRONES, Detail.BALLISTIC_MISSILE),
    notes="рядок\nдругий",
    source="live",
    idempotency_key="key-1",
    reason="wrong region",
    correction="Скасовано …\nWithdrawn …",
    proposal_id=3,
    proposed_by="token:anna",
    deadline=T0 + timedelta(minutes=2),
)


# RETRACTED as the events table holds it: enums as their values, details comma-joined, times in
# integer microseconds since 1970 (UTC).
ROW = {
    "id": 7,
    "kind": "retracted",
    "alert_id": 5,
    "region_id": "UA80",
    "threat": "air_raid",
    "status": "exercise",
    "details": "drones,ballistic_missile",
    "notes": "рядок\nдругий",
    "occurred_at": to_us(T0),
    "recorded_at": to_us(T0) + 1,
    "originator": "token:dispatch",
    "source": "live",
    "idempotency_key": "key-1",
    "reason": "wrong region",
    "correction": "Скасовано …\nWithdrawn …",
    "proposal_id": 3,
    "proposed_by": "token:anna",
    "deadline": to_us(T0) + 120_000_000,
}


def row(**changes: Any) -> SimpleNamespace:
    """The row of RETRACTED, with `changes` to some columns."""
    return SimpleNamespace(**{**ROW, **changes})


def test_every_column_reads_back() -> None:
    assert set(ROW) == set(COLUMNS)
    assert decode_event(row()) == RETRACTED
    assert problems(row()) == []


def test_optional_columns_read_back_as_none() -> None:
    bare = row(
        details="",
        notes=None,
        idempotency_key=None,
        reason=None,
        correction=None,
        proposal_id=None,
        proposed_by=None,
        deadline=None,
    )
    event = decode_event(bare)
    assert event.details == () and event.deadline is None and event.proposal_id is None


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("id", 0, "id must be an integer from 1"),
        ("id", "7", "id must be an integer from 1"),
        ("kind", "announced", "'announced' is not one of declared"),
        ("threat", "meteor", "'meteor' is not one of air_raid"),
        ("status", "ACTUAL", "'ACTUAL' is not one of actual"),
        ("details", "drones,rain", "'rain' is not one of"),
        ("region_id", b"\xff", "bytes that are not UTF-8 text"),
        ("notes", "a\x00b", "notes"),
        ("occurred_at", 10**20, "is not a time between years 1 and 9999"),
        ("recorded_at", to_us(datetime(1999, 12, 31, tzinfo=UTC)), "recorded_at"),
        ("deadline", 1.5, "1.5 is not an integer"),
        ("proposal_id", -1, "proposal_id must be an integer from 1"),
    ],
)
def test_an_unreadable_column_is_named_with_its_reason(
    column: str, value: Any, reason: str
) -> None:
    with pytest.raises(UnreadableEvent) as refused:
        decode_event(row(**{column: value}))
    shown_id = value if column == "id" else 7  # the id as the row holds it
    assert (refused.value.event_id, refused.value.column) == (shown_id, column)
    assert reason in refused.value.reason
    assert str(refused.value).startswith(f"event {shown_id}: column {column}: ")


def test_problems_lists_every_bad_column_in_column_order_and_diagnose_the_first() -> None:
    bad = row(source=None, kind="x", deadline="soon")
    assert [p.column for p in problems(bad)] == ["kind", "source", "deadline"]
    assert diagnose(bad).column == "kind"


def test_a_row_without_an_id_is_still_described() -> None:
    broken = SimpleNamespace(**{c: None for c in COLUMNS if c != "id"})
    found = diagnose(broken)
    assert found.event_id == "?" and found.column == "id"
