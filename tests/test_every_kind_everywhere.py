"""A log with every kind of event, read by every surface: the public kinds (declared, updated,
ended, retracted) reach each of them, a retraction as the correction it is; a proposal's kinds
(proposed, rejected, expired) reach none, however they are asked for. The live channels are the
real ones: a webhook receiver over HTTP, Mosquitto, an SSE stream (tests/test_api_operators.py)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiomqtt
import httpx
import orjson
import pytest
from lxml import etree

from tryvoha.alerts.model import PROPOSAL_KINDS, Event, EventKind
from tryvoha.api.app import create_app
from tryvoha.channels.mqtt import MqttPublisher
from tryvoha.channels.webhooks import payload
from tryvoha.channels.webhooks.receiver import Receiver
from tryvoha.compat import webhooks as compat_webhooks
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore

from .conftest import auth, need_service
from .test_webhooks import running_hub
from .waiting import until

CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


async def every_kind(api: httpx.AsyncClient, hub: Hub, catalogue: Catalogue, clock=None) -> None:
    """Commands that leave one or more events of every kind in the log."""
    anna, _ = hub.store.create_token("anna", None)
    borys, _ = hub.store.create_token("borys", None)

    async def call(method: str, path: str, token: str, status: int, **kw) -> dict:
        r = await api.request(method, path, headers=auth(token), **kw)
        assert r.status_code == status, r.text
        return r.json()

    o = [x.id for x in catalogue.oblasts]
    a = await call("POST", "/api/v1/alerts", anna, 201, json={"region_id": o[0]})
    await call("PATCH", f"/api/v1/alerts/{a['alert']['id']}", anna, 200, json={"notes": "n"})
    await call("POST", f"/api/v1/alerts/{a['alert']['id']}/end", anna, 200)
    b = await call("POST", "/api/v1/alerts", anna, 201, json={"region_ids": [o[1], o[2]]})
    await call(
        "POST", f"/api/v1/alerts/{b['alerts'][0]['id']}/retract", borys, 200, json={"reason": "r"}
    )
    nuclear = {"region_id": o[3], "threat": "nuclear"}
    p1 = await call("POST", "/api/v1/alerts", anna, 202, json=nuclear)
    await call(
        "POST", f"/api/v1/proposals/{p1['proposal']['id']}/reject", borys, 200, json={"reason": "x"}
    )
    if clock is not None:
        await call("POST", "/api/v1/alerts", anna, 202, json={**nuclear, "threat": "chemical"})
        clock.now += timedelta(seconds=121)
        await hub.expire_due()
    country = {"region_id": catalogue.country.id, "details": ["ballistic_missile"]}
    p3 = await call("POST", "/api/v1/alerts", anna, 202, json=country)
    approved = await call("POST", f"/api/v1/proposals/{p3['proposal']['id']}/approve", borys, 201)
    await call(
        "POST",
        f"/api/v1/alerts/{approved['alerts'][0]['id']}/retract",
        anna,
        200,
        json={"reason": "учбова тривога надіслана як справжня"},
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def logged(
    catalogue: Catalogue, sqlite_url: str, clock: Clock
) -> AsyncIterator[tuple[Hub, httpx.AsyncClient, list[Event], list[Event]]]:
    hub = Hub(catalogue, SqlStore(sqlite_url), clock=clock)
    hub.load()
    broadcast: list[Event] = []
    everything: list[Event] = []
    hub.bus.subscribe(broadcast.append)
    hub.bus.subscribe(everything.append, whole_log=True)
    app = create_app(hub, Settings(db=sqlite_url, load_history=False))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub"
    ) as api:
        await every_kind(api, hub, catalogue, clock)
        yield hub, api, broadcast, everything
    hub.close()


async def test_the_log_holds_every_kind_and_the_bus_sorts_them(logged, catalogue) -> None:
    hub, _, broadcast, everything = logged
    log = list(hub.store.iter_events())
    assert {e.kind for e in log} == set(EventKind)
    assert everything == log
    assert broadcast == [e for e in log if e.kind not in PROPOSAL_KINDS]
    assert all(e.is_broadcast for e in broadcast)
    again = Hub(catalogue, SqlStore(hub.store.url.render_as_string(hide_password=False)))
    try:
        again.load()  # a restart folds the same state, proposals and all
        assert again.state.canonical() == hub.state.canonical()
    finally:
        again.close()


async def test_public_reads_show_retractions_and_no_proposal(logged, catalogue) -> None:
    hub, api, broadcast, _ = logged
    public_log = (await api.get("/api/v1/log", params={"limit": 3})).json()
    assert [e["id"] for e in public_log["events"]] == [e.id for e in broadcast[:3]]
    full = (await api.get("/api/v1/log")).json()["events"]
    assert [e["id"] for e in full] == [e.id for e in broadcast]
    assert {e["kind"] for e in full} == {"declared", "updated", "ended", "retracted"}
    retractions = [e for e in full if e["kind"] == "retracted"]
    assert all(e["reason"] and "помилково" in e["correction"] for e in retractions)
    history = (await api.get("/api/v1/alerts/history", params={"limit": 1000})).json()["alerts"]
    assert sorted((a["region_id"], a["retracted"]) for a in history) == sorted(
        [
            (catalogue.oblasts[0].id, False),
            (catalogue.oblasts[1].id, True),
            (catalogue.oblasts[2].id, False),
            (catalogue.country.id, True),
        ]
    )
    active = (await api.get("/api/v1/alerts/active")).json()["alerts"]
    assert [a["region_id"] for a in active] == [catalogue.oblasts[2].id]
    reader = hub_reader(hub)
    for path, params in [
        ("/api/v1/status/compact", {}),
        ("/api/v1/status", {"threat": "nuclear"}),
        ("/api/v1/map/alerts", {"since": _at(-1), "until": _at(1)}),
        ("/api/v1/map/at", {"time": _at(0)}),
        ("/api/v1/stats/summary", {"from": "2020-01-01T00:00Z", "to": "2099-01-01T00:00Z"}),
        ("/v1/alerts/active.json", {}),
        ("/api/v3/alerts", {}),
        ("/api/v1/cap/feed.atom", {}),
    ]:
        r = await api.get(path, params=params, headers=auth(reader))
        assert r.status_code == 200, (path, r.text[:300])
    aiu = (await api.get("/v1/alerts/active.json", headers=auth(reader))).json()["alerts"]
    assert len(aiu) == 1 and aiu[0]["alert_type"] == "air_raid"  # only the one still open
    map_now = (await api.get("/api/v1/map/at", params={"time": _at(0)})).json()
    assert [a["region_id"] for a in map_now["alerts"]] == [catalogue.oblasts[2].id]


def _at(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def hub_reader(hub: Hub) -> str:
    from tryvoha.store import TokenRole

    name = f"reader-{uuid.uuid4().hex[:6]}"
    return hub.store.create_token(name, None, role=TokenRole.READ_ONLY)[0]


async def test_cap_carries_the_retraction_as_a_cancel_and_no_proposal(logged) -> None:
    _, api, _, everything = logged
    for event in everything:
        r = await api.get(f"/api/v1/cap/{event.id}.xml")
        if event.kind in PROPOSAL_KINDS:
            assert r.status_code == 404, event
            continue
        assert r.status_code == 200, (event, r.text[:200])
        root = etree.fromstring(r.content)
        msg_type = root.findtext(f"{CAP}msgType")
        expected = {"declared": "Alert", "updated": "Update", "ended": "Update"}
        assert msg_type == expected.get(event.kind.value, "Cancel"), event
        if event.kind is EventKind.RETRACTED:
            assert root.findtext(f"{CAP}references")  # the messages it cancels


async def test_webhook_bodies_and_compat_hooks_for_each_kind(logged) -> None:
    hub, _, _, everything = logged
    alerts = {}
    for event in everything:
        if event.kind in PROPOSAL_KINDS:
            assert compat_webhooks.payloads(hub, event) == []
            continue
        doc = orjson.loads(payload.render(event, alerts.get(event.alert_id)))
        alerts[event.alert_id] = hub.store.get_alert(event.alert_id)
        assert doc["event"]["kind"] == event.kind.value
        if event.kind is EventKind.RETRACTED:
            assert doc["alert"]["retracted"] is True and doc["event"]["correction"]
            hooks = compat_webhooks.payloads(hub, event)
            assert hooks and all(orjson.loads(h)["status"] == "Deactivate" for h in hooks)


# The real live channels -----------------------------------------------------------------------


async def test_webhooks_and_mqtt_carry_the_correction_and_never_a_proposal(
    catalogue: Catalogue, sqlite_url: str
) -> None:
    need_service(1883, "Mosquitto")
    prefix = f"tryvoha-test/{uuid.uuid4().hex[:10]}"
    receiver = Receiver()
    await receiver.start()
    mqtt_got: list[dict] = []

    async def listen(ready: asyncio.Event) -> None:
        async with aiomqtt.Client("127.0.0.1", 1883) as client:
            await client.subscribe(f"{prefix}/events/#", qos=1)
            ready.set()
            async for message in client.messages:
                mqtt_got.append(orjson.loads(message.payload))

    async with running_hub(catalogue, sqlite_url) as env:
        everywhere = {"regions": [catalogue.country.id]}
        await env.subscribe(receiver.url, **everywhere)
        ready = asyncio.Event()
        listener = asyncio.create_task(listen(ready))
        await ready.wait()
        try:
            signing = env.dispatcher.signing  # the app's: every channel signs with the same
            mqtt = MqttPublisher(env.hub, "mqtt://127.0.0.1:1883", prefix=prefix, signing=signing)
            async with mqtt.running():
                await every_kind(env.client, env.hub, catalogue)
                last = env.hub.last_event_id
                broadcast = [e.id for e in env.hub.store.events_after(0) if e.is_broadcast]
                assert broadcast[-1] == last
                await receiver.wait_for(lambda r: any(x.event_id == last for x in r.received))
                await until(lambda: any(m["id"] == last for m in mqtt_got), "MQTT got the last")
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
    await receiver.stop()
    assert [r.event_id for r in receiver.received] == broadcast
    assert [m["id"] for m in mqtt_got] == broadcast
    bodies = [orjson.loads(r.body) for r in receiver.received]
    for got in (
        [b["event"] for b in bodies],
        mqtt_got,
    ):
        kinds = [e["kind"] for e in got]
        assert "proposed" not in kinds and kinds.count("retracted") == 2
        last_event = got[-1]
        assert last_event["kind"] == "retracted"
        assert last_event["reason"] == "учбова тривога надіслана як справжня"
        assert last_event["correction"].startswith("Скасовано: Повітряна тривога — Україна")
        approved = next(e for e in got if e.get("proposed_by"))
        assert (approved["originator"], approved["proposed_by"]) == ("token:borys", "token:anna")
        assert "sig" in last_event or got is not mqtt_got
    assert bodies[-1]["alert"]["retracted"] is True
