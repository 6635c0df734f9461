"""The operator API's safeguards over HTTP: retraction, multi-region declarations and the
second-person rule with two (and more) real tokens. Every refusal is a 4xx JSON answer that
writes nothing: the log id does not move."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tryvoha.api.app import create_app
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore, TokenRole

from .conftest import auth
from .test_streams_support import SSEClient, serving
from .waiting import until


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


# The second person ---------------------------------------------------------------------------


async def test_two_person_flow(
    client: httpx.AsyncClient, hub: Hub, tokens: Tokens, catalogue: Catalogue
) -> None:
    kyiv = oblast(catalogue, "Kyivska oblast")
    body = {"region_id": kyiv, "threat": "nuclear", "notes": "ЗАЕС"}
    r = await post(client, "/api/v1/alerts", tokens.kyiv, 202, json=body)
    proposal = r.json()["proposal"]
    assert r.headers["location"] == f"/api/v1/proposals/{proposal['id']}"
    assert "nuclear" in r.json()["rule"] and proposal["state"] == "pending"
    assert proposal["proposed_by"] == "token:kyiv" and proposal["region_ids"] == [kyiv]
    assert proposal["expires_at"] == _iso(hub.clock() + timedelta(seconds=120))
    # nothing public moved
    assert (await client.get("/api/v1/status/compact")).json()["threats"] == {}
    assert (await client.get("/api/v1/alerts/active")).json()["alerts"] == []
    assert (await client.get("/api/v1/log")).json()["events"] == []
    assert (await client.get("/api/v1/alerts/history")).json()["alerts"] == []
    # who sees it
    for token, ids in [(tokens.anna, [proposal["id"]]), (tokens.kyiv, [proposal["id"]])]:
        listed = (await client.get("/api/v1/proposals", headers=auth(token))).json()
        assert [p["id"] for p in listed["proposals"]] == ids
    lviv_token, _ = hub.store.create_token("lviv", [oblast(catalogue, "Lvivska oblast")])
    listed = (await client.get("/api/v1/proposals", headers=auth(lviv_token))).json()
    assert listed["proposals"] == []
    one = f"/api/v1/proposals/{proposal['id']}"
    await refused(client, hub, "GET", one, lviv_token, 403, "proposal_out_of_scope")
    await refused(client, hub, "GET", "/api/v1/proposals/999", tokens.anna, 404, "unknown_proposal")
    await refused(client, hub, "GET", one, tokens.reader, 403, "token_read_only")
    await refused(client, hub, "GET", "/api/v1/proposals", "tv_x", 401, "token_invalid")
    seen = (await client.get(one, headers=auth(tokens.anna))).json()
    assert seen["can_approve"] is True and seen["approvers"] == ["token:anna", "token:borys"]
    mine = (await client.get(one, headers=auth(tokens.kyiv))).json()
    assert mine["can_approve"] is False
    # the same declaration while it waits
    for token in (tokens.kyiv, tokens.anna):
        error = await refused(
            client, hub, "POST", "/api/v1/alerts", token, 409, "proposal_pending", json=body
        )
        assert error["proposal_id"] == proposal["id"]
    # refusals of the approval
    approve = f"{one}/approve"
    await refused(client, hub, "POST", approve, tokens.kyiv, 403, "approval_by_proposer")
    await refused(client, hub, "POST", approve, lviv_token, 403, "proposal_out_of_scope")
    await refused(client, hub, "POST", approve, tokens.drills, 403, "proposal_out_of_scope")
    await refused(client, hub, "POST", approve, tokens.reader, 403, "token_read_only")
    await refused(
        client, hub, "POST", "/api/v1/proposals/77/approve", tokens.anna, 404, "unknown_proposal"
    )
    await refused(
        client, hub, "POST", "/api/v1/proposals/0/approve", tokens.anna, 422, "invalid_request"
    )
    # a different operator approves: the alert goes out naming both
    r = await post(client, approve, tokens.borys, 201)
    doc = r.json()
    assert r.headers["location"] == f"/api/v1/proposals/{proposal['id']}"
    assert doc["proposal"]["state"] == "approved" and doc["proposal"]["decided_by"] == "token:borys"
    (event,) = doc["events"]
    (alert,) = doc["alerts"]
    assert (event["kind"], event["originator"], event["proposed_by"], event["proposal_id"]) == (
        "declared",
        "token:borys",
        "token:kyiv",
        proposal["id"],
    )
    assert alert["proposed_by"] == "token:kyiv" and alert["originator"] == "token:borys"
    assert doc["proposal"]["alert_ids"] == [alert["id"]]
    compact = (await client.get("/api/v1/status/compact")).json()
    assert compact["threats"]["nuclear"]["alerts"] == [kyiv]
    log = (await client.get("/api/v1/log")).json()["events"]
    assert [e["kind"] for e in log] == ["declared"]  # the proposal itself never shows
    await refused(client, hub, "POST", approve, tokens.anna, 409, "proposal_decided")
    reject = f"{one}/reject"
    await refused(
        client, hub, "POST", reject, tokens.anna, 409, "proposal_decided", json={"reason": "late"}
    )


async def test_a_wide_declaration_waits_and_can_be_rejected(
    client: httpx.AsyncClient, hub: Hub, tokens: Tokens, catalogue: Catalogue
) -> None:
    four = [o.id for o in catalogue.oblasts[:4]]
    r = await post(client, "/api/v1/alerts", tokens.anna, 202, json={"region_ids": four})
    proposal = r.json()["proposal"]
    assert proposal["region_ids"] == four and "4 oblasts" in r.json()["rule"]
    assert proposal["event_ids"] == [1, 2, 3, 4] and proposal["id"] == 1
    reject = f"/api/v1/proposals/{proposal['id']}/reject"
    await refused(client, hub, "POST", reject, tokens.borys, 422, "invalid_request", json={})
    await refused(
        client, hub, "POST", reject, tokens.borys, 422, "reason_missing", json={"reason": ""}
    )
    await refused(
        client,
        hub,
        "POST",
        reject,
        tokens.kyiv,
        403,
        "proposal_out_of_scope",
        json={"reason": "no"},
    )
    r = await post(client, reject, tokens.borys, 200, json={"reason": "не підтверджено"})
    assert r.json()["proposal"]["state"] == "rejected"
    assert r.json()["proposal"]["reason"] == "не підтверджено"
    assert hub.last_event_id == 8  # four proposed, four rejected
    assert (await client.get("/api/v1/alerts/active")).json()["alerts"] == []
    listed = (await client.get("/api/v1/proposals", headers=auth(tokens.anna))).json()
    assert listed["proposals"] == []
    every = (
        await client.get("/api/v1/proposals", params={"state": "all"}, headers=auth(tokens.anna))
    ).json()
    assert [p["state"] for p in every["proposals"]] == ["rejected"]
    await refused(
        client,
        hub,
        "POST",
        f"/api/v1/proposals/{proposal['id']}/approve",
        tokens.borys,
        409,
        "proposal_decided",
    )
    # the country, for any threat, always waits; a drill never does
    country = {"region_id": catalogue.country.id}
    await post(client, "/api/v1/alerts", tokens.anna, 202, json=country)
    await post(client, "/api/v1/alerts", tokens.anna, 201, json={**country, "status": "exercise"})
    # the proposer may withdraw their own
    r = await post(client, "/api/v1/proposals/9/reject", tokens.anna, 200, json={"reason": "oops"})
    assert r.json()["proposal"]["decided_by"] == "token:anna"


async def test_an_expired_proposal_cannot_be_approved(
    client: httpx.AsyncClient, hub: Hub, tokens: Tokens, catalogue: Catalogue, clock: Clock
) -> None:
    region = catalogue.oblasts[2].id
    body = {"region_id": region, "threat": "chemical"}
    proposal = (await post(client, "/api/v1/alerts", tokens.anna, 202, json=body)).json()
    one = f"/api/v1/proposals/{proposal['proposal']['id']}"
    clock.advance(119)
    assert (await client.get(one, headers=auth(tokens.borys))).json()["state"] == "pending"
    clock.advance(1)  # the deadline itself
    seen = (await client.get(one, headers=auth(tokens.borys))).json()
    assert seen["state"] == "expired" and seen["can_approve"] is False
    r = await client.post(f"{one}/approve", headers=auth(tokens.borys))
    assert r.status_code == 409 and r.json()["error"]["code"] == "proposal_expired"
    # the hub recorded the expiry (its own event), and nothing of the refused approval
    kinds = [e.kind.value for e in hub.store.events_after(0)]
    assert kinds == ["proposed", "expired"] and hub.store.events_after(1)[0].originator == "hub"
    await refused(client, hub, "POST", f"{one}/approve", tokens.borys, 409, "proposal_expired")
    await refused(
        client,
        hub,
        "POST",
        f"{one}/reject",
        tokens.anna,
        409,
        "proposal_expired",
        json={"reason": "late"},
    )
    assert (await client.get("/api/v1/alerts/active")).json()["alerts"] == []
    # the region is free again: a new proposal, approved in time
    again = (await post(client, "/api/v1/alerts", tokens.anna, 202, json=body)).json()
    await post(client, f"/api/v1/proposals/{again['proposal']['id']}/approve", tokens.borys, 201)


async def test_the_hub_expires_proposals_by_its_timer(
    client: httpx.AsyncClient, hub: Hub, tokens: Tokens, catalogue: Catalogue, clock: Clock
) -> None:
    body = {"region_id": catalogue.oblasts[6].id, "threat": "nuclear"}
    await post(client, "/api/v1/alerts", tokens.anna, 202, json=body)
    clock.advance(121)
    hub.arm_expiry()  # the timer was armed for the old time: the test moved the clock
    await until(lambda: hub.last_event_id >= 2, "the proposal expired")
    (expired,) = hub.store.events_after(1)
    assert expired.kind.value == "expired" and hub.state.proposals[1].state.value == "expired"
    listed = (await client.get("/api/v1/proposals", headers=auth(tokens.borys))).json()
    assert listed["proposals"] == []


async def test_approval_is_idempotent_by_key(
    client: httpx.AsyncClient, hub: Hub, tokens: Tokens, catalogue: Catalogue
) -> None:
    body = {"region_ids": [catalogue.country.id]}
    proposal = (await post(client, "/api/v1/alerts", tokens.anna, 202, json=body)).json()
    headers = {**auth(tokens.borys), "Idempotency-Key": "approve-1"}
    path = f"/api/v1/proposals/{proposal['proposal']['id']}/approve"
    first = await client.post(path, headers=headers)
    again = await client.post(path, headers=headers)
    assert first.status_code == again.status_code == 201 and first.content == again.content
    assert again.headers["idempotent-replayed"] == "true" and hub.last_event_id == 2
    proposals = {**auth(tokens.anna), "Idempotency-Key": "propose-1"}
    body = {"region_id": catalogue.oblasts[0].id, "threat": "nuclear"}
    first = await client.post("/api/v1/alerts", json=body, headers=proposals)
    again = await client.post("/api/v1/alerts", json=body, headers=proposals)
    assert first.status_code == again.status_code == 202 and first.content == again.content
    assert again.headers["location"] == first.headers["location"]
    assert hub.last_event_id == 3


# Streams: proposals never, retractions at once --------------------------------------------------


async def test_stream_shows_no_proposal_and_carries_the_retraction(
    hub: Hub, settings: Settings, tokens: Tokens, catalogue: Catalogue
) -> None:
    kyiv = oblast(catalogue, "Kyivska oblast")
    async with serving(hub, settings) as port:
        sub = await SSEClient.open(port)
        assert (await sub.next()).kind == "snapshot"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as api:
            nuclear = {"region_id": kyiv, "threat": "nuclear"}
            proposed = await api.post("/api/v1/alerts", json=nuclear, headers=auth(tokens.anna))
            assert proposed.status_code == 202
            marker = await api.post(
                "/api/v1/alerts",
                json={"region_id": catalogue.oblasts[0].id},
                headers=auth(tokens.anna),
            )
            (first,) = await sub.alerts(1)
            assert first.id == marker.json()["event"]["id"] == 2  # event 1 (proposed) skipped
            pid = proposed.json()["proposal"]["id"]
            approved = await api.post(
                f"/api/v1/proposals/{pid}/approve", headers=auth(tokens.borys)
            )
            (second,) = await sub.alerts(1)
            assert second.data["kind"] == "declared" and second.data["proposal_id"] == pid
            assert second.data["proposed_by"] == "token:anna"
            assert second.id == approved.json()["events"][0]["id"]
            alert_id = approved.json()["alerts"][0]["id"]
            retracted = await api.post(
                f"/api/v1/alerts/{alert_id}/retract",
                json={"reason": "test message sent as actual"},
                headers=auth(tokens.anna),
            )
            (third,) = await sub.alerts(1)
            assert third.data["kind"] == "retracted"
            assert third.data["reason"] == "test message sent as actual"
            assert third.data["correction"] == retracted.json()["event"]["correction"]
            assert "Радіаційна загроза" in third.data["correction"]
            # a subscriber resuming from 0 reads the same: no proposal, the retraction
            again = await SSEClient.open(port, "since=0")
            replayed = await again.alerts(3)
            assert [m.id for m in replayed] == [2, 3, 4]
            assert [m.data for m in replayed][2]["reason"] == "test message sent as actual"
            again.close()
        sub.close()


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_bad_policy_settings_stop_the_hub(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="TRYVOHA_APPROVAL_TTL must be a whole number"):
        Settings.from_env({"TRYVOHA_APPROVAL_TTL": "5"})
    fine = Settings.from_env({"TRYVOHA_APPROVAL_TTL": "45"})
    assert fine.approvals.ttl == timedelta(seconds=45)
    done = subprocess.run(
        [sys.executable, "-m", "tryvoha.cli", "serve", "--db", str(tmp_path / "x.db")],
        env={**os.environ, "TRYVOHA_APPROVAL_TTL": "5"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "Cannot start: TRYVOHA_APPROVAL_TTL must be a whole number" in done.stderr
    assert "Traceback" not in done.stderr
