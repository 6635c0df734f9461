"""The statistics engine: a columnar copy of the alerts projection in DuckDB.

DuckDB's SQLite and PostgreSQL scanners are extensions it downloads on first use, which a
self-hosted hub cannot count on; so the engine reads the store's alerts projection once through
the store (`SqlStore.alert_columns`: a few integer columns, regions as tree indexes) and keeps
up with the log by folding only the events appended since. Every statistic is then one SQL query
over an in-memory, oblast-sorted table.

Concurrency: a DuckDB connection serves one call at a time and refuses a second, so every thread
that reads gets its own cursor (a connection to the same database), and a statistic made of
several queries reads them in one transaction: one consistent table while a refresh runs. The
writes (loads, refreshes, the hour table) take one lock among themselves. Cursors beat a lock
around every read here: concurrent statistics overlap instead of queueing (bench_history.py
--concurrency).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

import duckdb
import numpy as np

from tryvoha.alerts.model import CLOSING_KINDS, AlertStatus, Event, EventKind, Threat
from tryvoha.history import kyiv
from tryvoha.regions import Catalogue, Level
from tryvoha.store import SqlStore
from tryvoha.store.timeutil import to_us

LEVEL_CODE = {Level.COUNTRY: 0, Level.OBLAST: 1, Level.RAION: 2, Level.HROMADA: 3}
FULL_RELOAD = 200_000
"""More new events than this since the last refresh: reading the table again is quicker."""

_COLUMNS = ("id", "region", "raion", "oblast", "level", "threat", "status", "started", "ended")


class RegionIndex:
    """Region id ↔ tree index, with each unit's raion and oblast index (-1 when above)."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        regions = list(catalogue)
        self.ids = [r.id for r in regions]
        self.index = {rid: i for i, rid in enumerate(self.ids)}
        self.level = np.array([LEVEL_CODE[r.level] for r in regions], dtype=np.uint8)
        self.oblast = np.full(len(regions), -1, dtype=np.int32)
        self.raion = np.full(len(regions), -1, dtype=np.int32)
        for i, r in enumerate(regions):
            obl = catalogue.ancestor_at(r.id, Level.OBLAST)
            rai = catalogue.ancestor_at(r.id, Level.RAION)
            self.oblast[i] = -1 if obl is None else self.index[obl.id]
            self.raion[i] = -1 if rai is None else self.index[rai.id]

    def codes(self, region_ids: Sequence[str]) -> np.ndarray:
        get = self.index.__getitem__
        return np.fromiter((get(r) for r in region_ids), dtype=np.int32, count=len(region_ids))


@cache
def region_index(catalogue: Catalogue) -> RegionIndex:
    return RegionIndex(catalogue)


def declared_row(regions: RegionIndex, event: Event) -> list[Any]:
    """The engine's row for the alert a declaration opens (`alerts` columns but `ended`)."""
    i = regions.index[event.region_id]
    return [
        event.alert_id,
        i,
        int(regions.raion[i]),
        int(regions.oblast[i]),
        int(regions.level[i]),
        event.threat.value,
        event.status.value,
        to_us(event.occurred_at),
    ]


def ended_row(event: Event) -> tuple[int, int]:
    """(`ended`, `id`) of the engine's row an end closes."""
    return to_us(event.occurred_at), event.alert_id


class StatsEngine:
    """Alerts of one log in DuckDB, refreshed from the store on demand (thread-safe: any thread
    may read and refresh at any time)."""

    def __init__(self, catalogue: Catalogue, store: SqlStore | None = None) -> None:
        self.catalogue = catalogue
        self.regions = region_index(catalogue)
        self.store = store
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET threads TO 2").fetchall()
        self.log_id = 0
        self._lock = threading.RLock()
        """Held by writes only: loads, refreshes and the hour table."""
        self._local = threading.local()
        self._hours_span: tuple[int, int] = (0, 0)
        # Enums, not strings: every statistic filters on both, over millions of rows.
        for name, values in (("threat_t", Threat), ("status_t", AlertStatus)):
            labels = ", ".join(f"'{v.value}'" for v in values)
            self.con.execute(f"CREATE TYPE {name} AS ENUM ({labels})").fetchall()
        self._create_empty()

    # Loading ------------------------------------------------------------------------------------

    def _create_empty(self) -> None:
        self.con.execute(
            "CREATE OR REPLACE TABLE alerts (id BIGINT, region INTEGER, raion INTEGER, "
            "oblast INTEGER, level UTINYINT, threat threat_t, status status_t, started BIGINT, "
            "ended BIGINT)"
        ).fetchall()

    def load_arrays(
        self,
        ids: np.ndarray,
        region: np.ndarray,
        threat: np.ndarray | str,
        status: np.ndarray | str,
        started: np.ndarray,
        ended: np.ndarray,
        log_id: int = 0,
    ) -> None:
        """Replace the table with these columns (`ended` < 0 means open); for bulk loads."""
        frame: dict[str, Any] = {
            "id": np.asarray(ids, dtype=np.int64),
            "region": np.asarray(region, dtype=np.int32),
            "started": np.asarray(started, dtype=np.int64),
            "ended": np.asarray(ended, dtype=np.int64),
        }
        frame["raion"] = self.regions.raion[frame["region"]]
        frame["oblast"] = self.regions.oblast[frame["region"]]
        frame["level"] = self.regions.level[frame["region"]]
        consts = {}
        for name, value in (("threat", threat), ("status", status)):
            if isinstance(value, str):
                consts[name] = value
            else:
                frame[name] = np.asarray(value, dtype=object)
        with self._lock:
            self.con.register("incoming", frame)
            cols = [
                f"CAST({repr(consts[c]) if c in consts else c} AS {c}_t) AS {c}"
                if c in ("threat", "status")
                else c
                for c in _COLUMNS
                if c != "ended"
            ]
            self.con.execute(
                "CREATE OR REPLACE TABLE alerts AS SELECT "
                + ", ".join(cols)
                + ", CASE WHEN ended < 0 THEN NULL ELSE ended END AS ended "
                "FROM incoming ORDER BY oblast, started"
            ).fetchall()
            self.con.unregister("incoming")
            self.log_id = log_id
            self._hours_span = (0, 0)

    def load_from_store(self, chunk: int = 500_000) -> None:
        """Read the whole alerts projection of the store (the first time, or after a gap)."""
        assert self.store is not None
        log_id = self.store.last_event_id
        parts = [self._columns(rows) for rows in self.store.alert_columns(log_id, chunk)]
        if parts:
            cols = [np.concatenate(c) for c in zip(*parts, strict=True)]
        else:
            cols = [
                np.empty(0, dtype=t)
                for t in (np.int64, np.int32, object, object, np.int64, np.int64)
            ]
        ids, region, threat, status, started, ended = cols
        self.load_arrays(ids, region, threat, status, started, ended, log_id)

    def _columns(self, rows: Sequence[Any]) -> tuple[np.ndarray, ...]:
        n = len(rows)
        ids, region_ids, threats, statuses, started, ended = (
            zip(*rows, strict=True) if n else ([],) * 6
        )
        return (
            np.fromiter(ids, dtype=np.int64, count=n),
            self.regions.codes(region_ids),
            np.array(threats, dtype=object),
            np.array(statuses, dtype=object),
            np.fromiter(started, dtype=np.int64, count=n),
            np.fromiter((-1 if e is None else e for e in ended), dtype=np.int64, count=n),
        )

    def refresh(self) -> int:
        """Catch up with the store's log; returns the log id the engine now reflects."""
        if self.store is None:
            return self.log_id
        with self._lock:
            target = self.store.last_event_id
            if target == self.log_id:
                return self.log_id
            if self.log_id == 0 or target - self.log_id > FULL_RELOAD:
                self.load_from_store()
                return self.log_id
            new = self.store.events_after(self.log_id, target - self.log_id)
            declared = [declared_row(self.regions, e) for e in new if e.kind is EventKind.DECLARED]
            if declared:
                self.con.executemany(
                    "INSERT INTO alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)", declared
                )
            ends = [ended_row(e) for e in new if e.kind in CLOSING_KINDS]  # retracted too
            if ends:
                self.con.executemany("UPDATE alerts SET ended = ? WHERE id = ?", ends)
            self.log_id = new[-1].id if new else target
            return self.log_id

    # Reading ------------------------------------------------------------------------------------

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's own connection to the engine's database."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self.con.cursor()
            self._local.depth = 0
        return cursor

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every query of this thread inside sees the same table, whatever refreshes meanwhile."""
        cursor = self._cursor()
        if self._local.depth:
            yield
            return
        cursor.execute("BEGIN TRANSACTION")
        self._local.depth = 1
        try:
            yield
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        else:
            cursor.execute("COMMIT")
        finally:
            self._local.depth = 0

    def count(self) -> int:
        return int(self.fetch("SELECT count(*) FROM alerts")[0][0])

    def span(self) -> tuple[int | None, int | None]:
        """First start and last end (µs) in the table."""
        lo, hi = self.fetch("SELECT min(started), max(ended) FROM alerts")[0]
        return lo, hi

    def ensure_hours(self, since_us: int, until_us: int) -> None:
        """The UTC-hour → Kyiv-time table covers [since, until) (Kyiv offsets are whole hours,
        so one row per UTC hour gives every alert's local hour, day and night by a plain join)."""
        lo, hi = self._hours_span
        if lo <= since_us and until_us <= hi:
            return
        with self._lock:
            lo, hi = self._hours_span
            if lo <= since_us and until_us <= hi:
                return
            lo = min(lo or since_us, since_us) - 86_400_000_000
            hi = max(hi, until_us) + 86_400_000_000
            table = kyiv.hour_table(lo // kyiv.HOUR_US, hi // kyiv.HOUR_US + 1)
            self.con.register("hours_in", table)
            self.con.execute("CREATE OR REPLACE TABLE hours AS SELECT * FROM hours_in").fetchall()
            self.con.unregister("hours_in")
            self._hours_span = (lo, hi)  # only once the table is there

    def fetch(
        self, query: str, params: Sequence[Any] = (), numpy: bool = False, **frames: dict
    ) -> Any:
        """Run one query on this thread's cursor, with extra numpy frames registered by name."""
        cursor = self._cursor()
        for name, frame in frames.items():
            cursor.register(name, frame)
        try:
            result = cursor.execute(query, list(params))
            return result.fetchnumpy() if numpy else result.fetchall()
        finally:
            for name in frames:
                cursor.unregister(name)
