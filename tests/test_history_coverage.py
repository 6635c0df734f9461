"""What the record covers, said wherever figures are shown: the statistics API's `coverage`,
the warning of `tryvoha stats`, the map's history panel (in test_map_browser)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tryvoha.alerts.commands import Actor, Declare
from tryvoha.alerts.model import Threat
from tryvoha.api.app import create_app
from tryvoha.config import Settings
from tryvoha.history.coverage import Coverage
from tryvoha.history.importer import import_file
from tryvoha.hub import Hub

HEADER = "oblast,raion,hromada,level,started_at,finished_at,source\n"
ROWS = [  # the record: 2023-03-09 (Kyiv) to 2023-03-12
    "Kyiv City,,,oblast,2023-03-09 01:00:00+00:00,2023-03-09 02:00:00+00:00,official",
    "Lvivska oblast,,,oblast,2023-03-12 10:00:00+00:00,2023-03-12 11:00:00+00:00,official",
]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "record.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in ROWS))
    return path


def test_the_parts_of_a_period_outside_the_record() -> None:
    coverage = Coverage(date(2022, 3, 15), date(2023, 12, 31), utc(2026, 11, 1, 12))
    now = utc(2026, 12, 1)
    # Inside the record (UTC days, as the data sets are cut): complete.
    assert coverage.missing(utc(2023, 1, 1), utc(2024, 1, 1), now) == []
    assert coverage.warning(utc(2023, 1, 1), utc(2024, 1, 1, 0, 1), now) is not None
    # From the end of the record to the first live event: missing; live time: covered.
    assert coverage.missing(utc(2023, 6, 1), now, now) == [(utc(2024, 1, 1), utc(2026, 11, 1, 12))]
    # Before the record starts.
    assert coverage.missing(utc(2022, 2, 24), utc(2022, 6, 1), now) == [
        (utc(2022, 2, 24), utc(2022, 3, 15))
    ]
    said = coverage.warning(utc(2024, 1, 1), utc(2025, 1, 1), now)
    assert said is not None and "2022-03-15 – 2023-12-31" in said and "docs/history.md" in said
    nothing = Coverage(None, None, None)
    assert nothing.missing(utc(2023, 1, 1), utc(2023, 2, 1), now) == [
        (utc(2023, 1, 1), utc(2023, 2, 1))
    ]
    assert "no imported record" in nothing.describe()


async def test_every_statistics_answer_says_what_the_record_covers(
    hub: Hub, settings: Settings, tmp_path: Path
) -> None:
    await import_file(hub, "official", _csv(tmp_path), permanent=False)
    app = create_app(hub, settings)
    inside = {"from": "2023-03-09T00:00:00Z", "to": "2023-03-12T12:00:00Z"}
    past = {"from": "2023-03-09T00:00:00Z", "to": "2024-01-01T00:00:00Z"}
    paths = ["summary", "longest", "calendar", "nationwide"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h") as c:
        for path in paths:
            doc = (await c.get(f"/api/v1/stats/{path}", params=inside)).json()
            coverage = doc["coverage"]
            assert coverage["record_first_day"] == "2023-03-09", path
            assert coverage["record_last_day"] == "2023-03-12"
            assert coverage["live_since"] is None
            assert coverage["complete"] is True and coverage["warning"] is None
            doc = (await c.get(f"/api/v1/stats/{path}", params=past)).json()
            assert doc["coverage"]["complete"] is False, path
            assert doc["coverage"]["missing"] == [
                {"from": "2023-03-13T00:00:00.000Z", "to": "2024-01-01T00:00:00.000Z"}
            ]
            assert "2023-03-09 – 2023-03-12" in doc["coverage"]["warning"]
        # A live alert: the hub records from now on; the time since is covered.
        lviv = hub.catalogue.resolve("Lvivska oblast").id
        await hub.submit(Declare(region_id=lviv, threat=Threat.AIR_RAID), Actor("test"))
        doc = (await c.get("/api/v1/stats/summary", params=past)).json()
        assert doc["coverage"]["live_since"] is not None


def test_cli_stats_warns_when_the_period_reaches_past_the_record(tmp_path: Path) -> None:
    from tryvoha.cli import app

    db = str(tmp_path / "stats.db")
    runner = CliRunner()
    imported = runner.invoke(app, ["import", "official", str(_csv(tmp_path)), "--db", db])
    assert imported.exit_code == 0, imported.output
    period = ["--from", "2023-03-09T00:00Z", "--to", "2023-03-13T00:00Z"]
    inside = runner.invoke(app, ["stats", "Kyiv City", *period, "--db", db])
    assert inside.exit_code == 0, inside.output
    assert "Warning" not in inside.stderr
    assert "imported record covers 2023-03-09 – 2023-03-12" in inside.stderr
    later = runner.invoke(
        app,
        ["stats", "Kyiv City", "--from", "2024-01-01", "--db", db],
        env={"COLUMNS": "300"},
    )
    assert later.exit_code == 0, later.output
    warning = [line for line in later.stderr.splitlines() if line.startswith("Warning")]
    assert len(warning) == 1, later.stderr
    assert "reaches past the record" in warning[0] and "2023-03-09 – 2023-03-12" in warning[0]
    as_json = runner.invoke(app, ["stats", "--from", "2024-01-01", "--db", db, "--json"])
    import orjson

    assert orjson.loads(as_json.stdout)["coverage"]["complete"] is False


@pytest.mark.parametrize("path", ["summary", "calendar"])
async def test_an_empty_log_covers_nothing(client: httpx.AsyncClient, path: str) -> None:
    doc = (await client.get(f"/api/v1/stats/{path}")).json()
    assert doc["coverage"]["record_first_day"] is None and doc["coverage"]["complete"] is False


@pytest.mark.browser
def test_the_maps_history_panel_says_what_the_record_covers(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from tests.test_map_browser import CHROMIUM, CHROMIUM_ARGS, _need_chromium, make_server
    from tryvoha.cli import app

    _need_chromium()
    server = make_server(tmp_path)
    imported = CliRunner().invoke(
        app, ["import", "official", str(_csv(tmp_path)), "--db", str(server.db)]
    )
    assert imported.exit_code == 0, imported.output
    server.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(locale="en-GB")
            page.goto(server.url + "/?lang=en#at=2024-06-01T12:00")
            page.wait_for_selector("#h-gap:not([hidden])", timeout=10_000)
            record = page.locator("#h-record").text_content()
            gap = page.locator("#h-gap").text_content()
            page.goto(server.url + "/?lang=en#at=2023-03-09T03:30")
            page.reload()
            page.wait_for_selector("#h-record:not([hidden])", timeout=10_000)
            expect(page.locator("#history-time")).to_have_text(re.compile(r"\S"))  # no eval
            inside_gap_hidden = page.locator("#h-gap").is_hidden()
            browser.close()
    finally:
        server.stop()
    assert record == "Record: 09/03/2023 – 12/03/2023", record
    assert gap and gap.startswith("No data for 01/06/2024, 12:00"), gap
    assert inside_gap_hidden
