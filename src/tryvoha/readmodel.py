"""The read model: what every reader of the log needs, whoever keeps the log.

`ReadModel` is the one interface channels, the compatible surfaces, the map, the history API and
the streams depend on: the last log id, region statuses, open alerts, one alert, events after an
id, the catalogue, and a way to follow new events. `LogView` implements it by folding a log: the
writer (`tryvoha.hub.Hub`) is a `LogView` that also appends, and a process that only follows the
log (a stream worker, an edge node) is a `LogView` fed with events committed elsewhere, so every
node answers from the same fold with the same code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from tryvoha.alerts.model import Alert, AlertStatus, Event, Threat
from tryvoha.alerts.state import AlertState
from tryvoha.alerts.status import ThreatStatus, all_threat_statuses
from tryvoha.bus import InProcessBus, Listener
from tryvoha.regions import Catalogue
from tryvoha.store import AlertQuery, SqlStore

T = TypeVar("T")
DRILLS = frozenset({AlertStatus.EXERCISE, AlertStatus.TEST})
ACTUAL = frozenset({AlertStatus.ACTUAL})


def utcnow() -> datetime:
    return datetime.now(UTC)


class ReadModel(Protocol):
    """A folded log, read-only. Synchronous reads answer from memory at `last_event_id`; the
    async ones read the store off the event loop."""

    catalogue: Catalogue
    store: SqlStore
    """For reads only (tokens, statistics, the attacks ledger); writing belongs to the writer."""
    started_at: datetime

    def clock(self) -> datetime: ...

    @property
    def last_event_id(self) -> int: ...

    @property
    def last_recorded_at(self) -> datetime | None: ...

    def last_event_at(self, region_id: str) -> datetime | None: ...

    @property
    def more_coming(self) -> bool: ...

    def open_alerts(self) -> list[Alert]: ...

    def open_alert(self, alert_id: int) -> Alert | None: ...

    def statuses(self, drills: bool = False) -> dict[Threat, ThreatStatus]: ...

    def subscribe(self, listener: Listener, *, whole_log: bool = False) -> Callable[[], None]: ...

    async def read(self, fn: Callable[..., T], *args: Any) -> T: ...

    async def alert(self, alert_id: int) -> Alert | None: ...

    async def events_after(
        self, after_id: int, limit: int | None = None, public_only: bool = False
    ) -> list[Event]: ...

    async def query_alerts(self, query: AlertQuery) -> list[Alert]: ...


class LogView:
    """A log folded into memory: the state, statuses cached per log id, and the bus on which
    every event applied to it is published, in log order."""

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
        self._readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tryvoha-reader")
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
        self._readers.shutdown(wait=True)
        self.store.close()

    # Following ----------------------------------------------------------------------------------

    def apply(self, event: Event) -> Alert | None:
        """Fold an event committed elsewhere and publish it (a follower's feed calls this, in
        log order; `LogOrderError` for a gap or a repeat); the alert as it is after it, None for
        a proposal's event."""
        alert = self.state.apply(event)
        self.bus.publish(event)
        return alert

    def subscribe(self, listener: Listener, *, whole_log: bool = False) -> Callable[[], None]:
        return self.bus.subscribe(listener, whole_log=whole_log)

    # Reading ------------------------------------------------------------------------------------

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a store read off the event loop, never queued behind a write."""
        return await asyncio.get_running_loop().run_in_executor(self._readers, fn, *args)

    @property
    def last_event_id(self) -> int:
        return self.state.last_event_id

    @property
    def last_recorded_at(self) -> datetime | None:
        return self.state.last_recorded_at

    def last_event_at(self, region_id: str) -> datetime | None:
        return self.state.last_event_at.get(region_id)

    @property
    def more_coming(self) -> bool:
        """Whether more events are about to follow the ones just published: the writer has
        commands queued for its next transaction. A fan-out may wait for them, to send a burst
        in one write. A follower cannot know, so never."""
        return False

    def open_alerts(self) -> list[Alert]:
        return sorted(self.state.open_alerts.values(), key=lambda a: (a.started_at, a.id))

    def open_alert(self, alert_id: int) -> Alert | None:
        return self.state.open_alerts.get(alert_id)

    def statuses(self, drills: bool = False) -> dict[Threat, ThreatStatus]:
        """Every region's status per threat, for actual alerts (or drills), cached per log id."""
        kinds = DRILLS if drills else ACTUAL
        cached = self._status_cache.get(kinds)
        if cached is not None and cached[0] == self.state.last_event_id:
            return cached[1]
        computed = all_threat_statuses(self.catalogue, self.state.open_alerts, kinds)
        self._status_cache[kinds] = (self.state.last_event_id, computed)
        return computed

    async def alert(self, alert_id: int) -> Alert | None:
        """An alert, open (from memory) or ended (from the store)."""
        found = self.open_alert(alert_id)
        if found is not None:
            return found
        return await self.read(self.store.get_alert, alert_id)

    async def events_after(
        self, after_id: int, limit: int | None = None, public_only: bool = False
    ) -> list[Event]:
        """Events after an id, in log order (`public_only`: without the proposals' events)."""
        return await self.read(self.store.events_after, after_id, limit, public_only)

    async def query_alerts(self, query: AlertQuery) -> list[Alert]:
        return await self.read(self.store.query_alerts, query)
