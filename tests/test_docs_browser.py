"""The API page in Chromium with the network cut off: everything it needs comes from the hub.

Every request that leaves 127.0.0.1 is aborted (Playwright's route), as on a machine without
internet; the page must still render the operations of the API, with no CSP violation.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.test_map_browser import CHROMIUM, CHROMIUM_ARGS, Server, _need_chromium, make_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _need_chromium()
    server = make_server(tmp_path_factory.mktemp("docs"))
    server.start()
    yield server
    server.stop()


def test_the_api_page_renders_its_operations_with_no_internet(hub: Server) -> None:
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    problems: list[str] = []

    def only_local(route) -> None:
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.route("**/*", only_local)
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and problems.append(m.text))
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(hub.url + "/docs")
        page.wait_for_selector(".opblock", timeout=20_000)
        operations = page.locator(".opblock-summary-path").all_text_contents()
        title = page.locator(".info .title").text_content()
        context.close()
        browser.close()
    assert "/api/v1/alerts" in [o.replace("\u200b", "") for o in operations]
    assert len(operations) > 20
    assert title and "tryvoha" in title
    assert outside == [], f"the page reached out: {outside}"
    assert problems == [], problems
