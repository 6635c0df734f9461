"""The writer's relay: a durable outbox that follows the log and publishes it to JetStream.

`tryvoha.bus.jetstream` explains the invariant (stream sequence = log id) and every failure case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import APIError, NotFoundError

from tryvoha.alerts.model import Event
from tryvoha.bus import jetstream_metrics as metrics
from tryvoha.bus.codec import CodecError, decode_event, encode_event
from tryvoha.bus.logstream import (
    CLOSE_TIMEOUT,
    DEFAULT_STREAM,
    DEFAULT_SUBJECT,
    EXPECTED_LAST_SEQUENCE,
    EXPECTED_STREAM,
    MSG_ID,
    WRONG_LAST_SEQUENCE,
    EventsAfter,
    StreamConflict,
    StreamDiverged,
    bounded,
    close_connection,
    connect,
    ensure_stream,
    error_kind,
    stop_task,
)
from tryvoha.waits import wait_at_most

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RelayStatus:
    connected: bool
    position: int  # last id the stream acknowledged
    saved_position: int  # last id written to the durable position
    log_last_id: int  # highest committed id the relay has seen
    lag_events: int
    published: int  # events this relay stored (acknowledged, not as duplicates)
    republished: int
    last_error: str | None
    last_error_at: float | None  # Unix time


class _Refused(Exception):
    """The stream would not take the oldest unacknowledged event; reconcile, then go on."""

    kind = "refused"

    def __init__(self, event_id: int, cause: BaseException) -> None:
        super().__init__(f"event {event_id}: {cause}")
        self.event_id = event_id
        self.cause = cause


class LogRelay:
    """The writer's durable outbox to JetStream (see the module's notes for every failure).

    `events_after(after_id, limit)` reads committed events in order (the store's method);
    `load_position()` / `save_position(id)` keep the last id the stream acknowledged (the store's
    meta table). All three are called in worker threads, so they must be thread-safe (SqlStore is).
    Call `wake(event)` after every commit (it is a bus listener; subscribe it with
    `whole_log=True`: imported history is part of the log); `run()` until `stop()`.
    """

    def __init__(
        self,
        servers: str | Sequence[str],
        *,
        events_after: EventsAfter,
        load_position: Callable[[], int],
        save_position: Callable[[int], None],
        stream: str = DEFAULT_STREAM,
        subject: str = DEFAULT_SUBJECT,
        replicas: int = 1,
        max_age: float | None = None,
        batch: int = 1000,
        window: int = 1000,
        ack_timeout: float = 5.0,
        save_interval: float = 0.25,
        max_backoff: float = 5.0,
        poll_interval: float = 1.0,
        name: str = "tryvoha-relay",
    ) -> None:
        self.servers = servers
        self.stream, self.subject, self.replicas, self.max_age = stream, subject, replicas, max_age
        self._events_after = events_after
        self._load_position = load_position
        self._save_position = save_position
        self.batch, self.window, self.ack_timeout = batch, window, ack_timeout
        self.save_interval, self.max_backoff, self.poll_interval = (
            save_interval,
            max_backoff,
            poll_interval,
        )
        self.name = name
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._link_back = asyncio.Event()
        self._progress = asyncio.Event()  # a commit, an acknowledgement, the link back, stop
        self._log_unread = True  # the store may hold events the relay has not seen
        self._fresh: deque[Event] = deque(maxlen=10_000)
        self._waiting: dict[int, asyncio.Future[PubAck]] = {}
        self._inbox = ""
        self._generation = 0
        self._position = 0
        self._saved = 0
        self._log_last = 0
        self._published = 0
        self._republished = 0
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._position_gauge = metrics.relay_position.labels(stream)
        self._lag_gauge = metrics.relay_lag.labels(stream)
        metrics.relay_last_error.labels(stream).set(0)

    # The interface the writer uses ---------------------------------------------------------

    def wake(self, event: Event | None = None) -> None:
        """A commit happened; with the event itself the relay need not read it back."""
        if event is None:
            self._log_unread = True
        else:
            self._fresh.append(event)
            if event.id > self._log_last:
                self._log_last = event.id
                self._lag_gauge.set(self._log_last - self._position)
        self._progress.set()

    async def run(self) -> None:
        """Publish the log until `stop()`; waits for NATS as long as it takes, never raises."""
        self._task = asyncio.current_task()
        self._position = self._saved = int(await asyncio.to_thread(self._load_position))
        self._log_last = max(self._log_last, self._position)
        self._update_gauges()
        saver = asyncio.create_task(self._save_loop())
        try:
            self._nc = await connect(
                self.servers,
                name=self.name,
                disconnected=self._on_disconnected,
                reconnected=self._on_reconnected,
            )
            self._js = self._nc.jetstream(timeout=self.ack_timeout)
            self._inbox = self._nc.new_inbox()
            await bounded(
                self._nc.subscribe(self._inbox + ".>", cb=self._on_ack),
                self.ack_timeout,
                "subscribe to acknowledgements",
            )
            await self._supervise()
        finally:
            saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await saver
            await self._save_now()
            await close_connection(self._nc)

    async def stop(self) -> None:
        """Stop publishing and save the position; events not yet acknowledged go out next run."""
        self._stopping = True
        self._progress.set()
        # run()'s own stop is bounded (a save, a close of at most CLOSE_TIMEOUT); this bound
        # only guards a shutdown against what cannot be foreseen.
        await stop_task(self._task, 2 * CLOSE_TIMEOUT + self.ack_timeout, "the relay")

    def status(self) -> RelayStatus:
        return RelayStatus(
            connected=self._nc is not None and self._nc.is_connected,
            position=self._position,
            saved_position=self._saved,
            log_last_id=self._log_last,
            lag_events=max(0, self._log_last - self._position),
            published=self._published,
            republished=self._republished,
            last_error=self._last_error,
            last_error_at=self._last_error_at,
        )

    # Supervision ----------------------------------------------------------------------------

    async def _supervise(self) -> None:
        """Publish; on failure reconcile or back off (capped), and publish again."""
        backoff = 0.05
        while not self._stopping:
            started_at = self._position
            try:
                if not self._nc_ctx.is_connected:
                    raise ConnectionError("not connected to NATS")
                await ensure_stream(
                    self._js_ctx, self.stream, self.subject, self.replicas, max_age=self.max_age
                )
                await self._pump()
            except _Refused as refused:
                try:
                    await self._reconcile(refused)
                except Exception as exc:
                    self._failed(exc, loud=isinstance(exc, StreamDiverged | StreamConflict))
                else:
                    if self._position != started_at:
                        backoff = 0.05
                        continue  # the stream was ahead or behind; go on from where it ends
                    self._failed(refused)
            except (StreamConflict, StreamDiverged) as exc:
                self._failed(exc, loud=True)
                backoff = self.max_backoff
            except Exception as exc:
                self._failed(exc)
            if self._position > started_at:
                backoff = 0.05
            await self._sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    async def _sleep(self, seconds: float) -> None:
        """Back off, but come back at once when the link returns."""
        self._link_back.clear()
        await wait_at_most(self._link_back, seconds)

    def _failed(self, exc: BaseException, loud: bool = False) -> None:
        kind = error_kind(exc)
        text = f"{kind}: {exc}" if str(exc) else kind
        if text != self._last_error or loud:
            (log.error if loud else log.warning)("relay to stream %s: %s", self.stream, text)
        self._last_error, self._last_error_at = text, time.time()
        metrics.relay_errors.labels(self.stream, kind).inc()
        metrics.relay_last_error.labels(self.stream).set(self._last_error_at)

    @property
    def _js_ctx(self) -> JetStreamContext:
        assert self._js is not None
        return self._js

    @property
    def _nc_ctx(self) -> NATS:
        assert self._nc is not None
        return self._nc

    def _on_disconnected(self) -> None:
        self._link_back.clear()

    def _on_reconnected(self) -> None:
        self._link_back.set()
        self._progress.set()

    # Publishing ------------------------------------------------------------------------------

    async def _pump(self) -> None:
        """Publish from the position on, up to `window` unacknowledged, until something fails.

        A commit handed over by the bus goes out at once, whatever is still unacknowledged; the
        store is read in batches, only when it may hold more and half the window is free.
        """
        self._generation += 1
        self._waiting.clear()
        inflight: deque[tuple[int, asyncio.Future[PubAck], float]] = deque()
        sent = self._position
        try:
            while not self._stopping:
                while inflight and inflight[0][1].done():
                    event_id, future, _ = inflight.popleft()
                    self._settle(event_id, future)
                room = self.window - len(inflight)
                handed = bool(self._fresh) and self._fresh[-1].id > sent
                unread = self._log_unread or self._log_last > sent
                if room > 0 and (handed or (unread and len(inflight) <= self.window // 2)):
                    self._progress.clear()
                    events = await self._take(sent, room)
                    for event in events:
                        inflight.append(await self._publish(event))
                        sent = event.id
                    if events:
                        continue
                else:
                    self._progress.clear()
                if inflight and inflight[0][1].done():
                    continue
                if not inflight:
                    try:
                        async with asyncio.timeout(self.poll_interval):
                            await self._progress.wait()
                    except TimeoutError:
                        self._log_unread = True  # commits by another process: look now and then
                    continue
                event_id, future, deadline = inflight[0]
                try:
                    async with asyncio.timeout_at(_loop_time(deadline)):
                        await self._progress.wait()
                except TimeoutError:
                    if not future.done():
                        raise TimeoutError(
                            f"no acknowledgement for event {event_id} in {self.ack_timeout} s"
                        ) from None
        finally:
            for _, future, _ in inflight:
                if future.done() and not future.cancelled():
                    future.exception()  # retrieved: the publish is retried from the position
                future.cancel()
            self._waiting.clear()

    async def _take(self, after: int, room: int) -> Sequence[Event]:
        """The next committed events after `after`: from the bus's hand-over, else the store."""
        fresh = self._fresh
        while fresh and fresh[0].id <= after:
            fresh.popleft()
        if fresh and fresh[0].id == after + 1:
            out: list[Event] = []
            while fresh and len(out) < room and fresh[0].id == after + 1 + len(out):
                out.append(fresh.popleft())
            return out
        limit = min(room, self.batch)
        events = await asyncio.to_thread(self._events_after, after, limit)
        if events:
            if events[0].id != after + 1 or events[-1].id != after + len(events):
                raise RuntimeError(f"the log read after {after} is not gapless")
            self._log_last = max(self._log_last, events[-1].id)
        if len(events) < limit:
            self._log_unread = False  # read to the end; the bus hands over what comes next
            self._log_last = max(self._log_last, after + len(events))
        return events

    async def _publish(self, event: Event) -> tuple[int, asyncio.Future[PubAck], float]:
        nc = self._nc
        assert nc is not None
        future: asyncio.Future[PubAck] = asyncio.get_running_loop().create_future()
        self._waiting[event.id] = future
        # Bounded without a task per message: only a forced flush can wait, for at most the
        # connection's flush_timeout (logstream.connect).
        await nc.publish(
            self.subject,
            encode_event(event),
            reply=f"{self._inbox}.{self._generation}.{event.id}",
            headers={
                MSG_ID: str(event.id),
                EXPECTED_LAST_SEQUENCE: str(event.id - 1),
                EXPECTED_STREAM: self.stream,
            },
        )
        return event.id, future, time.monotonic() + self.ack_timeout

    async def _on_ack(self, msg: Msg) -> None:
        generation, _, event_id = msg.subject[len(self._inbox) + 1 :].partition(".")
        answer = _read_ack(msg)
        if isinstance(answer, PubAck) and not answer.duplicate and str(answer.seq) == event_id:
            # Stored by this relay, even when the publish that stored it is no longer awaited
            # (its pump gave way to a reconcile): no event is stored unseen by every counter.
            self._published += 1
        if generation != str(self._generation):
            return
        future = self._waiting.pop(int(event_id), None)
        if future is None or future.done():
            return
        self._progress.set()
        if isinstance(answer, PubAck):
            future.set_result(answer)
        else:
            future.set_exception(answer)

    def _settle(self, event_id: int, future: asyncio.Future[PubAck]) -> None:
        """Move the position past an acknowledged event, or say why the stream refused it."""
        exc = future.exception()
        if exc is None:
            self._acknowledged(event_id, future.result())
        elif isinstance(exc, APIError) and (
            exc.err_code == WRONG_LAST_SEQUENCE or exc.code in (404, 503)
        ):
            raise _Refused(event_id, exc)
        else:
            raise exc

    def _acknowledged(self, event_id: int, ack: PubAck) -> None:
        if ack.seq != event_id:
            raise _Refused(
                event_id,
                APIError(description=f"stored at sequence {ack.seq}, not {event_id}"),
            )
        self._position = event_id
        self._update_gauges()

    def _update_gauges(self) -> None:
        self._position_gauge.set(self._position)
        self._lag_gauge.set(max(0, self._log_last - self._position))

    # Reconciling with the stream -----------------------------------------------------------

    async def _reconcile(self, refused: _Refused) -> None:
        """The stream refused an event: find where it really ends and go on from there."""
        js = self._js_ctx
        try:
            info = await js.stream_info(self.stream)
        except NotFoundError:
            info = await ensure_stream(
                js, self.stream, self.subject, self.replicas, max_age=self.max_age
            )
        last = info.state.last_seq
        if last > 0:
            await self._verify_stored(last)
            if refused.event_id <= last and refused.event_id != last:
                await self._verify_stored(refused.event_id)
        if last < self._position:
            self._republished += self._position - last
            metrics.relay_republished.labels(self.stream).inc(self._position - last)
            log.error(
                "stream %s ends at %d, behind the relay's position %d (lost or recreated): "
                "publishing the log again from %d",
                self.stream,
                last,
                self._position,
                last + 1,
            )
        elif last > self._position:
            log.info(
                "stream %s already holds the log up to %d: skipping ahead from %d",
                self.stream,
                last,
                self._position,
            )
        self._position = last
        self._log_unread = True
        self._update_gauges()

    async def _verify_stored(self, seq: int) -> None:
        """The message at `seq` must be the log's event `seq`, or the stream is another history."""
        js = self._js_ctx
        try:
            msg = await js.get_msg(self.stream, seq, direct=True)
        except NotFoundError:
            raise StreamDiverged(f"stream {self.stream} has no message at {seq}") from None
        headers = msg.headers or {}
        if headers.get(MSG_ID) != str(seq):
            raise StreamDiverged(
                f"stream {self.stream} holds message id {headers.get(MSG_ID)!r} at sequence "
                f"{seq}: it was not written by a relay of this log"
            )
        ours = await asyncio.to_thread(self._events_after, seq - 1, 1)
        if not ours or ours[0].id != seq:
            raise StreamDiverged(
                f"stream {self.stream} holds event {seq} but the log ends before it; "
                "delete the stream (edges then resync) or restore the database"
            )
        try:
            theirs = decode_event(msg.data or b"")
        except CodecError as exc:
            raise StreamDiverged(f"stream {self.stream} event {seq}: {exc}") from None
        if theirs != ours[0]:
            raise StreamDiverged(
                f"stream {self.stream} holds a different event {seq} than the log; "
                "delete the stream (edges then resync)"
            )

    # The durable position --------------------------------------------------------------------

    async def _save_loop(self) -> None:
        while True:
            await asyncio.sleep(self.save_interval)
            await self._save_now()

    async def _save_now(self) -> None:
        position = self._position
        if position != self._saved:
            try:
                await asyncio.to_thread(self._save_position, position)
            except Exception as exc:  # the next save retries; a lost save only republishes
                self._failed(exc)
                return
            self._saved = position


def _loop_time(monotonic_deadline: float) -> float:
    """A `time.monotonic()` deadline on the event loop's clock (`asyncio.timeout_at`)."""
    return asyncio.get_running_loop().time() + (monotonic_deadline - time.monotonic())


def _read_ack(msg: Msg) -> PubAck | APIError:
    """The stream's answer to one publish: where it stored the event, or why it would not."""
    if msg.headers and msg.headers.get("Status") == "503":
        return APIError(code=503, description="no stream answers on the log's subject")
    try:
        reply = orjson.loads(msg.data)
        if "error" in reply:
            APIError.from_error(reply["error"])  # raises the matching APIError
        return PubAck(reply["stream"], reply["seq"], duplicate=reply.get("duplicate"))
    except APIError as exc:
        return exc
    except (ValueError, TypeError, KeyError) as exc:
        return APIError(description=f"unreadable PubAck: {exc!r}")
