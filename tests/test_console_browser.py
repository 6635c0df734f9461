"""The dispatcher's console end to end: a real hub (`tryvoha serve`), Debian's Chromium via
Playwright, several tokens in several browser contexts.

Screenshots are kept as test artefacts: under $TRYVOHA_TEST_ARTIFACTS when set, else in a pytest
temporary directory (never in the checkout).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore

from .test_map_browser import (  # noqa: F401  (module fixture)
    Page,
    Server,
    browser,
    free_port,
    hromadas_of,
    oblast,
)
from .waiting import wait_for

pytestmark = pytest.mark.browser


@dataclass
class Hub:
    server: Server
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def call(self, method: str, path: str, token: str, body: dict | None = None) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.tokens[token]}"},
        )


class TunedServer(Server):
    """A `tryvoha serve` with extra environment (a short proposal lifetime)."""

    extra: ClassVar[dict[str, str]] = {}

    def start(self) -> None:
        saved = dict(os.environ)
        os.environ.update(self.extra)
        try:
            super().start()
        finally:
            os.environ.clear()
            os.environ.update(saved)


def start_hub(tmp: Path, catalogue: Catalogue, **env: str) -> Hub:
    db = tmp / "hub.db"
    store = SqlStore(f"sqlite:///{db}")
    kharkiv = catalogue.resolve("Kharkivska oblast").id
    kyiv = catalogue.resolve("Kyivska oblast").id
    tokens = {
        "anna": store.create_token("anna", None)[0],
        "borys": store.create_token("borys", None)[0],
        "kharkiv": store.create_token("kharkiv", [kharkiv])[0],
        "kyiv": store.create_token("kyiv", [kyiv])[0],
        "drills": store.create_token("drills", None, drills_only=True)[0],
    }
    store.close()
    server = TunedServer(db=db, port=free_port(), token=tokens["anna"])
    server.extra = env
    server.start()
    return Hub(server, tokens)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, browser, catalogue: Catalogue) -> Iterator[Hub]:  # noqa: F811
    h = start_hub(tmp_path_factory.mktemp("console"), catalogue)
    yield h
    h.server.stop()


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("TRYVOHA_TEST_ARTIFACTS")
    path = Path(given) / "console" if given else tmp_path_factory.mktemp("console-screens")
    path.mkdir(parents=True, exist_ok=True)
    return path


class Console:
    """One browser context signed in to the console with one token."""

    def __init__(self, browser, hub: Hub, token: str | None, lang: str = "en") -> None:  # noqa: F811
        self.errors: list[str] = []
        self.context = browser.new_context(
            viewport={"width": 1440, "height": 1000}, locale="uk-UA", timezone_id="UTC"
        )
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(f"{hub.url}/console?lang={lang}")
        self.page.wait_for_selector("html[data-ready='1']", timeout=10_000)
        if token is not None:
            self.page.fill("#token", hub.tokens[token])
            self.page.click("#sign-in-form button[type=submit]")
            self.page.wait_for_selector("html[data-signed-in='1']", timeout=15_000)

    def choose(self, text: str, region_id: str) -> None:
        self.page.fill("#search", text)
        self.page.click(f"#search-results button[data-region='{region_id}']")
        self.page.wait_for_selector(f"#chosen li[data-region='{region_id}']")

    def preview(self) -> None:
        self.page.click("#preview-btn")
        self.page.wait_for_selector("#preview:not([hidden])", timeout=10_000)

    def open_alert(self, alert_id: int):
        return self.page.locator(f"#open-list li[data-alert='{alert_id}']")

    def shot(self, artefacts: Path, name: str) -> None:
        self.page.screenshot(path=str(artefacts / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def consoles(browser, hub: Hub) -> Iterator[list[Console]]:  # noqa: F811
    opened: list[Console] = []
    yield opened
    for c in opened:
        c.close()
    for c in opened:
        assert c.errors == [], f"console errors: {c.errors}"


def open_console(consoles: list[Console], browser, hub: Hub, token, lang="en") -> Console:  # noqa: F811
    c = Console(browser, hub, token, lang)
    consoles.append(c)
    return c


def test_compose_preview_confirm_and_receipt(
    browser,  # noqa: F811
    hub: Hub,
    consoles: list[Console],
    catalogue: Catalogue,
    artefacts: Path,
) -> None:
    kharkiv = oblast(catalogue, "Kharkivska")
    c = open_console(consoles, browser, hub, "anna")
    assert c.page.text_content("#who-name") == "anna"
    assert c.page.text_content("#who-scope") == "every region"
    c.choose("Kharkiv", kharkiv)
    c.page.check("#details input[value='drones']")
    c.page.fill("#notes", "Shahed group from the north-east")
    before = hub.call("GET", "/api/v1/log?limit=1", "anna").json()["last_event_id"]
    c.preview()
    summary = c.page.locator("#preview-summary")
    assert summary.get_attribute("data-hromadas") == str(len(hromadas_of(catalogue, kharkiv)))
    assert "Kharkivska" in summary.inner_text()
    assert c.page.locator("#preview-rule").is_hidden()
    assert c.page.locator("path.pv").get_attribute("data-drawn") == "1"
    stream = c.page.locator("#preview-channels details[data-channel='stream'] pre").text_content()
    assert stream.startswith(f"event: alert\nid: {before + 1}\n")
    cap = c.page.locator("#preview-channels details[data-channel='cap'] pre").text_content()
    assert "<msgType>Alert</msgType>" in cap
    assert c.page.locator("#preview-channels details[data-channel='mqtt']").count() == 1
    assert c.page.text_content("#confirm-btn") == "Send ACTUAL alert"
    assert hub.call("GET", "/api/v1/log?limit=1", "anna").json()["last_event_id"] == before
    c.shot(artefacts, "01-preview-actual-en")

    c.page.click("#confirm-btn")
    receipt = c.page.locator("#receipt")
    receipt.wait_for(state="visible")
    c.page.wait_for_selector("#receipt[data-done='1']", timeout=30_000)
    assert int(receipt.get_attribute("data-reached")) >= 1  # the console's own live stream
    assert "Reached" in c.page.text_content("#receipt-text")
    assert c.page.text_content("#receipt-what") == "declared: Air raid — Kharkivska oblast"
    active = hub.call("GET", "/api/v1/alerts/active", "anna").json()["alerts"]
    [alert] = [a for a in active if a["region_id"] == kharkiv]
    assert alert["details"] == ["drones"] and alert["notes"] == "Shahed group from the north-east"
    c.open_alert(alert["id"]).wait_for()
    c.page.wait_for_selector("#action-list li[data-kind='declared']")
    c.shot(artefacts, "02-receipt-en")
    hub.call("POST", f"/api/v1/alerts/{alert['id']}/end", "anna", {})


def test_two_person_flow_in_two_contexts(
    browser,  # noqa: F811
    hub: Hub,
    consoles: list[Console],
    catalogue: Catalogue,
    artefacts: Path,
) -> None:
    kharkiv = oblast(catalogue, "Kharkivska")
    proposer = open_console(consoles, browser, hub, "anna")
    proposer.choose("Kharkiv", kharkiv)
    proposer.page.select_option("#threat", "nuclear")
    proposer.preview()
    rule = proposer.page.locator("#preview-rule")
    assert rule.is_visible() and "nuclear" in rule.inner_text()
    assert proposer.page.text_content("#confirm-btn").startswith("Propose")
    proposer.page.click("#confirm-btn")
    proposer.page.wait_for_selector("#receipt[data-kind='proposal']")
    assert "waits for a second operator" in proposer.page.text_content("#receipt-text")
    row = proposer.page.locator("#proposal-list li[data-state='pending']").first
    row.wait_for()
    proposal_id = int(row.get_attribute("data-proposal"))
    # Its own proposal: no approve button, only withdraw; the API refuses too.
    assert row.get_attribute("data-can-approve") == "0"
    assert row.locator("button[data-act='approve']").count() == 0
    assert row.locator("button[data-act='withdraw']").count() == 1
    own = hub.call("POST", f"/api/v1/proposals/{proposal_id}/approve", "anna")
    assert own.status_code == 403 and own.json()["error"]["code"] == "approval_by_proposer"
    proposer.shot(artefacts, "03-proposal-own-en")

    # A token for another oblast does not even see it, and cannot approve it.
    outsider = open_console(consoles, browser, hub, "kyiv")
    assert outsider.page.locator(f"#proposal-list li[data-proposal='{proposal_id}']").count() == 0
    refused = hub.call("POST", f"/api/v1/proposals/{proposal_id}/approve", "kyiv")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "proposal_out_of_scope"

    # A second operator whose token covers the area approves it, in Ukrainian.
    second = open_console(consoles, browser, hub, "kharkiv", lang="uk")
    item = second.page.locator(f"#proposal-list li[data-proposal='{proposal_id}']")
    item.wait_for()
    assert item.get_attribute("data-can-approve") == "1"
    assert "«Радіаційна загроза» потребує другого оператора" in item.inner_text()
    second.shot(artefacts, "04-proposal-second-uk")
    item.locator("button[data-act='approve']").click()
    second.page.wait_for_selector("#ask[open]")
    assert "Підтвердити" in second.page.text_content("#ask-title")
    second.page.click("#ask-ok")
    second.page.wait_for_selector("#receipt[data-done='1']", timeout=30_000)
    alerts = hub.call("GET", "/api/v1/alerts/active", "anna").json()["alerts"]
    [alert] = [a for a in alerts if a["region_id"] == kharkiv and a["threat"] == "nuclear"]
    assert alert["proposed_by"] == "token:anna" and alert["originator"] == "token:kharkiv"
    proposer.open_alert(alert["id"]).wait_for(timeout=10_000)
    hub.call("POST", f"/api/v1/alerts/{alert['id']}/end", "anna", {})


def test_an_expired_proposal_cannot_be_approved(
    browser,  # noqa: F811
    tmp_path: Path,
    catalogue: Catalogue,
    artefacts: Path,
) -> None:
    hub = start_hub(tmp_path, catalogue, TRYVOHA_APPROVAL_TTL="30")
    opened: list[Console] = []
    try:
        sumy = oblast(catalogue, "Sumska")
        proposer = open_console(opened, browser, hub, "anna")
        proposer.choose("Sumska", sumy)
        proposer.page.select_option("#threat", "chemical")
        proposer.preview()
        assert "30" in proposer.page.text_content("#preview-rule")
        proposer.page.click("#confirm-btn")
        proposer.page.wait_for_selector("#receipt[data-kind='proposal']")
        second = open_console(opened, browser, hub, "borys")
        row = second.page.locator("#proposal-list li[data-state='pending']").first
        row.wait_for()
        proposal_id = int(row.get_attribute("data-proposal"))
        assert row.get_attribute("data-can-approve") == "1"
        # The console shows the expiry as it happens (no reload), and offers nothing to approve.
        second.page.wait_for_selector(
            f"#proposal-list li[data-proposal='{proposal_id}'][data-state='expired']",
            timeout=60_000,
        )
        row = second.page.locator(f"#proposal-list li[data-proposal='{proposal_id}']")
        assert row.locator("button[data-act='approve']").count() == 0
        second.shot(artefacts, "05-proposal-expired-en")
        late = hub.call("POST", f"/api/v1/proposals/{proposal_id}/approve", "borys")
        assert late.status_code == 409 and late.json()["error"]["code"] == "proposal_expired"
        active = hub.call("GET", "/api/v1/alerts/active", "anna").json()["alerts"]
        assert [a for a in active if a["region_id"] == sumy] == []
        for c in opened:
            assert c.errors == []
    finally:
        for c in opened:
            c.close()
        hub.server.stop()


def test_retract_with_one_confirmation_and_the_map_notices(
    browser,  # noqa: F811
    hub: Hub,
    consoles: list[Console],
    catalogue: Catalogue,
    artefacts: Path,
) -> None:
    odesa = oblast(catalogue, "Odeska")
    declared = hub.call("POST", "/api/v1/alerts", "anna", {"region_id": odesa}).json()
    alert_id = declared["alert"]["id"]
    map_page = Page(browser, hub.url + "/?lang=uk")
    try:
        c = open_console(consoles, browser, hub, "anna")
        item = c.open_alert(alert_id)
        item.wait_for()
        item.locator("button[data-act='retract']").click()
        c.page.wait_for_selector("#ask[open]")
        correction = c.page.text_content("#ask-correction")
        assert correction.startswith("Скасовано: Повітряна тривога — Одеська область")
        assert "This alert was issued in error." in correction
        c.page.click("#ask-ok")  # no reason yet: refused in the dialog, nothing sent
        assert c.page.locator("#ask-error").is_visible()
        assert c.page.locator("#ask[open]").count() == 1
        c.page.fill("#ask-reason", "declared for the wrong oblast")
        c.shot(artefacts, "06-retract-dialog-en")
        c.page.click("#ask-ok")
        c.page.wait_for_selector("#receipt[data-done='1']", timeout=30_000)
        notice = map_page.page.locator(f"#retractions .notice[data-alert='{alert_id}']")
        notice.wait_for(timeout=10_000)
        assert "оголошено помилково" in notice.inner_text()
        assert "declared for the wrong oblast" in notice.inner_text()
        map_page.page.screenshot(path=str(artefacts / "07-map-retraction-notice-uk.png"))
        assert c.open_alert(alert_id).count() == 0
        log = hub.call("GET", "/api/v1/log?limit=1000", "anna").json()["events"]
        assert [e["kind"] for e in log if e["alert_id"] == alert_id] == ["declared", "retracted"]
        assert map_page.errors == []
    finally:
        map_page.close()


def test_drills_look_different_and_a_drill_token_cannot_send_actual(
    browser,  # noqa: F811
    hub: Hub,
    consoles: list[Console],
    catalogue: Catalogue,
    artefacts: Path,
) -> None:
    lviv = oblast(catalogue, "Lvivska")
    actual = open_console(consoles, browser, hub, "anna")
    actual.choose("Lviv", lviv)
    actual.preview()
    actual_colour = actual.page.eval_on_selector(
        "#confirm-btn", "b => getComputedStyle(b).backgroundColor"
    )
    assert actual.page.locator("#mode-banner").is_hidden()

    drill = open_console(consoles, browser, hub, "drills")
    assert drill.page.text_content("#who-mode") == "DRILLS AND TESTS ONLY"
    assert drill.page.locator("input[name=status][value=actual]").is_disabled()
    assert drill.page.locator("#drills-only-hint").is_visible()
    assert drill.page.get_attribute("body", "data-mode") == "exercise"
    banner = drill.page.locator("#mode-banner")
    assert banner.is_visible() and "NOT a real alert" in banner.inner_text()
    assert drill.page.title().startswith("EXERCISE")
    drill.choose("Lviv", lviv)
    drill.preview()
    assert drill.page.text_content("#confirm-btn") == "Send EXERCISE alert"
    assert "EXERCISE" in drill.page.text_content("#preview-mode")
    drill_colour = drill.page.eval_on_selector(
        "#confirm-btn", "b => getComputedStyle(b).backgroundColor"
    )
    assert drill_colour != actual_colour
    panel_border = drill.page.eval_on_selector(
        ".compose", "p => getComputedStyle(p).borderTopStyle"
    )
    assert panel_border == "dashed"
    drill.shot(artefacts, "08-exercise-preview-en")
    drill.page.click("#confirm-btn")
    drill.page.wait_for_selector("#receipt[data-done='1']", timeout=30_000)
    assert "EXERCISE" in drill.page.text_content("#receipt-text")
    row = drill.page.locator("#open-list li[data-status='exercise']").first
    row.wait_for()
    assert "drill" in row.get_attribute("class")
    # The actual mode is out of reach whatever the page does: the hub refuses it.
    sent = hub.call("POST", "/api/v1/alerts", "drills", {"region_id": lviv})
    assert sent.status_code == 403
    drill.page.check("input[name=status][value=test]", force=True)
    assert drill.page.get_attribute("body", "data-mode") == "test"
    assert "TEST" in drill.page.text_content("#mode-banner")
    drill.shot(artefacts, "09-test-mode-en")
    hub.call("POST", f"/api/v1/alerts/{row.get_attribute('data-alert')}/end", "anna", {})


def tab_to(page, selector: str, limit: int = 120) -> None:
    """Press Tab until the element matching `selector` has the focus."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} was not reached with Tab")


def test_keyboard_only(
    browser,  # noqa: F811
    hub: Hub,
    consoles: list[Console],
    catalogue: Catalogue,
    artefacts: Path,
) -> None:
    poltava = oblast(catalogue, "Poltavska")
    c = open_console(consoles, browser, hub, None)
    page = c.page
    assert page.evaluate("document.activeElement.id") == "token"
    page.keyboard.type(hub.tokens["borys"])
    page.keyboard.press("Enter")
    page.wait_for_selector("html[data-signed-in='1']", timeout=15_000)
    tab_to(page, "#search")
    page.keyboard.type("Poltav")
    wait_for(
        lambda: page.locator(f"#search-results button[data-region='{poltava}']").count(),
        "the search offers Poltava oblast",
    )
    tab_to(page, f"#search-results button[data-region='{poltava}']")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#chosen li[data-region='{poltava}']")
    tab_to(page, "#preview-btn")
    page.keyboard.press("Enter")
    page.wait_for_selector("#preview:not([hidden])")
    tab_to(page, "#confirm-btn")
    page.keyboard.press("Enter")
    page.wait_for_selector("#receipt[data-done='1']", timeout=30_000)
    alerts = hub.call("GET", "/api/v1/alerts/active", "anna").json()["alerts"]
    [alert] = [a for a in alerts if a["region_id"] == poltava]
    # End it by keyboard: Tab to its button, Enter, then Enter on the dialog's OK.
    page.wait_for_selector(f"#open-list li[data-alert='{alert['id']}']")
    tab_to(page, f"#open-list li[data-alert='{alert['id']}'] button[data-act='end']")
    page.keyboard.press("Enter")
    page.wait_for_selector("#ask[open]")
    tab_to(page, "#ask-ok")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#open-list li[data-alert='{alert['id']}']", state="detached")
    c.shot(artefacts, "10-keyboard-en")
    alerts = hub.call("GET", "/api/v1/alerts/active", "anna").json()["alerts"]
    assert [a for a in alerts if a["region_id"] == poltava] == []


def test_ukrainian_and_english(
    browser,  # noqa: F811
    hub: Hub,
    consoles: list[Console],
    catalogue: Catalogue,
    artefacts: Path,
) -> None:
    c = open_console(consoles, browser, hub, "kharkiv", lang="uk")
    page = c.page
    assert page.get_attribute("html", "lang") == "uk"
    assert page.text_content("h1") == "Пульт чергового"
    assert page.text_content("#preview-btn") == "Попередній перегляд"
    assert page.text_content("#who-scope") == "Харківська область"
    assert "Повітряна тривога" in page.locator("#threat").inner_text()
    c.choose("Харків", oblast(catalogue, "Kharkivska"))
    c.preview()
    assert page.text_content("#confirm-btn") == "Надіслати СПРАВЖНЮ тривогу"
    assert "громад" in page.text_content("#preview-summary")
    c.shot(artefacts, "11-preview-uk")
    page.click("#lang")
    assert page.get_attribute("html", "lang") == "en"
    assert page.text_content("h1") == "Duty officer's console"
    assert page.text_content("#who-scope") == "Kharkivska oblast"
    assert page.text_content("#confirm-btn") == "Send ACTUAL alert"  # the preview stays
    assert "hromadas" in page.text_content("#preview-summary")
    c.shot(artefacts, "12-preview-en")
    # Signing out forgets the token: a reload asks for it again.
    page.click("#sign-out")
    assert page.evaluate("sessionStorage.getItem('tryvoha.console.token')") is None
    page.reload()
    page.wait_for_selector("html[data-ready='1']")
    assert page.locator("#sign-in").is_visible()
    assert page.evaluate("localStorage.getItem('tryvoha.console.token')") is None


def test_a_bad_token_gets_a_readable_refusal(
    browser,  # noqa: F811
    hub: Hub,
    consoles: list[Console],
) -> None:
    c = open_console(consoles, browser, hub, None)
    c.page.fill("#token", "tv_not-a-token")
    c.page.click("#sign-in-form button[type=submit]")
    error = c.page.locator("#error")
    error.wait_for(state="visible")
    assert "not known to this hub" in error.inner_text()
    assert c.page.locator("#desk").is_hidden()
    c.errors.clear()  # the browser logs the 401 itself


def test_the_console_page_has_the_maps_strict_policy(hub: Hub) -> None:
    for path in ("/console", "/console/console.js"):
        r = httpx.get(hub.url + path)
        assert r.status_code == 200
        policy = r.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "require-trusted-types-for 'script'" in policy
        assert "unsafe-inline" not in policy
    assert httpx.get(hub.url + "/console").headers["cache-control"] == "no-store"


def test_several_regions_on_the_map_and_by_search(
    browser,  # noqa: F811
    hub: Hub,
    consoles: list[Console],
    catalogue: Catalogue,
    artefacts: Path,
) -> None:
    """A click on the map takes the oblast (or the raion, as chosen) under the pointer; search
    adds more; the preview covers all of them."""
    vinnytsia = oblast(catalogue, "Vinnytska")
    zhytomyr = oblast(catalogue, "Zhytomyrska")
    c = open_console(consoles, browser, hub, "anna")
    hromada = hromadas_of(catalogue, vinnytsia)[0]
    raion = catalogue.get(catalogue.by_index(hromada).parent_id)

    def click_hromada(index: int) -> None:
        box = c.page.locator(f'path.h[data-i="{index}"]').bounding_box()
        assert box is not None
        c.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

    click_hromada(hromada)
    c.page.wait_for_selector(f"#chosen li[data-region='{vinnytsia}']")
    click_hromada(hromada)  # a second click takes it back
    c.page.wait_for_selector(f"#chosen li[data-region='{vinnytsia}']", state="detached")
    c.page.select_option("#pick-level", "2")
    click_hromada(hromada)
    c.page.wait_for_selector(f"#chosen li[data-region='{raion.id}']")
    c.choose("Zhytomyr", zhytomyr)
    c.preview()
    summary = c.page.locator("#preview-summary")
    expected = len(hromadas_of(catalogue, raion.id)) + len(hromadas_of(catalogue, zhytomyr))
    assert summary.get_attribute("data-hromadas") == str(expected)
    assert "2 oblasts" in summary.inner_text()
    assert c.page.locator("#preview-channels details[data-channel='stream']").count() == 2
    c.shot(artefacts, "13-two-regions-en")
    # Taking the whole oblast replaces the raion inside it (the hub refuses nesting).
    c.choose("Vinnyts", vinnytsia)
    assert c.page.locator(f"#chosen li[data-region='{raion.id}']").count() == 0
    assert c.page.locator("#chosen li").count() == 2
