"""history/kyiv.py: Kyiv hours, days and nights (22:00–06:00) across DST changes.

The reference is zoneinfo's Europe/Kyiv, instant by instant. In 2024 summer time began on
31 March (03:00 EET → 04:00 EEST, 01:00 UTC) and ended on 27 October (04:00 EEST → 03:00 EET).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tryvoha.history.kyiv import (
    day_number,
    day_of,
    hour_table,
    is_night_hour,
    local_midnight_us,
    windows,
)

KYIV = ZoneInfo("Europe/Kyiv")
HOUR = 3600


def hour_number(at: datetime) -> int:
    return int(at.timestamp()) // HOUR


def us(at: datetime) -> int:
    return int(at.timestamp()) * 1_000_000


def kyiv(*args: int) -> datetime:
    return datetime(*args, tzinfo=KYIV)


def test_night_hours() -> None:
    assert [h for h in range(24) if is_night_hour(h)] == [0, 1, 2, 3, 4, 5, 22, 23]


@given(st.dates(min_value=date(1970, 1, 1), max_value=date(2100, 1, 1)))
def test_day_numbers(d: date) -> None:
    assert day_of(day_number(d)) == d
    assert day_number(d) == (d - date(1970, 1, 1)).days


def check_table(first: int, end: int) -> None:
    table = hour_table(first, end)
    assert list(table["h"]) == list(range(first, end))
    for i, h in enumerate(range(first, end)):
        local = datetime.fromtimestamp(h * HOUR, UTC).astimezone(KYIV)
        assert table["local_hour"][i] == local.hour, local
        assert day_of(table["local_day"][i]) == local.date(), local
        evening = local.date() - timedelta(days=1) if local.hour < 6 else local.date()
        night = day_number(evening) if is_night_hour(local.hour) else -1
        assert table["night"][i] == night, local


@pytest.mark.parametrize(
    ("first", "end"),
    [
        (datetime(2024, 3, 30, 0, tzinfo=UTC), datetime(2024, 4, 2, 0, tzinfo=UTC)),
        (datetime(2024, 10, 26, 0, tzinfo=UTC), datetime(2024, 10, 29, 0, tzinfo=UTC)),
        # starting in the very hour of the change, and just before and after it
        (datetime(2024, 3, 31, 1, tzinfo=UTC), datetime(2024, 3, 31, 5, tzinfo=UTC)),
        (datetime(2024, 3, 31, 0, tzinfo=UTC), datetime(2024, 3, 31, 2, tzinfo=UTC)),
        (datetime(2024, 10, 27, 1, tzinfo=UTC), datetime(2024, 10, 27, 3, tzinfo=UTC)),
        (datetime(2024, 10, 27, 2, tzinfo=UTC), datetime(2024, 10, 27, 23, tzinfo=UTC)),
        (datetime(2022, 2, 24, 0, tzinfo=UTC), datetime(2023, 1, 1, 0, tzinfo=UTC)),
    ],
)
def test_the_hour_table_is_zoneinfo_hour_by_hour(first: datetime, end: datetime) -> None:
    check_table(hour_number(first), hour_number(end))


@settings(max_examples=40, deadline=None)
@given(
    first=st.integers(
        hour_number(datetime(2000, 1, 1, tzinfo=UTC)), hour_number(datetime(2040, 1, 1, tzinfo=UTC))
    ),
    length=st.integers(0, 24 * 40),
)
def test_the_hour_table_anywhere(first: int, length: int) -> None:
    check_table(first, first + length)


def test_the_spring_night_is_seven_hours_and_the_autumn_one_nine() -> None:
    spring = windows("night", us(kyiv(2024, 3, 30, 12)), us(kyiv(2024, 3, 31, 12)))
    autumn = windows("night", us(kyiv(2024, 10, 26, 12)), us(kyiv(2024, 10, 27, 12)))
    for got, evening, hours in ((spring, date(2024, 3, 30), 7), (autumn, date(2024, 10, 26), 9)):
        assert [day_of(d) for d in got["day"]] == [evening]
        assert (got["we"][0] - got["ws"][0]) == hours * HOUR * 1_000_000
        assert got["ws"][0] == us(kyiv(evening.year, evening.month, evening.day, 22))


def test_days_of_23_and_25_hours() -> None:
    got = windows("day", us(kyiv(2024, 3, 30)), us(kyiv(2024, 4, 1)))
    assert [day_of(d) for d in got["day"]] == [date(2024, 3, 30), date(2024, 3, 31)]
    assert [
        int(e - s) // (HOUR * 1_000_000) for s, e in zip(got["ws"], got["we"], strict=True)
    ] == [24, 23]
    got = windows("day", us(kyiv(2024, 10, 27)), us(kyiv(2024, 10, 28)))
    assert (got["we"][0] - got["ws"][0]) == 25 * HOUR * 1_000_000
    assert local_midnight_us(date(2024, 10, 28)) == us(datetime(2024, 10, 27, 22, tzinfo=UTC))


def test_windows_are_clipped_to_the_range_and_named_by_the_evening() -> None:
    since, until = us(kyiv(2024, 6, 1, 3)), us(kyiv(2024, 6, 2, 23))
    nights = windows("night", since, until)
    assert [day_of(d) for d in nights["day"]] == [
        date(2024, 5, 31),
        date(2024, 6, 1),
        date(2024, 6, 2),
    ]
    assert list(nights["ws"]) == [since, us(kyiv(2024, 6, 1, 22)), us(kyiv(2024, 6, 2, 22))]
    assert list(nights["we"]) == [us(kyiv(2024, 6, 1, 6)), us(kyiv(2024, 6, 2, 6)), until]
    days = windows("day", since, until)
    assert [day_of(d) for d in days["day"]] == [date(2024, 6, 1), date(2024, 6, 2)]
    assert days["ws"][0] == since and days["we"][-1] == until
    daytime = windows("night", us(kyiv(2024, 6, 1, 7)), us(kyiv(2024, 6, 1, 21)))
    assert len(daytime["day"]) == 0


@settings(max_examples=60, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2022, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    span=st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=9)),
    kind=st.sampled_from(["day", "night"]),
)
def test_windows_cover_exactly_the_matching_hours(
    start: datetime, span: timedelta, kind: str
) -> None:
    """Whole UTC hours inside [since, until): in some window iff Kyiv calls them day / night,
    and then in the window of the day / evening the hour table names."""
    since = us(start.replace(minute=0, second=0, microsecond=0))
    until = since + int(span / timedelta(hours=1)) * HOUR * 1_000_000
    got = windows(kind, since, until)
    assert all(since <= s < e <= until for s, e in zip(got["ws"], got["we"], strict=True))
    assert list(got["ws"]) == sorted(got["ws"]) and all(got["we"][:-1] <= got["ws"][1:])
    first = since // (HOUR * 1_000_000)
    table = hour_table(first, until // (HOUR * 1_000_000))
    column = table["local_day"] if kind == "day" else table["night"]
    for i, h in enumerate(table["h"]):
        at = int(h) * HOUR * 1_000_000
        holding = [
            int(d) for d, s, e in zip(got["day"], got["ws"], got["we"], strict=True) if s <= at < e
        ]
        assert holding == ([] if column[i] == -1 else [int(column[i])]), h
