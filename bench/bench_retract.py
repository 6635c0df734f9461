"""Retraction → corrected on every channel, on this machine.

One process serves a hub as `tryvoha serve` does (uvicorn with the streams' fast path, the webhook
dispatcher, MQTT to the shared Mosquitto) with SSE subscribers, a webhook receiver and an MQTT
device attached. Each cycle declares an alert, waits until every channel has it, then retracts it
and measures, from just before the retraction is submitted (so the durable commit is included),
until each channel has the `retracted` event: every SSE subscriber, the webhook receiver, the MQTT
device, and the compatible API (`/v1/alerts/active.json` no longer listing it).

Usage: .venv/bin/python bench/bench_retract.py [--cycles 50] [--subscribers 100] [--skip-mqtt]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import tempfile
import time
import uuid
from pathlib import Path

import aiomqtt
import httpx
import orjson
import uvicorn

from tryvoha.alerts.commands import Actor, AlertRef, Declare, Retract
from tryvoha.alerts.model import Threat
from tryvoha.api.app import create_app
from tryvoha.channels.webhooks import WebhookConfig
from tryvoha.channels.webhooks.receiver import Received, Receiver
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.netguard import parse_networks
from tryvoha.regions import load_catalogue
from tryvoha.serve import uvicorn_config
from tryvoha.store import SqlStore, TokenRole

ACTOR = Actor("token:bench-dispatch")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Seen:
    """When each channel first carried each log id (perf_counter seconds)."""

    def __init__(self) -> None:
        self.at: dict[str, dict[int, float]] = {}
        self.changed = asyncio.Event()

    def mark(self, channel: str, log_id: int) -> None:
        self.at.setdefault(channel, {}).setdefault(log_id, time.perf_counter())
        self.changed.set()

    async def wait(self, channels: list[str], log_id: int, timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while not all(log_id in self.at.get(c, {}) for c in channels):
                self.changed.clear()
                await self.changed.wait()


async def sse_subscriber(port: int, name: str, seen: Seen, ready: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**22)
    writer.write(b"GET /api/v1/stream HTTP/1.1\r\nHost: b\r\nAccept: text/event-stream\r\n\r\n")
    await reader.readuntil(b"\r\n\r\n")
    ready.set()
    try:
        while line := await reader.readline():
            if line.startswith(b"id: "):
                seen.mark(name, int(line[4:]))
    finally:
        writer.close()


async def mqtt_device(prefix: str, seen: Seen, ready: asyncio.Event) -> None:
    async with aiomqtt.Client("127.0.0.1", 1883) as client:
        await client.subscribe(f"{prefix}/events/#", qos=1)
        ready.set()
        async for message in client.messages:
            seen.mark("mqtt", orjson.loads(message.payload)["id"])


async def compat_gone(api: httpx.AsyncClient, key: str, alert_id: int, seen: Seen, log_id: int):
    """Poll the alerts.in.ua-compatible list until the alert is gone from it."""
    while True:
        r = await api.get("/v1/alerts/active.json", headers={"Authorization": f"Bearer {key}"})
        r.raise_for_status()
        ids = {a.get("id") for a in r.json()["alerts"]}
        if str(alert_id) not in {str(i) for i in ids}:
            seen.mark("compat", log_id)
            return
        await asyncio.sleep(0.001)


async def run(cycles: int, subscribers: int, mqtt: bool) -> dict[str, dict[str, float]]:
    directory = Path(tempfile.mkdtemp(prefix="bench-retract-"))
    url = f"sqlite:///{directory / 'hub.db'}"
    catalogue = load_catalogue()
    hub = Hub(catalogue, SqlStore(url))
    hub.load()
    prefix = f"bench-retract/{uuid.uuid4().hex[:8]}"
    settings = Settings(
        db=url,
        load_history=False,
        mqtt="mqtt://127.0.0.1:1883" if mqtt else None,
        mqtt_prefix=prefix,
        webhooks=WebhookConfig(allow_networks=parse_networks("127.0.0.0/8")),
    )
    app = create_app(hub, settings)
    limits = app.state.compat.config  # the bench polls the compatible API far beyond its limits
    limits.aiu_per_minute = limits.aiu_history_per_minute = limits.ua_per_minute = 10**6
    limits.keyless_per_5min = 10**6
    admin, _ = hub.store.create_token("bench-admin", None)
    reader_key, _ = hub.store.create_token("bench-reader", None, role=TokenRole.READ_ONLY)
    port = free_port()
    server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    seen = Seen()

    def delivered(request: Received) -> int:  # the receiver's answer: note the arrival, 200
        seen.mark("webhook", request.event_id)
        return 200

    receiver = Receiver(answer=delivered)
    await receiver.start()
    tasks: list[asyncio.Task[None]] = []
    channels = ["webhook", "compat"]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as api:
        r = await api.post(
            "/api/v1/webhooks",
            json={"url": receiver.url, "regions": [catalogue.country.id]},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert r.status_code == 201, r.text
        for k in range(subscribers):
            ready = asyncio.Event()
            tasks.append(asyncio.create_task(sse_subscriber(port, f"sse-{k}", seen, ready)))
            await ready.wait()
        channels += [f"sse-{k}" for k in range(subscribers)]
        if mqtt:
            ready = asyncio.Event()
            tasks.append(asyncio.create_task(mqtt_device(prefix, seen, ready)))
            await ready.wait()
            channels.append("mqtt")
        per_channel: dict[str, list[float]] = {}
        everywhere: list[float] = []
        oblasts = [o.id for o in catalogue.oblasts]
        for k in range(cycles):
            declared = await hub.submit(Declare(oblasts[k % len(oblasts)], Threat.AIR_RAID), ACTOR)
            assert declared.event is not None
            seen.mark("compat", declared.event.id)
            await seen.wait([c for c in channels if c != "compat"], declared.event.id)
            t0 = time.perf_counter()
            retracted = await hub.submit(
                Retract(AlertRef(alert_id=declared.event.id), "bench: declared in error"), ACTOR
            )
            assert retracted.event is not None
            log_id = retracted.event.id
            await compat_gone(api, reader_key, declared.event.id, seen, log_id)
            await seen.wait(channels, log_id)
            times = {c: (seen.at[c][log_id] - t0) * 1000 for c in channels}
            for c, ms in times.items():
                per_channel.setdefault(c.split("-")[0], []).append(ms)
            everywhere.append(max(times.values()))
    for task in tasks:
        task.cancel()
    with contextlib.suppress(Exception):
        await asyncio.gather(*tasks, return_exceptions=True)
    await receiver.stop()
    server.should_exit = True
    await serving
    hub.close()

    def summary(values: list[float]) -> dict[str, float]:
        return {
            "n": len(values),
            "p50_ms": round(pct(values, 0.5), 1),
            "p99_ms": round(pct(values, 0.99), 1),
            "max_ms": round(max(values), 1),
        }

    result = {name: summary(values) for name, values in sorted(per_channel.items())}
    result["every channel"] = summary(everywhere)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--skip-mqtt", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args.cycles, args.subscribers, not args.skip_mqtt))
    if args.json:
        print(orjson.dumps(result).decode())
        return
    print(f"retraction → corrected, {args.cycles} cycles, {args.subscribers} SSE subscribers")
    for name, f in result.items():
        print(
            f"  {name:14} p50 {f['p50_ms']:7.1f} ms   p99 {f['p99_ms']:7.1f} ms   "
            f"max {f['max_ms']:7.1f} ms   (n={f['n']})"
        )


if __name__ == "__main__":
    main()
