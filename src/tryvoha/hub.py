"""The hub: the one writer of the log and keeper of the state folded from it.

Commands go through `submit`: decide (pure) → render on every surface → append (durable, in the
store's thread) → fold into the state → publish on the bus. Nothing downstream of the log writes
back into it, and nothing a surface cannot render reaches the log.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from tryvoha.alerts import ranges
from tryvoha.alerts.commands import Actor, Command, EventDraft, Rejected, decide
from tryvoha.alerts.model import Alert, AlertStatus, Event, Threat
from tryvoha.alerts.state import AlertState
from tryvoha.alerts.status import ThreatStatus, all_threat_statuses
from tryvoha.bus import InProcessBus
from tryvoha.metrics import events_committed
from tryvoha.regions import Catalogue
from tryvoha.store import IdempotencyRecord, SqlStore

if TYPE_CHECKING:
    from tryvoha.preflight import SurfaceRenderer

T = TypeVar("T")
log = logging.getLogger(__name__)
DRILLS = frozenset({AlertStatus.EXERCISE, AlertStatus.TEST})
ACTUAL = frozenset({AlertStatus.ACTUAL})


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command produced: the answer's status and JSON bytes (`{"event", "alert"}`), the
    event committed (None for an idempotent repeat, `replayed`, which gets the first answer)."""

    status_code: int
    body: bytes
    event: Event | None
    alert_id: int
    replayed: bool = False


class Hub:
    def __init__(
        self,
        catalogue: Catalogue,
        store: SqlStore,
        bus: InProcessBus | None = None,
        clock: Callable[[], datetime] = utcnow,
        renderer: Callable[[Hub], SurfaceRenderer] | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.store = store
        self.bus = bus or InProcessBus()
        self.clock = clock
        if renderer is None:
            # The surfaces build on the hub, so their renderers are looked up once it exists.
            from tryvoha.preflight import SurfaceRenderer

            renderer = SurfaceRenderer
        self.renderer = renderer(self)
        self.state = AlertState()
        self.started_at = clock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tryvoha-writer")
        self._readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tryvoha-reader")
        self._write_lock = asyncio.Lock()
        self._status_cache: dict[
            frozenset[AlertStatus], tuple[int, dict[Threat, ThreatStatus]]
        ] = {}

    # Life cycle ---------------------------------------------------------------------------------

    def load(self, progress: Callable[[int], None] | None = None) -> None:
        """Fold the whole log into the state (at start-up, before serving)."""
        state = AlertState()
        for count, event in enumerate(self.store.iter_events(), 1):
            state.apply(event)
            if progress is not None and count % 10_000 == 0:
                progress(count)
        self.state = state
        self._status_cache.clear()

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.store.close()

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a store read off the event loop, never queued behind a write."""
        return await asyncio.get_running_loop().run_in_executor(self._readers, fn, *args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a store write other than an append (meta, subscriptions) off the event loop, in
        the writer's thread: every write leaves from there, none from the reader pool, so on
        SQLite no two of them wait on each other's database lock."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    # Writing ------------------------------------------------------------------------------------

    async def submit(
        self, command: Command, actor: Actor, idempotency_key: str | None = None
    ) -> Outcome:
        """Decide, render, commit and publish one command; `Rejected` (nothing written) if it
        breaks a rule or some surface could not render its event (`unrenderable_event`)."""
        loop = asyncio.get_running_loop()
        if idempotency_key is not None:
            try:
                ranges.check_key(idempotency_key)
                # the key is looked up by originator: a database may refuse what the log can't hold
                ranges.check_text(actor.originator, "originator", ranges.MAX_ORIGINATOR)
            except ranges.OutOfRange as problem:
                raise Rejected.out_of_range(problem) from None
        request_hash = _request_hash(command)
        async with self._write_lock:
            if idempotency_key is not None:
                record = await loop.run_in_executor(
                    self._writer, self.store.find_idempotent, actor.originator, idempotency_key
                )
                if record is not None:
                    if record.request_hash != request_hash:
                        raise Rejected(
                            422,
                            "idempotency_key_reused",
                            f"Idempotency-Key {idempotency_key!r} was used for a different request",
                        )
                    alert_id = orjson.loads(record.body)["alert"]["id"]
                    return Outcome(record.status, record.body, None, alert_id, replayed=True)
            draft = decide(self.state, self.catalogue, actor, command, self.clock())
            if idempotency_key is not None:
                draft = _with_key(draft, idempotency_key)
            status_code = 201 if draft.alert_id is None else 200
            answer = (actor.originator, idempotency_key, request_hash, status_code)
            event, body = await loop.run_in_executor(self._writer, self._commit, draft, answer)
            alert = self.state.apply(event)
        events_committed.labels(event.source).inc()
        self.bus.publish(event)
        return Outcome(status_code, body, event, alert.id)

    def _commit(
        self, draft: EventDraft, answer: tuple[str, str | None, str, int]
    ) -> tuple[Event, bytes]:
        """In the writer thread (the only appender, so the next id is known): render the event
        on every surface, then append it with the answer to its Idempotency-Key, if any, in the
        same transaction. The rendered answer is returned for the client."""
        recorded_at = self.clock()
        event = draft.to_event(self.store.last_event_id + 1, recorded_at)
        try:
            body = self.renderer.render(event, self.state.open_alerts.get(event.alert_id))
        except Exception as exc:
            # Refused, not committed; but a surface that fails on a valid event is a bug the
            # hub's operator must see, so it is logged with its traceback.
            log.exception("event refused, a surface cannot render it: %s", exc)
            raise Rejected(
                422, "unrenderable_event", f"the event cannot be rendered for {exc}"
            ) from exc
        originator, key, request_hash, status_code = answer
        record = None
        if key is not None:
            record = IdempotencyRecord(originator, key, request_hash, status_code, body, event.id)
        try:
            return self.store.append(draft, recorded_at, record), body
        except ranges.OutOfRange as problem:
            raise Rejected(
                422, "unrenderable_event", f"the log cannot hold it: {problem.message}"
            ) from None

    async def append_history(self, drafts: Sequence[EventDraft]) -> list[Event]:
        """Append past events (imports, replays) in one transaction; see `EventDraft.source`."""
        loop = asyncio.get_running_loop()
        async with self._write_lock:
            appended = await loop.run_in_executor(
                self._writer, self.store.append_many, list(drafts), self.clock()
            )  # the store refuses (OutOfRange, nothing written) what it could not read back
            for event in appended:
                self.state.apply(event)
        if appended:
            events_committed.labels(appended[0].source).inc(len(appended))
        for event in appended:
            self.bus.publish(event)
        return appended

    # Reading ------------------------------------------------------------------------------------

    @property
    def last_event_id(self) -> int:
        return self.state.last_event_id

    def open_alerts(self) -> list[Alert]:
        return sorted(self.state.open_alerts.values(), key=lambda a: (a.started_at, a.id))

    def statuses(self, drills: bool = False) -> dict[Threat, ThreatStatus]:
        """Every region's status per threat, for actual alerts (or drills), cached per log id."""
        kinds = DRILLS if drills else ACTUAL
        cached = self._status_cache.get(kinds)
        if cached is not None and cached[0] == self.state.last_event_id:
            return cached[1]
        computed = all_threat_statuses(self.catalogue, self.state.open_alerts, kinds)
        self._status_cache[kinds] = (self.state.last_event_id, computed)
        return computed


def _request_hash(command: Command) -> str:
    return hashlib.sha256(repr(command).encode()).hexdigest()


def _with_key(draft: EventDraft, key: str) -> EventDraft:
    return replace(draft, idempotency_key=key)
