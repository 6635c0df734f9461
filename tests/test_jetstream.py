"""The log on JetStream against a real, private nats-server: relayed in order with stream sequence
= log id, followed exactly once, and both surviving crashes, restarts, outages and a lost stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
from nats.js.api import StorageType, StreamConfig

from tryvoha import metrics
from tryvoha.alerts.model import AlertStatus, Event, EventDraft, EventKind, Threat
from tryvoha.bus.codec import CodecError, decode_event, encode_event
from tryvoha.bus.jetstream import (
    LogFollowerFeed,
    LogRelay,
    ResyncNeeded,
    StreamConflict,
    ensure_stream,
)
from tryvoha.store import SqlStore

from . import waiting
from .nats_server import NatsServer

STREAM, SUBJECT = "LOG", "log.events"
OUTAGE_SECONDS = float(os.environ.get("TRYVOHA_TEST_NATS_OUTAGE", "3"))
T0 = datetime(2026, 2, 24, 4, 0, tzinfo=UTC)


# Helpers -------------------------------------------------------------------------------------


class MemoryLog:
    """A gapless log and a durable position, as the store keeps them, in memory."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.position = 0
        self.saves = 0

    def append(self, n: int = 1) -> list[Event]:
        new = [make_event(len(self.events) + 1 + i) for i in range(n)]
        self.events.extend(new)
        return new

    def events_after(self, after_id: int, limit: int) -> list[Event]:
        return self.events[after_id : after_id + limit]

    def load_position(self) -> int:
        return self.position

    def save_position(self, position: int) -> None:
        self.position = position
        self.saves += 1


def make_event(event_id: int) -> Event:
    at = T0 + timedelta(seconds=event_id, microseconds=event_id % 997)
    return Event(
        id=event_id,
        kind=EventKind.DECLARED,
        alert_id=event_id,
        region_id=f"UA{event_id % 27:02d}",
        threat=Threat.AIR_RAID,
        status=AlertStatus.ACTUAL,
        occurred_at=at,
        recorded_at=at,
        originator="test-dispatch",
        idempotency_key=f"k{event_id}",
    )


def relay_for(server: NatsServer, source: MemoryLog, **options: object) -> LogRelay:
    settings: dict[str, object] = {
        "events_after": source.events_after,
        "load_position": source.load_position,
        "save_position": source.save_position,
        "stream": STREAM,
        "subject": SUBJECT,
        "ack_timeout": 1.0,
        "max_backoff": 0.5,
        "save_interval": 0.05,
        **options,
    }
    return LogRelay(server.url, **settings)  # type: ignore[arg-type]


def feed_for(server: NatsServer, **options: object) -> LogFollowerFeed:
    settings: dict[str, object] = {
        "stream": STREAM,
        "heartbeat": 0.25,
        "info_interval": 0.5,
        "max_backoff": 0.5,
        **options,
    }
    return LogFollowerFeed(server.url, **settings)  # type: ignore[arg-type]


class Following:
    """Reads a feed in the background and keeps what it got."""

    def __init__(self, feed: LogFollowerFeed, after: int = 0, delay: float = 0.0) -> None:
        self.feed = feed
        self.events: list[Event] = []
        self.error: BaseException | None = None
        self.delay = delay
        self.task = asyncio.create_task(self._read(after))

    async def _read(self, after: int) -> None:
        try:
            async for event in self.feed.events(after):
                self.events.append(event)
                if self.delay:
                    await asyncio.sleep(self.delay)  # a slow reader, to overflow its buffer
        except Exception as exc:
            self.error = exc

    @property
    def ids(self) -> list[int]:
        return [e.id for e in self.events]

    async def close(self) -> None:
        """As an edge stops: close the feed (which ends `events()`), then cancel; both bounded."""
        await asyncio.wait_for(self.feed.close(), 10)
        self.task.cancel()
        done, _ = await asyncio.wait({self.task}, timeout=10)
        assert done, "the feed's reader did not stop"


async def until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """`waiting.until` with a deadline that allows for a NATS server restarting."""
    await waiting.until(check, what, timeout)


@contextlib.asynccontextmanager
async def running(relay: LogRelay) -> AsyncIterator[LogRelay]:
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        await relay.stop()
        done, _ = await asyncio.wait({task}, timeout=15)
        assert done, "the relay did not stop"
        if not task.cancelled():
            task.result()  # run() never raises; if it did, say so here


@contextlib.asynccontextmanager
async def client(server: NatsServer) -> AsyncIterator[nats.js.JetStreamContext]:
    nc = await nats.connect(server.url)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def stream_contents(server: NatsServer) -> list[tuple[int, str | None, Event]]:
    """Every message in the stream as (sequence, message id, event), read by sequence."""
    async with client(server) as js:
        info = await js.stream_info(STREAM)
        assert info.state.num_deleted in (None, 0), "the stream has holes"
        out: list[tuple[int, str | None, Event]] = []
        first, last = info.state.first_seq, info.state.last_seq
        for start in range(first, last + 1, 500):
            seqs = range(start, min(start + 500, last + 1))
            msgs = await asyncio.gather(*(js.get_msg(STREAM, s, direct=True) for s in seqs))
            for seq, msg in zip(seqs, msgs, strict=True):
                out.append((seq, (msg.headers or {}).get("Nats-Msg-Id"), decode_event(msg.data)))
        assert len(out) == info.state.messages
        return out


async def assert_stream_is_log(server: NatsServer, log: list[Event]) -> None:
    """Stream sequence = message id = log id for every event; nothing else, nothing missing."""
    contents = await stream_contents(server)
    assert [seq for seq, _, _ in contents] == list(range(1, len(log) + 1))
    assert all(msg_id == str(seq) for seq, msg_id, _ in contents)
    assert [event for _, _, event in contents] == log


def assert_exactly_once_in_order(got: list[Event], log: list[Event], after: int = 0) -> None:
    assert [e.id for e in got] == list(range(after + 1, len(log) + 1))
    assert got == log[after:]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    s = NatsServer(tmp_path / "nats")
    s.start()
    yield s
    s.kill()


# The stream ------------------------------------------------------------------------------------


async def test_ensure_stream_is_idempotent_and_refuses_conflicts(server: NatsServer) -> None:
    async with client(server) as js:
        first = await ensure_stream(js, STREAM, SUBJECT)
        again = await ensure_stream(js, STREAM, SUBJECT)
        assert again.created == first.created
        config = again.config
        assert config.storage == StorageType.FILE and config.allow_direct
        assert config.subjects == [SUBJECT] and not config.max_age
        assert config.duplicate_window == pytest.approx(600)

        tuned = await ensure_stream(js, STREAM, SUBJECT, duplicate_window=120, max_age=86400)
        assert tuned.config.duplicate_window == pytest.approx(120)
        assert tuned.config.max_age == pytest.approx(86400)
        assert tuned.created == first.created

        with pytest.raises(StreamConflict, match=r"subjects .*exactly \['other'\]"):
            await ensure_stream(js, STREAM, "other")
        with pytest.raises(StreamConflict, match="already captured by another stream"):
            await ensure_stream(js, "ELSEWHERE", SUBJECT)
        await js.add_stream(StreamConfig(name="CAPPED", subjects=["capped"], max_msgs=10))
        with pytest.raises(StreamConflict, match="max_msgs 10"):
            await ensure_stream(js, "CAPPED", "capped")
        with pytest.raises(StreamConflict, match="replicas"):
            await ensure_stream(js, "R3", "r3", replicas=3)  # one server cannot hold three copies


# The relay -------------------------------------------------------------------------------------


async def test_relay_publishes_the_log_in_order_with_sequence_equal_to_id(
    server: NatsServer, sqlite_url: str
) -> None:
    """10,000 events from the real store, followed live by a feed, position kept in `meta`."""
    store = SqlStore(sqlite_url)
    drafts = [
        EventDraft(EventKind.DECLARED, "UA80", Threat.AIR_RAID, AlertStatus.ACTUAL, T0, "test")
        for _ in range(10_000)
    ]
    store.append_many(drafts, T0)
    log = store.events_after(0)
    relay = LogRelay(
        server.url,
        stream=STREAM,
        subject=SUBJECT,
        events_after=store.events_after,
        load_position=lambda: int(store.get_meta("relay.position") or 0),
        save_position=lambda p: store.set_meta("relay.position", str(p)),
        save_interval=0.05,
    )
    feed = feed_for(server)
    following = Following(feed)
    try:
        async with running(relay):
            await until(lambda: relay.status().position == 10_000, "relay caught up")
            await until(lambda: store.get_meta("relay.position") == "10000", "position saved")
            await until(lambda: len(following.events) == 10_000, "feed caught up")
            status = relay.status()
            assert (status.lag_events, status.published, status.last_error) == (0, 10_000, None)
            exposed = metrics.render().decode()
            assert f'tryvoha_relay_position{{stream="{STREAM}"}} 10000.0' in exposed
            assert f'tryvoha_relay_lag_events{{stream="{STREAM}"}} 0.0' in exposed

            # live: each commit handed over by the bus, published and received in order
            for _ in range(20):
                appended = store.append_many(drafts[:1], T0)
                relay.wake(appended[0])
            log = store.events_after(0)
            await until(lambda: len(following.events) == 10_020, "live events followed")
        assert following.error is None
        assert_exactly_once_in_order(following.events, log)
        await assert_stream_is_log(server, log)
        health = feed.health()
        assert health.fresh and health.connected
        assert (health.last_applied_id, health.stream_last_seq, health.lag_events) == (
            10_020,
            10_020,
            0,
        )
        assert health.lag_seconds == 0
    finally:
        await following.close()
        store.close()


async def test_crash_after_puback_before_position_write_adds_no_duplicate(
    server: NatsServer,
) -> None:
    source = MemoryLog()
    source.append(500)
    crashing = relay_for(server, source, save_position=lambda _p: None)  # every save is lost
    async with running(crashing):
        await until(lambda: crashing.status().position == 500, "first relay published")
    assert source.position == 0  # the crash: acknowledged, never recorded

    restarted = relay_for(server, source)
    async with running(restarted):
        await until(lambda: restarted.status().position == 500, "skipped ahead")
        await until(lambda: source.position == 500, "position saved at last")
        for event in source.append(100):
            restarted.wake(event)
        await until(lambda: restarted.status().position == 600, "went on after the crash")
    assert restarted.status().republished == 0
    await assert_stream_is_log(server, source.events)


async def test_two_relays_at_once_make_one_stream(server: NatsServer) -> None:
    source = MemoryLog()
    positions = [MemoryLog(), MemoryLog()]  # each relay keeps its own position
    relays = [
        LogRelay(
            server.url,
            stream=STREAM,
            subject=SUBJECT,
            events_after=source.events_after,
            load_position=p.load_position,
            save_position=p.save_position,
            ack_timeout=1.0,
            max_backoff=0.2,
            window=64,
        )
        for p in positions
    ]
    async with running(relays[0]), running(relays[1]):
        for _ in range(40):
            for event in source.append(25):
                for relay in relays:
                    relay.wake(event)
            await asyncio.sleep(0)
        await until(
            lambda: all(r.status().position == 1000 for r in relays), "both relays at the end"
        )
    await assert_stream_is_log(server, source.events)
    assert sum(r.status().published for r in relays) == 1000  # each event stored once
    assert all(r.status().republished == 0 for r in relays)


async def test_relay_and_feed_survive_nats_killed_mid_stream(server: NatsServer) -> None:
    source = MemoryLog()
    relay = relay_for(server, source)
    feed = feed_for(server)
    following = Following(feed)
    async with running(relay):
        for event in source.append(300):
            relay.wake(event)
        await until(lambda: len(following.events) >= 100, "feed under way")

        server.kill()
        await until(lambda: not feed.health().fresh, "feed says it is stale")
        stale = feed.health()
        assert not stale.connected and stale.stale_since is not None
        for event in source.append(200):  # the writer keeps accepting
            relay.wake(event)
        await until(lambda: relay.status().last_error is not None, "relay noticed")
        assert relay.status().lag_events > 0

        server.start()  # same port, same store
        for event in source.append(100):
            relay.wake(event)
        await until(lambda: relay.status().position == 600, "relay caught up")
        await until(lambda: len(following.events) == 600, "feed caught up")
        await until(lambda: feed.health().fresh, "feed fresh again")
    assert following.error is None
    assert_exactly_once_in_order(following.events, source.events)
    await assert_stream_is_log(server, source.events)
    health = feed.health()
    assert health.stale_periods >= 2 and health.resets >= 1
    assert (health.lag_events, health.lag_seconds) == (0, 0)
    await following.close()


async def _outage(server: NatsServer, seconds: float) -> None:
    """NATS gone for `seconds`: the writer keeps committing, both sides catch up with no gap."""
    source = MemoryLog()
    relay = relay_for(server, source)
    feed = feed_for(server)
    following = Following(feed)
    async with running(relay):
        for event in source.append(50):
            relay.wake(event)
        await until(lambda: len(following.events) == 50, "feed live")
        await until(lambda: relay.status().position == 50, "relay acknowledged")

        server.kill()
        down_until = time.monotonic() + seconds
        committed = 0
        while time.monotonic() < down_until:  # a steady stream of commits meanwhile
            for event in source.append(5):
                relay.wake(event)
            committed += 5
            await asyncio.sleep(0.05)
        during = feed.health()
        assert not during.fresh and during.lag_seconds >= seconds * 0.5
        assert relay.status().lag_events == committed and not relay.status().connected

        server.start()
        await until(lambda: relay.status().position == len(source.events), "relay caught up")
        await until(lambda: len(following.events) == len(source.events), "feed caught up")
        await until(lambda: feed.health().fresh, "feed fresh again")
    assert following.error is None
    assert_exactly_once_in_order(following.events, source.events)
    await assert_stream_is_log(server, source.events)
    await following.close()


async def test_nats_down_for_a_few_seconds(server: NatsServer) -> None:
    await _outage(server, OUTAGE_SECONDS)


@pytest.mark.slow
async def test_nats_down_for_a_minute(server: NatsServer) -> None:
    await _outage(server, 60)


async def test_stop_and_close_end_while_nats_is_frozen(server: NatsServer) -> None:
    """A server that holds its connections but never answers (SIGSTOP: a hung process or a
    silent network) must not hang the writer's shutdown or an edge's: every await on NATS is
    bounded (`logstream.bounded`, `close_connection`, `stop_task`)."""
    source = MemoryLog()
    relay = relay_for(server, source)
    feed = feed_for(server)
    following = Following(feed)
    task = asyncio.create_task(relay.run())
    for event in source.append(50):
        relay.wake(event)
    await until(lambda: len(following.events) == 50, "feed live")
    assert server.proc is not None
    server.proc.send_signal(signal.SIGSTOP)
    try:
        for event in source.append(5_000):  # publishes pile up towards a frozen socket
            relay.wake(event)
        await until(lambda: not feed.health().fresh, "feed says stale", timeout=60)
        # Bounds that only a hang can reach: each stop takes a few seconds at most.
        await asyncio.wait_for(relay.stop(), 60)
        await asyncio.wait_for(following.close(), 60)
        assert task.done()
    finally:
        server.proc.send_signal(signal.SIGCONT)
    assert following.error is None
    assert_exactly_once_in_order(following.events, source.events[:50])


async def test_relay_and_feed_wait_for_nats_that_is_down_at_start(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "late")
    source = MemoryLog()
    relay = relay_for(server, source)
    feed = feed_for(server)
    following = Following(feed)
    try:
        async with running(relay):
            for event in source.append(30):
                relay.wake(event)  # never blocks the writer
            await asyncio.sleep(0)
            assert relay.status().position == 0 and not relay.status().connected
            health = feed.health()
            assert not health.connected and not health.fresh
            server.start()
            await until(lambda: relay.status().position == 30, "published once NATS came")
            await until(lambda: len(following.events) == 30, "followed once NATS came")
            await until(lambda: feed.health().fresh, "feed fresh")
        assert_exactly_once_in_order(following.events, source.events)
        await assert_stream_is_log(server, source.events)
    finally:
        await following.close()
        server.kill()


@pytest.mark.parametrize("how", ["deleted", "recreated empty"])
async def test_lost_stream_is_republished_and_the_feed_told_to_resync(
    server: NatsServer, how: str
) -> None:
    source = MemoryLog()
    relay = relay_for(server, source)
    feed = feed_for(server)
    following = Following(feed)
    async with running(relay):
        for event in source.append(200):
            relay.wake(event)
        await until(lambda: len(following.events) == 200, "feed live")
        old_epoch = feed.epoch

        async with client(server) as js:
            await js.delete_stream(STREAM)
            if how == "recreated empty":
                await ensure_stream(js, STREAM, SUBJECT)
        for event in source.append(1):  # the next commit finds the stream gone
            relay.wake(event)
        await until(lambda: relay.status().position == 201, "relay republished the log")
        assert relay.status().republished == 200
        await assert_stream_is_log(server, source.events)

        await until(lambda: following.error is not None, "feed signalled")
        assert isinstance(following.error, ResyncNeeded)
        assert "recreated" in str(following.error) or "went back" in str(following.error)
        assert feed.health().resync_needed is not None
        assert following.ids == list(range(1, 201))  # nothing from the new stream slipped in

        # the edge rebuilds (here: from the stream, from the start) and follows again
        again = Following(feed, after=0)
        await until(lambda: len(again.events) == 201, "followed the new stream")
        assert feed.epoch != old_epoch
        assert_exactly_once_in_order(again.events, source.events)
        await again.close()


@pytest.mark.parametrize("stream_holds", ["more than the log", "another history"])
async def test_relay_never_writes_over_a_stream_from_another_history(
    server: NatsServer, stream_holds: str
) -> None:
    other = MemoryLog()
    other.append(10 if stream_holds == "more than the log" else 5)
    if stream_holds == "another history":
        other.events = [replace(e, originator="someone-else") for e in other.events]
    first = relay_for(server, other)
    async with running(first):
        await until(lambda: first.status().position == len(other.events), "other history in")

    ours = MemoryLog()
    ours.append(5)
    relay = relay_for(server, ours)
    async with running(relay):
        await until(lambda: "diverged" in (relay.status().last_error or ""), "relay refused")
        assert relay.status().position == 0
    await assert_stream_is_log(server, other.events)  # untouched


# The feed --------------------------------------------------------------------------------------


async def test_feed_starts_at_any_id_and_goes_on_live(server: NatsServer) -> None:
    source = MemoryLog()
    relay = relay_for(server, source)
    async with running(relay):
        for event in source.append(300):
            relay.wake(event)
        await until(lambda: relay.status().position == 300, "published")
        followings = [Following(feed_for(server), after=a) for a in (0, 137, 299, 300)]
        for event in source.append(5):
            relay.wake(event)
        for f, after in zip(followings, (0, 137, 299, 300), strict=True):
            want = 305 - after
            await until(lambda f=f, want=want: len(f.events) == want, f"feed from {after}")
            assert_exactly_once_in_order(f.events, source.events, after)
            await f.close()


async def test_feed_recreates_its_consumer_after_missed_heartbeats(server: NatsServer) -> None:
    """The consumer vanishes under a connected feed (nats.py#510): heartbeats stop, it resumes."""
    source = MemoryLog()
    relay = relay_for(server, source)
    feed = feed_for(server)
    following = Following(feed)
    async with running(relay), client(server) as js:
        for event in source.append(50):
            relay.wake(event)
        await until(lambda: len(following.events) == 50, "feed live")
        periods = feed.health().stale_periods
        for consumer in await js.consumers_info(STREAM):
            await js.delete_consumer(STREAM, consumer.name)
        for event in source.append(50):
            relay.wake(event)
        await until(lambda: len(following.events) == 100, "feed resumed")
        health = feed.health()
        assert health.resets >= 1 and health.stale_periods > periods
        assert health.connected
        await until(lambda: feed.health().fresh, "fresh after the new consumer")
    assert_exactly_once_in_order(following.events, source.events)
    await following.close()


async def test_feed_refetches_what_its_client_dropped(server: NatsServer) -> None:
    """A slow reader overflows its small buffer; every dropped event is fetched again, in order."""
    source = MemoryLog()
    relay = relay_for(server, source)
    feed = feed_for(server, pending_limit=64)
    following = Following(feed, delay=0.0005)
    async with running(relay):
        for event in source.append(600):
            relay.wake(event)
        await until(lambda: len(following.events) == 600, "every event delivered", 60)
    assert_exactly_once_in_order(following.events, source.events)
    assert feed.health().resets >= 1  # the gap was seen and re-read, not skipped
    await following.close()


async def test_feed_refuses_to_skip_events_the_stream_no_longer_has(server: NatsServer) -> None:
    source = MemoryLog()
    relay = relay_for(server, source)
    async with running(relay):
        for event in source.append(100):
            relay.wake(event)
        await until(lambda: relay.status().position == 100, "published")
    async with client(server) as js:
        await js.purge_stream(STREAM, keep=10)  # 1..90 gone
    following = Following(feed_for(server), after=40)
    await until(lambda: following.error is not None, "feed refused")
    assert isinstance(following.error, ResyncNeeded)
    assert "starts at 91; 41 is gone" in str(following.error)
    assert following.events == []
    await following.close()
    late = Following(feed_for(server), after=95)  # what it still holds is fine
    await until(lambda: len(late.events) == 5, "tail followed")
    assert_exactly_once_in_order(late.events, source.events, 95)
    await late.close()


async def test_feed_refuses_an_event_that_is_not_its_sequence(server: NatsServer) -> None:
    async with client(server) as js:
        await ensure_stream(js, STREAM, SUBJECT)
        await js.publish(SUBJECT, encode_event(make_event(1)))
        await js.publish(SUBJECT, encode_event(make_event(7)))  # not written by a relay
    following = Following(feed_for(server))
    await until(lambda: following.error is not None, "feed refused")
    assert isinstance(following.error, ResyncNeeded)
    assert "holds event 7 at sequence 2" in str(following.error)
    assert following.ids == [1]
    await following.close()


async def test_feed_refuses_an_event_format_it_cannot_read(server: NatsServer) -> None:
    async with client(server) as js:
        await ensure_stream(js, STREAM, SUBJECT)
        await js.publish(SUBJECT, encode_event(make_event(1)))
        await js.publish(SUBJECT, b"\x03" + encode_event(make_event(2))[1:])  # a newer writer
    following = Following(feed_for(server))
    await until(lambda: following.error is not None, "feed refused")
    assert isinstance(following.error, CodecError)
    assert "event format 3 is unknown here" in str(following.error)
    assert following.ids == [1]
    await following.close()
