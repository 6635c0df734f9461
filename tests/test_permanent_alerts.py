"""The permanent alerts (Luhansk oblast since 2022-04-04, Crimea since 2022-12-10): a date, a
duration people read, and what they are, in `tryvoha status` and on the map."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import LiveHub, start_live_hub
from tryvoha.durations import is_permanent, readable

HEADER = "oblast,raion,hromada,level,started_at,finished_at,source\n"
ROW = "Kyiv City,,,oblast,2023-03-09 01:00:00+00:00,2023-03-09 02:00:00+00:00,official\n"


@pytest.mark.parametrize(
    ("span", "said"),
    [
        (timedelta(days=365 * 3 + 250), "3 y 8 mo"),
        (timedelta(days=366), "1 y"),
        (timedelta(days=65), "2 mo 4 d"),
        (timedelta(days=4, hours=3, minutes=5), "4 d 3 h"),
        (timedelta(hours=5, minutes=7), "5 h 07 min"),
        (timedelta(minutes=12, seconds=59), "12 min"),
        (timedelta(seconds=-5), "0 min"),
    ],
)
def test_durations_read_as_people_say_them(span: timedelta, said: str) -> None:
    assert readable(span) == said


def test_seven_days_make_an_alert_permanent() -> None:
    assert is_permanent(timedelta(days=7)) and not is_permanent(timedelta(days=6, hours=23))


@pytest.fixture
def hub_with_the_record(tmp_path: Path) -> Iterator[LiveHub]:
    """A hub whose log holds an imported record, with the two permanent alerts it adds."""
    from tryvoha.cli import app

    csv = tmp_path / "record.csv"
    csv.write_text(HEADER + ROW)
    db = str(tmp_path / "hub.db")
    imported = CliRunner().invoke(app, ["import", "official", str(csv), "--db", db])
    assert imported.exit_code == 0, imported.output
    hub = start_live_hub(db, "--no-history")
    yield hub
    hub.proc.terminate()  # type: ignore[attr-defined]
    hub.proc.wait(timeout=10)  # type: ignore[attr-defined]


def test_status_shows_the_start_date_a_readable_duration_and_what_they_are(
    hub_with_the_record: LiveHub,
) -> None:
    from tryvoha.cli import app

    result = CliRunner().invoke(
        app, ["status", "--url", hub_with_the_record.url], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    luhansk = next(line for name, line in rows.items() if name.startswith("Luhanska"))
    crimea = next(line for name, line in rows.items() if name.startswith("Autonomous Republic"))
    assert "2022-04-04 16:45" in luhansk and "active *" in luhansk
    assert "2022-12-10 22:22" in crimea and "active *" in crimea
    cells = [cell.strip() for cell in luhansk.split("│")]
    assert cells[4].endswith("mo") or " y" in cells[4], cells  # "3 y 8 mo", never hours
    assert " h" not in cells[4]
    assert "* permanent: under alert without a break for 7 days or more" in result.stdout


@pytest.mark.browser
def test_the_map_shows_the_start_date_a_readable_duration_and_what_they_are(
    hub_with_the_record: LiveHub,
) -> None:
    from playwright.sync_api import sync_playwright

    from tests.test_map_browser import CHROMIUM, CHROMIUM_ARGS, _need_chromium

    _need_chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(locale="en-GB", viewport={"width": 1440, "height": 900})
        page.goto(hub_with_the_record.url + "/?lang=en")
        page.wait_for_selector("html[data-ready='1']")
        item = page.locator("#alert-list li", has_text="Luhansk")
        item.wait_for(timeout=10_000)
        page.wait_for_function(
            "[...document.querySelectorAll('#alert-list .timer')].every(t => t.textContent)"
        )
        text = item.text_content() or ""
        timer = item.locator(".timer").text_content() or ""
        item.locator("button").click()
        note = page.locator("#card .permanent-note").text_content() or ""
        browser.close()
    assert "Since 04/04/2022" in text, text
    assert "Permanent alert" in text
    assert (" y " in timer and timer.endswith("mo")) or timer.endswith(" y"), timer
    assert " h" not in timer
    assert "7 days or more" in note and "occupied or front-line" in note
