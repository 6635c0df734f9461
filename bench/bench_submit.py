"""The writer's own cost: `Hub.submit` (decide, render on every surface, durable append, fold,
publish) for declare/end cycles over the oblasts, in process on the embedded SQLite (WAL,
synchronous=FULL), with and without an Idempotency-Key.

Usage: .venv/bin/python bench/bench_submit.py [--cycles 1000] [--dir /dev/shm] [--json]

`--dir` puts the database elsewhere: on a tmpfs (/dev/shm) fsync costs nothing and the figures
show the CPU cost alone. `render` times the rendering of one event on every surface (what each
submit does before its append), over the events of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import orjson

from tryvoha.alerts.commands import Actor, AlertRef, Declare, End
from tryvoha.alerts.model import EventKind, Threat
from tryvoha.alerts.state import declared_alert
from tryvoha.hub import Hub
from tryvoha.regions import load_catalogue
from tryvoha.store import SqlStore

ACTOR = Actor("bench")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def cycles(hub: Hub, count: int, keyed: bool) -> list[float]:
    """Milliseconds per submit over `count` declare/end cycles (2 × count submits)."""
    oblasts = [o.id for o in hub.catalogue.oblasts]
    took: list[float] = []
    for k in range(count):
        region = oblasts[k % len(oblasts)]
        key = f"bench-{keyed}-{k}" if keyed else None
        t0 = time.perf_counter()
        outcome = await hub.submit(
            Declare(region_id=region, threat=Threat.AIR_RAID, notes="bench {event_id}"), ACTOR, key
        )
        took.append((time.perf_counter() - t0) * 1000)
        assert outcome.event is not None
        t0 = time.perf_counter()
        await hub.submit(End(AlertRef(alert_id=outcome.event.alert_id)), ACTOR, key and key + "e")
        took.append((time.perf_counter() - t0) * 1000)
    return took


def figures(took: list[float]) -> dict[str, float]:
    return {
        "submits": len(took),
        "mean_ms": round(statistics.fmean(took), 3),
        "p50_ms": round(pct(took, 0.5), 3),
        "p99_ms": round(pct(took, 0.99), 3),
    }


def render_times(hub: Hub) -> list[float]:
    """Milliseconds to render each event of the log on every surface (as its submit did)."""
    renderer = getattr(hub, "renderer", None)
    if renderer is None:
        return []
    took = []
    open_before = {}
    for event in hub.store.iter_events():
        before = open_before.pop(event.alert_id, None)
        t0 = time.perf_counter()
        renderer.render(event, before)
        took.append((time.perf_counter() - t0) * 1000)
        if event.kind is EventKind.DECLARED:
            open_before[event.alert_id] = declared_alert(event)
    return took


async def main(count: int, where: str | None) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        hub = Hub(load_catalogue(), SqlStore(f"sqlite:///{Path(tmp) / 'bench.db'}"))
        hub.load()
        try:
            await cycles(hub, 50, False)  # warm up: imports, caches, the database file
            plain = await cycles(hub, count, False)
            keyed = await cycles(hub, count, True)
            rendered = render_times(hub)
        finally:
            hub.close()
    result = {"plain": figures(plain), "idempotency_key": figures(keyed)}
    if rendered:
        result["render"] = figures(rendered)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000, help="declare/end cycles per mode")
    parser.add_argument("--dir", default=None, help="where the database goes (default: tmp)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args()
    result = asyncio.run(main(args.cycles, args.dir))
    if args.json:
        print(orjson.dumps(result).decode())
    else:
        for mode, f in result.items():
            print(
                f"{mode:16} {f['submits']} events: mean {f['mean_ms']} ms, "
                f"p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms"
            )
