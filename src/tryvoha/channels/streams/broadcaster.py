"""One broadcaster per process: every live subscriber, one ring of recent events, one write loop.

Why this shape: per-subscriber tasks and queues cost a coroutine switch and a queue hop per event
per subscriber, which at 19,000 subscribers is most of the time budget. Here an event is encoded
once (an SSE frame and a WebSocket frame), appended to a ring, and a single *pass* walks the
subscribers writing, for each, everything it has not yet been sent as **one** `transport.write`.
Events that arrive while a pass is running are picked up by the rest of that pass and by the next
one, so a burst reaches each subscriber in a few writes instead of one write per event.

Each subscriber only has a *cursor*: the id of the last event it has been sent (or skipped as not
matching its filter). Everything a subscriber receives is "the matching live events with id >
cursor", whether they come from the log (resume from an old id), the ring or a live pass, so there
is no gap and no duplicate at any hand-over.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import orjson

from tryvoha.alerts.model import Event
from tryvoha.alerts.wire import alert_doc
from tryvoha.channels.receipts import DeliveryReceipts
from tryvoha.channels.streams import frames
from tryvoha.channels.streams.admission import Admitted
from tryvoha.channels.streams.config import StreamConfig
from tryvoha.channels.streams.spec import Matcher, StreamSpec
from tryvoha.metrics import dropped_subscribers, observe_handover, subscribers
from tryvoha.readmodel import ReadModel
from tryvoha.signing.hub import UNSIGNED, Signing
from tryvoha.views import compact_status

log = logging.getLogger(__name__)

STARTING, LIVE, CLOSED = 0, 1, 2


class Entry:
    """A live event, encoded once for each channel, with the hub's signature when it has one.

    The document is `Signing.signed_event_doc`, the one that MQTT publishes too: the SSE `data`
    and an MQTT event payload are the same bytes, and the WebSocket message the same fields."""

    __slots__ = ("event", "id", "sse", "ws")

    def __init__(self, event: Event, signing: Signing = UNSIGNED) -> None:
        self.id = event.id
        self.event = event
        doc = signing.signed_event_doc(event)  # signed once at commit, never per subscriber
        self.sse = frames.sse("alert", orjson.dumps(doc), event.id)
        self.ws = frames.ws_json("alert", doc)


class Subscriber(asyncio.Protocol):
    """One connection after its HTTP request was accepted; the transport's protocol from then on."""

    __slots__ = (
        "broadcaster",
        "cursor",
        "drain",
        "key",
        "last_rx",
        "reader",
        "spec",
        "state",
        "transport",
        "ws",
    )

    def __init__(self, broadcaster: Broadcaster, spec: StreamSpec, ws: bool) -> None:
        self.broadcaster = broadcaster
        self.spec = spec
        self.key = (spec.key, ws)
        self.ws = ws
        self.cursor = 0
        self.state = STARTING
        self.transport: Any = None
        self.reader = frames.WsReader() if ws else None
        self.last_rx = time.monotonic()
        self.drain: asyncio.Future[None] | None = None

    @property
    def channel(self) -> str:
        return "ws" if self.ws else "sse"

    # asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.last_rx = time.monotonic()
        if self.reader is None:
            return  # an SSE client has nothing to say; bytes are read and discarded
        try:
            messages = self.reader.feed(data)
        except ValueError as exc:
            self.transport.write(frames.ws_close(1002, str(exc)))
            self.broadcaster.close(self)
            return
        for opcode, payload in messages:
            if opcode == frames.OP_PING:
                self.transport.write(frames.ws_frame(frames.OP_PONG, payload))
            elif opcode == frames.OP_CLOSE:
                if self.state != CLOSED:
                    self.transport.write(frames.ws_frame(frames.OP_CLOSE, payload[:2]))
                self.broadcaster.close(self)
                return

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.broadcaster.forget(self)
        if self.drain is not None and not self.drain.done():
            self.drain.set_result(None)

    def pause_writing(self) -> None:
        if self.drain is None or self.drain.done():
            self.drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.drain is not None and not self.drain.done():
            self.drain.set_result(None)

    async def drained(self) -> None:
        if self.drain is not None:
            await self.drain


class Broadcaster:
    """Owns the subscribers of one process and delivers the hub's live events to them.

    `publish(event)` must be called with every live event, in log order, right after the hub's
    state applied it (the in-process bus does that, and so does a follower's feed).
    """

    def __init__(
        self,
        hub: ReadModel,
        config: StreamConfig | None = None,
        signing: Signing = UNSIGNED,
        receipts: DeliveryReceipts | None = None,
    ) -> None:
        self.hub = hub
        self.receipts = receipts if receipts is not None else DeliveryReceipts()
        """Per event: when it was written to subscribers, and to how many (per channel)."""
        self.config = config or StreamConfig()
        self.signing = signing
        self.place: Callable[[Any, Admitted], bool] | None = None
        """Set by stream workers: hands a new subscriber to another process (True) or not."""
        self._unsubscribe: Callable[[], None] | None = None
        self.matcher = Matcher(hub.catalogue)
        self.ring: list[Entry] = []
        self.ring_ids: list[int] = []
        self.floor = hub.last_event_id
        """Every live event with an id above `floor` is in the ring."""
        self.live: dict[Subscriber, None] = {}
        self.starting: set[Subscriber] = set()
        self.counts = {"sse": 0, "ws": 0}
        self.closed_total = 0
        self.extra_counts: Callable[[], dict[str, int]] | None = None
        self._running = False
        self._pass: list[Subscriber] = []
        self._pass_head = 0
        self._again = False
        self._pass_pos = 0
        self._frames_cache: dict[tuple, tuple[bytes, tuple[int, ...]]] = {}
        self._reached: dict[tuple, int] = {}
        """Subscribers written to in this pass, per frames cache key (its `key` says ws or not)."""
        self._observed = self.floor
        self._last_publish = 0.0
        self._burst = False
        self._snapshots: dict[tuple, tuple[int, bytes, bytes]] = {}
        self._heartbeat: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: asyncio.TimerHandle | None = None
        """A pass waiting for the writer's next transaction (`StreamConfig.commit_wait`)."""

    def follow(self) -> None:
        """Receive the read model's live events from now on (`stop` ends it)."""
        if self._unsubscribe is None:
            self._unsubscribe = self.hub.subscribe(self.publish)

    def take(self, transport: Any, admitted: Admitted) -> None:
        """A stream request the edge admitted: served here, or by the worker `place` picks."""
        if self.place is not None and self.place(transport, admitted):
            return
        self.accept(transport, admitted.spec, admitted.ws, admitted.head)

    # Events in ----------------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        if not event.is_broadcast:
            return
        entry = Entry(event, self.signing)
        self.ring.append(entry)
        self.ring_ids.append(entry.id)
        if len(self.ring) > 2 * self.config.ring_size:
            cut = len(self.ring) - self.config.ring_size
            self.floor = self.ring_ids[cut - 1]
            del self.ring[:cut]
            del self.ring_ids[:cut]
        now = time.monotonic()
        self._burst = now - self._last_publish < self.config.burst_gap
        self._last_publish = now
        if self.live:
            self._schedule()
        else:
            self._observed = entry.id

    @property
    def head(self) -> int:
        return self.ring_ids[-1] if self.ring_ids else self.floor

    # Subscribers in -----------------------------------------------------------------------------

    def accept(self, transport: Any, spec: StreamSpec, ws: bool, head: bytes) -> Subscriber:
        """Take over an accepted connection: `head` is the HTTP answer that opens the stream."""
        self._ensure_loop()
        sub = Subscriber(self, spec, ws)
        sub.transport = transport
        transport.set_protocol(sub)
        sock = transport.get_extra_info("socket") if hasattr(transport, "get_extra_info") else None
        if sock is not None and self.config.socket_sndbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.socket_sndbuf)
        transport.write(head if ws else head + frames.SSE_RETRY)
        self.counts[sub.channel] += 1
        self._report()
        since = spec.since
        if since is None or since > self.hub.last_event_id:
            self._send_snapshot(sub)
            self._go_live(sub)
        elif since >= self.floor:
            sub.cursor = since
            self._go_live(sub)
        else:
            sub.cursor = since
            self.starting.add(sub)
            self._ensure_loop().create_task(self._catch_up(sub))
        return sub

    def _send_snapshot(self, sub: Subscriber) -> None:
        log_id = self.hub.last_event_id
        cached = self._snapshots.get(sub.spec.key)
        if cached is None or cached[0] != log_id:
            doc = self.snapshot_doc(sub.spec)
            body = orjson.dumps(doc)
            cached = (log_id, frames.sse("snapshot", body, log_id), frames.ws_json("snapshot", doc))
            if len(self._snapshots) > 1000:
                self._snapshots.clear()
            self._snapshots[sub.spec.key] = cached
        sub.transport.write(cached[2] if sub.ws else cached[1])
        sub.cursor = log_id

    def snapshot_doc(self, spec: StreamSpec) -> dict[str, Any]:
        """The state a new subscriber starts from, at the hub's current log id."""
        hub = self.hub
        match = self.matcher.alert_matches
        open_alerts = [
            alert_doc(a) for a in hub.open_alerts() if match(spec, a.region_id, a.threat, a.status)
        ]
        doc: dict[str, Any] = {
            "log_id": hub.last_event_id,
            "open_alerts": open_alerts,
            "threats": compact_status(hub)["threats"],
        }
        if spec.drills:
            doc["drill_threats"] = compact_status(hub, drills=True)["threats"]
        return doc

    async def _catch_up(self, sub: Subscriber) -> None:
        """Send matching live events from the log until the ring covers the rest."""
        hub, match = self.hub, self.matcher.matches
        try:
            while sub.state == STARTING and sub.cursor < self.floor:
                events = await hub.events_after(sub.cursor, self.config.page)
                if sub.state != STARTING:
                    return
                if not events:
                    break
                data = b"".join(
                    (e_ws if sub.ws else e_sse)
                    for e_sse, e_ws in (
                        self._encode(e) for e in events if e.is_broadcast and match(sub.spec, e)
                    )
                )
                if data:
                    sub.transport.write(data)
                sub.cursor = events[-1].id
                await sub.drained()
        except Exception:
            log.exception("catching up a subscriber from %d failed", sub.cursor)
            self.close(sub)
            return
        self.starting.discard(sub)
        if sub.state == STARTING:
            self._go_live(sub)

    def _rewind(self, sub: Subscriber) -> None:
        self.live.pop(sub, None)
        sub.state = STARTING
        self.starting.add(sub)
        self._ensure_loop().create_task(self._catch_up(sub))

    def _encode(self, event: Event) -> tuple[bytes, bytes]:
        index = bisect.bisect_left(self.ring_ids, event.id)
        if index < len(self.ring_ids) and self.ring_ids[index] == event.id:
            entry = self.ring[index]
            return entry.sse, entry.ws
        entry = Entry(event, self.signing)
        return entry.sse, entry.ws

    def _go_live(self, sub: Subscriber) -> None:
        sub.state = LIVE
        self.live[sub] = None
        if sub.cursor < self.head:
            self._again = True  # a running pass may not include it: make sure one follows
            self._schedule()

    # The pass -----------------------------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        """The loop the broadcaster runs on: the one of its first subscriber or event."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._heartbeat = self._loop.call_later(self.config.heartbeat, self._beat)
        return self._loop

    def _schedule(self) -> None:
        if not self._running:
            self._ensure_loop()
            self._running = True
            self._next_pass()
        elif self._waiting is not None and not self.hub.more_coming:
            self._waiting.cancel()  # the awaited transaction is here: go now
            self._waiting = None
            self._ensure_loop().call_soon(self._start_pass)

    def _next_pass(self) -> None:
        loop = self._loop
        assert loop is not None
        if self.hub.more_coming:
            self._waiting = loop.call_later(self.config.commit_wait, self._start_pass)
        elif self._burst:
            loop.call_later(self.config.coalesce, self._start_pass)
        else:
            loop.call_soon(self._start_pass)

    def _start_pass(self) -> None:
        self._waiting = None
        self._pass_head = self.head  # every subscriber of the pass ends at least this far
        self._again = False
        self._pass = list(self.live)
        self._pass_pos = 0
        self._frames_cache.clear()
        self._step()

    def _step(self) -> None:
        """Serve one slice of the pass, `StreamConfig.slice_time` of writing, then yield to the
        loop so I/O and requests go on (the answers to the commands that made the pass come
        after the subscribers of a slice, not between them)."""
        started = time.perf_counter()
        budget = self.config.slice_time
        total = len(self._pass)
        while True:
            self._serve_chunk()
            if self._pass_pos >= total:
                self._finish_pass()
                return
            if time.perf_counter() - started >= budget:
                self._ensure_loop().call_soon(self._step)
                return

    def _serve_chunk(self) -> None:
        """Write to the pass's next `StreamConfig.chunk` subscribers what each has not had yet."""
        subs = self._pass
        start = self._pass_pos
        end = min(start + self.config.chunk, len(subs))
        head = self.head
        floor = self.floor
        cache = self._frames_cache
        reached = self._reached
        limit = self.config.max_buffer
        # Writes are counted in runs of subscribers that got the same frames (usually all of a
        # slice), so counting costs an identity check per subscriber, not a dict update.
        run_key: tuple = ()  # set with the first run; read only once run > 0
        run_found: tuple | None = None
        run = 0
        for i in range(start, end):
            sub = subs[i]
            cursor = sub.cursor
            if cursor >= head or sub.state != LIVE:
                continue
            if cursor < floor:  # the ring moved past it: serve it from the log again
                self._rewind(sub)
                continue
            ckey = (sub.key, cursor, head)
            found = cache.get(ckey)
            if found is None:
                found = cache[ckey] = self._frames_after(sub.spec, sub.ws, cursor)
            data = found[0]
            if data:
                transport = sub.transport
                if transport.get_write_buffer_size() > limit:
                    self._drop(sub, "too far behind")
                    continue
                transport.write(data)
                if found is run_found:
                    run += 1
                else:
                    if run:
                        reached[run_key] = reached.get(run_key, 0) + run
                    run_key, run_found, run = ckey, found, 1
            sub.cursor = head
        if run:
            reached[run_key] = reached.get(run_key, 0) + run
        self._pass_pos = end

    def _finish_pass(self) -> None:
        head = self._pass_head
        self._write_receipts()
        if head > self._observed:
            index = bisect.bisect_right(self.ring_ids, self._observed)
            channels = [c for c, n in self.counts.items() if n]
            for entry in self.ring[index:]:
                if entry.id > head:
                    break
                for channel in channels:
                    observe_handover(channel, entry.event)
            self._observed = head
        self._pass = []
        if self.head > head or self._again:
            self._next_pass()
        else:
            self._running = False

    def _write_receipts(self) -> None:
        """Count this pass's writes per event and channel into the receipts."""
        if not self._reached:
            return
        now = time.time()
        per_event: dict[tuple[int, str], int] = {}
        for ckey, n in self._reached.items():
            channel = "ws" if ckey[0][1] else "sse"
            for event_id in self._frames_cache[ckey][1]:
                per_event[(event_id, channel)] = per_event.get((event_id, channel), 0) + n
        self._reached = {}
        for (event_id, channel), n in sorted(per_event.items()):
            self.receipts.handed(channel, event_id, self._recorded_at(event_id), n, now)

    def _recorded_at(self, event_id: int) -> float:
        index = bisect.bisect_left(self.ring_ids, event_id)
        if index < len(self.ring_ids) and self.ring_ids[index] == event_id:
            return self.ring[index].event.recorded_at.timestamp()
        return time.time()

    def _frames_after(
        self, spec: StreamSpec, ws: bool, cursor: int
    ) -> tuple[bytes, tuple[int, ...]]:
        """The frames a subscriber at `cursor` gets, and the ids of the events they carry."""
        index = bisect.bisect_right(self.ring_ids, cursor)
        match = self.matcher.matches
        entries = [e for e in self.ring[index:] if match(spec, e.event)]
        ids = tuple(e.id for e in entries)
        if ws:
            return b"".join(e.ws for e in entries), ids
        return b"".join(e.sse for e in entries), ids

    # Leaving ------------------------------------------------------------------------------------

    def _drop(self, sub: Subscriber, why: str) -> None:
        """A subscriber too far behind: tell it where to resume, then let it go."""
        doc = {
            "reason": "slow_consumer",
            "resume_from": sub.cursor,
            "message": f"this connection {why}; reconnect with since={sub.cursor} "
            "(or Last-Event-ID) to receive every later event",
        }
        if sub.ws:
            final = frames.ws_json("dropped", doc) + frames.ws_close(1013, "resume")
        else:
            final = frames.sse("dropped", orjson.dumps(doc))
        sub.transport.write(final)
        dropped_subscribers.labels(sub.channel).inc()
        self.close(sub)

    def close(self, sub: Subscriber) -> None:
        """Stop sending; flush what is buffered, and cut the socket if the peer does not read."""
        if sub.state == CLOSED:
            return
        self.forget(sub)
        transport = sub.transport
        transport.close()
        if self._loop is not None and transport.get_write_buffer_size():
            self._loop.call_later(self.config.drop_grace, transport.abort)

    def forget(self, sub: Subscriber) -> None:
        if sub.state == CLOSED:
            return
        sub.state = CLOSED
        self.closed_total += 1
        self.live.pop(sub, None)
        self.starting.discard(sub)
        self.counts[sub.channel] -= 1
        self._report()

    def close_all(self) -> None:
        for sub in [*self.live, *self.starting]:
            if sub.ws:
                sub.transport.write(frames.ws_close(1001, "server shutting down"))
            self.close(sub)

    def _report(self) -> None:
        totals = dict(self.counts)
        if self.extra_counts is not None:
            for channel, n in self.extra_counts().items():
                totals[channel] = totals.get(channel, 0) + n
        for channel, n in totals.items():
            subscribers.labels(channel).set(n)

    # Heartbeats ---------------------------------------------------------------------------------

    def _beat(self) -> None:
        """Heartbeat every subscriber; a WebSocket peer silent for 3 beats is gone."""
        loop = self._loop
        assert loop is not None
        self._heartbeat = loop.call_later(self.config.heartbeat, self._beat)
        subs = list(self.live)
        ws_beat = frames.ws_frame(frames.OP_PING, b"") + frames.ws_json(
            "heartbeat", {"log_id": self.hub.last_event_id}
        )
        deadline = time.monotonic() - 3 * self.config.heartbeat
        limit = self.config.max_buffer

        def slice_(start: int) -> None:
            for sub in subs[start : start + self.config.chunk]:
                if sub.state != LIVE:
                    continue
                if sub.transport.get_write_buffer_size() > limit:
                    self._drop(sub, "too far behind")
                elif sub.ws:
                    if sub.last_rx < deadline:
                        self.close(sub)
                    else:
                        sub.transport.write(ws_beat)
                else:
                    sub.transport.write(frames.SSE_HEARTBEAT)
            if start + self.config.chunk < len(subs):
                loop.call_soon(slice_, start + self.config.chunk)

        slice_(0)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if self._waiting is not None:
            self._waiting.cancel()
            self._waiting = None
        self.close_all()
