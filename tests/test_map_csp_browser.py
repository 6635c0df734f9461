"""The map under its Content-Security-Policy in Chromium: it loads, draws tiles from the configured
tile server, goes live, and the browser reports no violation."""

from __future__ import annotations

import struct
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from .test_map_browser import Server, browser, make_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser


def _png() -> bytes:
    """A 1×1 grey PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack("!I", len(data)) + body + struct.pack("!I", zlib.crc32(body))

    header = struct.pack("!IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x80")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PNG = _png()
RECORD = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


class Tiles(ThreadingHTTPServer):
    """A tile server on its own origin that counts what it served."""

    def __init__(self) -> None:
        self.served: list[str] = []
        tiles = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                tiles.served.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                self.wfile.write(PNG)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def tiles() -> Iterator[Tiles]:
    server = Tiles()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def tiled_hub(tmp_path: Path, tiles: Tiles, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    url = f"http://127.0.0.1:{tiles.server_address[1]}/{{z}}/{{x}}/{{y}}.png"
    monkeypatch.setenv("TRYVOHA_MAP_TILE_URL", url)
    monkeypatch.setenv("TRYVOHA_MAP_TILE_ATTRIBUTION", "test tiles")
    server = make_server(tmp_path)
    server.start()
    yield server
    server.stop()


def test_map_keeps_to_its_policy(browser, tiled_hub: Server, tiles: Tiles) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    context.add_init_script(RECORD)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        answer = page.goto(tiled_hub.url + "/?lang=en")
        assert answer is not None and "content-security-policy" in answer.headers
        page.wait_for_selector("html[data-ready='1']", timeout=10_000)
        page.wait_for_selector("#conn[data-state='live']", timeout=10_000)
        alert = tiled_hub.declare(_first_oblast(tiled_hub))["alert"]
        page.wait_for_function(
            f"() => document.documentElement.dataset.logId >= {alert['last_event_id']}",
            timeout=5000,
        )
        page.locator("#zoom-in").click()
        page.wait_for_function("() => document.querySelectorAll('g.tiles image').length > 0")
        deadline = time.monotonic() + 10
        while not tiles.served and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        assert tiles.served, "the map drew no tile from the configured tile server"
        assert page.evaluate("window.__csp") == []
        assert errors == []
        # The listener does hear a violation when there is one: an inline style attribute.
        page.evaluate("document.body.setAttribute('style', 'outline: 1px solid red')")
        page.wait_for_function("() => window.__csp.length > 0", timeout=5000)
        assert any("style-src" in v for v in page.evaluate("window.__csp"))
    finally:
        context.close()


def _first_oblast(server: Server) -> str:
    import httpx

    regions = httpx.get(f"{server.url}/api/v1/regions", params={"level": "oblast"}).json()
    return regions["regions"][0]["id"]
