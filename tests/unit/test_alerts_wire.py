"""alerts/wire.py iso(): UTC, milliseconds, `Z`, what JavaScript's Date parses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tryvoha.alerts.wire import iso

KYIV_SUMMER = timezone(timedelta(hours=3))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 3, 1, 12, 0, tzinfo=UTC), "2026-03-01T12:00:00.000Z"),
        (datetime(2026, 3, 1, 12, 0, 0, 999_999, tzinfo=UTC), "2026-03-01T12:00:00.999Z"),
        (datetime(2026, 7, 1, 2, 30, 15, 120_000, tzinfo=KYIV_SUMMER), "2026-06-30T23:30:15.120Z"),
        (datetime(2000, 1, 1, tzinfo=timezone(timedelta(hours=-5))), "2000-01-01T05:00:00.000Z"),
    ],
)
def test_iso(value: datetime, text: str) -> None:
    assert iso(value) == text


def test_none_stays_none() -> None:
    assert iso(None) is None


zones = st.sampled_from([UTC, KYIV_SUMMER, timezone(timedelta(hours=-9, minutes=-30))])


@given(
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 1, 1), timezones=zones)
)
def test_read_back_it_is_the_same_instant_to_the_millisecond(value: datetime) -> None:
    text = iso(value)
    assert len(text) == 24 and text.endswith("Z")
    back = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert timedelta(0) <= value - back < timedelta(milliseconds=1)  # truncated, never rounded up


class NoOffset(tzinfo):
    """A zone that does not know its offset: as naive as no zone at all."""

    def utcoffset(self, dt: datetime | None) -> None:
        return None


@pytest.mark.parametrize(
    "value", [datetime(2026, 3, 1, 12, 0), datetime(2026, 3, 1, 12, 0, tzinfo=NoOffset())]
)
def test_a_naive_time_is_refused_whatever_the_machine_s_zone(value: datetime) -> None:
    """Read as local time, a naive datetime would say a different instant on every machine."""
    with pytest.raises(ValueError, match="naive datetime"):
        iso(value)
