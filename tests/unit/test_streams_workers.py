"""channels/streams/workers.py: the hub ↔ follower channel, on a real SOCK_SEQPACKET pair.

The follower side runs in this process on a second hub over the same database, so the framing,
the passing of sockets, the back-pressure queue and the gap filling are all exercised for real
without spawning followers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator

import orjson
import pytest

from tryvoha.alerts.commands import Actor, AlertRef, Declare, End
from tryvoha.alerts.model import Threat
from tryvoha.bus.codec import decode_event, encode_event
from tryvoha.channels.streams import frames
from tryvoha.channels.streams.admission import Admitted
from tryvoha.channels.streams.broadcaster import Broadcaster
from tryvoha.channels.streams.spec import StreamSpec
from tryvoha.channels.streams.workers import (
    COUNTS,
    EVENT,
    MAX_MESSAGE,
    SUBSCRIBER,
    Channel,
    Follower,
    Followers,
)
from tryvoha.hub import Hub
from tryvoha.readmodel import LogView
from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore

from ..waiting import until

ACTOR = Actor("dispatch")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def process() -> Iterator[subprocess.Popen[bytes]]:
    """The follower process a channel names (only its pid is used, for the log)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    yield proc


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    yield ours, theirs
    for s in (ours, theirs):
        s.close()


@pytest.fixture
def follower_hub(catalogue: Catalogue, sqlite_url: str) -> Iterator[LogView]:
    """A read-only follower of the `hub` fixture's log (the same database file)."""
    h = LogView(catalogue, SqlStore(sqlite_url))
    h.load()
    yield h
    h.close()


def broadcaster(view: LogView) -> Broadcaster:
    """The broadcaster of a process, following its view of the log."""
    b = Broadcaster(view)
    b.follow()
    return b


@contextlib.asynccontextmanager
async def following(hub: LogView, sock: socket.socket) -> AsyncIterator[Follower]:
    sock.setblocking(False)
    follower = Follower(hub, sock, broadcaster(hub))
    loop = asyncio.get_running_loop()
    loop.add_reader(sock.fileno(), follower.on_readable)
    try:
        yield follower
    finally:
        loop.remove_reader(sock.fileno())
        follower.broadcaster.stop()


# The framing ----------------------------------------------------------------------------------


async def test_each_message_arrives_whole_and_in_order(pair, process, hub: Hub) -> None:
    ours, theirs = pair
    channel = Channel(ours, process)
    sent = []
    for region in ("UA", hub.catalogue.oblasts[0].id):
        event = (await hub.submit(Declare(region, Threat.AIR_RAID), ACTOR)).event
        assert event is not None
        sent.append(event)
        channel.send(EVENT + encode_event(event))
    got = [theirs.recv(MAX_MESSAGE) for _ in sent]
    assert [m[:1] for m in got] == [EVENT, EVENT]
    assert [decode_event(m[1:]) for m in got] == sent


def test_a_socket_travels_with_its_message(pair, process) -> None:
    ours, theirs = pair
    client, server_end = socket.socketpair()
    with client, server_end:
        channel = Channel(ours, process)
        order = SUBSCRIBER + orjson.dumps({"query": {"regions": "UA"}, "ws": False, "head": ""})
        channel.send(order, server_end.fileno())
        message, fds, _, _ = socket.recv_fds(theirs, MAX_MESSAGE, 4)
        assert message == order and len(fds) == 1
        with socket.socket(fileno=fds[0]) as passed:
            passed.sendall(b"the follower answers")
            assert client.recv(100) == b"the follower answers"


async def test_a_full_socket_queues_in_order_and_flushes_when_the_peer_reads(pair, process) -> None:
    ours, theirs = pair
    channel = Channel(ours, process)
    channel._loop()  # attached to this loop, as the hub's feed does
    client, server_end = socket.socketpair()
    fds_before = open_fds()
    body = b"x" * 30_000
    count = 0
    while not channel.queue:  # until the kernel's buffer is full
        channel.send(EVENT + b"%06d" % count + body)
        count += 1
        assert count < 10_000, "the socket never filled"
    channel.send(SUBSCRIBER + b"%06d" % count, server_end.fileno())  # queued with a dup
    count += 1
    for _ in range(3):
        channel.send(EVENT + b"%06d" % count + body)
        count += 1
    assert len(channel.queue) == 5 and open_fds() == fds_before + 1
    server_end.close()

    def drain() -> list[tuple[bytes, list[int]]]:
        return [socket.recv_fds(theirs, MAX_MESSAGE, 4)[:2] for _ in range(count)]

    got = await asyncio.get_running_loop().run_in_executor(None, drain)
    assert [int(m[1:7]) for m, _ in got] == list(range(count))
    passed = [(m[:1], fds) for m, fds in got if fds]
    assert len(passed) == 1 and passed[0][0] == SUBSCRIBER
    with socket.socket(fileno=passed[0][1][0]) as s:
        s.sendall(b"still the same connection")
        assert client.recv(100) == b"still the same connection"
    await until(lambda: not channel.queue, "the queue flushed")
    assert not channel.broken
    assert open_fds() == fds_before - 1  # server_end; the queued duplicate was closed once sent
    client.close()


async def test_counts_come_back_and_a_lost_follower_breaks_the_channel(pair, process) -> None:
    ours, theirs = pair
    channel = Channel(ours, process)
    channel._loop()
    channel.assigned = 5
    theirs.send(COUNTS + orjson.dumps({"closed": 2, "sse": 2, "ws": 1}))
    await until(lambda: channel.closed == 2, "the follower's report read")
    assert channel.counts == {"sse": 2, "ws": 1} and channel.load == 3
    theirs.close()
    await until(lambda: channel.broken, "the channel noticed its follower is gone")
    channel.send(EVENT + b"ignored")  # never raises, never queues
    assert not channel.queue


# Hub and follower -----------------------------------------------------------------------------


async def test_a_follower_holds_exactly_the_writer_s_state(
    hub: Hub, follower_hub: LogView, pair, process
) -> None:
    ours, theirs = pair
    channel = Channel(ours, process)
    followers = Followers(hub, broadcaster(hub), [channel])
    oblasts = hub.catalogue.oblasts
    async with following(follower_hub, theirs):
        declared = await hub.submit(Declare(oblasts[0].id, Threat.AIR_RAID), ACTOR)
        await hub.submit(Declare(oblasts[1].id, Threat.ARTILLERY_SHELLING), ACTOR)
        await hub.submit(End(AlertRef(alert_id=declared.event.id)), ACTOR)
        await until(lambda: follower_hub.last_event_id == 3, "the follower at the writer's head")
        assert follower_hub.state.canonical() == hub.state.canonical()

        followers._unsubscribe()  # events 4 and 5 reach the log, only 5 the follower
        await hub.submit(Declare(oblasts[2].id, Threat.AIR_RAID), ACTOR)
        fifth = (await hub.submit(Declare(oblasts[3].id, Threat.AIR_RAID), ACTOR)).event
        channel.send(EVENT + encode_event(fifth))
        await until(lambda: follower_hub.last_event_id == 5, "the gap filled from the log")
        assert follower_hub.state.canonical() == hub.state.canonical()

        channel.send(EVENT + encode_event(declared.event))  # a repeat changes nothing
        channel.send(EVENT + encode_event(fifth))
        sentinel = (await hub.submit(Declare(oblasts[4].id, Threat.AIR_RAID), ACTOR)).event
        channel.send(EVENT + encode_event(sentinel))
        await until(lambda: follower_hub.last_event_id == 6, "the follower past the repeats")
        assert follower_hub.state.canonical() == hub.state.canonical()
    followers.local.stop()


async def read_stream_head(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    retry = await asyncio.wait_for(reader.readuntil(b"\n\n"), 10)
    snapshot = await asyncio.wait_for(reader.readuntil(b"\n\n"), 10)
    assert retry == frames.SSE_RETRY
    return head, snapshot


async def test_a_subscriber_goes_to_the_least_loaded_process(
    hub: Hub, follower_hub: LogView, pair, process
) -> None:
    """The first stays with the hub (a follower is used only when less loaded than the hub);
    the second is passed to the follower, which answers it from its own fold of the log."""
    ours, theirs = pair
    channel = Channel(ours, process)
    followers = Followers(hub, broadcaster(hub), [channel])
    await hub.submit(Declare(hub.catalogue.oblasts[0].id, Threat.AIR_RAID), ACTOR)
    loop = asyncio.get_running_loop()
    admitted = Admitted(StreamSpec(), False, frames.SSE_HEAD)
    clients = []
    async with following(follower_hub, theirs) as follower:
        remote = follower.broadcaster
        await until(lambda: follower_hub.last_event_id == 1, "the follower caught up")
        for expected_local, expected_remote in ((1, 0), (1, 1)):
            client, server_end = socket.socketpair()
            transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, server_end)
            followers.local.take(transport, admitted)
            reader, writer = await asyncio.open_connection(sock=client)
            clients.append(writer)
            head, snapshot = await read_stream_head(reader)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert snapshot.startswith(b"event: snapshot\nid: 1\n")
            assert followers.local.counts["sse"] == expected_local
            assert remote.counts["sse"] == expected_remote
        assert channel.assigned == 1
    for writer in clients:
        writer.close()
    followers.local.stop()
