"""The cluster as real processes: a writer on PostgreSQL relaying to a real nats-server, three
edges (two folding from the database, one from the stream alone), a steady stream of declares,
1,000 SSE subscribers spread over the edges and a WebSocket subscriber on two of them. Then
the failures, one after another:

- an edge killed with -9: its subscribers resume on another edge with `Last-Event-ID`;
- the same region status (body and ETag) from every node at the same log id;
- NATS killed and started again: edges say stale meanwhile, then catch up with no gap;
- the writer killed with -9: edges keep answering reads.

At the end every subscriber must have received every live event after its snapshot exactly
once, in log order, whatever happened to it on the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from array import array
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import websockets

from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore

from .nats_server import NatsServer
from .test_streams_support import free_port
from .waiting import until

pytestmark = [pytest.mark.slow, pytest.mark.nats, pytest.mark.postgres]
SUBSCRIBERS = int(os.environ.get("TRYVOHA_CLUSTER_SUBSCRIBERS", "1000"))


class Node:
    """One tryvoha process (`serve` or `edge`) on its own port, its output in a log file."""

    def __init__(self, name: str, args: list[str], logs: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = logs / f"{name}.log"
        exe = Path(sys.executable).parent / "tryvoha"
        env = dict(os.environ, TRYVOHA_LOAD_HISTORY="false")
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(exe), *args, "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            return await client.get(path)

    async def health(self) -> tuple[int, dict]:
        r = await self.get("/api/v1/health")
        return r.status_code, r.json()

    async def ready(self) -> bool:
        if not self.alive:
            raise AssertionError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
        try:
            return (await self.health())[0] == 200
        except httpx.TransportError:
            return False


class Subscriber:
    """One SSE subscriber: keeps the ids it got (compactly), resumes elsewhere when cut off."""

    def __init__(self, number: int, edges: list[Node]) -> None:
        self.number = number
        self.edges = edges
        self.at = number % len(edges)
        self.start: int | None = None  # the snapshot's log id
        self.ids = array("q")
        self.resumed = 0
        self.connected = asyncio.Event()
        self.problem: str | None = None
        self.task = asyncio.create_task(self.run())

    @property
    def last(self) -> int:
        return self.ids[-1] if self.ids else (self.start or 0)

    async def run(self) -> None:
        while True:
            edge = self.edges[self.at]
            if edge.alive:
                with contextlib.suppress(ConnectionError, OSError, asyncio.IncompleteReadError):
                    await self.follow(edge)
            self.connected.clear()
            self.at = (self.at + 1) % len(self.edges)
            self.resumed += 1
            await asyncio.sleep(0.05)  # a client's retry delay, as EventSource has one

    async def follow(self, edge: Node) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", edge.port, limit=2**20)
        try:
            resume = "" if self.start is None else f"Last-Event-ID: {self.last}\r\n"
            writer.write(
                f"GET /api/v1/stream HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n"
                f"{resume}\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                raise ConnectionError(head.decode(errors="replace"))
            self.connected.set()
            kind, event_id = b"", None
            while True:
                line = await reader.readline()
                if not line:
                    raise ConnectionError("closed")
                if line.startswith(b"event: "):
                    kind = line[7:].strip()
                elif line.startswith(b"id: "):
                    event_id = int(line[4:])
                elif line == b"\n" and event_id is not None:
                    self.take(kind, event_id)
                    kind, event_id = b"", None
        finally:
            writer.close()

    def take(self, kind: bytes, event_id: int) -> None:
        if kind == b"snapshot":
            if self.start is None:
                self.start = event_id
            elif self.problem is None and self.ids:
                self.problem = f"a second snapshot at {event_id} after resuming from {self.last}"
        elif kind == b"alert":
            if event_id <= self.last and self.problem is None:
                self.problem = f"got {event_id} after {self.last}"
            self.ids.append(event_id)


class WsSubscriber:
    """One WebSocket subscriber on one edge, kept for the whole test."""

    def __init__(self, edge: Node) -> None:
        self.start: int | None = None
        self.ids: list[int] = []
        self.task = asyncio.create_task(self.run(edge))

    async def run(self, edge: Node) -> None:
        async with websockets.connect(f"ws://127.0.0.1:{edge.port}/api/v1/ws") as ws:
            async for raw in ws:
                message = orjson.loads(raw)
                if message["type"] == "snapshot":
                    self.start = message["log_id"]
                elif message["type"] == "alert":
                    self.ids.append(message["id"])


class Declarer:
    """A steady stream of declares (and ends) on the writer, pausable; counts what it got."""

    def __init__(self, writer: Node, token: str, regions: list[str]) -> None:
        self.writer, self.token, self.regions = writer, token, regions
        self.go = asyncio.Event()
        self.go.set()
        self.idle = asyncio.Event()
        self.acknowledged = 0
        self.task = asyncio.create_task(self.run())

    async def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(base_url=self.writer.url, headers=headers) as client:
            turn = 0
            while True:
                if not self.go.is_set():
                    self.idle.set()
                    await self.go.wait()
                    self.idle.clear()
                region = self.regions[turn % len(self.regions)]
                turn += 1
                r = await client.post("/api/v1/alerts", json={"region_id": region})
                assert r.status_code == 201, r.text
                alert_id = r.json()["alert"]["id"]
                r = await client.post(f"/api/v1/alerts/{alert_id}/end")
                assert r.status_code == 200, r.text
                self.acknowledged += 2
                await asyncio.sleep(0.03)  # pacing the load, not waiting for anything

    async def pause(self) -> None:
        self.go.clear()
        await until(self.idle.is_set, "declares paused")

    def check(self) -> bool:
        if self.task.done():
            self.task.result()  # a failed declare fails the test with its own error
        return True


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    s = NatsServer(tmp_path / "nats")
    s.start()
    yield s
    s.kill()


async def test_cluster_survives_an_edge_nats_and_the_writer(
    tmp_path: Path, catalogue: Catalogue, postgres_url: str, nats_server: NatsServer
) -> None:
    store = SqlStore(postgres_url)  # migrates the new database
    token = store.create_token("cluster-test", None)[0]
    store.close()
    keys = str(tmp_path / "keys")
    nats = nats_server.url
    writer = Node(
        "writer", ["serve", "--db", postgres_url, "--nats", nats, "--keys", keys], tmp_path
    )
    nodes = [writer]
    subscribers: list[Subscriber] = []
    sockets: list[WsSubscriber] = []
    declarer: Declarer | None = None
    try:
        await until(writer.ready, "writer up", timeout=60)
        edges = [
            Node(
                "edge-0", ["edge", "--nats", nats, "--db", postgres_url, "--keys", keys], tmp_path
            ),
            Node(
                "edge-1", ["edge", "--nats", nats, "--db", postgres_url, "--keys", keys], tmp_path
            ),
            Node("edge-2", ["edge", "--nats", nats, "--keys", keys, "--max-lag", "1"], tmp_path),
        ]
        nodes += edges
        for edge in edges:
            await until(edge.ready, f"{edge.name} up and current", timeout=60)

        declarer = Declarer(writer, token, [o.id for o in catalogue.oblasts[:20]])
        for start in range(0, SUBSCRIBERS, 100):  # connect in waves, not all at once
            wave = [Subscriber(n, edges) for n in range(start, min(start + 100, SUBSCRIBERS))]
            subscribers += wave
            await asyncio.gather(*(s.connected.wait() for s in wave))
        await until(lambda: all(s.start is not None for s in subscribers), "every snapshot")
        sockets = [WsSubscriber(edge) for edge in edges[1:]]
        await until(lambda: all(w.start is not None for w in sockets), "WebSocket snapshots")

        async def everyone_past(log_id: int) -> bool:
            declarer.check()
            return all(s.last >= log_id for s in subscribers)

        async def writer_last() -> int:
            return (await writer.health())[1]["last_applied_id"]

        await until(lambda: declarer.acknowledged >= 20, "declares under way")
        mark = await writer_last()
        await until(lambda: everyone_past(mark), "every subscriber live", timeout=30)

        # 1. An edge dies: its subscribers resume on the others, missing nothing.
        cut_off = [s for s in subscribers if s.at == 0]
        edges[0].kill()
        await until(lambda: all(s.resumed > 0 for s in cut_off), "cut-off subscribers resumed")
        mark = await writer_last()
        await until(lambda: everyone_past(mark), "resumed subscribers current", timeout=30)

        # 2. The same status and ETag from every live node at the same log id.
        await declarer.pause()
        mark = await writer_last()
        live = [writer, *edges[1:]]

        async def all_at_mark() -> bool:
            return all([(await n.health())[1]["last_applied_id"] == mark for n in live])

        await until(all_at_mark, "every node at the writer's log id")
        answers = [await n.get("/api/v1/status/compact") for n in live]
        assert {(r.status_code, r.content, r.headers["etag"]) for r in answers} == {
            (200, answers[0].content, answers[0].headers["etag"])
        }
        declarer.go.set()

        # 3. NATS restarted: edges say stale meanwhile, then catch up with no gap.
        nats_server.kill()

        async def edges_stale() -> bool:
            healths = [await e.health() for e in edges[1:]]
            return all(code == 503 and doc["stale"] for code, doc in healths)

        await until(edges_stale, "edges say stale while NATS is down", timeout=30)
        during = declarer.acknowledged
        await until(lambda: declarer.acknowledged >= during + 10, "the writer keeps accepting")
        nats_server.start()
        mark = await writer_last()

        async def edges_current() -> bool:
            healths = [await e.health() for e in edges[1:]]
            return all(c == 200 and d["last_applied_id"] >= mark for c, d in healths)

        await until(edges_current, "edges caught up after NATS came back", timeout=45)
        await until(lambda: everyone_past(mark), "subscribers caught up", timeout=30)

        # 4. The writer dies: edges keep answering reads.
        await declarer.pause()
        final = await writer_last()
        await until(lambda: everyone_past(final), "every event delivered", timeout=30)
        await until(lambda: all(w.ids and w.ids[-1] == final for w in sockets), "on WebSockets")
        writer.kill()
        for edge in edges[1:]:
            assert (await edge.get("/api/v1/status/compact")).status_code == 200
            assert (await edge.get("/api/v1/alerts/active")).status_code == 200
            assert (await edge.health())[1]["last_applied_id"] == final
    finally:
        if declarer is not None:
            declarer.task.cancel()
        for s in [*subscribers, *sockets]:
            s.task.cancel()
        await asyncio.gather(*(s.task for s in [*subscribers, *sockets]), return_exceptions=True)
        for node in nodes:
            node.kill()

    store = SqlStore(postgres_url)
    try:
        log = [e.id for e in store.events_after(0) if e.is_broadcast]
    finally:
        store.close()
    assert log[-1] == final
    problems = [(s.number, s.problem) for s in subscribers if s.problem]
    assert not problems, problems[:5]
    for s in subscribers:
        wanted = [i for i in log if i > (s.start or 0)]
        assert list(s.ids) == wanted, f"subscriber {s.number} (resumed {s.resumed} times)"
    assert sum(1 for s in subscribers if s.resumed) >= len(cut_off)
    for w in sockets:
        assert w.ids == [i for i in log if i > (w.start or 0)]
