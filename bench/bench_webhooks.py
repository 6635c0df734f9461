"""Webhook and MQTT delivery speed on this machine.

- webhooks: events/s delivered (and acknowledged) to a local receiver for a burst of events, and
  commit → delivery latency (receiver clock minus the event's `recorded_at`) for paced events;
- MQTT: commit → received by a device subscribed through Mosquitto, for paced events.

Hub, dispatcher and receiver share one process and the embedded SQLite (WAL, synchronous=FULL),
as `tryvoha serve` runs by default. Usage: .venv/bin/python bench/bench_webhooks.py [--events 400]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections import deque
from datetime import datetime
from pathlib import Path

import aiomqtt
import orjson

from tryvoha.alerts.commands import Actor, AlertRef, Declare, End
from tryvoha.alerts.model import AlertStatus, Threat
from tryvoha.channels.mqtt import MqttPublisher
from tryvoha.channels.webhooks import WebhookConfig, WebhookDispatcher
from tryvoha.channels.webhooks.receiver import Receiver
from tryvoha.hub import Hub
from tryvoha.metrics import delivery_latency
from tryvoha.netguard import parse_networks
from tryvoha.regions import load_catalogue
from tryvoha.store import SqlStore
from tryvoha.store.webhooks import WebhookStore

ACTOR = Actor("bench")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def recorded(body: bytes) -> float:
    stamp = orjson.loads(body)["event"]["recorded_at"]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def churn(hub: Hub, count: int, pause: float) -> int:
    """About `count` events: declare air-raid alerts over the oblasts, ending the oldest past 13
    open, and at the end every one still open; returns how many events were committed."""
    free = deque(o.id for o in hub.catalogue.oblasts)
    open_alerts: deque[tuple[int, str]] = deque()
    for _ in range(count):
        if len(open_alerts) >= 13:
            alert_id, region_id = open_alerts.popleft()
            await hub.submit(End(AlertRef(alert_id=alert_id)), ACTOR)
            free.append(region_id)
        else:
            region_id = free.popleft()
            out = await hub.submit(Declare(region_id, Threat.AIR_RAID), ACTOR)
            open_alerts.append((out.event.alert_id, region_id))
        if pause:
            await asyncio.sleep(pause)
    for alert_id, _ in open_alerts:
        await hub.submit(End(AlertRef(alert_id=alert_id)), ACTOR)
        if pause:
            await asyncio.sleep(pause)
    return count + len(open_alerts)


async def bench_webhooks(hub: Hub, events: int, subscriptions: int) -> dict:
    receiver = Receiver()
    await receiver.start()
    local = parse_networks("127.0.0.0/8")  # the receiver is on loopback: allowed explicitly
    config = WebhookConfig(poll_interval=0.5, allow_networks=local)
    dispatcher = WebhookDispatcher(hub, WebhookStore(hub.store), config)
    async with dispatcher.running_context():
        for _ in range(subscriptions):
            await dispatcher.create(
                "bench", receiver.url, [hub.catalogue.country.id], [], [AlertStatus.ACTUAL]
            )
        # Burst: throughput.
        start = time.perf_counter()
        events = await churn(hub, events, 0)
        committed = time.perf_counter() - start
        await receiver.wait_for(lambda r: len(r.received) >= events * subscriptions, timeout=300)
        burst = time.perf_counter() - start
        # Paced: latency without queueing.
        receiver.received.clear()
        paced = await churn(hub, min(events, 200), 0.01)
        await receiver.wait_for(lambda r: len(r.received) >= paced * subscriptions, timeout=60)
    await receiver.stop()
    lat = [(r.at - recorded(r.body)) * 1000 for r in receiver.received]
    return {
        "burst_events": events,
        "subscriptions": subscriptions,
        "commit_s": committed,
        "deliveries_per_s": events * subscriptions / burst,
        "paced_events": paced,
        "p50_ms": statistics.median(lat),
        "p99_ms": pct(lat, 0.99),
    }


def handover_mean_ms(channel: str) -> tuple[float, float]:
    """(sum, count) of the channel's commit → hand-over histogram in `/metrics`."""
    total = count = 0.0
    for family in delivery_latency.collect():
        for sample in family.samples:
            if sample.labels.get("channel") != channel:
                continue
            if sample.name.endswith("_sum"):
                total = sample.value
            elif sample.name.endswith("_count"):
                count = sample.value
    return total, count


async def bench_mqtt(hub: Hub, events: int) -> dict:
    before = handover_mean_ms("mqtt")
    prefix = f"tryvoha-bench/{uuid.uuid4().hex[:8]}"
    lat: list[float] = []
    async with MqttPublisher(hub, prefix=prefix).running() as publisher:
        await publisher.wait_published(hub.last_event_id, timeout=30)
        async with aiomqtt.Client("127.0.0.1", 1883) as device:
            await device.subscribe(f"{prefix}/events/#", qos=1)

            async def listen() -> None:
                async for m in device.messages:
                    lat.append((time.time() - recorded(b'{"event":' + m.payload + b"}")) * 1000)

            task = asyncio.create_task(listen())
            events = await churn(hub, events, 0.01)
            async with asyncio.timeout(30):
                while len(lat) < events:
                    await asyncio.sleep(0.01)
            task.cancel()
        # Leave no retained messages behind on the shared broker.
        async with aiomqtt.Client("127.0.0.1", 1883) as c:
            for region in hub.catalogue:
                c._client.publish(f"{prefix}/status/{region.id}", b"", retain=True)
                for t in Threat:
                    c._client.publish(f"{prefix}/status/{region.id}/{t.value}", b"", retain=True)
            for topic in ("head", "online"):
                await c.publish(f"{prefix}/{topic}", b"", qos=1, retain=True)
    after = handover_mean_ms("mqtt")
    handover = (after[0] - before[0]) / max(1.0, after[1] - before[1]) * 1000
    return {
        "events": events,
        "p50_ms": statistics.median(lat),
        "p99_ms": pct(lat, 0.99),
        "handover_mean_ms": handover,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--subscriptions", type=int, default=1)
    parser.add_argument("--skip-mqtt", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hub = Hub(load_catalogue(), SqlStore(f"sqlite:///{Path(tmp) / 'bench.db'}"))
        hub.load()
        try:
            wh = await bench_webhooks(hub, args.events, args.subscriptions)
            print(
                f"webhooks: {wh['burst_events']} events x {wh['subscriptions']} subscription(s): "
                f"{wh['deliveries_per_s']:.0f} deliveries/s (commits alone took "
                f"{wh['commit_s']:.2f} s); paced {wh['paced_events']} events: commit -> delivery "
                f"p50 {wh['p50_ms']:.1f} ms, p99 {wh['p99_ms']:.1f} ms"
            )
            if not args.skip_mqtt:
                mq = await bench_mqtt(hub, min(args.events, 200))
                print(
                    f"mqtt: {mq['events']} paced events: commit -> received via Mosquitto "
                    f"p50 {mq['p50_ms']:.2f} ms, p99 {mq['p99_ms']:.2f} ms; commit -> handed to "
                    f"the socket, mean {mq['handover_mean_ms']:.2f} ms"
                )
        finally:
            hub.close()


if __name__ == "__main__":
    asyncio.run(main())
