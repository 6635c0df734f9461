"""Each attack beside its alert wave, and alert hours beside the totals.

The wave of an attack: every actual air-raid alert (oblast, raion or hromada; permanent alerts of
occupied territory left out) active at some moment from an hour before the attack window to an
hour after it; a window given by date only is the whole Kyiv day. The wave runs from the first of
those alerts to the last all-clear. Per oblast: hours under alert (its alerts merged, so overlaps
count once) and the Kyiv nights (22:00–06:00) with some of it under alert; the wave's
oblast-nights are their sum (the hub holds no population figures, so nights are counted per
oblast, not per person). The peak counts oblasts under alert at the same moment.

Where the hub's alert record does not cover the window, the answer says so instead of zeros.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from tryvoha.alerts.model import LIVE_SOURCE
from tryvoha.history import kyiv
from tryvoha.history.engine import StatsEngine
from tryvoha.store import SqlStore, attack_waves
from tryvoha.store import attacks as ledger_store
from tryvoha.store.timeutil import from_us, to_us

PAD = timedelta(hours=1)
PAD_US = int(PAD.total_seconds()) * 1_000_000
US_PER_HOUR = 3_600_000_000

WAVE_TEXT = (
    "the wave: every actual air-raid alert (any oblast, raion or hromada; permanent alerts of "
    "occupied territory left out) active at some moment from 1 h before the attack window to "
    "1 h after it (a window given by date only is the whole Kyiv day), from the first alert to "
    "the last all-clear. hours: per oblast, its alerts merged (overlaps count once); "
    "whole_oblast_hours: the oblast itself under alert (all of it red on the map); nights: the "
    "Kyiv nights (22:00–06:00, named by the evening) with some of it under alert; "
    "oblast_nights: their sum over the oblasts (nights under alert counted per oblast: the hub "
    "holds no population figures); peak_oblasts: most oblasts under alert as a whole at the "
    "same moment (peak_oblasts_any_part: with any part of them)"
)
NO_RECORD = "no alert record for this date"


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """The statistics engine (caught up with the log) and the spans its record covers."""

    engine: StatsEngine
    spans: tuple[tuple[str, int, int], ...]
    now_us: int

    @classmethod
    def of(
        cls,
        engine: StatsEngine,
        store: SqlStore,
        now: datetime,
        spans: list[tuple[str, int, int | None]] | None = None,
    ) -> AlertRecord:
        """`spans` as `store.attacks.alert_record_spans` gives them (read when not passed):
        an imported record covers its first alert to its last all-clear, the live log runs
        until now."""
        now_us = to_us(now)
        found = ledger_store.alert_record_spans(store) if spans is None else spans
        covered = []
        for source, first, last in found:
            end = now_us if source == LIVE_SOURCE else last
            if end is not None and end > first:
                covered.append((source, first, end))
        return cls(engine, tuple(covered), now_us)

    def coverage(self, lo_us: int, hi_us: int) -> str:
        """`covered` when one span holds [lo, hi], `partial` when spans touch it, else `none`."""
        if any(first <= lo_us and hi_us <= last for _, first, last in self.spans):
            return "covered"
        if any(first < hi_us and lo_us < last for _, first, last in self.spans):
            return "partial"
        return "none"

    def describe(self) -> str:
        if not self.spans:
            return "the hub's alert log holds no actual air-raid alerts"
        parts = [
            f"{source}: {_local_day(first)} to {_local_day(last)}"
            for source, first, last in self.spans
        ]
        return "the hub's alert record covers " + "; ".join(parts) + " (Kyiv dates)"


def _local_day(us: int) -> str:
    return from_us(us).astimezone(kyiv.KYIV).date().isoformat()


def _iso(us: int) -> str:
    return from_us(us).isoformat()


def wave(record: AlertRecord, attack: dict[str, Any]) -> dict[str, Any]:
    """The alert wave around one attack (an attack doc or store record with starts_at/ends_at)."""
    lo, hi = attack["starts_at"] - PAD_US, attack["ends_at"] + PAD_US
    coverage = record.coverage(lo, hi)
    doc: dict[str, Any] = {
        "search_from": _iso(lo),
        "search_to": _iso(hi),
        "alert_record": coverage,
        "record_span": record.describe(),
        "definition": WAVE_TEXT,
    }
    if coverage == "none":
        return {**doc, "message": f"{NO_RECORD}: {record.describe()}"}
    if coverage == "partial":
        doc["message"] = (
            "the alert record covers only part of this window; alerts outside it are missing: "
            + record.describe()
        )
    found = attack_waves.alerts_around(record.engine, lo, hi, record.now_us)
    return {**doc, **_summarise(record.engine, found)}


def _summarise(engine: StatsEngine, found: dict[str, np.ndarray]) -> dict[str, Any]:
    n = len(found["id"])
    if n == 0:
        return {
            "alerts": 0,
            "first_alert": None,
            "last_all_clear": None,
            "hours": 0.0,
            "oblasts": [],
            "oblasts_under_alert": 0,
            "peak_oblasts": 0,
            "peak_at": None,
            "peak_oblasts_any_part": 0,
            "peak_any_part_at": None,
            "nights": [],
            "oblast_nights": 0,
        }
    started, ended = found["started"].astype(np.int64), found["ended"].astype(np.int64)
    oblast, level = found["oblast"].astype(np.int64), found["level"].astype(np.int64)
    first, last = int(started.min()), int(ended.max())
    night_windows = kyiv.windows("night", first, last)
    any_part: dict[int, list[tuple[int, int]]] = defaultdict(list)
    whole: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for o, lv, s, e in zip(
        oblast.tolist(), level.tolist(), started.tolist(), ended.tolist(), strict=True
    ):
        any_part[o].append((s, e))
        if lv == 1:
            whole[o].append((s, e))
    merged = {o: _merge(v) for o, v in any_part.items()}
    merged_whole = {o: _merge(v) for o, v in whole.items()}
    oblasts: list[dict[str, Any]] = []
    all_nights: set[int] = set()
    for o, islands in merged.items():
        region = engine.catalogue.get(engine.regions.ids[o])
        nights = _nights(islands, night_windows)
        all_nights |= nights
        oblasts.append(
            {
                "region_id": region.id,
                "name_en": region.name_en,
                "name_uk": region.name_uk,
                "alerts": int(np.count_nonzero(oblast == o)),
                "hours": sum(e - s for s, e in islands) / US_PER_HOUR,
                "whole_oblast_hours": sum(e - s for s, e in merged_whole.get(o, [])) / US_PER_HOUR,
                "first_alert": _iso(islands[0][0]),
                "last_all_clear": _iso(max(e for _, e in islands)),
                "nights": sorted(kyiv.day_of(d).isoformat() for d in nights),
            }
        )
    oblasts.sort(key=lambda x: (-x["hours"], x["name_en"]))
    peak, peak_at = _peak(merged_whole)
    peak_any, peak_any_at = _peak(merged)
    span = _merge([(s, e) for v in merged.values() for s, e in v])
    return {
        "alerts": n,
        "first_alert": _iso(first),
        "last_all_clear": _iso(last),
        "hours": (last - first) / US_PER_HOUR,
        "hours_any_alert": sum(e - s for s, e in span) / US_PER_HOUR,
        "oblasts": oblasts,
        "oblasts_under_alert": len(oblasts),
        "oblasts_whole": sum(1 for v in merged_whole.values() if v),
        "peak_oblasts": peak,
        "peak_at": None if peak_at is None else _iso(peak_at),
        "peak_oblasts_any_part": peak_any,
        "peak_any_part_at": None if peak_any_at is None else _iso(peak_any_at),
        "nights": sorted(kyiv.day_of(d).isoformat() for d in all_nights),
        "oblast_nights": sum(len(o["nights"]) for o in oblasts),
    }


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def _nights(islands: list[tuple[int, int]], windows: dict[str, np.ndarray]) -> set[int]:
    found = set()
    for day, ws, we in zip(
        windows["day"].tolist(), windows["ws"].tolist(), windows["we"].tolist(), strict=True
    ):
        if any(s < we and e > ws for s, e in islands):
            found.add(int(day))
    return found


def _peak(merged: dict[int, list[tuple[int, int]]]) -> tuple[int, int | None]:
    """Most oblasts open at one instant and the first instant it is reached (ends before starts
    at equal times, so an all-clear and a new alert at the same minute do not overlap)."""
    steps = sorted((t, d) for v in merged.values() for s, e in v for t, d in ((s, 1), (e, -1)))
    level, best, at = 0, 0, None
    for t, d in steps:
        level += d
        if level > best:
            best, at = level, t
    return best, at


# Alert hours beside the totals ------------------------------------------------------------------


def period_windows(by: str, keys: list[str]) -> dict[str, np.ndarray]:
    """Kyiv windows for totals keys: a day (calendar day), night (22:00–06:00 from that
    evening), month or year; `k` is the key's position."""
    ws, we = [], []
    for key in keys:
        if by == "day":
            d = date.fromisoformat(key)
            lo, hi = kyiv.local_midnight_us(d), kyiv.local_midnight_us(d + timedelta(days=1))
        elif by == "night":
            d = date.fromisoformat(key)
            lo = _local_us(d, kyiv.NIGHT_START)
            hi = _local_us(d + timedelta(days=1), kyiv.NIGHT_END)
        elif by == "month":
            y, m = (int(x) for x in key.split("-"))
            nxt = date(y + (m == 12), m % 12 + 1, 1)
            lo, hi = kyiv.local_midnight_us(date(y, m, 1)), kyiv.local_midnight_us(nxt)
        else:
            y = int(key)
            lo, hi = (
                kyiv.local_midnight_us(date(y, 1, 1)),
                kyiv.local_midnight_us(date(y + 1, 1, 1)),
            )
        ws.append(lo)
        we.append(hi)
    return {
        "k": np.arange(len(keys), dtype=np.int64),
        "ws": np.array(ws, dtype=np.int64),
        "we": np.array(we, dtype=np.int64),
    }


def _local_us(d: date, hour: int) -> int:
    return to_us(datetime(d.year, d.month, d.day, hour, tzinfo=kyiv.KYIV))


def add_alert_hours(record: AlertRecord, by: str, rows: list[dict[str, Any]]) -> None:
    """Give each totals row (keyed by day, night, month or year) the alert hours beside it."""
    windows = period_windows(by, [r["key"] for r in rows])
    ws, we = windows["ws"], windows["we"]
    cover = [record.coverage(lo, hi) for lo, hi in zip(ws.tolist(), we.tolist(), strict=True)]
    inside = [i for i, c in enumerate(cover) if c != "none"]
    hours = np.zeros(len(rows))
    oblasts = np.zeros(len(rows), dtype=np.int64)
    if inside:
        lo, hi = int(ws[inside].min()), int(we[inside].max())
        pieces = attack_waves.oblast_pieces(record.engine, lo, hi, record.now_us)
        hours, oblasts = _binned(ws, we, pieces)
    for i, row in enumerate(rows):
        row["alert_record"] = cover[i]
        known = cover[i] != "none"
        row["alert_oblast_hours"] = float(hours[i]) / US_PER_HOUR if known else None
        row["oblasts_under_alert"] = int(oblasts[i]) if known else None


def _binned(
    ws: np.ndarray, we: np.ndarray, pieces: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per window (sorted, disjoint): the pieces' time inside it, and how many oblasts."""
    s = pieces["s"].astype(np.int64)
    e = pieces["e"].astype(np.int64)
    oblast = pieces["oblast"].astype(np.int64)
    first = np.searchsorted(we, s, side="right")
    count = np.maximum(np.searchsorted(ws, e, side="left") - first, 0)
    which = np.repeat(np.arange(len(s)), count)
    window = np.repeat(first, count) + (
        np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    )
    inside = np.minimum(e[which], we[window]) - np.maximum(s[which], ws[window])
    keep = inside > 0
    window, inside, oblast = window[keep], inside[keep], oblast[which][keep]
    total = np.bincount(window, weights=inside, minlength=len(ws))
    pairs = np.unique(window * 1_000_000 + oblast)
    return total, np.bincount(pairs // 1_000_000, minlength=len(ws))
