"""The JetStream hop on this machine: commit → published by the relay → received by an edge's feed.

- single events: paced declares and ends through the hub; per event, the time from the commit
  (the bus hands it over) to the moment the feed yields it;
- bursts of 25: 25 declares submitted at once; the same per-event hop, and first commit → last
  received;
- catch-up: a backlog of committed events (100,000 by default) published from position 0, and the
  same backlog read by a fresh feed, in events/s.

Hub (embedded SQLite, WAL, synchronous=FULL), relay and feed share one process and event loop;
the nats-server is a private one (JetStream, file storage) on loopback, started by the script.
Target: the hop adds at most 5 ms at p99.

Usage: .venv/bin/python bench/bench_jetstream.py [--events 300] [--bursts 20] [--backlog 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.nats_server import NatsServer  # noqa: E402
from tryvoha.alerts.commands import Actor, AlertRef, Declare, End  # noqa: E402
from tryvoha.alerts.model import (  # noqa: E402
    AlertStatus,
    Event,
    EventDraft,
    EventKind,
    Threat,
)
from tryvoha.bus.jetstream import LogFollowerFeed, LogRelay  # noqa: E402
from tryvoha.hub import Hub  # noqa: E402
from tryvoha.regions import load_catalogue  # noqa: E402
from tryvoha.store import SqlStore  # noqa: E402

ACTOR = Actor("bench")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def until(check: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark stalled")
        await asyncio.sleep(0.001)


def relay_on(server: NatsServer, store: SqlStore, key: str) -> LogRelay:
    return LogRelay(
        server.url,
        events_after=store.events_after,
        load_position=lambda: int(store.get_meta(key) or 0),
        save_position=lambda p: store.set_meta(key, str(p)),
    )


async def bench_hop(server: NatsServer, workdir: Path, events: int, bursts: int) -> dict:
    store = SqlStore(f"sqlite:///{workdir / 'hop.db'}")
    hub = Hub(load_catalogue(), store)
    hub.load()
    relay = relay_on(server, store, "bench.relay")
    committed: dict[int, float] = {}
    received: dict[int, float] = {}

    def on_commit(event: Event) -> None:
        committed[event.id] = time.perf_counter()
        relay.wake(event)

    hub.bus.subscribe(on_commit, whole_log=True)
    feed = LogFollowerFeed(server.url)

    async def follow() -> None:
        async for event in feed.events(0):
            received[event.id] = time.perf_counter()

    relay_task = asyncio.create_task(relay.run())
    follow_task = asyncio.create_task(follow())
    oblasts = [o.id for o in hub.catalogue.oblasts]
    try:
        # warm up: connections, consumer, first publishes
        for _ in range(20):
            out = await hub.submit(Declare(oblasts[0], Threat.AIR_RAID), ACTOR)
            await hub.submit(End(AlertRef(alert_id=out.event.alert_id)), ACTOR)
        await until(lambda: len(received) == hub.last_event_id)
        committed.clear()
        received.clear()

        # single events, paced so that each travels alone
        free = deque(oblasts)
        open_alerts: deque[tuple[int, str]] = deque()
        for _ in range(events):
            if len(open_alerts) >= 13:
                alert_id, region = open_alerts.popleft()
                out = await hub.submit(End(AlertRef(alert_id=alert_id)), ACTOR)
                free.append(region)
            else:
                region = free.popleft()
                out = await hub.submit(Declare(region, Threat.AIR_RAID), ACTOR)
                open_alerts.append((out.event.alert_id, region))
            last = out.event.id
            await until(lambda last=last: last in received)
            await asyncio.sleep(0.005)
        for alert_id, _ in open_alerts:
            await hub.submit(End(AlertRef(alert_id=alert_id)), ACTOR)
        await until(lambda: len(received) == len(committed))
        single = [(received[i] - committed[i]) * 1000 for i in committed]

        # bursts of 25 declares submitted at once
        burst_hops: list[float] = []
        burst_spans: list[float] = []
        for _ in range(bursts):
            committed.clear()
            received.clear()
            outs = await asyncio.gather(
                *(hub.submit(Declare(r, Threat.AIR_RAID), ACTOR) for r in oblasts[:25])
            )
            await until(lambda: len(received) == 25)
            burst_hops += [(received[i] - committed[i]) * 1000 for i in committed]
            burst_spans.append((max(received.values()) - min(committed.values())) * 1000)
            for out in outs:
                await hub.submit(End(AlertRef(alert_id=out.event.alert_id)), ACTOR)
            await until(lambda: len(received) == 50)
            await asyncio.sleep(0.02)
    finally:
        await relay.stop()
        follow_task.cancel()
        await feed.close()
        relay_task.cancel()
        hub.close()
    return {
        "single": single,
        "burst_hops": burst_hops,
        "burst_spans": burst_spans,
    }


async def bench_catch_up(server: NatsServer, workdir: Path, backlog: int) -> dict:
    store = SqlStore(f"sqlite:///{workdir / 'backlog.db'}")
    at = datetime.now(UTC)
    draft = EventDraft(EventKind.DECLARED, "UA80", Threat.AIR_RAID, AlertStatus.ACTUAL, at, "b")
    for start in range(0, backlog, 10_000):
        store.append_many([draft] * min(10_000, backlog - start), at)
    relay = LogRelay(
        server.url,
        stream="BACKLOG",
        subject="backlog.log",
        events_after=store.events_after,
        load_position=lambda: 0,
        save_position=lambda p: store.set_meta("bench.backlog", str(p)),
    )
    task = asyncio.create_task(relay.run())
    t0 = time.perf_counter()
    await until(lambda: relay.status().position == backlog, 600)
    relay_seconds = time.perf_counter() - t0
    await relay.stop()
    task.cancel()

    feed = LogFollowerFeed(server.url, stream="BACKLOG")
    got = 0
    t0 = time.perf_counter()
    async for event in feed.events(0):
        got += 1
        if event.id == backlog:
            break
    feed_seconds = time.perf_counter() - t0
    await feed.close()
    store.close()
    assert got == backlog
    return {"relay_rate": backlog / relay_seconds, "feed_rate": backlog / feed_seconds}


def row(name: str, values: list[float]) -> str:
    return (
        f"| {name} | {len(values)} | {statistics.median(values):.2f} | {pct(values, 0.99):.2f} | "
        f"{max(values):.2f} |"
    )


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=300, help="paced single events (default 300)")
    p.add_argument("--bursts", type=int, default=20, help="bursts of 25 declares (default 20)")
    p.add_argument("--backlog", type=int, default=100_000, help="catch-up backlog (0: skip)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server = NatsServer(workdir / "nats")
        server.start()
        try:
            hop = await bench_hop(server, workdir, args.events, args.bursts)
            catch_up = await bench_catch_up(server, workdir, args.backlog) if args.backlog else {}
        finally:
            server.stop()
    print(f"nats-server {server.version()}, JetStream file storage, loopback\n")
    print("| commit → received by the feed | n | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    print(row("single event", hop["single"]))
    print(row("burst of 25, per event", hop["burst_hops"]))
    print(row("burst of 25, first commit → last received", hop["burst_spans"]))
    if catch_up:
        rate = catch_up["relay_rate"]
        print(f"\ncatch-up of {args.backlog:,} events: relay {rate:,.0f} events/s,")
        print(f"feed from 0 {catch_up['feed_rate']:,.0f} events/s")


if __name__ == "__main__":
    asyncio.run(main())
