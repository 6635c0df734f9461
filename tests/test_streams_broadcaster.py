"""The broadcaster's pass, driven step by step with in-memory transports."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from datetime import UTC, datetime

import pytest

from tryvoha.alerts.commands import Actor, Declare, Rejected
from tryvoha.alerts.model import AlertStatus, Event, EventKind, Threat
from tryvoha.api.streams import BufferTransport
from tryvoha.channels.streams import Broadcaster, StreamConfig, StreamSpec
from tryvoha.hub import Hub, Outcome

from .waiting import until

ACTOR = Actor("token:burst")


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
    b = Broadcaster(hub, StreamConfig(chunk=1, slice_time=0, burst_gap=0))
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
    b = Broadcaster(hub, StreamConfig(chunk=1, slice_time=0, burst_gap=0))
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


@pytest.mark.parametrize(("slice_time", "slices"), [(60.0, 1), (0.0, 4)])
async def test_a_pass_yields_to_the_loop_after_its_slice_time(
    hub: Hub, catalogue, slice_time: float, slices: int
):
    """Within `slice_time` a pass goes on chunk after chunk without a turn of the loop between
    them, so nothing queued meanwhile (the answers to the commands that made it) runs before
    its last subscriber; past it, the pass yields after each chunk."""
    b = Broadcaster(hub, StreamConfig(chunk=3, slice_time=slice_time, burst_gap=0))
    transports = [BufferTransport() for _ in range(12)]
    for t in transports:
        b.accept(t, StreamSpec(), False, b"")
        t.take()
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    counter = asyncio.ensure_future(count_turns())
    b.publish(event(1, catalogue.oblasts[0].id))
    await settle(b)
    counter.cancel()
    assert [ids(t) for t in transports] == [[1]] * 12
    assert turns <= slices + 1  # the turn that starts the pass, then one per slice


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


def _following(hub: Hub, commit_wait: float) -> tuple[Broadcaster, BufferTransport]:
    """A broadcaster following the hub, with one subscriber past its snapshot."""
    b = Broadcaster(hub, StreamConfig(commit_wait=commit_wait))
    b.follow()
    t = BufferTransport()
    b.accept(t, StreamSpec(), False, b"")
    t.take()
    return b, t


async def _behind_a_busy_writer(
    hub: Hub, first: Declare, queued: list[Declare]
) -> list[Awaitable[Outcome]]:
    """`first` in flight (its transaction waits behind a busy writer thread) while `queued`
    wait for the next transaction, as when many operators send at once; then the writer goes
    on. Returns the submissions, to be awaited."""
    gate = threading.Event()
    busy = asyncio.ensure_future(hub.write(gate.wait))
    submitted = [asyncio.ensure_future(hub.submit(first, ACTOR))]
    await until(lambda: hub.commits.batches == 1 and hub.commits.queued == 0, "first in flight")
    submitted += [asyncio.ensure_future(hub.submit(c, ACTOR)) for c in queued]
    await until(lambda: hub.commits.queued == len(queued), "the rest queued")
    assert hub.more_coming
    gate.set()
    await busy
    return submitted


async def test_a_burst_over_two_transactions_goes_out_in_one_write(hub: Hub, catalogue):
    """The first command of a burst commits alone and the rest share the next transaction: the
    pass waits for that one, so each subscriber gets all 25 in one write, not 1 and then 24."""
    b, t = _following(hub, commit_wait=60)  # only the transaction ends the wait
    first, *rest = (Declare(o.id, Threat.AIR_RAID) for o in catalogue.oblasts[:25])
    outcomes = await asyncio.gather(*await _behind_a_busy_writer(hub, first, rest))
    assert [o.status_code for o in outcomes] == [201] * 25
    assert hub.commits.batches == 2
    await until(lambda: t.chunks and not b._running, "the burst written")
    assert len(t.chunks) == 1
    assert ids(t) == list(range(1, 26))
    b.stop()


async def test_a_lone_event_does_not_wait(hub: Hub, catalogue):
    b, t = _following(hub, commit_wait=60)
    await hub.submit(Declare(catalogue.oblasts[0].id, Threat.AIR_RAID), ACTOR)
    assert not hub.more_coming
    await until(lambda: t.chunks, "the event written, long before commit_wait")
    assert ids(t) == [1]
    b.stop()


async def test_a_wait_for_commands_that_are_all_refused_ends_at_commit_wait(hub: Hub, catalogue):
    """The queued commands publish nothing: the first event goes out when the wait runs out."""
    b, t = _following(hub, commit_wait=0.05)
    region = catalogue.oblasts[0].id
    again = [Declare(region, Threat.AIR_RAID)] * 3  # already open by the first: refused
    first, *refused = await _behind_a_busy_writer(hub, Declare(region, Threat.AIR_RAID), again)
    assert (await first).status_code == 201
    for submission in refused:
        with pytest.raises(Rejected):
            await submission
    await until(lambda: t.chunks, "the first event written once the wait ran out")
    assert ids(t) == [1]
    b.stop()
