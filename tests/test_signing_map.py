"""The map's verified mark: a real hub (`tryvoha serve`), Debian's Chromium, WebCrypto Ed25519."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import orjson
import pytest

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
