"""The hub: the one writer of the log, and the read model folded from it (`LogView`).

Commands go through `submit`: decide (pure) → render on every surface → append (durable, in the
store's thread) → fold into the state → publish on the bus. Nothing downstream of the log writes
back into it, and nothing a surface cannot render reaches the log. A command's events (one, or
one per region of a multi-region request) are committed in one transaction, or none are.

Proposals expire by the hub's clock: before every command the hub appends the `expired` events
of proposals whose time ran out, and a timer does the same at the earliest deadline, so an
operator reading the proposals sees them go (see `expire_due`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from tryvoha.alerts import ranges
from tryvoha.alerts.approval import ApprovalPolicy
from tryvoha.alerts.commands import (
    Actor,
    Approve,
    Command,
    Declare,
    DeclareMany,
    Reject,
    Rejected,
    decide,
    expirations,
)
from tryvoha.alerts.model import Event, EventDraft, EventKind, Proposal, assign
from tryvoha.alerts.state import alert_after, proposal_after
from tryvoha.alerts.wire import alert_doc, event_doc, proposal_doc
from tryvoha.bus import InProcessBus
from tryvoha.metrics import events_committed
from tryvoha.readmodel import LogView, utcnow
from tryvoha.regions import Catalogue
from tryvoha.store import IdempotencyRecord, SqlStore

if TYPE_CHECKING:
    from tryvoha.preflight import SurfaceRenderer

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command produced: the answer's status and JSON bytes, the events committed (none
    for an idempotent repeat, `replayed`, which gets the first answer) and where the resource it
    made or changed is (`/api/v1/alerts/{id}`, `/api/v1/proposals/{id}`; None for several).

    Answers: `{"event", "alert"}` for one alert (declared, updated, ended, retracted: the very
    bytes webhooks carry), `{"events", "alerts"}` for a multi-region declaration, `{"proposal",
    "rule"}` for a declaration that waits for a second operator (202), `{"proposal", "events",
    "alerts"}` for an approval, `{"proposal"}` for a rejection."""

    status_code: int
    body: bytes
    events: tuple[Event, ...]
    location: str | None
    replayed: bool = False

    @property
    def event(self) -> Event | None:
        """The first (for most commands the only) event committed."""
        return self.events[0] if self.events else None

    @property
    def alert_id(self) -> int | None:
        event = self.event
        return None if event is None or not event.is_public else event.alert_id


class Hub(LogView):
    """The writer: a `LogView` of the log it appends to. Only the operator API, the importers
    and the replay hold it; every other part of the hub reads through the `ReadModel`."""

    def __init__(
        self,
        catalogue: Catalogue,
        store: SqlStore,
        bus: InProcessBus | None = None,
        clock: Callable[[], datetime] = utcnow,
        renderer: Callable[[Hub], SurfaceRenderer] | None = None,
        policy: ApprovalPolicy | None = None,
    ) -> None:
        super().__init__(catalogue, store, bus, clock)
        self.policy = policy if policy is not None else ApprovalPolicy()
        """The second-person rule (`Settings.approvals`, from `TRYVOHA_APPROVAL_*`)."""
        if renderer is None:
            # The surfaces build on the hub, so their renderers are looked up once it exists.
            from tryvoha.preflight import SurfaceRenderer

            renderer = SurfaceRenderer
        self.renderer = renderer(self)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tryvoha-writer")
        self._write_lock = asyncio.Lock()
        self._expiry: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def close(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        for task in tuple(self._tasks):
            with contextlib.suppress(RuntimeError):  # its event loop may be closed already
                task.cancel()
        self._writer.shutdown(wait=True)
        super().close()

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
        breaks a rule or some surface could not render its events (`unrenderable_event`)."""
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
            await self._expire_locked()
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
                    location = _location(orjson.loads(record.body))
                    return Outcome(record.status, record.body, (), location, replayed=True)
            drafts = decide(self.state, self.catalogue, actor, command, self.clock(), self.policy)
            if idempotency_key is not None:
                drafts = tuple(replace(d, idempotency_key=idempotency_key) for d in drafts)
            status_code = _status_code(command, drafts)
            answer = (actor.originator, idempotency_key, request_hash, status_code)
            events, body = await loop.run_in_executor(
                self._writer, self._commit, command, drafts, answer
            )
            for event in events:
                self.state.apply(event)
        self._publish(events)
        return Outcome(status_code, body, tuple(events), _location(orjson.loads(body)))

    def _commit(
        self,
        command: Command,
        drafts: Sequence[EventDraft],
        answer: tuple[str, str | None, str, int],
    ) -> tuple[list[Event], bytes]:
        """In the writer thread (the only appender, so the next ids are known): render each
        event on every surface that carries it, then append them all with the answer to the
        Idempotency-Key, if any, in one transaction. The rendered answer is returned."""
        recorded_at = self.clock()
        events = assign(drafts, self.store.last_event_id + 1, recorded_at)
        try:
            bodies = [self._render(event) for event in events]
            body = bodies[0] if _answers_with_payload(command, events) else self._answer(events)
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
            last = events[-1].id
            record = IdempotencyRecord(originator, key, request_hash, status_code, body, last)
        try:
            return self.store.append_many(drafts, recorded_at, record), body
        except ranges.OutOfRange as problem:
            raise Rejected(
                422, "unrenderable_event", f"the log cannot hold it: {problem.message}"
            ) from None

    def _render(self, event: Event) -> bytes:
        before = None if event.kind is EventKind.DECLARED else self.open_alert(event.alert_id)
        return self.renderer.render(event, before)

    def _answer(self, events: Sequence[Event]) -> bytes:
        """The answer to a multi-region declaration, a proposal, an approval or a rejection."""
        doc: dict[str, Any] = {}
        proposal_id = events[0].proposal_id
        if proposal_id is not None:
            proposal = self.state.proposals.get(proposal_id)
            for event in events:
                proposal = proposal_after(event, proposal)
            assert proposal is not None
            doc["proposal"] = proposal_doc(proposal)
            if events[0].kind is EventKind.PROPOSED:
                doc["rule"] = self.policy.why(
                    self.catalogue, proposal.region_ids, proposal.threat, proposal.status
                )
        if events[0].kind is EventKind.DECLARED:
            doc["events"] = [event_doc(e) for e in events]
            doc["alerts"] = [alert_doc(alert_after(e, None)) for e in events]
        return orjson.dumps(doc)

    def _publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        events_committed.labels(events[0].source).inc(len(events))
        for event in events:
            self.bus.publish(event)
        if any(e.kind in (EventKind.PROPOSED, EventKind.EXPIRED) for e in events):
            self.arm_expiry()

    # Proposals ----------------------------------------------------------------------------------

    def proposals(self) -> list[Proposal]:
        """The proposals the state holds (pending, and the latest decided), newest first."""
        return sorted(self.state.proposals.values(), key=lambda p: p.id, reverse=True)

    async def expire_due(self) -> list[Event]:
        """Append the `expired` events of every pending proposal whose time has run out."""
        async with self._write_lock:
            return await self._expire_locked()

    async def _expire_locked(self) -> list[Event]:
        """With the write lock held: commit and publish the expirations due now."""
        drafts = expirations(self.state, self.clock())
        if not drafts:
            return []
        loop = asyncio.get_running_loop()
        events = await loop.run_in_executor(self._writer, self._append_expired, drafts)
        for event in events:
            self.state.apply(event)
        self._publish(events)  # now, in log order: whatever the command that follows does
        return events

    def _append_expired(self, drafts: Sequence[EventDraft]) -> list[Event]:
        recorded_at = self.clock()
        for event in assign(drafts, self.store.last_event_id + 1, recorded_at):
            self.renderer.render(event, None)
        return self.store.append_many(drafts, recorded_at)

    def arm_expiry(self) -> None:
        """Make sure a timer fires by the earliest deadline of a pending proposal (it needs a
        running event loop; without one, the next command expires what is due)."""
        deadlines = [p.deadline for p in self.state.proposals.values() if p.is_pending]
        if not deadlines:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        delay = max(0.0, (min(deadlines) - self.clock()).total_seconds())
        at = loop.time() + delay + 0.005
        if self._expiry is not None:
            if not self._expiry.cancelled() and self._expiry.when() <= at + 0.05:
                return  # fires in time
            self._expiry.cancel()
        self._expiry = loop.call_at(at, self._on_expiry_timer)

    def _on_expiry_timer(self) -> None:
        self._expiry = None
        task = asyncio.get_running_loop().create_task(self._expire_and_rearm())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _expire_and_rearm(self) -> None:
        try:
            await self.expire_due()
        except Exception:  # the next command tries again
            log.exception("proposals could not be expired")
        self.arm_expiry()

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


def _request_hash(command: Command) -> str:
    return hashlib.sha256(repr(command).encode()).hexdigest()


def _status_code(command: Command, drafts: Sequence[EventDraft]) -> int:
    """201 for what makes alerts, 202 for a declaration that waits as a proposal, else 200."""
    if isinstance(command, Declare | DeclareMany):
        return 202 if drafts[0].kind is EventKind.PROPOSED else 201
    if isinstance(command, Approve):
        return 201
    return 200


def _answers_with_payload(command: Command, events: Sequence[Event]) -> bool:
    """A command about one alert answers with that alert's webhook payload, byte for byte."""
    return not isinstance(command, DeclareMany | Approve | Reject) and events[0].is_public


def _location(doc: dict[str, Any]) -> str | None:
    if "proposal" in doc:
        return f"/api/v1/proposals/{doc['proposal']['id']}"
    if "alert" in doc:
        return f"/api/v1/alerts/{doc['alert']['id']}"
    return None
