"""Attacks ledger benchmarks: importing the whole data set, and every query over the whole ledger.

    .venv/bin/python bench/bench_attacks.py                       # SQLite, with the alert record
    .venv/bin/python bench/bench_attacks.py --pg --runs 5         # PostgreSQL too
    .venv/bin/python bench/bench_attacks.py --no-alerts --waves 50

The data set is read from ../shared/data/attacks (never from the package). Import: the whole
CSV and its weapon reference into a fresh store, timed from opening the files to the commit;
then the same file again (nothing changes). Queries: each through the functions the API and CLI
call, over the whole ledger (every date), best of `--runs`; waves: the alert wave of `--waves`
attacks spread over the ledger, median and worst. With the alert record (default), the official
record is imported first so waves and alert hours have alerts to read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from tryvoha.history import bundled, charts
from tryvoha.history.attacks import check, ledger
from tryvoha.history.attacks.importer import import_attacks
from tryvoha.history.attacks.waves import AlertRecord, wave
from tryvoha.history.engine import StatsEngine
from tryvoha.history.importer import import_file
from tryvoha.hub import Hub
from tryvoha.regions import load_catalogue
from tryvoha.store import SqlStore
from tryvoha.store import attacks as ledger_store

PG = os.environ.get("TRYVOHA_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TARGET_IMPORT, TARGET_QUERY = 2.0, 0.100


def find_data() -> Path:
    for base in Path(__file__).resolve().parents:
        candidate = base / "shared" / "data" / "attacks" / "missile_attacks_daily.csv"
        if candidate.is_file():
            return candidate
    raise SystemExit("missile_attacks_daily.csv not found beside the checkout (../shared/data)")


def best(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def pg_database() -> tuple[str, Callable[[], None]]:
    from sqlalchemy import create_engine, text

    name = f"tryvoha_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return PG.rsplit("/", 1)[0] + f"/{name}", drop


def run(url: str, label: str, args: argparse.Namespace, csv_path: Path) -> list[tuple]:
    rows: list[tuple] = []
    catalogue = load_catalogue()
    hub = Hub(catalogue, SqlStore(url))
    hub.load()
    if args.alerts:
        asyncio.run(import_file(hub, "official", bundled.OFFICIAL_DATA))
    store = hub.store
    t0 = time.perf_counter()
    report = import_attacks(store, csv_path)
    rows.append(
        (f"{label}: import {report.records:,} rows", time.perf_counter() - t0, TARGET_IMPORT)
    )
    t0 = time.perf_counter()
    again = import_attacks(store, csv_path)
    assert again.counts.added == again.counts.updated == 0
    rows.append(
        (f"{label}: import again (nothing changes)", time.perf_counter() - t0, TARGET_IMPORT)
    )
    engine = StatsEngine(catalogue, store)
    engine.refresh()
    alerts = AlertRecord.of(engine, store, datetime.now(UTC)) if args.alerts else None
    e = store
    everything = ledger.Reading("report", "all")
    national = ledger.Reading()
    queries: list[tuple[str, Callable[[], Any]]] = [
        ("list, first page of 100 (national)", lambda: ledger.list_attacks(e, national)),
        (
            "list, a full page of 500 (all sources)",
            lambda: ledger.list_attacks(e, everything, None, ledger.MAX_LIMIT),
        ),
        (
            "list, drones of June 2025",
            lambda: ledger.list_attacks(
                e, ledger.Reading("report", "all", "drones", date(2025, 6, 1), date(2025, 6, 30))
            ),
        ),
    ]
    for by in ledger.BY:
        for reading, name in ((national, "national"), (everything, "all")):
            with_alerts = alerts if by in ("day", "night", "month", "year") else None
            queries.append(
                (
                    f"totals by {by} ({name}{', + alert hours' if with_alerts else ''})",
                    lambda r=reading, b=by, a=with_alerts: ledger.totals(e, r, b, a),
                )
            )
    queries += [
        (
            "check 2025-06 --drones --quoted 5337",
            lambda: check.check(e, check.parse_period("2025-06"), "drones", "launched", 5337),
        ),
        (
            "check the whole ledger (2022..2026), every weapon",
            lambda: check.check(e, check.parse_period("2022-01-01..2026-12-31"), "all"),
        ),
        ("night tally 2023-03-08 (map)", lambda: ledger.night_tally(e, date(2023, 3, 8))),
        (
            "monthly chart data (+ alert hours)",
            lambda: ledger.monthly_chart_data(e, national, alerts),
        ),
    ]
    for name, fn in queries:
        rows.append((f"{label}: {name}", best(fn, args.runs), TARGET_QUERY))
    pages = -(-store_size(e) // ledger.MAX_LIMIT)
    rows.append(
        (
            f"{label}: every attack, {pages} pages of {ledger.MAX_LIMIT} (an export)",
            best(lambda: _all_pages(e, everything), args.runs),
            None,
        )
    )
    if alerts is not None and args.waves:
        ids = [a["id"] for a in _all_pages(e, everything)]
        step = max(1, len(ids) // args.waves)
        sample = ledger_store.get_attacks(e, ids[::step][: args.waves])
        times = []
        for attack in sample:
            t0 = time.perf_counter()
            wave(alerts, attack)
            times.append(time.perf_counter() - t0)
        rows.append(
            (
                f"{label}: wave of one attack, median of {len(times)}",
                statistics.median(times),
                TARGET_QUERY,
            )
        )
        rows.append(
            (f"{label}: wave of one attack, worst of {len(times)}", max(times), TARGET_QUERY)
        )
    for path in API_PATHS:
        rows.append(
            (
                f"{label}: GET {path}",
                best(lambda p=path: _http(hub, url, p), args.runs),
                TARGET_QUERY,
            )
        )
    data = ledger.monthly_chart_data(e, national, alerts)
    rows.append(
        (
            f"{label}: monthly chart, PNG render (matplotlib)",
            best(lambda: charts.attacks_monthly_chart(data, "bench", "png"), 1),
            None,
        )
    )
    hub.close()
    return rows


API_PATHS = (
    "/api/v1/attacks?limit=100",
    "/api/v1/attacks/totals?by=month&sources=all",
    "/api/v1/attacks/totals?by=night&sources=all",
    "/api/v1/attacks/check?period=2025-06&what=drones&quoted=5337",
    "/api/v1/attacks/nights/2023-03-08",
)
_clients: dict[int, Any] = {}


def _http(hub: Hub, url: str, path: str) -> None:
    """One GET through the whole app (routing, validation, the read gate, response models)."""
    import httpx

    from tryvoha.api.app import create_app
    from tryvoha.config import Settings

    app = _clients.get(id(hub))
    if app is None:
        app = _clients[id(hub)] = create_app(hub, Settings(db=url, load_history=False))

    async def get() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            answer = await client.get(path)
            assert answer.status_code == 200, answer.text

    asyncio.run(get())


def store_size(store: Any) -> int:
    return ledger_store.ledger_size(store)["attacks"]


def _all_pages(store: Any, reading: ledger.Reading) -> list[dict]:
    found, cursor = [], None
    while True:
        page = ledger.list_attacks(store, reading, cursor, ledger.MAX_LIMIT)
        found += page["attacks"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="best of N for every query")
    parser.add_argument("--waves", type=int, default=200, help="how many attacks' waves to time")
    parser.add_argument("--pg", action="store_true", help="also PostgreSQL")
    parser.add_argument(
        "--no-alerts",
        dest="alerts",
        action="store_false",
        help="skip importing the official alert record (no waves, no hours)",
    )
    args = parser.parse_args()
    csv_path = find_data()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results += run(f"sqlite:///{tmp}/bench.db", "SQLite", args, csv_path)
    if args.pg:
        url, drop = pg_database()
        try:
            results += run(url, "PostgreSQL", args, csv_path)
        finally:
            drop()
    width = max(len(r[0]) for r in results)
    print(f"{'step':<{width}}  {'seconds':>8}  target")
    for name, seconds, target in results:
        mark = "" if target is None else ("ok" if seconds <= target else "OVER")
        goal = "" if target is None else f"≤ {target:g} s {mark}"
        print(f"{name:<{width}}  {seconds:8.4f}  {goal}")


if __name__ == "__main__":
    main()
