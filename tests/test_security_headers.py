"""Browser security headers on the map and the docs: a strict policy the pages keep to."""

from __future__ import annotations

import re
from dataclasses import replace

import httpx
import pytest

from tryvoha.api.app import create_app
from tryvoha.api.security import map_policy, tile_source
from tryvoha.config import Settings
from tryvoha.hub import Hub

COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def directives(policy: str) -> dict[str, list[str]]:
    parts = [p.split() for p in policy.split(";") if p.strip()]
    return {p[0]: p[1:] for p in parts}


@pytest.mark.parametrize(
    "path", ["/", "/map/app.js", "/map/map.css", "/map/map.json", "/map/favicon.svg", "/map/nope"]
)
async def test_map_pages_and_files_carry_the_strict_policy(
    client: httpx.AsyncClient, path: str
) -> None:
    r = await client.get(path)
    assert r.status_code == (404 if path == "/map/nope" else 200)
    for name, value in COMMON.items():
        assert r.headers[name] == value
    policy = directives(r.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'"] and policy["connect-src"] == ["'self'"]
    assert policy["require-trusted-types-for"] == ["'script'"]
    assert not any("unsafe" in v for values in policy.values() for v in values)
    again = await client.get(path, headers={"If-None-Match": r.headers.get("etag", "-")})
    assert "content-security-policy" in again.headers  # 304s too


async def test_the_map_page_has_no_inline_code(client: httpx.AsyncClient) -> None:
    page = (await client.get("/", headers={"Accept-Encoding": "identity"})).text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "inline script"
    assert "<style" not in page and " style=" not in page and "data:" not in page
    assert not re.search(r"\son[a-z]+=", page), "inline event handler"


async def test_tile_server_allowed_when_configured(hub: Hub, settings: Settings) -> None:
    tiles = "https://tiles.example.org:8443/{z}/{x}/{y}.png"
    app = create_app(hub, replace(settings, map_tile_url=tiles))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        await _tiles_allowed(client)


async def _tiles_allowed(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    img = directives(r.headers["content-security-policy"])["img-src"]
    assert img == ["'self'", "https://tiles.example.org:8443"]
    assert (await client.get("/api/v1/map/config")).json()["tile_url"].startswith("https://tiles")
    for hostile in ("javascript:alert(1)", "https://a.org; script-src *", "https://{s}.t.org/x"):
        assert tile_source(hostile) == ""
        assert "script-src 'self';" in map_policy(hostile)


@pytest.mark.parametrize(
    "path", ["/docs", "/docs/init.js", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"]
)
async def test_the_api_page_comes_from_the_hub_alone(client: httpx.AsyncClient, path: str) -> None:
    """Swagger UI is in the package: the page and its files load from the hub, with a policy
    that allows nothing else and no inline script."""
    r = await client.get(path)
    assert r.status_code == 200 and r.headers["x-frame-options"] == "DENY"
    policy = directives(r.headers["content-security-policy"])
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["default-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert set(policy["img-src"]) == {"'self'", "data:"}
    if path == "/docs":
        assert re.findall(r"<script>", r.text) == []  # no inline script
        sources = re.findall(r'(?:src|href)="([^"]+)"', r.text)
        assert sources and all(s.startswith("/") and not s.startswith("//") for s in sources)
        for source in sources:
            assert (await client.get(source)).status_code == 200, source


async def test_the_old_cdn_pages_are_gone(client: httpx.AsyncClient) -> None:
    assert (await client.get("/redoc")).status_code == 404
    assert (await client.get("/docs/nope.js")).json()["error"]["code"] == "not_found"


async def test_api_answers_are_not_pages(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/status/compact")
    assert "content-security-policy" not in r.headers
