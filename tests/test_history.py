"""Import, replay and the statistics API: behaviour on small files and the real record."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tryvoha.alerts.model import Event, EventKind
from tryvoha.api.app import create_app
from tryvoha.config import Settings
from tryvoha.history import bundled, replay
from tryvoha.history.importer import PERMANENT_ALERTS, import_file
from tryvoha.history.sources import read_official
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore

from .conftest import SHARED

OFFICIAL = SHARED / "data" / "alerts" / "official_data_en.csv"
HEADER = "oblast,raion,hromada,level,started_at,finished_at,source\n"


def _write(tmp_path: Path, lines: list[str], name: str = "rows.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(line + "\n" for line in lines))
    return path


GOOD = [
    "Kyiv City,,,oblast,2023-03-09 01:00:00+00:00,2023-03-09 02:00:00+00:00,official",
    "Cherkaska oblast,Umanskyi raion,Umanska terytorialna hromada,hromada,"
    "2023-03-09 01:10:00+00:00,2023-03-09 01:40:00+00:00,official",
    "Poltavska oblast,Lubenskyi raion,,raion,2023-03-09 03:00:00+00:00,"
    "2023-03-09 03:30:00+00:00,official",
]
BAD = [
    "Atlantis oblast,,,oblast,2023-03-09 01:00:00+00:00,2023-03-09 02:00:00+00:00,official",
    "Lvivska oblast,,,oblast,2023-03-09 05:00:00+00:00,2023-03-09 04:00:00+00:00,official",
    "Kyiv City,,,oblast,2023-03-09 01:30:00+00:00,2023-03-09 02:30:00+00:00,official",
    "Lvivska oblast,,,oblast,yesterday,2023-03-09 04:00:00+00:00,official",
]


async def test_import_reports_the_file_s_lines_after_a_quoted_line_break(
    hub: Hub, tmp_path: Path
) -> None:
    """A source field quoted over three lines: later problems still name their own lines."""
    kyiv = GOOD[0].removesuffix(",official") + ',"Air Force\ncommand\nTelegram"'
    lines = [kyiv, GOOD[1], BAD[0], BAD[2]]
    report = await import_file(hub, "official", _write(tmp_path, lines), permanent=False)
    reasons = {p.line: p.reason for p in report.problems}
    assert set(reasons) == {6, 7}, reasons  # the header, Kyiv on lines 2-4, Umanska on 5
    assert "unknown place 'Atlantis oblast'" in reasons[6]
    assert "overlaps the alert of line 2" in reasons[7]


async def test_import_reports_bad_rows_and_takes_the_rest(hub: Hub, tmp_path: Path) -> None:
    report = await import_file(hub, "official", _write(tmp_path, GOOD + BAD), permanent=False)
    assert report.imported == 3
    assert report.events == 6 == hub.last_event_id
    reasons = {p.line: p.reason for p in report.problems}
    assert set(reasons) == {5, 6, 7, 8}
    assert "unknown place 'Atlantis oblast'" in reasons[5]
    assert "ends before it starts" in reasons[6]
    assert "overlaps the alert of line 2" in reasons[7]
    assert "unreadable time" in reasons[8]
    assert hub.open_alerts() == []
    kinds = [e.kind for e in hub.store.events_after(0)]
    assert kinds == [EventKind.DECLARED, EventKind.ENDED] * 3
    assert {e.source for e in hub.store.events_after(0)} == {"import:official"}


async def test_reimport_adds_nothing_and_overlap_with_the_log_is_refused(
    hub: Hub, tmp_path: Path
) -> None:
    path = _write(tmp_path, GOOD)
    await import_file(hub, "official", path, permanent=False)
    again = await import_file(hub, "official", path, permanent=False)
    assert (again.imported, again.already, again.events) == (0, 3, 0)
    assert hub.last_event_id == 6
    clash = _write(tmp_path, [BAD[2]], "clash.csv")
    third = await import_file(hub, "official", clash, permanent=False)
    assert third.imported == 0
    assert "already in the log" in third.problems[0].reason


async def test_imported_history_is_never_delivered_as_live(hub: Hub, tmp_path: Path) -> None:
    live: list[Event] = []
    everything: list[Event] = []
    hub.bus.subscribe(live.append)
    hub.bus.subscribe(everything.append, whole_log=True)
    await import_file(hub, "official", _write(tmp_path, GOOD), permanent=False)
    assert live == []
    assert len(everything) == 6
    assert not any(e.is_live for e in everything)


async def test_permanent_alerts_are_open_and_added_once(hub: Hub, tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    first = await import_file(hub, "official", path)
    assert first.permanent == 2
    open_regions = {a.region_id for a in hub.open_alerts()}
    assert open_regions == {p.region_id for p in PERMANENT_ALERTS}
    second = await import_file(hub, "official", path)
    assert second.permanent == 0
    hub.load()  # the fold of the log agrees
    assert {a.region_id for a in hub.open_alerts()} == open_regions


def test_every_row_of_the_official_record_resolves(catalogue: Catalogue) -> None:
    items = list(read_official(OFFICIAL, catalogue))
    with OFFICIAL.open() as fh:
        assert len(items) == sum(1 for _ in csv.DictReader(fh))
    assert [i for i in items if not hasattr(i, "region_id")] == []


def _first_start(catalogue: Catalogue, url: str) -> Hub:
    """A hub on an empty database after its first start's import (timed in bench_history.py)."""
    hub = Hub(catalogue, SqlStore(url))
    hub.load()
    bundled.load_bundled_history(hub, Settings(db=url), bundled.Console(quiet=True))
    return hub


def test_first_start_loads_the_bundled_record_once(catalogue: Catalogue, sqlite_url: str) -> None:
    hub = _first_start(catalogue, sqlite_url)
    try:
        with OFFICIAL.open() as fh:
            rows = sum(1 for _ in csv.DictReader(fh))
        assert hub.last_event_id == 2 * rows + len(PERMANENT_ALERTS)
        assert bundled.load_bundled_history(hub, Settings(db=sqlite_url), bundled.Console()) is None
    finally:
        hub.close()


@pytest.mark.postgres
def test_bundled_record_loads_into_postgres(catalogue: Catalogue, postgres_url: str) -> None:
    hub = _first_start(catalogue, postgres_url)
    try:
        assert hub.last_event_id > 69_000
        again = asyncio.run(import_file(hub, "official", bundled.OFFICIAL_DATA))
        assert again.events == 0
    finally:
        hub.close()


def test_hook_respects_no_history(catalogue: Catalogue, sqlite_url: str) -> None:
    hub = Hub(catalogue, SqlStore(sqlite_url))
    try:
        settings = Settings(db=sqlite_url, load_history=False)
        assert bundled.load_bundled_history(hub, settings, bundled.Console(quiet=True)) is None
        assert hub.last_event_id == 0
    finally:
        hub.close()


# The statistics API -------------------------------------------------------------------------


async def test_stats_over_the_whole_documented_range(
    hub: Hub, settings: Settings, tmp_path: Path
) -> None:
    """2000 to 2100: the record's figures; calendar and nationwide rows where the record is."""
    await import_file(hub, "official", _write(tmp_path, GOOD), permanent=False)
    app = create_app(hub, settings)
    century = {"from": "2000-01-01T00:00:00Z", "to": "2099-12-31T00:00:00Z"}
    record = {"from": "2023-03-08T00:00:00Z", "to": "2023-03-10T00:00:00Z"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h") as c:
        wide = (await c.get("/api/v1/stats/summary", params=century)).json()
        narrow = (await c.get("/api/v1/stats/summary", params=record)).json()
        assert wide["nights_in_period"] == 36525 and narrow["nights_in_period"] == 3
        for key in ("alerts", "hours", "night_hours", "episodes", "start_hours"):
            assert wide[key] == narrow[key], key
        days = (await c.get("/api/v1/stats/calendar", params=century)).json()["days"]
        assert [d["date"] for d in days if d["alerts"]] == ["2023-03-09"]
        assert days[0]["date"] == "2023-03-09"
        rows = (await c.get("/api/v1/stats/nationwide", params=century)).json()["rows"]
        assert rows and rows[0]["night"] == "2023-03-08"
        r = await c.get("/api/v1/stats/charts/calendar.png", params=century)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"


async def test_stats_api(hub: Hub, settings: Settings, tmp_path: Path) -> None:
    await import_file(hub, "official", _write(tmp_path, GOOD), permanent=False)
    app = create_app(hub, settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h") as c:
        period = {"from": "2023-03-08T00:00:00Z", "to": "2023-03-10T00:00:00Z"}
        r = await c.get("/api/v1/stats/summary", params={"region": "Kyiv City", **period})
        assert r.status_code == 200, r.text
        doc = r.json()
        assert (doc["alerts"], doc["hours"], doc["night_alerts"]) == (1, 1.0, 1)
        r = await c.get("/api/v1/stats/summary", params=period)
        assert r.json()["alerts"] == 3
        assert r.json()["hours"] == pytest.approx(1.5)  # 01:00–02:00 ∪ 01:10–01:40, 03:00–03:30
        r = await c.get("/api/v1/stats/longest", params={"limit": 2, **period})
        assert [a["hours"] for a in r.json()["alerts"]] == [1.0, 0.5]
        r = await c.get("/api/v1/stats/calendar", params=period)
        assert sum(d["alerts"] for d in r.json()["days"]) == 3
        r = await c.get("/api/v1/stats/nationwide", params=period)
        assert r.status_code == 200 and r.json()["rows"]
        for fmt, mime in (("png", "image/png"), ("svg", "image/svg+xml")):
            r = await c.get(f"/api/v1/stats/charts/start-hours.{fmt}", params=period)
            assert r.status_code == 200 and r.headers["content-type"].startswith(mime)
            assert len(r.content) > 1000
        r = await c.get("/api/v1/stats/charts/calendar.svg", params=period)
        assert r.content.lstrip().startswith(b"<?xml")
        # Bad input: 4xx JSON naming the problem.
        r = await c.get("/api/v1/stats/summary", params={"region": "Atlantis"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_region"
        r = await c.get(
            "/api/v1/stats/summary",
            params={"from": "2023-03-10T00:00:00Z", "to": "2023-03-09T00:00:00Z"},
        )
        assert r.status_code == 422 and "empty" in r.json()["error"]["message"]
        r = await c.get("/api/v1/stats/summary", params={"from": "2023-03-10T00:00:00"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "time_without_zone"
        r = await c.get("/api/v1/stats/charts/start-hours.gif")
        assert r.status_code == 404
        # The engine follows the log: a live alert now shows up.
        await import_file(
            hub,
            "official",
            _write(tmp_path, [BAD[1].replace("05:00", "03:00")], "more.csv"),
            permanent=False,
        )
        r = await c.get("/api/v1/stats/summary", params=period)
        assert r.json()["alerts"] == 4


# Replay ---------------------------------------------------------------------------------------


async def test_replay_reenacts_a_period_as_live_events(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    rows = [r for r in read_official(_write(tmp_path, GOOD), catalogue)]
    since = datetime(2023, 3, 9, 1, 5, tzinfo=UTC)
    until = datetime(2023, 3, 9, 3, 15, tzinfo=UTC)
    plan = replay.steps(rows, since, until)
    # Kyiv is already running at 01:05 (declared first), the hromada starts and ends inside,
    # the raion starts but does not end before 03:15.
    assert [(s.declare, s.row.line) for s in plan] == [
        (True, 2),
        (True, 3),
        (False, 3),
        (False, 2),
        (True, 4),
    ]
    hub = Hub(catalogue, SqlStore(f"sqlite:///{tmp_path / 'demo.db'}"))
    hub.load()
    replay.claim_demo_log(hub.store)
    live: list[Event] = []
    hub.bus.subscribe(live.append)
    waits: list[float] = []
    fake_now = [0.0]

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        fake_now[0] += seconds

    report = await replay.replay(hub, plan, since, speed=60, sleep=sleep, clock=lambda: fake_now[0])
    assert (report.declared, report.ended, report.skipped) == (3, 2, 0)
    assert [e.kind for e in live] == [EventKind.DECLARED] * 2 + [EventKind.ENDED] * 2 + [
        EventKind.DECLARED
    ]
    assert all(e.is_live for e in live)
    assert sum(waits) == pytest.approx((plan[-1].at - since).total_seconds() / 60)
    assert len(hub.open_alerts()) == 1
    hub.close()


def test_replay_refuses_a_real_log(hub: Hub) -> None:
    asyncio.run(import_file(hub, "official", _write_tmp(GOOD), permanent=False))
    with pytest.raises(replay.NotADemoLog, match="not a demo log"):
        replay.claim_demo_log(hub.store)
    replay.claim_demo_log(hub.store, force=True)
    replay.claim_demo_log(hub.store)  # once marked, no force needed


def _write_tmp(lines: list[str]) -> Path:
    import tempfile

    return _write(Path(tempfile.mkdtemp()), lines)


# CLI ------------------------------------------------------------------------------------------


def test_cli_import_and_stats(tmp_path: Path) -> None:
    from tryvoha.cli import app

    db = str(tmp_path / "cli.db")
    runner = CliRunner()
    path = _write(tmp_path, GOOD + BAD)
    result = runner.invoke(app, ["import", "official", str(path), "--db", db])
    assert result.exit_code == 0, result.output
    assert "line 5" in result.output and "unknown place" in result.output
    period = ["--from", "2023-03-08T00:00:00+00:00", "--to", "2023-03-10T00:00:00+00:00"]
    result = runner.invoke(app, ["stats", "Kyiv City", *period, "--db", db, "--csv"])
    assert result.exit_code == 0, result.output
    row = next(csv.DictReader(result.stdout.splitlines()))
    assert (row["alerts"], float(row["hours"])) == ("1", 1.0)
    chart = tmp_path / "hours.svg"
    result = runner.invoke(app, ["stats", *period, "--db", db, "--chart", str(chart)])
    assert result.exit_code == 0, result.output
    assert chart.read_bytes().lstrip().startswith(b"<?xml")
    result = runner.invoke(app, ["stats", "--nationwide", *period, "--db", db, "--json"])
    assert result.exit_code == 0 and '"max_oblasts"' in result.output
    result = runner.invoke(
        app, ["replay", "--from", "2023-03-09T01:00Z", "--to", "2023-03-09T01:01Z", "--db", db]
    )
    assert result.exit_code == 2 and "not a demo log" in result.output


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("│").split("│")]


def test_cli_stats_prints_each_start_hour_count_under_its_own_hour(tmp_path: Path) -> None:
    """Kyiv is UTC+2 in early March 2023: alerts starting at 03, 14 (twice) and 23 (three times)
    Kyiv time are counted under those hours, the afternoon ones in the block of 12 to 23."""
    from tryvoha.cli import app

    starts = ["01 01:00", "01 12:00", "02 12:00", "01 21:10", "02 21:10", "03 21:10"]
    rows = [
        f"Kyiv City,,,oblast,2023-03-{day} {at}:00+00:00,2023-03-{day} {at[:3]}40:00+00:00,official"
        for day, at in (start.split() for start in starts)
    ]
    db = str(tmp_path / "hours.db")
    runner = CliRunner()
    imported = runner.invoke(app, ["import", "official", str(_write(tmp_path, rows)), "--db", db])
    assert imported.exit_code == 0, imported.output
    period = ["--from", "2023-03-01", "--to", "2023-03-05"]
    result = runner.invoke(app, ["stats", "Kyiv City", *period, "--db", db], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = [_cells(line) for line in result.stdout.splitlines() if line.startswith("│")]
    counts: dict[str, str] = {}
    for above, below in pairwise(lines):
        if above[0] == "hour":
            assert below[0] == "alerts", below
            counts.update(zip(above[1:], below[1:], strict=True))
    assert list(counts) == [f"{hour:02d}" for hour in range(24)]
    expected = {"03": "1", "14": "2", "23": "3"}
    assert counts == {hour: expected.get(hour, "0") for hour in counts}


def test_cli_replay_names_regions_as_people_do(tmp_path: Path) -> None:
    """Kyiv City is a city of oblast rank: the replay calls it Kyiv City, not "Kyiv (oblast)"."""
    from tryvoha.cli import app

    source = _write(tmp_path, GOOD)
    result = CliRunner().invoke(
        app,
        [
            *("replay", "--from", "2023-03-09T00:59Z", "--to", "2023-03-09T03:40Z"),
            *("--speed", "100000", "--source", str(source), "--db", str(tmp_path / "demo.db")),
        ],
    )
    assert result.exit_code == 0, result.output
    said = result.stderr
    assert "01:00 UTC  alert  Kyiv City  [1/6]" in said
    assert "03:00 UTC  alert  Lubenskyi raion  [5/6]" in said
    assert "Kyiv (oblast)" not in said and "(raion)" not in said
    assert "Declared 3, ended 3" in result.stdout
