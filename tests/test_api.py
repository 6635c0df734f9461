"""The HTTP API: operator commands, public reads, conditional GETs and every bad-input rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

import httpx
import pytest

from tryvoha.api.app import create_app
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue

from .conftest import auth


async def declare(client: httpx.AsyncClient, token: str, region: str, **extra) -> httpx.Response:
    return await client.post(
        "/api/v1/alerts", json={"region_id": region, **extra}, headers=auth(token)
    )


async def assert_nothing_written(client: httpx.AsyncClient, before: int) -> None:
    log = (await client.get("/api/v1/log")).json()
    assert log["last_event_id"] == before


async def test_status_views_are_rendered_once_per_log_id(
    client, admin_token, catalogue: Catalogue, monkeypatch
) -> None:
    """Polling the whole country's status between two events costs no rendering: each view
    (threat, drills) is rendered once per log id and kept; the next event renders it anew."""
    from tryvoha.api import public

    rendered: list[tuple[str, bool]] = []
    detailed = public.detailed_status

    def counted(hub, threat, drills=False):
        rendered.append((threat.value, drills))
        return detailed(hub, threat, drills)

    monkeypatch.setattr(public, "detailed_status", counted)
    query = {"threat": "air_raid"}
    first = await client.get("/api/v1/status", params=query)
    for _ in range(3):
        assert (await client.get("/api/v1/status", params=query)).content == first.content
    drills = await client.get("/api/v1/status", params={**query, "drills": "true"})
    assert drills.json()["drills"] is True
    assert rendered == [("air_raid", False), ("air_raid", True)]
    assert (await declare(client, admin_token, catalogue.oblasts[2].id)).status_code == 201
    after = await client.get("/api/v1/status", params=query)
    assert after.json()["log_id"] == first.json()["log_id"] + 1
    assert rendered[-1] == ("air_raid", False) and len(rendered) == 3


async def test_the_region_list_is_rendered_once_and_kept(
    client, catalogue: Catalogue, monkeypatch
) -> None:
    from tryvoha.api import public

    made: list[str] = []
    region_doc = public.region_doc

    def counted(region):
        made.append(region.id)
        return region_doc(region)

    monkeypatch.setattr(public, "region_doc", counted)
    params = {"level": "oblast"}
    first = await client.get("/api/v1/regions", params=params)
    again = await client.get("/api/v1/regions", params=params)
    assert first.status_code == again.status_code == 200 and first.content == again.content
    assert made == [o.id for o in catalogue.oblasts]  # rendered for the first request only
    children = await client.get("/api/v1/regions", params={"parent_id": catalogue.oblasts[0].id})
    assert [r["parent_id"] for r in children.json()["regions"]] == [catalogue.oblasts[0].id] * len(
        catalogue.children(catalogue.oblasts[0].id)
    )
    unknown = await client.get("/api/v1/regions", params={"parent_id": "UA00"})
    assert unknown.status_code == 404


async def test_declare_status_end_cycle(client, admin_token, catalogue: Catalogue) -> None:
    oblast = catalogue.oblasts[5]
    raion = catalogue.children(oblast.id)[0]
    r = await declare(client, admin_token, raion.id, details=["drones"], notes="шахеди з півдня")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["event"]["kind"] == "declared" and body["event"]["id"] == 1
    assert body["alert"]["details"] == ["drones"]
    assert body["event"]["originator"] == "token:test-admin"
    assert r.headers["location"] == f"/api/v1/alerts/{body['alert']['id']}"

    compact = (await client.get("/api/v1/status/compact")).json()
    assert compact["log_id"] == 1
    assert compact["threats"]["air_raid"]["alerts"] == [raion.id]
    assert oblast.id in compact["threats"]["air_raid"]["partial"]

    detailed = (await client.get("/api/v1/status")).json()
    by_id = {r["id"]: r for r in detailed["regions"]}
    assert by_id[oblast.id]["status"] == "partial"
    assert by_id[raion.id]["status"] == "active" and by_id[raion.id]["since"]
    hromada = catalogue.children(raion.id)[0]
    assert by_id[hromada.id]["status"] == "active"

    active = (await client.get("/api/v1/alerts/active", params={"region_id": oblast.id})).json()
    assert [a["region_id"] for a in active["alerts"]] == [raion.id]

    r = await client.post(
        f"/api/v1/regions/{raion.id}/alerts/air_raid/end", headers=auth(admin_token)
    )
    assert r.status_code == 200, r.text
    assert r.json()["alert"]["ended_at"] is not None
    compact = (await client.get("/api/v1/status/compact")).json()
    assert compact["threats"] == {} and compact["log_id"] == 2


async def test_update_by_id_and_by_region(client, admin_token, catalogue: Catalogue) -> None:
    oblast = catalogue.oblasts[2].id
    alert_id = (await declare(client, admin_token, oblast)).json()["alert"]["id"]
    r = await client.patch(
        f"/api/v1/alerts/{alert_id}",
        json={"details": ["cruise_missile"]},
        headers=auth(admin_token),
    )
    assert r.status_code == 200 and r.json()["event"]["kind"] == "updated"
    r = await client.patch(
        f"/api/v1/regions/{oblast}/alerts/air_raid",
        json={"notes": "ракети"},
        headers=auth(admin_token),
    )
    assert r.json()["alert"]["notes"] == "ракети"
    assert r.json()["alert"]["details"] == ["cruise_missile"]


async def test_conditional_get_and_fresh_after_event(client, admin_token, catalogue) -> None:
    for path in (
        "/api/v1/status/compact",
        "/api/v1/status",
        "/api/v1/regions",
        "/api/v1/alerts/active",
    ):
        first = await client.get(path)
        assert first.status_code == 200
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        again = await client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        # Last-Modified is a real HTTP date, never ahead of the hub's clock, and honoured
        modified_at = parsedate_to_datetime(modified)
        assert modified_at.tzinfo is not None and modified_at <= datetime.now(UTC)
        later = format_datetime(modified_at + timedelta(seconds=1), usegmt=True)
        unchanged = await client.get(path, headers={"If-Modified-Since": later})
        assert unchanged.status_code == 304 and unchanged.content == b"", path
    compact = await client.get("/api/v1/status/compact")
    await declare(client, admin_token, catalogue.oblasts[0].id)
    after = await client.get(
        "/api/v1/status/compact", headers={"If-None-Match": compact.headers["etag"]}
    )
    assert after.status_code == 200 and after.json()["log_id"] == 1
    # If-Modified-Since never hides an event that happened in the same second
    stale = await client.get(
        "/api/v1/status/compact", headers={"If-Modified-Since": compact.headers["last-modified"]}
    )
    assert stale.status_code == 200


async def test_history_pages_and_filters(client, admin_token, catalogue) -> None:
    oblast = catalogue.oblasts[1]
    raions = catalogue.children(oblast.id)[:3]
    for raion in raions:
        await declare(client, admin_token, raion.id)
        await client.post(
            f"/api/v1/regions/{raion.id}/alerts/air_raid/end", headers=auth(admin_token)
        )
    page = (
        await client.get("/api/v1/alerts/history", params={"region_id": oblast.id, "limit": 2})
    ).json()
    assert [a["region_id"] for a in page["alerts"]] == [raions[2].id, raions[1].id]
    nxt = (
        await client.get(
            "/api/v1/alerts/history",
            params={"region_id": oblast.id, "limit": 2, "cursor": page["next_cursor"]},
        )
    ).json()
    assert [a["region_id"] for a in nxt["alerts"]] == [raions[0].id] and nxt["next_cursor"] is None
    only = (
        await client.get(
            "/api/v1/alerts/history", params={"region_id": raions[0].id, "descendants": False}
        )
    ).json()
    assert len(only["alerts"]) == 1
    log = (await client.get("/api/v1/log", params={"after": 4})).json()
    assert [e["id"] for e in log["events"]] == [5, 6]


BAD = [
    ({"region_id": "UA-nowhere"}, 404, "unknown_region"),
    ({"region_id": "{oblast}", "threat": "meteor"}, 422, "invalid_request"),
    ({"region_id": "{oblast}", "details": ["ufo"]}, 422, "invalid_request"),
    (
        {"region_id": "{oblast}", "threat": "chemical", "details": ["drones"]},
        422,
        "details_not_allowed",
    ),
    ({"region_id": "{oblast}", "occurred_at": "{future}"}, 422, "time_in_future"),
    ({"region_id": "{oblast}", "colour": "red"}, 422, "invalid_request"),
    ({"region_id": "{oblast}", "occurred_at": "2024-01-01T00:00:00"}, 422, "time_without_zone"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD)
async def test_bad_declarations_are_refused_and_write_nothing(
    client, admin_token, catalogue, body, status, code
) -> None:
    future = (datetime.now(UTC) + timedelta(minutes=6)).isoformat()
    body = {
        k: (
            v.replace("{oblast}", catalogue.oblasts[0].id).replace("{future}", future)
            if isinstance(v, str)
            else v
        )
        for k, v in body.items()
    }
    r = await client.post("/api/v1/alerts", json=body, headers=auth(admin_token))
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["message"]
    await assert_nothing_written(client, 0)


async def test_conflicts(client, admin_token, catalogue) -> None:
    oblast = catalogue.oblasts[0].id
    first = (await declare(client, admin_token, oblast)).json()
    again = await declare(client, admin_token, oblast)
    assert again.status_code == 409
    assert again.json()["error"]["open_alert_id"] == first["alert"]["id"]
    assert str(first["alert"]["id"]) in again.json()["error"]["message"]
    r = await client.post("/api/v1/alerts/999/end", headers=auth(admin_token))
    assert r.status_code == 409 and r.json()["error"]["code"] == "alert_not_open"
    old = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    r = await client.post(
        f"/api/v1/alerts/{first['alert']['id']}/end",
        json={"occurred_at": old},
        headers=auth(admin_token),
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "time_before_last_event"
    await assert_nothing_written(client, 1)


async def test_body_over_16k_is_413(client, admin_token, catalogue) -> None:
    big = {"region_id": catalogue.oblasts[0].id, "notes": "x" * 17_000}
    r = await client.post("/api/v1/alerts", json=big, headers=auth(admin_token))
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    await assert_nothing_written(client, 0)


async def test_tokens_scope_and_401(client, hub: Hub, catalogue) -> None:
    oblast, other = catalogue.oblasts[0], catalogue.oblasts[1]
    scoped, _ = hub.store.create_token("oblast-dispatch", [oblast.id])
    hromada = catalogue.children(catalogue.children(oblast.id)[0].id)[0]
    assert (await declare(client, scoped, hromada.id)).status_code == 201
    r = await declare(client, scoped, other.id)
    assert r.status_code == 403 and r.json()["error"]["code"] == "region_out_of_scope"
    r = await client.post("/api/v1/alerts", json={"region_id": oblast.id})
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_missing"
    r = await declare(client, "tv_wrong", oblast.id)
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_invalid"
    hub.store.revoke_token("oblast-dispatch")
    r = await declare(client, scoped, oblast.id)
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_revoked"
    log = (await client.get("/api/v1/log")).json()
    assert [e["originator"] for e in log["events"]] == ["token:oblast-dispatch"]


async def test_idempotency_key(client, admin_token, catalogue) -> None:
    headers = {**auth(admin_token), "Idempotency-Key": "req-42"}
    body = {"region_id": catalogue.oblasts[0].id}
    first = await client.post("/api/v1/alerts", json=body, headers=headers)
    second = await client.post("/api/v1/alerts", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    await assert_nothing_written(client, 1)
    other = await client.post(
        "/api/v1/alerts", json={"region_id": catalogue.oblasts[1].id}, headers=headers
    )
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"


async def test_unknown_routes_and_params_are_json(client) -> None:
    r = await client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await client.get("/api/v1/alerts/active", params={"region_id": "nope"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_region"
    r = await client.get("/api/v1/alerts/history", params={"limit": 0})
    assert r.status_code == 422


async def test_reads_can_require_a_token(hub: Hub, sqlite_url: str) -> None:
    app = create_app(hub, Settings(db=sqlite_url, read_token_required=True))
    token, _ = hub.store.create_token("reader", None)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub"
    ) as c:
        for path in ("/api/v1/status/compact", "/api/v1/status"):
            assert (await c.get(path)).status_code == 401
            assert (await c.get(path, headers=auth(token))).status_code == 200


async def test_openapi_page(client) -> None:
    assert (await client.get("/docs")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/alerts" in spec["paths"] and "/api/v1/status/compact" in spec["paths"]


async def test_openapi_describes_bodies_and_error_answers(client) -> None:
    """JSON bodies have schemas (not "string"), and every route lists the 4xx it gives, with the
    error shape it really sends."""
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            success = next(code for code in answers if code.startswith("2"))
            content = answers[success].get("content", {})
            if "application/json" in content:
                schema = content["application/json"]["schema"]
                assert schema != {"type": "string"} or "/iot/" in path, (method, path)
            errors = [code for code in answers if code[0] in "45"]
            assert errors, (method, path)
            for code in errors:
                ref = answers[code]["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[-1] in ("ErrorBody", "CompatError"), (method, path, code)
    declare = spec["paths"]["/api/v1/alerts"]["post"]["responses"]
    assert set(declare) == {"201", "202", "401", "403", "404", "409", "413", "422", "503"}
    one_or_many = declare["201"]["content"]["application/json"]["schema"]["anyOf"]
    assert [s["$ref"].rsplit("/", 1)[-1] for s in one_or_many] == ["Change", "Changes"]
    proposed = declare["202"]["content"]["application/json"]["schema"]["$ref"]
    assert proposed.endswith("/Proposed")
    assert "Location" in declare["201"]["headers"]
    compact = spec["paths"]["/api/v1/status/compact"]["get"]["responses"]["200"]
    assert {"ETag", "Last-Modified"} <= set(compact["headers"])
