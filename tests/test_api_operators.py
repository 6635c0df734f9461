"""The operator API's safeguards over HTTP: retraction. Every refusal is a 4xx JSON answer that
writes nothing: the log id does not move."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tryvoha.api.app import create_app
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore, TokenRole

from .conftest import auth


class Clock:
    """The hub's clock, moved by the test: expiry without sleeping."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hub(catalogue: Catalogue, sqlite_url: str, clock: Clock) -> Iterator[Hub]:
    h = Hub(catalogue, SqlStore(sqlite_url), clock=clock)
    h.load()
    yield h
    h.close()


class Tokens:
    def __init__(self, hub: Hub, catalogue: Catalogue) -> None:
        store = hub.store
        self.anna, _ = store.create_token("anna", None)
        self.borys, _ = store.create_token("borys", None)
        self.kyiv, _ = store.create_token("kyiv", [catalogue.resolve("Kyivska oblast").id])
        self.drills, _ = store.create_token("drills", None, drills_only=True)
        self.reader, _ = store.create_token("reader", None, role=TokenRole.READ_ONLY)


@pytest.fixture
def tokens(hub: Hub, catalogue: Catalogue) -> Tokens:
    return Tokens(hub, catalogue)


@pytest.fixture
async def client(hub: Hub, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(hub, settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
        yield c


async def refused(
    client: httpx.AsyncClient,
    hub: Hub,
    method: str,
    path: str,
    token: str,
    status: int,
    code: str,
    **kw: Any,
) -> dict[str, Any]:
    """The request is refused with `status` and `code`, and nothing is written."""
    before = hub.last_event_id
    r = await client.request(method, path, headers=auth(token), **kw)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["message"], error
    assert hub.last_event_id == before == hub.store.last_event_id
    return error


async def post(
    client: httpx.AsyncClient, path: str, token: str, status: int, **kw: Any
) -> httpx.Response:
    r = await client.post(path, headers=auth(token), **kw)
    assert r.status_code == status, r.text
    return r


def oblast(catalogue: Catalogue, name: str) -> str:
    return catalogue.resolve(name).id


# Retraction ---------------------------------------------------------------------------------


async def test_retract_by_id_drops_the_alert_everywhere_and_history_says_so(
    client: httpx.AsyncClient, hub: Hub, tokens: Tokens, catalogue: Catalogue
) -> None:
    kyiv = oblast(catalogue, "Kyivska oblast")
    declared = await post(client, "/api/v1/alerts", tokens.kyiv, 201, json={"region_id": kyiv})
    alert_id = declared.json()["alert"]["id"]
    r = await post(
        client,
        f"/api/v1/alerts/{alert_id}/retract",
        tokens.kyiv,
        200,
        json={"reason": "оголошено не для тієї області"},
    )
    assert r.headers["location"] == f"/api/v1/alerts/{alert_id}"
    event, alert = r.json()["event"], r.json()["alert"]
    assert event["kind"] == "retracted" and event["reason"] == "оголошено не для тієї області"
    assert event["correction"].startswith("Скасовано: Повітряна тривога — Київська область")
    assert "This alert was issued in error." in event["correction"]
    assert alert["retracted"] is True and alert["ended_at"] == event["occurred_at"]
    assert alert["ended_by"] == "token:kyiv"
    assert (await client.get("/api/v1/status/compact")).json()["threats"] == {}
    assert (await client.get("/api/v1/alerts/active")).json()["alerts"] == []
    history = (await client.get("/api/v1/alerts/history")).json()["alerts"]
    assert [(a["id"], a["retracted"]) for a in history] == [(alert_id, True)]
    assert (await client.get(f"/api/v1/alerts/{alert_id}")).json()["retracted"] is True
    log = (await client.get("/api/v1/log")).json()["events"]
    assert [e["kind"] for e in log] == ["declared", "retracted"] and log[1] == event
    await refused(
        client,
        hub,
        "POST",
        f"/api/v1/alerts/{alert_id}/retract",
        tokens.kyiv,
        409,
        "alert_not_open",
        json={"reason": "again"},
    )


async def test_retract_by_region_and_its_refusals(
    client: httpx.AsyncClient, hub: Hub, tokens: Tokens, catalogue: Catalogue
) -> None:
    kyiv = oblast(catalogue, "Kyivska oblast")
    lviv = oblast(catalogue, "Lvivska oblast")
    await post(client, "/api/v1/alerts", tokens.anna, 201, json={"region_id": lviv})
    await post(client, "/api/v1/alerts", tokens.anna, 201, json={"region_id": kyiv})
    drill = {"region_id": kyiv, "status": "test"}
    await post(client, "/api/v1/alerts", tokens.drills, 201, json=drill)
    path = f"/api/v1/regions/{lviv}/alerts/air_raid/retract"
    for body, status, code in [
        ({}, 422, "invalid_request"),
        ({"reason": "  "}, 422, "reason_missing"),
        ({"reason": "x" * 501}, 422, "reason_too_long"),
        ({"reason": "a\u0007b"}, 422, "reason_invalid"),
        ({"reason": "ok", "extra": 1}, 422, "invalid_request"),
    ]:
        await refused(client, hub, "POST", path, tokens.anna, status, code, json=body)
    good = {"json": {"reason": "wrong oblast"}}
    await refused(client, hub, "POST", path, tokens.kyiv, 403, "region_out_of_scope", **good)
    await refused(client, hub, "POST", path, tokens.drills, 403, "drills_only", **good)
    await refused(client, hub, "POST", path, tokens.reader, 403, "token_read_only", **good)
    await refused(client, hub, "POST", path, "tv_nobody", 401, "token_invalid", **good)
    unknown = "/api/v1/regions/UA99/alerts/air_raid/retract"
    await refused(client, hub, "POST", unknown, tokens.anna, 404, "unknown_region", **good)
    shelling = f"/api/v1/regions/{lviv}/alerts/artillery_shelling/retract"
    await refused(client, hub, "POST", shelling, tokens.anna, 409, "alert_not_open", **good)
    r = await post(client, path, tokens.anna, 200, **good)
    assert r.json()["event"]["region_id"] == lviv
    # a drills-only token retracts a drill (status named in the query), never the real alert
    drill_path = f"/api/v1/regions/{kyiv}/alerts/air_raid/retract?status=test"
    r = await post(client, drill_path, tokens.drills, 200, **good)
    assert "(перевірка)" in r.json()["event"]["correction"]
    real_path = f"/api/v1/regions/{kyiv}/alerts/air_raid/retract"
    await refused(client, hub, "POST", real_path, tokens.drills, 403, "drills_only", **good)


async def test_retraction_is_idempotent_by_key(
    client: httpx.AsyncClient, hub: Hub, tokens: Tokens, catalogue: Catalogue
) -> None:
    region = catalogue.oblasts[3].id
    alert_id = (
        await post(client, "/api/v1/alerts", tokens.anna, 201, json={"region_id": region})
    ).json()["alert"]["id"]
    headers = {**auth(tokens.anna), "Idempotency-Key": "retract-1"}
    path = f"/api/v1/alerts/{alert_id}/retract"
    first = await client.post(path, json={"reason": "mistake"}, headers=headers)
    again = await client.post(path, json={"reason": "mistake"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    assert hub.last_event_id == 2
