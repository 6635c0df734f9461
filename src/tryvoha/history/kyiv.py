"""Kyiv time for statistics: local hours, calendar days and nights (22:00–06:00), with DST.

Kyiv's offset from UTC is always a whole number of hours (+2 in winter, +3 in summer), so the
local hour, day and night of any instant follow from its UTC hour alone: one lookup row per UTC
hour is exact.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

KYIV = ZoneInfo("Europe/Kyiv")
HOUR_US = 3_600_000_000
NIGHT_START = 22
NIGHT_END = 6
EPOCH_DAY = date(1970, 1, 1)


def is_night_hour(local_hour: int) -> bool:
    return local_hour >= NIGHT_START or local_hour < NIGHT_END


def day_number(d: date) -> int:
    return (d - EPOCH_DAY).days


def day_of(number: int) -> date:
    return EPOCH_DAY + timedelta(days=int(number))


def hour_table(first_hour: int, end_hour: int) -> dict[str, np.ndarray]:
    """For each UTC hour number in [first, end): the Kyiv local hour, local day and the night
    it belongs to (the date of its evening; -1 outside 22:00–06:00). Days are epoch day numbers."""
    hours = np.arange(first_hour, end_hour, dtype=np.int64)
    offsets = np.empty(len(hours), dtype=np.int64)
    # Offsets change only at DST transitions: compute them per UTC day, then fix the two days a
    # year where they change at 01:00 UTC hour by hour.
    current = None
    for i, h in enumerate(hours):
        if current is None or h % 24 in (0, 1) or i == 0:
            instant = datetime.fromtimestamp(int(h) * 3600, UTC)
            offset = instant.astimezone(KYIV).utcoffset()
            assert offset is not None  # an aware time always has one
            current = int(offset.total_seconds()) // 3600
        offsets[i] = current
    local = hours + offsets
    local_hour = (local % 24).astype(np.int16)
    local_day = (local // 24).astype(np.int32)
    night = np.where(
        local_hour >= NIGHT_START, local_day, np.where(local_hour < NIGHT_END, local_day - 1, -1)
    ).astype(np.int32)
    return {"h": hours, "local_hour": local_hour, "local_day": local_day, "night": night}


def local_midnight_us(d: date) -> int:
    return int(datetime.combine(d, time(0), KYIV).timestamp()) * 1_000_000


def bounds(kind: str, d: date) -> tuple[int, int]:
    """Start and end (µs UTC) of the Kyiv day, or of the night whose evening is `d`."""
    if kind == "day":
        return local_midnight_us(d), local_midnight_us(d + timedelta(days=1))
    start = int(datetime.combine(d, time(NIGHT_START), KYIV).timestamp()) * 1_000_000
    end = int(datetime.combine(d + timedelta(days=1), time(NIGHT_END), KYIV).timestamp())
    return start, end * 1_000_000


def _first_and_last(since_us: int, until_us: int) -> tuple[date, date]:
    first = datetime.fromtimestamp(since_us / 1e6, UTC).astimezone(KYIV).date() - timedelta(days=1)
    last = datetime.fromtimestamp(until_us / 1e6, UTC).astimezone(KYIV).date()
    return first, last


def windows(kind: str, since_us: int, until_us: int) -> dict[str, np.ndarray]:
    """Kyiv days (00:00–24:00) or nights (22:00–06:00, named by the evening's date) that overlap
    [since, until), clipped to it: columns `day` (epoch day number), `ws`, `we` (µs UTC)."""
    first, last = _first_and_last(since_us, until_us)
    out_day, out_s, out_e = [], [], []
    d = first
    while d <= last:
        start, end = bounds(kind, d)
        s, e = max(start, since_us), min(end, until_us)
        if s < e:
            out_day.append(day_number(d))
            out_s.append(s)
            out_e.append(e)
        d += timedelta(days=1)
    return {
        "day": np.array(out_day, dtype=np.int32),
        "ws": np.array(out_s, dtype=np.int64),
        "we": np.array(out_e, dtype=np.int64),
    }


def count_windows(kind: str, since_us: int, until_us: int) -> int:
    """`len(windows(kind, since, until)["day"])` without walking every day between: the windows
    that overlap a period are consecutive, so only its two ends are looked at."""
    first, last = _first_and_last(since_us, until_us)
    if (last - first).days < 8:
        return len(windows(kind, since_us, until_us)["day"])

    def overlaps(d: date) -> bool:
        start, end = bounds(kind, d)
        return start < until_us and end > since_us

    lo = next(d for d in (first + timedelta(days=i) for i in range(3)) if overlaps(d))
    hi = next(d for d in (last - timedelta(days=i) for i in range(3)) if overlaps(d))
    return (hi - lo).days + 1
