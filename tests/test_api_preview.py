"""The console's API: preview (what a declaration would do, writing nothing), what a token is, and
its own recent actions. Every refusal is the declaration's own 4xx answer; the log never moves."""

from __future__ import annotations

import httpx
import orjson
import shapely
from lxml import etree
from shapely.geometry import shape

from tryvoha.hub import Hub
from tryvoha.regions import Catalogue, Level

from .conftest import auth
from .test_api_operators import (  # noqa: F401  (fixtures)
    Tokens,
    client,
    clock,
    hub,
    oblast,
    post,
    refused,
    tokens,
)

PREVIEW = "/api/v1/operator/preview"


def hromadas(catalogue: Catalogue, region_id: str) -> int:
    return sum(1 for r in catalogue.descendants(region_id) if r.level is Level.HROMADA)


async def test_preview_shows_the_area_and_every_channel_and_writes_nothing(
    client: httpx.AsyncClient,  # noqa: F811
    hub: Hub,  # noqa: F811
    tokens: Tokens,  # noqa: F811
    catalogue: Catalogue,
) -> None:
    kharkiv = oblast(catalogue, "Kharkivska oblast")
    body = {"region_id": kharkiv, "threat": "air_raid", "details": ["drones"], "notes": "Шахеди"}
    before = hub.last_event_id
    r = await post(client, PREVIEW, tokens.anna, 200, json=body)
    doc = r.json()
    assert hub.last_event_id == before == hub.store.last_event_id
    assert r.headers["cache-control"] == "no-store"
    assert [x["id"] for x in doc["regions"]] == [kharkiv]
    assert doc["regions"][0]["name_en"] == catalogue.get(kharkiv).name_en
    assert doc["hromadas"] == hromadas(catalogue, kharkiv) == doc["regions"][0]["hromadas"]
    assert doc["hromadas"] > 40
    assert doc["second_person"] is False and doc["rule"] is None
    area = shape(doc["area"])
    assert area.geom_type in ("Polygon", "MultiPolygon")
    centre = catalogue.boundary(kharkiv).representative_point()
    assert area.buffer(0.02).contains(centre)
    assert len(orjson.dumps(doc["area"])) < 60_000  # simplified for drawing
    [event] = doc["events"]
    assert event["kind"] == "declared" and event["id"] == before + 1
    assert event["details"] == ["drones"] and event["originator"] == "token:anna"
    [channels] = doc["channels"]
    stream = channels["stream"]["body"]
    assert stream.startswith(f"event: alert\nid: {before + 1}\ndata: ")
    assert orjson.loads(stream.split("data: ", 1)[1]) == event
    assert orjson.loads(channels["webhooks"]["body"])["event"] == event
    assert channels["mqtt"]["topic"] == f"tryvoha/events/{kharkiv}"
    assert orjson.loads(channels["mqtt"]["body"]) == event
    cap = etree.fromstring(channels["cap"]["body"].encode())
    ns = {"c": "urn:oasis:names:tc:emergency:cap:1.2"}
    assert cap.findtext("c:msgType", namespaces=ns) == "Alert"
    assert cap.findtext("c:status", namespaces=ns) == "Actual"
    assert cap.find(".//{http://www.w3.org/2000/09/xmldsig#}Signature") is None  # never signed

    # The declaration itself then does what the preview said.
    declared = await post(client, "/api/v1/alerts", tokens.anna, 201, json=body)
    assert declared.json()["event"]["id"] == event["id"]
    assert {k: v for k, v in declared.json()["event"].items() if k.endswith("_at")} != {}
    same = {k: v for k, v in declared.json()["event"].items() if not k.endswith("_at")}
    assert same == {k: v for k, v in event.items() if not k.endswith("_at")}


async def test_preview_of_several_regions_and_the_second_person_rule(
    client: httpx.AsyncClient,  # noqa: F811
    hub: Hub,  # noqa: F811
    tokens: Tokens,  # noqa: F811
    catalogue: Catalogue,
) -> None:
    names = ["Kharkivska oblast", "Sumska oblast", "Poltavska oblast", "Odeska oblast"]
    ids = [oblast(catalogue, n) for n in names]
    before = hub.last_event_id
    doc = (await post(client, PREVIEW, tokens.anna, 200, json={"region_ids": ids})).json()
    assert hub.last_event_id == before
    assert [x["id"] for x in doc["regions"]] == ids
    assert doc["hromadas"] == sum(hromadas(catalogue, i) for i in ids)
    assert doc["oblasts"] == 4
    assert doc["second_person"] is True
    assert "4 oblasts" in doc["rule"] and doc["expires_in_seconds"] == 120
    # The channels show what the approval would send: declarations, the proposer named.
    assert [e["kind"] for e in doc["events"]] == ["declared"] * 4
    assert {e["proposed_by"] for e in doc["events"]} == {"token:anna"}
    assert shape(doc["area"]).geom_type == "MultiPolygon"
    assert shapely.area(shape(doc["area"])) > 4 * 0.5 * min(catalogue.boundary(i).area for i in ids)

    nuclear = {"region_id": ids[0], "threat": "nuclear"}
    doc = (await post(client, PREVIEW, tokens.anna, 200, json=nuclear)).json()
    assert doc["second_person"] is True and "nuclear" in doc["rule"]
    drill = {"region_id": ids[0], "threat": "nuclear", "status": "exercise"}
    doc = (await post(client, PREVIEW, tokens.anna, 200, json=drill)).json()
    assert doc["second_person"] is False and doc["rule"] is None
    assert doc["channels"][0]["mqtt"]["topic"].startswith("tryvoha/drills/events/")
    assert hub.last_event_id == before


async def test_preview_refuses_what_the_declaration_refuses(
    client: httpx.AsyncClient,  # noqa: F811
    hub: Hub,  # noqa: F811
    tokens: Tokens,  # noqa: F811
    catalogue: Catalogue,
) -> None:
    kyiv = oblast(catalogue, "Kyivska oblast")
    lviv = oblast(catalogue, "Lvivska oblast")
    cases = [
        (tokens.kyiv, {"region_id": lviv}, 403, "region_out_of_scope"),
        (tokens.drills, {"region_id": kyiv}, 403, None),
        (tokens.anna, {"region_id": "UA99"}, 404, None),
        (tokens.anna, {}, 422, "region_missing"),
        (tokens.anna, {"region_id": kyiv, "threat": "zombies"}, 422, None),
        (tokens.anna, {"region_id": kyiv, "details": ["drones"], "threat": "nuclear"}, 422, None),
        (tokens.anna, {"region_id": kyiv, "colour": "red"}, 422, None),
    ]
    for token, body, status, code in cases:
        declared = await client.post("/api/v1/alerts", json=body, headers=auth(token))
        assert declared.status_code == status, (body, declared.text)
        expected = code or declared.json()["error"]["code"]
        assert declared.json()["error"]["code"] == expected
        error = await refused(client, hub, "POST", PREVIEW, token, status, expected, json=body)
        assert error == declared.json()["error"]
    await refused(client, hub, "POST", PREVIEW, tokens.reader, 403, "token_read_only", json={})
    r = await client.post(PREVIEW, json={"region_id": kyiv})
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_missing"

    await post(client, "/api/v1/alerts", tokens.kyiv, 201, json={"region_id": kyiv})
    declared = await client.post(
        "/api/v1/alerts", json={"region_id": kyiv}, headers=auth(tokens.kyiv)
    )
    error = await refused(
        client,
        hub,
        "POST",
        PREVIEW,
        tokens.kyiv,
        409,
        "alert_already_open",
        json={"region_id": kyiv},
    )
    assert error == declared.json()["error"]


async def test_me_says_what_a_token_may_touch(
    client: httpx.AsyncClient,  # noqa: F811
    hub: Hub,  # noqa: F811
    tokens: Tokens,  # noqa: F811
    catalogue: Catalogue,
) -> None:
    kyiv = oblast(catalogue, "Kyivska oblast")
    doc = (await client.get("/api/v1/operator/me", headers=auth(tokens.kyiv))).json()
    assert doc["name"] == "kyiv" and doc["originator"] == "token:kyiv"
    assert [s["id"] for s in doc["scopes"]] == [kyiv]
    assert doc["scopes"][0]["name_uk"] == catalogue.get(kyiv).name_uk
    assert doc["mode"] == "all" and doc["may_approve"] is True
    assert doc["statuses"] == ["actual", "exercise", "test"]
    assert doc["approval_rule"] == {
        "threats": ["chemical", "nuclear"],
        "max_oblasts": 3,
        "levels": [],
        "ttl_seconds": 120,
    }
    doc = (await client.get("/api/v1/operator/me", headers=auth(tokens.drills))).json()
    assert doc["scopes"] is None and doc["mode"] == "drills_only"
    assert doc["statuses"] == ["exercise", "test"] and doc["may_approve"] is False
    await refused(client, hub, "GET", "/api/v1/operator/me", tokens.reader, 403, "token_read_only")
    await refused(client, hub, "GET", "/api/v1/operator/me", "tv_nonsense", 401, "token_invalid")


async def test_actions_are_the_tokens_own_newest_first(
    client: httpx.AsyncClient,  # noqa: F811
    hub: Hub,  # noqa: F811
    tokens: Tokens,  # noqa: F811
    catalogue: Catalogue,
) -> None:
    kyiv = oblast(catalogue, "Kyivska oblast")
    lviv = oblast(catalogue, "Lvivska oblast")
    mine = await post(client, "/api/v1/alerts", tokens.anna, 201, json={"region_id": kyiv})
    await post(client, "/api/v1/alerts", tokens.borys, 201, json={"region_id": lviv})
    alert_id = mine.json()["alert"]["id"]
    await post(client, f"/api/v1/alerts/{alert_id}/end", tokens.anna, 200, json={})
    doc = (await client.get("/api/v1/operator/actions", headers=auth(tokens.anna))).json()
    assert [(e["kind"], e["region_id"]) for e in doc["events"]] == [
        ("ended", kyiv),
        ("declared", kyiv),
    ]
    assert doc["log_id"] == hub.last_event_id
    one = await client.get("/api/v1/operator/actions?limit=1", headers=auth(tokens.anna))
    assert [e["kind"] for e in one.json()["events"]] == ["ended"]
    for bad in ("0", "201", "many"):
        await refused(
            client,
            hub,
            "GET",
            f"/api/v1/operator/actions?limit={bad}",
            tokens.anna,
            422,
            "invalid_request",
        )


def test_the_console_routes_are_documented(hub: Hub, settings) -> None:  # noqa: F811
    from tryvoha.api.app import create_app

    schema = create_app(hub, settings).openapi()
    preview = schema["paths"][PREVIEW]["post"]
    assert set(preview["responses"]) >= {"200", "401", "403", "404", "409", "422"}
    body = preview["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    declare = schema["paths"]["/api/v1/alerts"]["post"]["requestBody"]["content"]
    assert body == declare["application/json"]["schema"]["$ref"]  # exactly a declaration's body
    assert "/api/v1/operator/me" in schema["paths"]
    assert "/api/v1/operator/actions" in schema["paths"]
    assert "/api/v1/events/{event_id}/delivery" in schema["paths"]


async def test_correction_is_what_a_retraction_would_carry(
    client: httpx.AsyncClient,  # noqa: F811
    hub: Hub,  # noqa: F811
    tokens: Tokens,  # noqa: F811
    catalogue: Catalogue,
) -> None:
    kyiv = oblast(catalogue, "Kyivska oblast")
    declared = await post(client, "/api/v1/alerts", tokens.kyiv, 201, json={"region_id": kyiv})
    alert_id = declared.json()["alert"]["id"]
    path = f"/api/v1/operator/alerts/{alert_id}/correction"
    before = hub.last_event_id
    r = await client.get(path, headers=auth(tokens.kyiv))
    assert r.status_code == 200 and hub.last_event_id == before
    shown = r.json()
    assert shown["alert_id"] == alert_id
    assert shown["correction"].startswith("Скасовано: Повітряна тривога — Київська область")
    retracted = await post(
        client, f"/api/v1/alerts/{alert_id}/retract", tokens.kyiv, 200, json={"reason": "wrong"}
    )
    assert retracted.json()["event"]["correction"] == shown["correction"]
    await refused(client, hub, "GET", path, tokens.kyiv, 404, "alert_not_open")
    await refused(client, hub, "GET", path, tokens.reader, 403, "token_read_only")
    await refused(
        client,
        hub,
        "GET",
        "/api/v1/operator/alerts/0/correction",
        tokens.kyiv,
        422,
        "invalid_request",
    )
