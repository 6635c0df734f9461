"""One writer per database: the lock every process that appends to the log holds for its life.

The log's ids come from the writer's memory (`SqlStore.last_event_id`), so two writers on one
database would hand out the same ids and refuse each other's appends at random. `tryvoha serve`
and the commands that write the log directly (`import`, `replay`, `log repair`) therefore take
this lock before they open the store, and a second one is refused with a message naming the
holder. Readers (stream followers, `token list`, `stats`, `log check`) never take it.

Nor do the commands that write only side tables the hub reads but never keeps in memory:
`token create|revoke` (tokens are looked up per request) and `attacks import` (the ledger). So
operators can make and revoke tokens beside a running hub: each is one short transaction, which
SQLite serialises with the hub's appends (WAL, 5 s busy timeout) and PostgreSQL runs beside them.

- SQLite: an exclusive `flock` on `<database file>.lock`, which also records the holder (pid,
  host, command, since when) for the refusal message. The kernel drops the lock when the
  process ends, however it ends (kill -9 included); the file itself stays.
- PostgreSQL: the session-level advisory lock `WRITER_LOCK_KEY` on the database, held by a
  connection of its own for the writer's life. The server drops it when that connection ends,
  so a dead writer's lock goes with its connection; the holder is named from
  `pg_stat_activity`. When the writer's host vanishes, nothing closes that connection: the
  server notices only by probing it, and its own defaults wait two hours before the first probe.
  The lock session therefore sets the server's keepalives for itself (`SESSION_PROBES`):
  a vanished writer's lock goes within about 10 s.

`try_acquire` answers at once; `wait_acquire(timeout)` polls until the lock is free, so a
standby writer can wait for the active one to die and take over; `held` says whether the lock
is still held (on PostgreSQL: the lock connection is alive and holds it, one query), and
`still_held` is the check before every append: on PostgreSQL it asks the server only when the
idle lock connection has something to read (a terminated session's last message, or its end),
which costs one system call instead of a round trip. The fencing epoch checked inside each
append transaction (`tryvoha.store.fencing`) covers what this cannot see.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import socket
import time
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool

from tryvoha.store.url import Database, database_of, driver_url

WRITER_LOCK_KEY = 0x7472_7976
"""The PostgreSQL advisory lock key of the writer: the ASCII bytes of "tryv" (1953659254).
Advisory locks are per database, so one key serves every database on a server; a tool that
also uses advisory locks must keep clear of it."""

POLL_SECONDS = 0.5


class WriterLocked(Exception):
    """Another process holds the writer lock of this database."""

    def __init__(self, database: str, holder: str | None) -> None:
        self.database = database
        self.holder = holder
        who = holder or "another process (it did not say which)"
        super().__init__(
            f"the database {database} already has a writer: {who}. One process writes a log: "
            "stop that one first. Reading needs no lock (tryvoha token list, stats, log check "
            "and stream followers run beside it)."
        )


def _me(what: str) -> dict[str, Any]:
    return {
        "what": what,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    }


def describe(holder: dict[str, Any]) -> str:
    """`tryvoha serve (pid 1234 on host, since 2025-03-01T10:00:00Z)`."""
    return (
        f"{holder.get('what', 'a writer')} (pid {holder.get('pid', '?')} on "
        f"{holder.get('host', '?')}, since {holder.get('since', '?')})"
    )


class WriterLock(ABC):
    """The writer lock of one database (see the module); released by `release` or at exit."""

    def __init__(self, database: Database, what: str) -> None:
        self.database = database
        self.what = what
        """Who takes it, as the refusal of a second writer names it (e.g. `tryvoha serve`)."""

    @abstractmethod
    def try_acquire(self) -> bool:
        """Take the lock if it is free; False (nothing held) when another process holds it."""

    @property
    @abstractmethod
    def held(self) -> bool:
        """Still held by this process: a writer that lost it must stop appending."""

    def still_held(self) -> bool:
        """`held`, as cheaply as the lock allows: asked before every append."""
        return self.held

    @abstractmethod
    def holder(self) -> str | None:
        """Who holds the lock now, in words; None when nobody does or nobody can tell."""

    @abstractmethod
    def release(self) -> None:
        """Let the lock go (nothing when not held)."""

    def wait_acquire(self, timeout: float | None = None, poll: float = POLL_SECONDS) -> bool:
        """Take the lock as soon as it is free, waiting at most `timeout` seconds (None: for
        ever); False when the time ran out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.try_acquire():
            if deadline is not None and time.monotonic() >= deadline:
                self.release()  # nothing held, no connection left open
                return False
            left = poll if deadline is None else min(poll, max(0.0, deadline - time.monotonic()))
            time.sleep(left)
        return True

    def acquire(self) -> WriterLock:
        """Take the lock now or raise `WriterLocked` naming its holder."""
        if not self.try_acquire():
            self.release()  # no connection left open by a refused writer
            raise WriterLocked(self.database.shown, self.holder())
        return self

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class FileLock(WriterLock):
    """SQLite: `flock` on `<database>.lock`, which holds the holder's description as JSON."""

    def __init__(self, database: Database, what: str) -> None:
        super().__init__(database, what)
        assert database.file is not None
        self.path = Path(str(database.file) + ".lock")
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by children
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, orjson.dumps(_me(self.what)), 0)
        self._fd = fd
        return True

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> str | None:
        try:
            found = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None  # not written yet by a writer that has just taken it, or no file
        return describe(found) if isinstance(found, dict) else None

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)  # a stale description would name a writer that is gone
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


SESSION_PROBES = {
    "tcp_keepalives_idle": 5,
    "tcp_keepalives_interval": 1,
    "tcp_keepalives_count": 5,
    "tcp_user_timeout": 10_000,
}
"""The server's TCP settings for the writer's lock session (seconds; the last in ms): after 5 s
of silence it probes every second, and drops the session, and so the lock, when 5 probes in a
row go unanswered or sent data is unacknowledged for 10 s. Defaults are 2 h / 75 s / 9 probes,
so a writer whose machine vanished would keep the lock, and the standby waiting, for hours; a
network blip shorter than 5 s costs nothing. The store's own sessions set them too: an append
in flight when the writer vanished holds row locks its successor's claim waits for."""


def server_probes(url: str) -> dict[str, str]:
    """libpq `connect_args` that set `SESSION_PROBES` for the session, after any `options`
    the URL itself gives (those are kept)."""
    given = make_url(url).query.get("options")
    given = " ".join(given) if isinstance(given, tuple) else given
    probes = " ".join(f"-c {name}={value}" for name, value in SESSION_PROBES.items())
    return {"options": f"{given} {probes}" if given else probes}


class AdvisoryLock(WriterLock):
    """PostgreSQL: `pg_try_advisory_lock(WRITER_LOCK_KEY)` on a connection held for the
    writer's life; the connection's `application_name` (`what|pid|host`) names the holder."""

    def __init__(self, database: Database, what: str, url: str) -> None:
        super().__init__(database, what)
        self.url = url
        self._engine: Engine | None = None
        self._conn: Connection | None = None
        self._held = False

    def _connection(self) -> Connection:
        if self._conn is None:
            me = _me(self.what)
            name = f"{me['what']}|{me['pid']}|{me['host']}"[:63]  # the server's limit
            self._engine = create_engine(
                self.url,
                poolclass=NullPool,
                isolation_level="AUTOCOMMIT",
                connect_args={
                    "application_name": name,
                    # The server probes this session: a vanished writer's lock goes in ~10 s.
                    **server_probes(self.url),
                    # And this end probes the server: a vanished database is noticed as soon.
                    "keepalives": 1,
                    "keepalives_idle": 5,
                    "keepalives_interval": 1,
                    "keepalives_count": 5,
                },
            )
            self._conn = self._engine.connect()
        return self._conn

    def try_acquire(self) -> bool:
        """A standby polling for the lock keeps its connection between tries (one round trip
        a try); a lock that was lost is taken again on a fresh connection."""
        if self._held:
            if self.held:
                return True
            self._held = False
            self._drop_connection()
        try:
            got = self._connection().execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": WRITER_LOCK_KEY}
            )
            self._held = bool(got.scalar_one())
        except BaseException:
            self._drop_connection()  # the next try connects afresh
            raise
        return self._held

    @property
    def held(self) -> bool:
        if not self._held or self._conn is None:
            return False
        try:
            mine = self._conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND granted "
                    "AND locktype = 'advisory' AND classid = 0 AND objid = :key AND objsubid = 1"
                ),
                {"key": WRITER_LOCK_KEY},
            ).scalar_one()
        except Exception:
            return False
        return bool(mine)

    def still_held(self) -> bool:
        """The lock connection is idle between appends, so the server has nothing to say on
        it unless the session ended (pg_terminate_backend, a restart: a last message, then the
        connection's end). Only then is `held` asked."""
        if not self._held or self._conn is None:
            return False
        try:
            # SQLAlchemy types the DBAPI connection as optional (None once detached).
            fd = self._conn.connection.dbapi_connection.fileno()  # type: ignore[union-attr]
            poller = select.poll()
            poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
            quiet = not poller.poll(0)
        except Exception:
            quiet = False
        return True if quiet else self.held

    def holder(self) -> str | None:
        query = text(
            "SELECT a.application_name, a.backend_start FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = :key "
            "AND l.objsubid = 1 AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        engine = create_engine(self.url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                row = conn.execute(query, {"key": WRITER_LOCK_KEY}).first()
        except Exception:
            return None
        finally:
            engine.dispose()
        if row is None:
            return None
        name, started = row
        since = started.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        parts = (name or "").split("|")
        if len(parts) != 3:  # not a tryvoha writer, or a role that may not see its name
            return f"the session {name!r}, since {since}" if name else None
        return describe({"what": parts[0], "pid": parts[1], "host": parts[2], "since": since})

    def release(self) -> None:
        if self._held and self._conn is not None:
            with contextlib.suppress(Exception):  # a connection gone took the lock with it
                self._conn.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": WRITER_LOCK_KEY}
                )
        self._held = False
        self._drop_connection()

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        if self._engine is not None:
            self._engine.dispose()
        self._conn = self._engine = None


class ProcessLock(WriterLock):
    """SQLite in memory: the database lives and dies with one process, which is its only
    writer by construction."""

    def __init__(self, database: Database, what: str) -> None:
        super().__init__(database, what)
        self._held = False

    def try_acquire(self) -> bool:
        self._held = True
        return True

    @property
    def held(self) -> bool:
        return self._held

    def holder(self) -> str | None:
        return None

    def release(self) -> None:
        self._held = False


def writer_lock(url: str, what: str) -> WriterLock:
    """The writer lock of the database at `url`, not yet taken. `what` names the taker (e.g.
    `tryvoha serve`) in the refusal a second writer gets."""
    database = database_of(url)
    if database.backend == "sqlite":
        if database.file is None:
            return ProcessLock(database, what)
        return FileLock(database, what)
    return AdvisoryLock(database, what, driver_url(url))


def acquire_writer(url: str, what: str) -> WriterLock:
    """Take the writer lock of the database at `url` now, or raise `WriterLocked`."""
    return writer_lock(url, what).acquire()
