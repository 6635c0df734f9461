"""The map's verified mark: a real hub (`tryvoha serve`), Debian's Chromium, WebCrypto Ed25519."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import orjson
import pytest
from playwright.sync_api import expect

from tryvoha.regions import load_catalogue

from .test_map_browser import Page, browser, make_server  # noqa: F401  (module fixture)

pytestmark = pytest.mark.browser


def first_alert(url: str) -> dict:
    with httpx.stream("GET", f"{url}/api/v1/stream?since=0", timeout=10) as response:
        buffer = b""
        for chunk in response.iter_raw():
            buffer += chunk
            for block in buffer.split(b"\n\n"):
                if block.startswith(b"event: alert"):
                    data = next(line for line in block.split(b"\n") if line.startswith(b"data: "))
                    return orjson.loads(data[6:])
    raise AssertionError("no alert on the stream")


def test_live_events_get_a_verified_mark_and_forgeries_do_not(
    browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    server = make_server(tmp_path)
    server.start()
    page = Page(browser, server.url)
    try:
        oblast = load_catalogue().oblasts[9].id
        declared = server.declare(oblast, details=["drones"])
        log_id = declared["event"]["id"]
        page.page.wait_for_selector(
            f"#sig[data-state='verified'][data-log-id='{log_id}']", timeout=10_000
        )
        assert "перевірено" in page.page.text_content("#sig")
        ended = server.end(declared["alert"]["id"])
        page.page.wait_for_selector(
            f"#sig[data-state='verified'][data-log-id='{ended['event']['id']}']", timeout=10_000
        )

        event = first_alert(server.url)
        flipped = bytearray(base64.b64decode(event["sig"]["signature"]))
        flipped[0] ^= 1
        bad_signature = base64.b64encode(flipped).decode()
        cases = {
            "genuine": event,
            "moved": {**event, "region_id": "UA80000000000093317"},
            "escalated": {**event, "threat": "nuclear"},
            "flipped": {**event, "sig": {**event["sig"], "signature": bad_signature}},
            "foreign key": {**event, "sig": {**event["sig"], "key_id": "0000000000000000"}},
            "unsigned": {k: v for k, v in event.items() if k != "sig"},
        }
        verdicts = page.page.evaluate(
            """async (cases) => {
                const m = await import("/map/verify.js");
                const check = new m.SignatureCheck(null);
                const out = {};
                for (const [name, e] of Object.entries(cases)) out[name] = await check.check(e);
                return out;
            }""",
            cases,
        )
        assert verdicts == {
            "genuine": "verified",
            "moved": "invalid",
            "escalated": "invalid",
            "flipped": "invalid",
            "foreign key": "invalid",
            "unsigned": "unsigned",
        }
        assert page.errors == []
    finally:
        page.close()
        server.stop()


def alerts_on_stream(url: str, count: int) -> list[dict]:
    """The first `count` signed events of the hub's stream, from the start of the log."""
    found: list[dict] = []
    with httpx.stream("GET", f"{url}/api/v1/stream?since=0", timeout=10) as response:
        buffer = b""
        for chunk in response.iter_raw():
            buffer += chunk
            *blocks, buffer = buffer.split(b"\n\n")
            for block in blocks:
                if block.startswith(b"event: alert"):
                    data = next(line for line in block.split(b"\n") if line.startswith(b"data: "))
                    found.append(orjson.loads(data[6:]))
                    if len(found) == count:
                        return found
    raise AssertionError(f"fewer than {count} alerts on the stream")


def test_a_retraction_is_verified_and_noticed_on_a_second_page(
    browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Layout 2 (TRYVEVT2) is read: a retraction gets the verified mark, not 'does NOT match', a
    forged reason or correction does not, and a page open beside it shows the notice live."""
    server = make_server(tmp_path)
    server.start()
    first = Page(browser, server.url + "/?lang=en")
    second = Page(browser, server.url + "/?lang=uk")
    try:
        catalogue = load_catalogue()
        oblast = catalogue.oblasts[4]
        declared = server.declare(oblast.id)
        reason = "operator chose the wrong oblast"
        retracted = server.post(
            f"/api/v1/alerts/{declared['alert']['id']}/retract", {"reason": reason}
        )["event"]
        assert retracted["kind"] == "retracted"
        first.page.wait_for_selector(
            f"#sig[data-state='verified'][data-log-id='{retracted['id']}']", timeout=10_000
        )
        for page, title in ((first, "issued in error"), (second, "оголошено помилково")):
            selector = f"#retractions .notice[data-alert='{retracted['alert_id']}']"
            notice = page.page.locator(selector)
            notice.wait_for(timeout=10_000)
            text = notice.inner_text()
            assert title in text
            assert reason in text
            assert "This alert was issued in error." in text  # the bilingual correction
            assert "Цю тривогу оголошено помилково." in text
            # the list is repainted on the next frame (no string evaluation: the CSP forbids it)
            expect(page.page.locator("#alert-list li")).to_have_count(0, timeout=10_000)
        second.page.screenshot(path=str(tmp_path / "map-retraction-notice.png"))

        event = alerts_on_stream(server.url, 2)[1]
        assert base64.b64decode(event["sig"]["signed"])[:8] == b"TRYVEVT2"
        cases = {
            "genuine": event,
            "other reason": {**event, "reason": "a drill"},
            "no correction": {k: v for k, v in event.items() if k != "correction"},
            "other correction": {**event, "correction": "All clear."},
        }
        verdicts = first.page.evaluate(
            """async (cases) => {
                const m = await import("/map/verify.js");
                const check = new m.SignatureCheck(null);
                const out = {};
                for (const [name, e] of Object.entries(cases)) out[name] = await check.check(e);
                return out;
            }""",
            cases,
        )
        assert verdicts == {
            "genuine": "verified",
            "other reason": "invalid",
            "no correction": "invalid",
            "other correction": "invalid",
        }
        assert first.errors == [] and second.errors == []
    finally:
        first.close()
        second.close()
        server.stop()
