"""Statistics against figures computed independently, in plain Python, from the CSV itself."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tryvoha.history import stats
from tryvoha.history.engine import StatsEngine
from tryvoha.history.importer import import_file
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore

from .conftest import SHARED

OFFICIAL = SHARED / "data" / "alerts" / "official_data_en.csv"
KYIV = ZoneInfo("Europe/Kyiv")
NOW = datetime(2024, 1, 1, tzinfo=UTC)
CASES = [
    ("Kyiv City", datetime(2023, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)),
    ("Kharkivska oblast", datetime(2022, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)),
    ("Lvivska oblast", datetime(2022, 10, 10, tzinfo=UTC), datetime(2022, 10, 11, 6, tzinfo=UTC)),
    ("Dnipropetrovska oblast", datetime(2023, 3, 1, tzinfo=UTC), datetime(2023, 11, 1, tzinfo=UTC)),
    ("Zaporizka oblast", datetime(2022, 6, 1, 12, tzinfo=UTC), datetime(2022, 9, 1, tzinfo=UTC)),
]


@pytest.fixture(scope="module")
def engine(catalogue: Catalogue, tmp_path_factory: pytest.TempPathFactory) -> StatsEngine:
    url = f"sqlite:///{tmp_path_factory.mktemp('stats') / 'hub.db'}"
    hub = Hub(catalogue, SqlStore(url))
    hub.load()
    asyncio.run(import_file(hub, "official", OFFICIAL))
    engine = StatsEngine(catalogue, hub.store)
    engine.refresh()
    hub.close()
    return engine


def _rows(oblast: str) -> list[tuple[datetime, datetime]]:
    with OFFICIAL.open() as fh:
        return [
            (datetime.fromisoformat(r["started_at"]), datetime.fromisoformat(r["finished_at"]))
            for r in csv.DictReader(fh)
            if oblast in (r["oblast"], r["raion"])  # one row has oblast and raion swapped
        ]


def _union(intervals: list[tuple[datetime, datetime]]) -> list[list[datetime]]:
    merged: list[list[datetime]] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return merged


def _nights(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    d = since.astimezone(KYIV).date() - timedelta(days=1)
    out = []
    while d <= until.astimezone(KYIV).date():
        s = datetime(d.year, d.month, d.day, 22, tzinfo=KYIV)
        n = d + timedelta(days=1)
        e = datetime(n.year, n.month, n.day, 6, tzinfo=KYIV)
        s, e = max(s, since), min(e, until)
        if s < e:
            out.append((s, e))
        d = n
    return out


def _quantile(values: list[float], q: float) -> float:
    values = sorted(values)
    pos = (len(values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def _expected(oblast: str, since: datetime, until: datetime) -> dict:
    rows = _rows(oblast)
    counted = [(s, e) for s, e in rows if since <= s < until]
    clipped = [(max(s, since), min(e, until)) for s, e in rows if s < until and e > since]
    islands = _union(clipped)
    total = sum(((e - s) for s, e in islands), timedelta())
    night_total = timedelta()
    nights_hit = 0
    for ns, ne in _nights(since, until):
        part = sum((min(e, ne) - max(s, ns) for s, e in islands if s < ne and e > ns), timedelta())
        night_total += part
        nights_hit += any(s < ne and e > ns for s, e in islands)
    hours = [0] * 24
    for s, _ in counted:
        hours[s.astimezone(KYIV).hour] += 1
    minutes = [(e - s).total_seconds() / 60 for s, e in counted]
    return {
        "alerts": len(counted),
        "night_alerts": sum(hours[h] for h in (22, 23, 0, 1, 2, 3, 4, 5)),
        "hours": total / timedelta(hours=1),
        "night_hours": night_total / timedelta(hours=1),
        "nights_with_alert": nights_hit,
        "start_hours": hours,
        "median": _quantile(minutes, 0.5),
        "p90": _quantile(minutes, 0.9),
        "max": max(minutes),
    }


@pytest.mark.parametrize(("oblast", "since", "until"), CASES)
def test_summary_matches_the_csv(
    engine: StatsEngine, catalogue: Catalogue, oblast: str, since: datetime, until: datetime
) -> None:
    region = catalogue.resolve(oblast, level="oblast")
    got = stats.summary(engine, stats.Scope(region.id, since, until, now=NOW))
    want = _expected(oblast, since, until)
    assert got.alerts == want["alerts"] > 0
    assert got.night_alerts == want["night_alerts"]
    assert got.start_hours == want["start_hours"]
    assert got.hours == pytest.approx(want["hours"], abs=1e-9)
    assert got.night_hours == pytest.approx(want["night_hours"], abs=1e-9)
    assert got.nights_with_alert == want["nights_with_alert"]
    for key in ("median", "p90", "max"):
        assert got.duration_minutes[key] == pytest.approx(want[key], rel=1e-12)


def test_descendants_union_counts_overlap_once(engine: StatsEngine, catalogue: Catalogue) -> None:
    """Oblast-level time alone is less than with its raions/hromadas, and never more than the
    sum of the parts."""
    region = catalogue.resolve("Kharkivska oblast", level="oblast")
    since, until = datetime(2022, 1, 1, tzinfo=UTC), NOW
    alone = stats.summary(engine, stats.Scope(region.id, since, until, descendants=False, now=NOW))
    tree = stats.summary(engine, stats.Scope(region.id, since, until, now=NOW))
    assert alone.alerts < tree.alerts
    assert alone.hours < tree.hours
    hromada_rows = [
        (datetime.fromisoformat(r["started_at"]), datetime.fromisoformat(r["finished_at"]))
        for r in csv.DictReader(OFFICIAL.open())
        if r["oblast"] == "Kharkivska oblast" and r["level"] == "oblast"
    ]
    assert alone.alerts == len(hromada_rows)


def test_longest_and_calendar_agree_with_the_csv(engine: StatsEngine, catalogue: Catalogue) -> None:
    since, until = CASES[0][1], CASES[0][2]
    region = catalogue.resolve("Kyiv City", level="oblast")
    scope = stats.Scope(region.id, since, until, now=NOW)
    rows = [(s, e) for s, e in _rows("Kyiv City") if since <= s < until]
    top = stats.longest(engine, scope, 3)
    want = sorted(((e - s) / timedelta(hours=1) for s, e in rows), reverse=True)[:3]
    assert [a["hours"] for a in top] == pytest.approx(want, rel=1e-12)
    days = stats.calendar(engine, scope)
    # A UTC year spans 366 Kyiv days in part (Kyiv is ahead): each clipped to the period.
    assert (days[0]["date"], days[-1]["date"], len(days)) == ("2023-01-01", "2024-01-01", 366)
    assert sum(d["alerts"] for d in days) == len(rows)
    total = stats.summary(engine, scope).hours
    assert sum(d["hours"] for d in days) == pytest.approx(total, abs=1e-6)


def test_nationwide_nights_match_a_plain_sweep(engine: StatsEngine, catalogue: Catalogue) -> None:
    since, until = datetime(2022, 10, 1, tzinfo=UTC), datetime(2023, 3, 1, tzinfo=UTC)
    got = stats.nationwide(engine, since, until, now=NOW)
    with OFFICIAL.open() as fh:
        obl = [
            (
                r["oblast"],
                datetime.fromisoformat(r["started_at"]),
                datetime.fromisoformat(r["finished_at"]),
            )
            for r in csv.DictReader(fh)
            if r["level"] == "oblast"
        ]
    in_service = len({o for o, _, _ in obl})  # Luhansk's one ordinary alert counts it in …
    for row in got[::7] + [r for r in got if r["nationwide"]]:
        d = datetime.fromisoformat(row["night"])
        ns = datetime(d.year, d.month, d.day, 22, tzinfo=KYIV)
        ne = (
            ns + timedelta(hours=8)
            if ns.utcoffset() == (ns + timedelta(hours=8)).utcoffset()
            else (
                datetime(d.year, d.month, d.day, tzinfo=KYIV) + timedelta(days=1, hours=6)
            ).astimezone(UTC)
        )
        ns, ne = max(ns, since), min(ne, until)
        steps = []
        for _, s, e in obl:
            s, e = max(s, ns), min(e, ne)
            if s < e:
                steps += [(s, 1), (e, -1)]
        steps.sort(key=lambda x: (x[0], x[1]))
        level = peak = 0
        for _, delta in steps:
            level += delta
            peak = max(peak, level)
        assert row["max_oblasts"] == peak, row
        assert row["oblasts_in_service"] == in_service - 1  # … until its permanent alert
        assert row["nationwide"] == (peak >= in_service - 1)
    assert any(r["nationwide"] for r in got)


def test_scope_errors_name_the_problem(engine: StatsEngine) -> None:
    with pytest.raises(stats.StatsError, match="empty"):
        stats.summary(engine, stats.Scope("UA", NOW, NOW - timedelta(days=1)))
    with pytest.raises(stats.StatsError, match="no region"):
        stats.summary(engine, stats.Scope("nowhere", NOW - timedelta(days=1), NOW))


def test_engine_follows_the_log(catalogue: Catalogue, tmp_path: Path) -> None:
    """After a refresh the engine sees newly appended alerts, without a full reload."""
    import numpy as np

    engine = StatsEngine(catalogue)
    kyiv = catalogue.resolve("Kyiv City", level="oblast").id
    i = engine.regions.index[kyiv]
    h = 3_600_000_000
    t0 = int(datetime(2023, 6, 1, tzinfo=UTC).timestamp()) * 1_000_000
    engine.load_arrays(
        np.array([1, 2, 3]),
        np.array([i, i, i]),
        "air_raid",
        "actual",
        np.array([t0, t0 + 2 * h, t0 + 10 * h]),
        np.array([t0 + h, t0 + 3 * h, -1]),
    )
    scope = stats.Scope(
        kyiv,
        datetime(2023, 6, 1, tzinfo=UTC),
        datetime(2023, 6, 2, tzinfo=UTC),
        now=datetime(2023, 6, 1, 12, tzinfo=UTC),
    )
    result = stats.summary(engine, scope)
    assert result.alerts == 3
    assert result.hours == pytest.approx(4.0)  # 1 + 1 + the open alert's 2 hours until now


def test_a_century_gives_the_figures_of_the_record_within_it(
    engine: StatsEngine, catalogue: Catalogue
) -> None:
    """The whole documented range, 2000 to 2100: the same figures as the record's own span,
    every night of the century counted, and calendar and nationwide rows only where the record
    is (the work is done for the record's span, not for a hundred years of empty hours)."""
    region = catalogue.resolve("Kharkivska oblast", level="oblast")
    century = stats.Scope(
        region.id, datetime(2000, 1, 1, tzinfo=UTC), datetime(2099, 12, 31, tzinfo=UTC), now=NOW
    )
    first, last = engine.span()
    record = stats.Scope(
        region.id, stats.from_us(first), max(stats.from_us(last), NOW) + timedelta(days=1), now=NOW
    )
    wide, narrow = stats.summary(engine, century).doc(), stats.summary(engine, record).doc()
    for key in ("since", "until", "nights_in_period"):
        wide.pop(key), narrow.pop(key)
    assert wide == narrow and wide["alerts"] > 1000
    nights = stats.summary(engine, century).nights_in_period
    assert nights == len(_nights(century.since, century.until)) == 36524 + 1
    days = stats.calendar(engine, century)
    assert days[0]["date"] == stats.from_us(first).astimezone(KYIV).date().isoformat()
    assert days[-1]["date"] <= NOW.astimezone(KYIV).date().isoformat()
    assert sum(d["alerts"] for d in days) == wide["alerts"]
    rows = stats.nationwide(engine, century.since, century.until, now=NOW)
    assert rows == stats.nationwide(engine, record.since, record.until, now=NOW)


def test_a_period_outside_the_record_is_empty_not_an_error(engine: StatsEngine) -> None:
    since, until = datetime(2001, 1, 1, tzinfo=UTC), datetime(2010, 1, 1, tzinfo=UTC)
    got = stats.summary(engine, stats.Scope("UA", since, until, now=NOW))
    assert (got.alerts, got.hours, got.nights_with_alert, got.episodes) == (0, 0.0, 0, 0)
    assert got.nights_in_period == len(_nights(since, until))
    assert stats.calendar(engine, stats.Scope("UA", since, until, now=NOW)) == []
    assert stats.nationwide(engine, since, until, now=NOW) == []
