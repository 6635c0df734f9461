"""An edge's feed: the log followed from the stream, in order, each event once, checked.

`tryvoha.bus.jetstream` explains the invariant (stream sequence = log id) and every failure case.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from tryvoha.alerts.model import Event
from tryvoha.bus import jetstream_metrics as metrics
from tryvoha.bus.codec import decode_event
from tryvoha.bus.logstream import (
    DEFAULT_STREAM,
    ResyncNeeded,
    bounded,
    close_connection,
    connect,
    epoch_of,
    error_kind,
)
from tryvoha.waits import wait_at_most

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """What an edge's health endpoint reports about its copy of the log."""

    connected: bool
    stale_since: float | None  # Unix time; None while fresh
    stale_periods: int  # how often the feed has been stale, counting its start
    last_applied_id: int
    stream_last_seq: int | None  # as last seen
    lag_events: int
    lag_seconds: float  # since the feed last knew it held everything the stream had
    epoch: str | None
    resets: int
    resync_needed: str | None

    @property
    def fresh(self) -> bool:
        return self.stale_since is None


_RESET = object()  # queued when the link comes back: make a new consumer now
_GAP = object()  # the message is not the next one: fetch again from the stream
_SEEN = object()  # the message was applied already: drop it


class LogFollowerFeed:
    """An edge's view of the log's stream: ordered, exactly once, checked, and honest about it.

    `heartbeat` is the consumer's idle heartbeat; three missed ones mean stale and a new consumer.
    `info_interval` is how often the stream's state is read for the lag and the epoch.
    `pending_limit` bounds the messages buffered ahead of the reader; beyond it the client drops
    them and the feed reads them again from the stream (flow control keeps that rare).
    """

    def __init__(
        self,
        servers: str | Sequence[str],
        *,
        stream: str = DEFAULT_STREAM,
        heartbeat: float = 1.0,
        info_interval: float = 5.0,
        max_backoff: float = 5.0,
        pending_limit: int = 10_000,
        name: str = "tryvoha-edge",
    ) -> None:
        self.servers = servers
        self.stream = stream
        self.heartbeat = heartbeat
        self._timeout = max(2.0, 2 * heartbeat)  # every request to NATS, so none waits forever
        self.info_interval = info_interval
        self.max_backoff = max_backoff
        self.name = name
        self.epoch: str | None = None
        self._nc: NATS | None = None
        self.pending_limit = pending_limit
        self._queue: asyncio.Queue[Any] = asyncio.Queue(pending_limit)
        self._reset_requested = False
        self._generation = 0
        self._link_back = asyncio.Event()
        self._last = 0
        self._stream_last: int | None = None
        self._stream_high = 0
        self._stale_since: float | None = time.time()
        self._stale_periods = 1
        self._current_at = time.time()
        self._heard_at = 0.0
        self._resets = 0
        self._resync: str | None = None
        self._closed = False
        self._consumer: str | None = None
        self._applied_gauge = metrics.feed_applied.labels(stream)
        self._lag_gauge = metrics.feed_lag_events.labels(stream)
        metrics.feed_lag_seconds.labels(stream).set_function(lambda: self.health().lag_seconds)
        metrics.feed_stale.labels(stream).set_function(lambda: 0.0 if self.health().fresh else 1.0)

    # The interface the edge uses -------------------------------------------------------------

    async def events(self, after_id: int, epoch: str | None = None) -> AsyncIterator[Event]:
        """Every event after `after_id`, in log order, each once, for as long as the caller reads.

        `epoch` (a previous `feed.epoch`) demands the stream `after_id` was taken from; None
        accepts the stream as it is now. Raises `ResyncNeeded` when the stream can no longer
        continue from the last applied id (see the module's notes).
        """
        self._last = after_id
        self.epoch = epoch
        self._resync = None
        self._stream_last = None
        self._stream_high = 0
        self._applied_gauge.set(after_id)
        nc = await self._connection()
        js = nc.jetstream(timeout=self._timeout)
        watchdog = 3 * self.heartbeat
        backoff = 0.05
        reason = "start"
        while not self._closed:
            try:
                sub = await self._start_consumer(nc, js, reason)
            except ResyncNeeded:
                raise
            except Exception as exc:
                self._go_stale(f"cannot start a consumer: {error_kind(exc)}: {exc}")
                self._link_back.clear()
                await wait_at_most(self._link_back, backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = 0.05
            info_due = time.monotonic() + self.info_interval
            try:
                while not self._closed:
                    item = await self._next(watchdog)
                    if item is None:
                        reason = "heartbeat"
                        self._go_stale(f"no heartbeat for {watchdog:.1f} s")
                        break
                    if item is _RESET:
                        reason = "reconnect"
                        break
                    msg: Msg = item
                    if msg.headers and msg.headers.get("Status") == "100":
                        gap = await self._control(msg)
                        if gap:
                            reason = "gap"
                            break
                    else:
                        event = self._check(msg)
                        if event is _GAP:
                            reason = "gap"
                            break
                        if isinstance(event, Event):
                            yield event
                    if time.monotonic() >= info_due:
                        info_due = time.monotonic() + self.info_interval
                        with contextlib.suppress(nats.errors.Error, TimeoutError):
                            await self._refresh(js)
            finally:
                await self._stop_consumer(sub, js)

    def health(self) -> FeedHealth:
        """Cheap enough for every health request: no I/O, only what the feed has seen."""
        now = time.time()
        connected = self._nc is not None and self._nc.is_connected
        stale_since = self._stale_since
        if stale_since is None and (
            not connected or time.monotonic() - self._heard_at > 3 * self.heartbeat
        ):
            stale_since = now - max(0.0, time.monotonic() - self._heard_at - 3 * self.heartbeat)
        lag = max(0, (self._stream_last or 0) - self._last)
        current = lag == 0 and stale_since is None
        lag_seconds = 0.0 if current else max(0.0, now - self._current_at)
        return FeedHealth(
            connected=connected,
            stale_since=stale_since,
            stale_periods=self._stale_periods,
            last_applied_id=self._last,
            stream_last_seq=self._stream_last,
            lag_events=lag,
            lag_seconds=lag_seconds,
            epoch=self.epoch,
            resets=self._resets,
            resync_needed=self._resync,
        )

    async def close(self) -> None:
        """End `events()` and the connection."""
        self._closed = True
        self._request_reset()
        await close_connection(self._nc)

    # Connection and consumer -----------------------------------------------------------------

    async def _connection(self) -> NATS:
        if self._nc is None or self._nc.is_closed:
            self._nc = await connect(
                self.servers,
                name=self.name,
                disconnected=self._on_disconnected,
                reconnected=self._on_reconnected,
            )
        return self._nc

    def _on_disconnected(self) -> None:
        self._go_stale("disconnected from NATS")

    def _on_reconnected(self) -> None:
        self._link_back.set()
        self._request_reset()  # the consumer may be gone; make a new one at once

    def _request_reset(self) -> None:
        self._reset_requested = True
        with contextlib.suppress(asyncio.QueueFull):  # when full, the flag is seen next anyway
            self._queue.put_nowait(_RESET)

    async def _start_consumer(self, nc: NATS, js: JetStreamContext, reason: str) -> Any:
        """Check that the stream can continue our copy, then push from last applied + 1."""
        await self._refresh(js)
        self._generation += 1
        self._reset_requested = False
        while not self._queue.empty():  # anything queued belongs to the consumer before
            self._queue.get_nowait()
        inbox = nc.new_inbox()
        sub = await bounded(
            nc.subscribe(
                inbox,
                cb=functools.partial(self._queue_put, self._generation),
                pending_msgs_limit=self.pending_limit,
                pending_bytes_limit=max(64 * 1024 * 1024, 1024 * self.pending_limit),
            ),
            self._timeout,
            "subscribe to the consumer's inbox",
        )
        try:
            info = await js.add_consumer(
                self.stream,
                ConsumerConfig(
                    description=f"{self.name}: ordered feed from {self._last + 1}",
                    deliver_subject=inbox,
                    deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                    opt_start_seq=self._last + 1,
                    ack_policy=AckPolicy.NONE,
                    flow_control=True,
                    idle_heartbeat=self.heartbeat,
                    mem_storage=True,
                    num_replicas=1,
                    inactive_threshold=max(30.0, 10 * self.heartbeat),
                ),
            )
        except BaseException:
            await self._unsubscribe(sub)
            raise
        self._consumer = info.name
        if reason != "start":
            self._resets += 1
            metrics.feed_resets.labels(self.stream, reason).inc()
            log.info("feed %s: consumer re-created at %d (%s)", self.stream, self._last + 1, reason)
        self._heard()
        return sub

    async def _unsubscribe(self, sub: Any) -> None:
        with contextlib.suppress(Exception):
            await bounded(sub.unsubscribe(), 1.0, "unsubscribe")

    async def _stop_consumer(self, sub: Any, js: JetStreamContext) -> None:
        await self._unsubscribe(sub)
        consumer, self._consumer = self._consumer, None
        if consumer is not None and self._nc is not None and self._nc.is_connected:
            with contextlib.suppress(Exception):
                await bounded(js.delete_consumer(self.stream, consumer), 1.0, "delete consumer")

    async def _queue_put(self, generation: int, msg: Msg) -> None:
        if generation == self._generation:
            await self._queue.put((generation, msg))

    async def _next(self, timeout: float) -> Any:
        """The current consumer's next message, `_RESET`, or None after `timeout` of silence."""
        deadline = time.monotonic() + timeout
        while True:
            if self._reset_requested:
                return _RESET
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                try:  # a timeout scope, not wait_for: no task per message on the live path
                    async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                        item = await self._queue.get()
                except TimeoutError:
                    return None
            if item is _RESET:
                return item
            generation, msg = item
            if generation == self._generation:
                return msg

    async def _refresh(self, js: JetStreamContext) -> None:
        """Read the stream's state: its last sequence for the lag, its epoch for a resync."""
        try:
            info = await js.stream_info(self.stream)
        except NotFoundError:
            raise NotFoundError(description=f"stream {self.stream} does not exist") from None
        state = info.state
        epoch = epoch_of(info)
        need = self._last + 1
        problem = None
        if self.epoch is not None and epoch != self.epoch:
            problem = f"stream {self.stream} was recreated (epoch {self.epoch} → {epoch})"
        elif state.last_seq < self._stream_high:
            problem = f"stream {self.stream} went back from {self._stream_high} to {state.last_seq}"
        elif state.messages > 0 and state.first_seq > need:
            problem = f"stream {self.stream} starts at {state.first_seq}; {need} is gone"
        elif state.messages == 0 and state.last_seq > self._last:
            problem = f"stream {self.stream} was emptied after {state.last_seq}; {need} is gone"
        if problem is not None:
            self._resync = problem
            self._go_stale(problem)
            log.error("feed %s: resync needed: %s", self.stream, problem)
            raise ResyncNeeded(problem, last_applied=self._last, epoch=epoch)
        self.epoch = epoch
        self._see_stream_last(state.last_seq)

    # Each message ------------------------------------------------------------------------------

    def _check(self, msg: Msg) -> Event | object:
        """The event in `msg` if it is exactly the next one, else `_SEEN` or `_GAP`."""
        meta = msg.metadata
        seq = meta.sequence.stream
        if seq <= self._last:
            return _SEEN
        if seq != self._last + 1:
            log.warning(
                "feed %s: got %d after %d; fetching again from %d",
                self.stream,
                seq,
                self._last,
                self._last + 1,
            )
            return _GAP
        event = decode_event(msg.data)
        if event.id != seq:
            problem = f"stream {self.stream} holds event {event.id} at sequence {seq}"
            self._resync = problem
            raise ResyncNeeded(problem, last_applied=self._last, epoch=self.epoch)
        self._last = seq
        self._see_stream_last(seq + meta.num_pending)
        self._heard()
        self._applied_gauge.set(seq)
        return event

    async def _control(self, msg: Msg) -> bool:
        """A heartbeat or a flow-control request; True when it shows a message was missed."""
        assert msg.headers is not None
        self._heard()
        if msg.reply:  # flow control: everything before it has been taken
            await self._nc_publish(msg.reply)
            return False
        stalled = msg.headers.get("Nats-Consumer-Stalled")
        if stalled:
            await self._nc_publish(stalled)
        delivered = msg.headers.get("Nats-Last-Stream")
        if delivered is not None and int(delivered) > self._last:
            log.warning(
                "feed %s: heartbeat says %s sent, %d applied", self.stream, delivered, self._last
            )
            return True
        return False

    async def _nc_publish(self, subject: str) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await bounded(self._nc.publish(subject, b""), 1.0, "answer flow control")

    # Health bookkeeping ------------------------------------------------------------------------

    def _heard(self) -> None:
        self._heard_at = time.monotonic()
        if self._stale_since is not None:
            log.info(
                "feed %s: fresh again after %.1f s stale",
                self.stream,
                time.time() - self._stale_since,
            )
            self._stale_since = None
        self._note_current()

    def _go_stale(self, why: str) -> None:
        if self._stale_since is None and not self._closed:
            log.warning("feed %s: stale: %s", self.stream, why)
            self._stale_since = time.time()
            self._stale_periods += 1

    def _see_stream_last(self, seq: int) -> None:
        self._stream_last = seq if self._stream_last is None else max(self._stream_last, seq)
        self._stream_high = max(self._stream_high, seq)
        self._lag_gauge.set(max(0, self._stream_last - self._last))
        self._note_current()

    def _note_current(self) -> None:
        if self._stale_since is None and (self._stream_last or 0) <= self._last:
            self._current_at = time.time()
