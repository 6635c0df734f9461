"""Every error the app produces is JSON with a code and a message, faults of the hub included;
absurd conditional headers are ignored, never a 500."""

from __future__ import annotations

import httpx
import pytest

from tryvoha.api.app import create_app
from tryvoha.config import Settings
from tryvoha.hub import Hub

from .conftest import LiveHub, auth

ABSURD_DATES = [
    "Mon, 01 Jan 0000 00:00:00 GMT",
    "Mon, 01 Jan 99999 00:00:00 GMT",
    "Fri, 31 Dec 9999 23:59:59 -2359",
    "garbage",
    "Mon, 01 Jan " + "9" * 5000 + " 00:00:00 GMT",
]
POLLED = [
    "/api/v1/status/compact",
    "/api/v1/status",
    "/v1/iot/active_air_raid_alerts_by_oblast.json",
    "/v1/regions/9/alerts/day_ago.json",
    "/api/v3/alerts/31",
    "/api/v3/alerts/dateHistory?date=20240101",
]


def is_error(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    error = r.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    return error


async def test_unknown_paths_and_methods(client: httpx.AsyncClient) -> None:
    is_error(await client.get("/api/v2/nothing"), 404, "not_found")
    is_error(await client.get("/map/nothing.js"), 404)
    r = await client.delete("/api/v1/status")
    is_error(r, 405, "method_not_allowed")
    assert "GET" in r.headers["allow"]
    is_error(await client.put("/api/v1/alerts", json={}), 405, "method_not_allowed")


async def test_oversize_body(client: httpx.AsyncClient, admin_token: str) -> None:
    big = b'{"region_id": "' + b"x" * 20_000 + b'"}'
    r = await client.post("/api/v1/webhooks", content=big, headers=auth(admin_token))
    is_error(r, 413, "body_too_large")
    r = await client.post("/api/v3/webhook", content=big, headers={"Authorization": admin_token})
    is_error(r, 413, "body_too_large")


async def test_faults_of_the_hub_are_json_500(hub: Hub, settings: Settings) -> None:
    """With its database gone, the hub fails, and says so in JSON, in the app and in the gate."""
    token, _ = hub.store.create_token("reader", [])
    app = create_app(hub, settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    engine = hub.store.engine
    pool = engine.pool
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
        engine.pool = None  # type: ignore[assignment]  # the database is gone: every read fails
        try:
            answers = [
                await c.get("/api/v1/log"),
                await c.post("/api/v1/alerts", json={"region_id": "UA"}, headers=auth(token)),
                await c.get("/v1/iot/active_air_raid_alerts.json", headers=auth(token)),
                await c.get("/api/v3/alerts/31", headers={"Authorization": token}),
            ]
        finally:
            engine.pool = pool
    for r in answers:
        error = is_error(r, 500, "internal_error")
        assert "Traceback" not in error["message"] and "pool" not in error["message"]


@pytest.mark.parametrize("value", ABSURD_DATES)
async def test_absurd_if_modified_since_is_ignored(
    api_with_key: tuple[httpx.AsyncClient, str], value: str
) -> None:
    api, key = api_with_key
    for path in POLLED:
        r = await api.get(path, headers={**auth(key), "If-Modified-Since": value})
        assert r.status_code == 200, (path, r.text)


def test_absurd_if_modified_since_at_the_parser(live_hub: LiveHub) -> None:
    for value in ABSURD_DATES:
        for path in ("/api/v1/status/compact", "/api/v3/alerts/31", "/api/v3/alerts"):
            r = httpx.get(f"{live_hub.url}{path}", headers={"If-Modified-Since": value})
            assert r.status_code == 200, (path, value[:40], r.text)


@pytest.fixture
async def api_with_key(client: httpx.AsyncClient, hub: Hub):
    key, _ = hub.store.create_token("absurd", [])
    return client, key
