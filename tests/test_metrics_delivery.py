"""`/metrics` after real deliveries: per-channel latency histograms moved, webhook backlog and
subscriber gauges follow, and `tryvoha serve --mqtt` wiring (the app's lifespan) publishes."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tryvoha.api.app import create_app
from tryvoha.channels.webhooks.receiver import Receiver
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.store import SqlStore

from .conftest import auth, need_service
from .test_mqtt import clear_retained
from .test_webhooks import FAST


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple], float]:
    r = await client.get("/metrics")
    assert r.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


async def scrape_until(client: httpx.AsyncClient, ready, timeout: float = 10.0) -> dict:
    """Scrape until `ready(samples)` holds: the follower and senders run on their own time."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        samples = await scrape(client)
        if ready(samples) or asyncio.get_running_loop().time() > deadline:
            return samples
        await asyncio.sleep(0.02)


def latency_count(samples: dict, channel: str) -> float:
    return samples.get(("tryvoha_delivery_latency_seconds_count", (("channel", channel),)), 0.0)


@pytest.mark.mqtt
async def test_metrics_count_webhook_and_mqtt_deliveries(catalogue, sqlite_url: str) -> None:
    need_service(1883, "Mosquitto")
    prefix = f"tryvoha-test/{uuid.uuid4().hex[:10]}"
    hub = Hub(catalogue, SqlStore(sqlite_url))
    hub.load()
    admin, _ = hub.store.create_token("admin", None)
    settings = Settings(
        db=sqlite_url,
        load_history=False,
        mqtt="mqtt://127.0.0.1:1883",
        mqtt_prefix=prefix,
        webhooks=FAST,
    )
    app = create_app(hub, settings)
    down = True
    receiver = Receiver(answer=lambda _r: 503 if down else 200)
    await receiver.start()
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                before = await scrape(client)
                r = await client.post(
                    "/api/v1/webhooks", json={"url": receiver.url}, headers=auth(admin)
                )
                assert r.status_code == 201
                for oblast in catalogue.oblasts[:3]:
                    r = await client.post(
                        "/api/v1/alerts", json={"region_id": oblast.id}, headers=auth(admin)
                    )
                    assert r.status_code == 201
                await receiver.wait_for(lambda x: len(x.received) >= 2)
                backlog = ("tryvoha_webhook_backlog", ())
                stuck = await scrape_until(client, lambda m: m.get(backlog) == 3)
                assert stuck[backlog] == 3
                assert stuck[("tryvoha_subscribers", (("channel", "webhook"),))] == 1
                assert stuck[("tryvoha_mqtt_connected", ())] == 1

                down = False
                await receiver.wait_for(lambda x: len(x.acknowledged()) == 3)
                await app.state.mqtt.wait_published(hub.last_event_id)
                ok = ("tryvoha_webhook_attempts_total", (("outcome", "success"),))
                after = await scrape_until(
                    client,
                    lambda m: m.get(ok, 0) - before.get(ok, 0) == 3 and m.get(backlog) == 0,
                )
    finally:
        await receiver.stop()
        hub.close()
        await clear_retained("127.0.0.1", 1883, prefix)
    assert latency_count(after, "webhook") - latency_count(before, "webhook") == 3
    assert latency_count(after, "mqtt") - latency_count(before, "mqtt") == 3
    assert after[("tryvoha_webhook_backlog", ())] == 0
    failed = ("tryvoha_webhook_attempts_total", (("outcome", "http_error"),))
    assert after[ok] - before.get(ok, 0) == 3
    assert after[failed] - before.get(failed, 0) >= 2


async def test_a_hub_without_mqtt_shows_no_mqtt_figures(catalogue, sqlite_url: str) -> None:
    """`tryvoha_mqtt_connected 0` on a hub that never meant to connect reads like a fault."""
    hub = Hub(catalogue, SqlStore(sqlite_url))
    hub.load()
    app = create_app(hub, Settings(db=sqlite_url, load_history=False))
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                samples = await scrape(client)
    finally:
        hub.close()
    assert ("tryvoha_webhook_backlog", ()) in samples  # the other figures are there
    assert not [name for name, _ in samples if name.startswith("tryvoha_mqtt")]
