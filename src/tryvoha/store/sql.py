"""The log and its projections in a SQL database: SQLite (embedded default) or PostgreSQL.

Every append is one transaction holding the event, the alerts projection row and the idempotency
record, so an acknowledged event and the answer given for it are on disk together or not at all.
Nothing outside the ranges of `tryvoha.alerts.ranges` is written, and every row read back is
checked against the same ranges (`tryvoha.store.decode`).

The process that appends holds the database's writer lock (`tryvoha.store.writer`), handed to
its store, which releases it on close: one writer per database. Every other store only reads
the log (and may write the side tables: tokens, meta).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import secrets
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Update,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url

from tryvoha.alerts.model import (
    PROPOSAL_KINDS,
    PUBLIC_KINDS,
    Alert,
    AlertStatus,
    Event,
    EventDraft,
    EventKind,
    Threat,
    assign,
)
from tryvoha.alerts.ranges import check_event
from tryvoha.store import migrate, repair
from tryvoha.store.decode import UnreadableEvent, decode_event, details_from_text
from tryvoha.store.fencing import NotTheWriter, check_epoch, claim_epoch, current_epoch
from tryvoha.store.rows import details_text, event_row
from tryvoha.store.schema import alerts, events, idempotency, meta, tokens
from tryvoha.store.timeutil import from_us, to_us
from tryvoha.store.url import driver_url
from tryvoha.store.writer import WriterLock, server_probes


class StoreConflict(Exception):
    """Another writer appended first: this node's view of the log is stale."""


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """The first answer to a request with an Idempotency-Key: a repeat gets `body` byte for byte.

    Written in the transaction of the event it answers, with the body already final."""

    originator: str
    key: str
    request_hash: str
    status: int
    body: bytes
    event_id: int


class TokenRole(StrEnum):
    """What a token may do: an operator writes (within its scopes), a read-only key only reads."""

    OPERATOR = "operator"
    READ_ONLY = "read_only"


TOKEN_NAME_MAX = 100
"""Leaves room for the `token:` prefix in the log's 200-character originator column."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    scopes: tuple[str, ...] | None
    drills_only: bool
    created_at: datetime
    revoked_at: datetime | None
    role: TokenRole = TokenRole.OPERATOR

    @property
    def read_only(self) -> bool:
        return self.role is TokenRole.READ_ONLY


@dataclass(frozen=True, slots=True)
class AlertQuery:
    """Filters for the alert history; `before_id` is the pagination cursor (newest first)."""

    region_ids: Collection[str] | None = None
    threat: Threat | None = None
    statuses: Collection[AlertStatus] | None = None
    since: datetime | None = None
    until: datetime | None = None
    source: str | None = None
    open_only: bool = False
    before_id: int | None = None
    limit: int = 100


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_token_name(name: str) -> None:
    """A name becomes the originator (`token:<name>`) of every event the token writes: 1 to 100
    printable characters, no surrounding spaces. ValueError naming the rule otherwise."""
    if not 1 <= len(name) <= TOKEN_NAME_MAX:
        raise ValueError(f"a token name has 1 to {TOKEN_NAME_MAX} characters, not {len(name)}")
    if not name.isprintable() or name.strip() != name:
        raise ValueError("a token name has printable characters only, no surrounding spaces")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_no_fsync(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


class SqlStore:
    """One store for both databases: the same code and the same test suite run against each.

    `writer` is the database's writer lock, already taken (`tryvoha.store.acquire_writer`), for
    the one process that appends; it is released with the store, and its holder claims a
    fencing epoch (`tryvoha.store.fencing`) checked in every append. None: a reader (which a
    standby turns into the writer with `take_writer`)."""

    def __init__(self, url: str, *, writer: WriterLock | None = None) -> None:
        self.url = make_url(url)
        self.writer = writer
        self.epoch: int | None = None
        """The fencing epoch this writer claimed; None for a store opened without the lock."""
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            engine = create_engine(url, connect_args={"check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(
                driver_url(url), pool_pre_ping=True, connect_args=server_probes(url)
            )
        self.engine: Engine = engine
        try:
            migrate.upgrade(engine)
            if writer is not None:
                self.epoch = claim_epoch(engine)
            self._last_id = self._read_last_id()
        except BaseException:
            self.close()
            raise

    def without_fsync(self) -> None:
        """For a SQLite file that is only a cache of a log kept elsewhere (an edge's replica):
        commits skip fsync from now on, so a crash may lose it, and that must be harmless."""
        if not self.is_sqlite:
            raise ValueError("only a SQLite cache may be written without fsync")
        event.listen(self.engine, "connect", _sqlite_no_fsync)
        self.engine.dispose()  # every connection from now on skips fsync

    def record_bounds(
        self, imported_like: str, not_keys: Sequence[str]
    ) -> tuple[int | None, int | None, int | None]:
        """What the log's record spans (µs since the epoch): the first and last declaration
        of the imported data sets (`source LIKE imported_like`, except the idempotency keys
        `not_keys`), and the first event recorded live; None where there is none."""
        imported = select(func.min(events.c.occurred_at), func.max(events.c.occurred_at)).where(
            events.c.source.like(imported_like),
            events.c.kind == "declared",
            events.c.idempotency_key.is_(None) | events.c.idempotency_key.not_in(not_keys),
        )
        live = select(func.min(events.c.recorded_at)).where(events.c.source.not_like(imported_like))
        with self.engine.connect() as conn:
            lo, hi = conn.execute(imported).one()
            first_live = conn.execute(live).scalar()
        return lo, hi, first_live

    def take_writer(self, writer: WriterLock) -> int:
        """Become the writer with the lock just taken: claim the next epoch (fencing off every
        earlier writer), then read where the log ends now, which is returned."""
        self.writer = writer
        self.epoch = claim_epoch(self.engine)
        self._last_id = self._read_last_id()
        return self._last_id

    @contextlib.contextmanager
    def fenced(self) -> Iterator[Connection]:
        """A transaction that commits only while this store's writer holds the latest epoch
        (`NotTheWriter`, nothing written, otherwise): for what only the active writer may
        move, such as a sender's position in the log. A store without the lock: a plain one."""
        with self.engine.begin() as conn:
            if self.epoch is not None:
                check_epoch(conn, self.epoch)
            yield conn

    def set_meta_fenced(self, key: str, value: str) -> None:
        """`set_meta` by the active writer only (see `fenced`)."""
        with self.fenced() as conn:
            put_meta(conn, key, value)

    def check_writer(self) -> None:
        """`NotTheWriter` when this store's writer lost its lock or was fenced off by a newer
        writer; nothing for a store opened without the lock."""
        if self.writer is not None and not self.writer.held:
            raise NotTheWriter("the writer lock was lost (its database connection ended)")
        if self.epoch is not None and current_epoch(self.engine) != self.epoch:
            raise NotTheWriter(f"another writer took over the log (this one had {self.epoch})")

    def close(self) -> None:
        self.engine.dispose()
        if self.writer is not None:
            self.writer.release()

    # The log ------------------------------------------------------------------------------------

    @property
    def last_event_id(self) -> int:
        return self._last_id

    def _read_last_id(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one())

    def append(
        self,
        draft: EventDraft,
        recorded_at: datetime,
        idempotency_record: IdempotencyRecord | None = None,
    ) -> Event:
        """Append one event durably, with the answer to its Idempotency-Key (for the event id
        this append assigns: `StoreConflict` otherwise)."""
        return self.append_many([draft], recorded_at, idempotency_record)[0]

    def append_many(
        self,
        drafts: Sequence[EventDraft],
        recorded_at: datetime,
        idempotency_record: IdempotencyRecord | None = None,
    ) -> list[Event]:
        """Append events in one transaction; ids follow the log with no gap.

        `OutOfRange` (nothing written) when an event holds a value the log could not read back;
        `NotTheWriter` (nothing written) when this writer lost its lock or was fenced off."""
        return self.append_groups([(drafts, idempotency_record)], recorded_at)[0]

    def append_groups(
        self,
        groups: Sequence[tuple[Sequence[EventDraft], IdempotencyRecord | None]],
        recorded_at: datetime,
    ) -> list[list[Event]]:
        """Append the events of several commands, each with the answer to its Idempotency-Key,
        in one transaction (group commit: one fsync for all of them); ids follow the log with
        no gap, group after group. All are on disk when this returns, or none is.

        `OutOfRange` (nothing written) when an event holds a value the log could not read back;
        `StoreConflict` when an answer was rendered for other ids than these; `NotTheWriter`
        (nothing written) when this writer lost its lock or was fenced off."""
        if self.writer is not None and not self.writer.still_held():
            raise NotTheWriter("the writer lock was lost (its database connection ended)")
        appended: list[list[Event]] = []
        next_id = self._last_id + 1
        for drafts, record in groups:
            group = assign(drafts, next_id, recorded_at)
            for e in group:
                check_event(e)
            if record is not None and (not group or record.event_id != group[-1].id):
                raise StoreConflict(
                    f"the answer was rendered for event {record.event_id}, not this one"
                )
            appended.append(group)
            next_id += len(group)
        every = [e for group in appended for e in group]
        records = [record for _, record in groups if record is not None]
        try:
            with self.engine.begin() as conn:
                if self.epoch is not None:
                    check_epoch(conn, self.epoch)  # first: queue behind a successor's claim
                if every:
                    conn.execute(insert(events), [event_row(e) for e in every])
                    self._project(conn, every)
                if records:
                    conn.execute(insert(idempotency), [_idempotency_row(r) for r in records])
        except NotTheWriter:
            raise
        except Exception as exc:
            if self._read_last_id() != self._last_id:
                raise StoreConflict("the log moved on under this writer") from exc
            raise
        self._last_id = next_id - 1
        return appended

    def copy_events(self, committed: Sequence[Event]) -> None:
        """Append events another log committed, with their own ids (an edge's private copy of
        the log): gapless after this store's last id, in one transaction, projected as usual."""
        if not committed:
            return
        last = self._last_id
        if committed[0].id != last + 1 or committed[-1].id != last + len(committed):
            raise ValueError(
                f"the copy ends at {last}: events {committed[0].id}..{committed[-1].id} "
                "do not follow it without a gap"
            )
        with self.engine.begin() as conn:
            conn.execute(insert(events), [event_row(e) for e in committed])
            self._project(conn, committed)
        self._last_id = committed[-1].id

    def _project(self, conn: Connection, appended: Sequence[Event]) -> None:
        # An alert declared and changed in the same batch (imported history) is inserted in its
        # final form: one INSERT per alert instead of an INSERT and an UPDATE. Proposals are no
        # alerts: they stay in the log only.
        new_rows = {e.alert_id: _alert_row(e) for e in appended if e.kind is EventKind.DECLARED}
        changes: dict[int, dict[str, Any]] = {}
        for e in appended:
            if e.kind is EventKind.DECLARED or e.kind in PROPOSAL_KINDS:
                continue
            values: dict[str, Any] = {
                "details": details_text(e.details),
                "notes": e.notes,
                "updated_at": to_us(e.occurred_at),
                "last_event_id": e.id,
            }
            if e.kind is EventKind.ENDED or e.kind is EventKind.RETRACTED:
                values.update(ended_at=to_us(e.occurred_at), ended_by=e.originator)
                values["retracted"] = e.kind is EventKind.RETRACTED
            if e.alert_id in new_rows:
                new_rows[e.alert_id].update(values)
            else:  # several changes of one alert: the later values win, as in sequence
                changes.setdefault(e.alert_id, {}).update(values)
        if new_rows:
            conn.execute(insert(alerts), list(new_rows.values()))
        # One UPDATE statement per set of changed columns, run for every alert it fits (a burst
        # of changes is one executemany, not a statement built and compiled per alert).
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for alert_id, values in changes.items():
            row = {f"new_{column}": value for column, value in values.items()}
            by_columns.setdefault(tuple(sorted(values)), []).append({"alert": alert_id, **row})
        for columns, rows in by_columns.items():
            conn.execute(_alert_update(columns), rows)

    def events_after(
        self, after_id: int, limit: int | None = None, public_only: bool = False
    ) -> list[Event]:
        """Events after `after_id` in log order; `public_only`: none of a proposal's (the
        public log), the limit counting only the events returned."""
        query = select(events).where(events.c.id > after_id).order_by(events.c.id)
        if public_only:
            query = query.where(events.c.kind.in_([k.value for k in PUBLIC_KINDS]))
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [decode_event(row) for row in conn.execute(query)]

    def iter_events(self, after_id: int = 0, chunk: int = 50_000) -> Iterator[Event]:
        """Every event after `after_id`, in order, read in chunks so memory stays flat.

        `UnreadableEvent` names the first row that cannot be read (see `tryvoha log check`)."""
        while True:
            try:
                batch = self.events_after(after_id, chunk)
            except UnreadableEvent:
                raise
            except Exception:
                # A driver that cannot even fetch a row (text that is not UTF-8 in SQLite):
                # find and name it, or let the original error through.
                found = repair.first_unreadable(self.engine, after_id)
                if found is None:
                    raise
                raise found from None
            yield from batch
            if len(batch) < chunk:
                return
            after_id = batch[-1].id

    def alert_events(self, alert_id: int, before_id: int) -> list[Event]:
        """The events of alert `alert_id` before log id `before_id`, oldest first (an alert's
        events lie between its declaration, whose id is the alert's, and its last change)."""
        query = (
            select(events)
            .where(events.c.alert_id == alert_id, events.c.id >= alert_id, events.c.id < before_id)
            .order_by(events.c.id)
        )
        with self.engine.connect() as conn:
            return [decode_event(row) for row in conn.execute(query)]

    # Imported history -----------------------------------------------------------------------------

    def imported_keys(self, source: str) -> set[str]:
        """The row keys of a data set already in the log: its declarations' idempotency keys."""
        query = select(events.c.idempotency_key).where(
            events.c.source == source,
            events.c.kind == EventKind.DECLARED.value,
            events.c.idempotency_key.is_not(None),
        )
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def any_event_from(self, source_prefix: str) -> bool:
        """True when some event's source starts with `source_prefix` (e.g. `import:`)."""
        query = select(events.c.id).where(events.c.source.like(source_prefix + "%")).limit(1)
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def alert_spans(
        self, region_ids: Iterable[str], threat: Threat, status: AlertStatus
    ) -> list[tuple[str, int, int | None, int]]:
        """(region id, started µs, ended µs or None while open, alert id) of every alert of
        these regions with this threat and status: the raw times, for bulk overlap checks."""
        ids = list(region_ids)
        columns = (alerts.c.region_id, alerts.c.started_at, alerts.c.ended_at, alerts.c.id)
        found: list[tuple[str, int, int | None, int]] = []
        for start in range(0, len(ids), 500):
            query = select(*columns).where(
                alerts.c.region_id.in_(ids[start : start + 500]),
                alerts.c.threat == threat.value,
                alerts.c.status == status.value,
            )
            with self.engine.connect() as conn:
                found.extend((r, s, e, a) for r, s, e, a in conn.execute(query))
        return found

    # Projections --------------------------------------------------------------------------------

    def alert_columns(self, up_to_event_id: int, chunk: int) -> Iterator[Sequence[Sequence[Any]]]:
        """The whole alerts projection as of log id `up_to_event_id`, in chunks of rows (id,
        region_id, threat, status, started_at µs, ended_at µs or None), streamed from the
        database so memory holds one chunk: the statistics engine's bulk load."""
        query = select(
            alerts.c.id,
            alerts.c.region_id,
            alerts.c.threat,
            alerts.c.status,
            alerts.c.started_at,
            alerts.c.ended_at,
        ).where(alerts.c.last_event_id <= up_to_event_id)
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunk).execute(query)
            yield from result.partitions(chunk)

    def query_alerts(self, q: AlertQuery) -> list[Alert]:
        conditions: list[ColumnElement[bool]] = []
        if q.region_ids is not None:
            conditions.append(alerts.c.region_id.in_(list(q.region_ids)))
        if q.threat is not None:
            conditions.append(alerts.c.threat == q.threat.value)
        if q.statuses is not None:
            conditions.append(alerts.c.status.in_([s.value for s in q.statuses]))
        if q.since is not None:
            since = to_us(q.since)
            conditions.append((alerts.c.ended_at.is_(None)) | (alerts.c.ended_at > since))
        if q.until is not None:
            conditions.append(alerts.c.started_at < to_us(q.until))
        if q.source is not None:
            conditions.append(alerts.c.source == q.source)
        if q.open_only:
            conditions.append(alerts.c.ended_at.is_(None))
        if q.before_id is not None:
            conditions.append(alerts.c.id < q.before_id)
        query = select(alerts).where(and_(True, *conditions)).order_by(alerts.c.id.desc())
        with self.engine.connect() as conn:
            return [_alert_from_row(row) for row in conn.execute(query.limit(q.limit))]

    def get_alert(self, alert_id: int) -> Alert | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
        return None if row is None else _alert_from_row(row)

    # Idempotency ----------------------------------------------------------------------------------

    def find_idempotent(self, originator: str, key: str) -> IdempotencyRecord | None:
        query = select(idempotency).where(
            idempotency.c.originator == originator, idempotency.c.key == key
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return IdempotencyRecord(
            originator=row.originator,
            key=row.key,
            request_hash=row.request_hash,
            status=row.response_status,
            body=row.response_body.encode(),
            event_id=row.event_id,
        )

    # Tokens -------------------------------------------------------------------------------------

    def create_token(
        self,
        name: str,
        scopes: Sequence[str] | None,
        drills_only: bool = False,
        role: TokenRole = TokenRole.OPERATOR,
    ) -> tuple[str, TokenInfo]:
        """Make a token; only its hash is kept, so the plain text is shown exactly once.

        `scopes=None` is an operator for every region. A read-only token reads every region and
        takes neither scopes nor `drills_only` (ValueError)."""
        check_token_name(name)
        if role is TokenRole.READ_ONLY and (scopes is not None or drills_only):
            raise ValueError("a read-only token reads every region: no scopes, no drills_only")
        plain = "tv_" + secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            inserted = conn.execute(
                insert(tokens).values(
                    name=name,
                    token_hash=hash_token(plain),
                    scopes="*" if scopes is None else ",".join(scopes),
                    drills_only=drills_only,
                    created_at=to_us(now),
                    role=role.value,
                )
            ).inserted_primary_key
            assert inserted is not None
            token_id = inserted[0]
        scope_ids = None if scopes is None else tuple(scopes)
        info = TokenInfo(int(token_id), name, scope_ids, drills_only, now, None, role)
        return plain, info

    def list_tokens(self) -> list[TokenInfo]:
        with self.engine.connect() as conn:
            return [_token_from_row(r) for r in conn.execute(select(tokens).order_by(tokens.c.id))]

    def token_by_plaintext(self, plain: str) -> TokenInfo | None:
        query = select(tokens).where(tokens.c.token_hash == hash_token(plain))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _token_from_row(row)

    def valid_operator_credentials(self, hashes: Collection[str]) -> set[str]:
        """Those of `hashes` that belong to an operator token not revoked (one query)."""
        query = select(tokens.c.token_hash).where(
            tokens.c.token_hash.in_(list(hashes)),
            tokens.c.revoked_at.is_(None),
            tokens.c.role == TokenRole.OPERATOR.value,
        )
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def valid_token_hashes(self) -> set[str]:
        query = select(tokens.c.token_hash).where(tokens.c.revoked_at.is_(None))
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def revoke_token(self, name: str) -> bool:
        query = (
            update(tokens)
            .where(tokens.c.name == name, tokens.c.revoked_at.is_(None))
            .values(revoked_at=to_us(datetime.now(UTC)))
        )
        with self.engine.begin() as conn:
            return conn.execute(query).rowcount > 0

    # Meta ---------------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            put_meta(conn, key, value)


def put_meta(conn: Connection, key: str, value: str) -> None:
    """Set one `meta` value inside the caller's transaction."""
    done = conn.execute(update(meta).where(meta.c.key == key).values(value=value))
    if done.rowcount == 0:
        conn.execute(insert(meta).values(key=key, value=value))


def _idempotency_row(record: IdempotencyRecord) -> dict[str, Any]:
    return {
        "originator": record.originator,
        "key": record.key,
        "request_hash": record.request_hash,
        "response_status": record.status,
        "response_body": record.body.decode(),
        "event_id": record.event_id,
    }


@functools.cache
def _alert_update(columns: tuple[str, ...]) -> Update:
    """UPDATE alerts SET each of `columns` WHERE id = :alert, its values bound as `new_<column>`
    (a bound name may not be a column's own); built once per set of columns."""
    values: dict[str, Any] = {column: bindparam(f"new_{column}") for column in columns}
    return update(alerts).where(alerts.c.id == bindparam("alert")).values(values)


def _alert_row(e: Event) -> dict[str, Any]:
    return {
        "id": e.alert_id,
        "region_id": e.region_id,
        "threat": e.threat.value,
        "status": e.status.value,
        "started_at": to_us(e.occurred_at),
        "ended_at": None,
        "updated_at": None,
        "originator": e.originator,
        "ended_by": None,
        "details": details_text(e.details),
        "notes": e.notes,
        "source": e.source,
        "last_event_id": e.id,
        "retracted": False,
        "proposed_by": e.proposed_by,
    }


def _alert_from_row(row: Any) -> Alert:
    return Alert(
        id=row.id,
        region_id=row.region_id,
        threat=Threat(row.threat),
        status=AlertStatus(row.status),
        started_at=from_us(row.started_at),
        originator=row.originator,
        details=details_from_text(row.details),
        notes=row.notes,
        ended_at=None if row.ended_at is None else from_us(row.ended_at),
        updated_at=None if row.updated_at is None else from_us(row.updated_at),
        source=row.source,
        last_event_id=row.last_event_id,
        ended_by=row.ended_by,
        retracted=bool(row.retracted),
        proposed_by=row.proposed_by,
    )


def _token_from_row(row: Any) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        scopes=None if row.scopes == "*" else tuple(s for s in row.scopes.split(",") if s),
        drills_only=bool(row.drills_only),
        created_at=from_us(row.created_at),
        revoked_at=None if row.revoked_at is None else from_us(row.revoked_at),
        role=TokenRole(row.role),
    )
