"""The JetStream hop as a subscriber sees it: the same event on the writer's stream and on an
edge's stream, real processes.

A writer (`tryvoha serve --nats`, embedded SQLite) and an edge (`tryvoha edge --nats --db`), a
private nats-server with JetStream, and two raw SSE subscribers in this process: one on the
writer, one on the edge. Paced declares and ends go to the writer; for every event the time it
reached the edge's subscriber minus the time it reached the writer's subscriber is the hop
(relay → JetStream → the edge's feed → its fold → its broadcaster). Both subscribers are read by
one event loop, so the clocks are one clock.

Target: the hop adds at most 5 ms at p99.

Usage: .venv/bin/python bench/bench_edge_hop.py [--events 600] [--pace 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.nats_server import NatsServer, _free_port  # noqa: E402
from tryvoha.regions import load_catalogue  # noqa: E402
from tryvoha.store import SqlStore  # noqa: E402

TRYVOHA = str(Path(sys.executable).parent / "tryvoha")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start(args: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, TRYVOHA_LOAD_HISTORY="false")
    with log.open("wb") as out:
        return subprocess.Popen(
            [TRYVOHA, *args, "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def healthy(port: int) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(1200):
            try:
                r = await client.get(f"http://127.0.0.1:{port}/api/v1/health")
                if r.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise TimeoutError(f"port {port} never became healthy")


async def subscribe(port: int, seen: dict[int, float], ready: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /api/v1/stream HTTP/1.1\r\nHost: b\r\nAccept: text/event-stream\r\n\r\n")
    await reader.readuntil(b"\r\n\r\n")
    ready.set()
    kind = b""
    while True:
        line = await reader.readline()
        if not line:
            return
        if line.startswith(b"event: "):
            kind = line[7:].strip()
        elif line.startswith(b"id: ") and kind == b"alert":
            seen[int(line[4:])] = time.perf_counter()


async def main(events: int, pace: float) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-edge-hop-"))
    db = f"sqlite:///{scratch / 'hub.db'}"
    keys = str(scratch / "keys")
    store = SqlStore(db)
    token = store.create_token("bench", None)[0]
    store.close()
    nats = NatsServer(scratch / "nats")
    nats.start()
    writer_port, edge_port = _free_port(), _free_port()
    procs = [
        start(
            ["serve", "--db", db, "--keys", keys, "--nats", nats.url],
            writer_port,
            scratch / "writer.log",
        )
    ]
    try:
        await healthy(writer_port)
        procs.append(
            start(
                ["edge", "--nats", nats.url, "--db", db, "--keys", keys],
                edge_port,
                scratch / "edge.log",
            )
        )
        await healthy(edge_port)
        at_writer: dict[int, float] = {}
        at_edge: dict[int, float] = {}
        ready = [asyncio.Event(), asyncio.Event()]
        tasks = [
            asyncio.create_task(subscribe(writer_port, at_writer, ready[0])),
            asyncio.create_task(subscribe(edge_port, at_edge, ready[1])),
        ]
        await asyncio.gather(*(r.wait() for r in ready))
        oblasts = [o.id for o in load_catalogue().oblasts]
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{writer_port}", headers=headers
        ) as client:
            for i in range(events // 2):
                r = await client.post("/api/v1/alerts", json={"region_id": oblasts[i % 20]})
                r.raise_for_status()
                await asyncio.sleep(pace)
                r = await client.post(f"/api/v1/alerts/{r.json()['alert']['id']}/end")
                r.raise_for_status()
                await asyncio.sleep(pace)
        deadline = time.monotonic() + 30
        while len(at_edge) < events and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        both = sorted(set(at_writer) & set(at_edge))
        hops = [(at_edge[i] - at_writer[i]) * 1000 for i in both]
        print(f"events: {len(both)} of {events} on both subscribers (pace {pace * 1000:.0f} ms)")
        print(
            f"hop (edge subscriber − writer subscriber): p50 {pct(hops, 0.5):.2f} ms, "
            f"p90 {pct(hops, 0.9):.2f} ms, p99 {pct(hops, 0.99):.2f} ms, max {max(hops):.2f} ms"
        )
        print("target: p99 ≤ 5 ms")
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        nats.kill()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--pace", type=float, default=0.02)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.pace))
