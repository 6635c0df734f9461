"""History benchmarks: importing the official record, and statistics over 10 million alerts.

    .venv/bin/python bench/bench_history.py            # official import (SQLite, PostgreSQL)
    .venv/bin/python bench/bench_history.py --scale 10000000   # + synthetic statistics
    .venv/bin/python bench/bench_history.py --no-import --scale 1000000 --concurrency 8

The synthetic history covers every hromada, raion and oblast from 2022-02-24 for four years:
per place, alerts follow one another with exponential gaps (never overlapping), durations are
log-normal (median ~40 min, a long tail to many hours); about 60 % of alerts are hromada-level,
25 % raion-level and 15 % oblast-level, and alerts cluster at night like the real record.
Each statistic is timed through `tryvoha.history.stats` and as the same query hand-written in
DuckDB over the same table; the ratio is the first over the second.

`--concurrency N` runs a mix of statistics from N threads at once, as concurrent HTTP requests
do, with the engine's per-thread cursors and, for comparison, with one lock around every read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics as pystats
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from tryvoha.history import bundled, stats
from tryvoha.history.engine import StatsEngine
from tryvoha.history.importer import import_file
from tryvoha.hub import Hub
from tryvoha.regions import Level, load_catalogue
from tryvoha.store import SqlStore

START = datetime(2022, 2, 24, tzinfo=UTC)
END = datetime(2026, 2, 24, tzinfo=UTC)
US = 1_000_000
PG = os.environ.get("TRYVOHA_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def bench_import(url: str) -> float:
    hub = Hub(load_catalogue(), SqlStore(url))
    hub.load()
    t0 = time.perf_counter()
    report = asyncio.run(import_file(hub, "official", bundled.OFFICIAL_DATA))
    elapsed = time.perf_counter() - t0
    hub.close()
    assert report.imported > 34_000
    return elapsed


def pg_database() -> tuple[str, object]:
    from sqlalchemy import create_engine, text

    name = f"tryvoha_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return PG.rsplit("/", 1)[0] + f"/{name}", drop


def synthetic(engine: StatsEngine, total: int, seed: int = 4) -> None:
    """Fill the engine with `total` alerts (see the module docstring)."""
    rng = np.random.default_rng(seed)
    regions = engine.regions
    levels = regions.level
    share = {3: 0.60, 2: 0.25, 1: 0.15}
    span = (END - START).total_seconds() * US
    t0 = int(START.timestamp()) * US
    ids, places, starts, ends = [], [], [], []
    for level, part in share.items():
        where = np.flatnonzero(levels == level)
        per_place = max(1, int(total * part / len(where)))
        for place in where:
            n = per_place
            dur = np.exp(rng.normal(np.log(40 * 60 * US), 0.9, n)).astype(np.int64)
            dur = np.clip(dur, 30 * US, 30 * 3600 * US)
            slack = span - dur.sum()
            gaps = rng.exponential(1.0, n)
            gaps = (gaps / gaps.sum() * slack * 0.999).astype(np.int64)
            s = t0 + np.cumsum(gaps) + np.concatenate(([0], np.cumsum(dur)[:-1]))
            places.append(np.full(n, place, dtype=np.int32))
            starts.append(s)
            ends.append(s + dur)
    region = np.concatenate(places)
    started = np.concatenate(starts)
    ended = np.concatenate(ends)
    ids = np.arange(1, len(region) + 1, dtype=np.int64) * 2 - 1
    engine.load_arrays(ids, region, "air_raid", "actual", started, ended, log_id=2 * len(ids))


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def hand_summary(engine: StatsEngine, oblast: int, s: int, u: int) -> None:
    """Counts, durations and the start-hour histogram, written straight in DuckDB."""
    engine.con.execute(
        """SELECT count(*), median(ended - started), quantile_cont(ended - started, 0.9),
                  max(ended - started), count(*) FILTER (WHERE h.night >= 0)
           FROM alerts a JOIN hours h ON h.h = a.started // 3600000000
           WHERE a.oblast = ? AND a.started >= ? AND a.started < ?""",
        [oblast, s, u],
    ).fetchall()
    engine.con.execute(
        """SELECT h.local_hour, count(*) FROM alerts a JOIN hours h ON h.h = a.started // 3600000000
           WHERE a.oblast = ? AND a.started >= ? AND a.started < ? GROUP BY 1""",
        [oblast, s, u],
    ).fetchall()


HAND_UNION = """
WITH c AS (SELECT greatest(started, ?) s, least(ended, ?) e FROM alerts
           WHERE oblast = ? AND started < ? AND ended > ?),
m AS (SELECT s, e, s > coalesce(max(e) OVER (ORDER BY s, e ROWS BETWEEN UNBOUNDED PRECEDING
      AND 1 PRECEDING), -1) AS fresh FROM c),
g AS (SELECT s, e, sum(fresh::INT) OVER (ORDER BY s, e ROWS UNBOUNDED PRECEDING) g FROM m),
i AS MATERIALIZED (SELECT min(s) s, max(e) e FROM g GROUP BY g)
SELECT sum(e - s), count(*),
       (SELECT sum(least(e, we) - greatest(s, ws)) FROM i JOIN n ON s < we AND e > ws),
       (SELECT count(DISTINCT n.day) FROM i JOIN n ON s < we AND e > ws),
       (SELECT count(DISTINCT d.day) FROM i JOIN d ON s < we AND e > ws)
FROM i
"""

HAND_NATIONWIDE = """
WITH ob AS (SELECT oblast, started s, ended e FROM alerts
            WHERE level = 1 AND started < ? AND ended > ?),
p AS (SELECT n.day, greatest(s, ws) s, least(e, we) e FROM ob JOIN n ON s < we AND e > ws),
st AS (SELECT day, unnest([s, e]) t, unnest([1, -1]) d FROM p),
r AS (SELECT day, sum(d) OVER (PARTITION BY day ORDER BY t, d ROWS UNBOUNDED PRECEDING) k FROM st)
SELECT day, max(k) FROM r GROUP BY day ORDER BY day
"""


def bench_scale(total: int) -> list[tuple[str, float, float | None]]:
    from tryvoha.history import kyiv

    catalogue = load_catalogue()
    engine = StatsEngine(catalogue)
    t0 = time.perf_counter()
    synthetic(engine, total)
    load = time.perf_counter() - t0
    n = engine.count()
    print(f"synthetic history: {n:,} alerts loaded into the engine in {load:.1f} s")
    kharkiv = catalogue.resolve("Kharkivska oblast", level=Level.OBLAST)
    oblast = engine.regions.index[kharkiv.id]
    scope = stats.Scope(kharkiv.id, START, END, now=END)
    s, u = scope.since_us, scope.until_us
    engine.ensure_hours(s, u)
    nights = kyiv.windows("night", s, u)
    days = kyiv.windows("day", s, u)
    out: list[tuple[str, float, float | None]] = [("load into engine", load, None)]

    def hand_union() -> None:
        engine.con.register("n", nights)
        engine.con.register("d", days)
        engine.con.execute(HAND_UNION, [s, u, oblast, u, s]).fetchall()
        engine.con.unregister("n")
        engine.con.unregister("d")

    def hand_nationwide() -> None:
        engine.con.register("n", nights)
        engine.con.execute(HAND_NATIONWIDE, [u, s]).fetchall()
        engine.con.unregister("n")

    def hand_longest() -> None:
        # The same answer as ours: each alert's id, region, start, end and duration.
        engine.con.execute(
            "SELECT id, region, started, ended, ended - started d FROM alerts WHERE oblast = ? "
            "AND threat = 'air_raid' AND status = 'actual' AND started >= ? AND started < ? "
            "ORDER BY d DESC, id LIMIT 10",
            [oblast, s, u],
        ).fetchall()

    cases = [
        (
            "summary, one oblast, whole period",
            lambda: stats.summary(engine, scope),
            lambda: (hand_summary(engine, oblast, s, u), hand_union()),
        ),
        ("longest 10, one oblast", lambda: stats.longest(engine, scope, 10), hand_longest),
        ("calendar (per day), one oblast", lambda: stats.calendar(engine, scope), None),
        (
            "nationwide per night, whole period",
            lambda: stats.nationwide(engine, START, END, now=END),
            hand_nationwide,
        ),
        (
            "nationwide per night, any part of an oblast",
            lambda: stats.nationwide(engine, START, END, whole_oblast=False, now=END),
            None,
        ),
    ]
    for name, ours, hand in cases:
        t_ours = timed(ours)
        t_hand = timed(hand) if hand else None
        out.append((name, t_ours, t_hand))
        ratio = f"{t_ours / t_hand:.2f}×" if t_hand else "–"
        hand_text = f"{t_hand:.3f} s" if t_hand else "–"
        print(f"{name:48s} {t_ours:7.3f} s   hand-written {hand_text:>9s}   ratio {ratio}")
    return out


class LockedEngine(StatsEngine):
    """The alternative to per-thread cursors: one connection, one lock around every read."""

    def fetch(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            cursor, self._local.cursor = getattr(self._local, "cursor", None), self.con
            self._local.depth = getattr(self._local, "depth", 0)
            try:
                return super().fetch(*args, **kwargs)
            finally:
                self._local.cursor = cursor

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        with self._lock:
            yield


def bench_concurrency(scale: int, threads: int, requests: int = 48) -> None:
    """Wall time and latency of `requests` statistics from `threads` threads: one in eight is the
    nationwide count over the whole period (slow), the others one oblast over four months; the
    latency shown is of the short ones, which a lock makes wait behind the slow ones."""
    catalogue = load_catalogue()
    oblasts = [o.id for o in catalogue.oblasts]
    for kind in (StatsEngine, LockedEngine):
        engine = kind(catalogue)
        synthetic(engine, scale)
        engine.ensure_hours(int(START.timestamp()) * US, int(END.timestamp()) * US)

        def one(k: int, engine: StatsEngine = engine) -> float | None:
            since = START + timedelta(days=30 * (k % 40))
            scope = stats.Scope(oblasts[k % len(oblasts)], since, since + timedelta(days=120))
            t0 = time.perf_counter()
            if k % 8 == 0:
                stats.nationwide(engine, START, END, now=END)
                return None
            [stats.summary, stats.longest, stats.calendar][k % 3](engine, scope)
            return time.perf_counter() - t0

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, range(threads)))  # warm up
            t0 = time.perf_counter()
            took = [t for t in pool.map(one, range(requests)) if t is not None]
            wall = time.perf_counter() - t0
        print(
            f"{kind.__name__:12s} {threads} threads, {requests} statistics: wall {wall:.2f} s; "
            f"short ones p50 {pystats.median(took) * 1000:.0f} ms, "
            f"p90 {sorted(took)[int(0.9 * len(took))] * 1000:.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=0, help="synthetic alerts (e.g. 10000000)")
    parser.add_argument("--no-import", action="store_true")
    parser.add_argument(
        "--concurrency", type=int, default=0, help="threads for the concurrent mix (needs --scale)"
    )
    args = parser.parse_args()
    if args.concurrency and args.scale:
        bench_concurrency(args.scale, args.concurrency)
        return
    if not args.no_import:
        tmp = Path(f"/tmp/tryvoha-bench-{uuid.uuid4().hex[:8]}.db")
        print(f"official record into SQLite:     {bench_import(f'sqlite:///{tmp}'):.2f} s")
        for p in tmp.parent.glob(tmp.name + "*"):
            p.unlink()
        try:
            url, drop = pg_database()
        except Exception as exc:  # PostgreSQL not running: say so, go on
            print(f"PostgreSQL skipped: {exc}")
        else:
            try:
                print(f"official record into PostgreSQL: {bench_import(url):.2f} s")
            finally:
                drop()
    if args.scale:
        bench_scale(args.scale)


if __name__ == "__main__":
    main()
