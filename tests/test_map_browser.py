"""The alarm map end to end: a real hub (`tryvoha serve`) and Debian's Chromium via Playwright.

Skipped locally without /usr/bin/chromium; a failure in CI (CI=true), like a missing service.
"""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tryvoha.alerts.commands import Actor, Declare
from tryvoha.alerts.model import Threat
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue, Level, load_catalogue
from tryvoha.store import SqlStore

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
OFFICIAL = REPO.parent / "shared" / "data" / "alerts" / "official_data_en.csv"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RED = "rgb(229, 72, 77)"


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = "Chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run_async(coro):
    """Playwright's sync API holds this thread's event loop: run a coroutine in another."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A `tryvoha serve` process on its own SQLite file, restartable on the same port."""

    db: Path
    port: int
    token: str
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.db}"

    def start(self) -> None:
        env = {**os.environ, "TRYVOHA_LOAD_HISTORY": "false"}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tryvoha.cli",
                "serve",
                "--db",
                str(self.db),
                "--port",
                str(self.port),
                "--no-history",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.process.stderr.read().decode())
            try:
                if httpx.get(f"{self.url}/api/v1/map/config", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the hub did not start in 30 s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def post(self, path: str, body: dict | None = None) -> dict:
        answer = httpx.post(
            f"{self.url}{path}", json=body, headers={"Authorization": f"Bearer {self.token}"}
        )
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    def declare(self, region_id: str, **extra) -> dict:
        return self.post("/api/v1/alerts", {"region_id": region_id, "threat": "air_raid", **extra})

    def end(self, alert_id: int) -> dict:
        return self.post(f"/api/v1/alerts/{alert_id}/end", {})


def make_server(tmp: Path) -> Server:
    db = tmp / "hub.db"
    store = SqlStore(f"sqlite:///{db}")
    token, _ = store.create_token("map-test", None)
    store.close()
    return Server(db=db, port=free_port(), token=token)


@pytest.fixture(scope="module")
def browser():
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, browser) -> Iterator[Server]:
    s = make_server(tmp_path_factory.mktemp("map"))
    s.start()
    yield s
    s.stop()


class Page:
    """A map page with the checks the tests share; console errors are collected."""

    def __init__(
        self, browser, url: str, width: int = 1440, height: int = 900, state: str = "live"
    ) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.context = browser.new_context(
            viewport={"width": width, "height": height}, locale="uk-UA", timezone_id="UTC"
        )
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.goto(url)
        self.page.wait_for_selector("html[data-ready='1']", timeout=10_000)
        self.page.wait_for_selector(f"#conn[data-state='{state}']", timeout=10_000)

    def close(self) -> None:
        self.context.close()

    def wait_classes(self, indexes: list[int], cls: str, timeout: float = 1000) -> float:
        """Wait until every hromada path in `indexes` has class `cls`; returns seconds waited."""
        started = time.monotonic()
        self.page.wait_for_function(
            """([ids, cls]) => ids.every(i =>
                document.querySelector(`path.h[data-i="${i}"]`).classList.contains(cls))""",
            arg=[indexes, cls],
            timeout=timeout,
        )
        return time.monotonic() - started

    def fills(self, indexes: list[int]) -> set[str]:
        return set(
            self.page.evaluate(
                """ids => ids.map(i => getComputedStyle(
                    document.querySelector(`path.h[data-i="${i}"]`)).fill)""",
                indexes,
            )
        )

    def classes(self, indexes: list[int]) -> set[str]:
        return set(
            self.page.evaluate(
                'ids => ids.map(i => document.querySelector(`path.h[data-i="${i}"]`)'
                ".getAttribute('class'))",
                indexes,
            )
        )

    def log_id(self) -> int:
        return int(self.page.evaluate("document.documentElement.dataset.logId"))


def hromadas_of(catalogue: Catalogue, region_id: str) -> list[int]:
    """Tree-order indexes (the map's data-i) of the hromadas a region covers."""
    region = catalogue.get(region_id)
    if region.level is Level.HROMADA:
        return [catalogue.index_of(region_id)]
    return [
        catalogue.index_of(r.id)
        for r in catalogue.descendants(region_id)
        if r.level is Level.HROMADA
    ]


def oblast(catalogue: Catalogue, name: str) -> str:
    return catalogue.resolve(name, level="oblast").id


@pytest.fixture
def page(browser, server: Server) -> Iterator[Page]:
    p = Page(browser, server.url + "/?lang=en")
    yield p
    p.close()
    assert p.errors == [], f"console errors: {p.errors}"


def test_declared_alert_turns_red_within_a_second_and_back(
    page: Page, server: Server, catalogue: Catalogue
) -> None:
    kharkiv = oblast(catalogue, "Kharkivska")
    cells = hromadas_of(catalogue, kharkiv)
    assert page.fills(cells) != {RED}
    started = time.monotonic()
    alert = server.declare(kharkiv, details=["ballistic_missile"])["alert"]
    page.wait_classes(cells, "a", timeout=1000)
    assert time.monotonic() - started < 1.0
    assert page.fills(cells) == {RED}
    assert page.log_id() == alert["last_event_id"]
    assert page.page.locator("#count-active").get_attribute("data-count") == "1"
    item = page.page.locator(f'#alert-list button[data-alert="{alert["id"]}"]')
    assert "Kharkivska oblast" in item.inner_text()

    started = time.monotonic()
    server.end(alert["id"])
    page.page.wait_for_function(
        'ids => ids.every(i => document.querySelector(`path.h[data-i="${i}"]`)'
        ".getAttribute('class') === 'h')",
        arg=cells,
        timeout=1000,
    )
    assert time.monotonic() - started < 1.0
    assert RED not in page.fills(cells)
    assert page.page.locator("#alert-list li").count() == 0


def test_raion_alert_makes_its_oblast_partial(
    page: Page, server: Server, catalogue: Catalogue
) -> None:
    odesa = oblast(catalogue, "Odeska")
    raion = catalogue.children(odesa)[0].id
    inside = hromadas_of(catalogue, raion)
    rest = [i for i in hromadas_of(catalogue, odesa) if i not in inside]
    alert = server.declare(raion, details=["drones"])["alert"]
    page.wait_classes(inside, "a")
    page.wait_classes(rest, "p")
    assert page.fills(inside) == {RED}
    assert page.fills(rest) == {'url("#hatch-partial")'}
    assert page.page.locator("path.po").count() == 1  # the oblast's dashed outline
    summary = page.page.locator("#summary")
    assert summary.locator(".n-partial").get_attribute("data-count") == "1"
    assert summary.locator(".n-active").get_attribute("data-count") == "0"
    # The card of the oblast says why.
    page.page.locator(f'.lbl[data-i="{catalogue.index_of(odesa)}"]').focus()
    page.page.keyboard.press("Enter")
    card = page.page.locator("#card")
    assert card.locator(".badge").first.get_attribute("data-status") == "p"
    assert catalogue.get(raion).name_en in card.inner_text()
    server.end(alert["id"])
    page.wait_classes(rest, "h")


def test_notes_with_markup_are_shown_as_text(
    page: Page, server: Server, catalogue: Catalogue
) -> None:
    notes = (
        '<img src=x onerror="window.__xss=1;alert(1)"><script>window.__xss=2</script><b>bold</b>'
    )
    sumy = oblast(catalogue, "Sumska")
    alert = server.declare(sumy, notes=notes)["alert"]
    page.wait_classes(hromadas_of(catalogue, sumy), "a")
    page.page.locator(f'#alert-list button[data-alert="{alert["id"]}"]').click()
    card = page.page.locator("#card")
    card.locator(".notes").wait_for()
    assert card.locator(".notes").inner_text() == notes
    assert card.locator("img, script").count() == 0
    assert card.locator(".notes *").count() == 0
    page.page.wait_for_timeout(300)  # an injected onerror would have fired by now
    assert page.page.evaluate("window.__xss") is None
    assert page.dialogs == []
    server.end(alert["id"])


def test_drills_are_hidden_by_default_and_marked_when_shown(
    page: Page, server: Server, catalogue: Catalogue
) -> None:
    lviv = oblast(catalogue, "Lvivska")
    cells = hromadas_of(catalogue, lviv)
    drill = server.declare(lviv, status="exercise")["alert"]
    page.page.wait_for_function(
        f"() => document.documentElement.dataset.logId >= {drill['last_event_id']}"
    )
    assert page.classes(cells) == {"h"}
    assert page.page.locator(f'#alert-list [data-alert="{drill["id"]}"]').count() == 0
    page.page.locator("#drills").check()
    page.wait_classes(cells, "d")
    assert page.page.locator("#drill-banner").is_visible()
    item = page.page.locator(f'#alert-list [data-alert="{drill["id"]}"]')
    assert "EXERCISE" in item.inner_text()
    assert page.page.locator("#count-active").get_attribute("data-count") == "0"
    server.end(drill["id"])
    page.wait_classes(cells, "h")


def test_burst_of_every_oblast_and_screenshots(
    browser, server: Server, catalogue: Catalogue
) -> None:
    """All oblasts at once (a real bad night), screenshots at desktop and phone size."""
    alerts = []
    for o in catalogue.oblasts:
        if o.name_en in ("Zakarpatska", "Chernivetska"):
            continue
        alerts.append(server.declare(o.id, details=["cruise_missile", "drones"])["alert"])
    raion = catalogue.children(oblast(catalogue, "Zakarpatska"))[1].id
    alerts.append(server.declare(raion, details=["drones"])["alert"])
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        for name, size in (("desktop", (1440, 900)), ("phone", (390, 844))):
            p = Page(browser, server.url + "/?lang=uk", *size)
            try:
                p.wait_classes(hromadas_of(catalogue, raion), "a", timeout=3000)
                count = p.page.locator("#count-active").get_attribute("data-count")
                assert count == str(len(catalogue.oblasts) - 2)
                p.page.screenshot(path=str(ARTIFACTS / f"map-{name}.png"))
                assert p.errors == []
            finally:
                p.close()
    finally:
        for alert in alerts:
            server.end(alert["id"])


def test_dropped_connection_recovers_and_catches_up(
    browser, tmp_path: Path, catalogue: Catalogue
) -> None:
    server = make_server(tmp_path)
    server.start()
    page = Page(browser, server.url + "/?lang=en")
    try:
        before = server.declare(oblast(catalogue, "Poltavska"))["alert"]
        page.wait_classes(hromadas_of(catalogue, before["region_id"]), "a")
        server.kill()  # the connection drops without a goodbye
        page.page.wait_for_selector("#conn[data-state='reconnecting']", timeout=10_000)
        assert page.page.locator("#conn").is_visible()
        assert "Reconnecting" in page.page.locator("#conn").inner_text()
        missed = run_async(_declare_offline(server, oblast(catalogue, "Chernihivska")))
        server.start()
        cells = hromadas_of(catalogue, oblast(catalogue, "Chernihivska"))
        page.page.wait_for_selector("#conn[data-state='live']", timeout=15_000)
        page.wait_classes(cells, "a", timeout=5000)
        assert page.log_id() == missed
        # And it is live again: a new alert arrives through the stream.
        after = server.declare(oblast(catalogue, "Sumska"))["alert"]
        page.wait_classes(hromadas_of(catalogue, after["region_id"]), "a", timeout=1000)
        assert page.errors == [] or all("ERR_CONNECTION_REFUSED" in e for e in page.errors)
    finally:
        page.close()
        server.stop()


async def _declare_offline(server: Server, region_id: str) -> int:
    """While the hub is down, another writer (an operator's CLI) adds to the same log."""
    hub = Hub(load_catalogue(), SqlStore(server.db_url))
    hub.load()
    try:
        outcome = await hub.submit(
            Declare(region_id, Threat.AIR_RAID), Actor(originator="cli", scopes=None)
        )
        return outcome.event.id
    finally:
        hub.close()


NIGHT = datetime(2023, 3, 9, 4, 0, tzinfo=UTC)  # 06:00 in Kyiv (EET, UTC+2)


def _night_rows(path: Path) -> list[dict[str, str]]:
    """Rows of the official record overlapping the two hours around the moment, unchanged."""
    lo, hi = NIGHT - timedelta(hours=2), NIGHT + timedelta(hours=2)
    with OFFICIAL.open(encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = [
            r
            for r in reader
            if datetime.fromisoformat(r["started_at"]) < hi
            and (not r["finished_at"] or datetime.fromisoformat(r["finished_at"]) > lo)
        ]
        fields = reader.fieldnames
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fields)
        writer.writeheader()
        writer.writerows(rows)
    return rows


def test_history_shows_the_night_of_9_march_2023(
    browser, tmp_path: Path, catalogue: Catalogue
) -> None:
    if not OFFICIAL.exists():
        pytest.skip(f"the official record is not at {OFFICIAL}")
    from tryvoha.history.importer import import_file

    server = make_server(tmp_path)
    rows = _night_rows(tmp_path / "night.csv")

    async def load() -> None:
        hub = Hub(load_catalogue(), SqlStore(server.db_url))
        hub.load()
        try:
            report = await import_file(hub, "official", tmp_path / "night.csv", permanent=False)
            assert report.imported == len(rows)
        finally:
            hub.close()

    run_async(load())
    expected = {
        catalogue.resolve(r["oblast"], level="oblast").id
        for r in rows
        if r["level"] == "oblast"
        and datetime.fromisoformat(r["started_at"])
        <= NIGHT
        < datetime.fromisoformat(r["finished_at"])
    }
    assert len(expected) > 20  # the massive missile strike of that morning
    server.start()
    page = Page(browser, server.url + "/?lang=uk#at=2023-03-09T06:00", state="history")
    try:
        page.page.wait_for_function(
            f"() => document.querySelector('#count-active')?.dataset.count == {len(expected)}"
        )
        painted = {
            o.id for o in catalogue.oblasts if page.classes(hromadas_of(catalogue, o.id)) == {"h a"}
        }
        assert painted == expected
        assert "09.03.2023" in page.page.locator("#history-time").inner_text()
        assert "06:00" in page.page.locator("#history-time").inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.page.screenshot(path=str(ARTIFACTS / "map-history-2023-03-09-0600.png"))
        # Back to live: the log has no open alert now.
        page.page.locator("#h-live").click()
        page.page.wait_for_function(
            "() => document.querySelector('#count-active')?.dataset.count == 0"
        )
        assert page.errors == []
    finally:
        page.close()
        server.stop()


LABEL_INSIDE = """() => {
  const out = {};
  for (const text of document.querySelectorAll('.lbl:not(.city)')) {
    const i = Number(text.dataset.i);
    const box = text.getBBox();
    const paths = [...document.querySelectorAll('path.h')].filter((p) => {
      let j = Number(p.dataset.i);
      const geo = window.tryvohaMap.state.geo;
      while (j > 0 && j !== i) j = geo.regions[j].parent;
      return j === i;
    });
    const inside = (x, y) => paths.some((p) => p.isPointInFill(new DOMPoint(x, y)));
    const ys = [box.y + box.height * 0.3, box.y + box.height * 0.5, box.y + box.height * 0.7];
    const xs = [box.x + box.width * 0.02, box.x + box.width * 0.98];
    out[text.textContent] = xs.every((x) => ys.every((y) => inside(x, y)));
  }
  return out;
}"""


@pytest.mark.parametrize("size", [(1440, 900), (1280, 800), (1920, 1080)])
def test_zakarpatska_ukrainian_label_stays_inside_its_oblast(browser, server: Server, size) -> None:
    """ "Закарпатська" is long and the oblast narrow: the name is slid and, if need be, made
    smaller to fit the oblast, never running over Ivano-Frankivska or off the map."""
    page = Page(browser, server.url + "/?lang=uk", width=size[0], height=size[1])
    try:
        page.page.wait_for_function("document.querySelector('.labels').style.display !== 'none'")
        inside = page.page.evaluate(LABEL_INSIDE)
        assert inside["Закарпатська"] is True, inside
        assert [name for name, ok in inside.items() if not ok] == []
        svg = page.page.locator("#map").bounding_box()
        label = page.page.locator(".lbl", has_text="Закарпатська").bounding_box()
        assert svg and label and label["x"] >= svg["x"]
    finally:
        page.close()
    assert page.errors == []


def test_the_phone_layout_shows_the_search_placeholder_whole(browser, server: Server) -> None:
    for lang in ("uk", "en"):
        page = Page(browser, server.url + f"/?lang={lang}", width=375, height=812)
        try:
            room, needed = page.page.evaluate(
                """() => {
                  const input = document.getElementById('place');
                  const style = getComputedStyle(input);
                  const ctx = document.createElement('canvas').getContext('2d');
                  ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
                  const room = input.clientWidth - parseFloat(style.paddingLeft)
                    - parseFloat(style.paddingRight);
                  return [room, ctx.measureText(input.placeholder).width];
                }"""
            )
        finally:
            page.close()
        assert needed <= room, f"{lang}: the placeholder needs {needed} px, the field has {room}"
