"""What delivery receipts cost the live streams: CPU time of broadcaster passes over N subscribers.

The broadcaster counts, per pass, the subscribers each event was written to (one dict update per
subscriber written, then one receipt per event and channel). This measures the CPU time of whole
passes (one event, then a burst of 25) in process, with transports that drop what they are given,
so the figure is the broadcaster's own work (encoding, matching, counting), not the kernel's.
CPU time (`time.process_time`), the minimum of the repeats: robust to a machine shared with other
work. Run it on a tree with and without the receipts to compare.

    .venv/bin/python bench/bench_receipts.py [-n 19000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tryvoha.alerts.model import AlertStatus, Event, EventKind, Threat
from tryvoha.api.streams import BufferTransport
from tryvoha.channels.streams import Broadcaster, StreamConfig, StreamSpec
from tryvoha.hub import Hub
from tryvoha.regions import load_catalogue
from tryvoha.store import SqlStore


class NullTransport(BufferTransport):
    """Takes every write and keeps nothing (the broadcaster's view of a fast socket)."""

    def write(self, data: bytes) -> None:
        pass


def event(event_id: int, region: str) -> Event:
    now = datetime.now(UTC)
    return Event(
        event_id,
        EventKind.UPDATED,
        1,
        region,
        Threat.AIR_RAID,
        AlertStatus.ACTUAL,
        now,
        now,
        "token:bench",
        notes=f"update {event_id}",
    )


async def settle(broadcaster: Broadcaster) -> None:
    while broadcaster._running:
        await asyncio.sleep(0)


async def run(n: int, repeat: int) -> dict[str, float]:
    catalogue = load_catalogue()
    directory = Path(tempfile.mkdtemp(prefix="bench-receipts-"))
    hub = Hub(catalogue, SqlStore(f"sqlite:///{directory / 'hub.db'}"))
    hub.load()
    broadcaster = Broadcaster(hub, StreamConfig(burst_gap=0))
    for _ in range(n):
        broadcaster.accept(NullTransport(), StreamSpec(), False, b"")
    oblasts = [o.id for o in catalogue.oblasts[:25]]
    next_id = 1
    single: list[float] = []
    burst: list[float] = []
    for _ in range(repeat):
        started = time.process_time()
        broadcaster.publish(event(next_id, oblasts[0]))
        next_id += 1
        await settle(broadcaster)
        single.append(time.process_time() - started)
        started = time.process_time()
        for region in oblasts:
            broadcaster.publish(event(next_id, region))
            next_id += 1
        await settle(broadcaster)
        burst.append(time.process_time() - started)
    receipts = getattr(broadcaster, "receipts", None)
    if receipts is not None:  # the count is right, or the figure means nothing
        kept = receipts.of(next_id - 1)
        assert kept is not None and kept.channels["sse"].reached == n, kept
    hub.close()
    return {"single_ms": min(single) * 1000, "burst_ms": min(burst) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=19000, help="subscribers (default 19000)")
    parser.add_argument("--repeat", type=int, default=7, help="passes measured (the minimum)")
    args = parser.parse_args()
    figures = asyncio.run(run(args.n, args.repeat))
    print(
        f"{args.n} SSE subscribers: one event {figures['single_ms']:.1f} ms CPU, "
        f"burst of 25 {figures['burst_ms']:.1f} ms CPU (minimum of {args.repeat})"
    )


if __name__ == "__main__":
    main()
