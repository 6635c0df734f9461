"""The writer role of a hub process: a standby waits for the writer lock, a writer guards it.

`tryvoha serve --standby` (PostgreSQL only) opens the log as a reader, folds it, and then, every
`FOLLOW_SECONDS`, folds what the active writer committed since and tries the writer lock. So it
serves reads (streams, status, map) all along, and when the active writer dies (its lock goes
with its database connection) the standby holds a state at most one poll old: taking over is
claiming the fencing epoch, folding the last few events, and starting the senders (webhooks,
MQTT) that only the writer runs. Operator commands answer 503 `not_the_writer` with a
Retry-After until then.

A writer on PostgreSQL also checks every `GUARD_SECONDS` that it still holds the lock and the
latest epoch (each append checks both as well), so a writer whose lock connection was killed
stops its senders even when no command comes; the server then exits (see `tryvoha.serve`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from tryvoha.hub import Hub
from tryvoha.store import WriterLock
from tryvoha.waits import wait_at_most

log = logging.getLogger(__name__)

FOLLOW_SECONDS = 0.1
"""How often a standby folds the log's tail and tries the writer lock: the larger part of the
takeover time after the active writer's death."""
GUARD_SECONDS = 1.0
"""How often an idle writer on PostgreSQL checks that it still holds the lock."""
FOLLOW_BATCH = 5_000
"""Events read per query while following (a standby far behind reads in batches)."""

Step = Callable[[], Awaitable[None]]


class WriterRole:
    """Runs for the life of a hub process that holds (or waits for) the writer: see the module."""

    def __init__(
        self,
        hub: Hub,
        lock: WriterLock | None,
        say: Callable[[str], None] | None = None,
        poll: float = FOLLOW_SECONDS,
        guard: float = GUARD_SECONDS,
    ) -> None:
        """`lock` is the writer lock a standby waits for (not taken yet); None for a hub that is
        the writer already. `say` prints the one-line notices an operator reads."""
        self.hub = hub
        self.lock = lock
        self.say = say or log.warning
        self.poll = poll
        self.guard = guard
        self.took_over_at: float | None = None
        """`time.monotonic()` when this standby became the writer."""

    async def run(self, start_senders: Step, stop_senders: Step) -> None:
        """Wait for the lock if a standby, then start the senders, guard the lock, and stop the
        senders when it is lost. Cancelled at shutdown."""
        lost = asyncio.Event()
        self.hub.on_lost.append(lambda why: lost.set())
        if not self.hub.is_writer:
            await self._wait_and_take_over()
            started = time.monotonic()
            try:
                await start_senders()
            except Exception:  # writing matters most: keep it, and say what does not run
                log.exception("standby: the senders could not all be started")
                self.say("standby: webhooks or MQTT could not be started (see the log above)")
            else:
                took = time.monotonic() - started
                self.say(f"standby: webhooks and MQTT started in {took:.2f} s")
        guarded = self.hub.store.writer is not None and not self.hub.store.is_sqlite
        while not lost.is_set():
            await wait_at_most(lost, self.guard if guarded else None)
            if guarded and not lost.is_set():
                try:
                    await self.hub.check_writer()
                except Exception:  # a database hiccup: the next append checks again
                    log.exception("could not check the writer lock")
        self.say("writer: the writer lock was lost; webhooks and MQTT stop here")
        await stop_senders()

    async def _wait_and_take_over(self) -> None:
        assert self.lock is not None, "a standby needs the lock it waits for"
        lock, hub = self.lock, self.hub
        while True:
            await self._wait_for_lock(lock)
            started = time.monotonic()
            try:
                missed = await hub.take_over(lock)
                break
            except Exception as exc:  # the database went away meanwhile: let go, wait again
                await asyncio.to_thread(lock.release)
                self.say(f"standby: could not take over ({type(exc).__name__}); waiting again")
                log.debug("takeover failed", exc_info=True)
                await asyncio.sleep(self.poll)
            except BaseException:
                await asyncio.to_thread(lock.release)
                raise
        self.took_over_at = time.monotonic()
        self.say(
            f"standby: took over as the writer at log id {hub.last_event_id} "
            f"({len(missed)} events caught up, {1000 * (self.took_over_at - started):.0f} ms)"
        )

    async def _wait_for_lock(self, lock: WriterLock) -> None:
        """Follow the log and try the lock every poll until it is taken; say once whom it
        waits for, and once when the database cannot be reached."""
        announced = unreachable = False
        while True:
            try:
                await self.follow()
                if await asyncio.to_thread(lock.try_acquire):
                    return
                unreachable = False
                if not announced:
                    holder = await asyncio.to_thread(lock.holder)
                    self.say(f"standby: waiting for {holder or 'the active writer'}")
                    announced = True
            except Exception as exc:  # the database away: keep waiting, say so once
                if not unreachable:
                    self.say(f"standby: cannot reach the database ({type(exc).__name__}); retrying")
                    unreachable = True
                log.debug("standby poll failed", exc_info=True)
            await asyncio.sleep(self.poll)

    async def follow(self) -> int:
        """Fold what the writer committed since the last look; how many events that was."""
        hub, count = self.hub, 0
        while True:
            events = await hub.read(hub.store.events_after, hub.last_event_id, FOLLOW_BATCH)
            for event in events:
                hub.apply(event)
            count += len(events)
            if len(events) < FOLLOW_BATCH:
                return count
