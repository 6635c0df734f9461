"""The webhook dispatcher: follows the committed log into a durable outbox, then delivers it.

Two halves, both restart-safe:
- the follower reads the log by id from its stored position (woken by the bus, which carries only
  committed events) and writes one outbox row per matching live event, moving the position in
  the same transaction;
- one sender per subscription with pending rows posts the oldest one, and only after a 2xx moves
  to the next, so a receiver sees its events in log order. Failures are retried with exponential
  backoff and jitter until the row expires.

A sender that has emptied its subscription's outbox takes the next rows from the follower's
hands (`Pending`) as soon as the follower has made them, while they are being written: the
event is already durable in the log, and the row's id (its delivery id) is given by the follower
from a counter stored with its position, so a follower that starts again from that position
gives the same rows the same ids. An attempt's outcome is recorded only once its row is written.
After a failure, or when it falls far behind, the sender reads the outbox again. When the follower
is idle at the head of the log, the bus listener makes and hands the next event's rows itself,
in the commit's own turn of the event loop, and the follower writes them as its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from prometheus_client import Counter

from tryvoha.alerts.model import Alert, AlertStatus, Event, EventKind, Threat
from tryvoha.alerts.state import declared_alert
from tryvoha.channels.webhooks import sender
from tryvoha.channels.webhooks.config import WebhookConfig
from tryvoha.channels.webhooks.payload import render
from tryvoha.channels.webhooks.signing import SIGNATURE_HEADER, new_secret, signature_header
from tryvoha.metrics import delivery_latency, registry, subscribers, webhook_backlog
from tryvoha.readmodel import ReadModel
from tryvoha.regions import Catalogue
from tryvoha.signing.hub import UNSIGNED, Signing
from tryvoha.store.fencing import NotTheWriter
from tryvoha.store.webhooks import (
    EXPIRED,
    PENDING,
    Delivery,
    Subscription,
    WebhookStore,
)
from tryvoha.waits import wait_at_most

T = TypeVar("T")
log = logging.getLogger(__name__)
CHANNEL = "webhook"

attempts_total = Counter(
    "tryvoha_webhook_attempts_total",
    "Webhook delivery attempts, by outcome (success, http_error, timeout, network).",
    ["outcome"],
    registry=registry,
)


class NotRunning(RuntimeError):
    """Subscriptions change only while the dispatcher runs (it orders them against the log)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def matches(sub: Subscription, event: Event, catalogue: Catalogue) -> bool:
    """A live event after the subscription began, of a wanted threat and status, about a region
    the subscription covers: one of its regions, a region inside one, or a larger region that
    contains one (an oblast-wide alert puts every hromada in it under alert)."""
    if event.id <= sub.after_event_id or not event.is_broadcast:
        return False
    if sub.threats and event.threat not in sub.threats:
        return False
    if event.status not in sub.statuses:
        return False
    return any(
        catalogue.is_within(event.region_id, r) or catalogue.is_within(r, event.region_id)
        for r in sub.regions
    )


def backoff(attempt: int, config: WebhookConfig, rng: Callable[[], float] = random.random) -> float:
    """Delay before retry number `attempt` (1-based): doubling, capped, with half of it random so
    many receivers that failed together do not all come back at the same instant.

    Any attempt number gives a delay: doublings past the cap are never computed (2**1024 would
    not fit a float, and a failing delay would leave the attempt unrecorded, retried each poll).
    """
    base, cap = config.backoff_base, config.backoff_max
    doublings = max(0, attempt - 1)
    if base >= cap or doublings >= math.log2(cap) - math.log2(base):
        delay = cap
    else:
        delay = math.ldexp(base, doublings)  # below the cap, so it cannot overflow
    return delay / 2 + rng() * delay / 2


POSITION_EVERY = 1000
"""Events without deliveries between two writes of the follower's position."""
PLAN_ON_LOOP = 256
"""Event × subscription matches a follower step may make on the event loop, saving a thread hop
on the alert path; a larger step (a burst, many subscriptions) is matched in the database
thread, off the loop that carries every other channel."""
SEND_BATCH = 100
"""Rows a sender takes at once."""
HANDED_MAX = 1000
"""Rows kept in memory for a sender; past it, the sender reads the outbox instead."""


@dataclass
class Pending:
    """What a subscription's sender knows of its pending rows without reading the outbox: the
    rows written since it last looked (`handed`), and whether the outbox holds no others
    (`drained`: every pending row it has not taken is among `handed`); and how it is woken."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    handed: deque[Delivery] = field(default_factory=deque)
    drained: bool = False
    taken: int = 0
    """The highest delivery id the sender has taken, from the outbox or from `handed`."""
    resets: int = 0
    """How many times `forget` was called."""

    def hand(self, rows: Sequence[Delivery]) -> None:
        self.handed.extend(rows)
        if len(self.handed) > HANDED_MAX:
            self.forget()

    def forget(self) -> None:
        """Back to reading the outbox (which holds every pending row)."""
        self.handed.clear()
        self.drained = False
        self.resets += 1

    def drained_if(self, complete: bool, resets: int) -> None:
        """The sender took every pending row it read (`complete`): the outbox is drained,
        unless rows were forgotten meanwhile (`resets` is the count when it started)."""
        self.drained = complete and resets == self.resets

    def take(self, limit: int) -> list[Delivery]:
        """The next rows handed, each once: a row already read from the outbox, or handed again
        by a follower that retried a failed write, is skipped."""
        rows: list[Delivery] = []
        while self.handed and len(rows) < limit:
            row = self.handed.popleft()
            if row.id > self.taken:
                rows.append(row)
                self.taken = row.id
        return rows

    def took(self, rows: Sequence[Delivery]) -> None:
        if rows:
            self.taken = max(self.taken, rows[-1].id)


class WebhookDispatcher:
    def __init__(
        self,
        hub: ReadModel,
        store: WebhookStore,
        config: WebhookConfig | None = None,
        signing: Signing = UNSIGNED,
    ) -> None:
        """`hub` is the log it follows; `store` holds the subscriptions and the outbox (the
        writer's database: one sender per cluster)."""
        self.hub = hub
        self.config = config or WebhookConfig()
        self.store = store
        self.signing = signing
        self.position = 0
        self._persisted = 0
        self._next_id = 1
        """The delivery id the next outbox row gets: every row before it is in the outbox."""
        self._written = asyncio.Event()
        """Set (and replaced) each time rows are written."""
        self.running = False
        self._db: ThreadPoolExecutor | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._recent: deque[Event] = deque(maxlen=10_000)
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._pending: dict[int, Pending] = {}
        self._subs: dict[int, Subscription] = {}
        self._bases: OrderedDict[int, Alert] = OrderedDict()
        self._follower: asyncio.Task[None] | None = None
        self._ahead: tuple[list[Event], list[Delivery], dict[int, int]] | None = None
        """Rows the bus listener made and handed for the event right after the position, which
        the follower writes under the ids they were handed with (`_on_event`)."""
        self._unsubscribe: Callable[[], None] | None = None
        self._client = sender.new_client(self.config)
        self._backlog = 0

    # Life cycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tryvoha-webhooks")
        subs = await self.run_db(self.store.all)
        self._subs = {s.id: s for s in subs}
        stored = await self.run_db(self.store.position)
        if stored is None:
            # First start: nothing before the oldest subscription (or the log head) is wanted.
            stored = min([self.hub.store.last_event_id, *(s.after_event_id for s in subs)])
        self.position = self._persisted = stored
        self._next_id = await self.run_db(self.store.next_delivery_id)
        self._set_backlog(await self.run_db(self.store.backlog))
        subscribers.labels(CHANNEL).set(len(self._subs))
        self._unsubscribe = self.hub.subscribe(self._on_event, whole_log=True)
        self.running = True
        with_pending = await self.run_db(self.store.with_pending)
        for sub_id in self._subs.keys() - set(with_pending):
            self._pending[sub_id] = Pending(drained=True)  # its first row goes as it is made
        for sub_id in with_pending:
            self._ensure_worker(sub_id)
        self._follower = asyncio.create_task(self._follow(), name="webhook-follower")

    async def stop(self) -> None:
        self.running = False
        if self._unsubscribe is not None:
            self._unsubscribe()
        tasks = [t for t in (self._follower, *self._workers.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._workers.clear()
        if self._db is not None:
            with contextlib.suppress(NotTheWriter):  # the active writer keeps its own position
                await self._store_position()
        await self._client.aclose()
        if self._db is not None:
            self._db.shutdown(wait=True)

    @contextlib.asynccontextmanager
    async def running_context(self) -> AsyncIterator[WebhookDispatcher]:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    async def run_db(self, fn: Callable[..., T], *args: Any) -> T:
        """Every webhook database call runs in one thread of its own, off the event loop and
        never queued behind the hub's log writer or its readers."""
        assert self._db is not None
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    # Subscriptions (ordered against the log) ----------------------------------------------------

    async def create(
        self,
        owner: str,
        url: str,
        regions: Sequence[str],
        threats: Sequence[Threat],
        statuses: Sequence[AlertStatus],
        description: str | None = None,
        limit: int | None = None,
    ) -> Subscription:
        """Make a subscription; it receives exactly the events after `after_event_id`: the
        follower first catches up with the log, then the row is written under the same lock.
        LimitReached when `owner` already holds `limit` subscriptions."""
        if not self.running:
            raise NotRunning("webhook delivery is not running on this hub")
        async with self._lock:
            await self._catch_up()
            sub = await self.run_db(
                self.store.create,
                owner,
                url,
                list(regions),
                list(threats),
                list(statuses),
                description,
                new_secret(),
                self.position,
                utcnow(),
                limit,
            )
            self._subs[sub.id] = sub
            self._pending[sub.id] = Pending(drained=True)
            subscribers.labels(CHANNEL).set(len(self._subs))
        return sub

    async def delete(self, subscription_id: int) -> int:
        """Remove a subscription; returns how many pending deliveries were dropped."""
        if not self.running:
            raise NotRunning("webhook delivery is not running on this hub")
        async with self._lock:
            # Rows for the events before are made and their ids stored first: a follower that
            # starts again from its position then never meets this subscription, and gives the
            # other subscriptions' rows the ids they were sent with.
            await self._catch_up()
            await self._store_position()
            dropped = await self.run_db(self.store.delete, subscription_id)
            self._subs.pop(subscription_id, None)
            subscribers.labels(CHANNEL).set(len(self._subs))
            worker = self._workers.pop(subscription_id, None)
            self._pending.pop(subscription_id, None)
            if worker is not None:
                worker.cancel()
            self._set_backlog(self._backlog - dropped)
        return dropped

    async def retry_now(self, subscription_id: int) -> int:
        """Make every pending delivery due now and bring expired ones back."""
        now = utcnow()
        expires = now + timedelta(seconds=self.config.give_up_after)
        count = await self.run_db(self.store.retry_now, subscription_id, now, expires)
        self._pending_of(subscription_id).forget()  # rows came back that were not handed
        self._set_backlog(await self.run_db(self.store.backlog))
        if count:
            self._ensure_worker(subscription_id)
        return count

    # The follower -------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        """Bus listener (runs right after each commit): remember the event, wake the follower.

        When the follower is idle and has followed the log up to this very event, the event's
        rows are made and handed to their senders here, a turn of the event loop sooner than
        the follower would (a turn that carries every other channel's work for the same event).
        The follower then writes them first, with the ids they were given, as if it had made
        them itself; if it cannot, it makes them again from the same position and next id, so
        the ids are the same."""
        self._recent.append(event)
        self._wake.set()
        if (
            not self.running
            or self._ahead is not None
            or self._lock.locked()  # the follower, a subscription change: they make the rows
            or event.id != self.position + 1
            or not self._plans_on_loop([event])
        ):
            return
        try:
            rows = self._plan([event], self._subs_in_order(), self._next_id)
        except Exception:  # the follower makes them (and says why) in its own time
            return
        if rows:
            self._ahead = ([event], rows, self._hand(rows))

    async def _follow(self) -> None:
        while True:
            await wait_at_most(self._wake, self.config.poll_interval)
            self._wake.clear()
            try:
                async with self._lock:
                    await self._catch_up()
            except NotTheWriter as lost:  # another node sends now; this one is being stopped
                log.warning("webhook follower stopped at log id %d: %s", self.position, lost)
                return
            except Exception:  # a database hiccup: the position is durable, try again later
                log.exception("webhook follower failed at log id %d", self.position)
                await asyncio.sleep(self.config.poll_interval)

    async def _catch_up(self) -> None:
        while True:
            ahead, self._ahead = self._ahead, None
            if ahead is not None and ahead[0][0].id == self.position + 1:
                events, rows, handed = ahead  # made and handed by the bus listener
                next_id = self._next_id + len(rows)
            else:
                events = self._from_bus()
                if not events and self.position < self.hub.store.last_event_id:
                    events = await self.run_db(
                        self.hub.store.events_after, self.position, self.config.batch
                    )
                if not events:
                    return
                subs = self._subs_in_order()
                first_id = self._next_id
                if self._plans_on_loop(events):
                    rows = self._plan(events, subs, first_id)
                else:
                    rows = await self.run_db(self._plan, events, subs, first_id)
                if not rows and events[-1].id - self._persisted < POSITION_EVERY:
                    # Nothing to deliver: keep the commit (and its fsync) off the alert path.
                    # After a crash the follower only re-reads these events and finds nothing.
                    self.position = events[-1].id
                    continue
                handed = self._hand(rows)
                next_id = first_id + len(rows)
            # A failed write leaves the position and the next id where they were: the retry
            # gives the same rows the same ids.
            await self.run_db(self._write, rows, events[-1].id, next_id)
            self._next_id = next_id
            self.position = events[-1].id
            if rows:
                self._set_backlog(self._backlog + len(rows))
                self._written.set()
                self._written = asyncio.Event()
            for sub_id, resets in handed.items():
                pending = self._pending_of(sub_id)
                if pending.resets != resets:
                    # Forgotten before they were written: a sender may have found the outbox
                    # without them, so it reads it again now that they are there.
                    pending.forget()
                    self._ensure_worker(sub_id)

    def _from_bus(self) -> list[Event]:
        """The next events straight from the bus when they follow the position with no gap (the
        bus carries only committed events), saving a read of what was just written."""
        while self._recent and self._recent[0].id <= self.position:
            self._recent.popleft()
        taken: list[Event] = []
        expected = self.position + 1
        while self._recent and self._recent[0].id == expected and len(taken) < self.config.batch:
            taken.append(self._recent.popleft())
            expected += 1
        return taken

    def _plan(self, events: list[Event], subs: list[Subscription], first_id: int) -> list[Delivery]:
        """Match and render the rows for `events`, giving them delivery ids from `first_id` on
        (subscriptions in id order, so the same events and subscriptions give the same ids)."""
        rows: list[Delivery] = []
        catalogue = self.hub.catalogue
        now = utcnow()
        expires = now + timedelta(seconds=self.config.give_up_after)
        for event in events:
            if event.kind is EventKind.DECLARED:
                self._remember(event)
            wanted = [s for s in subs if matches(s, event, catalogue)]
            if not wanted:
                continue
            base = self._base_of(event)
            if base is None:
                log.error("event %d: alert %d not found, not delivered", event.id, event.alert_id)
                continue
            body = render(event, base)
            for sub in wanted:
                row_id = first_id + len(rows)
                rows.append(
                    Delivery(
                        row_id,
                        sub.id,
                        event.id,
                        PENDING,
                        body,
                        event.recorded_at,
                        now,
                        0,
                        now,
                        expires,
                        None,
                        None,
                        None,
                        None,
                    )
                )
        return rows

    def _hand(self, rows: list[Delivery]) -> dict[int, int]:
        """Give the rows to their senders; returns each one's `resets` count before (a sender
        that forgets them, even at once for holding too many, is told to read them again)."""
        by_subscription: dict[int, list[Delivery]] = {}
        for row in rows:
            by_subscription.setdefault(row.subscription_id, []).append(row)
        handed: dict[int, int] = {}
        for sub_id, made in by_subscription.items():
            pending = self._pending_of(sub_id)
            handed[sub_id] = pending.resets
            pending.hand(made)
            self._ensure_worker(sub_id)
        return handed

    def _write(self, rows: list[Delivery], position: int, next_id: int) -> None:
        """In the database thread: the rows with the new position and next id, in one
        transaction."""
        self.store.enqueue(rows, position, next_id)
        self._persisted = position

    async def _store_position(self) -> None:
        """Store the position (with the next id) where it moved past events without rows."""
        if self._persisted < self.position:
            await self.run_db(self._write, [], self.position, self._next_id)

    async def _until_written(self, delivery_id: int) -> None:
        """An attempt is recorded on its row, so not before the row is in the outbox."""
        while self._next_id <= delivery_id:
            await self._written.wait()

    def _subs_in_order(self) -> list[Subscription]:
        """By id: the same events and subscriptions give the same rows the same ids."""
        return sorted(self._subs.values(), key=lambda sub: sub.id)

    def _plans_on_loop(self, events: list[Event]) -> bool:
        """Few enough matches to make on the event loop, with nothing to read for them."""
        return len(events) * len(self._subs) <= PLAN_ON_LOOP and self._bases_known(events)

    def _bases_known(self, events: list[Event]) -> bool:
        """Every event's alert is at hand, so planning reads nothing from the database."""
        return all(
            e.kind is EventKind.DECLARED or e.alert_id in self._bases or not e.is_broadcast
            for e in events
        )

    def _remember(self, event: Event) -> None:
        self._bases[event.alert_id] = declared_alert(event)
        if len(self._bases) > 20_000:
            self._bases.popitem(last=False)

    def _base_of(self, event: Event) -> Alert | None:
        if event.kind is EventKind.DECLARED:
            return declared_alert(event)
        base = self._bases.get(event.alert_id)
        if base is None:
            base = self.hub.store.get_alert(event.alert_id)
        return base

    # The senders --------------------------------------------------------------------------------

    def _pending_of(self, sub_id: int) -> Pending:
        return self._pending.setdefault(sub_id, Pending())

    def _ensure_worker(self, sub_id: int) -> None:
        if not self.running:
            return
        self._pending_of(sub_id).wake.set()
        task = self._workers.get(sub_id)
        if task is None or task.done():
            self._workers[sub_id] = asyncio.create_task(
                self._work(sub_id), name=f"webhook-{sub_id}"
            )

    async def _work(self, sub_id: int) -> None:
        pending = self._pending_of(sub_id)
        wake = pending.wake
        try:
            while True:
                wake.clear()
                sub = self._subs.get(sub_id)
                if sub is None:
                    return
                resets, complete = pending.resets, pending.drained
                if complete:
                    rows = pending.take(SEND_BATCH)
                else:
                    rows = await self.run_db(self.store.pending, sub_id, SEND_BATCH)
                    pending.took(rows)
                    complete = len(rows) < SEND_BATCH
                if not rows:
                    pending.drained_if(complete, resets)
                    if wake.is_set() and sub_id in self._subs:
                        continue
                    return
                wait = (rows[0].next_attempt_at - utcnow()).total_seconds()
                if wait > 0:
                    pending.forget()
                    await wait_at_most(wake, wait)
                    continue
                if await self._send_in_order(sub, rows):
                    pending.drained_if(complete, resets)
                else:
                    pending.forget()
        except asyncio.CancelledError:
            raise
        except Exception:
            pending.forget()
            log.exception("webhook sender for subscription %d failed", sub_id)
            await asyncio.sleep(self.config.poll_interval)
            self._workers.pop(sub_id, None)
            self._ensure_worker(sub_id)
        finally:
            if self._workers.get(sub_id) is asyncio.current_task():
                del self._workers[sub_id]

    async def _send_in_order(self, sub: Subscription, rows: list[Delivery]) -> bool:
        """Send rows one after the other, each only after the previous one was acknowledged,
        stopping at the first failure; True when every row was acknowledged. Acknowledged rows
        are recorded together at the end: a crash before that only means they are sent again
        (receivers dedupe by event id)."""
        done: list[tuple[int, datetime, int]] = []
        try:
            for row in rows:
                if sub.id not in self._subs or not await self._attempt(sub, row, done):
                    return False
            return True
        finally:
            if done:
                await self._until_written(done[-1][0])
                self._set_backlog(
                    self._backlog - await self.run_db(self.store.record_delivered, done)
                )

    async def _attempt(
        self, sub: Subscription, head: Delivery, done: list[tuple[int, datetime, int]]
    ) -> bool:
        """One attempt; True when acknowledged (then appended to `done`)."""
        attempt = head.attempts + 1
        headers = {
            "Content-Type": "application/json",
            "X-Tryvoha-Event-Id": str(head.event_id),
            "X-Tryvoha-Delivery-Id": str(head.id),
            "X-Tryvoha-Subscription-Id": str(sub.id),
            "X-Tryvoha-Attempt": str(attempt),
            SIGNATURE_HEADER: signature_header(sub.secret, head.payload),
            **self.signing.webhook_headers(head.payload),  # Ed25519, the same for every receiver
        }
        outcome = await sender.post(self._client, sub.url, head.payload, headers, self.config)
        attempts_total.labels(outcome.kind).inc()
        now = utcnow()
        if outcome.ok:
            delivery_latency.labels(CHANNEL).observe(
                max(0.0, time.time() - head.committed_at.timestamp())
            )
            done.append((head.id, now, outcome.status or 200))
            return True
        await self._until_written(head.id)
        if now >= head.expires_at:
            if await self.run_db(
                self.store.record_attempt, head.id, now, EXPIRED, outcome.status, outcome.error
            ):
                self._set_backlog(self._backlog - 1)
            log.warning("webhook %d: event %d expired: %s", sub.id, head.event_id, outcome.error)
            return False
        left = (head.expires_at - now).total_seconds()  # a huge backoff cap never overflows
        retry_at = now + timedelta(seconds=min(backoff(attempt, self.config), left))
        await self.run_db(
            self.store.record_attempt,
            head.id,
            now,
            PENDING,
            outcome.status,
            outcome.error,
            retry_at,
        )
        return False

    def _set_backlog(self, value: int) -> None:
        self._backlog = max(0, value)
        webhook_backlog.set(self._backlog)
