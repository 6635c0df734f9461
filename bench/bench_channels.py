"""Every outward channel: commit → received on loopback, p50 / p99 / max.

Starts `tryvoha serve` (embedded SQLite, `synchronous=FULL`, MQTT on) pinned to CPU 0, and in
this process, pinned to CPU 1, one receiver per channel: an SSE subscriber, a WebSocket
subscriber, a webhook receiver, an MQTT device subscribed to `<prefix>/events/#` (QoS 1)
through Mosquitto, and two pollers that send a conditional GET every `--poll-ms`: the CAP Atom
feed and the compact status. Then it declares and ends alerts over the oblasts through the
operator API, paced (each waits until every channel has the one before, then a pause of
`--gap-ms`).

Two clocks, both the machine's wall clock (`time.time()`, shared by the two processes):
- **commit → received**: from the event's `recorded_at` (taken in the writer just before the
  transaction's fsync, carried in the event at millisecond precision, so up to 1 ms is added)
  to the receiver's clock when the channel delivered it;
- **POST → received**: from just before the driver sends the operator's request (HTTP, auth,
  decide, durable commit included) to the same moment.
A poller's figure includes up to one poll interval of waiting by construction.

    .venv/bin/python bench/bench_channels.py [--cycles 400] [--poll-ms 2]
    .venv/bin/python bench/bench_channels.py --mosquitto nagle     # own broker, Nagle on
    .venv/bin/python bench/bench_channels.py --mosquitto nodelay   # own broker, set_tcp_nodelay
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import aiomqtt
import httpx
import orjson
import websockets

from tryvoha.channels.webhooks.receiver import Receiver

ROOT = Path(__file__).resolve().parents[1]
CHANNELS = ("sse", "websocket", "webhook", "mqtt", "cap feed poll", "status poll")
CAP_EVENT = re.compile(rb":event:(\d+)</id>")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port} after {timeout:.0f} s")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Seen:
    """When each channel first delivered each log id (wall clock, seconds)."""

    def __init__(self) -> None:
        self.at: dict[str, dict[int, float]] = {c: {} for c in CHANNELS}
        self.recorded: dict[int, float] = {}
        self.changed = asyncio.Event()

    def mark(self, channel: str, log_id: int, when: float | None = None) -> None:
        self.at[channel].setdefault(log_id, time.time() if when is None else when)
        self.changed.set()

    def doc(self, channel: str, doc: dict) -> None:
        """A delivered event document: its id, and when it was recorded."""
        if "recorded_at" in doc and "id" in doc:
            when = time.time()
            stamp = datetime.fromisoformat(doc["recorded_at"].replace("Z", "+00:00"))
            self.recorded.setdefault(doc["id"], stamp.timestamp())
            self.mark(channel, doc["id"], when)

    async def wait(self, log_id: int, timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while not all(log_id in self.at[c] for c in CHANNELS):
                self.changed.clear()
                await self.changed.wait()


async def sse(port: int, seen: Seen, ready: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**22)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    writer.write(b"GET /api/v1/stream HTTP/1.1\r\nHost: b\r\nAccept: text/event-stream\r\n\r\n")
    await reader.readuntil(b"\r\n\r\n")
    ready.set()
    try:
        while line := await reader.readline():
            if line.startswith(b"data: {") and b'"recorded_at"' in line:
                seen.doc("sse", orjson.loads(line[6:]))
    finally:
        writer.close()


async def websocket(port: int, seen: Seen, ready: asyncio.Event) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{port}/api/v1/ws", max_size=2**24) as ws:
        ready.set()
        async for message in ws:
            doc = orjson.loads(message)
            if isinstance(doc, dict):
                seen.doc("websocket", doc.get("data", doc) if "recorded_at" not in doc else doc)


async def mqtt_device(broker: tuple[str, int], prefix: str, seen: Seen, ready: asyncio.Event):
    async with aiomqtt.Client(broker[0], broker[1]) as client:
        await client.subscribe(f"{prefix}/events/#", qos=1)
        ready.set()
        async for message in client.messages:
            seen.doc("mqtt", orjson.loads(message.payload))


async def poller(
    api: httpx.AsyncClient,
    path: str,
    channel: str,
    newest: Callable[[bytes], int],
    seen: Seen,
    every: float,
) -> None:
    """A conditional GET every `every` seconds; a changed body names the newest log id."""
    etag = None
    while True:
        started = time.monotonic()
        headers = {"If-None-Match": etag} if etag else {}
        r = await api.get(path, headers=headers)
        if r.status_code == 200:
            etag = r.headers.get("etag")
            log_id = newest(r.content)
            if log_id:
                seen.mark(channel, log_id)
        await asyncio.sleep(max(0.0, every - (time.monotonic() - started)))


def newest_cap_event(body: bytes) -> int:
    return max(map(int, CAP_EVENT.findall(body)), default=0)


def newest_status_id(body: bytes) -> int:
    return int(orjson.loads(body)["log_id"])


def start_mosquitto(kind: str, directory: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    conf = directory / "mosquitto.conf"
    nodelay = "true" if kind == "nodelay" else "false"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        f"set_tcp_nodelay {nodelay}\nlog_type error\n"
    )
    proc = subprocess.Popen(
        ["taskset", "-c", "0", shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_port(port)
    return proc, port


def start_hub(db: str, port: int, broker: str, prefix: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "TRYVOHA_LOAD_HISTORY": "0",
        "TRYVOHA_MQTT_PREFIX": prefix,
        "TRYVOHA_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    }
    tryvoha = str(Path(sys.executable).parent / "tryvoha")
    cmd = ["taskset", "-c", "0", tryvoha, "serve", "--db", db, "--port", str(port)]
    cmd += ["--no-history", "--mqtt", broker]
    out = open(log, "w")  # noqa: SIM115 - lives as long as the hub
    return subprocess.Popen(
        cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


async def drive(
    args: argparse.Namespace, port: int, token: str, broker: tuple[str, int], prefix: str
):
    from tryvoha.regions import load_catalogue

    oblasts = [o.id for o in load_catalogue().oblasts]
    seen = Seen()
    receiver = Receiver(
        answer=lambda r: (seen.doc("webhook", orjson.loads(r.body)["event"]), 200)[1]
    )
    await receiver.start()
    auth = {"Authorization": f"Bearer {token}"}
    tasks: list[asyncio.Task] = []
    sent_at: dict[int, float] = {}
    limits = httpx.Limits(max_connections=4)
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as api,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, limits=limits) as polls,
    ):
        r = await api.post("/api/v1/webhooks", json={"url": receiver.url}, headers=auth)
        assert r.status_code == 201, r.text
        for subscriber in (sse, websocket):
            ready = asyncio.Event()
            tasks.append(asyncio.create_task(subscriber(port, seen, ready)))
            await ready.wait()
        ready = asyncio.Event()
        tasks.append(asyncio.create_task(mqtt_device(broker, prefix, seen, ready)))
        await ready.wait()
        every = args.poll_ms / 1000
        cap, status = newest_cap_event, newest_status_id
        tasks.append(
            asyncio.create_task(
                poller(polls, "/api/v1/cap/feed.atom", "cap feed poll", cap, seen, every)
            )
        )
        tasks.append(
            asyncio.create_task(
                poller(polls, "/api/v1/status/compact", "status poll", status, seen, every)
            )
        )
        open_ids: dict[str, int] = {}
        rng = random.Random(12)
        for k in range(args.cycles + args.warmup):
            region = oblasts[k % len(oblasts)]
            t0 = time.time()
            if region in open_ids:
                r = await api.post(
                    f"/api/v1/alerts/{open_ids.pop(region)}/end", json={}, headers=auth
                )
            else:
                r = await api.post("/api/v1/alerts", json={"region_id": region}, headers=auth)
            assert r.is_success, r.text
            event = r.json()["event"]
            if event["kind"] == "declared":
                open_ids[region] = event["alert_id"]
            if k >= args.warmup:
                sent_at[event["id"]] = t0
            await seen.wait(event["id"])
            await asyncio.sleep(rng.uniform(0.5, 1.5) * args.gap_ms / 1000)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await receiver.stop()
    rows = {}
    for channel in CHANNELS:
        from_commit = [(seen.at[channel][i] - seen.recorded[i]) * 1000 for i in sent_at]
        from_post = [(seen.at[channel][i] - sent_at[i]) * 1000 for i in sent_at]
        rows[channel] = {
            "n": len(sent_at),
            "commit_p50_ms": round(pct(from_commit, 0.5), 2),
            "commit_p99_ms": round(pct(from_commit, 0.99), 2),
            "commit_max_ms": round(max(from_commit), 2),
            "post_p50_ms": round(pct(from_post, 0.5), 2),
            "post_p99_ms": round(pct(from_post, 0.99), 2),
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=400, help="events measured (1 .. 100,000)")
    parser.add_argument("--warmup", type=int, default=25, help="events not measured first")
    parser.add_argument("--gap-ms", type=float, default=10, help="mean pause between events")
    parser.add_argument("--poll-ms", type=float, default=2, help="pollers' interval (≥ 0.5)")
    parser.add_argument(
        "--mosquitto",
        choices=["shared", "nagle", "nodelay"],
        default="shared",
        help="the shared broker on 127.0.0.1:1883, or an own one with set_tcp_nodelay off/on",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.cycles <= 100_000 or args.poll_ms < 0.5:
        parser.error("--cycles is 1 .. 100,000 and --poll-ms at least 0.5")
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {1})
    directory = Path(tempfile.mkdtemp(prefix="bench-channels-"))
    procs: list[subprocess.Popen] = []
    try:
        broker = ("127.0.0.1", 1883)
        if args.mosquitto != "shared":
            mosquitto, mport = start_mosquitto(args.mosquitto, directory)
            procs.append(mosquitto)
            broker = ("127.0.0.1", mport)
        db = f"sqlite:///{directory / 'hub.db'}"
        from tryvoha.store import SqlStore

        store = SqlStore(db)
        token, _ = store.create_token("bench-channels", None)
        store.close()
        prefix = f"bench-channels/{uuid.uuid4().hex[:8]}"
        port = free_port()
        procs.append(
            start_hub(db, port, f"mqtt://{broker[0]}:{broker[1]}", prefix, directory / "hub.log")
        )
        wait_port(port)
        rows = asyncio.run(drive(args, port, token, broker, prefix))
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
        shutil.rmtree(directory, ignore_errors=True)
    if args.json:
        print(orjson.dumps(rows).decode())
        return
    print(
        f"commit → received, {args.cycles} events, Mosquitto: {args.mosquitto}, "
        f"polls every {args.poll_ms:g} ms"
    )
    print(f"  {'channel':14} {'p50':>7} {'p99':>7} {'max':>7}   POST → received p50 / p99")
    for channel, f in rows.items():
        print(
            f"  {channel:14} {f['commit_p50_ms']:7.2f} {f['commit_p99_ms']:7.2f} "
            f"{f['commit_max_ms']:7.2f}   {f['post_p50_ms']:.2f} / {f['post_p99_ms']:.2f} ms"
        )


if __name__ == "__main__":
    main()
