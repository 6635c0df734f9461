"""The map's history mode shows the night's Air Force tally beside the alerts, under a strict CSP.

A real hub (`tryvoha serve`) holding the official alerts of March 2023 and the attacks ledger, and
Debian's Chromium via Playwright (skipped locally without it, a failure in CI).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tryvoha.history.attacks.importer import import_attacks
from tryvoha.history.importer import import_file
from tryvoha.hub import Hub
from tryvoha.regions import load_catalogue
from tryvoha.store import SqlStore

from .conftest import SHARED
from .test_map_browser import Server, browser, make_server, run_async  # noqa: F401 - fixture

pytestmark = pytest.mark.browser

ATTACKS = SHARED / "data" / "attacks" / "missile_attacks_daily.csv"
OFFICIAL = SHARED / "data" / "alerts" / "official_data_en.csv"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


def _subset(folder: Path) -> Path:
    path = folder / "official_march_2023.csv"
    with OFFICIAL.open(newline="", encoding="utf-8") as src, path.open("w", newline="") as out:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(out, fieldnames=reader.fieldnames or [])
        writer.writeheader()
        for r in reader:
            if "2023-03-05" <= r["started_at"][:10] <= "2023-03-12":
                writer.writerow(r)
    return path


@pytest.fixture(scope="module")
def ledger_server(tmp_path_factory: pytest.TempPathFactory, browser) -> Iterator[Server]:  # noqa: F811
    folder = tmp_path_factory.mktemp("attacks-map")
    server = make_server(folder)
    hub = Hub(load_catalogue(), SqlStore(server.db_url))
    hub.load()
    run_async(import_file(hub, "official", _subset(folder), permanent=False))
    import_attacks(hub.store, ATTACKS)
    hub.close()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory: pytest.TempPathFactory, browser) -> Iterator[Server]:  # noqa: F811
    server = make_server(tmp_path_factory.mktemp("attacks-map-bare"))
    server.start()
    yield server
    server.stop()


def _open(browser, server: Server, at: str):  # noqa: F811
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, locale="uk-UA", timezone_id="UTC"
    )
    context.add_init_script(WATCH_CSP)
    context.route(
        f"{server.url}/",
        lambda route: route.fulfill(
            response=(answer := route.fetch()),
            headers={**answer.headers, "content-security-policy": CSP},
        ),
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.url}/#at={at}")
    page.wait_for_selector("html[data-ready='1']", timeout=15_000)
    page.errors = errors  # type: ignore[attr-defined]
    return page


def test_history_mode_shows_the_nights_tally_with_its_licence(
    browser,  # noqa: F811
    ledger_server: Server,
) -> None:
    expected = httpx.get(f"{ledger_server.url}/api/v1/attacks/nights/2023-03-08").json()
    assert expected["total"]["launched"] == sum(a["launched"] for a in expected["attacks"])
    page = _open(browser, ledger_server, "2023-03-09T04:00")
    try:
        page.wait_for_selector("#attack-tally:not([hidden])", timeout=15_000)
        box = page.locator("#attack-tally")
        assert box.get_attribute("data-night") == "2023-03-08"
        digits = "".join(ch for ch in box.locator(".tally-launched").inner_text() if ch.isdigit())
        assert int(digits) == expected["total"]["launched"]
        classes = box.locator(".tally-classes li").evaluate_all(
            "items => items.map(li => li.dataset.class)"
        )
        assert classes == [c["key"] for c in expected["classes"]]
        licence = box.locator(".tally-licence")
        assert "CC BY-NC-SA 4.0" in licence.inner_text()
        assert "Petro Ivaniuk" in licence.inner_text()
        hrefs = licence.locator("a").evaluate_all("links => links.map(a => a.href)")
        assert expected["source_url"] in hrefs and expected["licence_url"] in hrefs
        # Scrubbing to a night without attacks changes the panel; "live" hides it.
        page.fill("#h-date", "2023-03-20")
        page.fill("#h-time", "03:00")
        page.click("#h-show")
        page.wait_for_selector("#attack-tally[data-night='2023-03-19']", timeout=15_000)
        page.click("#h-live")
        page.wait_for_selector("#attack-tally[hidden]", state="attached", timeout=15_000)
        assert page.evaluate("window.__csp") == []
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        page.context.close()


def test_without_a_ledger_the_panel_stays_away(browser, bare_server: Server) -> None:  # noqa: F811
    page = _open(browser, bare_server, "2023-03-09T04:00")
    try:
        page.wait_for_selector("#history-banner.past", timeout=15_000)
        page.wait_for_selector("html[data-attack-tally='unavailable']", timeout=15_000)
        assert page.locator("#attack-tally:not([hidden])").count() == 0
        assert page.evaluate("window.__csp") == []
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        page.context.close()
