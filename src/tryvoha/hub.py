"""The hub: the one writer of the log, and the read model folded from it (`LogView`).

Commands go through `submit`: decide (pure) → render on every surface → append (durable, in the
store's thread) → fold into the state → publish on the bus. Nothing downstream of the log writes
back into it, and nothing a surface cannot render reaches the log. A command's events (one, or
one per region of a multi-region request) are committed in one transaction, or none are;
commands that arrive while a transaction is in flight share the next one (group commit), each
decided against the state the ones before it leave, and answered once it is durable.

Proposals expire by the hub's clock: before every command the hub appends the `expired` events
of proposals whose time ran out, and a timer does the same at the earliest deadline, so an
operator reading the proposals sees them go (see `expire_due`).

A hub may start as a standby (`standby=True`): it folds and follows the log but refuses commands
(503 `not_the_writer`, with Retry-After) until `take_over` makes it the writer. A writer that
loses its lock (`tryvoha.store.fencing`) stops writing at once, answers 503 from then on and
tells its `on_lost` listeners (the server exits, the senders stop).
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
from tryvoha.alerts.state import AlertState, alert_after, proposal_after
from tryvoha.alerts.wire import alert_doc, event_doc, proposal_doc
from tryvoha.bus import InProcessBus
from tryvoha.metrics import commit_batch, events_committed
from tryvoha.readmodel import LogView, utcnow
from tryvoha.regions import Catalogue
from tryvoha.store import IdempotencyRecord, NotTheWriter, SqlStore, WriterLock
from tryvoha.store.group_commit import CommitQueue

if TYPE_CHECKING:
    from tryvoha.preflight import SurfaceRenderer

T = TypeVar("T")
log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
"""What a node that is not the writer asks operator clients to wait before retrying (to it or
to the other node): a standby takes over within a few seconds of the writer's death."""


def token_revoked() -> Rejected:
    """401 `token_revoked`: the command's token was revoked before its transaction."""
    return Rejected(
        401,
        "token_revoked",
        "the token this command came with was revoked before it could be committed: nothing "
        "was written",
    )


def not_the_writer(why: str) -> Rejected:
    """503 `not_the_writer` with a Retry-After (`RETRY_AFTER_SECONDS`): retry, here or at the
    other writer node; nothing was written."""
    return Rejected(503, "not_the_writer", why, retry_after=RETRY_AFTER_SECONDS)


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


@dataclass(frozen=True, slots=True)
class _Request:
    """A command waiting for its turn in the next transaction."""

    command: Command
    actor: Actor
    idempotency_key: str | None
    request_hash: str


class _Fold:
    """The state a batch's commands are decided against: the hub's own until the first of them
    is accepted, then a copy moved on by each accepted command (the hub's state changes only
    once the transaction is durable). `answered` holds the batch's answers by Idempotency-Key,
    so a repeat within the batch gets the first answer, as it would from the log."""

    def __init__(self, state: AlertState, next_id: int, recorded_at: datetime) -> None:
        self._state = state
        self._owned = False
        self._behind = 0
        self.next_id = next_id
        self.recorded_at = recorded_at
        self.events: list[Event] = []
        self.answered: dict[tuple[str, str], tuple[str, Outcome]] = {}

    @property
    def state(self) -> AlertState:
        """The state after every command accepted so far (copied only when a second command
        needs it, so a batch of one costs no copy)."""
        if self._behind:
            if not self._owned:
                self._state = self._state.copy()
                self._owned = True
            for event in self.events[len(self.events) - self._behind :]:
                self._state.apply(event)
            self._behind = 0
        return self._state

    def apply(self, events: Sequence[Event]) -> None:
        self.events.extend(events)
        self._behind += len(events)
        self.next_id += len(events)


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
        standby: bool = False,
    ) -> None:
        super().__init__(catalogue, store, bus, clock)
        self._writing = not standby
        self.standby_lock: WriterLock | None = None
        """The writer lock a standby waits for (taken by `tryvoha.standby.WriterRole`)."""
        self.on_lost: list[Callable[[str], None]] = []
        """Called once, with the reason, when this writer loses the lock and stops writing."""
        self.policy = policy if policy is not None else ApprovalPolicy()
        """The second-person rule (`Settings.approvals`, from `TRYVOHA_APPROVAL_*`)."""
        if renderer is None:
            # The surfaces build on the hub, so their renderers are looked up once it exists.
            from tryvoha.preflight import SurfaceRenderer

            renderer = SurfaceRenderer
        self.renderer = renderer(self)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tryvoha-writer")
        self._write_lock = asyncio.Lock()
        self.commits: CommitQueue[_Request, Outcome] = CommitQueue(self._commit_batch)
        """Operator commands waiting for the next transaction (group commit)."""
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

    # The writer role ----------------------------------------------------------------------------

    @property
    def is_writer(self) -> bool:
        """False on a standby before its takeover, and on a writer that lost its lock."""
        return self._writing

    @property
    def more_coming(self) -> bool:
        """Commands wait for the next transaction: their events follow in a moment."""
        return self.commits.queued > 0

    async def take_over(self, lock: WriterLock) -> list[Event]:
        """On a standby, with the writer lock just taken: fence off every earlier writer, fold
        what it committed since the standby last looked (published in log order), and start
        taking commands. Returns the events caught up."""
        loop = asyncio.get_running_loop()
        async with self._write_lock:
            last = await loop.run_in_executor(self._writer, self.store.take_writer, lock)
            missed: list[Event] = []
            if last > self.state.last_event_id:
                missed = await loop.run_in_executor(
                    self._writer, self.store.events_after, self.state.last_event_id
                )
            for event in missed:
                self.apply(event)
            self._writing = True
        self.arm_expiry()
        return missed

    async def check_writer(self) -> bool:
        """Whether this hub still holds the writer lock and the latest epoch; a writer that lost
        either stops writing here (see `on_lost`)."""
        if not self._writing:
            return False
        try:
            await self.write(self.store.check_writer)
        except NotTheWriter as lost:
            self._lose(str(lost))
            return False
        return True

    def _lose(self, why: str) -> None:
        if not self._writing:
            return
        self._writing = False
        log.error("no longer the writer: %s; every write is refused from now on", why)
        for listener in tuple(self.on_lost):
            try:
                listener(why)
            except Exception:
                log.exception("a listener failed on losing the writer lock")

    def _refuse_unless_writing(self) -> None:
        if not self._writing:
            raise not_the_writer(
                "this node does not hold the writer lock (a standby, or a writer that lost it): "
                "retry after the Retry-After seconds, here or at the other writer"
            )

    async def _in_writer(self, fn: Callable[..., T], *args: Any) -> T:
        """An append in the writer's thread; a lost lock (`NotTheWriter`) stops this writer and
        becomes a 503 `not_the_writer` (nothing written)."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)
        except NotTheWriter as lost:
            self._lose(str(lost))
            raise not_the_writer(f"this node stopped being the writer: {lost}") from None

    # Writing ------------------------------------------------------------------------------------

    async def submit(
        self, command: Command, actor: Actor, idempotency_key: str | None = None
    ) -> Outcome:
        """Decide, render, commit and publish one command; `Rejected` (nothing written) if it
        breaks a rule or some surface could not render its events (`unrenderable_event`).

        Commands submitted while a commit is in flight share the next transaction (group
        commit, `tryvoha.store.group_commit`): each is decided against the state its
        predecessors in the batch leave, keeps its own answer, idempotency record or refusal,
        and is answered only once the transaction holding it is durable, in log order."""
        if idempotency_key is not None:
            try:
                ranges.check_key(idempotency_key)
                # the key is looked up by originator: a database may refuse what the log can't hold
                ranges.check_text(actor.originator, "originator", ranges.MAX_ORIGINATOR)
            except ranges.OutOfRange as problem:
                raise Rejected.out_of_range(problem) from None
        self._refuse_unless_writing()
        request = _Request(command, actor, idempotency_key, _request_hash(command))
        return await self.commits.submit(request)

    async def _commit_batch(self, requests: Sequence[_Request]) -> list[Outcome | Exception]:
        """One transaction for a batch of commands; then fold and publish what it appended."""
        commit_batch.observe(len(requests))
        async with self._write_lock:
            self._refuse_unless_writing()
            await self._expire_locked()
            results, events = await self._in_writer(self._commit, requests)
            for event in events:
                self.state.apply(event)
        self._publish(events)
        return results

    def _commit(
        self, requests: Sequence[_Request]
    ) -> tuple[list[Outcome | Exception], list[Event]]:
        """In the writer thread (the only appender, so the next ids are known): decide, render
        and check each command against the state the ones before it leave, then append every
        accepted one with its idempotency record in one transaction. Should the transaction
        fail as a whole, the commands are committed one by one, so a command the database
        refuses takes no batch-mate with it."""
        valid = self._valid_credentials(requests)
        results, groups, fold = self._decide_all(requests, valid)
        try:
            self.store.append_groups(groups, fold.recorded_at)
        except NotTheWriter:
            raise  # the whole batch is refused: this node stopped being the writer
        except Exception as exc:
            if len(requests) > 1:
                return self._commit_one_by_one(requests, valid)
            if isinstance(exc, ranges.OutOfRange):
                problem = f"the log cannot hold it: {exc.message}"
                return [Rejected(422, "unrenderable_event", problem)], []
            return [exc], []
        return results, fold.events

    def _commit_one_by_one(
        self, requests: Sequence[_Request], valid: set[str]
    ) -> tuple[list[Outcome | Exception], list[Event]]:
        results: list[Outcome | Exception] = []
        events: list[Event] = []
        base = self.state
        for request in requests:
            (result,), groups, fold = self._decide_all([request], valid, base)
            try:
                self.store.append_groups(groups, fold.recorded_at)
            except NotTheWriter:
                raise
            except ranges.OutOfRange as exc:
                problem = f"the log cannot hold it: {exc.message}"
                result = Rejected(422, "unrenderable_event", problem)
            except Exception as exc:
                result = exc
            else:
                events.extend(fold.events)
                base = fold.state
            results.append(result)
        return results, events

    def _valid_credentials(self, requests: Sequence[_Request]) -> set[str]:
        """Which of the batch's operator tokens are still valid: one read per transaction."""
        credentials = {r.actor.credential for r in requests if r.actor.credential is not None}
        return self.store.valid_operator_credentials(credentials) if credentials else set()

    def _decide_all(
        self, requests: Sequence[_Request], valid: set[str], base: AlertState | None = None
    ) -> tuple[list[Outcome | Exception], list[tuple[Sequence[EventDraft], Any]], _Fold]:
        """`valid`: the tokens (`Actor.credential`) that may still commit."""
        state = self.state if base is None else base
        fold = _Fold(state, self.store.last_event_id + 1, self.clock())
        results: list[Outcome | Exception] = []
        groups: list[tuple[Sequence[EventDraft], Any]] = []
        for request in requests:
            try:
                credential = request.actor.credential
                if credential is not None and credential not in valid:
                    raise token_revoked()
                results.append(self._decide_one(request, fold, groups))
            except Exception as exc:  # this command alone is refused
                results.append(exc)
        return results, groups, fold

    def _decide_one(
        self, request: _Request, fold: _Fold, groups: list[tuple[Sequence[EventDraft], Any]]
    ) -> Outcome:
        command, actor, key = request.command, request.actor, request.idempotency_key
        if key is not None:
            first = fold.answered.get((actor.originator, key))
            if first is None:
                record = self.store.find_idempotent(actor.originator, key)
                if record is not None:
                    location = _location(orjson.loads(record.body))
                    replay = Outcome(record.status, record.body, (), location, replayed=True)
                    first = (record.request_hash, replay)
            if first is not None:
                if first[0] != request.request_hash:
                    raise Rejected(
                        422,
                        "idempotency_key_reused",
                        f"Idempotency-Key {key!r} was used for a different request",
                    )
                return first[1]
        drafts = decide(fold.state, self.catalogue, actor, command, self.clock(), self.policy)
        if key is not None:
            drafts = tuple(replace(d, idempotency_key=key) for d in drafts)
        status_code = _status_code(command, drafts)
        events = assign(drafts, fold.next_id, fold.recorded_at)
        try:
            bodies = [self._render(event, fold.state) for event in events]
            body = (
                bodies[0]
                if _answers_with_payload(command, events)
                else self._answer(events, fold.state)
            )
        except Exception as exc:
            # Refused, not committed; but a surface that fails on a valid event is a bug the
            # hub's operator must see, so it is logged with its traceback.
            log.exception("event refused, a surface cannot render it: %s", exc)
            raise Rejected(
                422, "unrenderable_event", f"the event cannot be rendered for {exc}"
            ) from exc
        try:
            for event in events:
                ranges.check_event(event)
        except ranges.OutOfRange as problem:
            raise Rejected(
                422, "unrenderable_event", f"the log cannot hold it: {problem.message}"
            ) from None
        record = None
        if key is not None:
            record = IdempotencyRecord(
                actor.originator, key, request.request_hash, status_code, body, events[-1].id
            )
        location = _location(orjson.loads(body))
        fold.apply(events)
        groups.append((drafts, record))
        if key is not None:
            replay = Outcome(status_code, body, (), location, replayed=True)
            fold.answered[(actor.originator, key)] = (request.request_hash, replay)
        return Outcome(status_code, body, tuple(events), location)

    def _render(self, event: Event, state: AlertState) -> bytes:
        before = None if event.kind is EventKind.DECLARED else state.open_alerts.get(event.alert_id)
        return self.renderer.render(event, before)

    def _answer(self, events: Sequence[Event], state: AlertState) -> bytes:
        """The answer to a multi-region declaration, a proposal, an approval or a rejection."""
        doc: dict[str, Any] = {}
        proposal_id = events[0].proposal_id
        if proposal_id is not None:
            proposal = state.proposals.get(proposal_id)
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
        if not drafts or not self._writing:
            return []
        events = await self._in_writer(self._append_expired, drafts)
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
        self._refuse_unless_writing()
        async with self._write_lock:
            appended = await self._in_writer(
                self.store.append_many, list(drafts), self.clock()
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
