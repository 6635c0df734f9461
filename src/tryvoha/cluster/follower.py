"""The follower core: a read-only node's `LogView` kept at the head of a log committed elsewhere.

Two kinds of node follow the log: a `--workers` stream follower (fed by its hub over a Unix
socket) and an edge (fed by NATS JetStream). Both hand every event they receive to `offer`,
which applies exactly the next one: an event already applied is dropped, a gap is filled from
the log's store first (never skipped), and each applied event is copied on to the node's local
replica when it keeps one. How events arrive differs; what is done with them is this one code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from tryvoha.alerts.model import Event
from tryvoha.bus.codec import CodecError
from tryvoha.bus.jetstream import LogFollowerFeed, ResyncNeeded
from tryvoha.readmodel import LogView

log = logging.getLogger(__name__)

Fill = Callable[[int, int], Sequence[Event]]


class LogGap(RuntimeError):
    """An event arrived after a gap this node has no way to fill."""


class LogFollower:
    """Applies a log, in order, each event once, to `view` (which publishes it to the node's
    broadcaster and channels). `fill(after_id, limit)` reads the log's store for gaps; `copy`
    receives every applied event (an edge without a database keeps its replica with it)."""

    def __init__(
        self,
        view: LogView,
        fill: Fill | None = None,
        copy: Callable[[Event], None] | None = None,
    ) -> None:
        self.view = view
        self.fill = fill
        self.copy = copy
        self.applied = 0
        self.filled = 0

    @property
    def last_id(self) -> int:
        return self.view.last_event_id

    def offer(self, event: Event) -> bool:
        """Apply `event` if it is new (True); a gap before it is filled from the store first."""
        last = self.view.last_event_id
        if event.id <= last:
            return False
        if event.id > last + 1:
            self._fill(last, event.id - 1)
        self._apply(event)
        return True

    def _fill(self, after: int, up_to: int) -> None:
        if self.fill is None:
            raise LogGap(f"event {up_to + 1} arrived after {after}, and no store to fill from")
        log.warning("follower: filling events %d..%d from the log's store", after + 1, up_to)
        while after < up_to:
            missing = self.fill(after, up_to - after)
            if not missing or missing[0].id != after + 1:
                raise LogGap(f"the store has no event {after + 1}")
            for event in missing:
                if event.id > up_to:
                    break
                self._apply(event)
                self.filled += 1
                after = event.id

    def _apply(self, event: Event) -> None:
        self.view.apply(event)  # folds, then publishes in log order
        self.applied += 1
        if self.copy is not None:
            self.copy(event)

    async def follow_stream(
        self,
        feed: LogFollowerFeed,
        retry: float = 1.0,
        room: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Follow the log's stream from the view's last id until cancelled or `feed.close()`.

        A stream recreated or truncated behind this node (`ResyncNeeded`) is followed again
        from the last applied id once it holds it again (the relay republishes the log, which the
        database keeps); until then `feed.health()` says stale and why. An event this node cannot
        read stops following (the node must be upgraded); it is never skipped. `room()`, awaited
        after each event, holds the feed back while the node's copy of the log is behind (the
        stream keeps what is not yet read).
        """
        while True:
            try:
                async for event in feed.events(self.view.last_event_id):
                    self.offer(event)
                    if room is not None:
                        await room()
                return  # the feed was closed
            except ResyncNeeded as problem:
                log.error("edge: %s; following again from %d", problem, self.last_id)
            except CodecError as problem:
                log.critical("edge: cannot read the log's next event: %s", problem)
                raise
            with contextlib.suppress(TimeoutError):
                await asyncio.sleep(retry)
