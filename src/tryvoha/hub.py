"""The hub: the one writer of the log and keeper of the state folded from it.

Commands go through `submit`: decide (pure) → append (durable, in the store's thread) → fold into
the state → publish on the bus. Nothing downstream of the log writes back into it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from tryvoha.alerts.commands import Actor, Command, EventDraft, Rejected, decide
from tryvoha.alerts.model import Alert, AlertStatus, Event, Threat
from tryvoha.alerts.state import AlertState, alert_after
from tryvoha.alerts.status import ThreatStatus, all_threat_statuses
from tryvoha.alerts.wire import alert_doc, event_doc
from tryvoha.bus import InProcessBus
from tryvoha.metrics import events_committed
from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore

T = TypeVar("T")
DRILLS = frozenset({AlertStatus.EXERCISE, AlertStatus.TEST})
ACTUAL = frozenset({AlertStatus.ACTUAL})


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command produced; `replayed` when an idempotent repeat got the first answer."""

    status_code: int
    body: dict[str, Any]
    event: Event | None
    replayed: bool = False


class Hub:
    def __init__(
        self,
        catalogue: Catalogue,
        store: SqlStore,
        bus: InProcessBus | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.catalogue = catalogue
        self.store = store
        self.bus = bus or InProcessBus()
        self.clock = clock
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

    # Writing ------------------------------------------------------------------------------------

    async def submit(
        self, command: Command, actor: Actor, idempotency_key: str | None = None
    ) -> Outcome:
        """Decide, commit and publish one command; `Rejected` (nothing written) if invalid."""
        loop = asyncio.get_running_loop()
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
                    body = orjson.loads(record.response_body)
                    return Outcome(record.response_status, body, None, replayed=True)
            draft = decide(self.state, self.catalogue, actor, command, self.clock())
            if idempotency_key is not None:
                draft = _with_key(draft, idempotency_key)
            status_code = 201 if draft.alert_id is None else 200
            record_args = None
            if idempotency_key is not None:
                record_args = (actor.originator, idempotency_key, request_hash, status_code, "")
            event = await loop.run_in_executor(
                self._writer, self._append_with_answer, draft, record_args
            )
            alert = self.state.apply(event)
            body = {"event": event_doc(event), "alert": alert_doc(alert)}
        events_committed.labels(event.source).inc()
        self.bus.publish(event)
        return Outcome(status_code, body, event)

    def _append_with_answer(
        self, draft: EventDraft, record_args: tuple[str, str, str, int, str] | None
    ) -> Event:
        """Append in the writer thread; the idempotent answer is stored in the same transaction."""
        recorded_at = self.clock()
        if record_args is None:
            return self.store.append(draft, recorded_at)
        # The answer depends on the event id, known only inside the transaction: render it with
        # the id the store will assign (the writer thread is the only appender).
        event_id = self.store.last_event_id + 1
        preview = self.state_preview(draft, event_id, recorded_at)
        body = orjson.dumps(preview).decode()
        originator, key, request_hash, status_code, _ = record_args
        return self.store.append(
            draft, recorded_at, (originator, key, request_hash, status_code, body)
        )

    def state_preview(self, draft: EventDraft, event_id: int, recorded_at: datetime) -> dict:
        """The answer a draft will get once appended as `event_id`, without touching the state."""
        event = draft.to_event(event_id, recorded_at)
        alert = alert_after(event, self.state.open_alerts.get(event.alert_id))
        return {"event": event_doc(event), "alert": alert_doc(alert)}

    async def append_history(self, drafts: Sequence[EventDraft]) -> list[Event]:
        """Append past events (imports, replays) in one transaction; see `EventDraft.source`."""
        loop = asyncio.get_running_loop()
        async with self._write_lock:
            appended = await loop.run_in_executor(
                self._writer, self.store.append_many, list(drafts), self.clock()
            )
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
