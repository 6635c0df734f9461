"""The wire codec of an event: lossless for any event, loud about anything it cannot read."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tryvoha.alerts.model import LIVE_SOURCE, AlertStatus, Detail, Event, EventKind, Threat
from tryvoha.alerts.ranges import (
    MAX_CORRECTION,
    MAX_ID,
    MAX_KEY,
    MAX_NOTES,
    MAX_ORIGINATOR,
    MAX_REASON,
    MAX_REGION_ID,
    MAX_SOURCE,
)
from tryvoha.bus.codec import FORMAT_V1, FORMAT_V2, CodecError, decode_event, encode_event

times = st.datetimes(
    min_value=datetime(2000, 1, 2),
    max_value=datetime(2099, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=3)), timezone(timedelta(hours=-5))]),
)
allowed = st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="\ufffe\uffff")


def texts(limit: int) -> st.SearchStrategy[str]:
    """Text the log can hold: no control characters, no lone surrogates (see alerts.ranges)."""
    return st.text(allowed, max_size=limit)


events = st.builds(
    Event,
    id=st.integers(1, MAX_ID),
    kind=st.sampled_from(EventKind),
    alert_id=st.integers(1, MAX_ID),
    region_id=texts(MAX_REGION_ID),
    threat=st.sampled_from(Threat),
    status=st.sampled_from(AlertStatus),
    occurred_at=times,
    recorded_at=times,
    originator=texts(MAX_ORIGINATOR),
    details=st.lists(st.sampled_from(Detail), max_size=5).map(tuple),
    notes=st.none() | texts(MAX_NOTES),
    source=st.just(LIVE_SOURCE) | texts(MAX_SOURCE),
    idempotency_key=st.none() | texts(MAX_KEY),
    reason=st.none() | texts(MAX_REASON).filter(str.strip),
    correction=st.none() | texts(MAX_CORRECTION),
    proposal_id=st.none() | st.integers(1, MAX_ID),
    proposed_by=st.none() | texts(MAX_ORIGINATOR),
    deadline=st.none() | times,
)


def sample() -> Event:
    at = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    return Event(
        id=7,
        kind=EventKind.DECLARED,
        alert_id=7,
        region_id="UA80",
        threat=Threat.AIR_RAID,
        status=AlertStatus.ACTUAL,
        occurred_at=at,
        recorded_at=at + timedelta(microseconds=1),
        originator="kyiv-dispatch",
        details=(Detail.BALLISTIC_MISSILE,),
        idempotency_key="k-1",
    )


@given(events)
def test_round_trip_keeps_every_field(event: Event) -> None:
    data = encode_event(event)
    assert data[0] == FORMAT_V2
    back = decode_event(data)
    assert back == event
    for name in Event.__slots__:
        assert getattr(back, name) == getattr(event, name), name
    assert back.occurred_at.tzinfo is not None and back.recorded_at.tzinfo is not None


def test_format_1_written_before_is_still_read() -> None:
    """A stream written by an earlier writer holds format 1: thirteen fields, no new ones."""
    event = sample()
    fields = orjson.loads(encode_event(event)[1:])
    assert fields[13:] == [None] * 5
    back = decode_event(bytes((FORMAT_V1,)) + orjson.dumps(fields[:13]))
    assert back == event
    with pytest.raises(CodecError, match="format 1 must be a list of 13 fields"):
        decode_event(bytes((FORMAT_V1,)) + orjson.dumps(fields))


def test_retraction_and_proposal_fields_survive() -> None:
    at = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    retracted = replace(
        sample(),
        kind=EventKind.RETRACTED,
        reason="помилка оператора",
        correction="Скасовано: …\nWithdrawn: …",
    )
    proposed = replace(sample(), kind=EventKind.PROPOSED, proposal_id=7, deadline=at)
    approved = replace(sample(), proposal_id=5, proposed_by="token:a")
    for event in (retracted, proposed, approved):
        assert decode_event(encode_event(event)) == event


def test_microseconds_source_and_key_survive() -> None:
    event = sample()
    back = decode_event(memoryview(encode_event(event)))
    assert back.recorded_at.microsecond == 123457
    assert (back.source, back.idempotency_key) == (LIVE_SOURCE, "k-1")


@pytest.mark.parametrize("version", [0, 3, 0x45, 255])
def test_unknown_format_is_refused_by_name(version: int) -> None:
    data = bytes((version,)) + encode_event(sample())[1:]
    with pytest.raises(CodecError, match=rf"event format {version} is unknown here"):
        decode_event(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty event message"),
        (b"\x01{not json", "unreadable body"),
        (b"\x01" + orjson.dumps({"id": 1}), "list of 13 fields"),
        (b"\x01" + orjson.dumps([1, 2, 3]), "list of 13 fields"),
        (b"\x02" + orjson.dumps([1, 2, 3]), "list of 18 fields"),
    ],
)
def test_malformed_messages_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        decode_event(data)


@pytest.mark.parametrize(
    ("index", "value", "message"),
    [
        (0, "7", "id must be an integer"),
        (4, "meteor", "invalid field"),
        (6, 1.5, "occurred_at must be an integer"),
        (9, ["anvil"], "invalid field"),
        (10, 5, "notes must be a string"),
        (0, True, "id must be an integer"),  # JSON true is not the id 1
        (2, 7.0, "alert_id must be an integer"),
        (3, 80, "region_id must be a string"),
        (6, 2**62, "invalid field"),  # a time no datetime holds
        (9, 5, "details must be a list"),
        (11, None, "source must be a string"),
        (12, 5, "idempotency_key must be a string"),
        (1, "approved", "invalid field"),
        (13, 5, "reason must be a string"),
        (15, "7", "proposal_id must be an integer"),
        (17, 1.5, "deadline must be an integer"),
        (0, 0, "id must be an integer from 1"),
        (0, -7, "id must be an integer from 1"),
        (2, 0, "alert_id must be an integer from 1"),
        (0, MAX_ID + 1, "id must be an integer from 1"),
        (9, "", "details must be a list"),
        (9, "drones", "details must be a list"),
        (9, {}, "details must be a list"),
        (10, "bell\x07", "notes may not hold U\\+0007"),
        (8, "a\x00b", "originator may not hold U\\+0000"),
        (3, "UA" * 20, "region_id is limited to 32"),
        (6, 0, "occurred_at .* is outside the range"),  # 1970
    ],
)
def test_invalid_fields_are_refused(index: int, value: object, message: str) -> None:
    fields = orjson.loads(encode_event(sample())[1:])
    fields[index] = value
    with pytest.raises(CodecError, match=message):
        decode_event(b"\x02" + orjson.dumps(fields))


@pytest.mark.parametrize("index", [3, 8, 10, 11, 12])
def test_a_lone_surrogate_is_refused_by_name(index: int) -> None:
    """JSON may spell a lone surrogate (`\\ud800`); no such text is ever folded."""
    fields = orjson.loads(encode_event(sample())[1:])
    body = orjson.dumps(fields).replace(orjson.dumps(fields[index]), b'"x\\ud800"', 1)
    with pytest.raises(CodecError):
        decode_event(b"\x02" + body)


@pytest.mark.parametrize("field", ["notes", "originator", "region_id", "source"])
def test_an_event_that_cannot_be_encoded_is_refused_by_name(field: str) -> None:
    event = sample()
    values = {name: getattr(event, name) for name in Event.__slots__}
    values[field] = "a\udc80b"
    with pytest.raises(CodecError, match=field):
        encode_event(Event(**values))
