"""Delivery receipts (`GET /api/v1/events/{id}/delivery`) with real receivers on every channel: SSE
subscribers over a real socket, a webhook receiver that acknowledges and one that fails, and a
device on the real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import orjson
import pytest
import uvicorn
import websockets

from tryvoha.api.app import create_app
from tryvoha.channels.receipts import DeliveryReceipts
from tryvoha.channels.webhooks.receiver import Receiver
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue
from tryvoha.serve import uvicorn_config
from tryvoha.store import SqlStore, TokenRole

from .conftest import auth
from .test_mqtt import prefix  # noqa: F401  (fixture)
from .test_streams_reliability import stop
from .test_streams_support import SSEClient, free_port, spawn_serve
from .test_webhooks import FAST
from .waiting import until

SECRET_BODY = b"internal stack trace of the receiver: do not show me"


@contextlib.asynccontextmanager
async def failing_receiver() -> AsyncIterator[str]:
    """A receiver that answers every delivery 500 with a body the hub must never repeat."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(x.split(b":")[1])
                    for x in head.split(b"\r\n")
                    if x.lower().startswith(b"content-length")
                ),
                0,
            )
            await reader.readexactly(length)
            writer.write(
                b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: %d\r\n"
                b"connection: close\r\n\r\n%s" % (len(SECRET_BODY), SECRET_BODY)
            )
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        server.close()


@contextlib.asynccontextmanager
async def live_hub(hub: Hub, settings: Settings) -> AsyncIterator[int]:
    """The app with its lifespan (webhooks, MQTT) on a real port, as `tryvoha serve` runs it."""
    app = create_app(hub, settings)
    port = free_port()
    async with app.router.lifespan_context(app):
        server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, lifespan="off"))
        task = asyncio.create_task(server.serve())
        await until(lambda: server.started, "the server started", poll=0.01)
        try:
            yield port
        finally:
            server.should_exit = server.force_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)


async def test_a_receipt_counts_every_channel(
    catalogue: Catalogue,
    sqlite_url: str,
    prefix: str,  # noqa: F811
) -> None:
    hub = Hub(catalogue, SqlStore(sqlite_url))
    hub.load()
    admin, _ = hub.store.create_token("admin", None)
    reader, _ = hub.store.create_token("reader", None, role=TokenRole.READ_ONLY)
    settings = Settings(
        db=sqlite_url,
        load_history=False,
        mqtt="mqtt://127.0.0.1:1883",
        mqtt_prefix=prefix,
        webhooks=FAST,
    )
    kharkiv = catalogue.resolve("Kharkivska oblast").id
    lviv = catalogue.resolve("Lvivska oblast").id
    good = Receiver()
    await good.start()
    subscribers: list[SSEClient] = []
    try:
        async with (
            failing_receiver() as bad_url,
            live_hub(hub, settings) as port,
            aiomqtt.Client("127.0.0.1", 1883) as device,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
        ):
            await device.subscribe(f"{prefix}/events/#", qos=1)
            for url in (good.url, bad_url):
                r = await client.post("/api/v1/webhooks", json={"url": url}, headers=auth(admin))
                assert r.status_code == 201, r.text
            subscribers = [await SSEClient.open(port) for _ in range(3)]
            subscribers.append(await SSEClient.open(port, f"regions={lviv}"))  # not Kharkiv
            for sub in subscribers:
                assert (await sub.next()).kind == "snapshot"

            r = await client.post(
                "/api/v1/alerts", json={"region_id": kharkiv}, headers=auth(admin)
            )
            assert r.status_code == 201, r.text
            event_id = r.json()["event"]["id"]
            for sub in subscribers[:3]:
                assert (await sub.alerts(1))[0].id == event_id
            async with asyncio.timeout(10):
                message = await anext(aiter(device.messages))
            assert orjson.loads(message.payload)["id"] == event_id

            async def receipt() -> dict[str, Any]:
                r = await client.get(f"/api/v1/events/{event_id}/delivery", headers=auth(admin))
                assert r.status_code == 200, r.text
                return r.json()

            async def settled() -> dict[str, Any] | None:
                doc = await receipt()
                hooks = doc["channels"]["webhooks"]
                done = hooks["acknowledged"] == 1 and hooks["last_error"] is not None
                return doc if done and doc["channels"]["mqtt"]["handed_at"] else None

            doc = await until(settled, "webhooks acknowledged and failed, MQTT handed over")
            assert doc["event_id"] == event_id and doc["public"] is True
            streams = doc["channels"]["streams"]
            assert streams["reached"] == 3 == streams["sse"]["reached"]
            assert streams["ws"]["reached"] == 0 and streams["kept"] is True
            assert streams["after_ms"] is not None and streams["after_ms"] >= 0
            hooks = doc["channels"]["webhooks"]
            assert hooks["subscriptions"] == 2 and hooks["acknowledged"] == 1
            assert hooks["retrying"] + hooks["expired"] == 1
            assert hooks["last_error"] == "HTTP 500"
            assert b"stack trace" not in orjson.dumps(doc)
            assert doc["channels"]["mqtt"]["configured"] is True
            assert doc["channels"]["cap"] == {
                "available": True,
                "url": f"/api/v1/cap/{event_id}.xml",
            }
            cap = await client.get(doc["channels"]["cap"]["url"])
            assert cap.status_code == 200 and b"<alert" in cap.content

            # A late subscriber catching up from the ring counts too.
            late = await SSEClient.open(port, "since=0")
            assert (await late.alerts(1))[0].id == event_id
            subscribers.append(late)
            await until(
                lambda: receipt_reached(hub, client, admin, event_id, 4),
                "the late subscriber counted",
            )

            # Refusals: JSON, 4xx, nothing written.
            before = hub.last_event_id
            for path, token, status, code in [
                (f"/api/v1/events/{event_id + 5}/delivery", admin, 404, "unknown_event"),
                ("/api/v1/events/0/delivery", admin, 422, "invalid_request"),
                ("/api/v1/events/x/delivery", admin, 422, "invalid_request"),
                (f"/api/v1/events/{event_id}/delivery", reader, 403, "token_read_only"),
                (f"/api/v1/events/{event_id}/delivery", None, 401, "token_missing"),
            ]:
                r = await client.get(path, headers=auth(token) if token else {})
                assert r.status_code == status, (path, r.text)
                assert r.json()["error"]["code"] == code
            assert hub.last_event_id == before

            # A proposal's event goes out nowhere, and says so.
            r = await client.post(
                "/api/v1/alerts", json={"region_id": lviv, "threat": "nuclear"}, headers=auth(admin)
            )
            assert r.status_code == 202, r.text
            proposed = r.json()["proposal"]["event_ids"][0]
            doc = (
                await client.get(f"/api/v1/events/{proposed}/delivery", headers=auth(admin))
            ).json()
            assert doc["public"] is False and doc["channels"] is None
    finally:
        for sub in subscribers:
            sub.close()
        await good.stop()
        hub.close()


async def receipt_reached(
    hub: Hub, client: httpx.AsyncClient, token: str, event_id: int, count: int
) -> bool:
    r = await client.get(f"/api/v1/events/{event_id}/delivery", headers=auth(token))
    return r.json()["channels"]["streams"]["reached"] == count


def test_receipts_are_bounded_to_the_newest_events() -> None:
    receipts = DeliveryReceipts(keep=100)
    for event_id in range(1, 251):
        receipts.handed("sse", event_id, 1000.0, reached=2, at=1000.5)
    assert receipts.oldest == 151
    assert receipts.of(150) is None
    kept = receipts.of(250)
    assert kept is not None and kept.channels["sse"].reached == 2
    receipts.handed("sse", 250, 1000.0, reached=3, at=1001.0)
    again = receipts.of(250)
    assert again is not None
    assert (again.channels["sse"].reached, again.channels["sse"].handovers) == (5, 2)
    assert (again.channels["sse"].first_at, again.channels["sse"].last_at) == (1000.5, 1001.0)
    receipts.handed("sse", 10, 1000.0, reached=1)  # older than everything kept: not kept
    assert receipts.of(10) is None and receipts.oldest == 151
    for bad in (99, 100_001):
        with pytest.raises(ValueError, match="100 to 100000"):
            DeliveryReceipts(keep=bad)


@pytest.mark.slow
async def test_a_receipt_counts_subscribers_of_every_worker_process(
    tmp_path: Path, catalogue: Catalogue
) -> None:
    """With `--workers 3` the subscribers sit in three processes; the receipt counts them all,
    SSE and WebSocket apart."""
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    store = SqlStore(db_url)
    token, _ = store.create_token("admin", None)
    store.close()
    port = free_port()
    proc = spawn_serve(db_url, port, workers=3)
    subs: list[SSEClient] = []
    sockets: list[Any] = []
    try:
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
        assert len(children.stdout.split()) == 2
        subs = [await SSEClient.open(port) for _ in range(12)]
        for sub in subs:
            assert (await sub.next(timeout=20)).kind == "snapshot"
        sockets = [await websockets.connect(f"ws://127.0.0.1:{port}/api/v1/ws") for _ in range(6)]
        for ws in sockets:
            assert orjson.loads(await ws.recv())["type"] == "snapshot"
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=auth(token)
        ) as api:
            r = await api.post("/api/v1/alerts", json={"region_id": catalogue.oblasts[2].id})
            assert r.status_code == 201, r.text
            event_id = r.json()["event"]["id"]
            for sub in subs:
                assert (await sub.alerts(1, timeout=20))[0].id == event_id
            for ws in sockets:
                assert orjson.loads(await ws.recv())["id"] == event_id

            async def counted() -> dict[str, Any] | None:
                doc = (await api.get(f"/api/v1/events/{event_id}/delivery")).json()
                streams = doc["channels"]["streams"]
                return streams if streams["reached"] == 18 else None

            streams = await until(counted, "every process's subscribers counted")
            assert (streams["sse"]["reached"], streams["ws"]["reached"]) == (12, 6)
    finally:
        for sub in subs:
            sub.close()
        for ws in sockets:
            await ws.close()
        stop(proc)
