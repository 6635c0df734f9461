"""The broadcaster's pass, driven step by step with in-memory transports."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tryvoha.alerts.model import AlertStatus, Event, EventKind, Threat
from tryvoha.api.streams import BufferTransport
from tryvoha.channels.streams import Broadcaster, StreamConfig, StreamSpec
from tryvoha.hub import Hub


def event(event_id: int, region: str) -> Event:
    now = datetime.now(UTC)
    return Event(
        event_id,
        EventKind.DECLARED,
        event_id,
        region,
        Threat.AIR_RAID,
        AlertStatus.ACTUAL,
        now,
        now,
        "test",
    )


def ids(transport: BufferTransport) -> list[int]:
    text = transport.take().decode()
    return [int(line[4:]) for line in text.splitlines() if line.startswith("id: ")]


async def settle(broadcaster: Broadcaster) -> None:
    while broadcaster._running:
        await asyncio.sleep(0)


async def test_event_committed_mid_pass_reaches_the_slices_already_served(hub: Hub, catalogue):
    b = Broadcaster(hub, StreamConfig(chunk=1, burst_gap=0))
    region = catalogue.oblasts[0].id
    transports = [BufferTransport() for _ in range(6)]
    for t in transports:
        b.accept(t, StreamSpec(), False, b"")
        assert ids(t) == [0]  # the snapshot, at log id 0
    b.publish(event(1, region))
    await asyncio.sleep(0)  # the pass has served the first slice only
    assert b._running and b._pass_pos < len(transports)
    b.publish(event(2, region))
    await settle(b)
    assert [ids(t) for t in transports] == [[1, 2]] * len(transports)


async def test_subscriber_joining_mid_pass_is_served(hub: Hub, catalogue):
    b = Broadcaster(hub, StreamConfig(chunk=1, burst_gap=0))
    region = catalogue.oblasts[0].id
    first = [BufferTransport() for _ in range(4)]
    for t in first:
        b.accept(t, StreamSpec(), False, b"")
        t.take()
    b.publish(event(1, region))
    await asyncio.sleep(0)
    assert b._running
    late = BufferTransport()
    b.accept(late, StreamSpec(since=0), False, b"")  # resumes from the ring, mid-pass
    await settle(b)
    assert ids(late) == [1]
    assert [ids(t) for t in first] == [[1]] * 4


async def test_burst_is_coalesced_into_one_write(hub: Hub, catalogue):
    """Events published before a pass runs go to each subscriber as one write."""
    b = Broadcaster(hub, StreamConfig())
    t = BufferTransport()
    b.accept(t, StreamSpec(), False, b"")
    t.take()
    for i, oblast in enumerate(catalogue.oblasts[:25], 1):
        b.publish(event(i, oblast.id))
    await settle(b)
    assert len(t.chunks) == 1
    assert ids(t) == list(range(1, 26))
