"""compat/ukrainealarm.py: the .NET TimeSpan strings of alarm durations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tryvoha.compat.ukrainealarm import timespan


def dotnet(delta: timedelta) -> str:
    """What .NET's `TimeSpan.ToString()` ("c") writes, from exact integer ticks (100 ns)."""
    ticks = max(0, delta // timedelta(microseconds=1)) * 10
    seconds, fraction = divmod(ticks, 10_000_000)
    days, rest = divmod(seconds, 86_400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    if days:
        text = f"{days}.{text}"
    return text + (f".{fraction:07d}" if fraction else "")


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "00:00:00"),
        (timedelta(seconds=59), "00:00:59"),
        (timedelta(minutes=42, seconds=7), "00:42:07"),
        (timedelta(hours=23, minutes=59, seconds=59), "23:59:59"),
        (timedelta(days=1), "1.00:00:00"),
        (timedelta(days=12, hours=3, seconds=1, milliseconds=500), "12.03:00:01.5000000"),
        (timedelta(milliseconds=1), "00:00:00.0010000"),
        (timedelta(seconds=-5), "00:00:00"),  # a clock step back never gives a negative span
    ],
)
def test_timespan(delta: timedelta, text: str) -> None:
    assert timespan(delta) == text == dotnet(delta)


@given(
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)).map(
        lambda d: timedelta(seconds=d // timedelta(seconds=1))
    )
)
def test_whole_seconds(delta: timedelta) -> None:
    assert timespan(delta) == dotnet(delta)


@pytest.mark.parametrize(
    "delta",
    [
        timedelta(milliseconds=256_229),
        timedelta(milliseconds=512_458),
        timedelta(seconds=1, microseconds=1),
        timedelta(days=400, hours=5, milliseconds=999),
        timedelta(microseconds=999_999),
    ],
)
def test_durations_in_milliseconds_are_exact(delta: timedelta) -> None:
    assert timespan(delta) == dotnet(delta)


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650)))
def test_any_duration_is_exact_to_the_microsecond(delta: timedelta) -> None:
    assert timespan(delta) == dotnet(delta)
