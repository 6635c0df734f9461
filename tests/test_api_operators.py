"""The operator API's safeguards over HTTP: retraction and multi-region declarations. Every
refusal is a 4xx JSON answer that writes nothing: the log id does not move."""

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
    """The hub's clock, as the test sets it."""

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


# Multi-region declarations --------------------------------------------------------------------


async def test_a_multi_region_declaration_commits_every_region_at_once(
    client: httpx.AsyncClient, hub: Hub, tokens: Tokens, catalogue: Catalogue
) -> None:
    regions = [o.id for o in catalogue.oblasts[:3]]
    body = {"region_ids": regions, "details": ["drones"], "notes": "група шахедів"}
    r = await post(client, "/api/v1/alerts", tokens.anna, 201, json=body)
    doc = r.json()
    assert [e["id"] for e in doc["events"]] == [1, 2, 3] and "location" not in r.headers
    assert [a["region_id"] for a in doc["alerts"]] == regions
    assert all(a["details"] == ["drones"] and a["notes"] == "група шахедів" for a in doc["alerts"])
    assert {e["recorded_at"] for e in doc["events"]} == {doc["events"][0]["recorded_at"]}
    compact = (await client.get("/api/v1/status/compact")).json()
    assert sorted(compact["threats"]["air_raid"]["alerts"]) == sorted(regions)


async def test_a_multi_region_declaration_is_all_or_nothing(
    client: httpx.AsyncClient, hub: Hub, tokens: Tokens, catalogue: Catalogue
) -> None:
    a, b, c = (o.id for o in catalogue.oblasts[4:7])
    kyiv = oblast(catalogue, "Kyivska oblast")
    raion = catalogue.children(kyiv)[0].id
    await post(client, "/api/v1/alerts", tokens.anna, 201, json={"region_id": b})
    cases = [
        ({"region_ids": [a, b, c]}, tokens.anna, 409, "alert_already_open", b),
        ({"region_ids": [a, "UA99", c]}, tokens.anna, 404, "unknown_region", "UA99"),
        ({"region_ids": [kyiv, a]}, tokens.kyiv, 403, "region_out_of_scope", a),
        ({"region_ids": [a, c, a]}, tokens.anna, 422, "duplicate_region", a),
        ({"region_ids": [raion, kyiv]}, tokens.anna, 422, "regions_overlap", raion),
        ({"region_ids": [a, "x" * 33]}, tokens.anna, 422, "text_too_long", "x" * 33),
        ({"region_ids": [a], "status": "exercise"}, tokens.reader, 403, "token_read_only", None),
        (
            {"region_ids": [c], "threat": "urban_fights", "details": ["drones"]},
            tokens.anna,
            422,
            "details_not_allowed",
            None,
        ),
    ]
    for body, token, status, code, named in cases:
        error = await refused(client, hub, "POST", "/api/v1/alerts", token, status, code, json=body)
        if named is not None:
            assert error["region_id"] == named, error
    many = [r.id for r in list(catalogue)[1:102]]
    for body, code in [
        ({"region_ids": []}, "region_count_out_of_range"),
        ({"region_ids": many}, "region_count_out_of_range"),
        ({"region_id": a, "region_ids": [c]}, "region_missing"),
        ({"threat": "air_raid"}, "region_missing"),
        ({"region_ids": "UA"}, "invalid_request"),
    ]:
        await refused(client, hub, "POST", "/api/v1/alerts", tokens.anna, 422, code, json=body)
    assert [
        a["region_id"] for a in (await client.get("/api/v1/alerts/active")).json()["alerts"]
    ] == [b]


async def test_a_multi_region_declaration_is_idempotent(
    client: httpx.AsyncClient, hub: Hub, tokens: Tokens, catalogue: Catalogue
) -> None:
    body = {"region_ids": [o.id for o in catalogue.oblasts[7:10]]}
    headers = {**auth(tokens.anna), "Idempotency-Key": "batch-2026-03-09"}
    first = await client.post("/api/v1/alerts", json=body, headers=headers)
    again = await client.post("/api/v1/alerts", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    assert hub.last_event_id == 3
    other = {"region_ids": body["region_ids"][:2]}
    before = hub.last_event_id
    r = await client.post("/api/v1/alerts", json=other, headers=headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "idempotency_key_reused"
    assert hub.last_event_id == before
