"""Every outward channel: commit → received on loopback, p50 / p99 / max.

This process is the hub, built as `tryvoha serve` builds it (`open_signing`, `Hub`, `create_app`,
`uvicorn_config`: uvloop, the edge protocol, the outlets with MQTT on; embedded SQLite with
`synchronous=FULL`), pinned to CPU 0. A child process pinned to CPU 1 holds one receiver per
channel: an SSE subscriber, a WebSocket subscriber, a webhook receiver, an MQTT device
subscribed to `<prefix>/events/#` (QoS 1) through Mosquitto, and two pollers sending a
conditional GET every `--poll-ms`: the CAP Atom feed and the compact status. The hub declares
and ends alerts over the oblasts (`Hub.submit`), paced: each waits until every channel has the
one before, then a pause of about `--gap-ms`.

Both processes read the machine's wall clock (`time.time()`). **Commit → received** runs from
the moment the commit is durable (the hub's bus hands the event on: `Hub._publish`) to the
moment the receiver has the event; **submit → received** adds the command's own decide, render
and durable commit (fsync). A poller's figure includes up to one poll interval by construction.

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
from pathlib import Path

import aiomqtt
import httpx
import orjson
import uvicorn
import uvloop
import websockets

from tryvoha.alerts.model import Event
from tryvoha.channels.webhooks.receiver import Received, Receiver

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
        self.changed = asyncio.Event()

    def mark(self, channel: str, log_id: int, when: float | None = None) -> None:
        """In the receivers' process: note the first arrival and tell the hub's process."""
        if log_id in self.at[channel]:
            return
        self.at[channel][log_id] = when = time.time() if when is None else when
        self.changed.set()
        sys.stdout.write(f"{channel}\t{log_id}\t{when!r}\n")
        sys.stdout.flush()

    def doc(self, channel: str, doc: dict) -> None:
        """A delivered event document."""
        if "recorded_at" in doc and "id" in doc:
            self.mark(channel, doc["id"])

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
    port: int, path: str, channel: str, newest: Callable[[bytes], int], seen: Seen, every: float
) -> None:
    """A conditional GET every `every` seconds on one keep-alive connection (raw HTTP/1.1, so
    the poller itself costs little); a changed body names the newest log id."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    etag = b""
    while True:
        started = time.monotonic()
        condition = b"If-None-Match: " + etag + b"\r\n" if etag else b""
        writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: b\r\n" + condition + b"\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line)
        fields = {k.lower(): v for k, v in fields.items()}
        body = await reader.readexactly(int(fields.get(b"content-length", b"0")))
        if head.startswith(b"HTTP/1.1 200"):
            etag = fields.get(b"etag", b"")
            log_id = newest(body)
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


async def receivers(port: int, broker: tuple[str, int], prefix: str, poll_ms: float) -> None:
    """The child: every receiver; prints `webhook <url>`, then `ready`, then one line per
    arrival (`channel <tab> log id <tab> time`) until its stdin closes."""
    seen = Seen()

    def hooked(request: Received) -> int:
        seen.doc("webhook", orjson.loads(request.body)["event"])
        return 200

    receiver = Receiver(answer=hooked)
    await receiver.start()
    print("webhook", receiver.url, flush=True)
    tasks: list[asyncio.Task[None]] = []
    for subscriber in (sse, websocket):
        ready = asyncio.Event()
        tasks.append(asyncio.create_task(subscriber(port, seen, ready)))
        await ready.wait()
    ready = asyncio.Event()
    tasks.append(asyncio.create_task(mqtt_device(broker, prefix, seen, ready)))
    await ready.wait()
    every = poll_ms / 1000
    for path, channel, newest in (
        ("/api/v1/cap/feed.atom", "cap feed poll", newest_cap_event),
        ("/api/v1/status/compact", "status poll", newest_status_id),
    ):
        tasks.append(asyncio.create_task(poller(port, path, channel, newest, seen, every)))
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await receiver.stop()


class Arrivals:
    """In the hub's process: when each event was committed, and when each channel had it."""

    def __init__(self) -> None:
        self.committed: dict[int, float] = {}
        self.at: dict[str, dict[int, float]] = {c: {} for c in CHANNELS}
        self.changed = asyncio.Event()

    def on_commit(self, event: Event) -> None:
        self.committed[event.id] = time.time()

    async def follow(self, lines: asyncio.StreamReader) -> None:
        while line := await lines.readline():
            channel, log_id, when = line.decode().rstrip("\n").split("\t")
            self.at[channel][int(log_id)] = float(when)
            self.changed.set()

    async def wait(self, log_id: int, timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while not all(log_id in self.at[c] for c in CHANNELS):
                self.changed.clear()
                await self.changed.wait()


async def hub_main(args: argparse.Namespace, broker: tuple[str, int], directory: Path) -> dict:
    from tryvoha.alerts.commands import Actor, AlertRef, Declare, End
    from tryvoha.alerts.model import Threat
    from tryvoha.api.app import create_app
    from tryvoha.config import Settings
    from tryvoha.hub import Hub
    from tryvoha.regions import load_catalogue
    from tryvoha.serve import uvicorn_config
    from tryvoha.signing.hub import open_signing
    from tryvoha.store import SqlStore, acquire_writer

    port = free_port()
    prefix = f"bench-channels/{uuid.uuid4().hex[:8]}"
    db = f"sqlite:///{directory / 'hub.db'}"
    environ = {
        "TRYVOHA_DB": db,
        "TRYVOHA_PORT": str(port),
        "TRYVOHA_LOAD_HISTORY": "0",
        "TRYVOHA_MQTT": f"mqtt://{broker[0]}:{broker[1]}",
        "TRYVOHA_MQTT_PREFIX": prefix,
        "TRYVOHA_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    }
    settings = Settings.from_env({**os.environ, **environ})
    signing = open_signing(settings)
    store = SqlStore(settings.db_url, writer=acquire_writer(settings.db_url, "bench"))
    hub = Hub(load_catalogue(), store, policy=settings.approvals)
    hub.load()
    admin, _ = store.create_token("bench-channels", None)
    arrivals = Arrivals()
    hub.bus.subscribe(arrivals.on_commit, whole_log=True)
    server = uvicorn.Server(uvicorn_config(create_app(hub, settings, signing), "127.0.0.1", port))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    child = await asyncio.create_subprocess_exec(
        "taskset", "-c", "1", sys.executable, __file__, "--receivers", str(port),
        broker[0], str(broker[1]), prefix, str(args.poll_ms),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None and child.stdin is not None
    submitted: dict[int, float] = {}
    try:
        url = (await child.stdout.readline()).decode().split()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as api:
            r = await api.post(
                "/api/v1/webhooks", json={"url": url}, headers={"Authorization": f"Bearer {admin}"}
            )
            assert r.status_code == 201, r.text
        assert (await child.stdout.readline()).strip() == b"ready"
        following = asyncio.create_task(arrivals.follow(child.stdout))
        actor = Actor("token:bench-channels")
        oblasts = [o.id for o in hub.catalogue.oblasts]
        rng = random.Random(12)
        for k in range(args.cycles + args.warmup):
            region = oblasts[k % len(oblasts)]
            ref = AlertRef(region_id=region, threat=Threat.AIR_RAID)
            opened = any(a.region_id == region for a in hub.open_alerts())
            command = End(ref) if opened else Declare(region, Threat.AIR_RAID)
            t0 = time.time()
            outcome = await hub.submit(command, actor)
            assert outcome.event is not None
            if k >= args.warmup:
                submitted[outcome.event.id] = t0
            await arrivals.wait(outcome.event.id)
            await asyncio.sleep(rng.uniform(0.5, 1.5) * args.gap_ms / 1000)
    finally:
        child.stdin.close()
        await child.wait()
        server.should_exit = True
        await serving
        hub.close()
    following.cancel()
    rows = {}
    for channel in CHANNELS:
        at = arrivals.at[channel]
        from_commit = [(at[i] - arrivals.committed[i]) * 1000 for i in submitted]
        from_submit = [(at[i] - submitted[i]) * 1000 for i in submitted]
        rows[channel] = {
            "n": len(submitted),
            "commit_p50_ms": round(pct(from_commit, 0.5), 2),
            "commit_p99_ms": round(pct(from_commit, 0.99), 2),
            "commit_max_ms": round(max(from_commit), 2),
            "submit_p50_ms": round(pct(from_submit, 0.5), 2),
            "submit_p99_ms": round(pct(from_submit, 0.99), 2),
        }
    return rows


def main() -> None:
    if sys.argv[1:2] == ["--receivers"]:
        port, host, bport, prefix, poll_ms = sys.argv[2:7]
        uvloop.run(receivers(int(port), (host, int(bport)), prefix, float(poll_ms)))
        return
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
        os.sched_setaffinity(0, {0})
    directory = Path(tempfile.mkdtemp(prefix="bench-channels-"))
    mosquitto = None
    try:
        broker = ("127.0.0.1", 1883)
        if args.mosquitto != "shared":
            mosquitto, mport = start_mosquitto(args.mosquitto, directory)
            broker = ("127.0.0.1", mport)
        rows = uvloop.run(hub_main(args, broker, directory))
    finally:
        if mosquitto is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(mosquitto.pid, signal.SIGTERM)
            mosquitto.wait(20)
        shutil.rmtree(directory, ignore_errors=True)
    if args.json:
        print(orjson.dumps(rows).decode())
        return
    print(
        f"commit → received, {args.cycles} events, Mosquitto: {args.mosquitto}, "
        f"polls every {args.poll_ms:g} ms"
    )
    print(f"  {'channel':14} {'p50':>7} {'p99':>7} {'max':>7}   submit → received p50 / p99")
    for channel, f in rows.items():
        print(
            f"  {channel:14} {f['commit_p50_ms']:7.2f} {f['commit_p99_ms']:7.2f} "
            f"{f['commit_max_ms']:7.2f}   {f['submit_p50_ms']:.2f} / {f['submit_p99_ms']:.2f} ms"
        )


if __name__ == "__main__":
    main()
